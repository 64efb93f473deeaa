package risk

import (
	"fmt"
	"math"
)

// Lung-RADS v2022 baseline (first screening) categories, from
//
//	[ACR22] American College of Radiology, Lung CT Screening Reporting &
//	        Data System (Lung-RADS) v2022 (November 2022): the assessment
//	        table as transcribed line by line in the Open Imaging Finding
//	        Model "Lung-RADS categorization" (OIFM_CDE_000267, coded to
//	        RadElement RDES267), and the ACR's notes (measurement, growth,
//	        category descriptors) as reproduced on a radiology teaching page;
//	[C24]   Christensen J, Prosper AE, Wu CC, et al. ACR Lung-RADS v2022:
//	        assessment categories and management recommendations. CHEST
//	        2024;165(3):738-753 (v2022 adds juxtapleural nodules, widening
//	        v1.1's perifissural rule);
//	[V11]   the v1.1 table (NCBI Bookshelf NBK568579, appendix A table 2),
//	        whose size and volume cut-offs v2022 keeps.
//
// Baseline rules implemented (mean diameter in mm to one decimal; volume in
// mm³ to the nearest whole number; "→" is the category):
//
//	calcified (complete, central, popcorn, concentric-ring, fat)    → 1
//	juxtapleural: solid, smooth, oval/lentiform/triangular,
//	    < 10 mm (< 524 mm³)                                         → 2
//	    (otherwise, or with suspicious features: the solid rules)
//	solid        < 6 (< 113)                                        → 2
//	             ≥ 6 to < 8 (113 to < 268)                          → 3
//	             ≥ 8 to < 15 (268 to < 1767)                        → 4A
//	             ≥ 15 (≥ 1767)                                      → 4B
//	part-solid   total < 6 (< 113)                                  → 2
//	             total ≥ 6, solid component < 6 (< 113)             → 3
//	             solid component ≥ 6 to < 8 (113 to < 268)          → 4A
//	             solid component ≥ 8 (≥ 268)                        → 4B
//	non-solid    < 30 (< 14137)                                     → 2
//	             ≥ 30 (≥ 14137)                                     → 3
//	4X: a category 3 or 4 nodule with additional features or imaging
//	    findings that increase the suspicion of lung cancer (e.g.
//	    spiculation). [ACR22]'s descriptor says "category 3 or 4" (quoted
//	    so by two independent v2022 implementations), so a suspicious
//	    category-3 nodule is 4X too; categories 1 and 2 stay.
//
// The volume cut-offs are the volumes of spheres of the diameter cut-offs
// (π/6·d³: 4 → 34, 6 → 113, 8 → 268, 10 → 524, 15 → 1767, 30 → 14137 mm³).
// Not implemented: category 0 (an incomplete exam is an exam-level call),
// the follow-up rules (new, growing, stable, decreasing nodules), airway
// nodules, atypical cysts, and the infectious/inflammatory pathway.

// Category is a Lung-RADS assessment category.
type Category string

// Lung-RADS categories produced by LungRADS, least to most suspicious.
const (
	Cat1  Category = "1"
	Cat2  Category = "2"
	Cat3  Category = "3"
	Cat4A Category = "4A"
	Cat4B Category = "4B"
	Cat4X Category = "4X"
)

// Rank orders categories by suspicion: 1 for Cat1 up to 6 for Cat4X (4X is
// ranked above 4B: both carry > 15 % malignancy in [ACR22], and 4X adds
// suspicious features). It is 0 for anything that is not a category.
func (c Category) Rank() int {
	switch c {
	case Cat1:
		return 1
	case Cat2:
		return 2
	case Cat3:
		return 3
	case Cat4A:
		return 4
	case Cat4B:
		return 5
	case Cat4X:
		return 6
	}
	return 0
}

// MostSuspicious returns the patient's category: that of the most
// suspicious nodule ([ACR22]: the exam is categorised by its most
// suspicious finding). With no nodules it is Cat1 (negative). A value that
// is not a category is an error.
func MostSuspicious(cats []Category) (Category, error) {
	best := Cat1
	for i, c := range cats {
		if c.Rank() == 0 {
			return "", fmt.Errorf("lung-rads: nodule %d: %q is not a Lung-RADS category", i, string(c))
		}
		if c.Rank() > best.Rank() {
			best = c
		}
	}
	return best, nil
}

// LungRADSNodule is one nodule as Lung-RADS v2022 measures it.
type LungRADSNodule struct {
	Type NoduleType
	// MeanDiameterMM is the mean of the long axis and the perpendicular
	// short axis in mm (MeanDiameterMM gives it from the two axes). It is
	// rounded to one decimal before the cut-offs are applied, as [ACR22]
	// reports it. Required unless VolumeMM3 is given.
	MeanDiameterMM float64
	// SolidMeanDiameterMM is the mean diameter of a part-solid nodule's
	// solid component in mm; required for PartSolid with a total of 6 mm or
	// more unless SolidVolumeMM3 is given.
	SolidMeanDiameterMM float64
	// VolumeMM3 and SolidVolumeMM3 are optional volumes in mm³ (0 = not
	// measured). When given they are used instead of the diameters, with
	// [ACR22]'s volume cut-offs, rounded to a whole mm³ first.
	VolumeMM3, SolidVolumeMM3 float64
	// Suspicious marks additional features or imaging findings that
	// increase the suspicion of lung cancer (spiculation, for one). It turns
	// a category 3, 4A or 4B into 4X and stops a juxtapleural nodule from
	// counting as benign (its definition needs smooth margins).
	Suspicious bool
}

// Size cut-offs of [ACR22], as integer tenths of a millimetre and whole
// mm³, so the comparisons are exact at every boundary.
const (
	cut6mm, cut8mm, cut10mm, cut15mm, cut30mm = 60, 80, 100, 150, 300
	vol6mm, vol8mm, vol10mm, vol15mm, vol30mm = 113, 268, 524, 1767, 14137
)

// size is one measurement: tenths of a mm, or whole mm³ when vol is set.
type size struct {
	v   float64
	vol bool
}

// atLeast reports whether the size reaches the cut-off given in tenths of a
// mm (d) and in mm³ (v).
func (s size) atLeast(d, v float64) bool {
	if s.vol {
		return s.v >= v
	}
	return s.v >= d
}

// measure picks the volume when it is given, else the diameter, and rounds
// it as [ACR22] reports it; what names the measurement in errors.
func measure(diamMM, volMM3 float64, what string) (size, error) {
	if math.IsNaN(volMM3) || math.IsInf(volMM3, 0) || volMM3 < 0 {
		return size{}, fmt.Errorf("%w: %s volume %v mm³", ErrNodule, what, volMM3)
	}
	if volMM3 > 0 {
		return size{v: math.Round(volMM3), vol: true}, nil
	}
	if math.IsNaN(diamMM) || math.IsInf(diamMM, 0) || diamMM <= 0 {
		return size{}, fmt.Errorf("%w: %s mean diameter %v mm (want a positive diameter or a volume)", ErrNodule, what, diamMM)
	}
	return size{v: math.Round(diamMM * 10)}, nil
}

// LungRADS returns the Lung-RADS v2022 baseline category of one nodule by
// the table in this file's header comment. Errors (ErrNodule, wrapped): an
// unknown type, a missing, NaN, infinite or negative size, a part-solid
// nodule of 6 mm or more without its solid component, or a solid component
// larger than the nodule.
func LungRADS(n LungRADSNodule) (Category, error) {
	if n.Type == Calcified {
		return Cat1, nil
	}
	switch n.Type {
	case Solid, PartSolid, NonSolid, Juxtapleural:
	default:
		return "", fmt.Errorf("lung-rads: %w: type %v", ErrNodule, n.Type)
	}
	total, err := measure(n.MeanDiameterMM, n.VolumeMM3, "nodule")
	if err != nil {
		return "", fmt.Errorf("lung-rads: %w", err)
	}
	var cat Category
	switch n.Type {
	case Juxtapleural:
		if !n.Suspicious && !total.atLeast(cut10mm, vol10mm) {
			return Cat2, nil
		}
		cat = solidCategory(total)
	case Solid:
		cat = solidCategory(total)
	case NonSolid:
		cat = Cat2
		if total.atLeast(cut30mm, vol30mm) {
			cat = Cat3
		}
	case PartSolid:
		if !total.atLeast(cut6mm, vol6mm) {
			cat = Cat2
			break
		}
		solid, err := measure(n.SolidMeanDiameterMM, n.SolidVolumeMM3, "solid component")
		if err != nil {
			return "", fmt.Errorf("lung-rads: part-solid nodule of %s: %w", total, err)
		}
		if solid.vol == total.vol && solid.v > total.v {
			return "", fmt.Errorf("lung-rads: %w: solid component %s is larger than the nodule %s", ErrNodule, solid, total)
		}
		switch {
		case solid.atLeast(cut8mm, vol8mm):
			cat = Cat4B
		case solid.atLeast(cut6mm, vol6mm):
			cat = Cat4A
		default:
			cat = Cat3
		}
	}
	if n.Suspicious && cat.Rank() >= Cat3.Rank() {
		cat = Cat4X
	}
	return cat, nil
}

// solidCategory applies the solid-nodule cut-offs.
func solidCategory(s size) Category {
	switch {
	case s.atLeast(cut15mm, vol15mm):
		return Cat4B
	case s.atLeast(cut8mm, vol8mm):
		return Cat4A
	case s.atLeast(cut6mm, vol6mm):
		return Cat3
	}
	return Cat2
}

// String prints a size as [ACR22] reports it: "6.5 mm" or "113 mm³".
func (s size) String() string {
	if s.vol {
		return fmt.Sprintf("%.0f mm³", s.v)
	}
	return fmt.Sprintf("%.1f mm", s.v/10)
}

// MeanDiameterMM is the Lung-RADS v2022 mean diameter: the long axis and
// the perpendicular short axis, each measured to one decimal in mm ([ACR22]:
// "measure both the long and short axis to one decimal point in mm, and
// report mean nodule diameter to one decimal point"), averaged and rounded
// half up to one decimal. The arithmetic is done in whole tenths so that,
// e.g., 6.0 and 6.9 give 6.5 and 5.0 and 6.9 give 6.0 (5.95 rounded up)
// exactly. Errors: a NaN, infinite or negative axis, or a short axis longer
// than the long one.
func MeanDiameterMM(longMM, shortMM float64) (float64, error) {
	for _, v := range []float64{longMM, shortMM} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return 0, fmt.Errorf("lung-rads: %w: axis %v mm", ErrNodule, v)
		}
	}
	l, s := math.Round(longMM*10), math.Round(shortMM*10)
	if s > l {
		return 0, fmt.Errorf("lung-rads: %w: short axis %.1f mm is longer than long axis %.1f mm", ErrNodule, shortMM, longMM)
	}
	sum := l + s // tenths; the mean in tenths is sum/2, halves rounded up
	return math.Floor((sum+1)/2) / 10, nil
}
