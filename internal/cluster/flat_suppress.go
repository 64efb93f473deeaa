package cluster

// Suppression phase of FlatMeanShift: unique modes, ranked, and the
// greedy removal of modes within the bandwidth of a denser one.

import (
	"math"
	"sort"
)

// flatUniqueModes keeps the seeds' final means with count > 0, one per exact
// value (the last seed's count wins, like a Python dict), sorted by
// (count, coordinates) descending; it returns them (M×dim) and their counts.
func flatUniqueModes(means []float64, counts []int32, dim int) ([]float64, []int32) {
	var idx []int32
	for s, c := range counts {
		if c > 0 {
			idx = append(idx, int32(s))
		}
	}
	// cmp compares means lexicographically (−0 == +0, like Python floats).
	cmp := func(x, y int32) int {
		p, q := means[int(x)*dim:int(x+1)*dim], means[int(y)*dim:int(y+1)*dim]
		for a := range p {
			if p[a] < q[a] {
				return -1
			}
			if p[a] > q[a] {
				return 1
			}
		}
		return 0
	}
	// Coordinates descending, equal values by seed index descending, so the
	// first of each run of equal means is the last seed that reached it.
	sort.Slice(idx, func(i, j int) bool {
		if c := cmp(idx[i], idx[j]); c != 0 {
			return c > 0
		}
		return idx[i] > idx[j]
	})
	uniq := idx[:0]
	for i, s := range idx {
		if i == 0 || cmp(s, uniq[len(uniq)-1]) != 0 {
			uniq = append(uniq, s)
		}
	}
	sort.SliceStable(uniq, func(i, j int) bool { return counts[uniq[i]] > counts[uniq[j]] })
	modes := make([]float64, len(uniq)*dim)
	inten := make([]int32, len(uniq))
	for i, s := range uniq {
		copy(modes[i*dim:(i+1)*dim], means[int(s)*dim:int(s+1)*dim])
		inten[i] = counts[s]
	}
	return modes, inten
}

// flatCenterGrid is a cell list of centres over the first min(dim,3) axes.
type flatCenterGrid struct {
	dim, sd int
	side    float64
	lo      [3]float64
	nc      [3]int
	start   []int32
	ids     []int32 // centre indices sorted by cell, ascending within a cell
}

// newFlatCenterGrid indexes the K×dim centres with cells of side ≥ minSide
// (enlarged while the box needs more than 8·K + 64 cells).
func newFlatCenterGrid(c []float64, dim int, minSide float64) *flatCenterGrid {
	k := len(c) / dim
	g := &flatCenterGrid{dim: dim, sd: min(dim, 3)}
	var hi [3]float64
	for a := 0; a < g.sd; a++ {
		g.lo[a], hi[a] = math.Inf(1), math.Inf(-1)
		for i := 0; i < k; i++ {
			g.lo[a] = math.Min(g.lo[a], c[i*dim+a])
			hi[a] = math.Max(hi[a], c[i*dim+a])
		}
	}
	side := minSide
	for {
		cells := 1.0
		for a := 0; a < g.sd; a++ {
			cells *= math.Floor((hi[a]-g.lo[a])/side) + 1
		}
		if cells <= 8*float64(k)+64 {
			break
		}
		side *= 1.25
	}
	g.side = side
	total := 1
	for a := 0; a < 3; a++ {
		g.nc[a] = 1
		if a < g.sd {
			g.nc[a] = int(math.Floor((hi[a]-g.lo[a])/side)) + 1
		}
		total *= g.nc[a]
	}
	g.start = make([]int32, total+1)
	cell := make([]int32, k)
	for i := 0; i < k; i++ {
		cc := 0
		for a := g.sd - 1; a >= 0; a-- {
			ca := int(math.Floor((c[i*dim+a] - g.lo[a]) / side))
			cc = cc*g.nc[a] + max(0, min(ca, g.nc[a]-1))
		}
		cell[i] = int32(cc)
		g.start[cc+1]++
	}
	for i := 0; i < total; i++ {
		g.start[i+1] += g.start[i]
	}
	g.ids = make([]int32, k)
	fill := make([]int32, total)
	copy(fill, g.start[:total])
	for i := 0; i < k; i++ {
		g.ids[fill[cell[i]]] = int32(i)
		fill[cell[i]]++
	}
	return g
}

// flatSuppress applies scikit-learn's duplicate removal to the sorted
// modes (M×dim): walking in order, each mode still alive is kept and every
// mode within distance ≤ bw of it (squared distance ≤ bw²) is dropped. It
// returns the kept modes in order.
func flatSuppress(modes []float64, dim int, bw float64) []float64 {
	m := len(modes) / dim
	g := newFlatCenterGrid(modes, dim, bw)
	alive := make([]bool, m)
	for i := range alive {
		alive[i] = true
	}
	r2 := bw * bw
	rq := bw * (1 + 1e-7)
	var kept []float64
	for i := 0; i < m; i++ {
		if !alive[i] {
			continue
		}
		p := modes[i*dim : (i+1)*dim]
		kept = append(kept, p...)
		var c0, c1 [3]int
		empty := false
		for a := 0; a < 3; a++ {
			if a >= g.sd {
				continue
			}
			f0 := int(math.Floor((p[a] - rq - g.lo[a]) / g.side))
			f1 := int(math.Floor((p[a] + rq - g.lo[a]) / g.side))
			c0[a], c1[a] = max(f0, 0), min(f1, g.nc[a]-1)
			if c0[a] > c1[a] {
				empty = true
			}
		}
		if empty {
			continue
		}
		for z := c0[2]; z <= c1[2]; z++ {
			for y := c0[1]; y <= c1[1]; y++ {
				row := (z*g.nc[1] + y) * g.nc[0]
				for _, j := range g.ids[g.start[row+c0[0]]:g.start[row+c1[0]+1]] {
					if int(j) == i || !alive[j] {
						continue
					}
					q := modes[int(j)*dim : int(j+1)*dim]
					var d float64
					for a := range p {
						t := q[a] - p[a]
						d = d + float64(t*t)
					}
					if d <= r2 {
						alive[j] = false
					}
				}
			}
		}
	}
	return kept
}
