package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/cluster/clustertest"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/pyref"
)

// Shared synthetic data (package clustertest).
var (
	blobs    = clustertest.Blobs
	lungLike = clustertest.LungLike
	toInt    = clustertest.ToInt
)

func TestAdjustedRandHandComputed(t *testing.T) {
	// Contingency [[2,1,0],[0,1,2]]: Σ C(nij,2)=2, rows 6, cols 3, C(6,2)=15:
	// (2 − 6·3/15)/((6+3)/2 − 6·3/15) = 0.8/3.3.
	a := []int{0, 0, 0, 1, 1, 1}
	b := []int{0, 0, 1, 1, 2, 2}
	if got, want := AdjustedRand(a, b), 0.8/3.3; math.Abs(got-want) > 1e-12 {
		t.Errorf("ARI = %.12f want %.12f", got, want)
	}
	if got := AdjustedRand(a, []int{7, 7, 7, 3, 3, 3}); got != 1 {
		t.Errorf("relabelled identical partition: ARI %g want 1", got)
	}
	// [[1,1],[1,1]]: Σ nij C2 = 0, rows 2, cols 2, C(4,2)=6: (0−4/6)/(2−4/6) = −0.5.
	if got := AdjustedRand([]int{0, 0, 1, 1}, []int{0, 1, 0, 1}); math.Abs(got+0.5) > 1e-12 {
		t.Errorf("ARI = %g want −0.5", got)
	}
	if !math.IsNaN(AdjustedRand([]int{1}, []int{1, 2})) {
		t.Error("length mismatch not NaN")
	}
}

func TestAdjustedRandAgainstSklearn(t *testing.T) {
	if testing.Short() {
		t.Skip("python cross-check: skipped with -short")
	}
	python := pyref.Python(t, "sklearn", "numpy")
	rng := rand.New(rand.NewSource(3))
	a := make([]int, 300)
	b := make([]int, 300)
	var sa, sb []string
	for i := range a {
		a[i] = rng.Intn(4)
		b[i] = a[i]
		if rng.Float64() < 0.3 {
			b[i] = rng.Intn(5)
		}
		sa = append(sa, strconv.Itoa(a[i]))
		sb = append(sb, strconv.Itoa(b[i]))
	}
	py := fmt.Sprintf("from sklearn.metrics import adjusted_rand_score as f; print(repr(f([%s],[%s])))",
		strings.Join(sa, ","), strings.Join(sb, ","))
	out, err := exec.Command(python, "-c", py).Output()
	if err != nil {
		t.Fatal(err)
	}
	want, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatal(err)
	}
	if got := AdjustedRand(a, b); math.Abs(got-want) > 1e-12 {
		t.Errorf("ARI %g, sklearn %g", got, want)
	}
}

func TestBlobsRecovered(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	pts, truth, centres := blobs(rng, 3000, 6, 2)
	res, err := MeanShift(pts, 5, Options{Bandwidth: []float64{4, 4, 4, 100, 0.2}})
	if err != nil {
		t.Fatal(err)
	}
	if res.K() != 6 {
		t.Fatalf("%d clusters (sizes %v), want 6", res.K(), res.Sizes)
	}
	if ari := AdjustedRand(truth, toInt(res.Labels)); ari != 1 {
		t.Errorf("ARI vs truth %g want 1", ari)
	}
	for c := 0; c < res.K(); c++ {
		best := math.Inf(1)
		for _, z := range centres {
			var d float64
			for a := 0; a < 3; a++ {
				d += (float64(res.Centers[c*5+a]) - z[a]) * (float64(res.Centers[c*5+a]) - z[a])
			}
			best = math.Min(best, math.Sqrt(d))
		}
		// 500 points, sd 2 mm: the mode is within ~0.5 mm of the true centre.
		if best > 0.7 {
			t.Errorf("cluster %d centre %v is %.2f mm from every true centre", c, res.Centers[c*5:c*5+5], best)
		}
		if res.Sizes[c] != 500 {
			t.Errorf("cluster %d has %d points want 500", c, res.Sizes[c])
		}
	}
}

func TestGridMatchesBruteForce(t *testing.T) {
	for _, tc := range []struct {
		name string
		pts  []float32
		bw   []float64
	}{
		{"uniform", func() []float32 {
			rng := rand.New(rand.NewSource(7))
			p := make([]float32, 5*600)
			for i := range p {
				p[i] = float32(rng.Float64() * 10)
			}
			return p
		}(), []float64{1.5, 1.5, 1.5, 2, 2}},
		{"lunglike", lungLike(1000, 2), []float64{4, 4, 4, 150, 0.15}},
		{"3d", func() []float32 {
			rng := rand.New(rand.NewSource(8))
			p, _, _ := blobs(rng, 600, 3, 3)
			q := make([]float32, 0, 600*3)
			for i := 0; i < 600; i++ {
				q = append(q, p[i*5:i*5+3]...)
			}
			return q
		}(), []float64{3, 3, 3}},
	} {
		dim := len(tc.bw)
		// Exact grid search (no path reuse): same clusters as the reference.
		g, err := MeanShift(tc.pts, dim, Options{Bandwidth: tc.bw, Reuse: -1})
		if err != nil {
			t.Fatal(err)
		}
		b, err := MeanShift(tc.pts, dim, Options{Bandwidth: tc.bw, Backend: BruteForce{}})
		if err != nil {
			t.Fatal(err)
		}
		// Default, path-assisted search: nearly the same partition.
		pa, err := MeanShift(tc.pts, dim, Options{Bandwidth: tc.bw})
		if err != nil {
			t.Fatal(err)
		}
		if ari := AdjustedRand(toInt(pa.Labels), toInt(b.Labels)); ari < 0.99 {
			t.Errorf("%s: path-assisted grid %d clusters vs brute %d, ARI %.4f < 0.99", tc.name, pa.K(), b.K(), ari)
		} else {
			t.Logf("%s: path-assisted grid %d clusters (%d iters) vs brute: ARI %.4f", tc.name, pa.K(), pa.Iters, ari)
		}
		ari := AdjustedRand(toInt(g.Labels), toInt(b.Labels))
		t.Logf("%s: grid %d clusters (%d iters), brute %d clusters (%d iters), ARI %.6f", tc.name, g.K(), g.Iters, b.K(), b.Iters, ari)
		if g.K() < 2 {
			t.Errorf("%s: only %d cluster(s): the comparison would be vacuous", tc.name, g.K())
		}
		if g.K() != b.K() || ari < 0.999 {
			t.Errorf("%s: grid %d clusters vs brute %d, ARI %g", tc.name, g.K(), b.K(), ari)
		}
		// Same centres (in bandwidth units) for the matched clusters.
		if g.K() == b.K() {
			for c := 0; c < g.K(); c++ {
				var d float64
				for a := 0; a < dim; a++ {
					x := (float64(g.Centers[c*dim+a]) - float64(b.Centers[c*dim+a])) / tc.bw[a]
					d += x * x
				}
				if math.Sqrt(d) > 0.02 {
					t.Errorf("%s: centre %d differs by %.4f bandwidths", tc.name, c, math.Sqrt(d))
				}
			}
		}
	}
}

// TestBinSeedingAgrees checks that bin seeding (one search per occupied
// half-bandwidth bin) gives nearly the same partition as per-point seeding
// on lung-like data.
func TestBinSeedingAgrees(t *testing.T) {
	pts := lungLike(2000, 3)
	bw := []float64{3, 3, 3, 150, 0.15}
	full, err := MeanShift(pts, 5, Options{Bandwidth: bw})
	if err != nil {
		t.Fatal(err)
	}
	bin, err := MeanShift(pts, 5, Options{Bandwidth: bw, BinSize: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	ari := AdjustedRand(toInt(full.Labels), toInt(bin.Labels))
	t.Logf("per-point %d clusters, binned %d clusters, ARI %.4f", full.K(), bin.K(), ari)
	if ari < 0.95 {
		t.Errorf("bin seeding ARI %.4f vs per-point seeding", ari)
	}
	var tot int
	for _, s := range bin.Sizes {
		tot += s
	}
	if tot != 2000 || len(bin.Labels) != 2000 {
		t.Errorf("sizes sum %d, %d labels", tot, len(bin.Labels))
	}
}

// TestWeightsAndAggregate checks that a point of weight 2 acts like two
// copies of it (same modes, BruteForce and Grid), and that aggregating the
// data into half-bandwidth bins keeps the partition of lung-like points.
func TestWeightsAndAggregate(t *testing.T) {
	rng := rand.New(rand.NewSource(21))
	pts, _, _ := blobs(rng, 400, 4, 3)
	bw := []float64{4, 4, 4, 100, 0.2}
	dup := append(append([]float32{}, pts...), pts[:5*100]...)
	w := make([]float32, 400)
	for i := range w {
		w[i] = 1
		if i < 100 {
			w[i] = 2
		}
	}
	for _, be := range []Backend{BruteForce{}, Grid{}} {
		a, err := MeanShift(dup, 5, Options{Bandwidth: bw, Backend: be, Reuse: -1})
		if err != nil {
			t.Fatal(err)
		}
		b, err := MeanShift(pts, 5, Options{Bandwidth: bw, Backend: be, Reuse: -1, Weights: w})
		if err != nil {
			t.Fatal(err)
		}
		if ari := AdjustedRand(toInt(a.Labels[:400]), toInt(b.Labels)); ari != 1 || a.K() != b.K() {
			t.Fatalf("%s: weighted vs duplicated: K %d vs %d, ARI %g", be.Name(), b.K(), a.K(), ari)
		}
		for c := 0; c < a.K(); c++ {
			for d := 0; d < 5; d++ {
				if diff := math.Abs(float64(a.Centers[c*5+d]-b.Centers[c*5+d])) / bw[d]; diff > 1e-3 {
					t.Errorf("%s: centre %d axis %d differs by %g bandwidths", be.Name(), c, d, diff)
				}
			}
		}
	}
	if _, err := MeanShift(pts, 5, Options{Bandwidth: bw, Weights: w[:3]}); !errors.Is(err, ErrInput) {
		t.Errorf("short weights: %v", err)
	}
	ll := lungLike(3000, 4)
	lbw := []float64{3, 3, 3, 150, 0.15}
	ex, err := MeanShift(ll, 5, Options{Bandwidth: lbw, Reuse: -1})
	if err != nil {
		t.Fatal(err)
	}
	ag, err := MeanShift(ll, 5, Options{Bandwidth: lbw, Reuse: -1, Aggregate: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	ari := AdjustedRand(toInt(ex.Labels), toInt(ag.Labels))
	t.Logf("aggregate 0.5: %d clusters vs %d exact, ARI %.4f", ag.K(), ex.K(), ari)
	if ari < 0.98 {
		t.Errorf("aggregated ARI %.4f", ari)
	}
}

func TestMeanShiftErrorsAndAuto(t *testing.T) {
	if _, err := MeanShift(make([]float32, 7), 5, Options{}); !errors.Is(err, ErrInput) {
		t.Errorf("ragged input: %v", err)
	}
	if _, err := MeanShift([]float32{1, float32(math.NaN())}, 2, Options{}); !errors.Is(err, ErrInput) {
		t.Errorf("NaN input: %v", err)
	}
	if _, err := MeanShift(make([]float32, 10), 5, Options{Bandwidth: []float64{1, 1}}); !errors.Is(err, ErrInput) {
		t.Errorf("bandwidth length: %v", err)
	}
	r, err := MeanShift(nil, 5, Options{})
	if err != nil || r.K() != 0 {
		t.Errorf("empty input: %v %v", r, err)
	}
	// Scott's rule on a normal sample: σ·N^(−1/(d+4)).
	rng := rand.New(rand.NewSource(5))
	p := make([]float32, 2*1000)
	for i := 0; i < 1000; i++ {
		p[2*i] = float32(3 * rng.NormFloat64())
		p[2*i+1] = float32(0.5 * rng.NormFloat64())
	}
	bw := AutoBandwidth(p, 2)
	f := math.Pow(1000, -1.0/6)
	if math.Abs(bw[0]/(3*f)-1) > 0.1 || math.Abs(bw[1]/(0.5*f)-1) > 0.1 {
		t.Errorf("auto bandwidth %v, want ≈ [%g %g]", bw, 3*f, 0.5*f)
	}
	res, err := MeanShift(p, 2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Bandwidth[0] != bw[0] || res.Sizes[0] < 950 {
		t.Errorf("one normal blob with auto bandwidth: sizes %v bandwidth %v", res.Sizes[:min(5, len(res.Sizes))], res.Bandwidth)
	}
}

func TestMergeModesChains(t *testing.T) {
	// Modes 0.4 apart in a chain merge into one cluster at radius 0.5; a far
	// mode stays alone.
	modes := []float32{0, 0, 0.4, 0, 0.8, 0, 1.2, 0, 10, 10}
	lab, cen, sz := MergeModes(modes, 2, 0.5)
	if len(sz) != 2 || sz[0] != 4 || sz[1] != 1 || lab[0] != lab[3] || lab[4] == lab[0] {
		t.Fatalf("labels %v sizes %v", lab, sz)
	}
	if math.Abs(float64(cen[0])-0.6) > 1e-6 || cen[2] != 10 {
		t.Errorf("centres %v", cen)
	}
}

func TestPointsFiles(t *testing.T) {
	dir := t.TempDir()
	pts := []float32{1, 2, 3, -4.5, 0.25, 6, 7, 8, 9, 1e-3}
	np := filepath.Join(dir, "p.npy")
	if err := WritePointsNPY(np, pts, 5); err != nil {
		t.Fatal(err)
	}
	back, dim, err := ReadPointsNPY(np)
	if err != nil || dim != 5 || len(back) != len(pts) {
		t.Fatalf("read back %v dim %d: %v", back, dim, err)
	}
	for i := range pts {
		if back[i] != pts[i] {
			t.Fatalf("value %d: %g want %g", i, back[i], pts[i])
		}
	}
	raw, _ := os.ReadFile(np)
	if (10+int(raw[8])+int(raw[9])<<8)%64 != 0 {
		t.Errorf("header not 64-byte aligned")
	}
	cp := filepath.Join(dir, "p.csv")
	if err := WritePointsCSV(cp, pts, 5, []string{"x", "y", "z", "hu", "si"}); err != nil {
		t.Fatal(err)
	}
	csvb, _ := os.ReadFile(cp)
	if want := "x,y,z,hu,si\n1,2,3,-4.5,0.25\n6,7,8,9,0.001\n"; string(csvb) != want {
		t.Errorf("csv %q want %q", csvb, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.npy"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadPointsNPY(filepath.Join(dir, "bad.npy")); !errors.Is(err, ErrFormat) {
		t.Errorf("bad npy: %v", err)
	}
	python := pyref.Python(t, "numpy")
	out, err := exec.Command(python, "-c",
		"import numpy as n,sys; a=n.load(sys.argv[1]); print(a.dtype, a.shape, repr(float(a[1,4])), repr(float(a[0,3])))", np).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy: %v %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "float32 (2, 5) 0.0010000000474974513 -4.5" {
		t.Errorf("numpy read %q", got)
	}
}

// TestAgainstSklearn runs scikit-learn's MeanShift (flat kernel) on the same
// equally scaled points and requires the same partition (ARI ≥ 0.99).
func TestAgainstSklearn(t *testing.T) {
	if testing.Short() {
		t.Skip("python cross-check: skipped with -short")
	}
	python := pyref.Python(t, "sklearn", "numpy")
	rng := rand.New(rand.NewSource(11))
	pts, _, _ := blobs(rng, 1200, 6, 2)
	bw := []float64{4, 4, 4, 100, 0.2}
	res, err := MeanShift(pts, 5, Options{Bandwidth: bw})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "pts.npy")
	if err := WritePointsNPY(f, EqualScale(pts, 5, bw, bw[0]), 5); err != nil {
		t.Fatal(err)
	}
	// sklearn's flat kernel radius: 2 Gaussian bandwidths.
	py := "import numpy as n,sys\nfrom sklearn.cluster import MeanShift\n" +
		"X=n.load(sys.argv[1]).astype(float)\nm=MeanShift(bandwidth=float(sys.argv[2]),bin_seeding=True).fit(X)\n" +
		"print(' '.join(map(str,m.labels_)))"
	var stderr bytes.Buffer
	cmd := exec.Command(python, "-c", py, f, strconv.FormatFloat(2*bw[0], 'g', -1, 64))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sklearn: %v %s", err, stderr.String())
	}
	var sk []int
	for _, s := range strings.Fields(string(out)) {
		v, _ := strconv.Atoi(s)
		sk = append(sk, v)
	}
	ari := AdjustedRand(sk, toInt(res.Labels))
	t.Logf("lungctl %d clusters, ARI vs sklearn %.4f", res.K(), ari)
	if ari < 0.99 {
		t.Errorf("ARI vs sklearn %.4f < 0.99", ari)
	}
}

// benchMeanShift clusters n lung-like points with bin seeding and the given
// Reuse (0: the default path-assisted search, −1: exact).
func benchMeanShift(b *testing.B, n int, reuse float64) {
	pts := lungLike(n, 1)
	opt := Options{Bandwidth: []float64{3, 3, 3, 150, 0.15}, BinSize: 0.5, Reuse: reuse}
	b.ResetTimer()
	var res *Result
	for i := 0; i < b.N; i++ {
		var err error
		if res, err = MeanShift(pts, 5, opt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(res.K()), "clusters")
	b.ReportMetric(float64(res.Iters), "maxiters")
}

func BenchmarkMeanShift(b *testing.B) {
	b.Run("N=1e4", func(b *testing.B) { benchMeanShift(b, 10000, 0) })
	// The exact search (no path reuse), for comparison.
	b.Run("N=1e4/exact", func(b *testing.B) { benchMeanShift(b, 10000, -1) })
	b.Run("N=1e5", func(b *testing.B) { benchMeanShift(b, 100000, 0) })
	b.Run("N=1e6", func(b *testing.B) {
		if testing.Short() {
			b.Skip("1e6 points: skipped with -short")
		}
		benchMeanShift(b, 1000000, 0)
	})
}

// TestSelectBackend checks the device names in a build without the CUDA
// package, the registry, and Auto's fallback: a registered GPU stand-in
// that refuses per-point scales is used for "auto" and "cuda" without
// scales, and "auto" runs Grid with a note when Options.Scale is set while
// "cuda" fails with ErrUnsupported.
func TestSelectBackend(t *testing.T) {
	for _, d := range []string{"cpu", "auto", ""} {
		b, note, err := SelectBackend(d)
		if err != nil || b.Name() != "grid" || note != "" {
			t.Errorf("%q: %v %q %v, want grid", d, b, note, err)
		}
	}
	if _, _, err := SelectBackend("cuda"); !errors.Is(err, ErrNoCUDA) {
		t.Errorf("cuda in a CPU build: %v", err)
	}
	if _, _, err := SelectBackend("tpu"); err == nil {
		t.Error("unknown device accepted")
	}
	// A stand-in GPU backend, registered for this test only.
	defer func() {
		registry.Lock()
		delete(registry.m, "cuda")
		delete(registry.m, "cuda-brute")
		registry.Unlock()
	}()
	Register("cuda", func() (Backend, error) { return noScaleBackend{}, nil })
	Register("cuda-brute", func() (Backend, error) { return nil, errors.New("no device") })
	if got := Registered(); len(got) != 2 || got[0] != "cuda" {
		t.Errorf("registered %v", got)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("second Register of cuda did not panic")
			}
		}()
		Register("cuda", func() (Backend, error) { return Grid{}, nil })
	}()
	if _, _, err := SelectBackend("cuda-brute"); !errors.Is(err, ErrNoCUDA) || !strings.Contains(err.Error(), "no device") {
		t.Errorf("failing factory: %v", err)
	}
	auto, note, err := SelectBackend("auto")
	if err != nil || auto.Name() != "noscale" || note != "" {
		t.Fatalf("auto with a GPU: %v %q %v", auto, note, err)
	}
	explicit, _, err := SelectBackend("CUDA")
	if err != nil || explicit.Name() != "noscale" {
		t.Fatalf("cuda: %v %v", explicit, err)
	}
	pts := lungLike(300, 1)
	bw := []float64{4, 4, 4, 150, 0.15}
	scale := make([]float32, 300)
	for i := range scale {
		scale[i] = float32(1 + i%2)
	}
	r, err := MeanShift(pts, 5, Options{Bandwidth: bw, Backend: auto})
	if err != nil || r.Backend != "noscale" || r.Note != "" {
		t.Errorf("auto, one scale: %v backend %q note %q", err, r.Backend, r.Note)
	}
	r, err = MeanShift(pts, 5, Options{Bandwidth: bw, Backend: auto, Scale: scale})
	if err != nil || r.Backend != "grid" || !strings.Contains(r.Note, "does not support Options.Scale") {
		t.Errorf("auto with scales: %v backend %q note %q", err, r.Backend, r.Note)
	}
	var ue *UnsupportedError
	if _, err := MeanShift(pts, 5, Options{Bandwidth: bw, Backend: explicit, Scale: scale}); !errors.Is(err, ErrUnsupported) || !errors.As(err, &ue) || ue.Backend != "noscale" {
		t.Errorf("cuda with scales: %v, want an *UnsupportedError", err)
	}
}

// noScaleBackend is Grid that refuses per-point scales, like the CUDA
// backends.
type noScaleBackend struct{ Grid }

func (noScaleBackend) Name() string { return "noscale" }

func (noScaleBackend) CheckOptions(opt Options) error {
	if !opt.SingleScale() {
		return &UnsupportedError{Backend: "noscale", Option: "Options.Scale (per-point bandwidth scales)"}
	}
	return nil
}

// TestReuseDeterministic checks that the path-assisted search gives the same
// labels and centres whatever the worker budget (par.SetLimit), and the same partition
// as the exact search (ARI ≥ 0.99) on lung-like points.
func TestReuseDeterministic(t *testing.T) {
	pts := lungLike(4000, 9)
	bw := []float64{3, 3, 3, 150, 0.15}
	saved := par.Limit()
	defer par.SetLimit(saved)
	var first *Result
	for _, w := range []int{1, 2, 5} {
		par.SetLimit(w)
		r, err := MeanShift(pts, 5, Options{Bandwidth: bw})
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = r
			continue
		}
		if r.K() != first.K() || AdjustedRand(toInt(r.Labels), toInt(first.Labels)) != 1 {
			t.Fatalf("workers %d: %d clusters vs %d", w, r.K(), first.K())
		}
		for i := range r.Centers {
			if r.Centers[i] != first.Centers[i] {
				t.Fatalf("workers %d: centre value %d differs: %g vs %g", w, i, r.Centers[i], first.Centers[i])
			}
		}
	}
	ex, err := MeanShift(pts, 5, Options{Bandwidth: bw, Reuse: -1})
	if err != nil {
		t.Fatal(err)
	}
	ari := AdjustedRand(toInt(ex.Labels), toInt(first.Labels))
	t.Logf("path-assisted %d clusters vs exact %d: ARI %.4f", first.K(), ex.K(), ari)
	if ari < 0.99 || first.Iters > ex.Iters {
		t.Errorf("path-assisted vs exact: ARI %.4f, max steps %d vs %d", ari, first.Iters, ex.Iters)
	}
}

// BenchmarkMeanShiftPointsFile clusters the N×5 points of the .npy named by
// LUNGCTL_POINTS (as written by `lungctl detect --export-points`: axes
// scaled so that one bandwidth, LUNGCTL_BANDWIDTH mm, default 4, fits all),
// so that scripts/bench-peers.sh times lungctl and scikit-learn on the very
// same points (see pointsFromEnv).
func BenchmarkMeanShiftPointsFile(b *testing.B) {
	pts, dim, bw := pointsFromEnv(b)
	bws := make([]float64, dim)
	for i := range bws {
		bws[i] = bw
	}
	var r *Result
	for i := 0; i < b.N; i++ {
		var err error
		if r, err = MeanShift(pts, dim, Options{Bandwidth: bws}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(pts)/dim), "points")
	b.ReportMetric(float64(r.K()), "clusters")
}

// pointsFromEnv reads the points of the points-file benchmarks: the .npy
// named by LUNGCTL_POINTS (skipping when unset), the one bandwidth
// LUNGCTL_BANDWIDTH (default 4, the points' units) and, when
// LUNGCTL_MAX_POINTS is set, a random subsample of that many points (seed 1).
func pointsFromEnv(b *testing.B) (pts []float32, dim int, bw float64) {
	path := os.Getenv("LUNGCTL_POINTS")
	if path == "" {
		b.Skip("LUNGCTL_POINTS not set")
	}
	pts, dim, err := ReadPointsNPY(path)
	if err != nil {
		b.Fatal(err)
	}
	bw = 4.0
	if s := os.Getenv("LUNGCTL_BANDWIDTH"); s != "" {
		if bw, err = strconv.ParseFloat(s, 64); err != nil {
			b.Fatal(err)
		}
	}
	if s := os.Getenv("LUNGCTL_MAX_POINTS"); s != "" {
		m, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		pts = flatSubsample(pts, dim, m, 1)
	}
	return pts, dim, bw
}
