//go:build lungcuda

package cuda

// GPU tests of scale-adaptive mean shift (Options.Scale). They need a CUDA
// device and are skipped without one (cudaVariants, cudaOrSkip): on a
// machine without a GPU they pass vacuously; only a GPU run (for instance
// scripts/gpu-check.sh) can make them fail. prep_test.go checks the host
// side and the kernels' arithmetic (in Go) without a GPU.

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/lungctl/lungctl/internal/cluster/clustertest"
)

// multiScaleLabelled is clustertest.MultiScale scaled by detect's bandwidth
// (4 mm, 200 HU, 0.2) with a weight per point (1, 2, 3, …): fine lung-like
// points at scale 1 and big blobs at scales 2, 4 and 8.
func multiScaleLabelled(nf, perLevel int, seed int64) (pts, scale, wt []float32) {
	raw, scale := clustertest.MultiScale(nf, perLevel, seed)
	pts = scaleBy(raw, detectBW)
	wt = make([]float32, len(scale))
	for i := range wt {
		wt[i] = 1 + float32(i%3)
	}
	return pts, scale, wt
}

// sameModes checks GPU modes against reference modes (scaled units, base
// bandwidth): every mode within tol on every axis and the same merged
// partition (MergeModes at 0.5 bandwidths: the same cluster count and
// adjusted Rand index 1).
func sameModes(t *testing.T, what string, got, want []float32, dim int, tol float64) {
	t.Helper()
	far, worst := modeGap(got, want, dim, tol)
	lg, _, sg := MergeModes(got, dim, 0.5)
	lw, _, sw := MergeModes(want, dim, 0.5)
	ari := AdjustedRand(toInt(lg), toInt(lw))
	t.Logf("%s: %d modes, worst %.3g bandwidths, %d farther than %g; clusters %d vs %d, ARI %.6f", what, len(want)/dim, worst, far, tol, len(sg), len(sw), ari)
	if far > 0 {
		t.Errorf("%s: %d modes farther than %g bandwidths from the reference (worst %.3g)", what, far, tol, worst)
	}
	if len(sg) != len(sw) || ari != 1 {
		t.Errorf("%s: %d clusters vs %d, ARI %.6f; want the same partition", what, len(sg), len(sw), ari)
	}
}

// TestCUDAScaleMatchesGrid: exact searches (Reuse < 0) of both CUDA
// variants with per-point scales (1, 2, 4, 8; weighted) give the CPU Grid
// exact search's partition with every mode within 0.01 bandwidths; the
// grid variant's path-assisted search (the default) matches the CPU Grid's
// path-assisted partition with ARI ≥ 0.99 and repeats bit for bit.
func TestCUDAScaleMatchesGrid(t *testing.T) {
	nf := 20000
	if testing.Short() {
		nf = 4000
	}
	pts, scale, wt := multiScaleLabelled(nf, 4, 3)
	const dim = 5
	exact := Options{Tol: 1e-4, Reuse: -1, Scale: scale, ScaledAxes: 3, Weights: wt}.WithDefaults()
	ref := append([]float32(nil), pts...)
	if _, err := (Grid{}).Shift(pts, dim, ref, exact); err != nil {
		t.Fatal(err)
	}
	for _, c := range cudaVariants(t) {
		got := append([]float32(nil), pts...)
		if _, err := c.Shift(pts, dim, got, exact); err != nil {
			t.Fatalf("%s: %v", c.Name(), err)
		}
		sameModes(t, c.Name()+" exact, multi-scale", got, ref, dim, 0.01)
	}
	c := cudaOrSkip(t, true)
	def := exact
	def.Reuse = 0.1
	run := func(be Backend) []float32 {
		modes := append([]float32(nil), pts...)
		if _, err := be.Shift(pts, dim, modes, def); err != nil {
			t.Fatalf("%s: %v", be.Name(), err)
		}
		return modes
	}
	g1, g2, cpu := run(c), run(c), run(Grid{})
	for i := range g1 {
		if g1[i] != g2[i] {
			t.Fatalf("path-assisted, multi-scale: run 2 differs at value %d: %g vs %g", i, g1[i], g2[i])
		}
	}
	part := func(m []float32) []int { l, _, _ := MergeModes(m, dim, 0.5); return toInt(l) }
	ari := AdjustedRand(part(g1), part(cpu))
	t.Logf("path-assisted, multi-scale, %d points: ARI vs CPU path-assisted %.6f", len(scale), ari)
	if ari < 0.99 {
		t.Errorf("path-assisted, multi-scale: ARI vs CPU %.5f < 0.99", ari)
	}
}

// TestCUDAScaleDims covers the other kernel instantiations with scales:
// dims 2, 3 and 8, scaled axes 1, 2 and all, three scale values (1, 1.5,
// 3), weights, truncation 2.5, against the float64 BruteForce reference
// (exact searches: same partition, modes within 0.01 bandwidths).
func TestCUDAScaleDims(t *testing.T) {
	rng := rand.New(rand.NewSource(21))
	for _, tc := range []struct{ dim, m int }{{2, 1}, {3, 2}, {8, 8}, {8, 3}} {
		n := 900
		pts := uniformPoints(rng, n, tc.dim, 6.4)
		scale := make([]float32, n)
		w := make([]float32, n)
		for i := range scale {
			scale[i] = []float32{1, 1.5, 3}[rng.Intn(3)]
			w[i] = float32(0.5 + rng.Float64())
		}
		opt := Options{Tol: 1e-5, Truncate: 2.5, Reuse: -1, Scale: scale, ScaledAxes: tc.m, Weights: w}.WithDefaults()
		ref := append([]float32(nil), pts...)
		if _, err := (BruteForce{}).Shift(pts, tc.dim, ref, opt); err != nil {
			t.Fatal(err)
		}
		for _, c := range cudaVariants(t) {
			got := append([]float32(nil), pts...)
			if _, err := c.Shift(pts, tc.dim, got, opt); err != nil {
				t.Fatalf("%s dim %d: %v", c.Name(), tc.dim, err)
			}
			sameModes(t, fmt.Sprintf("%s dim=%d m=%d", c.Name(), tc.dim, tc.m), got, ref, tc.dim, 0.01)
		}
	}
}

// TestCUDAScaleMeanShift runs the whole MeanShift with scales through the
// CUDA backends, "auto" included (it must keep the GPU now, with no note),
// on the detector's setting (bandwidth 4 mm, 200 HU, 0.2; scales 1…8): the
// labels match the CPU's run of the same search — exact searches (Reuse
// < 0, and cuda-brute always) the CPU exact partition identically, the
// grid variant's default path-assisted search the CPU's path-assisted one
// with ARI ≥ 0.99.
func TestCUDAScaleMeanShift(t *testing.T) {
	raw, scale := clustertest.MultiScale(8000, 3, 9)
	cpu := map[bool]*Result{} // by exact
	for _, exact := range []bool{true, false} {
		reuse := 0.0
		if exact {
			reuse = -1
		}
		r, err := MeanShift(raw, 5, Options{Bandwidth: detectBW, Scale: scale, Reuse: reuse})
		if err != nil {
			t.Fatal(err)
		}
		cpu[exact] = r
	}
	auto, _, err := SelectBackend("auto")
	if err != nil {
		t.Fatal(err)
	}
	for _, reuse := range []float64{-1, 0} {
		for _, be := range append([]Backend{auto}, asBackends(cudaVariants(t))...) {
			gpu, err := MeanShift(raw, 5, Options{Bandwidth: detectBW, Scale: scale, Reuse: reuse, Backend: be})
			if err != nil {
				t.Fatalf("%s: %v", be.Name(), err)
			}
			exact := reuse < 0 || gpu.Backend == "cuda-brute"
			ref := cpu[exact]
			ari := AdjustedRand(toInt(ref.Labels), toInt(gpu.Labels))
			t.Logf("%s reuse %g (exact %v): K cpu %d gpu %d, ARI %.6f, backend %s, note %q", be.Name(), reuse, exact, ref.K(), gpu.K(), ari, gpu.Backend, gpu.Note)
			if gpu.Backend == "grid" || gpu.Note != "" {
				t.Errorf("%s: ran %s (note %q): the GPU backend must keep per-point scales", be.Name(), gpu.Backend, gpu.Note)
			}
			if exact && (ari != 1 || gpu.K() != ref.K()) {
				t.Errorf("%s exact: K %d vs %d, ARI %.6f; want the CPU's partition", be.Name(), gpu.K(), ref.K(), ari)
			}
			if ari < 0.99 {
				t.Errorf("%s reuse %g: ARI vs CPU %.5f < 0.99", be.Name(), reuse, ari)
			}
		}
	}
}

// TestCUDASmallAllKernels runs every kernel path once on little data, for
// scripts/gpu-check.sh's compute-sanitizer pass (memcheck, racecheck): the
// brute kernels with and without scales and the 8-modes-per-thread
// experiment, ms_grid2 (warp and point-parallel paths) and the
// path-assisted search (ms_searchb in the small rounds, ms_search after
// them) with scales, each against the CPU Grid (ARI ≥ 0.99).
func TestCUDASmallAllKernels(t *testing.T) {
	pts, scale, wt := multiScaleLabelled(1200, 1, 5)
	const dim = 5
	vs := cudaVariants(t)
	part := func(m []float32) []int { l, _, _ := MergeModes(m, dim, 0.5); return toInt(l) }
	for _, tc := range []struct {
		name  string
		be    Backend
		scale []float32
		reuse float64
	}{
		{"brute", vs[0], nil, -1},
		{"brute-mpt8", &CUDA{d: vs[0].d, mpt8: true}, nil, -1},
		{"brute scaled", vs[0], scale, -1},
		{"grid exact scaled", vs[1], scale, -1},
		{"grid path-assisted scaled", vs[1], scale, 0.1},
		{"grid path-assisted", vs[1], nil, 0.1},
	} {
		opt := Options{Tol: 1e-4, Reuse: tc.reuse, Scale: tc.scale, Weights: wt}.WithDefaults()
		ref := append([]float32(nil), pts...)
		if _, err := (Grid{}).Shift(pts, dim, ref, opt); err != nil {
			t.Fatal(err)
		}
		got := append([]float32(nil), pts...)
		if _, err := tc.be.Shift(pts, dim, got, opt); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		ari := AdjustedRand(part(got), part(ref))
		t.Logf("%s: ARI vs CPU %.6f", tc.name, ari)
		if ari < 0.99 {
			t.Errorf("%s: ARI vs CPU %.5f < 0.99", tc.name, ari)
		}
	}
}

func asBackends(cs []*CUDA) []Backend {
	out := make([]Backend, len(cs))
	for i, c := range cs {
		out[i] = c
	}
	return out
}

// BenchmarkCUDAShiftScale times the mode search (Backend.Shift, one search
// per point) on multi-scale data of N points: lung-like points at scale 1
// and ~10 % of the points in blobs at scales 2, 4, 8 (clustertest.
// MultiScale), detect's bandwidth, for the CPU Grid (path-assisted default
// and exact) and the CUDA grid variant (path-assisted default and exact).
// The brute variant runs at N = 1e4 only (a full search at 1e5 takes
// seconds). Reported: maxiters.
func BenchmarkCUDAShiftScale(b *testing.B) {
	for _, n := range []int{10000, 100000, 1000000} {
		per := max(1, n/3400) // ≈ 113 points a blob, 3 levels
		raw, scale := clustertest.MultiScale(n-3*113*per, per, 1)
		pts := scaleBy(raw, detectBW)
		label := fmt.Sprintf("N=1e%d", int(math.Round(math.Log10(float64(n)))))
		run := func(name string, be Backend, opt Options) {
			b.Run(name+"/"+label, func(b *testing.B) {
				opt.Scale, opt.ScaledAxes = scale, 3
				opt = opt.WithDefaults()
				modes := make([]float32, len(pts))
				var it int
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					copy(modes, pts)
					b.StartTimer()
					var err error
					if it, err = be.Shift(pts, 5, modes, opt); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(it), "maxiters")
			})
		}
		run("cpu-grid", Grid{}, Options{})
		run("cpu-grid-exact", Grid{}, Options{Reuse: -1})
		for _, c := range cudaVariants(b) {
			if !c.grid {
				if n == 10000 {
					run(c.Name(), c, Options{})
				}
				continue
			}
			run(c.Name(), c, Options{})
			run(c.Name()+"-exact", c, Options{Reuse: -1})
		}
	}
}
