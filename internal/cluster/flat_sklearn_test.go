package cluster

// scikit-learn cross-checks of FlatMeanShift (exact: same clusters).

import (
	"bytes"
	"fmt"
	"math"
	"math/rand"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/pyref"
)

// sklearnFlat is the result of scikit-learn's MeanShift on the same points.
type sklearnFlat struct {
	Labels []int
	// Nearest is MeanShift.predict(X): every point's nearest centre (the
	// labels cluster_all=True gives with the same centres).
	Nearest []int
	Centers []float32 // sklearn's order
	Iters   int
	Seconds float64
}

// SklearnFlatMeanShift runs scikit-learn's MeanShift (flat kernel) on the
// N×dim points with the options of opt (Workers ignored, n_jobs=1) and
// returns its labels, centres and n_iter_. It skips tb when -short is set or
// /usr/bin/python3 with scikit-learn is missing. Exported for the external
// test package (real LIDC points).
func SklearnFlatMeanShift(tb testing.TB, pts []float32, dim int, opt FlatOptions) *sklearnFlat {
	tb.Helper()
	if testing.Short() {
		tb.Skip("scikit-learn cross-check: skipped with -short")
	}
	python := pyref.Python(tb, "sklearn", "numpy")
	dir := tb.TempDir()
	in := filepath.Join(dir, "pts.npy")
	if err := WritePointsNPY(in, pts, dim); err != nil {
		tb.Fatal(err)
	}
	py := `import sys, time, numpy as np, warnings
from sklearn.cluster import MeanShift
warnings.simplefilter("ignore")
X = np.load(sys.argv[1]).astype(np.float64)
t = time.perf_counter()
m = MeanShift(bandwidth=float(sys.argv[2]), bin_seeding=sys.argv[3] == "1", min_bin_freq=int(sys.argv[4]),
              cluster_all=sys.argv[5] == "1", max_iter=int(sys.argv[6])).fit(X)
el = time.perf_counter() - t
np.save(sys.argv[7], m.labels_.astype(np.float32).reshape(-1, 1))
np.save(sys.argv[8], m.cluster_centers_.astype(np.float32).reshape(-1, X.shape[1]))
np.save(sys.argv[9], m.predict(X).astype(np.float32).reshape(-1, 1))
print(m.n_iter_, el)
`
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	lab, cen, near := filepath.Join(dir, "labels.npy"), filepath.Join(dir, "centers.npy"), filepath.Join(dir, "nearest.npy")
	maxIter := opt.MaxIter
	if maxIter == 0 {
		maxIter = 300
	}
	cmd := exec.Command(python, "-c", py, in, strconv.FormatFloat(opt.Bandwidth, 'g', -1, 64),
		b(opt.BinSeeding), strconv.Itoa(max(opt.MinBinFreq, 1)), b(opt.ClusterAll), strconv.Itoa(maxIter), lab, cen, near)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("sklearn: %v\n%s", err, stderr.String())
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		tb.Fatalf("sklearn printed %q", out)
	}
	r := &sklearnFlat{}
	r.Iters, _ = strconv.Atoi(f[0])
	r.Seconds, _ = strconv.ParseFloat(f[1], 64)
	l, _, err := ReadPointsNPY(lab)
	if err != nil {
		tb.Fatal(err)
	}
	for _, v := range l {
		r.Labels = append(r.Labels, int(v))
	}
	if l, _, err = ReadPointsNPY(near); err != nil {
		tb.Fatal(err)
	}
	for _, v := range l {
		r.Nearest = append(r.Nearest, int(v))
	}
	if r.Centers, _, err = ReadPointsNPY(cen); err != nil {
		tb.Fatal(err)
	}
	return r
}

// CompareWithSklearn checks our result against scikit-learn's on the same
// points: ARI ≥ minARI, the same number of clusters when sameK, the same
// points labelled −1 up to 0.5 %, and every sklearn centre of a cluster
// with ≥ 5 points within 1e-3·bandwidth of one of ours (all centres
// when exact). It returns the ARI and the fraction of matched centres.
// Exported for the external test package.
func CompareWithSklearn(tb testing.TB, what string, r *Result, sk *sklearnFlat, dim int, bw, minARI float64, sameK bool) float64 {
	tb.Helper()
	if r.K() > 0 && sk.Labels != nil && len(r.Labels) == len(sk.Labels) {
		// Our ClusterAll run against a cluster_all=False sklearn run:
		// compare with its nearest-centre labels instead.
		all := true
		for _, l := range r.Labels {
			all = all && l >= 0
		}
		hasOrphans := false
		for _, l := range sk.Labels {
			hasOrphans = hasOrphans || l < 0
		}
		if all && hasOrphans {
			c := *sk
			c.Labels = sk.Nearest
			sk = &c
		}
	}
	ours := make([]int, len(r.Labels))
	orphans, skOrphans := 0, 0
	for i, l := range r.Labels {
		ours[i] = int(l)
		if l < 0 {
			orphans++
		}
		if sk.Labels[i] < 0 {
			skOrphans++
		}
	}
	ari := AdjustedRand(ours, sk.Labels)
	k := len(sk.Centers) / dim
	size := make([]int, k)
	for _, l := range sk.Labels {
		if l >= 0 {
			size[l]++
		}
	}
	matched, big := 0, 0
	var worst float64
	for c := 0; c < k; c++ {
		if size[c] < 5 {
			continue
		}
		big++
		best := math.Inf(1)
		for o := 0; o < r.K(); o++ {
			var d float64
			for a := 0; a < dim; a++ {
				e := float64(r.Centers[o*dim+a]) - float64(sk.Centers[c*dim+a])
				d += e * e
			}
			best = math.Min(best, d)
		}
		if math.Sqrt(best) <= 1e-3*bw {
			matched++
		} else {
			worst = math.Max(worst, math.Sqrt(best))
		}
	}
	tb.Logf("%s: %d points, lungctl K=%d iters=%d orphans=%d; sklearn K=%d iters=%d orphans=%d (%.2f s); ARI %.5f; %d/%d centres (clusters ≥ 5 points) within 1e-3·bw (worst other %.3g)",
		what, len(ours), r.K(), r.Iters, orphans, k, sk.Iters, skOrphans, sk.Seconds, ari, matched, big, worst)
	if ari < minARI {
		tb.Errorf("%s: ARI %.5f < %.3f", what, ari, minARI)
	}
	if sameK && r.K() != k {
		tb.Errorf("%s: %d clusters, sklearn %d", what, r.K(), k)
	}
	if d := orphans - skOrphans; d*d*40000 > len(ours)*len(ours) {
		tb.Errorf("%s: %d orphans, sklearn %d", what, orphans, skOrphans)
	}
	if float64(matched) < 0.98*float64(big) {
		tb.Errorf("%s: only %d of %d sklearn centres matched within 1e-3·bandwidth", what, matched, big)
	}
	return ari
}

func TestFlatAgainstSklearnBlobs(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	pts, _, _ := blobs(rng, 2000, 6, 2)
	bw := []float64{4, 4, 4, 100, 0.2}
	sc := EqualScale(pts, 5, bw, 6)
	for _, opt := range []FlatOptions{
		{Bandwidth: 6, BinSeeding: true, ClusterAll: true},
		{Bandwidth: 6, BinSeeding: false, ClusterAll: false},
	} {
		sk := SklearnFlatMeanShift(t, sc, 5, opt)
		r, err := FlatMeanShift(sc, 5, opt)
		if err != nil {
			t.Fatal(err)
		}
		CompareWithSklearn(t, fmt.Sprintf("blobs bin=%v all=%v", opt.BinSeeding, opt.ClusterAll), r, sk, 5, opt.Bandwidth, 0.99, true)
		if r.Iters != sk.Iters {
			t.Errorf("iters %d, sklearn %d", r.Iters, sk.Iters)
		}
		// The other label rule on the same clustering.
		opt.ClusterAll = !opt.ClusterAll
		if r, err = FlatMeanShift(sc, 5, opt); err != nil {
			t.Fatal(err)
		}
		if opt.ClusterAll {
			CompareWithSklearn(t, "blobs: ClusterAll vs sklearn predict", r, sk, 5, opt.Bandwidth, 0.99, true)
		}
	}
}

func TestFlatAgainstSklearnLungLike(t *testing.T) {
	bw := []float64{3, 3, 3, 150, 0.15}
	pts := EqualScale(lungLike(8000, 2), 5, bw, 3)
	for _, opt := range []FlatOptions{
		{Bandwidth: 3, BinSeeding: true, ClusterAll: false},
		{Bandwidth: 3, BinSeeding: true, ClusterAll: true, MinBinFreq: 3},
		{Bandwidth: 3, BinSeeding: false, ClusterAll: true},
	} {
		pts := pts
		if !opt.BinSeeding { // sklearn is slow with every point a seed
			pts = flatSubsample(pts, 5, 5000, 2)
		}
		sk := SklearnFlatMeanShift(t, pts, 5, opt)
		r, err := FlatMeanShift(pts, 5, opt)
		if err != nil {
			t.Fatal(err)
		}
		CompareWithSklearn(t, fmt.Sprintf("lung-like bin=%v all=%v minfreq=%d", opt.BinSeeding, opt.ClusterAll, opt.MinBinFreq), r, sk, 5, opt.Bandwidth, 0.99, false)
	}
}
