package cluster

// Labelling phase of FlatMeanShift: every point's nearest centre.

import (
	"math"

	"github.com/lungctl/lungctl/internal/par"
)

// flatNearest writes into labels the index of the nearest centre (K×dim)
// of every point, ties to the lowest index; with clusterAll false a point
// whose nearest centre is farther than bw gets −1. The search visits the
// centre grid in rings of cells around the point's cell until no closer
// centre can remain.
func flatNearest(points []float32, dim int, centers []float64, bw float64, clusterAll bool, labels []int32) {
	n := len(points) / dim
	g := newFlatCenterGrid(centers, dim, bw)
	par.Chunks(n, 256, func(_, b, e int) {
		p := make([]float64, dim)
		for i := b; i < e; i++ {
			for a := range p {
				p[a] = float64(points[i*dim+a])
			}
			best, d2 := g.nearest(p, centers, !clusterAll, bw)
			if !clusterAll && !(math.Sqrt(d2) <= bw) {
				best = -1
			}
			labels[i] = best
		}
	})
}

// nearest returns the index of the centre nearest to p (ties to the lowest
// index) and its squared distance. With bounded, the search stops once no
// centre within bw can remain (returning −1, +Inf when none was found).
func (g *flatCenterGrid) nearest(p, centers []float64, bounded bool, bw float64) (int32, float64) {
	dim := g.dim
	var pc [3]int
	kmin, kmax := 0, 0
	for a := 0; a < 3; a++ {
		if a >= g.sd {
			continue
		}
		f := math.Floor((p[a] - g.lo[a]) / g.side)
		f = math.Max(math.Min(f, 1<<40), -(1 << 40))
		pc[a] = int(f)
		kmin = max(kmin, -pc[a], pc[a]-(g.nc[a]-1))
		kmax = max(kmax, pc[a], g.nc[a]-1-pc[a])
	}
	best, bestD := int32(-1), math.Inf(1)
	try := func(lo, hi int) {
		for _, j := range g.ids[lo:hi] {
			q := centers[int(j)*dim : int(j+1)*dim]
			var d float64
			for a := range p {
				t := p[a] - q[a]
				d = d + float64(t*t)
			}
			if d < bestD || (d == bestD && j < best) {
				best, bestD = j, d
			}
		}
	}
	for k := kmin; k <= kmax; k++ {
		// Cells at Chebyshev distance exactly k from pc, inside the grid.
		z0, z1 := max(pc[2]-k, 0), min(pc[2]+k, g.nc[2]-1)
		y0, y1 := max(pc[1]-k, 0), min(pc[1]+k, g.nc[1]-1)
		for z := z0; z <= z1; z++ {
			for y := y0; y <= y1; y++ {
				row := (z*g.nc[1] + y) * g.nc[0]
				// (Missing axes have one cell at pc = 0, so for k > 0 only
				// the existing axes put a row on the ring's edge.)
				edge := flatAbs(z-pc[2]) == k || flatAbs(y-pc[1]) == k
				if edge {
					x0, x1 := max(pc[0]-k, 0), min(pc[0]+k, g.nc[0]-1)
					if x0 <= x1 {
						try(int(g.start[row+x0]), int(g.start[row+x1+1]))
					}
					continue
				}
				if x := pc[0] - k; x >= 0 && x < g.nc[0] {
					try(int(g.start[row+x]), int(g.start[row+x+1]))
				}
				if x := pc[0] + k; k > 0 && x >= 0 && x < g.nc[0] {
					try(int(g.start[row+x]), int(g.start[row+x+1]))
				}
			}
		}
		// Cells beyond ring k are at least k·side away (on some axis).
		lb := float64(k) * g.side
		if best >= 0 && bestD < lb*lb {
			break
		}
		if bounded && lb > bw*(1+1e-7) {
			break
		}
	}
	return best, bestD
}

func flatAbs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
