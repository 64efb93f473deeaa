package cluster_test

// Cross-check of cluster.FlatMeanShift against scikit-learn on the real
// LIDC-IDRI-0001 candidate points, produced here by the detection pipeline
// exactly as `lungctl detect --export-points` exports them. An external test
// package, so that it can import internal/pipeline (which imports cluster).

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/lungctl/lungctl/internal/cluster"
	"github.com/lungctl/lungctl/internal/detect"
	"github.com/lungctl/lungctl/internal/pipeline"
	"github.com/lungctl/lungctl/internal/shareddata"
)

func TestFlatAgainstSklearnLIDC(t *testing.T) {
	if testing.Short() {
		t.Skip("real-data scikit-learn cross-check: skipped with -short")
	}
	dir := shareddata.Dir(t, "lidc-idri-0001")
	p, err := pipeline.LoadVolumes(dir, "", pipeline.PreprocessOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, dr, err := pipeline.Detect(p, detect.Defaults, nil)
	if err != nil {
		t.Fatal(err)
	}
	bw := dr.Bandwidth[0]
	pts := cluster.EqualScale(dr.Points, 5, dr.Bandwidth, bw)
	if n := len(pts) / 5; n < 20000 {
		t.Fatalf("only %d points from LIDC-IDRI-0001", n)
	}
	// All points with bin seeding (scikit-learn ~30 s); its cluster_all=False
	// labels and its predict() (= cluster_all=True labels) from one run.
	opt := cluster.FlatOptions{Bandwidth: bw, BinSeeding: true}
	sk := cluster.SklearnFlatMeanShift(t, pts, 5, opt)
	for _, all := range []bool{false, true} {
		opt.ClusterAll = all
		r, err := cluster.FlatMeanShift(pts, 5, opt)
		if err != nil {
			t.Fatal(err)
		}
		cluster.CompareWithSklearn(t, fmt.Sprintf("LIDC-IDRI-0001 bin seeding, ClusterAll=%v", all), r, sk, 5, bw, 0.99, true)
	}
	// Every point a seed: scikit-learn takes minutes on all of them, so a
	// random subsample.
	sub := subsampleRows(pts, 5, 9000)
	opt = cluster.FlatOptions{Bandwidth: bw, ClusterAll: true}
	sk = cluster.SklearnFlatMeanShift(t, sub, 5, opt)
	r, err := cluster.FlatMeanShift(sub, 5, opt)
	if err != nil {
		t.Fatal(err)
	}
	cluster.CompareWithSklearn(t, "LIDC-IDRI-0001 9000 random points, every point a seed", r, sk, 5, bw, 0.99, true)
}

// subsampleRows returns m of the N×dim rows chosen at random (seed 1), in
// their original order.
func subsampleRows(pts []float32, dim, m int) []float32 {
	n := len(pts) / dim
	perm := rand.New(rand.NewSource(1)).Perm(n)[:min(m, n)]
	slices.Sort(perm)
	out := make([]float32, 0, len(perm)*dim)
	for _, i := range perm {
		out = append(out, pts[i*dim:(i+1)*dim]...)
	}
	return out
}
