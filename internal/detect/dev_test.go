package detect

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lungctl/lungctl/internal/volio"
)

// TestDev is a tuning aid: LUNGCTL_DEV=hu.nii.gz:mask.nii.gz:x,y,z runs the
// detector and prints every candidate with its distance to x,y,z.
func TestDev(t *testing.T) {
	spec := os.Getenv("LUNGCTL_DEV")
	if spec == "" {
		t.Skip("tuning aid")
	}
	for _, one := range strings.Split(spec, ";") {
		f := strings.Split(one, ":")
		hu, err := volio.ReadHU(f[0])
		if err != nil {
			t.Fatal(err)
		}
		m, err := volio.ReadMask(f[1])
		if err != nil {
			t.Fatal(err)
		}
		var c [3]float64
		fmt.Sscanf(f[2], "%g,%g,%g", &c[0], &c[1], &c[2])
		opt := Options{MaxCandidates: 30}
		t0 := time.Now()
		res, err := Run(hu, m, opt)
		if err != nil {
			t.Fatal(err)
		}
		lv := map[int]int{}
		for _, l := range res.Scale {
			lv[int(l)]++
		}
		t.Logf("%s: %d points %v, %d clusters, %.2fs", f[0], len(res.Points)/5, lv, res.Clusters, time.Since(t0).Seconds())
		for i, cd := range res.Candidates {
			t.Logf("%2d score %.3f d=%5.1f mm from truth; (%.0f %.0f %.0f) diam %.1f HU %.0f SI %.3f fill %.2f",
				i+1, cd.DetectScore, dist(cd.World, c), cd.World[0], cd.World[1], cd.World[2], cd.DiameterMM, cd.MeanHU, cd.MeanSI, cd.Compactness)
		}
	}
}
