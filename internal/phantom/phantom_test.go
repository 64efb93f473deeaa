package phantom

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lungctl/lungctl/internal/volume"
)

// allKinds is a Small phantom with one nodule of every kind.
func allKinds(t testing.TB, seed int64, noise float64) *Chest {
	t.Helper()
	c, err := Generate(Options{Seed: seed, Nodules: 5, Kinds: Kinds, NoiseHU: noise})
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
	c := allKinds(t, 12, 0)
	if slices.Equal(a.HU.Data, c.HU.Data) || slices.Equal(a.Nodules, c.Nodules) || a.SeriesUID == c.SeriesUID {
		t.Fatal("different seeds gave the same phantom")
	}
	// Patches too.
	if !slices.Equal(Patch(3, Spiculated, 12, 32, true).Data, Patch(3, Spiculated, 12, 32, true).Data) {
		t.Fatal("same seed gave different patches")
	}
	if slices.Equal(Patch(3, Spiculated, 12, 32, true).Data, Patch(4, Spiculated, 12, 32, true).Data) {
		t.Fatal("different seeds gave the same patch")
	}
}

func TestGeometry(t *testing.T) {
	for seed := int64(0); seed < 20; seed++ {
		for _, s := range []Size{Small, Full} {
			g, err := gridFor(s, newRand(seed, 1))
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
	if _, err := Generate(Options{MinDiameterMM: 10, MaxDiameterMM: 5}); !errors.Is(err, ErrOptions) {
		t.Errorf("bad diameters: %v, want ErrOptions", err)
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
	// Lung voxels are mostly parenchyma.
	var par int
	for i, m := range c.Lung.Data {
		if m == 1 && c.HU.Data[i] > -900 && c.HU.Data[i] < -800 {
			par++
		}
	}
	if float64(par) < 0.7*float64(lung) {
		t.Errorf("only %d of %d lung voxels are −850 ± 50 HU", par, lung)
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
		c := allKinds(t, seed, -1) // noise-free: exact densities
		checkNodules(t, c, seed)
	}
}

// nodSeeds is how many Small phantoms TestNodules checks.
var nodSeeds = int64(6)

// TestNodulesFull checks the nodules of Full-size phantoms (slow).
func TestNodulesFull(t *testing.T) {
	if testing.Short() {
		t.Skip("Full phantom: skipped with -short")
	}
	c, err := Generate(Options{Seed: 77, Size: Full, Nodules: 5, Kinds: Kinds, NoiseHU: -1})
	if err != nil {
		t.Fatal(err)
	}
	checkNodules(t, c, 77)
}

// checkNodules checks every nodule of a noise-free phantom with one nodule
// of each kind, in Kinds order.
func checkNodules(t *testing.T, c *Chest, seed int64) {
	t.Helper()
	if len(c.Nodules) != 5 {
		t.Fatalf("%d nodules, want 5", len(c.Nodules))
	}
	// hd is the voxel diagonal: a round nodule of radius ≥ hd covers its
	// nearest voxel entirely; lobulated cores can be ≈ 20 % smaller.
	hd := norm(c.HU.Spacing)
	for i, n := range c.Nodules {
		if n.Kind != Kinds[i] {
			t.Errorf("nodule %d kind %s, want %s", i, n.Kind, Kinds[i])
		}
		r, m := MalignancyOf(n.Kind, n.DiameterMM)
		if n.Malignancy != r || n.Malignant != m || m != (r >= 4) {
			t.Errorf("nodule %+v: rating %d/%v", n, r, m)
		}
		if n.DiameterMM < 3 || n.DiameterMM > 30 {
			t.Errorf("diameter %g", n.DiameterMM)
		}
		rad := n.DiameterMM / 2
		// Centre: the nodule's density, allowing for partial volume of
		// nodules smaller than 2.5 mm slices; part of the lung mask.
		h, l, ok := at(c, n.World)
		tiny := n.DiameterMM < 2.8*hd
		if !ok || (l != 1 && !(tiny && n.Kind == Juxtapleural)) {
			t.Errorf("seed %d %s %.1f mm: centre outside grid or lung (%v, %d)", seed, n.Kind, n.DiameterMM, ok, l)
		}
		// Smaller nodules may only partly cover the nearest voxel, but
		// still stand out of −850.
		lo, hi := int16(18), int16(42)
		if n.Kind == Calcified {
			lo, hi = 180, 800
		}
		if tiny {
			lo = -650
		}
		if h < lo || h > hi {
			t.Errorf("seed %d %s %.1f mm: centre %d HU, want %d…%d", seed, n.Kind, n.DiameterMM, h, lo, hi)
		}
		// Surroundings: lung all round, or part chest wall for
		// juxtapleural nodules.
		reach := rad + 1
		hu, lung := shell(c, n.World, reach)
		var inLung, wall int
		for i := range hu {
			if lung[i] == 1 {
				inLung++
			} else if hu[i] > -200 {
				wall++
			}
		}
		f := float64(inLung) / float64(len(hu))
		if n.Kind == Juxtapleural {
			if f > 0.9 || f < 0.2 || wall == 0 {
				t.Errorf("seed %d juxtapleural %.1f mm: shell %.2f lung, %d wall samples", seed, n.DiameterMM, f, wall)
			}
		} else if f < 0.93 {
			t.Errorf("seed %d %s %.1f mm: only %.2f of the shell at %.1f mm is lung", seed, n.Kind, n.DiameterMM, f, reach)
		}
	}
}

// renderAlone renders one solid (HU 1000 on 0) on grid g without noise and
// returns its volume in mm³ from the partial-volume values.
func renderAlone(g volume.Grid, s shape) float64 {
	v := volume.New[int16](g)
	renderVolume(v, nil, 0, []layer{newLayer(s, 1000, lungNone)}, 0, 0, false, 2)
	var sum float64
	for _, x := range v.Data {
		sum += float64(x) / 1000
	}
	return sum * g.Spacing[0] * g.Spacing[1] * g.Spacing[2]
}

func TestPartialVolume(t *testing.T) {
	rng := newRand(99, 0)
	for _, sp := range []volume.Vec3{{0.703125, 0.703125, 2.5}, {1, 1, 1}, {2.5, 2.5, 2.5}} {
		for _, d := range []float64{5, 8, 12, 20, 30} {
			n := int(math.Ceil((d+10)/sp[0])) + 1
			nzz := int(math.Ceil((d+10)/sp[2])) + 1
			g := volume.Grid{Dims: [3]int{n, n, nzz}, Spacing: sp, Direction: volume.Identity}
			mid := g.IndexToWorld(volume.Vec3{float64(n-1) / 2, float64(n-1) / 2, float64(nzz-1) / 2})
			for _, k := range []Kind{Round, Lobulated, Calcified} {
				c := add(mid, vec{rng.Float64() - 0.5, rng.Float64() - 0.5, rng.Float64() - 0.5})
				nd := newNodule(rng, c, k, d)
				got := renderAlone(g, &nd)
				want := math.Pi / 6 * d * d * d
				tol := 0.03
				if d/sp[2] < 3 {
					tol = 0.06 // a ball only two or three slices thick
				}
				if d/sp[2] <= 2 {
					tol = 0.2 // two voxels across: beyond the ramp model
				}
				if k == Lobulated {
					tol += 0.03
				}
				t.Logf("%-10s %4.0f mm on %v mm voxels: %+.1f%%", k, d, sp, 100*(got/want-1))
				if e := math.Abs(got/want - 1); e > tol {
					t.Errorf("%s %g mm on %v mm voxels: volume %.1f mm³, want %.1f (%.1f%% off)", k, d, sp, got, want, 100*e)
				}
			}
		}
	}
}

func TestTruthCSV(t *testing.T) {
	c := allKinds(t, 5, 0)
	p := filepath.Join(t.TempDir(), "truth.csv")
	if err := WriteTruth(p, c.SeriesUID, c.Nodules); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if !bytes.HasPrefix(b, []byte("seriesuid,coordX,coordY,coordZ,diameter_mm,malignancy,kind\n")) {
		t.Fatalf("header: %q", b[:min(len(b), 80)])
	}
	rows, err := ReadTruth(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(c.Nodules) {
		t.Fatalf("%d rows, want %d", len(rows), len(c.Nodules))
	}
	for i, r := range rows {
		n := c.Nodules[i]
		if r.SeriesUID != c.SeriesUID || r.Kind != n.Kind || r.Malignancy != n.Malignancy || r.Malignant != n.Malignant ||
			math.Abs(r.DiameterMM-n.DiameterMM) > 0.005 || norm(sub(r.World, n.World)) > 0.001 {
			t.Errorf("row %d: %+v, want %+v", i, r, n)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(bad, []byte("seriesuid,x\n1,2\n"), 0o644)
	if _, err := ReadTruth(bad); !errors.Is(err, ErrTruthFormat) {
		t.Errorf("bad header: %v", err)
	}
}

func TestPatch(t *testing.T) {
	if Patch(1, Round, 10, 0, true) != nil {
		t.Error("size 0 patch not nil")
	}
	for _, k := range Kinds {
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
				if k == Calcified {
					lo, hi = 200, 900
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
	}{{-160.71251681757644, "-160.71251681758"}, {2.5, "2.5"}, {0.703125, "0.703125"}, {-0.0, "0"}, {-408, "-408"}} {
		if got := ds(c.v); got != c.want || len(got) > 16 {
			t.Errorf("ds(%v) = %q, want %q", c.v, got, c.want)
		}
	}
	u := makeUID(1, "series", 0)
	if len(u) > 64 || u[:5] != "2.25." || u[5] == '0' {
		t.Errorf("UID %q", u)
	}
}
