package detect

import (
	"math"
	"sort"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/volume"
)

// clusterStats accumulates one cluster's points, weighted by the number of
// 1 mm voxels each stands for.
type clusterStats struct {
	n                  float64 // voxels
	sx, sy, sz, hu, si float64 // weighted sums: LPS mm, raw HU, shape index
	resp               float64 // largest blob response (HU) of its points
	level              int     // coarsest pyramid level among its points
	pts                int     // points
	// blobAt is the LPS position (mm) of the point with the largest blob
	// response, blobLevel its pyramid level.
	blobAt    [3]float64
	blobLevel int
	// ownAt and ownLevel, when hasOwn: the fine (level ≤ reseedMaxLevel)
	// blob point of a cluster that mergeCoarse pooled others into, where a
	// merged cluster's blob point answered more and became the pool's.
	ownAt    [3]float64
	ownLevel int
	hasOwn   bool
	// look: the second stage segments this cluster at blobAt only (a
	// fine peak, see finePeaks).
	look bool
}

func (a *clusterStats) add(p []float32, w, rawHU, resp float64, level int) {
	a.n += w
	a.sx += w * float64(p[0])
	a.sy += w * float64(p[1])
	a.sz += w * float64(p[2])
	a.hu += w * rawHU
	a.si += w * float64(p[4])
	if resp > a.resp || a.pts == 0 {
		a.blobAt = [3]float64{float64(p[0]), float64(p[1]), float64(p[2])}
		a.blobLevel = level
	}
	a.resp = math.Max(a.resp, resp)
	a.level = max(a.level, level)
	a.pts++
}

// merge adds the cluster b's points to a.
func (a *clusterStats) merge(b *clusterStats) {
	if b.resp > a.resp {
		a.blobAt, a.blobLevel = b.blobAt, b.blobLevel
	}
	a.n += b.n
	a.sx += b.sx
	a.sy += b.sy
	a.sz += b.sz
	a.hu += b.hu
	a.si += b.si
	a.resp = math.Max(a.resp, b.resp)
	a.level = max(a.level, b.level)
	a.pts += b.pts
}

func (a *clusterStats) centre() [3]float64 {
	f := math.Max(a.n, 1e-9)
	return [3]float64{a.sx / f, a.sy / f, a.sz / f}
}

// candidates turns the k mean-shift clusters of ps into first-stage
// candidates, best first-stage score first, at most Stage1 + BlobLook of
// them, with their cluster statistics, followed by at most PeakLook fine
// peaks (finePeaks). The coarse clusters of one large
// lesion are merged into one (mergeCoarse); other fragments that remain
// are reported once by the second stage, which segments them to the same
// lesion.
func (ws *Workspace) candidates(hu *volume.Volume[int16], inLung func(i, j, k int) bool, ps *pointSet, labels []int32, k int, opt Options) ([]candidate.Candidate, []clusterStats) {
	st := make([]clusterStats, k)
	for q, l := range labels {
		st[l].add(ps.pts[5*q:5*q+5], float64(ps.weight[q]), float64(ps.raw[q]), float64(ps.resp[q]), int(ps.level[q]))
	}
	var out []candidate.Candidate
	var outSt []clusterStats
	for c := range st {
		m := &st[c]
		if m.n == 0 {
			continue
		}
		cand, ok := ws.candidate(hu, inLung, m, opt)
		if !ok {
			continue
		}
		out = append(out, cand)
		outSt = append(outSt, *m)
	}
	idx := make([]int, len(out))
	for i := range idx {
		idx[i] = i
	}
	rankIdx(out, idx)
	idx = ws.mergeCoarse(hu, inLung, out, outSt, idx, opt)
	if opt.Stage1 > 0 {
		idx = idx[:min(len(idx), opt.Stage1+max(opt.BlobLook, 0))]
	}
	c2, s2 := pick(out, outSt, idx)
	pc, pst := ws.finePeaks(hu, inLung, ps, labels, st, opt)
	return append(c2, pc...), append(s2, pst...)
}

// candidate makes the first-stage candidate of the cluster m: at its
// centre, with its equivalent diameter, mean HU and shape index, fill and
// first-stage score; ok is false when its size or score rules it out.
func (ws *Workspace) candidate(hu *volume.Volume[int16], inLung func(i, j, k int) bool, m *clusterStats, opt Options) (candidate.Candidate, bool) {
	vox := hu.Spacing[0] * hu.Spacing[1] * hu.Spacing[2]
	diam := math.Cbrt(6 * m.n * vox / math.Pi)
	if diam < opt.MinDiameterMM || diam > opt.MaxDiameterMM {
		return candidate.Candidate{}, false
	}
	cen := m.centre()
	cand := candidate.Candidate{
		SeriesUID:   opt.SeriesUID,
		World:       cen,
		DiameterMM:  diam,
		Voxels:      int(math.Round(m.n)),
		MeanHU:      m.hu / m.n,
		MeanSI:      m.si / m.n,
		Compactness: fill(ws.pyr.Levels[0], inLung, cen, diam/2, opt.HUMin),
		Malignancy:  math.NaN(),
		Brock:       math.NaN(),
		CNN:         math.NaN(),
	}
	cand.DetectScore = Score(cand, opt.MinDiameterMM, opt.MaxDiameterMM)
	cand.Probability = cand.DetectScore
	return cand, cand.DetectScore >= opt.MinScore
}

// mergeCoarse merges, in idx (ranked, best first), each coarse cluster
// (level ≥ mergeLevel) whose centre lies within the blob radius of a
// better-ranked coarse cluster into that one: √3·σ of the better one's
// level, where a ball of that radius answers most; not when its strongest
// blob point is fine (at most reseedMaxLevel) and lies beyond that radius,
// where reseed would look for another lesion. The merged cluster pools
// the points of both and is scored again; the ranking is redone. A pool
// keeps the blob point that answers most; when that is a merged cluster's
// and the better-ranked cluster's own is fine, the pool remembers its own
// too (ownAt), and refine segments there as well: a small nodule's
// cluster that reaches the coarse levels pools clusters of the vessels
// within the radius, and its centre and blob point leave the nodule (the
// independent generator's seed 2: an isolated 8.8 mm solid nodule, its
// cluster's stage-1 score 0.53, pooled three vessel clusters 12–17 mm
// away and was measured as a 7.3 mm "non-solid" body 11 mm off it; at its
// own blob point it scores 0.99). The
// scale-adaptive mean-shift leaves a large mass as a score of clusters on
// its 4–8 mm grid (phantom 131: 22 of the 40 best for a 73 mm mass), each
// of which the second stage would segment to the same body. This is not
// done in cluster.MergeModes, whose one radius is the base bandwidth's:
// the blob-point test needs the detector's scale space, and merging modes
// without it lost a nodule beside a mass (see the README). (A pool
// larger than MaxDiameterMM, or scoring below MinScore, is not made: its
// best cluster stays as it was, without the others.)
func (ws *Workspace) mergeCoarse(hu *volume.Volume[int16], inLung func(i, j, k int) bool, cs []candidate.Candidate,
	st []clusterStats, idx []int, opt Options) []int {
	var kept []int
	var at [][3]float64 // the kept clusters' own centres
	into := map[int][]int{}
	out := idx[:0]
	for _, i := range idx {
		if st[i].level >= mergeLevel {
			same := -1
			for n, k := range kept {
				r := math.Sqrt(3) * ws.pyr.Sigma[min(st[k].level, len(ws.pyr.Sigma)-1)]
				if dist3(cs[i].World, at[n]) <= r && (st[i].blobLevel > reseedMaxLevel || dist3(st[i].blobAt, at[n]) <= r) {
					same = k
					break
				}
			}
			if same >= 0 {
				into[same] = append(into[same], i)
				continue
			}
			kept, at = append(kept, i), append(at, cs[i].World)
		}
		out = append(out, i)
	}
	if len(into) == 0 {
		return out
	}
	for k, ms := range into {
		pooled := st[k]
		for _, i := range ms {
			pooled.merge(&st[i])
		}
		if pooled.blobAt != st[k].blobAt && st[k].blobLevel <= reseedMaxLevel {
			pooled.ownAt, pooled.ownLevel, pooled.hasOwn = st[k].blobAt, st[k].blobLevel, true
		}
		// A pool beyond MaxDiameterMM keeps its best cluster as it was.
		if c, ok := ws.candidate(hu, inLung, &pooled, opt); ok {
			cs[k], st[k] = c, pooled
		}
	}
	rankIdx(cs, out)
	return out
}

// mergeLevel is the pyramid level from which mergeCoarse merges clusters
// (σ 12 mm at the defaults: lesions of about 40 mm and more).
const mergeLevel = 3

// pick returns the candidates cs[i] and their statistics st[i] for i in
// idx, in idx's order.
func pick(cs []candidate.Candidate, st []clusterStats, idx []int) ([]candidate.Candidate, []clusterStats) {
	c2 := make([]candidate.Candidate, len(idx))
	s2 := make([]clusterStats, len(idx))
	for r, i := range idx {
		c2[r], s2[r] = cs[i], st[i]
	}
	return c2, s2
}

// rankIdx orders idx (indices into cs) by score, then size, then position,
// so the ranking never depends on the mean-shift backend's cluster order.
func rankIdx(cs []candidate.Candidate, idx []int) {
	sort.SliceStable(idx, func(x, y int) bool {
		a, b := &cs[idx[x]], &cs[idx[y]]
		if a.DetectScore != b.DetectScore {
			return a.DetectScore > b.DetectScore
		}
		if a.Voxels != b.Voxels {
			return a.Voxels > b.Voxels
		}
		for ax := 2; ax >= 0; ax-- {
			if a.World[ax] != b.World[ax] {
				return a.World[ax] < b.World[ax]
			}
		}
		return false
	})
}

func dist3(a, b [3]float64) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}

// fill returns the fraction of the voxels of v whose centres lie within r mm
// of the LPS point c (at least the nearest voxel) that are inside the lung
// mask and denser than huMin: 1 for a solid ball of radius ≥ r around c in
// the lung, small for a vessel, a sparse cluster, or a "ball" that is half
// the liver under the diaphragm's dome.
func fill(v *volume.Volume[float32], inLung func(i, j, k int) bool, c [3]float64, r, huMin float64) float64 {
	ci := v.WorldToIndex(volume.Vec3(c))
	var lo, hi [3]int
	for a := 0; a < 3; a++ {
		ext := r / v.Spacing[a]
		lo[a] = max(0, int(math.Ceil(ci[a]-ext)))
		hi[a] = min(v.Dims[a]-1, int(math.Floor(ci[a]+ext)))
	}
	var in, dense int
	for k := lo[2]; k <= hi[2]; k++ {
		for j := lo[1]; j <= hi[1]; j++ {
			for i := lo[0]; i <= hi[0]; i++ {
				w := v.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
				if dist3([3]float64(w), c) > r {
					continue
				}
				in++
				if float64(v.At(i, j, k)) > huMin && inLung(i, j, k) {
					dense++
				}
			}
		}
	}
	if in == 0 {
		return 0
	}
	return float64(dense) / float64(in)
}

// Score is the detector score in [0,1] of a candidate from its MeanSI,
// DiameterMM (mm), MeanHU and Compactness, as documented on Run; minD and
// maxD are the diameter bounds in mm.
func Score(c candidate.Candidate, minD, maxD float64) float64 {
	edge := 0.82 - 0.04*clamp01((c.DiameterMM-12)/6)
	blob := smoothstep(edge, 0.95, c.MeanSI)
	var size float64
	switch {
	case c.DiameterMM < minD || c.DiameterMM > maxD:
		size = 0
	case c.DiameterMM < 4:
		size = (c.DiameterMM - 2.5) / 1.5
	default:
		size = 1
	}
	dens := smoothstep(-820, -700, c.MeanHU) * (1 - 0.5*smoothstep(150, 400, c.MeanHU))
	return clamp01(blob * clamp01(size) * dens * math.Sqrt(clamp01(c.Compactness)))
}

func smoothstep(a, b, x float64) float64 {
	t := clamp01((x - a) / (b - a))
	return t * t * (3 - 2*t)
}

func clamp01(x float64) float64 {
	if x < 0 || math.IsNaN(x) {
		return 0
	}
	if x > 1 {
		return 1
	}
	return x
}
