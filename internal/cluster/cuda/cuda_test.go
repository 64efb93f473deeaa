//go:build lungcuda

package cuda

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/lungctl/lungctl/internal/cluster"
	"github.com/lungctl/lungctl/internal/cluster/clustertest"
)

// The CPU side and the shared test data.
type (
	Options    = cluster.Options
	Backend    = cluster.Backend
	Grid       = cluster.Grid
	BruteForce = cluster.BruteForce
	Result     = cluster.Result
)

var (
	MeanShift     = cluster.MeanShift
	MergeModes    = cluster.MergeModes
	AdjustedRand  = cluster.AdjustedRand
	SelectBackend = cluster.SelectBackend
	ErrInput      = cluster.ErrInput
	blobs         = clustertest.Blobs
	lungLike      = clustertest.LungLike
	toInt         = clustertest.ToInt
	scaleBy       = clustertest.ScaleBy
	uniformPoints = clustertest.Uniform
)

// cudaOrSkip returns the grid or brute CUDA backend, or skips the test when
// no usable device is present. (With gorgonia.org/cu a machine without any
// driver/GPU never gets here: cu's package init exits the test binary.)
func cudaOrSkip(tb testing.TB, grid bool) *CUDA {
	tb.Helper()
	c, err := NewCUDA(grid)
	if err != nil {
		tb.Skipf("no usable CUDA device: %v", err)
	}
	return c
}

// cudaVariants returns the two CUDA backends, brute and grid; it skips the
// test without a device.
func cudaVariants(tb testing.TB) []*CUDA {
	tb.Helper()
	var out []*CUDA
	for _, grid := range []bool{false, true} {
		c, err := NewCUDA(grid)
		if err != nil {
			tb.Skipf("no usable CUDA device: %v", err)
		}
		out = append(out, c)
	}
	return out
}

// modeGap compares modes got with want (M×dim each): how many differ by
// more than tol on some axis (NaN counts as far) and the largest such
// difference.
func modeGap(got, want []float32, dim int, tol float64) (far int, worst float64) {
	for q := 0; q < len(want)/dim; q++ {
		d := 0.0
		for a := 0; a < dim; a++ {
			d = math.Max(d, math.Abs(float64(got[q*dim+a])-float64(want[q*dim+a])))
		}
		worst = math.Max(worst, d)
		if !(d <= tol) {
			far++
		}
	}
	return far, worst
}

// compareModes checks GPU modes against reference modes (both scaled units,
// M×dim): at least 99 % of the modes agree within tol on every axis, and
// merging them (MergeModes, radius 0.5 bandwidths as MeanShift's default)
// gives the same partition, adjusted Rand ≥ 0.99.
func compareModes(t *testing.T, what string, got, want []float32, dim int, tol float64) {
	t.Helper()
	m := len(want) / dim
	far, worst := modeGap(got, want, dim, tol)
	lg, _, _ := MergeModes(got, dim, 0.5)
	lw, _, _ := MergeModes(want, dim, 0.5)
	ari := AdjustedRand(toInt(lg), toInt(lw))
	t.Logf("%s: %d modes, %d farther than %g (worst %.3g), merged ARI %.5f", what, m, far, tol, worst, ari)
	if float64(far) > 0.01*float64(m) {
		t.Errorf("%s: %d of %d modes differ by more than %g bandwidths (worst %.3g)", what, far, m, tol, worst)
	}
	if ari < 0.99 {
		t.Errorf("%s: merged partition ARI %.5f < 0.99", what, ari)
	}
}

// TestCUDAShiftMatchesGrid runs the CUDA variants and the CPU Grid backend
// (exact search: path reuse off) from the same seeds on random uniform and
// blob data and compares the converged modes: ≥ 99 % within 0.01 bandwidths
// (the float32 kernels converge to Tol = 1e-4) and the same merged
// partition. -short uses 1000 instead of 4000 points per set (same
// density).
func TestCUDAShiftMatchesGrid(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	n := 4000
	if testing.Short() {
		n = 1000
	}
	bp, _, _ := blobs(rng, n, 6, 3)
	bw := []float64{3, 3, 3, 150, 0.15}
	sets := []struct {
		name string
		pts  []float32
		dim  int
	}{
		{"uniform-5d", uniformPoints(rng, n, 5, 10*math.Pow(float64(n)/4000, 0.2)), 5},
		{"blobs-5d", scaleBy(bp, bw), 5},
		{"lunglike-5d", scaleBy(lungLike(3*n/2, 3), bw), 5},
		{"uniform-3d", uniformPoints(rng, 3*n/4, 3, 12*math.Cbrt(float64(n)/4000)), 3},
	}
	for _, c := range cudaVariants(t) {
		for _, s := range sets {
			opt := Options{Tol: 1e-4, Reuse: -1}.WithDefaults()
			ref := append([]float32(nil), s.pts...)
			if _, err := (Grid{}).Shift(s.pts, s.dim, ref, opt); err != nil {
				t.Fatal(err)
			}
			got := append([]float32(nil), s.pts...)
			it, err := c.Shift(s.pts, s.dim, got, opt)
			if err != nil {
				t.Fatalf("%s %s: %v", c.Name(), s.name, err)
			}
			if it < 2 || it > opt.MaxIter {
				t.Errorf("%s %s: %d iterations", c.Name(), s.name, it)
			}
			compareModes(t, c.Name()+" "+s.name, got, ref, s.dim, 0.01)
		}
	}
}

// TestCUDAWeightsAndDims compares the CUDA variants' exact searches with
// the float64 BruteForce reference on small weighted sets in 1, 2, 4, 7 and
// 8 dimensions (every kernel instantiation but 3 and 5, which
// TestCUDAShiftMatchesGrid covers), truncation radius 2.5, and the grid
// variant's path-assisted search with the CPU's (same partition).
func TestCUDAWeightsAndDims(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	for _, c := range cudaVariants(t) {
		for _, dim := range []int{1, 2, 4, 7, 8} {
			n := 1500
			pts := uniformPoints(rng, n, dim, 8)
			w := make([]float32, n)
			for i := range w {
				w[i] = float32(0.2 + rng.Float64())
			}
			opt := Options{Tol: 1e-5, Truncate: 2.5, Weights: w, Reuse: -1}.WithDefaults()
			ref := append([]float32(nil), pts...)
			if _, err := (BruteForce{}).Shift(pts, dim, ref, opt); err != nil {
				t.Fatal(err)
			}
			got := append([]float32(nil), pts...)
			if _, err := c.Shift(pts, dim, got, opt); err != nil {
				t.Fatalf("%s dim %d: %v", c.Name(), dim, err)
			}
			compareModes(t, fmt.Sprintf("%s dim=%d weighted", c.Name(), dim), got, ref, dim, 0.01)
			if !c.grid {
				continue
			}
			// The path-assisted search (the grid default) with weights:
			// the same partition as the CPU's path-assisted search.
			opt.Reuse = 0.1
			cpu := append([]float32(nil), pts...)
			if _, err := (Grid{}).Shift(pts, dim, cpu, opt); err != nil {
				t.Fatal(err)
			}
			gpu := append([]float32(nil), pts...)
			if _, err := c.Shift(pts, dim, gpu, opt); err != nil {
				t.Fatalf("%s dim %d path-assisted: %v", c.Name(), dim, err)
			}
			lc, _, _ := MergeModes(cpu, dim, 0.5)
			lg, _, _ := MergeModes(gpu, dim, 0.5)
			ari := AdjustedRand(toInt(lc), toInt(lg))
			t.Logf("%s dim=%d weighted, path-assisted: ARI vs CPU path-assisted %.5f", c.Name(), dim, ari)
			if ari < 0.99 {
				t.Errorf("%s dim=%d weighted, path-assisted: ARI vs CPU %.5f < 0.99", c.Name(), dim, ari)
			}
		}
	}
}

// TestCUDAMeanShift runs the whole MeanShift (bin seeding, merge, labels)
// with the CUDA backends and the default CPU Grid on blob and lung-like
// data: the partitions must agree (ARI ≥ 0.99), blobs must be recovered
// exactly, and the centres of the clusters holding ≥ 1 % of the points
// must match within 0.05 bandwidths on every axis. -short uses fewer points
// (the sizes matter only for CPU emulation; a GPU runs either in well under
// a second).
func TestCUDAMeanShift(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	nb, nl := 6000, 20000
	if testing.Short() {
		nb, nl = 1200, 3000
	}
	bp, truth, _ := blobs(rng, nb, 6, 3)
	bw := []float64{3, 3, 3, 150, 0.15}
	sets := []struct {
		name  string
		pts   []float32
		truth []int
		bin   float64
	}{
		{"blobs", bp, truth, 0},
		{"lunglike", lungLike(nl, 1), nil, 0.5},
	}
	for _, c := range cudaVariants(t) {
		for _, s := range sets {
			cpu, err := MeanShift(s.pts, 5, Options{Bandwidth: bw, BinSize: s.bin})
			if err != nil {
				t.Fatal(err)
			}
			gpu, err := MeanShift(s.pts, 5, Options{Bandwidth: bw, BinSize: s.bin, Backend: c})
			if err != nil {
				t.Fatalf("%s %s: %v", c.Name(), s.name, err)
			}
			if gpu.Backend != c.Name() {
				t.Errorf("Result.Backend %q, want %q", gpu.Backend, c.Name())
			}
			ari := AdjustedRand(toInt(cpu.Labels), toInt(gpu.Labels))
			t.Logf("%s %s: K cpu %d gpu %d, ARI %.5f, iters cpu %d gpu %d", c.Name(), s.name, cpu.K(), gpu.K(), ari, cpu.Iters, gpu.Iters)
			if ari < 0.99 {
				t.Errorf("%s %s: ARI vs CPU %.5f < 0.99", c.Name(), s.name, ari)
			}
			if s.truth != nil {
				if a := AdjustedRand(s.truth, toInt(gpu.Labels)); a != 1 {
					t.Errorf("%s %s: ARI vs truth %.5f, want 1", c.Name(), s.name, a)
				}
			}
			// Big clusters: match each CPU centre to the nearest GPU centre.
			n := len(s.pts) / 5
			for k := 0; k < cpu.K() && cpu.Sizes[k]*100 >= n; k++ {
				best := math.Inf(1)
				for j := 0; j < gpu.K(); j++ {
					d := 0.0
					for a := 0; a < 5; a++ {
						d = math.Max(d, math.Abs(float64(cpu.Centers[k*5+a]-gpu.Centers[j*5+a]))/bw[a])
					}
					best = math.Min(best, d)
				}
				if best > 0.05 {
					t.Errorf("%s %s: CPU cluster %d (size %d) has no GPU centre within 0.05 bandwidths (nearest %.3g)", c.Name(), s.name, k, cpu.Sizes[k], best)
				}
			}
		}
	}
}

// TestCUDADeterministicAndFewModes checks that the tiled variants give
// bit-identical modes on a repeated run (a mode's sums do not depend on
// which modes share its block or warp), and that a handful of modes over
// many points (the brute kernel then splits the points over thousands of
// blocks) converge to the same modes as the float64 BruteForce reference.
func TestCUDADeterministicAndFewModes(t *testing.T) {
	bw := []float64{3, 3, 3, 150, 0.15}
	pts := scaleBy(lungLike(20000, 4), bw)
	opt := Options{Tol: 1e-4, Reuse: -1}.WithDefaults()
	for _, c := range cudaVariants(t)[:2] {
		a := append([]float32(nil), pts...)
		b := append([]float32(nil), pts...)
		if _, err := c.Shift(pts, 5, a, opt); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Shift(pts, 5, b, opt); err != nil {
			t.Fatal(err)
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s: run 2 differs at value %d: %g vs %g", c.Name(), i, a[i], b[i])
			}
		}
		// 7 modes from every 2857th point.
		var few []float32
		for q := 0; q < 7; q++ {
			few = append(few, pts[q*2857*5:q*2857*5+5]...)
		}
		ref := append([]float32(nil), few...)
		if _, err := (BruteForce{}).Shift(pts, 5, ref, opt); err != nil {
			t.Fatal(err)
		}
		got := append([]float32(nil), few...)
		if _, err := c.Shift(pts, 5, got, opt); err != nil {
			t.Fatal(err)
		}
		compareModes(t, c.Name()+" 7 modes", got, ref, 5, 0.01)
	}
}

// TestCUDAReuse checks the path-assisted search of the grid variant (the
// default, Options.Reuse = 0.1): on lung-like points its merged partition
// matches the CPU Grid's path-assisted search, the GPU exact search matches
// the CPU's exact one (adjusted Rand ≥ 0.99 each), at full size the
// path-assisted partition also matches the exact one (≥ 0.99; with -short's
// 6,000 points the CPU's own searches agree only at 0.86), and a repeated
// run gives bit-identical modes. (The largest step count is logged, not
// checked: on lung-like data both searches have modes that run to MaxIter.)
func TestCUDAReuse(t *testing.T) {
	c := cudaOrSkip(t, true)
	bw := []float64{3, 3, 3, 150, 0.15}
	n := 30000
	if testing.Short() {
		n = 6000
	}
	pts := scaleBy(lungLike(n, 6), bw)
	def := Options{}.WithDefaults()
	exact := def
	exact.Reuse = -1
	run := func(be Backend, opt Options) ([]float32, int) {
		modes := append([]float32(nil), pts...)
		it, err := be.Shift(pts, 5, modes, opt)
		if err != nil {
			t.Fatalf("%s: %v", be.Name(), err)
		}
		return modes, it
	}
	gr, itR := run(c, def)
	gr2, _ := run(c, def)
	for i := range gr {
		if gr[i] != gr2[i] {
			t.Fatalf("path-assisted run 2 differs at value %d: %g vs %g", i, gr[i], gr2[i])
		}
	}
	ge, itE := run(c, exact)
	cr, _ := run(Grid{}, def)
	ce, _ := run(Grid{}, exact)
	part := func(m []float32) []int { l, _, _ := MergeModes(m, 5, 0.5); return toInt(l) }
	pr, pe, pc, pce := part(gr), part(ge), part(cr), part(ce)
	aE, aC, aX := AdjustedRand(pr, pe), AdjustedRand(pr, pc), AdjustedRand(pe, pce)
	t.Logf("%d points: GPU path-assisted vs CPU path-assisted ARI %.5f, GPU exact vs CPU exact %.5f, GPU path-assisted vs GPU exact %.5f; max steps %d vs exact %d", n, aC, aX, aE, itR, itE)
	if aC < 0.99 || aX < 0.99 {
		t.Errorf("GPU vs CPU: ARI %.5f path-assisted, %.5f exact; want ≥ 0.99", aC, aX)
	}
	if !testing.Short() && aE < 0.99 {
		t.Errorf("path-assisted vs exact partition: ARI %.5f; want ≥ 0.99", aE)
	}
}

// TestCUDAArgs checks the argument errors and the empty cases.
func TestCUDAArgs(t *testing.T) {
	c := cudaOrSkip(t, true)
	opt := Options{}.WithDefaults()
	if _, err := c.Shift(make([]float32, 18), 9, make([]float32, 9), opt); !errors.Is(err, ErrInput) {
		t.Errorf("dim 9: %v, want ErrInput", err)
	}
	o2 := opt
	o2.Weights = []float32{1}
	if _, err := c.Shift(make([]float32, 10), 5, make([]float32, 5), o2); !errors.Is(err, ErrInput) {
		t.Errorf("1 weight for 2 points: %v, want ErrInput", err)
	}
	if _, err := c.Shift(make([]float32, 7), 5, nil, opt); !errors.Is(err, ErrInput) {
		t.Errorf("7 values for dim 5: %v, want ErrInput", err)
	}
	if it, err := c.Shift(nil, 5, nil, opt); it != 0 || err != nil {
		t.Errorf("empty: %d %v", it, err)
	}
	// A lone mode far from every point stays put (no point in radius).
	modes := []float32{100, 100, 100, 100, 100}
	if _, err := c.Shift(make([]float32, 10), 5, modes, opt); err != nil || modes[0] != 100 {
		t.Errorf("isolated mode: %v %v", modes, err)
	}
}

// TestCUDASelectBackend checks that a lungcuda build with a GPU selects the
// grid variant for "cuda" and "auto".
func TestCUDASelectBackend(t *testing.T) {
	cudaOrSkip(t, true)
	for _, d := range []string{"cuda", "gpu", "auto", ""} {
		b, note, err := SelectBackend(d)
		if err != nil || b.Name() != "cuda-grid" || note != "" {
			t.Errorf("%q: %v %q %v", d, b, note, err)
		}
	}
	if b, _, err := SelectBackend("cpu"); err != nil || b.Name() != "grid" {
		t.Errorf("cpu: %v %v", b, err)
	}
}

// flopsPerPair is the floating-point work the brute kernel executes for
// every (mode, point) pair whatever the distance, for dim D: the tiled
// kernel (expanded form) does D fused multiply-adds = 2·D flops. Pairs
// inside the truncation radius do more (exp, weight, D+1 sums), not
// counted: the GFLOP/s reported is a lower bound of the work done.
func flopsPerPair(dim int) float64 { return float64(2 * dim) }

// BenchmarkCUDAShift times the mode search (Backend.Shift, one search per
// point, no bin seeding) on lung-like 5-D data scaled by bandwidths
// (3, 3, 3 mm, 150 HU, 0.15) for the CPU Grid backend (default options,
// path reuse on), the CPU Grid exact search (reuse off), and the CUDA
// variants (the grid variant both path-assisted, its default, and exact;
// at N ≥ 1e5 also the brute variant's 8-modes-per-thread experiment,
// cuda-brute-mpt8). At N = 1e6 the brute variants run 3 steps only
// (maxiter=3 in the name; a full search would take minutes) and are there
// for GFLOP/s. Reported metrics: maxiters, and for the brute variants
// pairs/s, GFLOP/s (flopsPerPair) and %peak (of PeakFLOPS).
func BenchmarkCUDAShift(b *testing.B) {
	bw := []float64{3, 3, 3, 150, 0.15}
	for _, n := range []int{10000, 100000, 1000000} {
		pts := scaleBy(lungLike(n, 1), bw)
		label := fmt.Sprintf("N=1e%d", int(math.Round(math.Log10(float64(n)))))
		run := func(name string, be Backend, opt Options) {
			b.Run(name+"/"+label, func(b *testing.B) {
				opt = opt.WithDefaults()
				modes := make([]float32, len(pts))
				var it int
				var pairs int64
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					copy(modes, pts)
					b.StartTimer()
					var err error
					if it, err = be.Shift(pts, 5, modes, opt); err != nil {
						b.Fatal(err)
					}
					if c, ok := be.(*CUDA); ok {
						pairs += c.lastPairs()
					}
				}
				b.ReportMetric(float64(it), "maxiters")
				if c, ok := be.(*CUDA); ok && pairs > 0 {
					sec := b.Elapsed().Seconds()
					flops := float64(pairs) * flopsPerPair(5) / sec
					b.ReportMetric(float64(pairs)/sec, "pairs/s")
					b.ReportMetric(flops/1e9, "GFLOP/s")
					b.ReportMetric(100*flops/c.PeakFLOPS(), "%peak")
				}
			})
		}
		run("cpu-grid", Grid{}, Options{})
		if n <= 100000 || !testing.Short() {
			run("cpu-grid-exact", Grid{}, Options{Reuse: -1})
		}
		vs := cudaVariants(b)
		for _, c := range vs {
			switch {
			case !c.grid && n >= 1000000:
				x8 := &CUDA{d: c.d, mpt8: true}
				run(c.Name()+"-maxiter=3", c, Options{MaxIter: 3})
				run(x8.Name()+"-maxiter=3", x8, Options{MaxIter: 3})
			case !c.grid && n == 100000:
				// 3 steps with every mode moving (the kernel's rate), and
				// the whole search (its tail has few moving modes); the
				// same for the 8-modes-per-thread experiment.
				x8 := &CUDA{d: c.d, mpt8: true}
				run(c.Name()+"-maxiter=3", c, Options{MaxIter: 3})
				run(c.Name(), c, Options{})
				run(x8.Name()+"-maxiter=3", x8, Options{MaxIter: 3})
				run(x8.Name(), x8, Options{})
			default:
				run(c.Name(), c, Options{}) // path-assisted, like cpu-grid
				run(c.Name()+"-exact", c, Options{Reuse: -1})
			}
		}
	}
}

// TestCUDABruteMPT8 checks the benchmark's experiment kernel
// (ms_brute2x8_5, 8 modes per thread; GPU only) against the brute variant:
// modes within 0.01 bandwidths, the same merged partition.
func TestCUDABruteMPT8(t *testing.T) {
	c := cudaOrSkip(t, false)
	x8 := &CUDA{d: c.d, mpt8: true}
	pts := scaleBy(lungLike(12000, 8), []float64{3, 3, 3, 150, 0.15})
	opt := Options{Tol: 1e-4, Reuse: -1}.WithDefaults()
	ref := append([]float32(nil), pts...)
	if _, err := c.Shift(pts, 5, ref, opt); err != nil {
		t.Fatal(err)
	}
	got := append([]float32(nil), pts...)
	if _, err := x8.Shift(pts, 5, got, opt); err != nil {
		t.Fatal(err)
	}
	compareModes(t, x8.Name(), got, ref, 5, 0.01)
}

// TestCUDAAcceptsScale checks (no GPU needed) that both variants accept
// per-point scales (CheckOptions), so that cluster.Auto keeps the GPU
// backend for them, and that Shift refuses bad scales with ErrInput before
// touching the device.
func TestCUDAAcceptsScale(t *testing.T) {
	scale := []float32{1, 2, 1}
	for _, c := range []*CUDA{{grid: true}, {grid: false}} {
		if err := c.CheckOptions(Options{Scale: scale}); err != nil {
			t.Errorf("%s: per-point scales refused: %v", c.Name(), err)
		}
		b, note := cluster.Auto{Preferred: c}.Resolve(Options{Scale: scale})
		if b != Backend(c) || note != "" {
			t.Errorf("%s: Auto picked %s, note %q", c.Name(), b.Name(), note)
		}
		pts := make([]float32, 15)
		for _, o := range []Options{{Scale: []float32{1, 2}}, {Scale: []float32{1, 0, 2}}, {Scale: scale, ScaledAxes: 6}} {
			if _, err := c.Shift(pts, 5, make([]float32, 5), o.WithDefaults()); !errors.Is(err, ErrInput) {
				t.Errorf("%s: scales %v axes %d: %v, want ErrInput", c.Name(), o.Scale, o.ScaledAxes, err)
			}
		}
	}
}
