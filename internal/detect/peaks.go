package detect

import (
	"math"

	"github.com/lungctl/lungctl/internal/candidate"
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
	for q := range labels {
		if int(ps.level[q]) <= reseedMaxLevel {
			c := cellOf(q)
			cells[c] = append(cells[c], int32(q))
		}
	}
	near := func(q int, r float64, f func(p int)) {
		c := cellOf(q)
		for dz := int32(-1); dz <= 1; dz++ {
			for dy := int32(-1); dy <= 1; dy++ {
				for dx := int32(-1); dx <= 1; dx++ {
					for _, p := range cells[[3]int32{c[0] + dx, c[1] + dy, c[2] + dz}] {
						if labels[p] == labels[q] && pointDist(ps, int(p), q) <= r {
							f(int(p))
						}
					}
				}
			}
		}
	}
	var out []candidate.Candidate
	var outSt []clusterStats
	for q := range labels {
		L := int(ps.level[q])
		if L > reseedMaxLevel {
			continue
		}
		r := radius(L)
		parent := &st[labels[q]]
		at := [3]float64{float64(ps.pts[5*q]), float64(ps.pts[5*q+1]), float64(ps.pts[5*q+2])}
		if dist3(at, parent.centre()) <= r || dist3(at, parent.blobAt) <= r {
			continue
		}
		peak := true
		near(q, r, func(p int) {
			// Ties go to the lower index, so one of equal neighbours is the peak.
			if ps.resp[p] > ps.resp[q] || ps.resp[p] == ps.resp[q] && p < q {
				peak = false
			}
		})
		if !peak {
			continue
		}
		var sub clusterStats
		near(q, r, func(p int) {
			sub.add(ps.pts[5*p:5*p+5], float64(ps.weight[p]), float64(ps.raw[p]), float64(ps.resp[p]), int(ps.level[p]))
		})
		if dist3(sub.centre(), parent.centre()) <= r || dist3(sub.centre(), parent.blobAt) <= r {
			continue
		}
		sub.blobAt = at
		sub.blobLevel, sub.resp, sub.look = L, float64(ps.resp[q]), true
		cand, ok := ws.candidate(hu, inLung, &sub, opt)
		if !ok || cand.DetectScore <= 0 {
			continue
		}
		out, outSt = append(out, cand), append(outSt, sub)
	}
	idx := make([]int, len(out))
	for i := range idx {
		idx[i] = i
	}
	rankIdx(out, idx)
	return pick(out, outSt, idx[:min(len(idx), opt.PeakLook)])
}

// pointDist is the spatial distance (mm) between points p and q of ps.
func pointDist(ps *pointSet, p, q int) float64 {
	at := func(i int) [3]float64 {
		return [3]float64{float64(ps.pts[5*i]), float64(ps.pts[5*i+1]), float64(ps.pts[5*i+2])}
	}
	return dist3(at(p), at(q))
}
