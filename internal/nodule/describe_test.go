package nodule

import (
	"math"
	"testing"
)

// TestDescribeMatchesSegment: segmented with DeferDescriptors and then
// described, a lesion has the spiculation, lobulation and pleura distance
// that Segment gives it directly, to the bit, and the same other
// measurements: a spiculated nodule, a lobulated one, one beside vessels,
// and one cut at the pleura (whose cut Describe must take out of the lung
// mask again: with the cut voxels left in the lung, the pleura distance
// of TestCutAtPleura's nodule reads 1.2 mm, not 0).
func TestDescribeMatchesSegment(t *testing.T) {
	const wall = 10.0
	bulge := func(x, y, z float64) bool { return x < wall+3 && y*y+z*z < 9*9 }
	cases := []struct {
		name string
		s    scene
		seed [3]float64
		hint float64
		cut  bool
	}{
		{"spiculated", scene{n: 60, wallX: math.NaN(), density: spiculatedBall()}, [3]float64{}, 12, false},
		{"lobulated", scene{n: 50, wallX: math.NaN(), density: maxOf(ball(0, 0, 0, 6, 900), ball(5, 2, 0, 3.5, 900), ball(-2, -5, 2, 3, 900))}, [3]float64{}, 14, false},
		{"beside vessels", scene{n: 50, wallX: math.NaN(), density: maxOf(ball(0, 0, 0, 4, 900), tube([3]float64{-20, 5, 0}, [3]float64{20, 5, 0}, 1, 800))}, [3]float64{}, 8, false},
		{"cut at the pleura", scene{n: 50, wallX: wall, density: ball(8.5, 0, 0, 7, 900), inMask: bulge}, [3]float64{6, 0, 0}, 14, true},
	}
	for _, c := range cases {
		hu, m := c.s.render(3)
		want, err := Segment(hu, m, c.seed, c.hint, Options{}, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got, err := Segment(hu, m, c.seed, c.hint, Options{DeferDescriptors: true}, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !got.pending || got.Spiculation != 0 || got.Lobulation != 0 {
			t.Fatalf("%s: descriptors not deferred (pending %v, spiculation %.2f)", c.name, got.pending, got.Spiculation)
		}
		if c.cut && len(got.lungCut) == 0 {
			t.Fatalf("%s: no pleural cut recorded", c.name)
		}
		var ws Workspace // a workspace that has segmented something else
		if _, err := Segment(hu, m, [3]float64{-15, -15, -15}, 6, Options{}, &ws); err == nil {
			t.Logf("%s: the other seed found a lesion", c.name)
		}
		if err := got.Describe(hu, m, &ws); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got.Spiculation != want.Spiculation || got.Protrusions != want.Protrusions || got.Lobulation != want.Lobulation ||
			got.PleuraDistanceMM != want.PleuraDistanceMM || got.PleuraBeyond != want.PleuraBeyond {
			t.Errorf("%s: described spiculation %v (%d), lobulation %v, pleura %v (%v); Segment %v (%d), %v, %v (%v)", c.name,
				got.Spiculation, got.Protrusions, got.Lobulation, got.PleuraDistanceMM, got.PleuraBeyond,
				want.Spiculation, want.Protrusions, want.Lobulation, want.PleuraDistanceMM, want.PleuraBeyond)
		}
		if got.VolumeMM3 != want.VolumeMM3 || got.MeanDiameterMM != want.MeanDiameterMM || got.Type != want.Type || got.BlobRatio != want.BlobRatio {
			t.Errorf("%s: other measurements differ: %+v vs %+v", c.name, got, want)
		}
		t.Logf("%s: spiculation %.2f (%d), lobulation %.2f, pleura %.1f mm", c.name, got.Spiculation, got.Protrusions, got.Lobulation, got.PleuraDistanceMM)
		// Describing again changes nothing.
		before := *got
		if err := got.Describe(hu, m, nil); err != nil || got.Spiculation != before.Spiculation {
			t.Errorf("%s: a second Describe: %v, spiculation %v → %v", c.name, err, before.Spiculation, got.Spiculation)
		}
	}
}
