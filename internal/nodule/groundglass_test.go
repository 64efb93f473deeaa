package nodule

import (
	"math"
	"testing"
)

// TestFaintGroundGlassCrossedByVessels: a 15 mm ground-glass ball only
// 100 HU over the lung, crossed by small vessels, one of them 1.5 mm from
// its centre. At the threshold halfway to the densest tenth about the seed
// (that vessel) the body is the plateau's upper part with vessel pieces,
// irregular (sphericity 0.68 from one seed before faintPlateau); measured
// from the plateau about the seed it is the round lesion (0.87).
func TestFaintGroundGlassCrossedByVessels(t *testing.T) {
	f := maxOf(ball(0, 0, 0, 7.5, 100),
		tube([3]float64{-30, 4, -30}, [3]float64{30, 4, 30}, 1.2, 880),
		tube([3]float64{-4.5, -30, -20}, [3]float64{-4.5, 30, 20}, 1.0, 880),
		tube([3]float64{-30, -4, 25}, [3]float64{30, -4, -25}, 0.9, 880),
		tube([3]float64{1.5, -30, 0}, [3]float64{1.5, 30, 0}, 0.5, 880))
	s := scene{n: 56, wallX: math.NaN(), density: f, noise: 20}
	for _, c := range []struct {
		seed [3]float64
		hint float64
	}{{[3]float64{0, 1, 0}, 10}, {[3]float64{1, 0, -1}, 9}, {[3]float64{0, 0, 0}, 12}} {
		r := segmentScene(t, s, c.seed, c.hint)
		t.Logf("seed %v hint %.0f: %s %.1f × %.1f mm, sphericity %.2f, threshold %.0f HU", c.seed, c.hint, r.Type, r.LongAxisMM, r.ShortAxisMM, r.Sphericity, r.ThresholdHU)
		if r.Type != NonSolid {
			t.Errorf("seed %v hint %.0f: type %s, want non-solid", c.seed, c.hint, r.Type)
		}
		within(t, "mean diameter", r.MeanDiameterMM, 15, 0.2)
		if r.Sphericity < 0.8 {
			t.Errorf("seed %v hint %.0f: sphericity %.2f, want ≥ 0.8 (a ball)", c.seed, c.hint, r.Sphericity)
		}
	}
}
