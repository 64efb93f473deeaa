package nodule

import (
	"math"
	"testing"
)

// A nodule against a vessel thicker than the opening (a quarter of its
// inscribed radius, 1 mm here) keeps the vessel after the opening; the
// widened opening of cutVessels takes it off, so the nodule is measured
// as itself, not as a nodule-and-vessel 20 mm long.
func TestVesselBesideNodule(t *testing.T) {
	for _, c := range []struct{ r, vr float64 }{{4, 1.8}, {5, 2.2}, {6, 2.6}} {
		// The vessel's axis runs past the nodule, sunk 0.5 mm into it.
		d := c.r + c.vr - 0.5
		f := maxOf(ball(0, 0, 0, c.r, 900), tube([3]float64{-25, d, -3}, [3]float64{25, d, 3}, c.vr, 900))
		r := segmentScene(t, scene{n: 60, wallX: math.NaN(), density: f}, [3]float64{0, 0, 0}, 2*c.r)
		t.Logf("%.0f mm nodule, vessel radius %.1f mm: mean diameter %.1f (%.1f × %.1f) mm, %.0f mm³, sphericity %.2f",
			2*c.r, c.vr, r.MeanDiameterMM, r.LongAxisMM, r.ShortAxisMM, r.VolumeMM3, r.Sphericity)
		within(t, "mean diameter beside a vessel", r.MeanDiameterMM, 2*c.r, 0.15)
		within(t, "volume beside a vessel", r.VolumeMM3, math.Pi*8*c.r*c.r*c.r/6, 0.25)
		if r.LongAxisMM > 2*c.r+2 {
			t.Errorf("%.0f mm nodule: long axis %.1f mm, want the nodule's", 2*c.r, r.LongAxisMM)
		}
		if r.Sphericity < 0.8 {
			t.Errorf("%.0f mm nodule: sphericity %.2f, want a ball's", 2*c.r, r.Sphericity)
		}
	}
}

// Where vessels meet, the junction is a blob once its branches are cut,
// and would score like a nodule: branches as thick as the junction stay
// on it. So does a vessel as thick as the nodule beside it (the limit:
// vesselMaxRatio).
func TestVesselJunctionKept(t *testing.T) {
	y := maxOf(tube([3]float64{-25, 0, 0}, [3]float64{0, 0, 0}, 2, 900),
		tube([3]float64{0, 0, 0}, [3]float64{20, 14, 3}, 2, 900),
		tube([3]float64{0, 0, 0}, [3]float64{20, -14, -3}, 2, 900),
		ball(0, 0, 0, 2.4, 900))
	r := segmentScene(t, scene{n: 60, wallX: math.NaN(), density: y}, [3]float64{0, 0, 0}, 6)
	if r.LongAxisMM < 12 {
		t.Errorf("junction of 2 mm vessels: long axis %.1f mm, want the branches kept (≥ 12 mm)", r.LongAxisMM)
	}
	thick := maxOf(ball(0, 0, 0, 3, 900), tube([3]float64{-25, 4.7, -3}, [3]float64{25, 4.7, 3}, 2.2, 900))
	r = segmentScene(t, scene{n: 60, wallX: math.NaN(), density: thick}, [3]float64{0, 0, 0}, 6)
	if r.LongAxisMM < 12 {
		t.Errorf("6 mm nodule on a vessel of 2.2 mm radius: long axis %.1f mm, want the vessel kept (≥ 12 mm)", r.LongAxisMM)
	}
}

// On thick slices the cut is off: a slab averages vessels crossing it into
// blobs, and a junction cut free would score like a nodule.
func TestVesselCutThinSlicesOnly(t *testing.T) {
	f := maxOf(ball(0, 0, 0, 4, 900), tube([3]float64{-25, 5.3, -3}, [3]float64{25, 5.3, 3}, 1.8, 900))
	hu, m := scene{n: 60, wallX: math.NaN(), density: f}.render(1)
	for _, c := range []struct {
		slice float64
		cut   bool
	}{{1, true}, {2.5, true}, {5, false}} {
		r, err := Segment(hu, m, [3]float64{0, 0, 0}, 8, Options{SourceSpacingMM: [3]float64{0.7, 0.7, c.slice}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if cut := r.LongAxisMM <= 10; cut != c.cut {
			t.Errorf("%.1f mm slices: long axis %.1f mm, vessel cut %v, want %v", c.slice, r.LongAxisMM, cut, c.cut)
		}
	}
}
