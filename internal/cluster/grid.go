package cluster

import (
	"math"

	"github.com/lungctl/lungctl/internal/cluster/cells"
	"github.com/lungctl/lungctl/internal/cluster/simd"
	"github.com/lungctl/lungctl/internal/par"
)

// Grid is the default CPU backend: the points are bucketed in a uniform
// cell list over the first min(dim,3) axes (cell side R/2 on y and z and
// R/8 on x, R = the truncation radius; all larger when the cell count would
// exceed ~16N), stored sorted by cell as struct-of-arrays (one contiguous
// float32 slice per axis). Each step visits only the cells that the R-ball
// around the mode can reach: one contiguous run of points per (y, z) cell
// row. Modes are processed by the workers of the budget (package par,
// chunks of modes handed out dynamically); the inner loop does not
// allocate. For dim = 5 on CPUs with
// AVX2 and FMA the kernel sums run in assembly (simd.Accum5: 8 points per
// instruction, exp(−|d|²/2) by range reduction and a polynomial, relative
// error < 3e-7); otherwise a Go loop with a lookup table for exp (relative
// error < 1e-6). With opt.Reuse > 0 (the default) the searches are
// path-assisted (see shiftReuse and the package comment); point weights
// (opt.Weights) are honoured. With per-point scales (opt.Scale, at most
// MaxScaleLevels values, dim ≤ 16) the points are grouped by scale s, each
// group has its first opt.ScaledAxes axes divided by s and its own cell
// list (cells sized to its cut-off radius R·s in base units), and every
// step adds up the groups' kernel sums (the same kernels, at the mode
// divided by s) with the factors s^−(m+1), s^−(m+2), s^−m of the
// sample-point update (stepLevels).
type Grid struct{}

// Name returns "grid".
func (Grid) Name() string { return "grid" }

// Shift implements Backend.
func (Grid) Shift(points []float32, dim int, modes []float32, opt Options) (int, error) {
	if err := checkShiftArgs(points, dim, modes); err != nil {
		return 0, err
	}
	n := len(points) / dim
	m := len(modes) / dim
	if n == 0 || m == 0 {
		return 0, nil
	}
	var g *gridIndex
	if opt.Scale != nil && !opt.SingleScale() {
		var err error
		if g, err = newScaledGridIndex(points, dim, opt.Weights, opt.Scale, opt.scaledAxes(dim), opt.Truncate); err != nil {
			return 0, err
		}
	} else {
		g = newGridIndex(points, dim, opt.Weights, opt.Truncate)
	}
	if opt.Reuse > 0 {
		lo, hi := cells.Range(points, dim)
		if q, ok := cells.NewQuant(lo, hi, dim, opt.Reuse); ok {
			return g.shiftReuse(modes, opt, q), nil
		}
	}
	return g.shiftExact(modes, opt), nil
}

// shiftExact runs every search to convergence (Options.Reuse < 0), modes
// handed out in chunks of 256 to the workers of the budget (par).
func (g *gridIndex) shiftExact(modes []float32, opt Options) int {
	dim := g.dim
	m := len(modes) / dim
	tol2 := opt.Tol * opt.Tol
	const chunk = 256
	maxIter := make([]int, par.Limit())
	par.For((m+chunk-1)/chunk, func(w, c int) {
		num := make([]float64, dim)
		y := make([]float32, dim)
		for q := c * chunk; q < min((c+1)*chunk, m); q++ {
			mode := modes[q*dim : (q+1)*dim]
			copy(y, mode)
			it := 0
			for it < opt.MaxIter {
				it++
				step2, ok := g.step(y, num)
				if !ok || step2 < tol2 {
					break
				}
			}
			copy(mode, y)
			maxIter[w] = max(maxIter[w], it)
		}
	})
	return slicesMax(maxIter)
}

// slicesMax returns the largest value of s (0 when empty).
func slicesMax(s []int) int {
	v := 0
	for _, x := range s {
		v = max(v, x)
	}
	return v
}

// xCellSplit is how many times finer the cells are on x than on y and z.
const xCellSplit = 4

// gridIndex is Grid's cell list: points sorted by cell on the first sd
// axes (cells.Layout: side R/2 on y and z and R/8 on x, scaled units, all
// larger when the count would exceed xCellSplit·(4N + 4096)), as
// struct-of-arrays. Each step visits only the cell rows (fixed y, z cell)
// whose yz-extent comes within R of the mode, and in each row only the
// x-cells that the R-sphere can reach: one contiguous run of sorted points
// per row (finer x cells trim the run at no extra per-row cost).
type gridIndex struct {
	cells.Layout
	dim, sd int
	R       float64
	start   []int32 // points of cell c are soa[·][start[c]:start[c+1]]
	soa     [][]float32
	wt      []float32 // point weights in soa order; nil: all 1
	kt      *kernelTable
	// With per-point scales (Options.Scale): one index per scale level and
	// the number m of scaled axes; nil for the fixed-bandwidth case (this
	// index then holds all the points).
	levels []scaleLevel
	m      int
}

// newGridIndex sorts the N×dim points (scaled units) and their weights
// (nil: all 1) into Grid's cell list for truncation radius R.
func newGridIndex(points []float32, dim int, weights []float32, R float64) *gridIndex {
	n := len(points) / dim
	lo, hi := cells.Range(points, dim)
	g := &gridIndex{dim: dim, sd: min(dim, 3), R: R, kt: newKernelTable(R)}
	g.Layout = cells.NewLayout(lo, hi, dim, [3]float64{R / 2 / xCellSplit, R / 2, R / 2}, xCellSplit*(4*float64(n)+4096))
	perm, start := g.Layout.Sort(points, dim)
	// Every axis (and the weights) has soaPad spare values past n so that
	// the assembly kernel may load whole blocks of 8 at the end of a run.
	soa := make([][]float32, dim)
	for a := range soa {
		soa[a] = make([]float32, n+soaPad)[:n]
	}
	var wt []float32
	if weights != nil {
		wt = make([]float32, n+soaPad)[:n]
	}
	par.Chunks(n, 4096, func(_, b, e int) {
		for k := b; k < e; k++ {
			i := int(perm[k])
			for a := 0; a < dim; a++ {
				soa[a][k] = points[i*dim+a]
			}
			if wt != nil {
				wt[k] = weights[i]
			}
		}
	})
	g.start, g.soa, g.wt = start, soa, wt
	return g
}

// cellOf returns the cell of coordinate x on axis a (scaled units),
// clamped to the grid (cells.Layout.Of).
func (g *gridIndex) cellOf(x float64, a int) int { return g.Layout.Of(x, a) }

// cellID returns the index (into start) of the cell holding position p
// (scaled units; outside positions go to the nearest border cell).
func (g *gridIndex) cellID(p []float32) int32 { return g.Layout.ID(p) }

// gap returns the distance from coordinate v to cell c's interval on axis a
// (0 inside; the last cell is open-ended).
func (g *gridIndex) gap(v float64, c, a int) float64 {
	l := g.Lo[a] + float64(c)*g.Cell[a]
	if v < l {
		return l - v
	}
	if h := l + g.Cell[a]; v > h && c < g.NC[a]-1 {
		return v - h
	}
	return 0
}

// useAVX selects the assembly kernel simd.Accum5 for 5-D kernel sums (tests
// switch it off to exercise the pure-Go path).
var useAVX = simd.Available

// soaPad is the number of spare float32 values allocated past the end of
// every struct-of-arrays slice of gridIndex (the assembly kernel reads whole
// blocks of 8 and masks the lanes past the run).
const soaPad = 8

// step does one mean-shift step from y (moved in place), using num (dim
// values) as scratch. It returns the squared step length, and false when no
// point lies within the truncation radius (y unchanged). The step is
// y += Σ k·(x − y) / Σ k (sums). It does not allocate.
func (g *gridIndex) step(y []float32, num []float64) (float64, bool) {
	if g.levels != nil {
		return g.stepLevels(y, num)
	}
	for a := range num {
		num[a] = 0
	}
	den := g.sums(y, num)
	if den == 0 {
		return 0, false
	}
	var step2 float64
	for a := 0; a < g.dim; a++ {
		nv := float32(float64(y[a]) + num[a]/den)
		d := float64(nv - y[a])
		step2 += d * d
		y[a] = nv
	}
	return step2, true
}

// sums adds the kernel sums around y to num (dim values) and returns Σ k.
// It visits only the cell rows (fixed y, z cell) whose yz-extent comes
// within R of y, and in each row only the x-cells that the R-sphere can
// reach: one contiguous run of sorted points per row. The sums are
// accumulated as offsets from y (Σ k·(x − y); float32 within a run and
// float64 across runs, or float32 over the whole step in the AVX2 kernel);
// for dim = 5 the runs go to the AVX2 kernel (simd.Accum5, all the runs of
// a step in one call) when the CPU has it. It does not allocate.
func (g *gridIndex) sums(y []float32, num []float64) float64 {
	dim, sd, R := g.dim, g.sd, g.R
	var den float64
	var yv [3]float64
	for a := 0; a < sd; a++ {
		yv[a] = float64(y[a])
	}
	fast := dim == 5 && useAVX
	var yb [48]float32
	var out [6]float32
	var runs [2 * maxRuns]int32 // point index runs [b, e) for simd.Accum5
	nr := 0
	if fast {
		for a := 0; a < 5; a++ {
			for l := 0; l < 8; l++ {
				yb[8*a+l] = y[a]
			}
		}
		for l := 40; l < 48; l++ {
			yb[l] = g.kt.r2
		}
	}
	z0, z1 := 0, 0
	if sd > 2 {
		z0, z1 = g.cellOf(yv[2]-R, 2), g.cellOf(yv[2]+R, 2)
	}
	y0, y1 := 0, 0
	if sd > 1 {
		y0, y1 = g.cellOf(yv[1]-R, 1), g.cellOf(yv[1]+R, 1)
	}
	for cz := z0; cz <= z1; cz++ {
		gz := 0.0
		if sd > 2 {
			gz = g.gap(yv[2], cz, 2)
		}
		for cy := y0; cy <= y1; cy++ {
			gy := 0.0
			if sd > 1 {
				gy = g.gap(yv[1], cy, 1)
			}
			rem := R*R - gy*gy - gz*gz
			if rem <= 0 {
				continue
			}
			hw := math.Sqrt(rem)
			x0, x1 := g.cellOf(yv[0]-hw, 0), g.cellOf(yv[0]+hw, 0)
			base := g.NC[0] * (cy + g.NC[1]*cz)
			b, en := int(g.start[base+x0]), int(g.start[base+x1+1])
			if b == en {
				continue
			}
			switch {
			case fast:
				runs[2*nr], runs[2*nr+1] = int32(b), int32(en)
				nr++
				if nr == maxRuns {
					den += g.accumRuns(runs[:], &yb, num)
					nr = 0
				}
				continue
			case dim == 5:
				var w []float32
				if g.wt != nil {
					w = g.wt[b:en]
				}
				out = accum5(g.soa, w, b, en, y, g.kt)
			default:
				den += accumN(g.soa, g.wt, b, en, y, num, g.kt)
				continue
			}
			den += float64(out[0])
			for a := 0; a < 5; a++ {
				num[a] += float64(out[a+1])
			}
		}
	}
	if nr > 0 {
		den += g.accumRuns(runs[:2*nr], &yb, num)
	}
	return den
}

// maxRuns is the number of point runs step hands to simd.Accum5 at once.
const maxRuns = 32

// accumRuns runs simd.Accum5 over the point runs (pairs b, e of indices into
// g.soa) around the mode broadcast in yb: it adds Σ k·(x − y) to num (5
// values) and returns Σ k.
func (g *gridIndex) accumRuns(runs []int32, yb *[48]float32, num []float64) float64 {
	var w *float32
	if g.wt != nil {
		w = &g.wt[0]
	}
	var out [6]float32
	simd.Accum5(&g.soa[0][0], &g.soa[1][0], &g.soa[2][0], &g.soa[3][0], &g.soa[4][0], w, &runs[0], len(runs)/2, yb, &out)
	for a := 0; a < 5; a++ {
		num[a] += float64(out[a+1])
	}
	return float64(out[0])
}
