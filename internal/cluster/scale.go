package cluster

import (
	"fmt"
	"math"

	"github.com/lungctl/lungctl/internal/par"
)

// Per-point bandwidth scales (Options.Scale) on the CPU backends; see the
// package comment for the model.

// maxScaleDim is the largest dimension Grid supports with per-point scales
// (its step keeps per-level scratch on the stack).
const maxScaleDim = 16

// scaleLevel is one scale value's share of the points in Grid: the points
// of scale s with their first m axes divided by s (so that the level's
// kernel is exp(−|x' − y'|²/2) on pre-scaled positions, truncated at
// |x' − y'| ≥ R as at scale 1), in their own cell list, and the factors
// that turn the level's sums into the sample-point update.
type scaleLevel struct {
	inv    float32 // 1/s: y' = y·inv on the scaled axes
	fNum   float64 // s^−(m+1): Σ q (x − y)/s² = fNum · Σ k (x' − y') on scaled axes
	fDen   float64 // s^−(m+2): Σ q/s² = fDen · Σ k
	fOther float64 // s^−m: Σ q = fOther · Σ k, Σ q (x − y) = fOther · Σ k (x − y) on the others
	g      *gridIndex
	lo, hi [3]float64 // range of the level's pre-scaled points on the first sd axes
}

// newScaledGridIndex builds Grid's index for points with per-point scales
// (scale, not all 1; m scaled axes): one cell list per distinct scale
// (cells sized to that level's cut-off radius R·s in scaled units), all
// levels visited by every step (levels whose points all lie beyond the
// radius are skipped after a bounding-box test). The returned index's own
// cell list (for ordering the searches) is that of the finest level.
func newScaledGridIndex(points []float32, dim int, weights, scale []float32, m int, R float64) (*gridIndex, error) {
	if dim > maxScaleDim {
		return nil, fmt.Errorf("%w: Grid supports per-point scales up to dim %d, got %d", ErrInput, maxScaleDim, dim)
	}
	n := len(points) / dim
	vals, err := scaleLevels(scale, n, m, dim)
	if err != nil {
		return nil, err
	}
	top := &gridIndex{dim: dim, sd: min(dim, 3), R: R, m: m}
	levelOf := make([]int32, n)
	count := make([]int, len(vals))
	for i, s := range scale {
		l := 0
		for vals[l] != s {
			l++
		}
		levelOf[i] = int32(l)
		count[l]++
	}
	top.levels = make([]scaleLevel, len(vals))
	par.For(len(vals), func(_, l int) {
		s := float64(vals[l])
		inv := 1 / vals[l]
		pts := make([]float32, 0, count[l]*dim)
		var wt []float32
		if weights != nil {
			wt = make([]float32, 0, count[l])
		}
		for i := 0; i < n; i++ {
			if levelOf[i] != int32(l) {
				continue
			}
			for a, x := range points[i*dim : (i+1)*dim] {
				if a < m {
					x *= inv
				}
				pts = append(pts, x)
			}
			if weights != nil {
				wt = append(wt, weights[i])
			}
		}
		L := scaleLevel{inv: inv, fNum: math.Pow(s, -float64(m+1)), fDen: math.Pow(s, -float64(m+2)),
			fOther: math.Pow(s, -float64(m)), g: newGridIndex(pts, dim, wt, R)}
		for a := 0; a < top.sd; a++ {
			L.lo[a], L.hi[a] = math.Inf(1), math.Inf(-1)
			for i := a; i < len(pts); i += dim {
				L.lo[a] = math.Min(L.lo[a], float64(pts[i]))
				L.hi[a] = math.Max(L.hi[a], float64(pts[i]))
			}
		}
		top.levels[l] = L
	})
	top.Layout, top.start = top.levels[0].g.Layout, top.levels[0].g.start
	return top, nil
}

// stepLevels is step with per-point scales: each level's kernel sums at the
// pre-scaled mode y' (y with its first m axes times 1/s) are combined with
// the level factors into the sample-point update y_a += Σ q (x_a − y_a)/s² ÷
// Σ q/s² (scaled axes), y_a += Σ q (x_a − y_a) ÷ Σ q (the others). It returns
// the squared step length (scaled units of the base bandwidth), and false
// when no point lies within its cut-off radius (y unchanged). It does not
// allocate.
func (g *gridIndex) stepLevels(y []float32, num []float64) (float64, bool) {
	dim, m, R := g.dim, g.m, g.R
	var yl [maxScaleDim]float32
	var nl [maxScaleDim]float64
	for a := range num {
		num[a] = 0
	}
	var den, denS float64
	for li := range g.levels {
		L := &g.levels[li]
		copy(yl[:dim], y)
		for a := 0; a < m; a++ {
			yl[a] = y[a] * L.inv
		}
		// Skip a level whose points all lie beyond the radius (its cell
		// list would still scan its border cells).
		var gap2 float64
		for a := 0; a < g.sd; a++ {
			v := float64(yl[a])
			if v < L.lo[a] {
				gap2 += (L.lo[a] - v) * (L.lo[a] - v)
			} else if v > L.hi[a] {
				gap2 += (v - L.hi[a]) * (v - L.hi[a])
			}
		}
		if gap2 >= R*R {
			continue
		}
		for a := 0; a < dim; a++ {
			nl[a] = 0
		}
		d := L.g.sums(yl[:dim], nl[:dim])
		if d == 0 {
			continue
		}
		den += L.fOther * d
		denS += L.fDen * d
		for a := 0; a < m; a++ {
			num[a] += L.fNum * nl[a]
		}
		for a := m; a < dim; a++ {
			num[a] += L.fOther * nl[a]
		}
	}
	if den == 0 {
		return 0, false
	}
	var step2 float64
	for a := 0; a < dim; a++ {
		dd := den
		if a < m {
			dd = denS
		}
		nv := float32(float64(y[a]) + num[a]/dd)
		d := float64(nv - y[a])
		step2 += d * d
		y[a] = nv
	}
	return step2, true
}

// bruteScaled is BruteForce's search with per-point scales (opt.Scale,
// m = scaled axes): the sample-point update in float64 with math.Exp, every
// mode against every point.
func bruteScaled(points []float32, dim int, modes []float32, opt Options, m int) int {
	n := len(points) / dim
	r2 := opt.Truncate * opt.Truncate
	tol2 := opt.Tol * opt.Tol
	// Per point: 1/s² and s^−m.
	is2 := make([]float64, n)
	sm := make([]float64, n)
	for i, s := range opt.Scale {
		is2[i] = 1 / (float64(s) * float64(s))
		sm[i] = math.Pow(float64(s), -float64(m))
	}
	maxIt := 0
	y := make([]float64, dim)
	num := make([]float64, dim)
	for q := 0; q < len(modes)/dim; q++ {
		for a := 0; a < dim; a++ {
			y[a] = float64(modes[q*dim+a])
		}
		it := 0
		for it < opt.MaxIter {
			it++
			var den, denS float64
			clear(num)
			for i := 0; i < n; i++ {
				var sp, ot float64
				for a := 0; a < dim; a++ {
					d := float64(points[i*dim+a]) - y[a]
					if a < m {
						sp += d * d
					} else {
						ot += d * d
					}
				}
				s := sp*is2[i] + ot
				if s >= r2 {
					continue
				}
				w := sm[i] * math.Exp(-0.5*s)
				if opt.Weights != nil {
					w *= float64(opt.Weights[i])
				}
				den += w
				denS += w * is2[i]
				for a := 0; a < dim; a++ {
					if a < m {
						num[a] += w * is2[i] * float64(points[i*dim+a])
					} else {
						num[a] += w * float64(points[i*dim+a])
					}
				}
			}
			if den == 0 {
				break
			}
			var step2 float64
			for a := 0; a < dim; a++ {
				nv := num[a] / den
				if a < m {
					nv = num[a] / denS
				}
				step2 += (nv - y[a]) * (nv - y[a])
				y[a] = nv
			}
			if step2 < tol2 {
				break
			}
		}
		for a := 0; a < dim; a++ {
			modes[q*dim+a] = float32(y[a])
		}
		maxIt = max(maxIt, it)
	}
	return maxIt
}
