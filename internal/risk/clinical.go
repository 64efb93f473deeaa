package risk

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrClinical reports a patient covariate that cannot be used: an age that
// is not a number or out of range, an unknown sex code, a boolean that is
// not one of the accepted spellings.
var ErrClinical = errors.New("invalid clinical value")

// Tri is a yes/no answer that may be unknown. The zero value is Unknown, so
// a zero Clinical says "nothing is known".
type Tri int8

// Tri values.
const (
	Unknown Tri = iota
	No
	Yes
)

// String returns "unknown", "no" or "yes".
func (t Tri) String() string {
	switch t {
	case No:
		return "no"
	case Yes:
		return "yes"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("Tri(%d)", int8(t))
}

// Known reports whether t is No or Yes.
func (t Tri) Known() bool { return t == No || t == Yes }

// TriOf returns Yes for true and No for false.
func TriOf(b bool) Tri {
	if b {
		return Yes
	}
	return No
}

// Sex is the patient's sex as DICOM PatientSex (0010,0040) records it. The
// zero value is SexUnknown.
type Sex int8

// Sex values. SexOther is DICOM's "O"; the Brock model has only male and
// female, so it treats SexOther like SexUnknown (and says so).
const (
	SexUnknown Sex = iota
	Male
	Female
	SexOther
)

// String returns the DICOM code: "M", "F", "O", or "" for unknown.
func (s Sex) String() string {
	switch s {
	case Male:
		return "M"
	case Female:
		return "F"
	case SexOther:
		return "O"
	case SexUnknown:
		return ""
	}
	return fmt.Sprintf("Sex(%d)", int8(s))
}

// Clinical holds the patient-level covariates of the Brock model. Each field
// carries its own known/unknown state: AgeKnown for the age, the zero value
// (SexUnknown, Unknown) for the others. The zero Clinical is "all unknown";
// Brock then uses the defaults documented on DefaultAgeYears and
// UnknownIndicator and lists every defaulted field in its result.
type Clinical struct {
	// AgeYears is the age at the screening CT in years; used only when
	// AgeKnown is true.
	AgeYears float64
	AgeKnown bool
	// Sex as recorded; SexOther and SexUnknown are defaulted by Brock.
	Sex Sex
	// FamilyHistory is a family history of lung cancer, as the patient
	// reports it.
	FamilyHistory Tri
	// Emphysema is emphysema on the CT. In PanCan it was a radiologist's
	// yes/no; lungctl can measure it instead (LAA950, EmphysemaPresent).
	Emphysema Tri
}

// Ages outside [0, MaxAgeYears] are rejected as data errors.
const MaxAgeYears = 130

// Validate reports ErrClinical (wrapped, with the field) when a known value
// is unusable: a non-finite or out-of-range age, or an enum value outside
// the declared constants.
func (c Clinical) Validate() error {
	if c.AgeKnown && (math.IsNaN(c.AgeYears) || c.AgeYears < 0 || c.AgeYears > MaxAgeYears) {
		return fmt.Errorf("%w: age %v years (want 0–%d)", ErrClinical, c.AgeYears, MaxAgeYears)
	}
	if c.Sex < SexUnknown || c.Sex > SexOther {
		return fmt.Errorf("%w: sex %v", ErrClinical, c.Sex)
	}
	if c.FamilyHistory < Unknown || c.FamilyHistory > Yes {
		return fmt.Errorf("%w: family history %v", ErrClinical, c.FamilyHistory)
	}
	if c.Emphysema < Unknown || c.Emphysema > Yes {
		return fmt.Errorf("%w: emphysema %v", ErrClinical, c.Emphysema)
	}
	return nil
}

// ParsePatientAge parses a DICOM Age String (VR "AS", PS3.5 §6.2): three
// digits and a unit, D (days), W (weeks), M (months) or Y (years), e.g.
// "062Y", "540M", "012W", "003D". It returns the age in years (days and
// weeks over 365.25 days a year, months over 12) and known = false, with no
// error, for an empty value (the attribute is type 3 and often blank).
// Surrounding spaces and NUL padding are ignored and the unit may be lower
// case; anything else is ErrClinical.
func ParsePatientAge(s string) (years float64, known bool, err error) {
	t := strings.Trim(s, " \x00")
	if t == "" {
		return 0, false, nil
	}
	if len(t) != 4 {
		return 0, false, fmt.Errorf("%w: PatientAge %q: want nnnD, nnnW, nnnM or nnnY", ErrClinical, s)
	}
	for _, r := range t[:3] {
		if r < '0' || r > '9' {
			return 0, false, fmt.Errorf("%w: PatientAge %q: want three digits then D, W, M or Y", ErrClinical, s)
		}
	}
	n, _ := strconv.Atoi(t[:3]) // three ASCII digits: cannot fail
	switch t[3] {
	case 'Y', 'y':
		return float64(n), true, nil
	case 'M', 'm':
		return float64(n) / 12, true, nil
	case 'W', 'w':
		return float64(n) * 7 / 365.25, true, nil
	case 'D', 'd':
		return float64(n) / 365.25, true, nil
	}
	return 0, false, fmt.Errorf("%w: PatientAge %q: unit %q is not D, W, M or Y", ErrClinical, s, t[3])
}

// ParsePatientSex parses DICOM PatientSex (0010,0040): "M", "F", "O", or
// empty for unknown. Case and surrounding spaces are ignored, and the words
// "male", "female" and "other" are accepted too (CSV files write them).
func ParsePatientSex(s string) (Sex, error) {
	switch strings.ToLower(strings.Trim(s, " \x00")) {
	case "":
		return SexUnknown, nil
	case "m", "male":
		return Male, nil
	case "f", "female":
		return Female, nil
	case "o", "other":
		return SexOther, nil
	}
	return SexUnknown, fmt.Errorf("%w: sex %q: want M, F, O or empty", ErrClinical, s)
}

// ParseTri parses a yes/no cell: 1/0, yes/no, y/n, true/false (any case);
// an empty cell is Unknown.
func ParseTri(s string) (Tri, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return Unknown, nil
	case "1", "yes", "y", "true":
		return Yes, nil
	case "0", "no", "n", "false":
		return No, nil
	}
	return Unknown, fmt.Errorf("%w: %q is not one of 0/1, yes/no, true/false", ErrClinical, s)
}

// parseAgeCell reads an age cell of the clinical CSV: a plain number of
// years ("62", "62.5") or a DICOM age string ("062Y"); empty is unknown.
func parseAgeCell(s string) (years float64, known bool, err error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, false, nil
	}
	if v, perr := strconv.ParseFloat(t, 64); perr == nil {
		if math.IsNaN(v) || v < 0 || v > MaxAgeYears {
			return 0, false, fmt.Errorf("%w: age %q years (want 0–%d)", ErrClinical, s, MaxAgeYears)
		}
		return v, true, nil
	}
	return ParsePatientAge(t)
}
