package detect

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/features"
	"github.com/lungctl/lungctl/internal/nodule"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

// The isolated-blob look finds small lesions that stand free in the lung,
// whatever the mean-shift made of them. A 3 mm nodule gives the mean-shift
// a handful of points, and its cluster ranks among vessel ends and forks,
// which answer a blob filter as strongly. What tells it from them is that
// it is closed: halfway between its peak and the lung around it, its region
// ends within a few millimetres in every direction and is about as wide as
// it is long, and lower down, at isoLevel of the way, it is still closed,
// in the smoothed HU or in the acquisition's own (a vessel a millimetre or
// two away is joined to it only by the smoothing). A vessel's region runs
// on along the vessel; a faint vessel's brighter fragment is long and
// thin, or joins the vessel a little lower down, in its own voxels too.
//
// On phantom seeds 1–20 and 101–120, every blob that passed all three tests
// (before isoSlackSD, which only makes the last stricter) was a lesion (42
// and 32 blobs), and on LIDC-IDRI-0001 and A0002 none passed; closed at
// half height alone, 6 of 54 and 6 of 46 were not.

// isoSigmaMM is the look's smoothing (mm): a ball of radius r answers a
// Gaussian of σ = r/√3 most, 0.87 mm for the 3 mm lesions LUNA16 counts
// from; the pyramid's level 0 (1.5 mm) blurs those into their neighbours.
const isoSigmaMM = 1.0

// isoReachMM is how far (mm) from its peak a blob's region may reach and
// the blob still count as closed; the lung around it is read on the sphere
// of that radius. 8 mm: lesions to about 14 mm, larger than the ones the
// mean-shift's clusters miss. Not tuned.
const isoReachMM = 8.0

// isoLevel is the second, lower level at which the region must be closed
// too, as a fraction of the way from the lung around the blob to its peak:
// there a lesion's blurred edge is still its own, while a vessel's
// fragment has joined the rest of the vessel. At 0.25 a lesion near a
// vessel joins it too (22 of seeds 101–120's 32 blobs kept, against 32).
const isoLevel = 0.35

// isoSlackSD lowers that second level by the lung's own spread around the
// blob (a robust SD of the smoothed HU on the isoReachMM sphere, from its
// lower half): noise and texture break a faint vessel that a noise-free
// scan shows joined. LIDC-IDRI-0001 with 60 or 90 HU of noise added at
// its own resolution (a low-dose scan's) gave a vessel piece scoring 0.55
// at the second level alone, and none with the slack; one SD was enough
// (TestLIDC0001Noisy).
const isoSlackSD = 1.0

// isoDensePeakHU and isoDenseFloorHU: a blob whose smoothed peak reaches
// isoDensePeakHU, denser than any soft tissue (a calcified granuloma), is
// closed at isoLevel, and in the acquisition's own voxels, at no lower
// than isoDenseFloorHU: above the soft tissue of an airway's wall or a
// vessel (20–60 HU, less once smoothed), below the calcification. Lower
// down, a granuloma against a bronchus's wall joined the wall and failed
// the test (the independent generator's seed 1: a 6.9 mm granuloma
// beside an airway had no candidate). 100 HU lies above half the height
// of any peak under about 1,050 HU, so for most dense blobs this test then
// asks no more than the half-height one, and its slack (isoSlackSD) no
// longer matters: what keeps a vessel's piece out is the half-height test
// and the elongation, both unchanged. A vessel bright with contrast and
// as thick as a 3 mm one joins a dense blob beside it at half height
// already; a thinner one (1 mm radius, 500 HU) that joined it only lower
// down no longer keeps it out. Not
// fitted: chosen before the one run that checked them (the independent
// generator's seeds 1–3: one granuloma found, two more scored 0.65 → 1.00
// and 0.33 → 1.00; this project's seven phantom sets: no candidate moved).
const (
	isoDensePeakHU  = 200
	isoDenseFloorHU = 100
)

// isoMinContrastHU is the least peak height over the surrounding lung
// (smoothed HU) looked at. Not tuned: it keeps the maxima of the lung's own
// texture and noise out of the look (isoScore gives 100 HU 0.48 already).
const isoMinContrastHU = 100

// isoElongation is the longest that a closed region may be, as its
// farthest voxel's distance from the peak over its volume-equivalent
// radius (1 for a ball), for acquisitions of 2.5 mm slices or thinner:
// a 3 mm ball blurred by a 2.5 mm slice profile reads 1.2–1.4. 1.5 kept
// 48 of the 51 lesion blobs of phantom seeds 1–20 closed at half height,
// and 6 of their 72 other such blobs (fragments of faint vessels).
const isoElongation = 1.5

// isoModel is the isolated blob's score: logistic in its contrast (HU,
// standardised by mean and scale), fitted (scikit-learn
// LogisticRegression, C = 1) on the 54 blobs of phantom seeds 1–20 closed
// at half height and no longer than isoElongation (48 on a lesion); AUC
// 0.94 on seeds 101–120's 46 (40). Those also closed at isoLevel were all
// lesions there, so the score understates them: 0.48 at 100 HU, 0.62 at
// 200, 0.90 at 500.
var isoModel = struct{ mean, scale, coef, intercept float64 }{668.52, 339.57, 1.9221, 3.1321}

// isoScore is the detection score of a closed blob of contrast HU.
func isoScore(contrast float64) float64 {
	z := isoModel.intercept + isoModel.coef*(contrast-isoModel.mean)/isoModel.scale
	return 1 / (1 + math.Exp(-z))
}

// isoMaxSliceMM is the thickest slice (profile width or spacing, mm) at
// which the looks run as on thin slices: LUNA16's own limit for its scans,
// 2.5 mm. Thicker slices stretch a small ball along z as much as a
// vessel's piece, and slices with gaps cut vessels into pieces that stand
// free: LIDC-IDRI-0001 with every other slice dropped (5 mm) gave four
// candidates scoring 0.59–0.96 (three with the slab test, isoSlabTouch),
// none within 28 mm of a reader's mark, and Lung-PET-CT-Dx A0002's 8 mm
// slices (with an elongation limit grown for them) two over its mass.
// Touching slabs up to isoMaxSlabMM get the closed-blob look with the
// slab's own shape test.
const isoMaxSliceMM = 2.5

// isoMaxSlabMM is the thickest slice at which the closed-blob test runs
// at all: between isoMaxSliceMM and it, a thick slice stretches a small
// ball along z, so the blob is asked to be round in the axial plane and
// no taller than the slabs that hold it (thickShape), and the pleural and
// ground-glass looks stay off. On the 5 mm phantoms (seeds 951–960) the
// look took CPM 0.777 → 0.849 (six lesions of 3.1–6 mm found or raised,
// no false positive among the top ten); LIDC-IDRI-0001 as touching 5 mm
// slabs, with and without 30 HU of noise, kept the same ten candidates.
// 8 mm slices (Lung-PET-CT-Dx A0002's) stay without it.
const isoMaxSlabMM = 5.0

// isoSlabTouch is the least slice thickness, as a fraction of the slice
// spacing, at which thick slices count as touching (see addIsolated):
// LIDC-IDRI-0001 with every other 2.5 mm slice dropped (5 mm apart) gave
// three vessel dots at 0.63–0.74, none near a reader's mark, when its
// gaps were let through.
const isoSlabTouch = 0.9

// isoMaxGridMM is the coarsest grid (mm) the look runs on: half of
// isoMaxSliceMM, so that a 3 mm lesion spans at least two voxels
// (`preprocess --spacing 2` turns it off).
const isoMaxGridMM = isoMaxSliceMM / 2

// isoBlob is one closed blob: Peak and Lung are smoothed HU at the peak
// and around it (the lower quartile on the isoReachMM sphere), Voxels the
// half-maximum region's voxel count, RadiusMM its volume-equivalent
// radius, Elongation as isoElongation defines it, World the peak (LPS mm).
type isoBlob struct {
	World                [3]float64
	Peak, Lung           float64
	Voxels               int
	RadiusMM, Elongation float64
}

// isoScratch is one worker's flood-fill space.
type isoScratch struct {
	stamp []int32
	mark  int32
	queue []int32
	shell []float64
	found []isoBlob
}

// isolatedBlobs returns the closed blobs of the crop (local maxima of the
// smoothed HU in the lung, at least opt.HUMin), strongest contrast
// first, one per region. It smooths the crop into the pyramid's level-0
// buffer (the pyramid is not used after the candidates are made; the next
// Run builds it again), so it costs no volume-sized memory.
func (ws *Workspace) isolatedBlobs(inLung func(i, j, k int) bool, opt Options, thick float64) ([]isoBlob, error) {
	var buf *volume.Volume[float32]
	if len(ws.pyr.Levels) > 0 {
		buf = ws.pyr.Levels[0]
	}
	s, err := features.Smooth(buf, ws.crop, isoSigmaMM)
	if err != nil {
		return nil, fmt.Errorf("isolated blobs: %w", err)
	}
	if len(ws.pyr.Levels) > 0 {
		ws.pyr.Levels[0] = s
	} else {
		ws.pyr.Levels = append(ws.pyr.Levels, s)
	}
	g := s.Grid
	sp := g.Spacing
	reach := [3]int{}
	for a := range reach {
		reach[a] = int(math.Ceil(isoReachMM / sp[a]))
	}
	box := [3]int{2*reach[0] + 1, 2*reach[1] + 1, 2*reach[2] + 1}
	nw := par.Limit()
	for len(ws.iso) < nw {
		ws.iso = append(ws.iso, &isoScratch{})
	}
	for _, sc := range ws.iso[:nw] {
		if len(sc.stamp) != box[0]*box[1]*box[2] {
			sc.stamp = make([]int32, box[0]*box[1]*box[2])
			sc.mark = 0
		}
		sc.found = sc.found[:0]
	}
	nx, ny, nz := g.Dims[0], g.Dims[1], g.Dims[2]
	voxMM3 := sp[0] * sp[1] * sp[2]
	par.For(nz-2, func(w, kk int) {
		k := kk + 1
		sc := ws.iso[w]
		floor := float32(opt.HUMin)
		for j := 1; j < ny-1; j++ {
			row := s.Data[g.Index(0, j, k):][:nx]
			for i := 1; i < nx-1; i++ {
				if row[i] < floor || row[i-1] > row[i] || row[i+1] > row[i] || !localMax(s, i, j, k) || !inLung(i, j, k) {
					continue
				}
				if b, ok := sc.blob(s, ws.crop, i, j, k, reach, box, voxMM3, thick); ok {
					sc.found = append(sc.found, b)
				}
			}
		}
	})
	var out []isoBlob
	for _, sc := range ws.iso[:nw] {
		out = append(out, sc.found...)
	}
	// Two peaks of one region (a plateau) are one blob.
	return strongestFirst(out, func(b *isoBlob) (float64, [3]float64, float64) {
		return b.Peak - b.Lung, b.World, b.RadiusMM
	}, 2, 0), nil
}

// localMax reports whether s at (i, j, k), not on the border, is at least
// each of its 26 neighbours.
func localMax(s *volume.Volume[float32], i, j, k int) bool {
	nx, nxy := s.Dims[0], s.Dims[0]*s.Dims[1]
	c := s.Index(i, j, k)
	v := s.Data[c]
	// The face neighbours first: most voxels fail there.
	if s.Data[c-nx] > v || s.Data[c+nx] > v || s.Data[c-nxy] > v || s.Data[c+nxy] > v {
		return false
	}
	for dk := -1; dk <= 1; dk++ {
		for dj := -1; dj <= 1; dj++ {
			o := c + dk*nxy + dj*nx
			if s.Data[o-1] > v || s.Data[o+1] > v || (dk != 0 || dj != 0) && s.Data[o] > v {
				return false
			}
		}
	}
	return true
}

// blob runs the look's tests on the local maximum (i, j, k) of s: contrast
// over the lung around it (surround), a region closed at half height and
// no longer than isoElongation, and a region closed at isoLevel less
// isoSlackSD of the lung's spread, in s or else in the unsmoothed crop raw
// (at isoLevel: a lesion a few millimetres from a vessel is joined to it
// by the smoothing, not in the acquisition's own voxels, where a vessel's
// brighter piece is still joined to the rest of it). ok is false when one
// fails.
func (sc *isoScratch) blob(s *volume.Volume[float32], raw *volume.Volume[int16], i, j, k int, reach, box [3]int, voxMM3, thick float64) (isoBlob, bool) {
	peak := float64(s.Data[s.Index(i, j, k)])
	lung, sd := sc.surround(s, i, j, k)
	if peak-lung < isoMinContrastHU {
		return isoBlob{}, false
	}
	n, far, _, ok := regionOf(sc, s, i, j, k, float32(lung+0.5*(peak-lung)), isoReachMM, reach, box)
	if !ok {
		return isoBlob{}, false
	}
	r := math.Cbrt(3 * float64(n) * voxMM3 / (4 * math.Pi))
	if thick > 0 {
		if !sc.thickShape(n, s.Spacing, reach, box, thick) {
			return isoBlob{}, false
		}
	} else if far/r > isoElongation {
		return isoBlob{}, false
	}
	// A dense blob is closed above soft tissue (isoDenseFloorHU).
	lo, loRaw := lung+isoLevel*(peak-lung)-isoSlackSD*sd, lung+isoLevel*(peak-lung)
	if peak >= isoDensePeakHU {
		lo, loRaw = math.Max(lo, isoDenseFloorHU), math.Max(loRaw, isoDenseFloorHU)
	}
	if _, _, _, ok := regionOf(sc, s, i, j, k, float32(lo), isoReachMM, reach, box); !ok {
		if _, _, _, ok := regionOf(sc, raw, i, j, k, float32(loRaw), isoReachMM, reach, box); !ok {
			return isoBlob{}, false
		}
	}
	w := s.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
	return isoBlob{World: [3]float64(w), Peak: peak, Lung: lung, Voxels: n, RadiusMM: r, Elongation: far / r}, true
}

// thickShape is the closed blob's shape test on slices thicker than
// isoMaxSliceMM, on the n voxels regionOf just grew (left in sc.queue as
// offsets in its box). A slab of thick mm averages a small ball into the
// whole slab, and a ball across the boundary of two slabs into both: read
// back on the 1 mm grid, the half-maximum region of a ball of radius R
// reaches up to R + thick/2 from its middle along z (a 3 mm ball across
// two 5 mm slabs: 10 mm tall), and the 3-D elongation test takes it for a
// vessel's piece. In the axial plane the slab changes nothing: there the
// region must be as round as isoElongation asks (its farthest voxel from
// the peak, in-plane, over the radius R of the peak slice's area), and
// along z no taller than R + thick/2 + 1 mm each way about its middle
// (the 1 mm the resampling's interpolation adds). Measured on the 5 mm
// phantoms (seeds 951–960), lesions of 3–6 mm read 2.5–4.5 mm each way
// with R 1.6–2.6 mm. A vessel crossing the slabs obliquely is a streak in
// the plane; one along z runs on through the slabs and never closes,
// unless two slabs hold all of it (a piece of up to about 10 mm, which
// then makes the straddling ball's image and passes: the second, lower
// closure of blob is what turns real vessels away).
func (sc *isoScratch) thickShape(n int, sp volume.Vec3, reach, box [3]int, thick float64) bool {
	var area int
	far2 := 0.0
	zlo, zhi := math.MaxInt, math.MinInt
	for _, x := range sc.queue[:n] {
		xi := int(x)
		di, dj, dk := xi%box[0]-reach[0], (xi/box[0])%box[1]-reach[1], xi/(box[0]*box[1])-reach[2]
		if dk == 0 {
			area++
		}
		far2 = math.Max(far2, sq(float64(di)*sp[0])+sq(float64(dj)*sp[1]))
		zlo, zhi = min(zlo, dk), max(zhi, dk)
	}
	rxy := math.Sqrt(float64(area) * sp[0] * sp[1] / math.Pi)
	if !(rxy > 0) || math.Sqrt(far2)/rxy > isoElongation {
		return false
	}
	return float64(zhi-zlo)*sp[2]/2 <= rxy+thick/2+1
}

// surround reads s on the isoReachMM sphere around (i, j, k): the lung
// level (its lower quartile) and the lung's spread, a robust SD from the
// sphere's lower half (lung, not vessels): noise and texture, which can
// break a faint vessel.
func (sc *isoScratch) surround(s *volume.Volume[float32], i, j, k int) (lung, sd float64) {
	sp := s.Spacing
	sc.shell = sc.shell[:0]
	const nDirs = 100
	for r := 0; r < nDirs; r++ {
		u := nodule.Fibonacci(r, nDirs)
		idx := volume.Vec3{float64(i) + isoReachMM*u[0]/sp[0], float64(j) + isoReachMM*u[1]/sp[1], float64(k) + isoReachMM*u[2]/sp[2]}
		sc.shell = append(sc.shell, s.Trilinear(idx, -1000))
	}
	sort.Float64s(sc.shell)
	return sc.shell[nDirs/4], (sc.shell[nDirs/2] - sc.shell[nDirs/10]) / 1.28
}

// regionOf grows the 6-connected region of s at or above level from (i, j,
// k) while it stays within reachMM of it (reach voxels per axis, box their
// span). It returns the region's voxel count, its farthest voxel's
// distance (mm) and its centroid (voxel index of s); closed is false when
// it reaches the sphere or the crop's edge. s may hold smoothed (float32)
// or raw (int16) HU, or another look's image.
func regionOf[T int16 | float32](sc *isoScratch, s *volume.Volume[T], i, j, k int, level float32, reachMM float64, reach, box [3]int) (n int, farMM float64, cen volume.Vec3, closed bool) {
	sp := s.Spacing
	nx, ny, nz := s.Dims[0], s.Dims[1], s.Dims[2]
	sc.mark++
	if sc.mark == math.MaxInt32 {
		clear(sc.stamp)
		sc.mark = 1
	}
	at := func(di, dj, dk int) int32 {
		return int32(di + reach[0] + box[0]*(dj+reach[1]+box[1]*(dk+reach[2])))
	}
	start := at(0, 0, 0)
	sc.stamp[start] = sc.mark
	q := append(sc.queue[:0], start)
	defer func() { sc.queue = q[:0] }()
	far2, lim2 := 0.0, reachMM*reachMM
	var sum [3]int
	for h := 0; h < len(q); h++ {
		x := int(q[h])
		di, dj, dk := x%box[0]-reach[0], (x/box[0])%box[1]-reach[1], x/(box[0]*box[1])-reach[2]
		d2 := sq(float64(di)*sp[0]) + sq(float64(dj)*sp[1]) + sq(float64(dk)*sp[2])
		if d2 >= lim2 {
			return len(q), math.Sqrt(d2), cen, false
		}
		far2 = math.Max(far2, d2)
		sum = [3]int{sum[0] + di, sum[1] + dj, sum[2] + dk}
		for _, o := range [6][3]int{{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}} {
			a, b, c := di+o[0], dj+o[1], dk+o[2]
			if a < -reach[0] || a > reach[0] || b < -reach[1] || b > reach[1] || c < -reach[2] || c > reach[2] {
				continue
			}
			x, y, z := i+a, j+b, k+c
			if x < 0 || y < 0 || z < 0 || x >= nx || y >= ny || z >= nz {
				// The crop's edge: the region runs on out of view.
				return len(q), math.Sqrt(d2), cen, false
			}
			if p := at(a, b, c); sc.stamp[p] != sc.mark && float32(s.Data[s.Index(x, y, z)]) >= level {
				sc.stamp[p] = sc.mark
				q = append(q, p)
			}
		}
	}
	n = len(q)
	cen = volume.Vec3{float64(i) + float64(sum[0])/float64(n), float64(j) + float64(sum[1])/float64(n), float64(k) + float64(sum[2])/float64(n)}
	return n, math.Sqrt(far2), cen, true
}

// regionSpread returns how far (mm) the farthest of the n voxels regionOf
// just grew from (i, j, k) lies from their centroid cen (voxel index of s,
// spacing sp); regionOf leaves them in sc.queue[:n], as offsets in its box
// of reach voxels per axis.
func regionSpread(sc *isoScratch, n, i, j, k int, cen volume.Vec3, sp volume.Vec3, reach, box [3]int) float64 {
	c := [3]float64{cen[0] - float64(i), cen[1] - float64(j), cen[2] - float64(k)}
	var far2 float64
	for _, x := range sc.queue[:n] {
		xi := int(x)
		di, dj, dk := xi%box[0]-reach[0], (xi/box[0])%box[1]-reach[1], xi/(box[0]*box[1])-reach[2]
		far2 = math.Max(far2, sq((float64(di)-c[0])*sp[0])+sq((float64(dj)-c[1])*sp[1])+sq((float64(dk)-c[2])*sp[2]))
	}
	return math.Sqrt(far2)
}

func sq(x float64) float64 { return x * x }

// addIsolated adds the closed blobs of the crop to the ranked candidates
// cs (with their measurements and features): a blob in a kept lesion, or
// within 2 mm of a kept centre, raises that candidate's score to the
// blob's (isoScore) when higher; any other blob is segmented at its peak
// and becomes a candidate of its own at that score. The pleural look's
// bumps (addBumps) and the ground-glass look's lesions (addGroundGlass)
// follow the same way. The list is ranked again. The three looks run only
// on slices and grids fine enough (isoMaxSliceMM, isoMaxGridMM); on
// touching slabs up to isoMaxSlabMM the closed-blob look runs alone, with
// the slab's shape test (thickShape).
func (ws *Workspace) addIsolated(hu *volume.Volume[int16], lung *volume.Volume[uint8], inLung func(i, j, k int) bool,
	cs []candidate.Candidate, meas []*nodule.Result, feats []Features, opt Options) ([]candidate.Candidate, []*nodule.Result, []Features, error) {
	sp := hu.Spacing
	slab := math.Max(opt.Nodule.SliceThicknessMM, opt.Nodule.SourceSpacingMM[2])
	if slab > isoMaxSlabMM || math.Max(sp[0], math.Max(sp[1], sp[2])) > isoMaxGridMM {
		return cs, meas, feats, nil
	}
	thick := 0.0
	if slab > isoMaxSliceMM {
		// Only slabs that touch: with gaps between slices (2.5 mm slices
		// 5 mm apart) a vessel crossing a slice is a round dot on it, as
		// a small nodule is. An unknown thickness (NIfTI, MetaImage) is
		// taken for the spacing, as most reconstructions have it.
		if t := opt.Nodule.SliceThicknessMM; t > 0 && t < isoSlabTouch*opt.Nodule.SourceSpacingMM[2] {
			return cs, meas, feats, nil
		}
		thick = slab
	}
	blobs, err := ws.isolatedBlobs(inLung, opt, thick)
	if err != nil {
		return cs, meas, feats, err
	}
	for len(ws.nws) < par.Limit() {
		ws.nws = append(ws.nws, &nodule.Workspace{})
	}
	cs, meas, feats = ws.addBlobs(hu, lung, blobs, cs, meas, feats, opt)
	if thick > 0 {
		cs, meas, feats = rankAll(cs, meas, feats)
		return cs, meas, feats, nil
	}
	if !opt.noBumps {
		cs, meas, feats = ws.addBumps(hu, lung, ws.pleuralBumps(lung), cs, meas, feats, opt)
	}
	if !opt.noGroundGlass {
		cs, meas, feats = ws.addGroundGlass(hu, lung, cs, meas, feats, opt)
	}
	cs, meas, feats = rankAll(cs, meas, feats)
	return cs, meas, feats, nil
}

// rankAll orders the candidates, their measurements and features by score
// (rankIdx).
func rankAll(cs []candidate.Candidate, meas []*nodule.Result, feats []Features) ([]candidate.Candidate, []*nodule.Result, []Features) {
	idx := make([]int, len(cs))
	for i := range idx {
		idx[i] = i
	}
	rankIdx(cs, idx)
	oc, om, of := make([]candidate.Candidate, len(cs)), make([]*nodule.Result, len(cs)), make([]Features, len(cs))
	for r, i := range idx {
		oc[r], om[r], of[r] = cs[i], meas[i], feats[i]
	}
	return oc, om, of
}

// addBlobs adds the closed blobs to the candidates (see addIsolated); the
// list is not ranked again here.
func (ws *Workspace) addBlobs(hu *volume.Volume[int16], lung *volume.Volume[uint8], blobs []isoBlob,
	cs []candidate.Candidate, meas []*nodule.Result, feats []Features, opt Options) ([]candidate.Candidate, []*nodule.Result, []Features) {
	raise := func(k int, b isoBlob) {
		if s := isoScore(b.Peak - b.Lung); s > cs[k].DetectScore {
			cs[k].DetectScore, cs[k].Probability = s, s
		}
		feats[k].Isolated = math.Max(feats[k].Isolated, b.Peak-b.Lung)
	}
	var fresh []isoBlob
	for _, b := range blobs {
		if k := holding(b.World, nil, cs, meas); k >= 0 {
			raise(k, b)
			continue
		}
		fresh = append(fresh, b)
	}
	seg := ws.segmentLooks(hu, lung, len(fresh), func(i int) ([3]float64, float64) { return fresh[i].World, 2 * fresh[i].RadiusMM }, opt)
	for i, b := range fresh {
		m := seg[i]
		at := b.World
		if m != nil {
			at = m.Centre
		}
		if k := holding(at, m, cs, meas); k >= 0 {
			raise(k, b)
			continue
		}
		f := withLesion(Features{ClusterDiamMM: 2 * b.RadiusMM, ClusterHU: b.Peak}, b.World, m)
		f.Isolated = b.Peak - b.Lung
		cs, meas, feats = append(cs, lookCandidate(opt, b.World, b.RadiusMM, b.Voxels, b.Peak, isoScore(b.Peak-b.Lung), m)), append(meas, m), append(feats, f)
	}
	return cs, meas, feats
}

// addLook puts the lesion m that a look (the pleural bumps, the ground
// glass) segmented at the LPS point found (mm) into the candidates. Its
// score is the second stage's (FinalScore), with the look in the first
// stage's place: the closed blob's score for the look's contrast
// (isoScore; both looks find a closed lesion), and the look's radius (mm)
// and peak HU as the cluster's. The kept candidate whose lesion holds m
// (holding) is raised to that score when it is higher, or with replace
// is replaced by m's candidate (position, measurement, features) then;
// otherwise m becomes a candidate of its own at the LPS point at (mm;
// lookCandidate, with the look's voxel count). Either way mark records the
// look in the candidate's features (Isolated, GroundGlass).
//
// The ground-glass look replaces: the candidate holding its lesion is
// often a fragment of it or the vessels beside it (a 10 mm ground-glass
// ball injected into LIDC-IDRI-0001 was held by a 7.9 mm body 7 mm off its
// centre, which then carried the look's score; a 15 mm one by a 20 mm
// part-solid body of it and its vessels), and the second stage scores the
// look's lesion higher. The pleural look does not: replacing there moved
// seven juxtapleural nodules' diameters on seeds 1–20, 101–120, 401–420 and
// 501–520, four 0.4–0.9 mm away from the truth, three 0.1–0.3 mm closer,
// and no CPM. Replacing only when the look's lesion is the larger read the
// 15 mm lesion above part-solid again.
func addLook(cs []candidate.Candidate, meas []*nodule.Result, feats []Features, opt Options, found, at [3]float64, radiusMM float64, voxels int,
	peak, contrast float64, m *nodule.Result, replace bool, mark func(*Features)) ([]candidate.Candidate, []*nodule.Result, []Features) {
	f := withLesion(Features{Stage1: isoScore(contrast), ClusterDiamMM: 2 * radiusMM, ClusterHU: peak}, found, m)
	score := FinalScore(f)
	if k := holding(m.Centre, m, cs, meas); k >= 0 {
		switch {
		case score > cs[k].DetectScore && replace:
			f.Isolated, f.GroundGlass = feats[k].Isolated, feats[k].GroundGlass
			mark(&f)
			cs[k], meas[k], feats[k] = lookCandidate(opt, at, radiusMM, voxels, peak, score, m), m, f
			return cs, meas, feats
		case score > cs[k].DetectScore:
			cs[k].DetectScore, cs[k].Probability = score, score
		}
		mark(&feats[k])
		return cs, meas, feats
	}
	mark(&f)
	return append(cs, lookCandidate(opt, at, radiusMM, voxels, peak, score, m)), append(meas, m), append(feats, f)
}

// lookCandidate is the candidate that a look (the isolated blobs, the
// pleural bumps, the ground glass) makes of what it found at the LPS
// point at (mm): radius (mm) and voxel count, its peak HU, its detection
// score, and m the lesion segmented there (nil when none was).
func lookCandidate(opt Options, at [3]float64, radiusMM float64, voxels int, peak, score float64, m *nodule.Result) candidate.Candidate {
	c := candidate.Candidate{
		SeriesUID:   opt.SeriesUID,
		World:       at,
		DiameterMM:  2 * radiusMM,
		Voxels:      voxels,
		MeanHU:      peak,
		DetectScore: score,
		Probability: score,
		Malignancy:  math.NaN(),
		Brock:       math.NaN(),
		CNN:         math.NaN(),
	}
	if m != nil {
		Measured(&c, m)
	}
	return c
}

// strongestFirst orders a look's finds by strength (key's first value: the
// isolated look's contrast, the ground-glass look's ggStrength; then
// position) and keeps one per region: a find within max(sepMM, the kept
// one's radius) of a stronger one kept is dropped; at most limit are kept
// (0: all). It reuses out's storage.
func strongestFirst[T any](out []T, key func(*T) (strength float64, world [3]float64, radiusMM float64), sepMM float64, limit int) []T {
	sort.Slice(out, func(a, b int) bool {
		ca, wa, _ := key(&out[a])
		cb, wb, _ := key(&out[b])
		if ca != cb {
			return ca > cb
		}
		return slices.Compare(wa[:], wb[:]) < 0
	})
	kept := out[:0]
	for i := range out {
		_, w, _ := key(&out[i])
		dup := false
		for j := range kept {
			if _, kw, kr := key(&kept[j]); dist3(w, kw) <= math.Max(kr, sepMM) {
				dup = true
				break
			}
		}
		if !dup {
			kept = append(kept, out[i])
		}
		if limit > 0 && len(kept) == limit {
			break
		}
	}
	return kept
}

// segmentLooks segments, in parallel under the worker budget, the lesion
// at each of the n places a look found (at(i): the LPS point, mm, and the
// size hint, mm); nil where none could be.
func (ws *Workspace) segmentLooks(hu *volume.Volume[int16], lung *volume.Volume[uint8], n int, at func(i int) ([3]float64, float64), opt Options) []*nodule.Result {
	seg := make([]*nodule.Result, n)
	par.For(n, func(w, i int) {
		p, hint := at(i)
		seg[i], _ = nodule.Segment(hu, lung, p, hint, opt.Nodule, ws.nws[w])
	})
	return seg
}
