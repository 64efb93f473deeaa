package cluster

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/testfs"
)

// TestFlatTwoGroupsByHand: two triangles of points far apart, bandwidth 2.
// Every seed of the left group takes the mean of its three points,
// (1/3, 1/3), and stays there (step 0 < 2e-3): intensity 3, one completed
// iteration. Both modes have intensity 3, so scikit-learn's order puts the
// larger coordinates first; sizes tie too, so that order is kept.
func TestFlatTwoGroupsByHand(t *testing.T) {
	pts := []float32{0, 0, 1, 0, 0, 1, 10, 10, 11, 10, 10, 11}
	for _, all := range []bool{false, true} {
		r, err := FlatMeanShift(pts, 2, FlatOptions{Bandwidth: 2, ClusterAll: all})
		if err != nil {
			t.Fatal(err)
		}
		if r.K() != 2 || !slices.Equal(r.Sizes, []int{3, 3}) {
			t.Fatalf("sizes %v, want [3 3]", r.Sizes)
		}
		want := []float64{31.0 / 3, 31.0 / 3, 1.0 / 3, 1.0 / 3}
		for i, w := range want {
			if math.Abs(float64(r.Centers[i])-w) > 1e-6 {
				t.Errorf("centre value %d = %g, want %g", i, r.Centers[i], w)
			}
		}
		if !slices.Equal(r.Labels, []int32{1, 1, 1, 0, 0, 0}) {
			t.Errorf("labels %v", r.Labels)
		}
		if r.Iters != 1 || r.Backend != "flat-grid" || !slices.Equal(r.Bandwidth, []float64{2, 2}) {
			t.Errorf("iters %d backend %q bandwidth %v", r.Iters, r.Backend, r.Bandwidth)
		}
	}
}

// TestFlatEmptySeedAndOrphans: in 5-D with bandwidth 1 the bin grid point
// 0 is √5·0.48 ≈ 1.07 from its bin's points (0.48…) and (0.49…), so that
// seed finds no point and is dropped; the bin at 5 gives one mode at the
// mean of its two points, (5.05, 5, 5, 5, 5). The two near-origin points are
// orphans: −1 without ClusterAll, cluster 0 with it. With only the origin
// bin, no mode remains: ErrNoModes.
func TestFlatEmptySeedAndOrphans(t *testing.T) {
	pts := []float32{
		0.48, 0.48, 0.48, 0.48, 0.48,
		5, 5, 5, 5, 5,
		0.49, 0.49, 0.49, 0.49, 0.49,
		5.1, 5, 5, 5, 5,
	}
	if s := flatBinSeeds(pts, 5, 1, 1); !slices.Equal(s, []float64{0, 0, 0, 0, 0, 5, 5, 5, 5, 5}) {
		t.Fatalf("bin seeds %v", s)
	}
	r, err := FlatMeanShift(pts, 5, FlatOptions{Bandwidth: 1, BinSeeding: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.K() != 1 || r.Sizes[0] != 2 || !slices.Equal(r.Labels, []int32{-1, 0, -1, 0}) {
		t.Fatalf("K %d sizes %v labels %v", r.K(), r.Sizes, r.Labels)
	}
	if math.Abs(float64(r.Centers[0])-5.05) > 1e-6 || r.Centers[1] != 5 || r.Centers[4] != 5 {
		t.Errorf("centre %v, want (5.05, 5, 5, 5, 5)", r.Centers)
	}
	r, err = FlatMeanShift(pts, 5, FlatOptions{Bandwidth: 1, BinSeeding: true, ClusterAll: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Labels, []int32{0, 0, 0, 0}) || r.Sizes[0] != 4 {
		t.Errorf("ClusterAll: labels %v sizes %v", r.Labels, r.Sizes)
	}
	_, err = FlatMeanShift(pts[:5*1:5*1], 5, FlatOptions{Bandwidth: 1, BinSeeding: true})
	if err != nil { // one point, its own bin: the point itself is the seed
		t.Errorf("single point: %v", err)
	}
	_, err = FlatMeanShift(append(slices.Clone(pts[:5]), pts[10:15]...), 5, FlatOptions{Bandwidth: 1, BinSeeding: true})
	if !errors.Is(err, ErrNoModes) {
		t.Errorf("only an empty seed: err %v, want ErrNoModes", err)
	}
	// MinBinFreq 3 leaves no bin: no seed at all.
	if _, err = FlatMeanShift(pts, 5, FlatOptions{Bandwidth: 1, BinSeeding: true, MinBinFreq: 3}); !errors.Is(err, ErrNoModes) {
		t.Errorf("no seed: err %v, want ErrNoModes", err)
	}
}

// TestFlatBinSeedsByHand: numpy.round rounds halves to even, −0.5 → −0
// joins bin 0, bins keep first-occurrence order, MinBinFreq filters, seeds
// are float32(bin)·float32(bw), and when every point has its own bin the
// points are the seeds.
func TestFlatBinSeedsByHand(t *testing.T) {
	pts := []float32{0.5, 2.5, 1.5, -0.5, 7.2, 2.4}
	// x/bw: 0.5→0, 2.5→2, 1.5→2, −0.5→−0, 7.2→7, 2.4→2: bins 0 (2), 2 (3), 7 (1).
	if got := flatBinSeeds(pts, 1, 1, 1); !slices.Equal(got, []float64{0, 2, 7}) {
		t.Errorf("seeds %v want [0 2 7]", got)
	}
	if got := flatBinSeeds(pts, 1, 1, 2); !slices.Equal(got, []float64{0, 2}) {
		t.Errorf("min freq 2: seeds %v want [0 2]", got)
	}
	bw := 0.1 // float32(0.1)·3 rounds in float32
	if got, want := flatBinSeeds([]float32{0.3, 0.31}, 1, bw, 1), float64(float32(3)*float32(0.1)); len(got) != 1 || got[0] != want {
		t.Errorf("seeds %v want [%v]", got, want)
	}
	if got := flatBinSeeds([]float32{0, 5, 10}, 1, 1, 1); !slices.Equal(got, []float64{0, 5, 10}) {
		t.Errorf("fallback: seeds %v want the points", got)
	}
}

func TestFlatErrors(t *testing.T) {
	ok := []float32{0, 0, 1, 1}
	cases := []struct {
		pts []float32
		dim int
		opt FlatOptions
	}{
		{ok, 3, FlatOptions{Bandwidth: 1}},
		{ok, 0, FlatOptions{Bandwidth: 1}},
		{ok, 2, FlatOptions{}},
		{ok, 2, FlatOptions{Bandwidth: math.Inf(1)}},
		{ok, 2, FlatOptions{Bandwidth: math.NaN()}},
		{ok, 2, FlatOptions{Bandwidth: 1, MaxIter: -1}},
		{ok, 2, FlatOptions{Bandwidth: 1, MinBinFreq: -2}},
		{[]float32{0, float32(math.NaN())}, 2, FlatOptions{Bandwidth: 1}},
		{[]float32{0, float32(math.Inf(-1))}, 2, FlatOptions{Bandwidth: 1}},
	}
	for i, c := range cases {
		if _, err := FlatMeanShift(c.pts, c.dim, c.opt); !errors.Is(err, ErrInput) {
			t.Errorf("case %d: err %v, want ErrInput", i, err)
		}
	}
	r, err := FlatMeanShift(nil, 5, FlatOptions{Bandwidth: 1})
	if err != nil || r.K() != 0 || len(r.Labels) != 0 {
		t.Errorf("no points: %v %v", r, err)
	}
}

// TestFlatMatchesDirect compares FlatMeanShift with a direct O(N²)
// transcription of the algorithm (no cell lists, no parallelism, every step
// spelled out) on random 1-D to 6-D data, including integer-valued points
// where distances tie exactly with the bandwidth.
func TestFlatMatchesDirect(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for trial := 0; trial < 24; trial++ {
		dim := 1 + trial%6
		n := 50 + rng.Intn(250)
		pts := make([]float32, n*dim)
		grid := trial%4 == 0 // dims 1, 5, 3: many distances exactly = bandwidth
		side := 12
		if dim > 2 {
			side = 4
		}
		for i := range pts {
			if grid {
				pts[i] = float32(rng.Intn(side))
			} else {
				pts[i] = float32(rng.NormFloat64()*3 + float64(4*(i/dim%3)))
			}
		}
		bw := 1.5 + 2*rng.Float64()
		if grid {
			bw = 2
		}
		opt := FlatOptions{Bandwidth: bw, BinSeeding: trial%2 == 1, ClusterAll: trial%4 < 2, MinBinFreq: 1 + trial%3/2}
		if trial%5 == 4 {
			opt.MaxIter = 1 + trial%3 // searches cut short by the cap
		}
		got, err := FlatMeanShift(pts, dim, opt)
		want, werr := directFlat(pts, dim, opt)
		if (err != nil) != (werr != nil) {
			t.Fatalf("trial %d: err %v, direct %v", trial, err, werr)
		}
		if err != nil {
			continue
		}
		if got.K() != len(want.centers)/dim || got.Iters != want.iters {
			t.Fatalf("trial %d (dim %d bw %.3f %+v): K %d iters %d, direct K %d iters %d", trial, dim, bw, opt, got.K(), got.Iters, len(want.centers)/dim, want.iters)
		}
		// Map our (size-ordered) clusters to the direct (sklearn-ordered) ones.
		ours := make([]int, n)
		for i, l := range got.Labels {
			ours[i] = int(l)
		}
		if ari := AdjustedRand(ours, want.labels); ari != 1 {
			t.Errorf("trial %d: ARI %g vs direct", trial, ari)
		}
		for i := range ours {
			if (ours[i] < 0) != (want.labels[i] < 0) {
				t.Fatalf("trial %d: point %d label %d, direct %d", trial, i, ours[i], want.labels[i])
			}
		}
		for c := 0; c < got.K(); c++ {
			best := math.Inf(1)
			for w := 0; w < len(want.centers)/dim; w++ {
				var d float64
				for a := 0; a < dim; a++ {
					e := float64(got.Centers[c*dim+a]) - want.centers[w*dim+a]
					d += e * e
				}
				best = math.Min(best, d)
			}
			if math.Sqrt(best) > 1e-5*bw {
				t.Errorf("trial %d: centre %d is %g from every direct centre", trial, c, math.Sqrt(best))
			}
		}
	}
}

type flatDirectResult struct {
	centers []float64 // sklearn order
	labels  []int
	iters   int
}

// directFlat is the plain transcription used by TestFlatMatchesDirect.
func directFlat(pts []float32, dim int, opt FlatOptions) (*flatDirectResult, error) {
	n := len(pts) / dim
	x := func(i, a int) float64 { return float64(pts[i*dim+a]) }
	var seeds [][]float64
	usePoints := !opt.BinSeeding
	if opt.BinSeeding {
		type bin struct {
			key string
			c   []float64
			n   int
		}
		var bins []*bin
		for i := 0; i < n; i++ {
			c := make([]float64, dim)
			for a := range c {
				c[a] = math.RoundToEven(x(i, a)/opt.Bandwidth) + 0
			}
			k := fmt.Sprint(c)
			var found *bin
			for _, b := range bins {
				if b.key == k {
					found = b
				}
			}
			if found == nil {
				found = &bin{key: k, c: c}
				bins = append(bins, found)
			}
			found.n++
		}
		for _, b := range bins {
			if b.n >= max(opt.MinBinFreq, 1) {
				s := make([]float64, dim)
				for a := range s {
					s[a] = float64(float32(b.c[a]) * float32(opt.Bandwidth))
				}
				seeds = append(seeds, s)
			}
		}
		if len(seeds) == n {
			seeds, usePoints = nil, true
		}
	}
	if usePoints {
		for i := 0; i < n; i++ {
			s := make([]float64, dim)
			for a := range s {
				s[a] = x(i, a)
			}
			seeds = append(seeds, s)
		}
	}
	d2 := func(p []float64, i int) float64 {
		var d float64
		for a := 0; a < dim; a++ {
			t := x(i, a) - p[a]
			d = d + float64(t*t)
		}
		return d
	}
	type mode struct {
		c   []float64
		cnt int
	}
	var modes []mode
	res := &flatDirectResult{}
	for _, m := range seeds {
		var it, cnt int
		for {
			var in []int
			for i := 0; i < n; i++ {
				if d2(m, i) <= opt.Bandwidth*opt.Bandwidth {
					in = append(in, i)
				}
			}
			cnt = len(in)
			if cnt == 0 {
				break
			}
			nm := make([]float64, dim)
			for _, i := range in {
				for a := range nm {
					nm[a] += x(i, a)
				}
			}
			var sh float64
			for a := range nm {
				nm[a] /= float64(cnt)
				sh += (nm[a] - m[a]) * (nm[a] - m[a])
			}
			m = nm
			maxIter := opt.MaxIter
			if maxIter == 0 {
				maxIter = 300
			}
			if math.Sqrt(sh) < 1e-3*opt.Bandwidth || it == maxIter {
				break
			}
			it++
		}
		res.iters = max(res.iters, it)
		if cnt == 0 {
			continue
		}
		dup := false
		for k := range modes {
			if slices.Equal(modes[k].c, m) {
				modes[k].cnt, dup = cnt, true
			}
		}
		if !dup {
			modes = append(modes, mode{m, cnt})
		}
	}
	if len(modes) == 0 {
		return nil, ErrNoModes
	}
	slices.SortFunc(modes, func(p, q mode) int {
		if p.cnt != q.cnt {
			return q.cnt - p.cnt
		}
		for a := range p.c {
			if p.c[a] != q.c[a] {
				if p.c[a] > q.c[a] {
					return -1
				}
				return 1
			}
		}
		return 0
	})
	var kept [][]float64
	for _, m := range modes {
		ok := true
		for _, k := range kept {
			var d float64
			for a := range k {
				d += (k[a] - m.c[a]) * (k[a] - m.c[a])
			}
			if d <= opt.Bandwidth*opt.Bandwidth {
				ok = false
			}
		}
		if ok {
			kept = append(kept, m.c)
			res.centers = append(res.centers, m.c...)
		}
	}
	res.labels = make([]int, n)
	for i := 0; i < n; i++ {
		best, bd := 0, math.Inf(1)
		for k, c := range kept {
			if d := d2(c, i); d < bd {
				best, bd = k, d
			}
		}
		if !opt.ClusterAll && math.Sqrt(bd) > opt.Bandwidth {
			best = -1
		}
		res.labels[i] = best
	}
	return res, nil
}

// TestFlatNearestMatchesBrute checks the ring search of flatNearest against
// a scan of all centres, for points inside and far outside the centres' box,
// centres spread so that the grid is coarsened, and exact ties (integer
// coordinates: the lowest centre index wins).
func TestFlatNearestMatchesBrute(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	for trial := 0; trial < 30; trial++ {
		dim := 1 + trial%5
		k := 1 + rng.Intn(60)
		spread := []float64{3, 50, 1000}[trial%3]
		centers := make([]float64, k*dim)
		for i := range centers {
			centers[i] = math.Round(rng.Float64() * spread)
		}
		n := 400
		pts := make([]float32, n*dim)
		for i := range pts {
			pts[i] = float32(math.Round((rng.Float64()*3 - 1) * spread))
		}
		bw := 1 + rng.Float64()*spread/10
		for _, all := range []bool{true, false} {
			got := make([]int32, n)
			flatNearest(pts, dim, centers, bw, all, got)
			for i := 0; i < n; i++ {
				best, bd := int32(-1), math.Inf(1)
				for c := 0; c < k; c++ {
					var d float64
					for a := 0; a < dim; a++ {
						e := float64(pts[i*dim+a]) - centers[c*dim+a]
						d += e * e
					}
					if d < bd {
						best, bd = int32(c), d
					}
				}
				if !all && math.Sqrt(bd) > bw {
					best = -1
				}
				if got[i] != best {
					t.Fatalf("trial %d (dim %d, %d centres, all %v): point %d label %d, brute force %d", trial, dim, k, all, i, got[i], best)
				}
			}
		}
	}
}

// TestFlatDeterministicAcrossWorkers runs FlatMeanShift under worker
// budgets of 1, 2 and 5 (par.SetLimit): identical results.
func TestFlatDeterministicAcrossWorkers(t *testing.T) {
	saved := par.Limit()
	defer par.SetLimit(saved)
	bw := []float64{3, 3, 3, 150, 0.15}
	pts := EqualScale(lungLike(6000, 4), 5, bw, 3)
	for _, bin := range []bool{true, false} {
		var ref *Result
		for _, w := range []int{1, 2, 5} {
			par.SetLimit(w)
			r, err := FlatMeanShift(pts, 5, FlatOptions{Bandwidth: 3, BinSeeding: bin})
			if err != nil {
				t.Fatal(err)
			}
			if ref == nil {
				ref = r
				continue
			}
			if !slices.Equal(r.Labels, ref.Labels) || !slices.Equal(r.Centers, ref.Centers) || !slices.Equal(r.Sizes, ref.Sizes) || r.Iters != ref.Iters {
				t.Errorf("bin seeding %v: %d workers differ from 1 worker", bin, w)
			}
		}
	}
}

func TestReadPointsCSV(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "p.csv")
	if err := os.WriteFile(f, []byte("x,y,z\n1,2,3\n-4.5, 5e-1 ,6\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, dim, err := ReadPointsCSV(f)
	if err != nil || dim != 3 || !slices.Equal(p, []float32{1, 2, 3, -4.5, 0.5, 6}) {
		t.Fatalf("got %v %d %v", p, dim, err)
	}
	if err := os.WriteFile(f, []byte("1,2\n3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadPointsCSV(f); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), f) {
		t.Errorf("ragged: %v", err)
	}
	if err := os.WriteFile(f, []byte("a,b\n1,x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadPointsCSV(f); !errors.Is(err, ErrFormat) {
		t.Errorf("non-number: %v", err)
	}
	if _, _, err := ReadPointsCSV(filepath.Join(dir, "missing.csv")); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("missing file: %v", err)
	}
}

// TestReadPointsCSVBudget: the points a CSV file holds are checked against
// the memory budget before they are kept; over it, the error names the file
// and line and wraps membudget.ErrTooBig.
func TestReadPointsCSVBudget(t *testing.T) {
	f := filepath.Join(t.TempDir(), "many.csv")
	var b strings.Builder
	b.WriteString("x,y,z\n")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, "%d,%d,%d\n", i, i+1, i+2)
	}
	testfs.WriteFile(t, f, []byte(b.String()))
	testfs.SetBudget(t, 16<<10)
	_, _, err := ReadPointsCSV(f)
	if !testfs.TooBig(err, f+": line ") {
		t.Fatalf("2000 points over a 16 KiB budget: %v; want ErrTooBig naming the file and line", err)
	}
	membudget.Set(1 << 20)
	if p, dim, err := ReadPointsCSV(f); err != nil || dim != 3 || len(p) != 6000 {
		t.Fatalf("within 1 MiB: %d values, dim %d, %v", len(p), dim, err)
	}
}

func benchFlat(b *testing.B, n int, bin bool) {
	bw := []float64{3, 3, 3, 150, 0.15}
	pts := EqualScale(lungLike(n, 1), 5, bw, 3)
	opt := FlatOptions{Bandwidth: 3, BinSeeding: bin, ClusterAll: true}
	b.ResetTimer()
	var r *Result
	for i := 0; i < b.N; i++ {
		var err error
		if r, err = FlatMeanShift(pts, 5, opt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(r.K()), "clusters")
	b.ReportMetric(float64(r.Iters), "maxiters")
}

// BenchmarkFlatMeanShift clusters lung-like points scaled to one bandwidth
// of 3 mm, with bin seeding (as usually run with scikit-learn) and from
// every point.
func BenchmarkFlatMeanShift(b *testing.B) {
	for _, n := range []int{10000, 100000, 1000000} {
		for _, bin := range []bool{true, false} {
			b.Run(fmt.Sprintf("N=%.0e/bin=%v", float64(n), bin), func(b *testing.B) {
				if n >= 1000000 && testing.Short() {
					b.Skip("1e6 points: skipped with -short")
				}
				benchFlat(b, n, bin)
			})
		}
	}
}

// BenchmarkFlatMeanShiftPointsFile runs FlatMeanShift on the N×D .npy named
// by LUNGCTL_POINTS (as written by `lungctl detect --export-points`) with
// the one bandwidth LUNGCTL_BANDWIDTH (default 4), with and without bin
// seeding, the same runs as `meanshift_sklearn.py --points F --bandwidth B
// [--bin-seeding]`. LUNGCTL_MAX_POINTS, when set, keeps a random subsample
// of that many points (seed 1). It skips when LUNGCTL_POINTS is unset.
func BenchmarkFlatMeanShiftPointsFile(b *testing.B) {
	pts, dim, bw := pointsFromEnv(b)
	for _, bin := range []bool{true, false} {
		b.Run(fmt.Sprintf("bin=%v", bin), func(b *testing.B) {
			var r *Result
			for i := 0; i < b.N; i++ {
				var err error
				if r, err = FlatMeanShift(pts, dim, FlatOptions{Bandwidth: bw, BinSeeding: bin}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(pts)/dim), "points")
			b.ReportMetric(float64(r.K()), "clusters")
		})
	}
}

// flatSubsample returns m of the N×dim points chosen at random (all when m ≥ N),
// in their original order.
func flatSubsample(pts []float32, dim, m int, seed int64) []float32 {
	n := len(pts) / dim
	if m <= 0 || m >= n {
		return pts
	}
	perm := rand.New(rand.NewSource(seed)).Perm(n)[:m]
	slices.Sort(perm)
	out := make([]float32, 0, m*dim)
	for _, i := range perm {
		out = append(out, pts[i*dim:(i+1)*dim]...)
	}
	return out
}
