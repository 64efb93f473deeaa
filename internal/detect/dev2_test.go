package detect

import (
	"fmt"
	"os"
	"testing"
)

func TestDevNear(t *testing.T) {
	spec := os.Getenv("LUNGCTL_NEAR")
	if spec == "" {
		t.Skip("tuning aid")
	}
	var seed int64
	var c [3]float64
	fmt.Sscanf(spec, "%d:%g,%g,%g", &seed, &c[0], &c[1], &c[2])
	p := preparePhantom(t, seed)
	for _, nd := range p.Nodules {
		t.Logf("truth %s %.1f at %v", nd.Kind, nd.DiameterMM, nd.World)
	}
	res, err := Run(p.HU, p.Lung, Options{MaxCandidates: -1, Stage1: 400})
	if err != nil {
		t.Fatal(err)
	}
	lv := map[int]int{}
	for q := 0; q < len(res.Scale); q++ {
		x := [3]float64{float64(res.Points[5*q]), float64(res.Points[5*q+1]), float64(res.Points[5*q+2])}
		if dist(x, c) < 12 {
			lv[int(res.Scale[q])]++
		}
	}
	t.Logf("points within 12 mm by scale: %v", lv)
	for r, cd := range res.Candidates {
		if d := dist(cd.World, c); d < 25 {
			f := res.Features[r]
			t.Logf("rank %d d=%.1f final %.3f stage1 %.3f cdiam %.1f si %.3f hu %.0f fill %.2f lvl %d seg %v sph %.2f segd %.1f", r+1, d, cd.DetectScore, f.Stage1, f.ClusterDiamMM, f.MeanSI, f.ClusterHU, f.Fill, f.Level, f.Segmented, f.Sphericity, f.SegDiamMM)
		}
	}
}
