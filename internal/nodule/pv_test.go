package nodule

import (
	"math"
	"testing"

	"github.com/lungctl/lungctl/internal/volume"
)

// TestBallCentreFraction checks the closed form (isotropic blur) and the
// integral (thick slices) against a direct sum of the Gaussian over a fine
// grid inside the ball.
func TestBallCentreFraction(t *testing.T) {
	for _, c := range []struct{ r, in, slice float64 }{{1.5, 1.2, 1.2}, {3, 1, 1}, {1, 2, 2}, {6, 1.2, 1.2},
		{2, 1.05, 1.55}, {3, 1.05, 4.1}, {1.5, 1, 3}, {2.5, 1.5, 0.8}} {
		const h = 0.05
		n := int(math.Ceil(c.r/h)) + 1
		norm := math.Pow(2*math.Pi, -1.5) / (c.in * c.in * c.slice) * h * h * h
		var sum float64
		for i := -n; i <= n; i++ {
			for j := -n; j <= n; j++ {
				for k := -n; k <= n; k++ {
					x, y, z := float64(i)*h, float64(j)*h, float64(k)*h
					if x*x+y*y+z*z <= c.r*c.r {
						sum += norm * math.Exp(-(x*x+y*y)/(2*c.in*c.in)-z*z/(2*c.slice*c.slice))
					}
				}
			}
		}
		if got := ballCentreFraction(c.r, blur{c.in, c.slice}); math.Abs(got-sum) > 0.01 {
			t.Errorf("r %.1f σ %.2f in-plane, %.2f along the slice normal: %.4f, numerical %.4f", c.r, c.in, c.slice, got, sum)
		}
	}
	if got := ballCentreFraction(2, blur{}); got != 1 {
		t.Errorf("no blur: %v, want 1", got)
	}
	s := 2 / 1.5381
	if rho, a := pvDensity(-850+0.5*890, -850, 2, blur{s, s}); math.Abs(a-0.5) > 0.01 || math.Abs(rho-40) > 20 {
		t.Errorf("pvDensity: ρ %.0f A %.3f, want 40 HU at A 0.5", rho, a)
	}
}

// TestBlurSigma: thick slices blur more along the slice normal; an
// acquisition finer than the grid counts as the grid; unknown spacing is
// the grid's.
func TestBlurSigma(t *testing.T) {
	grid := [3]float64{1, 1, 1}
	thin, thick := blurSigma([3]float64{0.7, 0.7, 1}, 0, 0, grid), blurSigma([3]float64{0.7, 0.7, 2.5}, 0, 0, grid)
	if !(thick.slice > thin.slice) || thick.in != thin.in {
		t.Errorf("2.5 mm slices σ %+v, 1 mm slices %+v: want more blur along the normal only", thick, thin)
	}
	// Overlapping reconstruction: 2.5 mm thick slices every 1.25 mm blur
	// more than 1.25 mm slices and less than 2.5 mm ones every 2.5 mm.
	lo := blurSigma([3]float64{0.7, 0.7, 1.25}, 0, 0, grid)
	if o := blurSigma([3]float64{0.7, 0.7, 1.25}, 2.5, 0, grid); !(o.slice > lo.slice && o.slice < thick.slice) {
		t.Errorf("2.5 mm slices every 1.25 mm: σ %.3f, want between %.3f and %.3f", o.slice, lo.slice, thick.slice)
	}
	if got := blurSigma([3]float64{0.7, 0.7, 2.5}, 1, 0, grid); got != thick {
		t.Errorf("a thickness under the spacing: σ %+v, want the spacing's %+v", got, thick)
	}
	if got := blurSigma([3]float64{}, 0, 0, grid); got != thin {
		t.Errorf("unknown spacing σ %+v, want the 1 mm grid's %+v", got, thin)
	}
	want := math.Sqrt(smoothMM*smoothMM + psfMM*psfMM + 0.25)
	if math.Abs(thin.in-want) > 1e-12 || math.Abs(thin.slice-want) > 1e-12 {
		t.Errorf("1 mm σ %+v, want %.4f", thin, want)
	}
}

// blurZ convolves v along z with a Gaussian of σ mm (the slice profile and
// interpolation of a thick-slice acquisition).
func blurZ(v *volume.Volume[int16], sigma float64) {
	rad := int(math.Ceil(3 * sigma / v.Spacing[2]))
	w := make([]float64, 2*rad+1)
	var s float64
	for i := range w {
		z := float64(i-rad) * v.Spacing[2]
		w[i] = math.Exp(-z * z / (2 * sigma * sigma))
		s += w[i]
	}
	nx, ny, nz := v.Dims[0], v.Dims[1], v.Dims[2]
	col := make([]float64, nz)
	for j := 0; j < ny; j++ {
		for i := 0; i < nx; i++ {
			for k := 0; k < nz; k++ {
				col[k] = float64(v.At(i, j, k))
			}
			for k := 0; k < nz; k++ {
				var acc float64
				for d := -rad; d <= rad; d++ {
					kk := min(max(k+d, 0), nz-1)
					acc += w[d+rad] * col[kk]
				}
				v.Set(i, j, k, int16(math.Round(acc/s)))
			}
		}
	}
}

// TestSmallLesionDensity: 3–5 mm lesions from a 2.5 mm-slice acquisition
// are blurred far below their density (a 3.5 mm solid nodule peaks near
// −500 HU); with the acquisition spacing, the partial-volume model types
// them as they are (TestDensityTypes covers lesions of 8–16 mm, which keep
// the measured rules).
func TestSmallLesionDensity(t *testing.T) {
	src := [3]float64{0.7, 0.7, 2.5}
	// The scene already blurs by 0.6 mm; add the rest of the thick
	// slice's variance in z (psfMM² + 2.5²/4 in all, as blurSigma models).
	zs := math.Sqrt(psfMM*psfMM + src[2]*src[2]/4 - 0.36)
	cases := []struct {
		name   string
		d      float64 // mm
		hu     float64 // above the lung's −860 HU
		want   Type
		core   float64 // diameter (mm) of a core of coreHU inside, 0 = none
		coreHU float64
	}{
		{"3.5 mm solid", 3.5, 900, Solid, 0, 0},
		{"4.5 mm solid", 4.5, 900, Solid, 0, 0},
		// The body of a dense lesion is segmented halfway to the soft-tissue
		// cap (CoreCapHU), wider than the lesion, so its radius is
		// overstated and its density understated: the model is
		// conservative, and a 3.5 mm nodule of 640 HU stays solid; a
		// denser granuloma is called calcified.
		{"3.5 mm calcified", 3.5, 1800, Calcified, 0, 0},
		{"3.5 mm of 640 HU (understated)", 3.5, 1500, Solid, 0, 0},
		{"4 mm calcified", 4, 1300, Calcified, 0, 0},
		{"4.5 mm ground glass", 4.5, 300, NonSolid, 0, 0},
		{"5 mm ground glass", 5, 350, NonSolid, 0, 0},
		// A 3 mm soft-tissue core in 14 mm ground glass peaks some 250 HU
		// over the plateau, far below −300 HU; a denser focus of ground
		// glass as wide is no core.
		{"14 mm ground glass, 3 mm core", 14, 260, PartSolid, 3, 880},
		{"14 mm ground glass, 3 mm denser focus", 14, 260, NonSolid, 3, 400},
		// Cores of 2.2–2.5 mm peak only 80–120 HU over the plateau, no
		// more than ground-glass texture does; their excess attenuation
		// is that of a soft-tissue ball 2.2–2.5 mm across, and the
		// reported solid diameter is that ball's, not the blur's.
		{"10 mm ground glass, 2.4 mm core", 10, 260, PartSolid, 2.4, 880},
		{"12 mm ground glass, 2.2 mm core", 12, 200, PartSolid, 2.2, 900},
		// Foci of ground-glass density hold as much excess as a 2.4–2.9 mm
		// core, spread over sets 5–15 times as wide as that core's would
		// be (its cores here: 1.5–2.1 times).
		{"12 mm ground glass, 6 mm focus of 110 HU more", 12, 260, NonSolid, 6, 370},
	}
	for _, c := range cases {
		f := ball(0, 0, 0, c.d/2, c.hu)
		if c.core > 0 {
			f = maxOf(f, ball(1.5, 0, 0, c.core/2, c.coreHU))
		}
		s := scene{n: 40, wallX: math.NaN(), density: f}
		hu, m := s.render(3)
		blurZ(hu, zs)
		r, err := Segment(hu, m, [3]float64{0, 0, 0}, c.d, Options{SourceSpacingMM: src}, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if r.Type != c.want {
			t.Errorf("%s: type %s, want %s (partial-volume density %.0f HU at attenuation %.2f, diameter %.1f mm)",
				c.name, r.Type, c.want, r.PVDensityHU, r.PVAttenuation, r.MeanDiameterMM)
		}
		if c.want == PartSolid && math.Abs(r.SolidDiameterMM-c.core) > 0.25*c.core {
			t.Errorf("%s: solid diameter %.2f mm, want %.1f ± 25 %%", c.name, r.SolidDiameterMM, c.core)
		}
		if r.Type == Solid && r.SolidDiameterMM < r.MeanDiameterMM {
			t.Errorf("%s: small solid lesion's solid part %.1f mm < its diameter %.1f", c.name, r.SolidDiameterMM, r.MeanDiameterMM)
		}
	}
}

// TestSmallSolidVolume: the half-maximum body of a 4–7 mm solid nodule
// from 2.5 mm slices is not its size (in this noiseless scene its voxel
// count reads 19–92 % high at 4–6 mm; on the phantoms a fifth low); its volume comes
// from the excess that blur conserves over its partial-volume density
// (smallVolume), within 12 % of the ball's from 5 mm. At 4 mm (attenuation
// 0.55) the excess fixes little more than density times volume, and 35 %
// is what is asked.
func TestSmallSolidVolume(t *testing.T) {
	src := [3]float64{0.7, 0.7, 2.5}
	zs := math.Sqrt(psfMM*psfMM + src[2]*src[2]/4 - 0.36)
	for _, c := range []struct{ d, tol float64 }{{4, 0.35}, {5, 0.12}, {6, 0.12}, {7, 0.12}} {
		s := scene{n: 40, wallX: math.NaN(), density: ball(0, 0, 0, c.d/2, 900)}
		hu, m := s.render(3)
		blurZ(hu, zs)
		r, err := Segment(hu, m, [3]float64{0, 0, 0}, c.d, Options{SourceSpacingMM: src}, nil)
		if err != nil {
			t.Fatalf("%g mm: %v", c.d, err)
		}
		want := math.Pi / 6 * c.d * c.d * c.d
		if r.Type != Solid || math.Abs(r.VolumeMM3-want) > c.tol*want {
			t.Errorf("%g mm solid ball: %s, volume %.1f mm³, want %.1f ± %.0f %% (attenuation %.2f)", c.d, r.Type, r.VolumeMM3, want, 100*c.tol, r.PVAttenuation)
		}
	}
}

// TestEccentricCore: a detector cluster on a small, blurred core near the
// edge of its ground glass seeds the segmentation there; the shell around
// the seed then lies half outside the ground glass (measured alone, the
// core reads as a 5.9 mm solid nodule), and the ring just beyond the core
// must still find it, so that the whole lesion is measured.
func TestEccentricCore(t *testing.T) {
	src := [3]float64{0.7, 0.7, 2.5}
	zs := math.Sqrt(psfMM*psfMM + src[2]*src[2]/4 - 0.36)
	f := maxOf(ball(0, 0, 0, 7, 250), ball(4.3, 0, 0, 2.2, 880))
	s := scene{n: 48, wallX: math.NaN(), density: f}
	hu, m := s.render(5)
	blurZ(hu, zs)
	r, err := Segment(hu, m, [3]float64{4.3, 0, 0}, 6, Options{SourceSpacingMM: src}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != PartSolid || r.MeanDiameterMM < 11.5 || r.MeanDiameterMM > 17 {
		t.Errorf("14 mm ground glass with a 4.4 mm core 4.3 mm off its centre, seeded on the core: %s, %.1f mm (solid %.1f mm), want part-solid of about 14 mm",
			r.Type, r.MeanDiameterMM, r.SolidDiameterMM)
	}
}
