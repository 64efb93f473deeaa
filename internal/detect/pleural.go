package detect

import (
	"math"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/nodule"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

// The pleural look finds small nodules on the lung's wall, the twin of the
// isolated-blob look for what stands free. A juxtapleural nodule of 4–7 mm
// is a bump on the pleura: smoothed at the detector's scale it merges with
// the chest wall into one bright edge, whose shape index is a ridge's and
// whose blob response is the wall's, so the mean-shift gets no points from
// it (phantom seeds 301–320: 7 of 20 such nodules of 3.7–5.9 mm had no
// candidate at all, in any rank). The lung mask holds it: the mask's
// closing takes in what sits in a bay of the wall (segment, step 5).
//
// So the look reads the mask itself. Inside it, tissue (raw HU at or above
// the mask's own air threshold, bumpTissueHU) is what the closing took in:
// vessels, nodules, and wall bits. A piece of it that touches the outside
// of the mask, ends within bumpMaxMM3, faces the lung on most of its
// surface (a dome does, a fleck of wall along the pleura does not), is not
// long, and reaches soft-tissue density is segmented like any lesion; it
// becomes a candidate when that lesion is round in the pleura's mirror
// (nodule's mirrored BlobRatio, the roundness a juxtapleural nodule is
// judged by), compact (Sphericity), not long in the axial plane, and at
// least --min-diameter across.

// bumpTissueHU is the least raw HU of a bump's voxel: segment's air
// threshold (Options.AirHU), so that the mask's voxels at or above it are
// exactly what its closing took in.
const bumpTissueHU = -400

// bumpPeakHU is the least HU a bump's densest voxel must reach: halfway
// from bumpTissueHU to water. A 4.3 mm juxtapleural nodule on 2.5 mm
// slices peaks at −180 to −150 HU; the pleura's partial-volume flecks at
// −350 to −300.
const bumpPeakHU = -200

// bumpMinMM3 and bumpMaxMM3 bound a bump's volume (mm³, of its voxels at
// bumpTissueHU or more): from 8 mm³ (the in-mask part of a 4 mm lens on the
// wall) to a ball of 20 mm (larger pieces are masses or mediastinum, which
// the mean-shift's coarse levels see). A 3.5 mm juxtapleural nodule on
// 2.5 mm slices keeps only 6–7 mm³ there; 4 mm³ found one (phantom 119 of
// seeds 101–120), but on LIDC-IDRI-0001 with 60–90 HU of noise added
// (TestLIDC0001Noisy) flecks of noise on the pleura then passed every test
// and scored 0.97–0.99.
const (
	bumpMinMM3 = 8.0
	bumpMaxMM3 = 4189.0
)

// bumpMaxWall is the largest share of a bump's faces that may meet the
// outside of the mask: a hemisphere on the wall faces it on a third of its
// surface (phantom juxtapleural nodules: 0.26–0.44), a flat piece of wall
// tissue on half and more (the lung's base: 0.59–0.71).
const bumpMaxWall = 0.5

// bumpMaxFar is the farthest a bump's voxel may lie from its centroid, in
// volume-equivalent radii: a hemisphere's rim lies at 1.35, a lens's a
// little further (phantom juxtapleural nodules 1.15–1.76); a vessel's
// stub running along the wall or into the lung further still.
const bumpMaxFar = 2.0

// bumpMinBlob and bumpMinSphericity are the least mirrored roundness
// (nodule.Result.BlobRatio) and sphericity of the lesion segmented at a
// bump. Phantom juxtapleural nodules of 4.4 mm and more read 0.57–0.83 and
// 0.68–1.0 (seeds 1–20, 101–120, 301–320); vessel forks' roundness reaches
// about 0.48. On LIDC-IDRI-0001, 23 bumps pass the tests before these
// (lung tips, corners, vessels meeting the mediastinal pleura, flecks):
// their roundness is 0–0.57, and the one above 0.5 has sphericity 0.51;
// none is kept, nor is either of A0002's two.
const (
	bumpMinBlob       = 0.5
	bumpMinSphericity = 0.6
)

// bumpMaxElongation is the longest a bump's lesion may be in the axial
// plane, long over short axis: a hemisphere on the wall reads 2, a lens a
// little more (phantom juxtapleural nodules 1.3–3.0); a sliver along the
// pleura more still. With it, the lesion must also measure --min-diameter
// (mean diameter): with a floor of 4 mm³ (see bumpMinMM3), two pieces of
// LIDC-IDRI-0001 passed the roundness tests, a 7 × 1 mm sliver and a
// 3 × 1 mm fleck (mean diameters 4 and 2 mm), and without these two tests
// they were candidates at 0.99. At 8 mm³ they cost one phantom nodule:
// phantom 107's 3.3 mm one (seeds 101–120) on 1.25 mm slices, whose lesion
// measures 2.5 mm across and 4 times as long as wide (taking its size from
// its volume instead, 3.8 mm, would not bring it back).
const bumpMaxElongation = 3.0

// pleuralBump is one piece of tissue on the lung's wall (see
// pleuralBumps).
type pleuralBump struct {
	World    [3]float64 // centroid, LPS mm
	Voxels   int
	RadiusMM float64 // volume-equivalent radius, mm
	PeakHU   float64 // densest voxel, raw HU
}

// bumpFaces are the six face neighbours.
var bumpFaces = [6][3]int{{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}}

// pleuralBumps returns the bumps of the crop (ws.crop, raw HU): the
// 6-connected pieces of in-mask voxels at or above bumpTissueHU that touch
// the outside of the mask, end within the crop and bumpMaxMM3, and pass
// the shape tests above (bumpMinMM3, bumpPeakHU, bumpMaxWall, bumpMaxFar).
// lung is the whole scan's mask (ws.lo is the crop's first voxel in it).
// Its marks are two bit sets over the crop (ws.seen, ws.cur: 2.7 MB for a
// 300 × 250 × 300 crop), reused between runs.
func (ws *Workspace) pleuralBumps(lung *volume.Volume[uint8]) []pleuralBump {
	crop := ws.crop
	nx, ny, nz := crop.Dims[0], crop.Dims[1], crop.Dims[2]
	lo := ws.lo
	inLung := func(i, j, k int) bool { return lung.At(lo[0]+i, lo[1]+j, lo[2]+k) != 0 }
	sp := crop.Spacing
	vox := sp[0] * sp[1] * sp[2]
	maxVox := int(bumpMaxMM3 / vox)
	tissue := func(i, j, k int) bool {
		return crop.Data[i+nx*(j+ny*k)] >= bumpTissueHU && inLung(i, j, k)
	}
	// faces counts the faces of voxel (i, j, k) that meet the outside of
	// the mask (wall) and those that meet lung or wall (the piece's
	// surface); the crop's edge counts as neither.
	faces := func(i, j, k int) (wall, surface int) {
		for _, o := range bumpFaces {
			a, b, c := i+o[0], j+o[1], k+o[2]
			if a < 0 || b < 0 || c < 0 || a >= nx || b >= ny || c >= nz {
				continue
			}
			switch {
			case !inLung(a, b, c):
				wall++
				surface++
			case crop.Data[a+nx*(b+ny*c)] < bumpTissueHU:
				surface++
			}
		}
		return wall, surface
	}
	// The seeds, tissue voxels facing the wall, slice by slice in
	// parallel; the floods from them in order, so that the result does not
	// depend on the worker count.
	seeds := make([][]int32, nz)
	par.For(nz-2, func(_, kk int) {
		k := kk + 1
		var sl []int32
		for j := 1; j < ny-1; j++ {
			row := crop.Data[nx*(j+ny*k):][:nx]
			mrow := lung.Data[lung.Index(lo[0], lo[1]+j, lo[2]+k):][:nx]
			for i := 1; i < nx-1; i++ {
				if row[i] < bumpTissueHU || mrow[i] == 0 {
					continue
				}
				if w, _ := faces(i, j, k); w > 0 {
					sl = append(sl, int32(i+nx*(j+ny*k)))
				}
			}
		}
		seeds[k] = sl
	})
	// seen marks every voxel a flood took, cur the current flood's; a
	// flood that reaches a voxel seen but not its own has joined a piece an
	// earlier flood left open (a closed piece has no tissue beside it).
	words := (nx*ny*nz + 63) / 64
	ws.seen, ws.cur = volume.Resize(ws.seen, words), volume.Resize(ws.cur, words)
	seen, cur := ws.seen, ws.cur
	clear(seen)
	clear(cur)
	has := func(b []uint64, p int32) bool { return b[p>>6]&(1<<(p&63)) != 0 }
	set := func(b []uint64, p int32) { b[p>>6] |= 1 << (p & 63) }
	var q []int32
	var out []pleuralBump
	for _, sl := range seeds {
		for _, p := range sl {
			if has(seen, p) {
				continue
			}
			set(seen, p)
			set(cur, p)
			q = append(q[:0], p)
			open := false
			// Flood the piece; it is open when it meets the crop's edge,
			// outgrows maxVox, or joins a piece an earlier flood left open.
			for h := 0; h < len(q) && !open; h++ {
				x := int(q[h])
				a0, b0, c0 := x%nx, (x/nx)%ny, x/(nx*ny)
				for _, o := range bumpFaces {
					a, b, c := a0+o[0], b0+o[1], c0+o[2]
					if a < 0 || b < 0 || c < 0 || a >= nx || b >= ny || c >= nz {
						open = true
						break
					}
					np := int32(a + nx*(b+ny*c))
					if has(cur, np) || !tissue(a, b, c) {
						continue
					}
					if has(seen, np) {
						open = true
						break
					}
					set(seen, np)
					set(cur, np)
					q = append(q, np)
					if len(q) > maxVox {
						open = true
						break
					}
				}
			}
			for _, x := range q {
				cur[x>>6] &^= 1 << (x & 63)
			}
			if open || float64(len(q))*vox < bumpMinMM3 {
				continue
			}
			if b, ok := bumpOf(crop, q, faces); ok {
				out = append(out, b)
			}
		}
	}
	return out
}

// bumpOf measures the closed piece q (crop voxel indices) and applies the
// bump tests (bumpPeakHU, bumpMaxWall, bumpMaxFar); faces is
// pleuralBumps' face count.
func bumpOf(crop *volume.Volume[int16], q []int32, faces func(i, j, k int) (int, int)) (pleuralBump, bool) {
	nx, ny := crop.Dims[0], crop.Dims[1]
	sp := crop.Spacing
	peak := math.Inf(-1)
	var wall, surface int
	var cen volume.Vec3
	for _, x := range q {
		xi := int(x)
		i, j, k := xi%nx, (xi/nx)%ny, xi/(nx*ny)
		w, s := faces(i, j, k)
		wall, surface = wall+w, surface+s
		cen = volume.Vec3{cen[0] + float64(i), cen[1] + float64(j), cen[2] + float64(k)}
		peak = math.Max(peak, float64(crop.Data[xi]))
	}
	n := float64(len(q))
	cen = volume.Vec3{cen[0] / n, cen[1] / n, cen[2] / n}
	if peak < bumpPeakHU || float64(wall) > bumpMaxWall*float64(surface) {
		return pleuralBump{}, false
	}
	r := math.Cbrt(3 * n * sp[0] * sp[1] * sp[2] / (4 * math.Pi))
	for _, x := range q {
		xi := int(x)
		d2 := sq((float64(xi%nx)-cen[0])*sp[0]) + sq((float64((xi/nx)%ny)-cen[1])*sp[1]) + sq((float64(xi/(nx*ny))-cen[2])*sp[2])
		if d2 > sq(bumpMaxFar*r) {
			return pleuralBump{}, false
		}
	}
	return pleuralBump{World: [3]float64(crop.IndexToWorld(cen)), Voxels: len(q), RadiusMM: r, PeakHU: peak}, true
}

// addBumps segments the bumps (pleuralBumps) and adds those whose lesion
// is round in the pleura's mirror and compact (bumpMinBlob,
// bumpMinSphericity), not long (bumpMaxElongation) and at least
// opt.MinDiameterMM across (mean diameter) to the candidates, as
// addIsolated adds closed blobs: a bump in a kept lesion raises that
// candidate's score to the bump's when higher, any other becomes a
// candidate of its own. A bump's score is the second stage's
// (FinalScore), with the look in the first stage's place: its first-stage
// score is the isolated look's for the lesion's contrast (isoScore of
// CoreHU − BackgroundHU), both looks finding a closed lesion. So a real
// piece of pleura that passes the tests above only just (on LIDC-IDRI-0001
// at --spacing 1.25, three did, with roundness 0.51–0.61 and sphericity
// 0.60–0.65) is judged on those values: two score 0.17 and 0.07, under the
// report threshold, and the third leaves the ten, where the look's own
// score reported them at 0.91–0.97. The list is not ranked again here.
func (ws *Workspace) addBumps(hu *volume.Volume[int16], lung *volume.Volume[uint8], bumps []pleuralBump,
	cs []candidate.Candidate, meas []*nodule.Result, feats []Features, opt Options) ([]candidate.Candidate, []*nodule.Result, []Features) {
	if len(bumps) == 0 {
		return cs, meas, feats
	}
	seg := ws.segmentLooks(hu, lung, len(bumps), func(i int) ([3]float64, float64) { return bumps[i].World, 2 * bumps[i].RadiusMM }, opt)
	for i, b := range bumps {
		m := seg[i]
		if m == nil || m.BlobRatio < bumpMinBlob || m.Sphericity < bumpMinSphericity ||
			m.MeanDiameterMM < opt.MinDiameterMM || m.LongAxisMM > bumpMaxElongation*m.ShortAxisMM {
			continue
		}
		// The look stands in for the first stage; the second stage then
		// judges the lesion as it judges every candidate (addLook).
		contrast := m.CoreHU - m.BackgroundHU
		cs, meas, feats = addLook(cs, meas, feats, opt, b.World, b.World, b.RadiusMM, b.Voxels, b.PeakHU, contrast, m, false,
			func(f *Features) { f.Isolated = math.Max(f.Isolated, contrast) })
	}
	return cs, meas, feats
}
