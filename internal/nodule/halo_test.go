package nodule

import (
	"math"
	"testing"
)

// TestThickSliceHalo: smooth balls of 6–10 mm from 5 mm slices have no
// spicules. Their blurred edge reaches further along the slice normal than
// in-plane, and read against one halo for every direction the rays along
// z were strands: 7 "spicules" on the 6 mm ball (flagged spiculated), 2–3
// on the others. Each ray's run is now read in units of the blur along it.
func TestThickSliceHalo(t *testing.T) {
	src := [3]float64{0.7, 0.7, 5}
	zs := math.Sqrt(psfMM*psfMM + src[2]*src[2]/4 - 0.36)
	for _, d := range []float64{6, 8, 10} {
		s := scene{n: 40, wallX: math.NaN(), density: ball(0, 0, 0, d/2, 900)}
		hu, m := s.render(2)
		blurZ(hu, zs)
		r, err := Segment(hu, m, [3]float64{0.2, -0.3, 0.1}, d, Options{SourceSpacingMM: src}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Protrusions != 0 {
			t.Errorf("%.0f mm ball, 5 mm slices: %d spicules (score %.2f), want none", d, r.Protrusions, r.Spiculation)
		}
	}
}
