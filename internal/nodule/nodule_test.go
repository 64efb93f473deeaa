package nodule

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lungctl/lungctl/internal/features"
	"github.com/lungctl/lungctl/internal/volume"
)

// scene is a synthetic 1 mm chest patch: lung at −860 HU with blur and
// noise, lesions described by density functions of the LPS point.
type scene struct {
	n       int
	density func(x, y, z float64) float64 // HU above lung, 0 outside lesions
	wallX   float64                       // x ≥ wallX is chest wall (+40 HU, outside the mask); NaN = none
	noise   float64                       // noise SD (HU); 0 = 15
	// inMask, when set, puts wall voxels where it is true inside the lung
	// mask, as a closing that bridged a juxtapleural nodule's bay does;
	// outMask leaves lung-side voxels where it is true out of it, as a
	// mass step whose chord fell short of the pleura does.
	inMask, outMask func(x, y, z float64) bool
}

// render samples the scene with 3×3×3 supersampling per voxel (partial
// volume), blurs it (σ 0.6 mm, like a reconstruction kernel), adds noise
// (SD 15 HU unless s.noise says) and builds the lung mask (not wall).
func (s scene) render(seed uint64) (*volume.Volume[int16], *volume.Volume[uint8]) {
	o := -float64(s.n-1) / 2
	g := volume.Grid{Dims: [3]int{s.n, s.n, s.n}, Spacing: volume.Vec3{1, 1, 1}, Origin: volume.Vec3{o, o, o}, Direction: volume.Identity}
	f := volume.New[float32](g)
	m := volume.New[uint8](g)
	for k := 0; k < s.n; k++ {
		for j := 0; j < s.n; j++ {
			for i := 0; i < s.n; i++ {
				w := g.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
				var acc float64
				for dz := -1; dz <= 1; dz++ {
					for dy := -1; dy <= 1; dy++ {
						for dx := -1; dx <= 1; dx++ {
							x, y, z := w[0]+float64(dx)/3, w[1]+float64(dy)/3, w[2]+float64(dz)/3
							v := -860.0
							if !math.IsNaN(s.wallX) && x >= s.wallX {
								v = 40
							} else if s.density != nil {
								v += s.density(x, y, z)
							}
							acc += v
						}
					}
				}
				f.Set(i, j, k, float32(acc/27))
				lungSide := math.IsNaN(s.wallX) || w[0] < s.wallX
				if lungSide && (s.outMask == nil || !s.outMask(w[0], w[1], w[2])) || !lungSide && s.inMask != nil && s.inMask(w[0], w[1], w[2]) {
					m.Set(i, j, k, 1)
				}
			}
		}
	}
	if err := features.SmoothInPlace(f, 0.6); err != nil {
		panic(err)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	hu := volume.New[int16](g)
	sd := s.noise
	if sd == 0 {
		sd = 15
	}
	for p, v := range f.Data {
		hu.Data[p] = int16(math.Round(float64(v) + sd*r.NormFloat64()))
	}
	return hu, m
}

func ball(cx, cy, cz, r, hu float64) func(x, y, z float64) float64 {
	return func(x, y, z float64) float64 {
		if (x-cx)*(x-cx)+(y-cy)*(y-cy)+(z-cz)*(z-cz) <= r*r {
			return hu
		}
		return 0
	}
}

// tube is a cylinder of radius r from a to b.
func tube(a, b [3]float64, r, hu float64) func(x, y, z float64) float64 {
	d := [3]float64{b[0] - a[0], b[1] - a[1], b[2] - a[2]}
	l2 := d[0]*d[0] + d[1]*d[1] + d[2]*d[2]
	return func(x, y, z float64) float64 {
		t := ((x-a[0])*d[0] + (y-a[1])*d[1] + (z-a[2])*d[2]) / l2
		if t < 0 || t > 1 {
			return 0
		}
		px, py, pz := a[0]+t*d[0]-x, a[1]+t*d[1]-y, a[2]+t*d[2]-z
		if px*px+py*py+pz*pz <= r*r {
			return hu
		}
		return 0
	}
}

// maxOf combines density functions by their maximum.
func maxOf(fs ...func(x, y, z float64) float64) func(x, y, z float64) float64 {
	return func(x, y, z float64) float64 {
		v := 0.0
		for _, f := range fs {
			v = math.Max(v, f(x, y, z))
		}
		return v
	}
}

func segmentScene(t *testing.T, s scene, seed [3]float64, hint float64) *Result {
	t.Helper()
	hu, m := s.render(1)
	r, err := Segment(hu, m, seed, hint, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func within(t *testing.T, what string, got, want, rel float64) {
	t.Helper()
	if math.Abs(got-want) > rel*want {
		t.Errorf("%s = %.2f, want %.2f ± %.0f %%", what, got, want, 100*rel)
	}
}

func TestSolidBall(t *testing.T) {
	for _, d := range []float64{5, 10, 20} {
		s := scene{n: int(2*d) + 24, wallX: math.NaN(), density: ball(0.3, -0.2, 0.1, d/2, 900)}
		r := segmentScene(t, s, [3]float64{1, 0, -1}, d)
		if r.Type != Solid {
			t.Errorf("%.0f mm ball: type %s", d, r.Type)
		}
		within(t, "mean diameter", r.MeanDiameterMM, d, 0.1)
		// Partial volume: a 5 mm ball's blurred edge sits inside its true
		// surface, so its volume (a cube of its diameter) reads up to a
		// third low; larger balls within 20 %.
		tol := 0.2
		if d < 6 {
			tol = 0.35
		}
		within(t, "volume", r.VolumeMM3, math.Pi*d*d*d/6, tol)
		if r.Sphericity < 0.8 || r.Spiculation > 0.3 || r.Lobulation > 0.4 {
			t.Errorf("%.0f mm ball: sphericity %.2f spiculation %.2f lobulation %.2f", d, r.Sphericity, r.Spiculation, r.Lobulation)
		}
		if c := r.Centre; math.Hypot(math.Hypot(c[0]-0.3, c[1]+0.2), c[2]-0.1) > 0.5 {
			t.Errorf("%.0f mm ball: centre %v", d, c)
		}
		if !r.PleuraBeyond {
			t.Errorf("no wall in the box, but pleura distance %.1f is not marked as a bound", r.PleuraDistanceMM)
		}
	}
}

func TestDensityTypes(t *testing.T) {
	cases := []struct {
		name  string
		f     func(x, y, z float64) float64
		d     float64
		want  Type
		solid float64 // expected solid diameter, 0 = none
	}{
		{"ground glass", ball(0, 0, 0, 8, 260), 16, NonSolid, 0},
		{"part-solid", maxOf(ball(0, 0, 0, 8, 240), ball(1, 0, 0, 3, 880)), 16, PartSolid, 6},
		// A vessel through ground glass is not a solid component.
		{"ground glass with a vessel", maxOf(ball(0, 0, 0, 8, 260), tube([3]float64{-7, -2, -5}, [3]float64{7, 2, 5}, 1, 880)), 16, NonSolid, 0},
		// A vessel through ground glass is the largest dense set, but the
		// smaller round core beside it is the solid component.
		{"part-solid with a vessel", maxOf(ball(0, 0, 0, 8, 240), tube([3]float64{-7, 4, -5}, [3]float64{7, 4, 5}, 1.2, 880), ball(-3, -3, 0, 2.25, 880)), 16, PartSolid, 4.5},
		{"calcified", ball(0, 0, 0, 4, 1300), 8, Calcified, 8},
		// Central calcification (a granuloma's benign pattern): a 5 mm
		// calcified core fills an eighth of a 10 mm soft-tissue nodule, so
		// the body's 75th percentile is soft tissue; core and centre are not.
		{"central calcification", maxOf(ball(0, 0, 0, 5, 880), ball(0, 0, 0, 2.5, 1400)), 10, Calcified, 10},
		// An eccentric fleck of calcium in a soft-tissue nodule does not
		// make it a calcified (benign) nodule.
		{"solid with a fleck", maxOf(ball(0, 0, 0, 6, 880), ball(3.5, 0, 0, 1.5, 1600)), 12, Solid, 12},
		{"solid", ball(0, 0, 0, 6, 880), 12, Solid, 12},
	}
	for _, c := range cases {
		r := segmentScene(t, scene{n: 50, wallX: math.NaN(), density: c.f}, [3]float64{0, 0, 0}, c.d)
		if r.Type != c.want {
			t.Errorf("%s: type %s, want %s (solid %.1f of %.1f mm, mean HU %.0f)", c.name, r.Type, c.want, r.SolidDiameterMM, r.MeanDiameterMM, r.MeanHU)
		}
		within(t, c.name+" diameter", r.MeanDiameterMM, c.d, 0.12)
		if c.solid > 0 && c.want == PartSolid {
			within(t, c.name+" solid diameter", r.SolidDiameterMM, c.solid, 0.3)
		}
		if c.solid == 0 && r.SolidDiameterMM >= 2 {
			t.Errorf("%s: solid component %.1f mm", c.name, r.SolidDiameterMM)
		}
	}
}

// A vessel through a nodule is cut off by the opening: the diameter stays
// the nodule's, not the vessel's length.
func TestVesselCutOff(t *testing.T) {
	f := maxOf(ball(0, 0, 0, 5, 900), tube([3]float64{-25, 0, 0}, [3]float64{25, 3, 2}, 1.2, 900))
	r := segmentScene(t, scene{n: 60, wallX: math.NaN(), density: f}, [3]float64{0, 0, 0}, 10)
	within(t, "diameter with a vessel", r.MeanDiameterMM, 10, 0.15)
	within(t, "volume with a vessel", r.VolumeMM3, math.Pi*1000/6, 0.25)
}

// spiculatedBall is a 12 mm ball (900 HU over the lung) with nine strands
// 1.4 mm thick (700 HU) from 4 mm to 11–15 mm from its centre.
func spiculatedBall() func(x, y, z float64) float64 {
	rng := rand.New(rand.NewPCG(5, 5))
	fs := []func(x, y, z float64) float64{ball(0, 0, 0, 6, 900)}
	for i := 0; i < 9; i++ {
		u := Fibonacci(i*7+3, 63)
		l := 11 + 4*rng.Float64()
		fs = append(fs, tube([3]float64{4 * u[0], 4 * u[1], 4 * u[2]}, [3]float64{l * u[0], l * u[1], l * u[2]}, 0.7, 700))
	}
	return maxOf(fs...)
}

func TestSpiculatedVersusRound(t *testing.T) {
	spic := segmentScene(t, scene{n: 60, wallX: math.NaN(), density: spiculatedBall()}, [3]float64{0, 0, 0}, 12)
	round := segmentScene(t, scene{n: 60, wallX: math.NaN(), density: ball(0, 0, 0, 6, 900)}, [3]float64{0, 0, 0}, 12)
	t.Logf("spiculated: %.2f (%d strands); round: %.2f (%d)", spic.Spiculation, spic.Protrusions, round.Spiculation, round.Protrusions)
	if spic.Protrusions < 7 || spic.Protrusions > 11 || spic.Spiculation < 0.5 {
		t.Errorf("spiculated ball with 9 strands: spiculation %.2f with %d strands", spic.Spiculation, spic.Protrusions)
	}
	if round.Spiculation > 0.3 {
		t.Errorf("round ball: spiculation %.2f", round.Spiculation)
	}
	within(t, "spiculated body diameter", spic.MeanDiameterMM, 12, 0.15)
}

// TestShortSpicules: an 8 mm nodule with eight spicules reaching 3.5 mm
// beyond its surface (as far as a phantom's spicules reach on a nodule
// that small) is spiculated; strands had to reach 4 mm beyond the body,
// past its blurred rim, to count before rays were used (0 found then).
func TestShortSpicules(t *testing.T) {
	fs := []func(x, y, z float64) float64{ball(0, 0, 0, 4, 900)}
	for i := 0; i < 8; i++ {
		u := Fibonacci(i, 8)
		fs = append(fs, tube([3]float64{3 * u[0], 3 * u[1], 3 * u[2]}, [3]float64{7.5 * u[0], 7.5 * u[1], 7.5 * u[2]}, 0.6, 700))
	}
	r := segmentScene(t, scene{n: 50, wallX: math.NaN(), density: maxOf(fs...)}, [3]float64{0, 0, 0}, 8)
	t.Logf("short spicules: %.2f (%d strands), body %.1f mm", r.Spiculation, r.Protrusions, r.MeanDiameterMM)
	if r.Protrusions < 5 || r.Protrusions > 10 {
		t.Errorf("8 mm nodule with 8 short spicules: %d strands (spiculation %.2f), want 5–10", r.Protrusions, r.Spiculation)
	}
}

// TestNoisyRoundNotSpiculated: in a noisy scan (90 HU, low dose) a round nodule with a
// vessel passing 1.5 mm from it is not spiculated: the strand level stays
// three noise SDs above the lung (NoiseHU), and the vessel runs on out of
// the shell.
func TestNoisyRoundNotSpiculated(t *testing.T) {
	f := maxOf(ball(0, 0, 0, 6, 900), tube([3]float64{-25, 8.7, -3}, [3]float64{25, 8.7, 3}, 1.2, 800))
	r := segmentScene(t, scene{n: 60, wallX: math.NaN(), density: f, noise: 90}, [3]float64{0, 0, 0}, 12)
	t.Logf("noisy round: %.2f (%d strands), noise %.0f HU", r.Spiculation, r.Protrusions, r.NoiseHU)
	if r.Spiculation >= 0.5 {
		t.Errorf("noisy round nodule: spiculation %.2f (%d strands)", r.Spiculation, r.Protrusions)
	}
	within(t, "noise estimate", r.NoiseHU, 90, 0.15)
}

// TestVesselsBesideRoundNotSpicules: six vessels pass a 12 mm round nodule
// 1.7 mm beyond its surface, across the rays from its centre. Each ray
// leaves its vessel within the shell, so each looked like a strand that
// ends (six of them, spiculated, before spicRise); but along the ray the
// density rises beyond the halo, where a spicule's falls from its base.
func TestVesselsBesideRoundNotSpicules(t *testing.T) {
	fs := []func(x, y, z float64) float64{ball(0, 0, 0, 6, 900)}
	for i := 0; i < 6; i++ {
		u := Fibonacci(i, 6)
		w := [3]float64{1, 0, 0} // across u
		if math.Abs(u[2]) < 0.9 {
			l := math.Hypot(u[0], u[1])
			w = [3]float64{-u[1] / l, u[0] / l, 0}
		}
		c := [3]float64{8.5 * u[0], 8.5 * u[1], 8.5 * u[2]}
		fs = append(fs, tube([3]float64{c[0] - 30*w[0], c[1] - 30*w[1], c[2] - 30*w[2]},
			[3]float64{c[0] + 30*w[0], c[1] + 30*w[1], c[2] + 30*w[2]}, 0.8, 880))
	}
	r := segmentScene(t, scene{n: 60, wallX: math.NaN(), density: maxOf(fs...)}, [3]float64{0, 0, 0}, 12)
	t.Logf("round with vessels beside it: %.2f (%d strands)", r.Spiculation, r.Protrusions)
	if r.Protrusions > 2 || r.Spiculation >= SpiculatedAt {
		t.Errorf("round nodule with six vessels passing it: %d strands, spiculation %.2f", r.Protrusions, r.Spiculation)
	}
}

func TestPleuraDistance(t *testing.T) {
	touch := segmentScene(t, scene{n: 50, wallX: 10, density: ball(4.5, 0, 0, 5.5, 900)}, [3]float64{4, 0, 0}, 11)
	if touch.PleuraBeyond || touch.PleuraDistanceMM > 0.5 {
		t.Errorf("juxtapleural ball: pleura distance %.1f mm (bound %v)", touch.PleuraDistanceMM, touch.PleuraBeyond)
	}
	apart := segmentScene(t, scene{n: 50, wallX: 14, density: ball(-2, 0, 0, 5, 900)}, [3]float64{-2, 0, 0}, 10)
	if apart.PleuraBeyond || math.Abs(apart.PleuraDistanceMM-11) > 1.5 {
		t.Errorf("ball 11 mm from the wall: pleura distance %.1f mm (bound %v)", apart.PleuraDistanceMM, apart.PleuraBeyond)
	}
}

func TestNoLesion(t *testing.T) {
	hu, m := scene{n: 40, wallX: math.NaN()}.render(3)
	if _, err := Segment(hu, m, [3]float64{0, 0, 0}, 8, Options{}, nil); !errors.Is(err, ErrNoLesion) {
		t.Errorf("plain lung: %v, want ErrNoLesion", err)
	}
	// A 3 mm nodule, the smallest LUNA16 counts, is measured, not taken
	// for a body too small to be a lesion (open's 2 mm-ball floor).
	small, sm := scene{n: 40, wallX: math.NaN(), density: ball(0.2, 0.1, -0.3, 1.5, 900)}.render(3)
	if r, err := Segment(small, sm, [3]float64{0, 0, 0}, 3, Options{}, nil); err != nil || r.VolumeMM3 < 4.2 {
		t.Errorf("3 mm nodule: %v", err)
	}
	// On a 2 mm grid one dense voxel (8 mm³) is more than open's floor,
	// but it has no shape to measure.
	g := volume.Grid{Dims: [3]int{24, 24, 24}, Spacing: volume.Vec3{2, 2, 2}, Origin: volume.Vec3{-23, -23, -23}, Direction: volume.Identity}
	coarse, cm := volume.New[int16](g), volume.New[uint8](g)
	rng := rand.New(rand.NewPCG(9, 10))
	for p := range coarse.Data {
		coarse.Data[p], cm.Data[p] = int16(-860+rng.NormFloat64()*10), 1
	}
	coarse.Set(12, 12, 12, 40)
	if r, err := Segment(coarse, cm, [3]float64{1, 1, 1}, 4, Options{}, nil); !errors.Is(err, ErrNoLesion) {
		t.Errorf("one voxel on a 2 mm grid: %v (%+v), want ErrNoLesion", err, r)
	}
	if _, err := Segment(hu, m, [3]float64{500, 0, 0}, 8, Options{}, nil); !errors.Is(err, ErrInput) {
		t.Errorf("seed outside: %v, want ErrInput", err)
	}
	if _, err := Segment(nil, m, [3]float64{0, 0, 0}, 8, Options{}, nil); !errors.Is(err, ErrInput) {
		t.Errorf("nil volume: %v", err)
	}
}

// neighbours26 lists each in-box neighbour once, never p itself: 26 inside,
// 7 at a corner of a 3×3×3 box.
func TestNeighbours26(t *testing.T) {
	const nx, ny, nz = 3, 3, 3
	for _, c := range []struct{ p, want int }{{13, 26}, {0, 7}, {26, 7}, {4, 17}} {
		seen := map[int]bool{}
		for _, np := range neighbours26(c.p, nx, ny, nz) {
			if np < 0 {
				continue
			}
			if np == c.p || seen[np] || np >= nx*ny*nz {
				t.Fatalf("p %d: bad neighbour %d", c.p, np)
			}
			seen[np] = true
		}
		if len(seen) != c.want {
			t.Errorf("p %d: %d neighbours, want %d", c.p, len(seen), c.want)
		}
	}
}

// A faint ground-glass ball crossed near its centre by two vessels: the
// vessels raise the core's density and with it the first threshold, which
// then holds the vessels and a sliver of the ground glass. Measured again
// from its ground glass alone, the lesion is the ball.
func TestGroundGlassAcrossVessels(t *testing.T) {
	f := maxOf(ball(0, 0, 0, 7, 150),
		tube([3]float64{-30, 3, -6}, [3]float64{30, 3, 6}, 1, 880),
		tube([3]float64{-3, -30, 8}, [3]float64{-3, 30, -8}, 0.8, 880))
	r := segmentScene(t, scene{n: 64, wallX: math.NaN(), density: f}, [3]float64{0, 0, 0}, 14)
	if r.Type != NonSolid {
		t.Errorf("type %s, want non-solid", r.Type)
	}
	within(t, "ground glass across vessels: volume", r.VolumeMM3, math.Pi*14*14*14/6, 0.25)
	within(t, "ground glass across vessels: mean diameter", r.MeanDiameterMM, 14, 0.15)
	if r.Sphericity < 0.8 {
		t.Errorf("sphericity %.2f: the body follows the vessels", r.Sphericity)
	}
	// Measured again from its ground glass, the lesion keeps the noise of
	// its surroundings (the spicule level stands on it).
	within(t, "ground glass across vessels: noise", r.NoiseHU, 15, 0.15)
}

// TestCutAtPleura: a juxtapleural nodule (a ball cut by the chest wall at
// x = 10 mm, 8.5 mm high) whose lung mask also holds 3 mm of the wall
// under and around it, as the mask's closing leaves it: the body ends at
// the pleura (nothing beyond x = 10.5), its volume is the cap's, it still
// touches the wall (pleura distance 0), and the wall taken off is
// reported. A nodule in the lung loses nothing.
func TestCutAtPleura(t *testing.T) {
	const wall, r, cx = 10.0, 7.0, 8.5
	bulge := func(x, y, z float64) bool { return x < wall+3 && y*y+z*z < 9*9 }
	s := scene{n: 50, wallX: wall, density: ball(cx, 0, 0, r, 900), inMask: bulge}
	hu, m := s.render(1)
	res, err := Segment(hu, m, [3]float64{6, 0, 0}, 14, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	beyond := 0
	g := res.Box
	for k := 0; k < g.Dims[2]; k++ {
		for j := 0; j < g.Dims[1]; j++ {
			for i := 0; i < g.Dims[0]; i++ {
				if res.Mask[i+g.Dims[0]*(j+g.Dims[1]*k)] != 0 && g.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})[0] > wall+0.5 {
					beyond++
				}
			}
		}
	}
	if beyond > 0 {
		t.Errorf("%d body voxels beyond the pleura", beyond)
	}
	h := r + wall - cx
	within(t, "cap volume", res.VolumeMM3, math.Pi*h*h*(3*r-h)/3, 0.15)
	if res.PleuraCutMM3 < 200 {
		t.Errorf("wall taken off: %.0f mm³, want the 3 mm slab under the cap", res.PleuraCutMM3)
	}
	if res.PleuraDistanceMM != 0 {
		t.Errorf("pleura distance %.1f mm after the cut, want 0", res.PleuraDistanceMM)
	}
	inLung := segmentScene(t, scene{n: 50, wallX: 14, density: ball(-2, 0, 0, 5, 900)}, [3]float64{-2, 0, 0}, 10)
	if inLung.PleuraCutMM3 != 0 {
		t.Errorf("a nodule 11 mm from the wall lost %.0f mm³", inLung.PleuraCutMM3)
	}
}

// TestExtendToPleura: a 40 mm mass against the chest wall (x = 10 mm)
// whose lung mask stops 6 mm short of the wall across a 34 mm wide base,
// as the mass step's coarse chord can: the body grows to the pleura under
// it, and its volume is the clipped ball's.
func TestExtendToPleura(t *testing.T) {
	const wall, r, cx = 10.0, 20.0, -2.0
	chord := func(x, y, z float64) bool { return x > 4 && y*y+z*z < 17*17 }
	s := scene{n: 80, wallX: wall, density: ball(cx, 0, 0, r, 900), outMask: chord}
	hu, m := s.render(1)
	res, err := Segment(hu, m, [3]float64{-6, 0, 0}, 40, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := r + wall - cx
	within(t, "clipped ball volume", res.VolumeMM3, math.Pi*h*h*(3*r-h)/3, 0.1)
	if res.PleuraAddedMM3 < 1000 {
		t.Errorf("added up to the pleura: %.0f mm³, want the 6 mm slab under the mass", res.PleuraAddedMM3)
	}
	if !res.Contains([3]float64{8, 0, 0}) {
		t.Errorf("the body stops short of the pleura at (8, 0, 0)")
	}
	if res.Contains([3]float64{11.5, 0, 0}) {
		t.Errorf("the body reaches into the wall at (11.5, 0, 0)")
	}
}

// TestFitHeight: the pleural surface fit recovers a quadratic surface
// exactly, falls back to a plane on few points, and neither panics nor
// claims a fit on points that cannot determine it (all at one place).
func TestFitHeight(t *testing.T) {
	want := func(u, v float64) float64 { return 1.5 - 0.2*u + 0.1*v + 0.01*u*u - 0.004*u*v + 0.006*v*v }
	var pts [][3]float64
	for i := 0; i < 60; i++ {
		u, v := 20*math.Cos(float64(i)*0.7), 15*math.Sin(float64(i)*1.3)
		pts = append(pts, [3]float64{u, v, want(u, v)})
	}
	f, rms, ok := fitHeight(pts)
	if !ok || rms > 1e-9 || math.Abs(f(3, -4)-want(3, -4)) > 1e-9 {
		t.Errorf("quadratic: ok %v, rms %g, f(3,−4) %g, want %g", ok, rms, f(3, -4), want(3, -4))
	}
	plane := func(u, v float64) float64 { return 2 + 0.3*u - 0.1*v }
	pts = pts[:0]
	for i := 0; i < 10; i++ {
		u, v := float64(i%4)*5, float64(i/4)*5
		pts = append(pts, [3]float64{u, v, plane(u, v)})
	}
	if f, rms, ok := fitHeight(pts); !ok || rms > 1e-9 || math.Abs(f(1, 1)-plane(1, 1)) > 1e-9 {
		t.Errorf("plane from 10 points: ok %v, rms %g", ok, rms)
	}
	same := make([][3]float64, 40)
	for i := range same {
		same[i] = [3]float64{3, 3, 1}
	}
	if _, _, ok := fitHeight(same); ok {
		t.Errorf("40 copies of one point gave a surface")
	}
}

// TestMassVolume: a solid nodule's volume comes from the HU excess that
// blur conserves, not from its voxel count, whose half-maximum boundary
// lies inside a blurred ball (an 8 mm ball's mask holds 216 mm³ of its
// 268). Balls of 8–20 mm read within 3 %; a 6 mm one (small for the
// partial-volume model at 2.5 mm slices, so read over its partial-volume
// density: smallVolume) within 12 %, where its mask holds 72 %.
func TestMassVolume(t *testing.T) {
	for _, c := range []struct{ d, tol float64 }{{6, 0.12}, {8, 0.03}, {12, 0.03}, {20, 0.03}} {
		s := scene{n: int(2*c.d) + 24, wallX: math.NaN(), density: ball(0.3, -0.2, 0.1, c.d/2, 900)}
		hu, m := s.render(1)
		r, err := Segment(hu, m, [3]float64{1, 0, -1}, c.d, Options{SourceSpacingMM: [3]float64{0.7, 0.7, 2.5}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		voxels := 0
		for _, v := range r.Mask {
			voxels += int(v)
		}
		truth := math.Pi * c.d * c.d * c.d / 6
		within(t, fmt.Sprintf("%.0f mm ball's volume (mask %d mm³)", c.d, voxels), r.VolumeMM3, truth, c.tol)
	}
}

// TestRecentreOffCentreSeed: a 50 mm mass seeded 17 mm from its centre
// with a 30 mm hint (a cluster near its edge) is measured whole: the cap
// sized from the hint cuts the region on the far side, so Segment starts
// again from the region's centroid. Without that, the far side was cut
// off (as for a phantom mass, 50 × 38 mm, 45 mL against 56 × 43 mm,
// 71 mL).
func TestRecentreOffCentreSeed(t *testing.T) {
	s := scene{n: 84, wallX: math.NaN(), density: ball(0, 0, 0, 25, 900)}
	r := segmentScene(t, s, [3]float64{17, 0, 0}, 30)
	within(t, "long axis", r.LongAxisMM, 50, 0.06)
	within(t, "volume", r.VolumeMM3, math.Pi*50*50*50/6, 0.1)
	if c := r.Centre; math.Hypot(math.Hypot(c[0], c[1]), c[2]) > 1 {
		t.Errorf("centre %v, want the mass's (0, 0, 0)", c)
	}
}

// TestDenseGroundGlassPartSolid: a 10 mm part-solid lesion whose ground
// glass is dense (−600 HU, 60 % of the way from the lung to its core) is
// measured to its ground glass's edge, not to where the threshold halfway
// to the core cuts through the ground glass.
func TestDenseGroundGlassPartSolid(t *testing.T) {
	// Volume: within 25 % (the 10 mm one 40 %: the core's blurred rim
	// raises its ground-glass level); before the second measurement the
	// 10 and 12 mm lesions read 122 and 362 mm³ (−77 %, −60 %).
	for _, c := range []struct {
		gg, d, volTol float64
	}{{260, 10, 0.4}, {260, 14, 0.25}, {300, 12, 0.25}} {
		r := segmentScene(t, scene{n: 44, wallX: math.NaN(), density: maxOf(ball(0, 0, 0, c.d/2, c.gg), ball(0.5, 0, 0, 2, 880))}, [3]float64{0, 0, 0}, c.d)
		if r.Type != PartSolid {
			t.Errorf("%.0f mm at %.0f HU: type %s", c.d, c.gg-860, r.Type)
		}
		within(t, fmt.Sprintf("%.0f mm at %.0f HU: mean diameter", c.d, c.gg-860), r.MeanDiameterMM, c.d, 0.12)
		within(t, fmt.Sprintf("%.0f mm at %.0f HU: volume", c.d, c.gg-860), r.VolumeMM3, math.Pi*c.d*c.d*c.d/6, c.volTol)
	}
}

// TestGroundGlassBesideVessel: a 10 mm ground-glass ball with a vessel
// running along its edge. At the ground-glass threshold the vessel's
// blurred skirt, of the lesion's own density, joins the region along the
// whole vessel; the ground glass's opening (half its inscribed radius)
// cuts it off, so the body is the ball's, as measured without the vessel,
// up to where the two touch. With a quarter of the inscribed radius the
// body ran 12 mm along the vessel (23–25 × 13–14 mm, sphericity 0.8).
func TestGroundGlassBesideVessel(t *testing.T) {
	lesion := ball(0, 0, 0, 5, 250)
	alone := segmentScene(t, scene{n: 64, wallX: math.NaN(), density: lesion}, [3]float64{0, 0, 0}, 10)
	t.Logf("alone: %s %.1f × %.1f mm, sphericity %.2f", alone.Type, alone.LongAxisMM, alone.ShortAxisMM, alone.Sphericity)
	for _, v := range []struct {
		name string
		r, d float64 // vessel radius, distance of its axis from the centre (mm)
	}{{"vessel touching", 1.2, 5.8}, {"vessel cutting the edge", 1.5, 4.5}} {
		f := maxOf(lesion, tube([3]float64{-30, v.d, -4}, [3]float64{30, v.d, 4}, v.r, 880))
		r := segmentScene(t, scene{n: 64, wallX: math.NaN(), density: f}, [3]float64{0, 0, 0}, 10)
		t.Logf("%s: %s %.1f × %.1f mm, sphericity %.2f, opening %.1f mm", v.name, r.Type, r.LongAxisMM, r.ShortAxisMM, r.Sphericity, r.OpeningMM)
		if r.Type != NonSolid {
			t.Errorf("%s: type %s, want non-solid", v.name, r.Type)
		}
		if r.LongAxisMM > alone.LongAxisMM+2 || r.MeanDiameterMM > alone.MeanDiameterMM+1.5 {
			t.Errorf("%s: %.1f × %.1f mm, the ball alone %.1f × %.1f: the body follows the vessel", v.name,
				r.LongAxisMM, r.ShortAxisMM, alone.LongAxisMM, alone.ShortAxisMM)
		}
		if r.Sphericity < 0.9 {
			t.Errorf("%s: sphericity %.2f: the body follows the vessel", v.name, r.Sphericity)
		}
	}
}

// TestFaintGroundGlassBesideSmallVessel: a 7.2 mm ground-glass nodule
// 200 HU over the lung, touched by a small vessel along z (1.8–2.2 mm
// across, blurred to −450…−260 HU: under SolidHU, and so ground glass to
// an opening taken of the voxels below it) is measured about as it is
// alone. Its ground glass's dense level (ggDenseLevel: twice its contrast
// over the lung) leaves the vessel out of the opening; with SolidHU the
// body ran along the vessel, 9.8–10.2 mm long.
func TestFaintGroundGlassBesideSmallVessel(t *testing.T) {
	lesion := ball(0, 0, 0, 3.6, 200)
	alone := segmentScene(t, scene{n: 48, wallX: math.NaN(), density: lesion}, [3]float64{0, 0, 0}, 7)
	for _, v := range []struct{ r, d float64 }{{0.9, 4.0}, {1.1, 4.0}, {1.1, 4.5}} {
		f := maxOf(lesion, tube([3]float64{v.d, 0, -30}, [3]float64{v.d, 0, 30}, v.r, 880))
		r := segmentScene(t, scene{n: 48, wallX: math.NaN(), density: f}, [3]float64{-1, 0, 0}, 7)
		t.Logf("vessel r %.1f mm at %.1f mm: %s %.1f × %.1f mm (alone %.1f × %.1f)", v.r, v.d, r.Type, r.LongAxisMM, r.ShortAxisMM, alone.LongAxisMM, alone.ShortAxisMM)
		if r.Type != NonSolid || r.LongAxisMM > alone.LongAxisMM+2 {
			t.Errorf("vessel r %.1f mm at %.1f mm: %s %.1f × %.1f mm, the nodule alone %.1f × %.1f: the body follows the vessel",
				v.r, v.d, r.Type, r.LongAxisMM, r.ShortAxisMM, alone.LongAxisMM, alone.ShortAxisMM)
		}
	}
}

// TestGroundGlassAgainstLargeVessels: a 17 mm ground-glass ball (−580 HU)
// held between three vessels of 7–9 mm, seeded at its centre and off it
// (where a blob point may lie) with the hint of a coarse cluster. At the
// threshold halfway to the ground glass the region holds the vessels too,
// which the opening keeps (they are thicker than it), so the first body is
// tangled (sphericity under psTangled) and typed part-solid from the
// vessels' voxels; measured from its ground glass alone it has no solid
// part, and that rounder, non-solid body is the lesion (before, it was
// kept part-solid, 40–47 × 20–28 mm). With a solid core of 4.5–6 mm inside the
// ground glass the lesion stays part-solid: the ground glass measured
// alone may cut such a core out, but it then encloses it (enclosesDense).
func TestGroundGlassAgainstLargeVessels(t *testing.T) {
	f := maxOf(ball(0, 0, 0, 8.5, 280),
		tube([3]float64{-40, 12.5, -10}, [3]float64{40, 12.5, 10}, 4.5, 900),
		tube([3]float64{-10, -40, -11.5}, [3]float64{10, 40, -11.5}, 3.5, 900),
		tube([3]float64{-11.5, -10, -40}, [3]float64{-11.5, 10, 40}, 3.5, 900))
	segment := func(hu *volume.Volume[int16], m *volume.Volume[uint8], seed [3]float64, hint float64) *Result {
		r, err := Segment(hu, m, seed, hint, Options{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	hu, m := scene{n: 72, wallX: math.NaN(), density: f}.render(1)
	for _, hint := range []float64{20, 24} {
		for _, seed := range [][3]float64{{0, 4, 0}, {2, -2, -3}} {
			r := segment(hu, m, seed, hint)
			t.Logf("hint %.0f mm, seed %v: %s %.1f × %.1f mm, sphericity %.2f", hint, seed, r.Type, r.LongAxisMM, r.ShortAxisMM, r.Sphericity)
			if r.Type != NonSolid {
				t.Errorf("hint %.0f mm, seed %v: type %s, want non-solid", hint, seed, r.Type)
			}
			within(t, fmt.Sprintf("hint %.0f mm, seed %v: mean diameter", hint, seed), r.MeanDiameterMM, 17, 0.2)
		}
	}
	for _, core := range []float64{2.25, 2.5, 3} {
		hu, m := scene{n: 72, wallX: math.NaN(), density: maxOf(f, ball(-1, -2, 1, core, 900))}.render(1)
		for _, seed := range [][3]float64{{-1, 4, 0}, {0, 4, 0}} {
			r := segment(hu, m, seed, 20)
			t.Logf("with a %.1f mm core, seed %v: %s %.1f × %.1f mm (solid %.1f mm), sphericity %.2f", 2*core, seed, r.Type, r.LongAxisMM, r.ShortAxisMM, r.SolidDiameterMM, r.Sphericity)
			if r.Type != PartSolid {
				t.Errorf("with a %.1f mm core, seed %v: type %s, want part-solid", 2*core, seed, r.Type)
			}
		}
	}
}

// TestGroundGlassCrossedByVessels: a 17 mm ground-glass ball that two
// vessels of 2.5 mm radius cross 4.5 mm from its centre, joined to two
// more beyond it, seeded in its ground glass with a cluster's hint (10 or
// 14 mm). The core read about the seed is the vessels', the
// threshold halfway to it follows the vessel tree, and the ground glass is
// left out: a solid, tangled body (26–30 mm). Measured from the seed's
// own ground glass, the lesion is non-solid and 13–14 mm across: the
// opening trims the ground glass along the vessels that cross it, so the
// tolerance is wide; the type is what the test is about.
func TestGroundGlassCrossedByVessels(t *testing.T) {
	f := maxOf(ball(0, 0, 0, 8.5, 280),
		tube([3]float64{-40, 4.5, -8}, [3]float64{40, 4.5, 8}, 2.5, 900),
		tube([3]float64{-4.5, -40, 6}, [3]float64{-4.5, 40, -6}, 2.5, 900),
		tube([3]float64{-4.5, 4.5, 0}, [3]float64{-30, 30, 40}, 2, 900),
		tube([3]float64{-4.5, -30, 4.5}, [3]float64{20, -30, -35}, 2, 900))
	hu, m := scene{n: 72, wallX: math.NaN(), density: f}.render(1)
	for _, hint := range []float64{10, 14} {
		for _, seed := range [][3]float64{{2, -2, 2}, {1, -1, -3}} {
			r, err := Segment(hu, m, seed, hint, Options{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("hint %.0f mm, seed %v: %s %.1f × %.1f mm, sphericity %.2f", hint, seed, r.Type, r.LongAxisMM, r.ShortAxisMM, r.Sphericity)
			if r.Type != NonSolid {
				t.Errorf("hint %.0f mm, seed %v: type %s, want non-solid", hint, seed, r.Type)
			}
			within(t, fmt.Sprintf("hint %.0f mm, seed %v: mean diameter", hint, seed), r.MeanDiameterMM, 17, 0.25)
		}
	}
}
