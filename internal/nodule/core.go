package nodule

import "math"

// Small solid cores: a part-solid lesion's core too small and blurred to
// pass the solid threshold, found and sized from the excess attenuation
// that blur conserves (smallCore, called by measure).

// smallCore looks for a solid core too small and blurred to reach the
// solid threshold in a lesion that has no solid part: a 2–3 mm core of soft
// tissue inside ground glass, on 2.5 mm slices, peaks only 100–250 HU
// above the plateau, and neither its size nor its density can be read
// from that peak alone (blur trades one for the other). What blur keeps is
// the core's excess attenuation: its integral over the plateau med is the
// core's volume times its contrast, whatever the blur. So a candidate core
// (a connected set of body voxels above the half-maximum between med and
// the body's peak top, smoothed HU; the largest that passes, see
// solidPart, so that a vessel holding the peak does not hide a core beside
// it) is taken for a ball of soft tissue (coreSolidHU) holding the excess
// measured around its densest voxel (coreExcess), and it becomes the
// solid component when
//   - that ball is at least coreMinMM across,
//   - its densest point is a blob (coreBlobMin), not a vessel, and
//   - its densest point stands over the plateau by more than the
//     ground glass's own texture reaches somewhere in a body of that size
//     (coreOverTexture);
//   - the set is as compact as such a ball under the blur bl: at most
//     coreSpread times the half-maximum volume the ball would have
//     (halfMaxVolume). On the phantoms (seeds 101–120, 1–20, 201–210,
//     1 and 1.25 mm slices), ground-glass texture bumps holding a 2 mm
//     core's excess spread 3.8–37 times, the part-solid cores that
//     decide a lesion's type 0.3–2.9 (a few 3.4–4.0, typed by the solid
//     threshold instead). A set under coreSpreadMin of it (0.07–0.09
//     there) is the tip of a bump cut at another, denser peak's
//     half-maximum: its extent tells nothing, and it is passed over.
//
// The reported solid diameter is that ball's: the half-maximum set of a
// core this small is the blur's width, not the core's.
func (ws *Workspace) smallCore(b *boxInfo, res *Result, med, top float64, bl blur) {
	if !(top > med) || !(coreSolidHU > med) {
		return
	}
	sp := b.grid.Spacing
	vox := sp[0] * sp[1] * sp[2]
	half := (med + top) / 2
	// The ground glass's own texture reaches a higher maximum the more of
	// it there is (see coreOverTexture); read once a set is offered.
	need := math.NaN()
	var dM float64
	n := ws.solidPart(b, float32(half), func(n int) bool {
		if ws.solidBlobRatio(b, med) < coreBlobMin {
			return false
		}
		if math.IsNaN(need) {
			need = ws.textureExtreme(b, res.VolumeMM3, bl)
		}
		if _, pk := ws.densestSolid(); float64(pk)-med < need {
			return false
		}
		v := ws.coreExcess(b, med, bl) / (coreSolidHU - med)
		dM = math.Cbrt(6 * v / math.Pi)
		spread := float64(n) * vox / halfMaxVolume(dM/2, bl)
		return dM >= coreMinMM && spread >= coreSpreadMin && spread <= coreSpread
	})
	defer ws.unlabelSolid()
	if n == 0 {
		return
	}
	res.SolidDiameterMM, res.SolidLongAxisMM, res.SolidShortAxisMM = dM, dM, dM
	res.SolidVolumeMM3 = math.Pi / 6 * dM * dM * dM
	res.SolidThresholdHU = half
}

// coreSolidHU is the density (HU) a small solid core is taken to have
// when its size is read from its excess attenuation: soft tissue, the
// middle of solid nodules' −100…+100 HU.
const coreSolidHU = 0

// coreSpread is how much wider than a blurred ball of the same excess a
// core's half-maximum set may be (see smallCore).
const coreSpread = 3

// coreSpreadMin is the least share of that half-maximum volume a core's
// set may cover (see smallCore): blur alone would spread a core over about
// all of it; noise and a cut at the body's, not the core's, half-maximum
// took up to two thirds off a phantom core's (0.33).
const coreSpreadMin = 0.25

// coreExcess returns the excess attenuation (HU·mm³) over the plateau med
// of the body's smoothed HU within 2σ of the blur (at least 3 mm) of the
// densest voxel labelled lSolid: about nine tenths of a small core's,
// which blur spreads over that σ.
func (ws *Workspace) coreExcess(b *boxInfo, med float64, bl blur) float64 {
	nx, ny := b.n[0], b.n[1]
	sp := b.grid.Spacing
	bp, _ := ws.densestSolid()
	if bp < 0 {
		return 0
	}
	R := math.Max(3, 2*math.Max(bl.in, bl.slice))
	c := [3]int{bp % nx, (bp / nx) % ny, bp / (nx * ny)}
	var lo, hi [3]int
	for a := 0; a < 3; a++ {
		lo[a] = max(0, c[a]-int(R/sp[a]))
		hi[a] = min(b.n[a]-1, c[a]+int(R/sp[a]))
	}
	var sum float64
	for k := lo[2]; k <= hi[2]; k++ {
		dz := float64(k-c[2]) * sp[2]
		for j := lo[1]; j <= hi[1]; j++ {
			dy := float64(j-c[1]) * sp[1]
			for i := lo[0]; i <= hi[0]; i++ {
				dx := float64(i-c[0]) * sp[0]
				if dx*dx+dy*dy+dz*dz > R*R {
					continue
				}
				p := i + nx*(j+ny*k)
				if l := ws.lab[p]; l == lBody || l == lSolid {
					sum += float64(ws.sm.Data[p]) - med
				}
			}
		}
	}
	return sum * sp[0] * sp[1] * sp[2]
}

// halfMaxVolume approximates the volume (mm³) over which a ball of radius
// r mm, blurred by bl, stays above half its blurred peak: the blur's own
// half-maximum ellipsoid (semi-axes √(2 ln 2)·σ) plus half the ball's
// volume, within 10 % of a numerical blur for balls up to 2.5σ (σ 1.05
// in-plane, 1.05 and 1.56 along the slice normal).
func halfMaxVolume(r float64, bl blur) float64 {
	c := math.Sqrt(2 * math.Ln2)
	return 4*math.Pi/3*(c*bl.in)*(c*bl.in)*(c*bl.slice) + 2*math.Pi/3*r*r*r
}

// coreOverTexture. A body of ground glass is textured, and the larger it
// is, the higher its texture's highest bump: over N independent cells a
// Gaussian field's maximum lies about √(2 ln N) standard deviations above
// its mean. So a small core must stand over the plateau (med) by more
// than the texture's robust SD (of the body's smoothed HU) times
// √(2 ln N), N the body's volume over the blur's resolution cell,
// (2π)^{3/2}·σ_in²·σ_slice (at least 2). Not fitted. Logged on seeds
// 101–120, 401–420, 501–520 and 1201–1220 (with a 14 mm³ cell), the cores
// that the excess test found in pure ground glass stood −1.3…+2.5 SDs
// from such a bound (one +9.6), most of them under it, those of part-solid
// lesions −0.7…+9.4, most over it; a fixed three SDs (eighteenth session)
// asks too much of small lesions and too little of large ones.

// textureExtreme is coreOverTexture's bound (HU over the plateau) for the
// body of b (its voxels labelled lBody or, while solidPart offers a set,
// lSolid) of volume vol (mm³) under the blur bl.
func (ws *Workspace) textureExtreme(b *boxInfo, vol float64, bl blur) float64 {
	ws.tex = ws.tex[:0]
	for p := b.body[0]; p <= b.body[1]; p++ {
		if l := ws.lab[p]; l == lBody || l == lSolid {
			ws.tex = append(ws.tex, ws.sm.Data[p])
		}
	}
	cells := vol / (math.Pow(2*math.Pi, 1.5) * bl.in * bl.in * bl.slice)
	return robustSD(ws.tex) * math.Sqrt(2*math.Log(math.Max(cells, 2)))
}
