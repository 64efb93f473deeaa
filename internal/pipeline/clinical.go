package pipeline

import (
	"fmt"
	"math"

	"github.com/lungctl/lungctl/internal/risk"
)

// Where a patient covariate came from (ClinicalRecord.Sources).
const (
	// SourceCSV: the --clinical CSV's row for the patient.
	SourceCSV = "csv"
	// SourceDICOM: the DICOM series' PatientAge or PatientSex.
	SourceDICOM = "dicom"
	// SourceCT: measured on the scan (emphysema from LAA-950, see
	// risk.EmphysemaPresent).
	SourceCT = "ct"
	// SourceDefault: unknown; the Brock model's documented default was used
	// (age 62 years, risk.DefaultAgeYears; an unknown yes/no counts half,
	// risk.UnknownIndicator).
	SourceDefault = "default"
)

// ClinicalTable holds the rows of a --clinical CSV (risk.ReadClinicalCSV)
// by id. A scan's row is the one whose id is the scan's id (the folder or
// file name, as in submission.csv) or, failing that, its DICOM PatientID.
type ClinicalTable map[string]risk.Clinical

// lookup returns the scan's row: by scan id first, then by PatientID.
func (t ClinicalTable) lookup(scanID, patientID string) (risk.Clinical, bool) {
	if c, ok := t[scanID]; ok {
		return c, true
	}
	if patientID == "" {
		return risk.Clinical{}, false
	}
	c, ok := t[patientID]
	return c, ok
}

// ClinicalRecord is what done.json and summary.json say about a patient's
// covariates: the value the Brock model used for each, where it came from,
// and which were defaulted.
type ClinicalRecord struct {
	// AgeYears is the age used, in years (risk.DefaultAgeYears, 62, when
	// defaulted).
	AgeYears float64 `json:"age_years"`
	// Sex is "M", "F", "O" or "unknown" ("O" and "unknown" are defaulted:
	// the model knows male and female only).
	Sex string `json:"sex"`
	// FamilyHistory and Emphysema are "yes", "no" or "unknown".
	FamilyHistory string `json:"family_history"`
	Emphysema     string `json:"emphysema"`
	// Sources names each covariate's origin: csv, dicom, ct or default
	// (keys age, sex, family_history, emphysema).
	Sources map[string]string `json:"sources"`
	// Defaulted lists the covariates Brock replaced by its default, in the
	// order age, sex, family_history, emphysema (empty: none).
	Defaulted []string `json:"defaulted"`
}

// Covariates are a scan's resolved covariates: the values and, per
// covariate, where each came from.
type Covariates struct {
	Clinical risk.Clinical
	Sources  map[string]string
}

// ResolveCovariates merges what is known about a patient: DICOM PatientAge
// and PatientSex (dicomAge, dicomSex; empty when absent) and the
// --clinical CSV's row (row; nil when there is none). A covariate the CSV
// gives overrides the DICOM one (an empty CSV cell gives nothing); what
// neither gives stays unknown. A DICOM value that does not parse is left
// unknown and reported in the returned warnings.
func ResolveCovariates(dicomAge, dicomSex string, row *risk.Clinical) (Covariates, []string) {
	cv := Covariates{Sources: map[string]string{"age": SourceDefault, "sex": SourceDefault,
		"family_history": SourceDefault, "emphysema": SourceDefault}}
	c := &cv.Clinical
	var warns []string
	if y, ok, err := risk.ParsePatientAge(dicomAge); err != nil {
		warns = append(warns, fmt.Sprintf("DICOM PatientAge ignored: %v", err))
	} else if ok {
		c.AgeYears, c.AgeKnown, cv.Sources["age"] = y, true, SourceDICOM
	}
	if s, err := risk.ParsePatientSex(dicomSex); err != nil {
		warns = append(warns, fmt.Sprintf("DICOM PatientSex ignored: %v", err))
	} else if s != risk.SexUnknown {
		c.Sex, cv.Sources["sex"] = s, SourceDICOM
	}
	if row == nil {
		return cv, warns
	}
	if row.AgeKnown {
		c.AgeYears, c.AgeKnown, cv.Sources["age"] = row.AgeYears, true, SourceCSV
	}
	if row.Sex != risk.SexUnknown {
		c.Sex, cv.Sources["sex"] = row.Sex, SourceCSV
	}
	if row.FamilyHistory.Known() {
		c.FamilyHistory, cv.Sources["family_history"] = row.FamilyHistory, SourceCSV
	}
	if row.Emphysema.Known() {
		c.Emphysema, cv.Sources["emphysema"] = row.Emphysema, SourceCSV
	}
	return cv, warns
}

// defaulted lists the covariates of c the Brock model has to default, in
// its order: an unknown age, a sex other than M or F, an unknown yes/no.
func defaulted(c risk.Clinical) []string {
	d := []string{}
	if !c.AgeKnown {
		d = append(d, "age")
	}
	if c.Sex != risk.Male && c.Sex != risk.Female {
		d = append(d, "sex")
	}
	if !c.FamilyHistory.Known() {
		d = append(d, "family_history")
	}
	if !c.Emphysema.Known() {
		d = append(d, "emphysema")
	}
	return d
}

// Record describes the covariates as Brock used them: c is the clinical
// block Characterise returned (emphysema possibly measured, then its
// source is ct).
func (cv Covariates) Record(c risk.Clinical) *ClinicalRecord {
	r := &ClinicalRecord{AgeYears: risk.DefaultAgeYears, Sex: c.Sex.String(), FamilyHistory: c.FamilyHistory.String(),
		Emphysema: c.Emphysema.String(), Sources: map[string]string{}, Defaulted: defaulted(c)}
	if c.AgeKnown {
		r.AgeYears = math.Round(c.AgeYears*100) / 100
	}
	if r.Sex == "" {
		r.Sex = "unknown"
	}
	for k, v := range cv.Sources {
		r.Sources[k] = v
	}
	if !cv.Clinical.Emphysema.Known() && c.Emphysema.Known() {
		r.Sources["emphysema"] = SourceCT
	}
	for _, k := range r.Defaulted {
		r.Sources[k] = SourceDefault
	}
	return r
}
