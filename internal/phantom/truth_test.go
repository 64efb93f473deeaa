package phantom

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/testfs"
)

func TestTruthCSV(t *testing.T) {
	p, err := newPlan(Options{Seed: 5, Nodules: len(testKinds), Kinds: testKinds})
	if err != nil {
		t.Fatal(err)
	}
	ns := p.truth()
	// Values no format with a fixed number of decimals would keep.
	ns[1].DiameterMM = 7.123456789012345
	ns[1].World[0] = -123.45678901234567
	path := filepath.Join(t.TempDir(), "truth.csv")
	if err := WriteTruth(path, "1.2.3", ns); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	want := "seriesuid,coordX,coordY,coordZ,diameter_mm,malignancy,kind,type,solid_diameter_mm,long_axis_mm,short_axis_mm,volume_mm3,spiculated,location\n"
	if !bytes.HasPrefix(b, []byte(want)) {
		t.Fatalf("header: %q", b[:min(len(b), 200)])
	}
	rows, err := ReadTruth(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(ns) {
		t.Fatalf("%d rows, want %d", len(rows), len(ns))
	}
	for i, r := range rows {
		if r.SeriesUID != "1.2.3" || r.Nodule != ns[i] {
			t.Errorf("row %d: %+v, want exactly %+v", i, r.Nodule, ns[i])
		}
	}
	if !strings.Contains(string(b), ",7.123456789012345,") {
		t.Errorf("diameter not written in full:\n%s", b)
	}
}

func TestTruthCSVOldHeader(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.csv")
	testfs.WriteFile(t, old, []byte("seriesuid,coordX,coordY,coordZ,diameter_mm,malignancy,kind\n"+
		"1.2,-10.5,20.25,-300.125,12.34,5,spiculated\n1.2,1,2,3,4.5,1,juxtapleural\n"))
	rows, err := ReadTruth(old)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	a, b := rows[0].Nodule, rows[1].Nodule
	if a.World != (vec{-10.5, 20.25, -300.125}) || a.DiameterMM != 12.34 || a.Kind != Spiculated || !a.Spiculated ||
		a.Malignancy != 5 || !a.Malignant || a.Type != TypeSolid || a.SolidDiameterMM != 12.34 || a.Location != LocationParenchyma {
		t.Errorf("old row 1: %+v", a)
	}
	if b.Location != LocationJuxtapleural || b.Malignant || b.LongAxisMM != 0 {
		t.Errorf("old row 2: %+v", b)
	}
	for name, body := range map[string]string{
		"bad header":   "seriesuid,x\n1,2\n",
		"empty":        "",
		"bad type":     strings.Join(TruthHeader, ",") + "\n1,0,0,0,5,2,round,squishy,5,5,5,65,0,parenchyma\n",
		"bad location": strings.Join(TruthHeader, ",") + "\n1,0,0,0,5,2,round,solid,5,5,5,65,0,heart\n",
		"bad flag":     strings.Join(TruthHeader, ",") + "\n1,0,0,0,5,2,round,solid,5,5,5,65,yes,parenchyma\n",
		"NaN":          strings.Join(TruthHeader, ",") + "\n1,0,0,0,5,2,round,solid,5,NaN,5,65,0,parenchyma\n",
		"bad kind":     strings.Join(TruthHeader, ",") + "\n1,0,0,0,5,2,blob,solid,5,5,5,65,0,parenchyma\n",
	} {
		p := filepath.Join(dir, "bad.csv")
		testfs.WriteFile(t, p, []byte(body))
		if _, err := ReadTruth(p); !errors.Is(err, ErrTruthFormat) {
			t.Errorf("%s: %v, want ErrTruthFormat", name, err)
		}
	}
}

func TestMalignancy(t *testing.T) {
	for _, c := range []struct {
		k       Kind
		d, s    float64
		rating  int
		malign  bool
		comment string
	}{
		{Calcified, 9, 9, 1, false, "calcified"},
		{Round, 3.5, 3.5, 1, false, "tiny"},
		{Round, 16, 16, 4, true, "≥ 15 mm solid"},
		{Spiculated, 9, 9, 5, true, "spiculated ≥ 8"},
		{GroundGlass, 5.5, 0, 2, false, "small ground glass"},
		{GroundGlass, 25, 0, 3, false, "ground glass: indeterminate"},
		{PartSolid, 12, 4, 3, false, "small solid part"},
		{PartSolid, 12, 6.5, 4, true, "solid 6–8"},
		{PartSolid, 20, 9, 5, true, "solid ≥ 8"},
		{Mass, 45, 45, 5, true, "mass"},
	} {
		r, m := MalignancyOfSolid(c.k, c.d, c.s)
		if r != c.rating || m != c.malign {
			t.Errorf("%s: MalignancyOfSolid(%s, %g, %g) = %d/%v, want %d/%v", c.comment, c.k, c.d, c.s, r, m, c.rating, c.malign)
		}
	}
	if r, _ := MalignancyOf(PartSolid, 14); r != 4 {
		t.Errorf("MalignancyOf(part-solid 14 mm) = %d, want 4 (solid half the diameter)", r)
	}
	for _, k := range Kinds {
		for d := 3.0; d < 30; d += 0.5 {
			a, am := MalignancyOf(k, d)
			b, bm := MalignancyOfSolid(k, d, d)
			if a != b || am != bm {
				t.Fatalf("%s %g mm: MalignancyOf %d, MalignancyOfSolid %d", k, d, a, b)
			}
		}
	}
}

// TestDefaultMix places (without rendering) the default mix of Full
// phantoms for seeds 1–20 and checks the counts: 4–7 lesions, at most one
// mass, every kind present, the new kinds in a good fraction of scans.
func TestDefaultMix(t *testing.T) {
	count := map[Kind]int{}
	scans := map[Kind]int{}
	locs := map[Location]int{}
	for seed := int64(1); seed <= 20; seed++ {
		p, err := newPlan(Options{Seed: seed, Size: Full})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if n := len(p.les); n < 4 || n > 7 {
			t.Errorf("seed %d: %d lesions", seed, n)
		}
		in := map[Kind]int{}
		for _, l := range p.les {
			in[l.kind]++
			count[l.kind]++
			locs[l.location]++
			if l.kind == Mass && (l.diam < 30 || l.diam > 80) {
				t.Errorf("seed %d: mass of %.1f mm", seed, l.diam)
			}
		}
		if in[Mass] > 1 {
			t.Errorf("seed %d: %d masses", seed, in[Mass])
		}
		for k := range in {
			scans[k]++
		}
	}
	var b strings.Builder
	for _, k := range AllKinds {
		fmt.Fprintf(&b, "%s %d lesions in %d scans; ", k, count[k], scans[k])
	}
	t.Log(b.String())
	t.Logf("locations: %v", locs)
	for _, k := range AllKinds {
		if k == Juxtavascular {
			// Only --kinds draws it (TestJuxtavascularPlaced).
			if count[k] != 0 {
				t.Errorf("%d juxtavascular lesions in the default mix", count[k])
			}
			continue
		}
		if count[k] == 0 {
			t.Errorf("no %s lesion in 20 scans", k)
		}
	}
	for _, k := range []Kind{GroundGlass, PartSolid, Mass} {
		if scans[k] < 5 {
			t.Errorf("%s in only %d of 20 scans", k, scans[k])
		}
	}
}

// A juxtavascular nodule meets a vessel of 1–3 mm radius that runs along
// its side, sunk into it by at most a quarter of its radius, and no vessel
// runs through its middle; its truth is the nodule's own (solid, smooth).
func TestJuxtavascularPlaced(t *testing.T) {
	n := 0
	for seed := int64(1); seed <= 4; seed++ {
		p, err := newPlan(Options{Seed: seed, Size: Full, Kinds: []Kind{Juxtavascular}, Nodules: 4})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for _, l := range p.les {
			n++
			r := l.body.rmax
			touching := false
			for _, v := range p.a.vessels {
				d, s := v.dist(l.c[0], l.c[1], l.c[2])
				vr := v.ra + s*(v.rb-v.ra)
				if d < 0.6*r-1e-9 {
					t.Errorf("seed %d: a vessel of radius %.1f mm %.2f mm from the centre of a %.1f mm nodule", seed, vr, d, 2*r)
				}
				if vr >= 1-1e-9 && vr <= 3+1e-9 && d >= 0.75*r-1e-6 && d <= r+1e-6 {
					touching = true
				}
			}
			if !touching {
				t.Errorf("seed %d: a %.1f mm juxtavascular nodule at %.1f, %.1f, %.1f meets no vessel of 1–3 mm radius", seed, 2*r, l.c[0], l.c[1], l.c[2])
			}
			if tr := l.truth(); tr.Type != TypeSolid || tr.Location != LocationParenchyma || tr.Spiculated {
				t.Errorf("seed %d: truth %+v", seed, tr)
			}
		}
	}
	if n < 12 {
		t.Errorf("%d juxtavascular nodules placed in 4 scans, want 16", n)
	}
}
