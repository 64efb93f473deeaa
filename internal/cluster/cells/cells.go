// Package cells is the host-side preparation the mean-shift backends share
// (package cluster's Grid on the CPU, package cluster/cuda on a GPU): the
// points' range, a uniform cell list over the first min(dim, 3) axes (cell
// layout and a stable sort of the points by cell), tiles of points centred
// on their bounding box (for the GPU brute-force kernel), the box
// quantiser of the path-assisted search and its seed order and rounds. All
// coordinates are in scaled units (point coordinates divided by the
// per-axis bandwidth). Pure Go, no build tags.
package cells

import (
	"math"
	"math/rand"

	"github.com/lungctl/lungctl/internal/par"
)

// Range returns the per-axis minimum and maximum of the row-major N×dim
// points (±Inf for N = 0), computed in parallel.
func Range(points []float32, dim int) (lo, hi []float64) {
	n := len(points) / dim
	k := chunksFor(n)
	los := make([][]float32, k)
	his := make([][]float32, k)
	par.For(k, func(_, c int) {
		l := make([]float32, dim)
		h := make([]float32, dim)
		for a := range l {
			l[a], h[a] = float32(math.Inf(1)), float32(math.Inf(-1))
		}
		for i := c * n / k; i < (c+1)*n/k; i++ {
			for a, v := range points[i*dim : (i+1)*dim] {
				l[a] = min(l[a], v)
				h[a] = max(h[a], v)
			}
		}
		los[c], his[c] = l, h
	})
	lo, hi = make([]float64, dim), make([]float64, dim)
	for a := range lo {
		lo[a], hi[a] = math.Inf(1), math.Inf(-1)
		for c := range los {
			lo[a] = math.Min(lo[a], float64(los[c][a]))
			hi[a] = math.Max(hi[a], float64(his[c][a]))
		}
	}
	return lo, hi
}

// chunksFor is the number of contiguous chunks a parallel pass over n
// items uses: one per worker of the budget, none smaller than 4096 items.
// Passes whose result depends on the chunking (none here: every pass is
// exact) must not use it.
func chunksFor(n int) int { return max(1, min(par.Limit(), n/4096)) }

// Layout is a uniform cell grid over the first SD = min(dim, 3) axes
// (scaled units): NC[a] cells of side Cell[a] from Lo[a] on axis a; the
// other axes have one cell. Positions outside the points' range (only
// modes can be there) fall into the border cells (Of clamps).
type Layout struct {
	SD   int
	Lo   [3]float64
	Cell [3]float64 // cell side per axis
	Inv  [3]float64 // 1/Cell
	NC   [3]int
}

// NewLayout lays cells of side cell[a] over the range [lo[a], hi[a]] of
// the first min(dim, 3) axes, all sides enlarged together by 1.5× while
// the grid would have more than maxCells cells (sparse, widely spread data,
// or a tiny bandwidth: the count is bounded before anything is allocated;
// larger cells stay correct, just slower). lo and hi must be finite.
func NewLayout(lo, hi []float64, dim int, cell [3]float64, maxCells float64) Layout {
	L := Layout{SD: min(dim, 3), Cell: cell}
	for a := 0; a < L.SD; a++ {
		L.Lo[a] = lo[a]
	}
	for {
		total := 1.0
		for a := 0; a < 3; a++ {
			L.Inv[a] = 1 / L.Cell[a]
			L.NC[a] = 1
			if a < L.SD {
				f := (hi[a] - L.Lo[a]) * L.Inv[a]
				total *= math.Floor(f) + 1
				if f < 1<<40 {
					L.NC[a] = int(f) + 1
				}
			}
		}
		if total <= maxCells {
			return L
		}
		for a := range L.Cell {
			L.Cell[a] *= 1.5
		}
	}
}

// Count is the number of cells.
func (L *Layout) Count() int { return L.NC[0] * L.NC[1] * L.NC[2] }

// Of returns the cell of coordinate x on axis a, clamped to the grid.
// Points and queries use this one function, so a query never misses a
// point at a cell border.
func (L *Layout) Of(x float64, a int) int {
	f := (x - L.Lo[a]) * L.Inv[a]
	if !(f > 0) {
		return 0
	}
	if f >= float64(L.NC[a]-1) {
		return L.NC[a] - 1
	}
	return int(f)
}

// ID returns the linear index (axis 0 fastest) of the cell holding the
// row-major point p.
func (L *Layout) ID(p []float32) int32 {
	var c [3]int
	for a := 0; a < L.SD; a++ {
		c[a] = L.Of(float64(p[a]), a)
	}
	return int32(c[0] + L.NC[0]*(c[1]+L.NC[1]*c[2]))
}

// Sort returns the rows of the row-major dim-D set s in cell order (a
// stable counting sort, in parallel over contiguous chunks; the result
// does not depend on the chunking) and the cell start offsets (Count()+1
// values: the rows of cell c are perm[start[c]:start[c+1]]).
func (L *Layout) Sort(s []float32, dim int) (perm, start []int32) {
	k := len(s) / dim
	ncell := L.Count()
	ids := make([]int32, k)
	nch := chunksFor(k)
	counts := make([][]int32, nch)
	par.For(nch, func(_, c int) {
		cnt := make([]int32, ncell)
		for i := c * k / nch; i < (c+1)*k/nch; i++ {
			id := L.ID(s[i*dim : (i+1)*dim])
			ids[i] = id
			cnt[id]++
		}
		counts[c] = cnt
	})
	// start[c] = rows in cells before c; chunk c's first slot in cell id =
	// start[id] + rows of cell id in earlier chunks (stable).
	start = make([]int32, ncell+1)
	var acc int32
	for id := 0; id < ncell; id++ {
		start[id] = acc
		for c := range counts {
			v := counts[c][id]
			counts[c][id] = acc
			acc += v
		}
	}
	start[ncell] = acc
	perm = make([]int32, k)
	par.For(nch, func(_, c int) {
		next := counts[c]
		for i := c * k / nch; i < (c+1)*k/nch; i++ {
			id := ids[i]
			perm[next[id]] = int32(i)
			next[id]++
		}
	})
	return perm, start
}

// TileCentred returns the points (row-major N×dim) in the order perm as
// struct-of-arrays (axis a of position k at rel[a*N+k], N = len(perm))
// relative to the centre of their tile of tile consecutive positions (the
// midpoint of the tile's bounding box, ntile×dim values in tc), and |x'|²
// per position in pn. Relative coordinates keep the expanded form
// |x'|² − 2x'·y' + |y'|² of the GPU brute-force kernel accurate (the
// cancellation error scales with the tile's extent, not with |x|). A
// position whose perm entry is −1 is padding (LevelGrid): rel 0, pn +Inf
// (never within a truncation radius), left out of its tile's box; a tile of
// padding only has centre 0.
func TileCentred(points []float32, dim int, perm []int32, tile int) (rel, pn, tc []float32) {
	n := len(perm)
	ntile := (n + tile - 1) / tile
	rel = make([]float32, n*dim)
	pn = make([]float32, n)
	tc = make([]float32, ntile*dim)
	inf := float32(math.Inf(1))
	par.For(ntile, func(_, t int) {
		b, e := t*tile, min(n, (t+1)*tile)
		for a := 0; a < dim; a++ {
			lo, hi := math.Inf(1), math.Inf(-1)
			for k := b; k < e; k++ {
				if perm[k] < 0 {
					continue
				}
				v := float64(points[int(perm[k])*dim+a])
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
			c := float32(0)
			if lo <= hi {
				c = float32((lo + hi) / 2)
			}
			tc[t*dim+a] = c
			for k := b; k < e; k++ {
				if perm[k] >= 0 {
					rel[a*n+k] = points[int(perm[k])*dim+a] - c
				}
			}
		}
		for k := b; k < e; k++ {
			if perm[k] < 0 {
				pn[k] = inf
				continue
			}
			var s float32
			for a := 0; a < dim; a++ {
				v := rel[a*n+k]
				s += v * v
			}
			pn[k] = s
		}
	})
	return rel, pn, tc
}

// MaxQuantDim is the largest dimension Quant supports.
const MaxQuantDim = 8

// Quant quantises scaled positions into the boxes of the path-assisted
// search: side Side bandwidths on every axis, counted from one box below
// the points' minimum, packed into one uint64 with Bits = 64/dim bits per
// axis (axis 0 in the highest bits).
type Quant struct {
	Dim  int
	Bits uint
	Side float64
	Inv  float64 // 1/Side
	Lo   [MaxQuantDim]float64
}

// NewQuant returns the quantiser for points of range [lo, hi] per axis
// (scaled units) and boxes of side side, or false when dim > MaxQuantDim or
// some axis spans more boxes than its bits can count (the search then runs
// without path reuse). Modes stay in the convex hull of the points, so one
// box of margin below suffices.
func NewQuant(lo, hi []float64, dim int, side float64) (Quant, bool) {
	if dim < 1 || dim > MaxQuantDim {
		return Quant{}, false
	}
	q := Quant{Dim: dim, Bits: uint(64 / dim), Side: side, Inv: 1 / side}
	for a := 0; a < dim; a++ {
		q.Lo[a] = lo[a] - side
		if !((hi[a]-q.Lo[a])*q.Inv+2 < float64(uint64(1)<<q.Bits)) {
			return q, false
		}
	}
	return q, true
}

// Key returns the box of position y (clamped to the representable boxes).
func (q *Quant) Key(y []float32) uint64 {
	var k uint64
	for a := 0; a < q.Dim; a++ {
		c := int64(math.Floor((float64(y[a]) - q.Lo[a]) * q.Inv))
		c = max(0, min(c, int64(1)<<q.Bits-1))
		k = k<<q.Bits | uint64(c)
	}
	return k
}

// SeedOrder is the fixed pseudo-random order (seed 1) in which the
// path-assisted search starts its m searches, the same on every backend so
// that they remember the same paths.
func SeedOrder(m int) []int { return rand.New(rand.NewSource(1)).Perm(m) }

// Rounds returns the rounds [b, e) of the path-assisted search over m
// searches in seed order: [0, 64), [64, 128), then doubling ([128, 256),
// [256, 512), …), the last one cut at m. Paths are published between
// rounds, so the first rounds spread remembered paths all over the data.
func Rounds(m int) [][2]int {
	var r [][2]int
	for s, size := 0, 64; s < m; s, size = s+size, max(64, s+size) {
		r = append(r, [2]int{s, min(s+size, m)})
	}
	return r
}
