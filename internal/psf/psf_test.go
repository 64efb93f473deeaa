package psf

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lungctl/lungctl/internal/volume"
)

// body renders an elliptical body (40 HU inside, −1000 HU air around it)
// whose edge is blurred by a Gaussian of sigma mm, with noise of sd HU, on
// a grid of px mm pixels.
func body(sigma, sd, px float64) *volume.Volume[int16] {
	n := int(360 / px)
	g := volume.Grid{Dims: [3]int{n, n, 12}, Spacing: volume.Vec3{px, px, 2}, Direction: volume.Identity}
	v := volume.New[int16](g)
	r := rand.New(rand.NewPCG(1, 2))
	c := float64(n-1) / 2
	for k := 0; k < g.Dims[2]; k++ {
		for j := 0; j < n; j++ {
			for i := 0; i < n; i++ {
				x, y := (float64(i)-c)*px, (float64(j)-c)*px
				// Signed distance (mm, approximately) to the ellipse's outline,
				// positive inside.
				d := 150 * (1 - math.Hypot(x/150, y/110))
				if x == 0 && y == 0 {
					d = 110
				}
				f := 0.5 * math.Erfc(-d/(sigma*math.Sqrt2))
				v.Data[(k*n+j)*n+i] = int16(math.Round(-1000 + 1040*f + sd*r.NormFloat64()))
			}
		}
	}
	return v
}

// TestEdgeSigma: the edge's σ comes back within 15 % from 0.6 to 1.6 mm
// (sharp to soft kernels) on 0.7 and 1 mm pixels, with 20 HU of noise
// (the sharpest on 1 mm pixels reads 13 % wide: the crossings are
// interpolated linearly between samples a σ and a half apart).
// (The ellipse's sides along y are where the rows cross the edge most
// squarely; its tilt elsewhere only widens what a row reads.)
func TestEdgeSigma(t *testing.T) {
	for _, px := range []float64{0.7, 1} {
		for _, sigma := range []float64{0.6, 1, 1.6} {
			got, n, ok := EdgeSigma(body(sigma, 20, px))
			if !ok || math.Abs(got-sigma) > 0.15*sigma {
				t.Errorf("pixel %.1f mm, σ %.1f mm: read %.3f mm from %d edges (ok %v)", px, sigma, got, n, ok)
			}
		}
	}
}

// TestEdgeSigmaNone: a volume with no air around a body has no edge to
// read.
func TestEdgeSigmaNone(t *testing.T) {
	g := volume.Grid{Dims: [3]int{64, 64, 8}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	v := volume.New[int16](g)
	for p := range v.Data {
		v.Data[p] = 40
	}
	if s, n, ok := EdgeSigma(v); ok {
		t.Errorf("σ %.2f mm read from %d edges of a uniform volume", s, n)
	}
}

// TestKernelSigma takes the pixel's width and the interpolation off an
// edge's σ, and never goes below zero.
func TestKernelSigma(t *testing.T) {
	if got := KernelSigma(math.Sqrt(0.5*0.5+0.25), 1); math.Abs(got-0.5) > 1e-12 {
		t.Errorf("KernelSigma = %v, want 0.5", got)
	}
	if got := KernelSigma(0.1, 1); got != 0 {
		t.Errorf("KernelSigma of an edge sharper than its pixels = %v, want 0", got)
	}
}

// TestKernel is EdgeSigma then KernelSigma: with the acquisition's pixel
// given, and with none (the volume's own spacing then); no edge, no σ.
func TestKernel(t *testing.T) {
	v := body(1, 20, 0.7)
	edge, _, _ := EdgeSigma(v)
	for _, px := range []float64{0.7, 0, math.NaN()} {
		got, ok := Kernel(v, px)
		if want := KernelSigma(edge, 0.7); !ok || got != want {
			t.Errorf("px %v: Kernel = %v, %v; want %v, true", px, got, ok, want)
		}
	}
	if got, ok := Kernel(v, 0.35); !ok || got <= KernelSigma(edge, 0.7) {
		t.Errorf("finer acquisition pixels take less off: %v, %v", got, ok)
	}
	g := volume.Grid{Dims: [3]int{64, 64, 8}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	if s, ok := Kernel(volume.New[int16](g), 1); ok {
		t.Errorf("σ %.2f mm read from a volume with no edge", s)
	}
}
