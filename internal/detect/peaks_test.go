package detect

import (
	"testing"

	"github.com/lungctl/lungctl/internal/phantom"
)

// TestPhantomPeakBesideVessel: phantom 101's 5.3 mm juxtapleural nodule
// sits at the end of a vessel whose fork lies 14 mm away, and its 33
// points join the fork's cluster. No candidate of the clusters alone lies
// on it; its own fine peak makes one, among the ten reported. (The
// pleural look finds it too, and is off here.)
func TestPhantomPeakBesideVessel(t *testing.T) {
	if testing.Short() {
		t.Skip("segments a full phantom twice")
	}
	p := preparePhantom(t, 101)
	nd := phantomNodule(t, p, phantom.Juxtapleural, 5, 6, "phantom 101 has no 5–6 mm juxtapleural nodule")
	on := func(opt Options) (int, bool) {
		opt.SeriesUID = p.UID
		res, err := Run(p.HU, p.Lung, opt)
		if err != nil {
			t.Fatal(err)
		}
		for r, c := range res.Candidates {
			if dist3(c.World, [3]float64(nd.World)) <= nd.DiameterMM/2 {
				return r + 1, true
			}
		}
		return 0, false
	}
	if r, ok := on(Options{PeakLook: -1, MaxCandidates: -1, noBumps: true}); ok {
		t.Errorf("without fine peaks the nodule is found (rank %d): the scene no longer tests them", r)
	}
	if _, ok := on(Options{noBumps: true}); !ok {
		t.Errorf("%.1f mm juxtapleural nodule at %.1f not among the 10 candidates", nd.DiameterMM, nd.World)
	}
}
