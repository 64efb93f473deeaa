package nodule

import (
	"math"

	"github.com/lungctl/lungctl/internal/edt"
	"github.com/lungctl/lungctl/internal/volume"
)

// Ground glass: how the threshold finds the plateau around a denser core
// (groundGlassBand, ringBeyond), and how a non-solid lesion is measured
// again from its ground glass alone (groundGlassBody).

// softTissueHU is the density a solid core reaches unless it is small
// enough for the scanner's blur to pull its peak down (see ringBeyond).
const softTissueHU = -100

// groundGlassBand reports whether at least 40 % of the smoothed HU in
// shell (at least 20 voxels) lie in the ground-glass band, from 100 HU
// above the lung level bg up to the threshold t, and returns their median.
// It gathers the band in place: shell's values are overwritten.
func groundGlassBand(shell []float32, bg, t float64) (float64, bool) {
	if len(shell) < 20 {
		return 0, false
	}
	band := shell[:0]
	for _, v := range shell {
		if float64(v) >= bg+100 && float64(v) < t {
			band = append(band, v)
		}
	}
	if float64(len(band)) < 0.4*float64(len(shell)) {
		return 0, false
	}
	return float64(quantile(band, 0.5)), true
}

// The ring beyond the first region where ground glass is looked for
// (ringBeyond): from ggRingInMM to ggRingOutMM beyond the region, beyond a
// solid edge's blur (2 mm keeps a few per cent of its contrast even from
// 2.5 mm slices), and at least ggWallMM from anything outside the lung.
const (
	ggRingInMM, ggRingOutMM = 2.0, 3.0
	ggWallMM                = 2.0
)

// ringBeyond appends to out the smoothed HU of the lung voxels in the ring
// ggRingInMM–ggRingOutMM mm beyond the region above t that is connected
// (6-neighbours, in the lung) to the voxel above t nearest the seed within
// rl mm, and at least ggWallMM from the chest wall, mediastinum or
// diaphragm (outside the mask).
func (ws *Workspace) ringBeyond(b *boxInfo, t, rl float64, out []float32) []float32 {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	n := b.len()
	ws.dist = grow(ws.dist, n)
	ws.dist2 = grow(ws.dist2, n)
	start := ws.nearestAbove(b, float32(t), rl)
	if start < 0 {
		return out
	}
	for p := 0; p < n; p++ {
		ws.dist[p], ws.dist2[p] = edt.Inf, edt.Inf
		if ws.lung[p] == 0 {
			ws.dist2[p] = 0
		}
	}
	lo, hi, _ := ws.floodAbove(b, t, start)
	// The ring lies within ggRingOutMM of the region: its box widened by
	// that holds every ring voxel and every region voxel, so the distance
	// there is exact; the wall distance needs ggWallMM more, and is then
	// exact wherever it is below ggWallMM (elsewhere at least that).
	sp := [3]float64(b.grid.Spacing)
	ring0, ring1 := widen(lo, hi, ggRingOutMM, sp), widen(lo, hi, ggRingOutMM+ggWallMM, sp)
	// Only distances up to ggRingOutMM and ggWallMM are compared, so the
	// transforms need be exact only that far (Within3Box).
	edt.Within3Box(ws.dist, nx, ny, nz, ring0[0], ring0[1], sp, ggRingOutMM, &ws.edt)
	// Within the lung, as most lesions are, the wall distance is infinite
	// in the whole box and its transform would change nothing.
	wall := ws.anyOutside(b, ring1)
	if wall {
		edt.Within3Box(ws.dist2, nx, ny, nz, ring1[0], ring1[1], sp, ggWallMM, &ws.edt)
	}
	r0, r1, w := float32(ggRingInMM*ggRingInMM), float32(ggRingOutMM*ggRingOutMM), float32(ggWallMM*ggWallMM)
	lo, hi = ring0[0], ring0[1]
	for k := max(lo[2], 0); k <= min(hi[2], nz-1); k++ {
		for j := max(lo[1], 0); j <= min(hi[1], ny-1); j++ {
			for i := max(lo[0], 0); i <= min(hi[0], nx-1); i++ {
				p := i + nx*(j+ny*k)
				if d := ws.dist[p]; d >= r0 && d <= r1 && (!wall || ws.dist2[p] >= w) {
					out = append(out, ws.sm.Data[p])
				}
			}
		}
	}
	return out
}

// regionNear leaves in ws.dist the squared distance (mm², exact up to
// maxMM, more than maxMM² beyond) from each voxel of the box to the region
// above t that is connected (6-neighbours, in the lung) to the voxel above
// t nearest the seed within rl mm, within that region's bounding box
// widened by maxMM (Inf elsewhere), and returns the region's centroid (box
// voxel coordinates); ok is false when there is no such region.
func (ws *Workspace) regionNear(b *boxInfo, t, rl, maxMM float64) (centre volume.Vec3, ok bool) {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	n := b.len()
	ws.dist = grow(ws.dist, n)
	start := ws.nearestAbove(b, float32(t), rl)
	if start < 0 {
		return centre, false
	}
	for p := range ws.dist[:n] {
		ws.dist[p] = edt.Inf
	}
	lo, hi, centre := ws.floodAbove(b, t, start)
	sp := [3]float64(b.grid.Spacing)
	box := widen(lo, hi, maxMM, sp)
	edt.Within3Box(ws.dist, nx, ny, nz, box[0], box[1], sp, maxMM, &ws.edt)
	return centre, true
}

// floodAbove sets ws.dist to 0 on the region above t that is connected
// (6-neighbours, in the lung) to the box voxel start (ws.dist must hold no
// 0 elsewhere) and returns its bounding box (inclusive voxel indices) and
// centroid (box voxel coordinates).
func (ws *Workspace) floodAbove(b *boxInfo, t float64, start int) (lo, hi [3]int, centre volume.Vec3) {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	q := append(ws.queue[:0], int32(start))
	ws.dist[start] = 0
	lo, hi = [3]int{nx, ny, nz}, [3]int{-1, -1, -1}
	for h := 0; h < len(q); h++ {
		p := int(q[h])
		c := [3]int{p % nx, (p / nx) % ny, p / (nx * ny)}
		for a := range c {
			lo[a], hi[a] = min(lo[a], c[a]), max(hi[a], c[a])
			centre[a] += float64(c[a])
		}
		for _, np := range neighbours6(p, nx, ny, nz) {
			if np >= 0 && ws.dist[np] != 0 && ws.lung[np] != 0 && float64(ws.sm.Data[np]) > t {
				ws.dist[np] = 0
				q = append(q, int32(np))
			}
		}
	}
	ws.queue = q
	for a := range centre {
		centre[a] /= float64(len(q))
	}
	return lo, hi, centre
}

// anyOutside reports whether a voxel of the index box r (clipped to the
// lesion's box b) lies outside the lung mask.
func (ws *Workspace) anyOutside(b *boxInfo, r [2][3]int) bool {
	nx, ny := b.n[0], b.n[1]
	for k := max(r[0][2], 0); k <= min(r[1][2], b.n[2]-1); k++ {
		for j := max(r[0][1], 0); j <= min(r[1][1], ny-1); j++ {
			for i := max(r[0][0], 0); i <= min(r[1][0], nx-1); i++ {
				if ws.lung[i+nx*(j+ny*k)] == 0 {
					return true
				}
			}
		}
	}
	return false
}

// widen returns the voxel box lo…hi grown by mm on every side (one voxel
// more, for rounding; not clipped: Transform3Box clips).
func widen(lo, hi [3]int, mm float64, sp [3]float64) [2][3]int {
	var r [2][3]int
	for a := 0; a < 3; a++ {
		m := int(math.Ceil(mm/sp[a])) + 1
		r[0][a], r[1][a] = lo[a]-m, hi[a]+m
	}
	return r
}

// ggMinMM is the smallest non-solid body (mean diameter, mm) measured again
// from its ground glass: 6 mm, under which Lung-RADS reports no nodule
// above category 2; most smaller non-solid bodies are vessel fragments
// (on LIDC-IDRI-0001, 18 of the 38 non-solid bodies among its
// candidates), and on phantom seeds 1–20 and 101–120 the lists are the
// same as with no limit.
const ggMinMM = 6

// bodyMedianBelow returns the median smoothed HU of the body's voxels
// below t (the ground glass of a lesion whose denser voxels are vessels),
// or −Inf when there are none.
func (ws *Workspace) bodyMedianBelow(b *boxInfo, t float32) float64 {
	v := ws.vals[:0]
	for p := 0; p < b.len(); p++ {
		if ws.lab[p] == lBody && ws.sm.Data[p] < t {
			v = append(v, ws.sm.Data[p])
		}
	}
	ws.vals = v
	if len(v) == 0 {
		return math.Inf(-1)
	}
	return float64(quantile(v, 0.5))
}

// groundGlassBody segments a non-solid lesion (or a part-solid one whose
// threshold was set halfway to its core), just measured as first, again
// from its ground glass alone: the threshold halfway between the lung
// and the ground-glass level (the median of the body's voxels below
// SolidHU; never above the first threshold, which the vessels in the core
// may have raised), and the opening taken of the voxels below the dense
// level (ggDenseLevel: SolidHU, or lower for faint ground glass), so that
// vessels, the only dense voxels of a non-solid lesion, neither raise the
// threshold nor carry the body out along them. The opening has a
// quarter of the inscribed radius (bodyOpenFrac); the body measured again
// with groundGlassOpenFrac, which cuts the skirts of vessels beside the
// lesion, of its own density at this threshold, replaces it when it is
// rounder and of the same type (the wider opening can erode a small dense
// core's surroundings too deep to refill them, and lose the core). It
// returns nil when there is no ground glass or nothing is segmented.
func (ws *Workspace) groundGlassBody(b *boxInfo, hu *volume.Volume[int16], seed int, hint float64, first *Result, opt Options) *Result {
	return ws.groundGlassAt(b, hu, seed, hint, first, opt, ws.bodyMedianBelow(b, float32(opt.SolidHU)))
}

// groundGlassAt is groundGlassBody with the ground-glass level gg (smoothed
// HU) given.
func (ws *Workspace) groundGlassAt(b *boxInfo, hu *volume.Volume[int16], seed int, hint float64, first *Result, opt Options, gg float64) *Result {
	if !(gg > first.BackgroundHU) {
		return nil
	}
	t := math.Min(float64(b.thresh), first.BackgroundHU+0.5*(gg-first.BackgroundHU))
	b.thresh = float32(t)
	if ws.sm.Data[seed] <= b.thresh {
		if seed = ws.nearestAbove(b, b.thresh, math.Max(2, hint/2)); seed < 0 {
			return nil
		}
	}
	dense := ggDenseLevel(gg, first.BackgroundHU, opt.SolidHU)
	r := ws.groundGlassOpen(b, hu, seed, hint, t, first, opt, bodyOpenFrac, dense)
	if r == nil {
		return nil
	}
	if r2 := ws.groundGlassOpen(b, hu, seed, hint, t, first, opt, groundGlassOpenFrac, dense); r2 != nil && r2.Type == r.Type && r2.Sphericity > r.Sphericity {
		return r2
	}
	return r
}

// faintPlateau returns the level (smoothed HU) at which a non-solid body
// first, whose own voxels below SolidHU stand at gg, is measured once more:
// the median about the seed (within coreRadius, boxInfo.coreMed), when it
// lies below gg and more than ggPlateauNoise noise SDs above the lung; ok
// is false otherwise. A faint ground-glass lesion (100 HU over the lung)
// crossed by vessels has a body, at the threshold halfway to the 90th
// percentile about the seed, of vessel pieces and noise above its plateau:
// the body's median is then the vessels', the threshold halfway to it still
// above the plateau, and the lesion is measured as an irregular fragment
// and ranked among vessels. What lies about the seed is mostly the
// plateau itself (phantom 417 of seeds 401–420: a 14.7 mm lesion at −745 HU
// in lung at −847, vessels through it; body median −625, seed's −706;
// measured 14.3 mm at sphericity 0.61 and blob ratio 0.41, rank 13, now
// 16.3 mm at 0.92 and 0.63, rank 6).
func faintPlateau(b *boxInfo, first *Result, gg float64) (float64, bool) {
	if b.coreMed < gg && b.coreMed > first.BackgroundHU+ggPlateauNoise*first.NoiseHU {
		return b.coreMed, true
	}
	return 0, false
}

// ggPlateauNoise is how many noise SDs (Result.NoiseHU, unsmoothed) above
// the lung the median about the seed must lie to be taken for a plateau
// by faintPlateau; not fitted (two SDs: the smoothed median of a ball of
// lung lies well within one).
const ggPlateauNoise = 2

// ggDenseLevel is the smoothed HU above which a voxel is too dense to be
// the ground glass of a lesion whose ground glass stands at gg HU over
// lung at bg HU: twice gg's contrast over the lung (gg + (gg − bg)), or
// solidHU when that is lower. Ground glass varies about its level by less
// than its contrast; what is denser is a vessel crossing or skirting the
// lesion, or a solid core, and holds the opening open no more than solid
// tissue does. With solidHU alone, a small vessel beside faint ground
// glass, blurred to −450…−350 HU, counted as ground glass and the body ran
// along it (phantom 411's 7.2 mm nodule of seeds 401–420, −660 HU in lung
// at −850, measured 12.3 × 7.6 mm with the vessel beside it and ranked
// among vessel pieces; now 10.2 × 7.3 mm, and found). One and a half
// times the contrast was tried too: it typed two more part-solid lesions
// non-solid on seeds 401–420, and on 101–120 one part-solid lesion left
// the top ten (CPM 0.920 → 0.907).
func ggDenseLevel(gg, bg, solidHU float64) float64 {
	return math.Min(solidHU, gg+(gg-bg))
}

// groundGlassOpen segments and measures the lesion at the ground-glass
// threshold t (b.thresh) from seed, with an opening of frac of its inscribed
// radius taken of the voxels below dense (smoothed HU; see open), or
// returns nil when nothing is segmented.
func (ws *Workspace) groundGlassOpen(b *boxInfo, hu *volume.Volume[int16], seed int, hint, t float64, first *Result, opt Options, frac, dense float64) *Result {
	ws.region(b, seed)
	r := &Result{Box: b.grid, BoxOrigin: b.lo, ThresholdHU: t, BackgroundHU: first.BackgroundHU, CoreHU: first.CoreHU,
		GroundGlassHU: first.GroundGlassHU, NoiseHU: first.NoiseHU, CapMM: first.CapMM}
	if err := ws.open(b, seed, hint, r, float32(dense), frac); err != nil {
		return nil
	}
	if err := r.pleuraLine(ws, b); err != nil {
		return nil
	}
	ws.measure(b, hu, r, opt)
	return r
}

// enclosesDense reports whether r's body (measured in the box b) encloses
// tissue denser than solidHU (smoothed) of at least a coreMinMM ball: voxels
// outside the body that no 6-connected path of such voxels joins to the
// box's faces. Ground glass around a solid core that its own opening cut
// out (a core of 4.5–5.5 mm may leave a hole there) encloses it; ground
// glass beside a vessel does not.
func (ws *Workspace) enclosesDense(b *boxInfo, r *Result, solidHU float64) bool {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	n := b.len()
	seen := ws.seenBuf(n)
	q := ws.queue[:0]
	for k := 0; k < nz; k++ {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				if i > 0 && j > 0 && k > 0 && i < nx-1 && j < ny-1 && k < nz-1 {
					continue
				}
				if p := i + nx*(j+ny*k); r.Mask[p] == 0 {
					seen[p] = true
					q = append(q, int32(p))
				}
			}
		}
	}
	for h := 0; h < len(q); h++ {
		for _, np := range neighbours6(int(q[h]), nx, ny, nz) {
			if np >= 0 && !seen[np] && r.Mask[np] == 0 {
				seen[np] = true
				q = append(q, int32(np))
			}
		}
	}
	ws.queue = q
	sp := b.grid.Spacing
	vox := sp[0] * sp[1] * sp[2]
	var dense float64
	for p := 0; p < n; p++ {
		if !seen[p] && r.Mask[p] == 0 && float64(ws.sm.Data[p]) > solidHU {
			dense += vox
		}
	}
	return dense >= math.Pi/6*coreMinMM*coreMinMM*coreMinMM
}
