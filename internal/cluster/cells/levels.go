package cells

import (
	"errors"
	"fmt"
	"math"

	"github.com/lungctl/lungctl/internal/par"
)

// Scale levels: the host side of scale-adaptive mean shift (per-point
// bandwidth scales, package cluster's Options.Scale) on the GPU. Points of
// scale s have their first m axes divided by s ("pre-scaled", the same
// float32 product x·(1/s) as the CPU Grid backend), so that within one
// level the kernel is exp(−|x' − y'|²/2) truncated at |x' − y'| ≥ R as at
// scale 1, and each level gets its own cell list.

// MaxLevels is the largest number of distinct scales (package cluster's
// MaxScaleLevels).
const MaxLevels = 16

// ErrLevels reports per-point scales that cannot be grouped (wrong count,
// a value not finite and > 0, too many distinct values).
var ErrLevels = errors.New("cells: bad per-point scales")

// Levels groups N points by their bandwidth scale.
type Levels struct {
	Vals  []float32 // the distinct scales, increasing
	Of    []int32   // each point's level (index into Vals); nil: all level 0
	Count []int     // points per level
}

// NewLevels groups the n points by scale (n values; nil means one level of
// scale 1). Scales must be finite and > 0, at most MaxLevels distinct.
func NewLevels(scale []float32, n int) (Levels, error) {
	if scale == nil {
		return Levels{Vals: []float32{1}, Count: []int{n}}, nil
	}
	if len(scale) != n {
		return Levels{}, fmt.Errorf("%w: %d scales for %d points", ErrLevels, len(scale), n)
	}
	var lv Levels
	for i, s := range scale {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return Levels{}, fmt.Errorf("%w: scale %g of point %d", ErrLevels, s, i)
		}
		if len(lv.Vals) > 0 && lv.Vals[len(lv.Vals)-1] == s {
			continue
		}
		found := false
		for _, v := range lv.Vals {
			if v == s {
				found = true
				break
			}
		}
		if !found {
			if len(lv.Vals) == MaxLevels {
				return Levels{}, fmt.Errorf("%w: more than %d distinct scales", ErrLevels, MaxLevels)
			}
			lv.Vals = append(lv.Vals, s)
		}
	}
	for i := 1; i < len(lv.Vals); i++ {
		for j := i; j > 0 && lv.Vals[j] < lv.Vals[j-1]; j-- {
			lv.Vals[j], lv.Vals[j-1] = lv.Vals[j-1], lv.Vals[j]
		}
	}
	if len(lv.Vals) == 0 { // n = 0
		lv.Vals = []float32{1}
	}
	lv.Count = make([]int, len(lv.Vals))
	if len(lv.Vals) == 1 {
		lv.Count[0] = n
		return lv, nil
	}
	lv.Of = make([]int32, n)
	for i, s := range scale {
		l := 0
		for lv.Vals[l] != s {
			l++
		}
		lv.Of[i] = int32(l)
		lv.Count[l]++
	}
	return lv, nil
}

// Level returns the level of point i.
func (lv *Levels) Level(i int) int {
	if lv.Of == nil {
		return 0
	}
	return int(lv.Of[i])
}

// Inv returns 1/s of level l in float32, the factor the pre-scaled
// coordinates are multiplied by (the CPU Grid's, bit for bit).
func (lv *Levels) Inv(l int) float32 { return 1 / lv.Vals[l] }

// Factor returns s^−m of level l (float64): the sample-point estimator's
// weight factor of a point of that level with m scaled axes.
func (lv *Levels) Factor(l, m int) float64 { return math.Pow(float64(lv.Vals[l]), -float64(m)) }

// PreScale returns a copy of the row-major N×dim points whose first m
// axes are multiplied by Inv of each point's level (scaled units of the
// base bandwidth in, pre-scaled units out). With one level of scale 1 it
// returns points itself.
func (lv *Levels) PreScale(points []float32, dim, m int) []float32 {
	if len(lv.Vals) == 1 && lv.Vals[0] == 1 {
		return points
	}
	out := make([]float32, len(points))
	par.Chunks(len(points)/dim, 4096, func(_, b, e int) {
		for i := b; i < e; i++ {
			inv := lv.Inv(lv.Level(i))
			for a, x := range points[i*dim : (i+1)*dim] {
				if a < m {
					x *= inv
				}
				out[i*dim+a] = x
			}
		}
	})
	return out
}

// LevelGrid is one cell list per scale level: each level's pre-scaled
// points sorted by the cells of that level's own Layout, the levels one
// after the other in one position space (each level's first position
// rounded up to a multiple of the padding; padding positions hold no
// point).
type LevelGrid struct {
	Layouts []Layout
	// Lo, Hi: per level, the range of its pre-scaled points (dim values;
	// ±Inf for an empty level).
	Lo, Hi [][]float64
	// Perm maps positions to point indices (−1: padding).
	Perm []int32
	// PointBase[l] is level l's first position (len = levels + 1, the
	// last one len(Perm)).
	PointBase []int
	// Start holds every level's Count()+1 cell starts (positions in Perm:
	// the points of level l's cell c are Perm[Start[CellBase[l]+c] :
	// Start[CellBase[l]+c+1]]), the levels one after the other.
	Start    []int32
	CellBase []int
}

// NewLevelGrid builds the per-level cell lists of the pre-scaled N×dim
// points pre (Levels.PreScale): level l's Layout has cells of side cell
// (pre-scaled units, on the first min(dim, 3) axes; larger when there would
// be more than 4·N_l + 4096 cells, N_l the level's points), and its points
// are sorted stably by cell. Each level starts at a multiple of pad
// positions (pad ≥ 1). With one level and pad 1, Perm and Start are those
// of NewLayout(...).Sort on all the points.
func NewLevelGrid(pre []float32, dim int, lv *Levels, cell float64, pad int) LevelGrid {
	nl := len(lv.Vals)
	g := LevelGrid{Layouts: make([]Layout, nl), Lo: make([][]float64, nl), Hi: make([][]float64, nl),
		PointBase: make([]int, nl+1), CellBase: make([]int, nl)}
	// The points of each level, in point order.
	idx := make([][]int32, nl)
	if nl > 1 {
		for l := range idx {
			idx[l] = make([]int32, 0, lv.Count[l])
		}
		for i := 0; i < len(pre)/dim; i++ {
			l := lv.Level(i)
			idx[l] = append(idx[l], int32(i))
		}
	}
	perms := make([][]int32, nl)
	starts := make([][]int32, nl)
	for l := 0; l < nl; l++ {
		sub := pre
		if nl > 1 {
			sub = make([]float32, 0, len(idx[l])*dim)
			for _, i := range idx[l] {
				sub = append(sub, pre[int(i)*dim:int(i+1)*dim]...)
			}
		}
		nlp := len(sub) / dim
		g.Lo[l], g.Hi[l] = Range(sub, dim)
		lo, hi := g.Lo[l], g.Hi[l]
		if nlp == 0 { // an empty level: one cell, never reached
			lo, hi = make([]float64, dim), make([]float64, dim)
		}
		g.Layouts[l] = NewLayout(lo, hi, dim, [3]float64{cell, cell, cell}, 4*float64(nlp)+4096)
		perms[l], starts[l] = g.Layouts[l].Sort(sub, dim)
		if nl > 1 {
			for k, j := range perms[l] {
				perms[l][k] = idx[l][j]
			}
		}
	}
	pos, cells := 0, 0
	for l := 0; l < nl; l++ {
		pos = (pos + pad - 1) / pad * pad
		g.PointBase[l] = pos
		pos += len(perms[l])
		g.CellBase[l] = cells
		cells += len(starts[l])
	}
	g.PointBase[nl] = pos
	if nl == 1 && pad == 1 {
		g.Perm, g.Start = perms[0], starts[0]
		return g
	}
	g.Perm = make([]int32, pos)
	for k := range g.Perm {
		g.Perm[k] = -1
	}
	g.Start = make([]int32, 0, cells)
	for l := 0; l < nl; l++ {
		copy(g.Perm[g.PointBase[l]:], perms[l])
		for _, s := range starts[l] {
			g.Start = append(g.Start, s+int32(g.PointBase[l]))
		}
	}
	return g
}

// Level returns the level of position k (k < len(Perm)).
func (g *LevelGrid) Level(k int) int {
	l := 0
	for l+1 < len(g.Layouts) && k >= g.PointBase[l+1] {
		l++
	}
	return l
}
