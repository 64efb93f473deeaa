package cluster

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/lungctl/lungctl/internal/cluster/simd"
)

// kernelTable tabulates exp(−s/2) for s = |d|² in [0, R²] (scaled units)
// with linear interpolation: relative error below 1e-6 with 4096 steps up to
// R = 3, and no call to math.Exp in the inner loop.
type kernelTable struct {
	r2    float32
	scale float32 // steps per unit of s
	v     []float32
}

func newKernelTable(r float64) *kernelTable {
	const steps = 4096
	r2 := r * r
	t := &kernelTable{r2: float32(r2), scale: float32(steps / r2), v: make([]float32, steps+2)}
	for i := range t.v {
		t.v[i] = float32(math.Exp(-0.5 * float64(i) * r2 / steps))
	}
	return t
}

// Grid is the default CPU backend: the points are bucketed in a uniform
// cell list over the first min(dim,3) axes (cell side R/2 on y and z and
// R/8 on x, R = the truncation radius; all larger when the cell count would
// exceed ~16N), stored sorted by cell as struct-of-arrays (one contiguous
// float32 slice per axis). Each step visits only the cells that the R-ball
// around the mode can reach: one contiguous run of points per (y, z) cell
// row. Modes are processed by all cores (chunks of modes handed out
// atomically); the inner loop does not allocate. For dim = 5 on CPUs with
// AVX2 and FMA the kernel sums run in assembly (simd.Accum5: 8 points per
// instruction, exp(−|d|²/2) by range reduction and a polynomial, relative
// error < 3e-7); otherwise a Go loop with a lookup table for exp (relative
// error < 1e-6). With opt.Reuse > 0 (the default) the searches are
// path-assisted (see shiftReuse and the package comment); point weights
// (opt.Weights) are honoured.
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
	sd := dim
	if sd > 3 {
		sd = 3
	}
	R := opt.Truncate
	// Bounding box of the spatial axes and the cell layout.
	var lo, hi [3]float64
	for a := 0; a < sd; a++ {
		lo[a], hi[a] = math.Inf(1), math.Inf(-1)
	}
	for i := 0; i < n; i++ {
		for a := 0; a < sd; a++ {
			x := float64(points[i*dim+a])
			lo[a] = math.Min(lo[a], x)
			hi[a] = math.Max(hi[a], x)
		}
	}
	// Cells of half the truncation radius on y and z and R/8 on
	// x; each step visits only the cell rows (fixed y, z cell) whose
	// yz-extent comes within R of the mode, and in each row only the x-cells
	// that the R-sphere can reach: one contiguous run of sorted points per
	// row (finer x cells trim the run at no extra per-row cost).
	g := &gridIndex{dim: dim, sd: sd, R: R, lo: lo, kt: newKernelTable(R)}
	cell := R / 2
	for {
		total := 1
		for a := 0; a < 3; a++ {
			g.cell[a] = cell
			if a == 0 {
				g.cell[a] = cell / xCellSplit
			}
			g.inv[a] = 1 / g.cell[a]
			g.nc[a] = 1
			if a < sd {
				g.nc[a] = int((hi[a]-lo[a])*g.inv[a]) + 1
			}
			total *= g.nc[a]
		}
		// Bound the cell count so sparse, widely spread data do not allocate
		// a huge empty grid; larger cells stay correct (just slower).
		if total <= xCellSplit*(4*n+4096) {
			break
		}
		cell *= 1.5
	}
	nc := g.nc
	ncell := nc[0] * nc[1] * nc[2]
	start := make([]int32, ncell+1)
	pc := make([]int32, n)
	for i := 0; i < n; i++ {
		id := g.cellID(points[i*dim : (i+1)*dim])
		pc[i] = id
		start[id+1]++
	}
	for c := 0; c < ncell; c++ {
		start[c+1] += start[c]
	}
	fill := make([]int32, ncell)
	// Every axis (and the weights) has soaPad spare values past n so that
	// the assembly kernel may load whole blocks of 8 at the end of a run.
	soa := make([][]float32, dim)
	for a := range soa {
		soa[a] = make([]float32, n+soaPad)[:n]
	}
	var wt []float32
	if opt.Weights != nil {
		wt = make([]float32, n+soaPad)[:n]
	}
	for i := 0; i < n; i++ {
		c := pc[i]
		pos := start[c] + fill[c]
		fill[c]++
		for a := 0; a < dim; a++ {
			soa[a][pos] = points[i*dim+a]
		}
		if wt != nil {
			wt[pos] = opt.Weights[i]
		}
	}
	g.start, g.soa, g.wt = start, soa, wt
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if opt.Reuse > 0 && dim <= maxReuseDim {
		if ri, ok := newReuseIndex(points, dim, opt.Reuse); ok {
			return g.shiftReuse(modes, opt, workers, ri), nil
		}
	}
	tol2 := opt.Tol * opt.Tol
	var next int64
	var maxIter int64
	const chunk = 256
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			num := make([]float64, dim)
			y := make([]float32, dim)
			localMax := 0
			for {
				s := int(atomic.AddInt64(&next, chunk)) - chunk
				if s >= m {
					break
				}
				e := min(s+chunk, m)
				for q := s; q < e; q++ {
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
					localMax = max(localMax, it)
				}
			}
			atomicMax(&maxIter, localMax)
		}()
	}
	wg.Wait()
	return int(maxIter), nil
}

// atomicMax raises *p to v.
func atomicMax(p *int64, v int) {
	for {
		cur := atomic.LoadInt64(p)
		if int64(v) <= cur || atomic.CompareAndSwapInt64(p, cur, int64(v)) {
			return
		}
	}
}

// xCellSplit is how many times finer the cells are on x than on y and z.
const xCellSplit = 4

// gridIndex is Grid's cell list: points sorted by cell (side cell[a] on
// axis a, scaled units) on the first sd axes, as struct-of-arrays.
type gridIndex struct {
	dim, sd int
	R       float64
	cell    [3]float64 // cell side per axis (scaled units)
	inv     [3]float64 // 1/cell
	lo      [3]float64
	nc      [3]int
	start   []int32 // points of cell c are soa[·][start[c]:start[c+1]]
	soa     [][]float32
	wt      []float32 // point weights in soa order; nil: all 1
	kt      *kernelTable
}

// cellOf returns the cell of coordinate x on axis a (scaled units),
// clamped to the grid. Points and queries use this one function, so a run
// never misses a point at a cell border.
func (g *gridIndex) cellOf(x float64, a int) int {
	f := (x - g.lo[a]) * g.inv[a]
	if !(f > 0) {
		return 0
	}
	if f >= float64(g.nc[a]-1) {
		return g.nc[a] - 1
	}
	return int(f)
}

// cellID returns the index (into start) of the cell holding position p
// (scaled units; outside positions go to the nearest border cell).
func (g *gridIndex) cellID(p []float32) int32 {
	var c [3]int
	for a := 0; a < g.sd; a++ {
		c[a] = g.cellOf(float64(p[a]), a)
	}
	return int32(c[0] + g.nc[0]*(c[1]+g.nc[1]*c[2]))
}

// gap returns the distance from coordinate v to cell c's interval on axis a
// (0 inside; the last cell is open-ended).
func (g *gridIndex) gap(v float64, c, a int) float64 {
	l := g.lo[a] + float64(c)*g.cell[a]
	if v < l {
		return l - v
	}
	if h := l + g.cell[a]; v > h && c < g.nc[a]-1 {
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
// point lies within the truncation radius (y unchanged). It visits only the
// cell rows (fixed y, z cell) whose yz-extent comes within R of y, and in
// each row only the x-cells that the R-sphere can reach: one contiguous run
// of sorted points per row. The kernel sums are accumulated as offsets from
// y (Σ k·(x − y); float32 within a run and float64 across runs, or float32
// over the whole step in the AVX2 kernel), so the step is
// y += Σ k·(x − y) / Σ k; for dim = 5 the runs go to the AVX2 kernel
// (simd.Accum5, all the runs of a step in one call) when the CPU has it. It
// does not allocate.
func (g *gridIndex) step(y []float32, num []float64) (float64, bool) {
	dim, sd, R := g.dim, g.sd, g.R
	var den float64
	for a := range num {
		num[a] = 0
	}
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
			base := g.nc[0] * (cy + g.nc[1]*cz)
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
	if den == 0 {
		return 0, false
	}
	var step2 float64
	for a := 0; a < dim; a++ {
		nv := float32(float64(y[a]) + num[a]/den)
		d := float64(nv - y[a])
		step2 += d * d
		y[a] = nv
	}
	return step2, true
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

// accum5 is the pure-Go 5-D kernel sum over the points soa[·][b:e] with
// weights wt (= the weights of soa[·][b:e]; nil: all 1): for the points with
// s = |x − y|² < r² (scaled units) and k = wt·exp(−s/2) (table-interpolated,
// relative error < 1e-6) it returns {Σ k, Σ k·(x0−y0), …, Σ k·(x4−y4)},
// summed in float32. simd.Accum5 computes the same sums.
func accum5(soa [][]float32, wt []float32, b, e int, y []float32, kt *kernelTable) (out [6]float32) {
	x0, x1, x2, x3, x4 := soa[0][b:e], soa[1][b:e], soa[2][b:e], soa[3][b:e], soa[4][b:e]
	x1 = x1[:len(x0)]
	x2 = x2[:len(x0)]
	x3 = x3[:len(x0)]
	x4 = x4[:len(x0)]
	if wt != nil {
		wt = wt[:len(x0)]
	}
	y0, y1, y2, y3, y4 := y[0], y[1], y[2], y[3], y[4]
	r2, sc, tab := kt.r2, kt.scale, kt.v
	var den, n0, n1, n2, n3, n4 float32
	for i := range x0 {
		d0 := x0[i] - y0
		d1 := x1[i] - y1
		d2 := x2[i] - y2
		s := d0*d0 + d1*d1 + d2*d2
		if s >= r2 {
			continue
		}
		d3 := x3[i] - y3
		d4 := x4[i] - y4
		s += d3*d3 + d4*d4
		if s >= r2 {
			continue
		}
		f := s * sc
		j := int(f)
		fr := f - float32(j)
		w := tab[j] + fr*(tab[j+1]-tab[j])
		if wt != nil {
			w *= wt[i]
		}
		den += w
		n0 += w * d0
		n1 += w * d1
		n2 += w * d2
		n3 += w * d3
		n4 += w * d4
	}
	return [6]float32{den, n0, n1, n2, n3, n4}
}

// accumN is accum5 for any dim: it adds Σ k·(x − y) over soa[·][b:e] to
// num and returns Σ k (float64 sums).
func accumN(soa [][]float32, wt []float32, b, e int, y []float32, num []float64, kt *kernelTable) float64 {
	var den float64
	dim := len(y)
	for i := b; i < e; i++ {
		var s float32
		for a := 0; a < dim; a++ {
			d := soa[a][i] - y[a]
			s += d * d
		}
		if s >= kt.r2 {
			continue
		}
		f := s * kt.scale
		j := int(f)
		fr := f - float32(j)
		w := kt.v[j] + fr*(kt.v[j+1]-kt.v[j])
		if wt != nil {
			w *= wt[i]
		}
		den += float64(w)
		for a := 0; a < dim; a++ {
			num[a] += float64(w) * float64(soa[a][i]-y[a])
		}
	}
	return den
}

// BruteForce is the O(N²)-per-step reference backend: every mode looks at
// every point, with the same truncation radius and convergence rule as Grid
// but math.Exp and float64 sums throughout. Use it only for tests and small
// inputs.
type BruteForce struct{}

// Name returns "brute".
func (BruteForce) Name() string { return "brute" }

// Shift implements Backend.
func (BruteForce) Shift(points []float32, dim int, modes []float32, opt Options) (int, error) {
	if err := checkShiftArgs(points, dim, modes); err != nil {
		return 0, err
	}
	n := len(points) / dim
	m := len(modes) / dim
	r2 := opt.Truncate * opt.Truncate
	tol2 := opt.Tol * opt.Tol
	maxIt := 0
	y := make([]float64, dim)
	num := make([]float64, dim)
	for q := 0; q < m; q++ {
		for a := 0; a < dim; a++ {
			y[a] = float64(modes[q*dim+a])
		}
		it := 0
		for it < opt.MaxIter {
			it++
			var den float64
			for a := range num {
				num[a] = 0
			}
			for i := 0; i < n; i++ {
				var s float64
				for a := 0; a < dim; a++ {
					d := float64(points[i*dim+a]) - y[a]
					s += d * d
				}
				if s >= r2 {
					continue
				}
				w := math.Exp(-0.5 * s)
				if opt.Weights != nil {
					w *= float64(opt.Weights[i])
				}
				den += w
				for a := 0; a < dim; a++ {
					num[a] += w * float64(points[i*dim+a])
				}
			}
			if den == 0 {
				break
			}
			var step2 float64
			for a := 0; a < dim; a++ {
				nv := num[a] / den
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
		if it > maxIt {
			maxIt = it
		}
	}
	return maxIt, nil
}

func checkShiftArgs(points []float32, dim int, modes []float32) error {
	if dim < 1 || len(points)%dim != 0 || len(modes)%dim != 0 {
		return fmt.Errorf("%w: %d points / %d modes values for dim %d", ErrInput, len(points), len(modes), dim)
	}
	return nil
}
