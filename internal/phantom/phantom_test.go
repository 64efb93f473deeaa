package phantom

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/testfs"
	"github.com/lungctl/lungctl/internal/volume"
)

// testKinds is every kind, the mass first (it needs the most room).
var testKinds = []Kind{Mass, Round, Lobulated, Spiculated, Juxtapleural, Calcified, GroundGlass, PartSolid}

// allKinds is a Small phantom with one lesion of every kind, in testKinds
// order.
func allKinds(t testing.TB, seed int64, noise float64) *Chest {
	t.Helper()
	c, err := Generate(Options{Seed: seed, Nodules: len(testKinds), Kinds: testKinds, NoiseHU: noise})
	if err != nil {
		t.Fatalf("Generate(seed %d): %v", seed, err)
	}
	return c
}

func TestDeterminism(t *testing.T) {
	a := allKinds(t, 11, 0)
	b := allKinds(t, 11, 0)
	if !slices.Equal(a.HU.Data, b.HU.Data) || !slices.Equal(a.Lung.Data, b.Lung.Data) {
		t.Fatal("same seed gave different voxels")
	}
	if !slices.Equal(a.Nodules, b.Nodules) || a.HU.Grid != b.HU.Grid || a.SeriesUID != b.SeriesUID {
		t.Fatal("same seed gave different truth, grid or UIDs")
	}
	// The worker budget does not change a bit.
	for _, n := range []int{1, 3} {
		old := par.Limit()
		par.SetLimit(n)
		c := allKinds(t, 11, 0)
		par.SetLimit(old)
		if !slices.Equal(a.HU.Data, c.HU.Data) || !slices.Equal(a.Lung.Data, c.Lung.Data) || !slices.Equal(a.Nodules, c.Nodules) {
			t.Fatalf("%d workers gave a different phantom than %d", n, old)
		}
	}
	c := allKinds(t, 12, 0)
	if slices.Equal(a.HU.Data, c.HU.Data) || slices.Equal(a.Nodules, c.Nodules) || a.SeriesUID == c.SeriesUID {
		t.Fatal("different seeds gave the same phantom")
	}
	// Patches too.
	for _, k := range AllKinds {
		if !slices.Equal(Patch(3, k, 12, 32, true).Data, Patch(3, k, 12, 32, true).Data) {
			t.Fatalf("%s: same seed gave different patches", k)
		}
		if slices.Equal(Patch(3, k, 12, 32, true).Data, Patch(4, k, 12, 32, true).Data) {
			t.Fatalf("%s: different seeds gave the same patch", k)
		}
	}
}

func TestGeometry(t *testing.T) {
	for seed := int64(0); seed < 20; seed++ {
		for _, s := range []Size{Small, Full} {
			g, err := gridFor(s, 2.5, newRand(seed, 1))
			if err != nil {
				t.Fatal(err)
			}
			if err := g.Validate(); err != nil {
				t.Fatal(err)
			}
			if s == Full && (g.Dims[0] != 512 || g.Dims[1] != 512 || g.Dims[2] < 130 || g.Dims[2] > 160 || g.Spacing[0] != 0.703125 || g.Spacing[2] != 2.5) {
				t.Errorf("Full grid %+v", g)
			}
			if s == Small && (g.Dims != [3]int{128, 128, 64} || g.Spacing != (volume.Vec3{2.5, 2.5, 2.5})) {
				t.Errorf("Small grid %+v", g)
			}
			// Scanner-like origin: image centred near 0, z negative.
			half := float64(g.Dims[0]) * g.Spacing[0] / 2
			for a := 0; a < 2; a++ {
				if math.Abs(g.Origin[a]+half) > 6 {
					t.Errorf("origin %v not near −%g", g.Origin, half)
				}
			}
			top := g.Origin[2] + float64(g.Dims[2]-1)*g.Spacing[2]
			if top >= 0 {
				t.Errorf("z range up to %g, want negative", top)
			}
		}
	}
	if _, err := Generate(Options{Size: Size(9)}); !errors.Is(err, ErrOptions) {
		t.Errorf("bad size: %v, want ErrOptions", err)
	}
	if _, err := Generate(Options{Kinds: []Kind{"blob"}}); !errors.Is(err, ErrOptions) {
		t.Errorf("bad kind: %v, want ErrOptions", err)
	}
	for _, o := range []Options{
		{MinDiameterMM: 10, MaxDiameterMM: 5}, {MaxDiameterMM: 61}, {MinDiameterMM: math.NaN()},
		{MassMinDiameterMM: 10}, {MassMinDiameterMM: 50, MassMaxDiameterMM: 40}, {MassMaxDiameterMM: 101},
		{MassProbability: 1.5}, {MassProbability: math.NaN()}, {NoiseHU: math.Inf(1)}, {NoiseHU: 501},
		{PSFFWHMPixels: math.NaN()}, {PSFFWHMPixels: 11}, {SliceProfileFWHMMM: 21}, {SliceProfileFWHMMM: math.NaN()},
	} {
		if err := o.Validate(); !errors.Is(err, ErrOptions) {
			t.Errorf("%+v: Validate %v, want ErrOptions", o, err)
		}
		if _, err := Generate(o); !errors.Is(err, ErrOptions) {
			t.Errorf("%+v: Generate %v, want ErrOptions", o, err)
		}
	}
	if err := (Options{Size: Full, Kinds: AllKinds, NoiseHU: -1, PSFFWHMPixels: -1, SliceProfileFWHMMM: -1, MassProbability: -1}).Validate(); err != nil {
		t.Errorf("valid options: %v", err)
	}
	if _, err := Generate(Options{Nodules: 60, MinDiameterMM: 28, MaxDiameterMM: 30, Kinds: []Kind{Round}}); !errors.Is(err, ErrNoRoom) {
		t.Errorf("60 nodules of 30 mm in a small chest: %v, want ErrNoRoom", err)
	}
	c, err := Generate(Options{Seed: 1, Nodules: -1})
	if err != nil || len(c.Nodules) != 0 {
		t.Errorf("Nodules −1: %v, %d nodules", err, len(c.Nodules))
	}
}

// at returns the HU and lung label of the voxel nearest world point p.
func at(c *Chest, p volume.Vec3) (int16, uint8, bool) {
	idx := c.HU.WorldToIndex(p)
	i, j, k := int(math.Round(idx[0])), int(math.Round(idx[1])), int(math.Round(idx[2]))
	if !c.HU.In(i, j, k) {
		return 0, 0, false
	}
	return c.HU.At(i, j, k), c.Lung.At(i, j, k), true
}

// shell samples the HU and lung label on a sphere of radius r (mm) about p.
func shell(c *Chest, p volume.Vec3, r float64) (hu []int16, lung []uint8) {
	const m = 400
	for i := 0; i < m; i++ {
		u := fibonacci(i, m)
		if h, l, ok := at(c, add(p, scale(u, r))); ok {
			hu = append(hu, h)
			lung = append(lung, l)
		}
	}
	return hu, lung
}

func TestAnatomy(t *testing.T) {
	c := allKinds(t, 21, 0)
	g := c.HU.Grid
	nx, ny, nz := g.Dims[0], g.Dims[1], g.Dims[2]
	// Outside the scan circle: exactly −1000 and not lung.
	if v := c.HU.At(0, 0, nz/2); v != -1000 {
		t.Errorf("corner voxel %d HU, want −1000", v)
	}
	var air, fat, soft, bone, lung, table int
	for k := 0; k < nz; k++ {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				v := c.HU.At(i, j, k)
				switch {
				case v < -950:
					air++
				case v > -130 && v < -70:
					fat++
				case v > 20 && v < 60:
					soft++
				case v > 600:
					bone++
				}
				if v > 150 && v < 250 && float64(j) > float64(ny)*0.75 {
					table++
				}
				if c.Lung.At(i, j, k) == 1 {
					lung++
				}
			}
		}
	}
	n := float64(nx * ny * nz)
	t.Logf("fractions: air %.3f fat %.3f soft %.3f bone %.4f lung %.3f table %.4f", float64(air)/n, float64(fat)/n, float64(soft)/n, float64(bone)/n, float64(lung)/n, float64(table)/n)
	if float64(lung)/n < 0.05 || float64(lung)/n > 0.3 {
		t.Errorf("lung fraction %.3f", float64(lung)/n)
	}
	if fat == 0 || soft == 0 || bone == 0 || table == 0 || air == 0 {
		t.Errorf("missing tissue class: air %d fat %d soft %d bone %d table %d", air, fat, soft, bone, table)
	}
	// Lung voxels away from the lesions are mostly parenchyma (−850 HU,
	// up to −650 in the dependent lung; vessels take the rest: 7 % at Full
	// size, about 30 % here, where the PSF is 3.75 mm wide).
	var paren, away int
	for i, m := range c.Lung.Data {
		if m == 0 {
			continue
		}
		k := i / (nx * ny)
		p := g.IndexToWorld(vec{float64(i % nx), float64(i / nx % ny), float64(k)})
		near := false
		for _, n := range c.Nodules {
			near = near || norm(sub(p, n.World)) < max(n.LongAxisMM, n.DiameterMM)+5
		}
		if near {
			continue
		}
		away++
		if c.HU.Data[i] > -900 && c.HU.Data[i] < -640 {
			paren++
		}
	}
	t.Logf("%d of %d lung voxels away from lesions are parenchyma", paren, away)
	if float64(paren) < 0.65*float64(away) {
		t.Errorf("only %d of %d lung voxels away from lesions are parenchyma", paren, away)
	}
	// The trachea is air, outside the mask, at the top slice near the centre.
	a := newAnatomy(g, newRand(21, 1))
	tr := a.airways[0]
	top := volume.Vec3{tr.a[0], tr.a[1], g.Origin[2] + float64(nz-1)*g.Spacing[2]}
	if h, l, _ := at(c, top); h > -900 || l != 0 {
		t.Errorf("trachea centre at top slice: %d HU, lung %d", h, l)
	}
}

func TestNodules(t *testing.T) {
	for seed := int64(0); seed < nodSeeds; seed++ {
		c := allKinds(t, seed, -1) // noise-free
		checkNodules(t, c, seed)
	}
}

// nodSeeds is how many Small phantoms TestNodules checks.
var nodSeeds = int64(4)

// TestNodulesFull checks the lesions of a Full-size phantom (slow).
func TestNodulesFull(t *testing.T) {
	if testing.Short() {
		t.Skip("Full phantom: skipped with -short")
	}
	c, err := Generate(Options{Seed: 77, Size: Full, Nodules: len(testKinds), Kinds: testKinds, NoiseHU: -1})
	if err != nil {
		t.Fatal(err)
	}
	checkNodules(t, c, 77)
}

// checkNodules checks every lesion of a noise-free phantom with one lesion
// of each kind, in testKinds order: truth fields, density at the centre,
// lung mask, and what surrounds it.
func checkNodules(t *testing.T, c *Chest, seed int64) {
	t.Helper()
	if len(c.Nodules) != len(testKinds) {
		t.Fatalf("%d lesions, want %d", len(c.Nodules), len(testKinds))
	}
	for i, n := range c.Nodules {
		if n.Kind != testKinds[i] || n.Type != TypeOf(n.Kind) {
			t.Errorf("lesion %d kind %s type %s, want %s", i, n.Kind, n.Type, testKinds[i])
		}
		r, m := MalignancyOfSolid(n.Kind, n.DiameterMM, n.SolidDiameterMM)
		if n.Malignancy != r || n.Malignant != m || m != (r >= 4) {
			t.Errorf("lesion %+v: rating %d/%v", n, r, m)
		}
		lo, hi := 3.0, 30.0
		if n.Kind == Mass {
			lo, hi = 30, 80
		}
		if n.DiameterMM < lo || n.DiameterMM > hi || n.LongAxisMM < n.ShortAxisMM || n.ShortAxisMM <= 0 || n.VolumeMM3 <= 0 {
			t.Errorf("seed %d %s: diameter %g, axes %g × %g, volume %g", seed, n.Kind, n.DiameterMM, n.LongAxisMM, n.ShortAxisMM, n.VolumeMM3)
		}
		if (n.Kind == Spiculated) != n.Spiculated && n.Kind != Mass {
			t.Errorf("seed %d %s: spiculated %v", seed, n.Kind, n.Spiculated)
		}
		switch n.Type {
		case TypeNonSolid:
			if n.SolidDiameterMM != 0 {
				t.Errorf("non-solid with solid diameter %g", n.SolidDiameterMM)
			}
		case TypePartSolid:
			if n.SolidDiameterMM < 1.5 || n.SolidDiameterMM > 0.65*n.DiameterMM {
				t.Errorf("part-solid %g mm with solid %g mm", n.DiameterMM, n.SolidDiameterMM)
			}
		default:
			if n.SolidDiameterMM != n.DiameterMM {
				t.Errorf("%s: solid diameter %g ≠ %g", n.Kind, n.SolidDiameterMM, n.DiameterMM)
			}
		}
		// The centroid lies in the lung mask; lesions of 10 mm and more
		// show their density there (2.5 mm voxels blurred by a 3.75 mm
		// PSF: allow for it).
		h, l, ok := at(c, n.World)
		if !ok || l != 1 {
			t.Errorf("seed %d %s %.1f mm: centroid outside grid or lung (%v, %d)", seed, n.Kind, n.DiameterMM, ok, l)
		}
		if n.DiameterMM >= 10 {
			lo, hi := int16(-60), int16(60)
			switch n.Type {
			case TypeCalcified:
				lo, hi = 150, 800
			case TypeNonSolid, TypePartSolid:
				lo, hi = -790, -100
				if n.Type == TypePartSolid {
					hi = 60
				}
			}
			if n.Kind == Mass {
				lo = -1000 // necrosis or an air bronchogram may be there
			}
			if h < lo || h > hi {
				t.Errorf("seed %d %s %.1f mm: centroid %d HU, want %d…%d", seed, n.Kind, n.DiameterMM, h, lo, hi)
			}
		}
		// Surroundings: lung all round, or part chest wall / mediastinum
		// for lesions against the pleura.
		reach := n.LongAxisMM/2 + 1.5
		hu, lung := shell(c, n.World, reach)
		var inLung, wall int
		for i := range hu {
			if lung[i] == 1 {
				inLung++
			} else if hu[i] > -500 {
				wall++
			}
		}
		f := float64(inLung) / float64(len(hu))
		switch n.Location {
		case LocationJuxtapleural, LocationMediastinal:
			if f > 0.97 || wall == 0 {
				t.Errorf("seed %d %s %s %.1f mm: shell %.2f lung, %d wall samples", seed, n.Location, n.Kind, n.DiameterMM, f, wall)
			}
		default:
			if f < 0.9 {
				t.Errorf("seed %d %s %.1f mm: only %.2f of the shell at %.1f mm is lung", seed, n.Kind, n.DiameterMM, f, reach)
			}
		}
	}
}

// renderAlone renders one solid (HU 1000 on 0) on grid g without noise and
// returns its volume in mm³ from the partial-volume values.
func renderAlone(g volume.Grid, s shape) float64 {
	v := volume.New[int16](g)
	renderVolume(v, nil, 0, []layer{newLayer(s, 1000, lungNone)}, nil, 0, 0, false, true)
	var sum float64
	for _, x := range v.Data {
		sum += float64(x) / 1000
	}
	return sum * g.Spacing[0] * g.Spacing[1] * g.Spacing[2]
}

// lesionCoverage renders lesion l's supersampled coverage on the slices
// of grid g (sub-slices sub per slice) and returns its volume in mm³: the
// sum over voxels of 1 − β for a solid lesion.
func lesionCoverage(g volume.Grid, l *lesion, sub int) float64 {
	nx, ny := g.Dims[0], g.Dims[1]
	sp := vec{g.Spacing[0], g.Spacing[1], g.Spacing[2] / float64(sub)}
	b := newAffineBuf(nx, ny)
	var sum float64
	for k := 0; k < g.Dims[2]*sub; k++ {
		z := g.Origin[2] - g.Spacing[2]/2 + (float64(k)+0.5)*sp[2]
		renderLesion(g, z, sp, l, b)
		for _, t := range b.t {
			sum += 1 - float64(t)
		}
		b.reset()
	}
	return sum * sp[0] * sp[1] * sp[2]
}

func TestPartialVolume(t *testing.T) {
	rng := newRand(99, 0)
	for _, sp := range []volume.Vec3{{0.703125, 0.703125, 2.5}, {1, 1, 1}, {2.5, 2.5, 2.5}} {
		for _, d := range []float64{3, 5, 8, 12, 20, 30} {
			n := int(math.Ceil((d+10)/sp[0])) + 1
			nzz := int(math.Ceil((d+10)/sp[2])) + 1
			g := volume.Grid{Dims: [3]int{n, n, nzz}, Spacing: sp, Direction: volume.Identity}
			mid := g.IndexToWorld(volume.Vec3{float64(n-1) / 2, float64(n-1) / 2, float64(nzz-1) / 2})
			c := add(mid, vec{rng.Float64() - 0.5, rng.Float64() - 0.5, rng.Float64() - 0.5})
			// The analytic ramp of the large solids.
			got := renderAlone(g, ellipsoid{c: c, r: d / 2})
			want := math.Pi / 6 * d * d * d
			tol := 0.03
			if d/sp[2] < 3 {
				tol = 0.06 // a ball only two or three slices thick
			}
			if d/sp[2] <= 2 {
				tol = 0.2 // two voxels across: beyond the ramp model
			}
			if e := math.Abs(got/want - 1); e > tol {
				t.Errorf("ramp: sphere %g mm on %v mm voxels: volume %.1f mm³, want %.1f (%.1f%% off)", d, sp, got, want, 100*e)
			}
			// Lesions: supersampled, on sub-slices as renderScan does.
			for _, k := range []Kind{Round, Lobulated, Calcified, Spiculated} {
				l := newLesion(rng, k, d)
				l.moveTo(c, nil)
				want := l.measure().volume
				got := lesionCoverage(g, l, subSlices(sp))
				tol := 0.02
				if d <= 5 {
					tol = 0.05
				}
				if d < 2*sp[0] {
					tol = 0.1 // under two voxels across
				}
				t.Logf("%-10s %4.0f mm on %v mm voxels: %+.2f%%", k, d, sp, 100*(got/want-1))
				if e := math.Abs(got/want - 1); e > tol {
					t.Errorf("%s %g mm on %v mm voxels: volume %.1f mm³, want %.1f (%.1f%% off)", k, d, sp, got, want, 100*e)
				}
			}
		}
	}
}

// ellipsoid is a sphere shape for the ramp test.
type ellipsoid struct {
	c vec
	r float64
}

func (e ellipsoid) box() (lo, hi vec) {
	return sub(e.c, vec{e.r, e.r, e.r}), add(e.c, vec{e.r, e.r, e.r})
}
func (e ellipsoid) sdf(x, y, z float64) float64 { return norm(sub(vec{x, y, z}, e.c)) - e.r }

func TestPatch(t *testing.T) {
	if Patch(1, Round, 10, 0, true) != nil {
		t.Error("size 0 patch not nil")
	}
	for _, k := range AllKinds {
		for seed := int64(0); seed < 5; seed++ {
			p := Patch(seed, k, 10, 32, true)
			if err := p.Check(); err != nil || p.Dims != [3]int{32, 32, 32} || p.Spacing != (volume.Vec3{1, 1, 1}) {
				t.Fatalf("patch grid %+v: %v", p.Grid, err)
			}
			// the patch centre (15.5) is within 1 mm of the nodule centre;
			// the 2×2×2 central voxels lie inside a 10 mm nodule.
			for _, ijk := range [][3]int{{15, 15, 15}, {16, 16, 16}, {15, 16, 15}} {
				v := p.At(ijk[0], ijk[1], ijk[2])
				lo, hi := int16(-60), int16(130)
				switch k {
				case Calcified:
					lo, hi = 200, 900
				case GroundGlass, PartSolid:
					lo, hi = -850, 100 // ground glass or the core
				case Mass:
					lo = -1000 // necrosis or an air bronchogram
				}
				if v < lo || v > hi {
					t.Errorf("%s seed %d: voxel %v = %d HU, want %d…%d", k, seed, ijk, v, lo, hi)
				}
			}
		}
	}
	// Without a nodule: mostly parenchyma.
	p := Patch(7, Round, 10, 48, false)
	var par int
	for _, v := range p.Data {
		if v > -950 && v < -750 {
			par++
		}
	}
	if float64(par) < 0.5*float64(len(p.Data)) {
		t.Errorf("negative patch: only %d of %d voxels are parenchyma", par, len(p.Data))
	}
	// PatchInto reuses memory and matches Patch.
	dst := volume.New[int16](PatchGrid(32))
	buf := &dst.Data[0]
	PatchInto(dst, 3, Lobulated, 14, true)
	if &dst.Data[0] != buf || !slices.Equal(dst.Data, Patch(3, Lobulated, 14, 32, true).Data) {
		t.Error("PatchInto differs from Patch or reallocated")
	}
}

func TestDS(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{-160.71251681757644, "-160.71251681758"}, {2.5, "2.5"}, {0.703125, "0.703125"}, {math.Copysign(0, -1), "0"}, {-408, "-408"}} {
		if got := ds(c.v); got != c.want || len(got) > 16 {
			t.Errorf("ds(%v) = %q, want %q", c.v, got, c.want)
		}
	}
	u := makeUID(1, "series", 0)
	if len(u) > 64 || u[:5] != "2.25." || u[5] == '0' {
		t.Errorf("UID %q", u)
	}
}

// TestSliceSpacing: --slice-spacing keeps the preset's extent along z on
// thinner or thicker slices, renders the lesions where the truth says
// (checkNodules), and rejects spacings outside 0.625–5 mm.
func TestSliceSpacing(t *testing.T) {
	for _, dz := range []float64{1.25, 5} {
		for _, s := range []Size{Small, Full} {
			ref, err := gridFor(s, 2.5, newRand(3, 1))
			if err != nil {
				t.Fatal(err)
			}
			g, err := gridFor(s, dz, newRand(3, 1))
			if err != nil {
				t.Fatal(err)
			}
			ext := func(g volume.Grid) float64 { return float64(g.Dims[2]) * g.Spacing[2] }
			if g.Spacing[2] != dz || g.Dims[0] != ref.Dims[0] || g.Spacing[0] != ref.Spacing[0] ||
				math.Abs(ext(g)-ext(ref)) > dz/2 || g.Origin != ref.Origin {
				t.Errorf("size %d, %g mm slices: grid %+v against the 2.5 mm grid %+v", s, dz, g, ref)
			}
		}
		c, err := Generate(Options{Seed: 2, Nodules: len(testKinds), Kinds: testKinds, NoiseHU: -1, SliceSpacingMM: dz})
		if err != nil {
			t.Fatalf("%g mm slices: %v", dz, err)
		}
		if c.HU.Spacing[2] != dz {
			t.Fatalf("%g mm slices: spacing %v", dz, c.HU.Spacing)
		}
		checkNodules(t, c, 2)
	}
	for _, dz := range []float64{0.5, 6, math.NaN(), -1} {
		if err := (Options{SliceSpacingMM: dz}).Validate(); !errors.Is(err, ErrOptions) {
			t.Errorf("slice spacing %g: %v, want ErrOptions", dz, err)
		}
	}
}

// TestMemoryBudget: a phantom larger than the memory budget is refused
// before its volumes are allocated, with an error that says what it was.
func TestMemoryBudget(t *testing.T) {
	testfs.SetBudget(t, 64<<20)
	_, err := Generate(Options{Seed: 3, Size: Full, SliceSpacingMM: 0.625})
	if !testfs.TooBig(err, "512×512×") {
		t.Errorf("a 512×512×596 phantom under a 64 MiB budget: %v, want ErrTooBig naming its size", err)
	}
	if _, err := Generate(Options{Seed: 3}); err != nil {
		t.Errorf("a small phantom under a 64 MiB budget: %v", err)
	}
}
