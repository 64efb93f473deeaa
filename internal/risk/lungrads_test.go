package risk

import (
	"errors"
	"math"
	"testing"
)

// Every size cut-off of the v2022 baseline table, just below and at the
// boundary, by diameter (one decimal) and by volume (whole mm³).
func TestLungRADSBoundaries(t *testing.T) {
	type N = LungRADSNodule
	cases := []struct {
		n    N
		want Category
	}{
		// Calcified / fat: 1 whatever the size or features.
		{N{Type: Calcified}, Cat1},
		{N{Type: Calcified, MeanDiameterMM: 25, Suspicious: true}, Cat1},

		// Solid by mean diameter.
		{N{Type: Solid, MeanDiameterMM: 0.5}, Cat2},
		{N{Type: Solid, MeanDiameterMM: 5.9}, Cat2},
		{N{Type: Solid, MeanDiameterMM: 6.0}, Cat3},
		{N{Type: Solid, MeanDiameterMM: 7.9}, Cat3},
		{N{Type: Solid, MeanDiameterMM: 8.0}, Cat4A},
		{N{Type: Solid, MeanDiameterMM: 14.9}, Cat4A},
		{N{Type: Solid, MeanDiameterMM: 15.0}, Cat4B},
		{N{Type: Solid, MeanDiameterMM: 42}, Cat4B},
		// Rounded to one decimal first: 5.95 reports as 6.0, 5.94 as 5.9.
		{N{Type: Solid, MeanDiameterMM: 5.95}, Cat3},
		{N{Type: Solid, MeanDiameterMM: 5.94}, Cat2},
		{N{Type: Solid, MeanDiameterMM: 14.96}, Cat4B},
		// Solid by volume (used instead of the diameter when given).
		{N{Type: Solid, VolumeMM3: 112}, Cat2},
		{N{Type: Solid, VolumeMM3: 112.4}, Cat2},
		{N{Type: Solid, VolumeMM3: 112.5}, Cat3},
		{N{Type: Solid, VolumeMM3: 113}, Cat3},
		{N{Type: Solid, VolumeMM3: 267}, Cat3},
		{N{Type: Solid, VolumeMM3: 268}, Cat4A},
		{N{Type: Solid, VolumeMM3: 1766}, Cat4A},
		{N{Type: Solid, VolumeMM3: 1767}, Cat4B},
		{N{Type: Solid, MeanDiameterMM: 20, VolumeMM3: 100}, Cat2},

		// Juxtapleural (smooth, solid, oval/lentiform/triangular).
		{N{Type: Juxtapleural, MeanDiameterMM: 9.9}, Cat2},
		{N{Type: Juxtapleural, MeanDiameterMM: 10.0}, Cat4A},
		{N{Type: Juxtapleural, MeanDiameterMM: 16}, Cat4B},
		{N{Type: Juxtapleural, VolumeMM3: 523}, Cat2},
		{N{Type: Juxtapleural, VolumeMM3: 524}, Cat4A},
		// Not smooth: not the benign juxtapleural type; solid rules, then 4X.
		{N{Type: Juxtapleural, MeanDiameterMM: 5, Suspicious: true}, Cat2},
		{N{Type: Juxtapleural, MeanDiameterMM: 7, Suspicious: true}, Cat4X},

		// Part-solid: total first, then the solid component.
		{N{Type: PartSolid, MeanDiameterMM: 5.9}, Cat2},
		{N{Type: PartSolid, MeanDiameterMM: 5.9, SolidMeanDiameterMM: 5.9}, Cat2},
		{N{Type: PartSolid, MeanDiameterMM: 6.0, SolidMeanDiameterMM: 1}, Cat3},
		{N{Type: PartSolid, MeanDiameterMM: 12, SolidMeanDiameterMM: 5.9}, Cat3},
		{N{Type: PartSolid, MeanDiameterMM: 12, SolidMeanDiameterMM: 6.0}, Cat4A},
		{N{Type: PartSolid, MeanDiameterMM: 12, SolidMeanDiameterMM: 7.9}, Cat4A},
		{N{Type: PartSolid, MeanDiameterMM: 12, SolidMeanDiameterMM: 8.0}, Cat4B},
		{N{Type: PartSolid, MeanDiameterMM: 8.0, SolidMeanDiameterMM: 8.0}, Cat4B},
		{N{Type: PartSolid, VolumeMM3: 112}, Cat2},
		{N{Type: PartSolid, VolumeMM3: 113, SolidVolumeMM3: 112}, Cat3},
		{N{Type: PartSolid, VolumeMM3: 900, SolidVolumeMM3: 113}, Cat4A},
		{N{Type: PartSolid, VolumeMM3: 900, SolidVolumeMM3: 267}, Cat4A},
		{N{Type: PartSolid, VolumeMM3: 900, SolidVolumeMM3: 268}, Cat4B},
		// Mixed measurements: total by volume, component by diameter.
		{N{Type: PartSolid, VolumeMM3: 900, SolidMeanDiameterMM: 6.5}, Cat4A},

		// Non-solid (GGN) at baseline.
		{N{Type: NonSolid, MeanDiameterMM: 29.9}, Cat2},
		{N{Type: NonSolid, MeanDiameterMM: 30.0}, Cat3},
		{N{Type: NonSolid, VolumeMM3: 14136}, Cat2},
		{N{Type: NonSolid, VolumeMM3: 14137}, Cat3},

		// 4X: category 3 or 4 with suspicious features; 1 and 2 stay.
		{N{Type: Solid, MeanDiameterMM: 5.9, Suspicious: true}, Cat2},
		{N{Type: Solid, MeanDiameterMM: 6.0, Suspicious: true}, Cat4X},
		{N{Type: Solid, MeanDiameterMM: 9, Suspicious: true}, Cat4X},
		{N{Type: Solid, MeanDiameterMM: 20, Suspicious: true}, Cat4X},
		{N{Type: PartSolid, MeanDiameterMM: 5, Suspicious: true}, Cat2},
		{N{Type: PartSolid, MeanDiameterMM: 9, SolidMeanDiameterMM: 3, Suspicious: true}, Cat4X},
		{N{Type: NonSolid, MeanDiameterMM: 12, Suspicious: true}, Cat2},
		{N{Type: NonSolid, MeanDiameterMM: 31, Suspicious: true}, Cat4X},
	}
	for _, c := range cases {
		got, err := LungRADS(c.n)
		if err != nil || got != c.want {
			t.Errorf("LungRADS(%+v) = %q, %v; want %q", c.n, got, err, c.want)
		}
	}
}

func TestLungRADSRejects(t *testing.T) {
	type N = LungRADSNodule
	for _, n := range []N{
		{Type: TypeUnknown, MeanDiameterMM: 5},
		{Type: 42, MeanDiameterMM: 5},
		{Type: Solid},
		{Type: Solid, MeanDiameterMM: -1},
		{Type: Solid, MeanDiameterMM: math.NaN()},
		{Type: Solid, MeanDiameterMM: math.Inf(1)},
		{Type: Solid, VolumeMM3: -5},
		{Type: Solid, MeanDiameterMM: 5, VolumeMM3: math.NaN()},
		{Type: NonSolid, VolumeMM3: math.Inf(1)},
		{Type: PartSolid, MeanDiameterMM: 9},                          // no solid component
		{Type: PartSolid, MeanDiameterMM: 9, SolidMeanDiameterMM: 10}, // component larger
		{Type: PartSolid, VolumeMM3: 200, SolidVolumeMM3: 300},
		{Type: PartSolid, MeanDiameterMM: 9, SolidMeanDiameterMM: math.NaN()},
	} {
		if c, err := LungRADS(n); !errors.Is(err, ErrNodule) {
			t.Errorf("LungRADS(%+v) = %q, %v; want ErrNodule", n, c, err)
		}
	}
}

func TestMostSuspicious(t *testing.T) {
	cases := []struct {
		in   []Category
		want Category
	}{
		{nil, Cat1},
		{[]Category{Cat2}, Cat2},
		{[]Category{Cat2, Cat4A, Cat3}, Cat4A},
		{[]Category{Cat4B, Cat4X, Cat4A}, Cat4X},
		{[]Category{Cat4B, Cat3}, Cat4B},
		{[]Category{Cat1, Cat1}, Cat1},
	}
	for _, c := range cases {
		if got, err := MostSuspicious(c.in); err != nil || got != c.want {
			t.Errorf("MostSuspicious(%v) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := MostSuspicious([]Category{Cat2, "5"}); err == nil {
		t.Error(`"5" accepted as a category`)
	}
	order := []Category{Cat1, Cat2, Cat3, Cat4A, Cat4B, Cat4X}
	for i, c := range order {
		if c.Rank() != i+1 {
			t.Errorf("%q ranks %d, want %d", c, c.Rank(), i+1)
		}
	}
	if Category("0").Rank() != 0 || Category("4a").Rank() != 0 {
		t.Error("non-categories must rank 0")
	}
}

func TestMeanDiameterMM(t *testing.T) {
	cases := []struct{ long, short, want float64 }{
		{6.0, 6.9, 6.5},   // 12.9/2 = 6.45 → 6.5 (half up)
		{5.0, 6.9, 0},     // short longer than long: error (below)
		{6.9, 5.0, 6.0},   // 11.9/2 = 5.95 → 6.0, exactly, in tenths
		{6.9, 4.9, 5.9},   // 11.8/2 = 5.9
		{8.04, 7.96, 8.0}, // axes rounded to 8.0 and 8.0 first
		{10, 10, 10},
		{7.25, 4.85, 6.1}, // 7.3 (half up) and 4.9 → 12.2/2 = 6.1
		{0, 0, 0},
	}
	for _, c := range cases {
		got, err := MeanDiameterMM(c.long, c.short)
		if c.short > c.long+0.05 {
			if !errors.Is(err, ErrNodule) {
				t.Errorf("MeanDiameterMM(%v, %v): %v, want ErrNodule", c.long, c.short, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("MeanDiameterMM(%v, %v) = %v, %v; want %v", c.long, c.short, got, err, c.want)
		}
	}
	for _, bad := range [][2]float64{{math.NaN(), 1}, {1, math.Inf(1)}, {-1, -2}} {
		if _, err := MeanDiameterMM(bad[0], bad[1]); !errors.Is(err, ErrNodule) {
			t.Errorf("MeanDiameterMM(%v): %v, want ErrNodule", bad, err)
		}
	}
	// The mean of 6.9 × 5.0 is 5.95 mm, reported 6.0: category 3, not 2.
	m, _ := MeanDiameterMM(6.9, 5.0)
	if c, _ := LungRADS(LungRADSNodule{Type: Solid, MeanDiameterMM: m}); c != Cat3 {
		t.Errorf("6.9 × 5.0 mm solid: %q, want 3", c)
	}
}

func TestParseNoduleType(t *testing.T) {
	cases := map[string]NoduleType{"solid": Solid, "Part-Solid": PartSolid, "part_solid": PartSolid,
		"partsolid": PartSolid, "mixed": PartSolid, "non-solid": NonSolid, "GGN": NonSolid, "ggo": NonSolid,
		"ground glass": NonSolid, "calcified": Calcified, "benign": Calcified, "perifissural": Juxtapleural,
		"juxtapleural": Juxtapleural}
	for in, want := range cases {
		if got, err := ParseNoduleType(in); err != nil || got != want {
			t.Errorf("ParseNoduleType(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "cavitary", "unknown"} {
		if _, err := ParseNoduleType(bad); !errors.Is(err, ErrNodule) {
			t.Errorf("ParseNoduleType(%q): %v", bad, err)
		}
	}
	for typ := TypeUnknown; typ <= Juxtapleural; typ++ {
		if typ == TypeUnknown {
			continue
		}
		if back, err := ParseNoduleType(typ.String()); err != nil || back != typ {
			t.Errorf("%v does not round-trip: %v, %v", typ, back, err)
		}
	}
	if NoduleType(42).String() != "NoduleType(42)" {
		t.Error(NoduleType(42).String())
	}
}
