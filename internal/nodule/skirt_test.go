package nodule

import (
	"math"
	"testing"
)

// TestSolidBallSeededBesideIt: a 9 mm solid ball of a 2.5 mm-slice
// acquisition, segmented from a point 5.5 mm off its centre with a small
// hint (a detector's cluster on its edge), is solid and 9 mm across. Read
// from the core about that seed (−477 HU), the threshold took in the ball's
// blurred edge, and the ball became the "solid part" of a 10.5 mm
// part-solid body (as phantom 702's 9 mm round nodule of seeds 701–710
// with a 2-pixel point spread did, 10.4 mm); skirtOnly sees that the body
// reaches beyond its solid part no further than blur carries, and the
// lesion is measured again from its densest point. Seeded at its centre,
// it is measured so at once.
func TestSolidBallSeededBesideIt(t *testing.T) {
	src := [3]float64{0.7, 0.7, 2.5}
	zs := math.Sqrt(psfMM*psfMM + src[2]*src[2]/4 - 0.36)
	s := scene{n: 60, wallX: math.NaN(), density: ball(0.3, -0.2, 0.1, 4.5, 880)}
	hu, m := s.render(1)
	blurZ(hu, zs)
	opt := Options{SourceSpacingMM: src}
	beside := [3]float64{5.5, 0, 0}
	bl := blurSigma(src, 0, 0, [3]float64(hu.Spacing))
	first, err := segmentAt(hu, m, beside, 5, opt, &Workspace{}, bl)
	if err != nil {
		t.Fatal(err)
	}
	if first.Type != PartSolid || !first.skirtOnly(bl) {
		t.Fatalf("the scene no longer shows the case: from beside, first measured %s %.1f mm (skirt only: %v)", first.Type, first.MeanDiameterMM, first.skirtOnly(bl))
	}
	for _, c := range []struct {
		seed [3]float64
		hint float64
	}{{beside, 5}, {[3]float64{0, 0, 0}, 9}} {
		r, err := Segment(hu, m, c.seed, c.hint, opt, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Type != Solid {
			t.Errorf("seed %v hint %.0f: %s %.1f mm, want solid", c.seed, c.hint, r.Type, r.MeanDiameterMM)
		}
		within(t, "mean diameter", r.MeanDiameterMM, 9, 0.1)
	}
	// A part-solid lesion whose ground glass reaches well beyond its core
	// is no skirt: a 12 mm ground-glass ball (250 HU over the lung) around
	// an eccentric 4 mm core stays part-solid from a seed in its ground
	// glass.
	ps := scene{n: 60, wallX: math.NaN(), density: maxOf(ball(0, 0, 0, 6, 250), ball(1, 0, 0, 2, 880))}
	hu, m = ps.render(2)
	blurZ(hu, zs)
	r, err := Segment(hu, m, [3]float64{-3.5, 0, 0}, 8, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != PartSolid {
		t.Errorf("part-solid ball from its ground glass: %s %.1f mm (solid %.1f), want part-solid", r.Type, r.MeanDiameterMM, r.SolidDiameterMM)
	}
}
