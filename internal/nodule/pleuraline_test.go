package nodule

import (
	"math"
	"testing"
)

// TestClosingLens: a 21 mm nodule whose centre lies 3 mm off a flat wall
// meets it over a base of about 10 mm radius. The lung mask's 15 mm
// per-slice closing brings it into the mask only down to the closing
// disk's arc across each axial slice's chord of the base, leaving a lens
// of its base (up to 3.8 mm deep) outside the mask, which is what the
// scene's outMask reproduces here, slice by slice as the closing does.
// The body must reach the pleura through that lens, and no further:
// before, the extension waited for contacts of 15 mm radius, and this
// body read 2,800 mm³ of the 3,435 mm³ on the lung side of the wall
// (−18 %); now 3,125 (−9 %).
func TestClosingLens(t *testing.T) {
	const wall, r, cx, R = 10.0, 10.5, 7.0, 15.0
	a := math.Sqrt(r*r - (wall-cx)*(wall-cx)) // the base's radius
	lens := func(x, y, z float64) bool {
		az2 := a*a - z*z // the chord's half-width in this axial slice, squared
		if az2 <= y*y {
			return false
		}
		return x > wall-(math.Sqrt(R*R-y*y)-math.Sqrt(R*R-az2))
	}
	s := scene{n: 64, wallX: wall, density: ball(cx, 0, 0, r, 900), outMask: lens}
	hu, m := s.render(3)
	res, err := Segment(hu, m, [3]float64{cx - 3, 0, 0}, 21, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := r + wall - cx // the lung-side cap's height
	within(t, "lung-side cap volume", res.VolumeMM3, math.Pi*h*h*(3*r-h)/3, 0.10)
	if res.PleuraAddedMM3 < 300 {
		t.Errorf("added through the lens: %.0f mm³, want most of its ≈600 mm³", res.PleuraAddedMM3)
	}
	if !res.Contains([3]float64{8.5, 0, 0}) {
		t.Error("the body stops short of the pleura at (8.5, 0, 0)")
	}
	if res.Contains([3]float64{11.5, 0, 0}) || res.Contains([3]float64{9, 12, 0}) {
		t.Error("the body reaches into the wall or past its base")
	}
}

// TestLensDepth: the lens is deepest at the contact's centre, empty at
// its rim, and unbounded once the contact is as wide as the closing.
func TestLensDepth(t *testing.T) {
	if d := lensDepth(0, 10); math.Abs(d-(15-math.Sqrt(125))) > 1e-12 {
		t.Errorf("centre of a 10 mm contact: %.3f mm", d)
	}
	if d := lensDepth(10, 10); math.Abs(d) > 1e-12 {
		t.Errorf("rim: %.3f mm, want 0", d)
	}
	if !math.IsInf(lensDepth(3, 15), 1) {
		t.Error("a contact as wide as the closing is bounded")
	}
}
