package cluster

import (
	"errors"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/lungctl/lungctl/internal/cluster/clustertest"
)

// detectBW is the detector's bandwidth: 4 mm, 200 HU, 0.2 shape index.
var detectBW = []float64{4, 4, 4, 200, 0.2}

// TestScaleGridMatchesBruteForce runs MeanShift with per-point scales
// (lung-like points at scale 1 plus big blobs at scales 2, 4 and 8) with
// the Grid backend's exact search, its default path-assisted search and
// the BruteForce reference: the exact search must give the reference's
// partition (same cluster count, adjusted Rand index 1) and centres within
// 0.02 bandwidths, the path-assisted one ARI ≥ 0.99.
func TestScaleGridMatchesBruteForce(t *testing.T) {
	nf := 1500
	if testing.Short() {
		nf = 600
	}
	pts, scale := clustertest.MultiScale(nf, 2, 3)
	n := len(scale)
	opt := Options{Bandwidth: detectBW, Scale: scale}
	b, err := MeanShift(pts, 5, withBackend(opt, BruteForce{}, 0))
	if err != nil {
		t.Fatal(err)
	}
	g, err := MeanShift(pts, 5, withBackend(opt, Grid{}, -1))
	if err != nil {
		t.Fatal(err)
	}
	pa, err := MeanShift(pts, 5, opt)
	if err != nil {
		t.Fatal(err)
	}
	ariE := AdjustedRand(toInt(g.Labels), toInt(b.Labels))
	ariP := AdjustedRand(toInt(pa.Labels), toInt(b.Labels))
	t.Logf("%d points (%d coarse): brute %d clusters (%d steps), grid exact %d (%d steps) ARI %.6f, path-assisted %d (%d steps) ARI %.6f",
		n, n-nf, b.K(), b.Iters, g.K(), g.Iters, ariE, pa.K(), pa.Iters, ariP)
	if b.K() < 5 {
		t.Fatalf("only %d clusters: the comparison would be vacuous", b.K())
	}
	if g.K() != b.K() || ariE != 1 {
		t.Errorf("exact grid: %d clusters vs brute %d, ARI %g, want the same partition", g.K(), b.K(), ariE)
	}
	if ariP < 0.99 {
		t.Errorf("path-assisted grid vs brute: ARI %.4f < 0.99", ariP)
	}
	if g.K() == b.K() {
		for c := 0; c < g.K(); c++ {
			var d float64
			for a := 0; a < 5; a++ {
				x := (float64(g.Centers[c*5+a]) - float64(b.Centers[c*5+a])) / detectBW[a]
				d += x * x
			}
			if math.Sqrt(d) > 0.02 {
				t.Errorf("centre %d differs by %.4f bandwidths", c, math.Sqrt(d))
			}
		}
	}
	for _, r := range []*Result{b, g, pa} {
		if r.Iters >= 200 {
			t.Errorf("%s: a search hit MaxIter (%d steps)", r.Backend, r.Iters)
		}
	}
	// The pure-Go kernel path (CPUs without AVX2) gives the same partition.
	saved := useAVX
	useAVX = false
	defer func() { useAVX = saved }()
	gg, err := MeanShift(pts, 5, withBackend(opt, Grid{}, -1))
	if err != nil {
		t.Fatal(err)
	}
	if a := AdjustedRand(toInt(gg.Labels), toInt(b.Labels)); a != 1 || gg.K() != b.K() {
		t.Errorf("pure-Go grid: %d clusters, ARI %g vs brute", gg.K(), a)
	}
}

func withBackend(o Options, b Backend, reuse float64) Options {
	o.Backend, o.Reuse = b, reuse
	return o
}

// massScene returns an 80 mm "mass" of scale-8 points on a 4 mm grid
// (radius 40 mm around (100, 100, 100) mm, HU ≈ 0, SI ≈ 0.9) and six small
// blobs of scale-1 points on a 1 mm grid (radius 2 mm, 33 points each,
// HU ≈ −50) 60 mm from its centre along ±x, ±y, ±z, with each point's
// true group (0: the mass, 1…6: the blobs).
func massScene(rng *rand.Rand) (pts, scale []float32, group []int) {
	add := func(x, y, z, hu float64, s float32, g int) {
		pts = append(pts, float32(x), float32(y), float32(z), float32(hu+30*rng.NormFloat64()), float32(0.9+0.03*rng.NormFloat64()))
		scale = append(scale, s)
		group = append(group, g)
	}
	for i := -10; i <= 10; i++ {
		for j := -10; j <= 10; j++ {
			for k := -10; k <= 10; k++ {
				if i*i+j*j+k*k <= 100 {
					add(100+4*float64(i), 100+4*float64(j), 100+4*float64(k), 0, 8, 0)
				}
			}
		}
	}
	dirs := [][3]float64{{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}}
	for b, d := range dirs {
		for i := -2; i <= 2; i++ {
			for j := -2; j <= 2; j++ {
				for k := -2; k <= 2; k++ {
					if i*i+j*j+k*k <= 4 {
						add(100+60*d[0]+float64(i), 100+60*d[1]+float64(j), 100+60*d[2]+float64(k), -50, 1, b+1)
					}
				}
			}
		}
	}
	return pts, scale, group
}

// TestScaleMassAndSmallBlobs: an 80 mm mass of scale-8 points and six
// small 4 mm blobs of scale-1 points around it give exactly one cluster
// for the mass and one per small blob (on Grid, path-assisted and exact,
// and BruteForce, except with -short). Without scales (every point at the base bandwidth) the
// mass breaks into many clusters, so the test can fail.
func TestScaleMassAndSmallBlobs(t *testing.T) {
	pts, scale, group := massScene(rand.New(rand.NewSource(4)))
	runs := []Options{{Backend: Grid{}}, {Backend: Grid{}, Reuse: -1}}
	if !testing.Short() {
		runs = append(runs, Options{Backend: BruteForce{}})
	}
	for _, o := range runs {
		o.Bandwidth, o.Scale = detectBW, scale
		r, err := MeanShift(pts, 5, o)
		if err != nil {
			t.Fatal(err)
		}
		ari := AdjustedRand(group, toInt(r.Labels))
		t.Logf("%s reuse %g: %d points, %d clusters (sizes %v), ARI vs truth %.5f, %d steps", r.Backend, o.Reuse, len(group), r.K(), r.Sizes, ari, r.Iters)
		if r.K() != 7 || ari != 1 {
			t.Errorf("%s reuse %g: %d clusters, ARI vs truth %g; want 7 and 1", r.Backend, o.Reuse, r.K(), ari)
		}
		if r.Iters >= 200 {
			t.Errorf("%s: a search hit MaxIter", r.Backend)
		}
	}
	r, err := MeanShift(pts, 5, Options{Bandwidth: detectBW})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("without scales: %d clusters", r.K())
	if r.K() <= 7 {
		t.Errorf("without scales the mass gave %d clusters in all: the scene does not test the scales", r.K())
	}
}

// TestScaleDensityMonotone checks the sample-point update against its
// density (scaledDensity): along BruteForce's search path from 40 seeds on
// multi-scale points (truncation at 8 bandwidths, where the cut is
// negligible) the density never decreases, and Grid's step moves the same
// way as BruteForce's (first step within 1e-4 bandwidths).
func TestScaleDensityMonotone(t *testing.T) {
	raw, scale := clustertest.MultiScale(400, 1, 7)
	pts := clustertest.ScaleBy(raw, detectBW)
	rng := rand.New(rand.NewSource(2))
	w := make([]float32, len(scale))
	for i := range w {
		w[i] = float32(0.5 + rng.Float64())
	}
	opt := Options{Truncate: 8, Tol: 1e-9, Scale: scale, Weights: w}.withDefaults()
	n := len(scale)
	checked := 0
	g, err := newScaledGridIndex(pts, 5, w, scale, 3, opt.Truncate)
	if err != nil {
		t.Fatal(err)
	}
	for q := 0; q < 40; q++ {
		i := rng.Intn(n)
		y := append([]float32(nil), pts[i*5:i*5+5]...)
		prev := math.Inf(-1)
		for step := 0; step < 30; step++ {
			yd := make([]float64, 5)
			for a := range yd {
				yd[a] = float64(y[a])
			}
			f := scaledDensity(pts, 5, w, scale, 3, opt.Truncate, yd)
			if f < prev*(1-1e-6) {
				t.Fatalf("seed %d step %d: density fell from %.9g to %.9g", i, step, prev, f)
			}
			prev = f
			checked++
			o := opt
			o.MaxIter = 1
			next := append([]float32(nil), y...)
			if _, err := (BruteForce{}).Shift(pts, 5, next, o); err != nil {
				t.Fatal(err)
			}
			if step == 0 {
				gy := append([]float32(nil), y...)
				if _, ok := g.step(gy, make([]float64, 5)); !ok {
					t.Fatalf("seed %d: grid step found no point", i)
				}
				for a := range gy {
					if d := math.Abs(float64(gy[a] - next[a])); d > 1e-4 {
						t.Fatalf("seed %d axis %d: grid step to %g, brute force to %g", i, a, gy[a], next[a])
					}
				}
			}
			y = next
		}
	}
	t.Logf("%d path positions checked", checked)
}

// TestScaleOptions checks the validation of Scale and ScaledAxes, and that
// all-ones scales give bit-identical results to no scales.
func TestScaleOptions(t *testing.T) {
	pts := lungLike(500, 6)
	n := 500
	ones := func() []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = 1
		}
		return s
	}
	bad := map[string]Options{}
	for name, v := range map[string]float32{"zero": 0, "negative": -2, "NaN": float32(math.NaN()), "Inf": float32(math.Inf(1)), "tiny": 1e-42} {
		s := ones()
		s[17] = v
		bad["scale "+name] = Options{Scale: s}
	}
	many := ones()
	for i := range many {
		many[i] = float32(1 + i%17)
	}
	bad["17 levels"] = Options{Scale: many}
	bad["short"] = Options{Scale: ones()[:10]}
	two := ones()
	two[0] = 2
	bad["ScaledAxes 6"] = Options{Scale: two, ScaledAxes: 6}
	bad["ScaledAxes -1"] = Options{Scale: two, ScaledAxes: -1}
	bad["Aggregate"] = Options{Scale: two, Aggregate: 0.5}
	for name, o := range bad {
		o.Bandwidth = detectBW
		for _, be := range []Backend{Grid{}, BruteForce{}} {
			o.Backend = be
			if _, err := MeanShift(pts, 5, o); !errors.Is(err, ErrInput) {
				t.Errorf("%s (%s): %v, want ErrInput", name, be.Name(), err)
			}
		}
	}
	// Backends called directly check too.
	if _, err := (Grid{}).Shift(pts[:50], 5, pts[:5], Options{Scale: []float32{1, 2, 0, 1, 1, 1, 1, 1, 1, 1}}.withDefaults()); !errors.Is(err, ErrInput) {
		t.Errorf("Grid.Shift with scale 0: %v", err)
	}
	plain, err := MeanShift(pts, 5, Options{Bandwidth: detectBW})
	if err != nil {
		t.Fatal(err)
	}
	same, err := MeanShift(pts, 5, Options{Bandwidth: detectBW, Scale: ones()})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(plain.Labels, same.Labels) || !slices.Equal(plain.Centers, same.Centers) || plain.Iters != same.Iters {
		t.Error("all-ones scales differ from no scales")
	}
	// ScaledAxes 5 (every axis) with scale 2 everywhere is scale 1 with a
	// doubled bandwidth: the same partition.
	all2 := ones()
	for i := range all2 {
		all2[i] = 2
	}
	a, err := MeanShift(pts, 5, Options{Bandwidth: detectBW, Scale: all2, ScaledAxes: 5, Reuse: -1})
	if err != nil {
		t.Fatal(err)
	}
	bw2 := make([]float64, 5)
	for i := range bw2 {
		bw2[i] = 2 * detectBW[i]
	}
	b, err := MeanShift(pts, 5, Options{Bandwidth: bw2, Reuse: -1, Tol: 5e-4, MergeFrac: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	if ari := AdjustedRand(toInt(a.Labels), toInt(b.Labels)); ari < 0.999 {
		t.Errorf("scale 2 on every axis vs doubled bandwidth: %d vs %d clusters, ARI %g", a.K(), b.K(), ari)
	}
}

// TestTinyBandwidth: a bandwidth of 1e-9 mm (coordinates of 10¹¹
// bandwidths) clusters without panicking or allocating a giant grid (every
// point its own cluster), in both algorithms; one of 1e-40 (coordinates
// beyond float32) is an ErrInput error.
func TestTinyBandwidth(t *testing.T) {
	pts := lungLike(300, 8)
	bw := []float64{1e-9, 1e-9, 1e-9, 1e-9, 1e-9}
	r, err := MeanShift(pts, 5, Options{Bandwidth: bw})
	if err != nil || r.K() < 290 {
		t.Errorf("MeanShift, bandwidth 1e-9: %v, %d clusters", err, r.K())
	}
	f, err := FlatMeanShift(pts, 5, FlatOptions{Bandwidth: 1e-9})
	if err != nil || f.K() < 290 {
		t.Errorf("FlatMeanShift, bandwidth 1e-9: %v", err)
	}
	bw[0] = 1e-40
	if _, err := MeanShift(pts, 5, Options{Bandwidth: bw}); !errors.Is(err, ErrInput) {
		t.Errorf("bandwidth 1e-40: %v, want ErrInput", err)
	}
}

// BenchmarkMeanShiftMultiScale clusters 10⁵ lung-like points at scale 1
// plus big blobs at scales 2, 4 and 8 (10 per level, about 3,700 points;
// clustertest.MultiScale) with the detector's bandwidths and the default
// (path-assisted) Grid search, and the same points all at scale 1 for
// comparison.
func BenchmarkMeanShiftMultiScale(b *testing.B) {
	pts, scale := clustertest.MultiScale(100000, 10, 1)
	for _, c := range []struct {
		name  string
		scale []float32
	}{{"scales", scale}, {"single", nil}} {
		b.Run(c.name, func(b *testing.B) {
			var r *Result
			for i := 0; i < b.N; i++ {
				var err error
				if r, err = MeanShift(pts, 5, Options{Bandwidth: detectBW, Scale: c.scale}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(scale)), "points")
			b.ReportMetric(float64(r.K()), "clusters")
			b.ReportMetric(float64(r.Iters), "maxiters")
		})
	}
}

// scaledDensity is the sample-point density f(y) = Σ_i w_i s_i^−m
// exp(−d_i²/2) (d_i < truncate; scaled units; see the package comment) at
// y, in float64: what the update increases.
func scaledDensity(points []float32, dim int, weights, scale []float32, m int, truncate float64, y []float64) float64 {
	var f float64
	for i := 0; i < len(points)/dim; i++ {
		s := 1.0
		if scale != nil {
			s = float64(scale[i])
		}
		var d2 float64
		for a := 0; a < dim; a++ {
			d := float64(points[i*dim+a]) - y[a]
			if a < m {
				d /= s
			}
			d2 += d * d
		}
		if d2 >= truncate*truncate {
			continue
		}
		w := math.Pow(s, -float64(m)) * math.Exp(-0.5*d2)
		if weights != nil {
			w *= float64(weights[i])
		}
		f += w
	}
	return f
}
