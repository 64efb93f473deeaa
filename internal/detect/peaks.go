package detect

import (
	"math"
	"slices"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

// finePeaks finds the small blobs that the mean-shift put into another
// structure's cluster and returns them as first-stage candidates of their
// own (at most opt.PeakLook, best first-stage score first), each with the
// statistics of its own points.
//
// A nodule of 3–6 mm is a few dozen fine points. Where it touches a vessel
// or sits at the end of one, the vessel's points make a density ridge that
// runs through it, and its points climb that ridge to the vessel's mode
// (phantom 101: a 5.3 mm juxtapleural nodule's 33 points went to a vessel
// junction 14 mm away). The cluster's mean is then the vessel's, and its
// strongest blob point, which reseed and BlobLook look at, is the vessel
// junction's. What still marks the nodule is that its points' blob
// response −σ²∇²F peaks on it: a fine point (level ≤ reseedMaxLevel) whose
// response is the largest of its cluster's fine points within the blob
// radius R of its level (max(base bandwidth, √3·σ): a ball answers most
// at σ = r/√3) is a peak. Each peak that lies, and whose own points (the
// cluster's fine points within R of it) lie, farther than R from the
// cluster's mean and from its strongest blob point becomes a candidate
// made of those points;
// the second stage segments it at the peak only, like a BlobLook
// candidate, and drops it where that finds nothing or a lesion already
// reported.
func (ws *Workspace) finePeaks(hu *volume.Volume[int16], inLung func(i, j, k int) bool, ps *pointSet, labels []int32,
	st []clusterStats, opt Options) ([]candidate.Candidate, []clusterStats) {
	if opt.PeakLook <= 0 {
		return nil, nil
	}
	radius := func(L int) float64 {
		return math.Max(opt.Bandwidth[0], math.Sqrt(3)*ws.pyr.Sigma[min(L, len(ws.pyr.Sigma)-1)])
	}
	rMax := radius(reseedMaxLevel)
	// A hash of the fine points on cells of side rMax.
	cellOf := func(q int) [3]int32 {
		return [3]int32{int32(math.Floor(float64(ps.pts[5*q]) / rMax)), int32(math.Floor(float64(ps.pts[5*q+1]) / rMax)),
			int32(math.Floor(float64(ps.pts[5*q+2]) / rMax))}
	}
	cells := map[[3]int32][]int32{}
	var keys [][3]int32 // the cells in order of their first point
	for q := range labels {
		if int(ps.level[q]) <= reseedMaxLevel {
			c := cellOf(q)
			if _, ok := cells[c]; !ok {
				keys = append(keys, c)
			}
			cells[c] = append(cells[c], int32(q))
		}
	}
	// Each cell's points share its 27 neighbour cells, gathered once per
	// cell; the cells are searched in parallel, and what each worker finds
	// is put back in point order, so the result is the serial loop's.
	type found struct {
		q int
		peakFound
	}
	per := make([][]found, par.Limit())
	par.For(len(keys), func(w, ci int) {
		c := keys[ci]
		var nb [27][]int32
		for n, dz := 0, int32(-1); dz <= 1; dz++ {
			for dy := int32(-1); dy <= 1; dy++ {
				for dx := int32(-1); dx <= 1; dx++ {
					nb[n] = cells[[3]int32{c[0] + dx, c[1] + dy, c[2] + dz}]
					n++
				}
			}
		}
		near := func(q int, r float64, f func(p int)) {
			for _, list := range nb {
				for _, p := range list {
					if labels[p] == labels[q] && pointDist(ps, int(p), q) <= r {
						f(int(p))
					}
				}
			}
		}
		for _, q32 := range cells[c] {
			q := int(q32)
			if f, ok := ws.finePeak(hu, inLung, ps, labels, st, q, radius, near, opt); ok {
				per[w] = append(per[w], found{q, f})
			}
		}
	})
	var all []found
	for _, f := range per {
		all = append(all, f...)
	}
	slices.SortFunc(all, func(a, b found) int { return a.q - b.q })
	out := make([]candidate.Candidate, len(all))
	outSt := make([]clusterStats, len(all))
	for i, f := range all {
		out[i], outSt[i] = f.cand, f.st
	}
	idx := make([]int, len(out))
	for i := range idx {
		idx[i] = i
	}
	rankIdx(out, idx)
	return pick(out, outSt, idx[:min(len(idx), opt.PeakLook)])
}

// peakFound is a fine peak made a candidate, with its points' statistics.
type peakFound struct {
	cand candidate.Candidate
	st   clusterStats
}

// finePeak tests the fine point q of finePeaks (radius gives a level's
// blob radius, near visits q's cluster's fine points within r of it) and
// returns the candidate it makes; ok is false when it is not a peak, or
// is its cluster's own, or scores nothing.
func (ws *Workspace) finePeak(hu *volume.Volume[int16], inLung func(i, j, k int) bool, ps *pointSet, labels []int32,
	st []clusterStats, q int, radius func(L int) float64, near func(q int, r float64, f func(p int)), opt Options) (peakFound, bool) {
	L := int(ps.level[q])
	r := radius(L)
	parent := &st[labels[q]]
	at := [3]float64{float64(ps.pts[5*q]), float64(ps.pts[5*q+1]), float64(ps.pts[5*q+2])}
	if dist3(at, parent.centre()) <= r || dist3(at, parent.blobAt) <= r {
		return peakFound{}, false
	}
	peak := true
	near(q, r, func(p int) {
		// Ties go to the lower index, so one of equal neighbours is the peak.
		if ps.resp[p] > ps.resp[q] || ps.resp[p] == ps.resp[q] && p < q {
			peak = false
		}
	})
	if !peak {
		return peakFound{}, false
	}
	var sub clusterStats
	near(q, r, func(p int) {
		sub.add(ps.pts[5*p:5*p+5], float64(ps.weight[p]), float64(ps.raw[p]), float64(ps.resp[p]), int(ps.level[p]))
	})
	if dist3(sub.centre(), parent.centre()) <= r || dist3(sub.centre(), parent.blobAt) <= r {
		return peakFound{}, false
	}
	sub.blobAt = at
	sub.blobLevel, sub.resp, sub.look = L, float64(ps.resp[q]), true
	cand, ok := ws.candidate(hu, inLung, &sub, opt)
	if !ok || cand.DetectScore <= 0 {
		return peakFound{}, false
	}
	return peakFound{cand, sub}, true
}

// pointDist is the spatial distance (mm) between points p and q of ps.
func pointDist(ps *pointSet, p, q int) float64 {
	at := func(i int) [3]float64 {
		return [3]float64{float64(ps.pts[5*i]), float64(ps.pts[5*i+1]), float64(ps.pts[5*i+2])}
	}
	return dist3(at(p), at(q))
}
