package pipeline

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/lungctl/lungctl/internal/risk"
)

// ScanSettings are the settings that determine a scan's results beyond its
// input, as done.json records them under "settings" (the keys name run's
// flags). A resumed run redoes a scan whose recorded settings differ from
// its own (see batch.changed). The mean-shift backend (--device) is left
// out: it does not change the results.
type ScanSettings struct {
	// Scorer is --scorer; NoClassify --no-classify.
	Scorer     string `json:"scorer"`
	NoClassify bool   `json:"no_classify"`
	// ModelSHA256 is the CNN's sha256 when it runs (ScoreOptions.RunsCNN),
	// else empty.
	ModelSHA256 string `json:"model_sha256"`
	// TopK and Leak are the noisy-OR's --top-k and --leak.
	TopK int     `json:"top_k"`
	Leak float64 `json:"leak"`
	// ClinicalRow is the --clinical row the scan used (by scan id or
	// DICOM PatientID, see ClinicalTable), as "age=… sex=…
	// family_history=… emphysema=…"; empty when none did.
	ClinicalRow string `json:"clinical_row"`
	// SpacingMM is --spacing; Series --series; NoMask skips the lung mask.
	SpacingMM [3]float64 `json:"spacing_mm"`
	Series    string     `json:"series"`
	NoMask    bool       `json:"no_mask"`
	// Detect are the detection flags' values.
	Detect DetectSettings `json:"detect"`
}

// DetectSettings are the detection options run has flags for.
type DetectSettings struct {
	HUMin         float64    `json:"hu_min"`
	SIMin         float64    `json:"si_min"`
	SigmaMM       float64    `json:"sigma_mm"`
	Bandwidth     [5]float64 `json:"bandwidth"`
	MinDiameterMM float64    `json:"min_diameter_mm"`
	MaxDiameterMM float64    `json:"max_diameter_mm"`
	MaxCandidates int        `json:"max_candidates"`
}

// settings are o's settings for every scan, the clinical row aside.
func (o ScanOptions) settings() ScanSettings {
	s := ScanSettings{Scorer: string(o.Score.scorer()), NoClassify: o.Score.NoScore, TopK: o.Score.NoisyORK,
		Leak: o.Score.NoisyORLeak, SpacingMM: o.Preprocess.Spacing, Series: o.Preprocess.SeriesUID,
		NoMask: o.Preprocess.NoMask}
	if o.Score.RunsCNN() {
		s.ModelSHA256 = o.Score.Model.SHA256()
	}
	d := o.Detect
	s.Detect = DetectSettings{HUMin: d.HUMin, SIMin: d.SIMin, SigmaMM: d.SigmaMM, Bandwidth: d.Bandwidth,
		MinDiameterMM: d.MinDiameterMM, MaxDiameterMM: d.MaxDiameterMM, MaxCandidates: d.MaxCandidates}
	return s
}

// clinicalRow is the text of the table's row for a scan (ScanSettings.ClinicalRow).
func (t ClinicalTable) clinicalRow(scanID, patientID string) string {
	c, ok := t.lookup(scanID, patientID)
	if !ok {
		return ""
	}
	age := "unknown"
	if c.AgeKnown {
		age = strconv.FormatFloat(c.AgeYears, 'g', -1, 64)
	}
	sex := c.Sex.String()
	if sex == "" {
		sex = "unknown"
	}
	return fmt.Sprintf("age=%s sex=%s family_history=%s emphysema=%s", age, sex, c.FamilyHistory, c.Emphysema)
}

// flatSettings flattens s's JSON into key → value text ("detect.hu_min").
func flatSettings(s ScanSettings) map[string]string {
	b, err := json.Marshal(s)
	out := map[string]string{}
	if err != nil {
		// A non-finite number: no run's flags give one, and no record
		// could hold one.
		out["settings"] = err.Error()
		return out
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		out["settings"] = err.Error()
		return out
	}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if o, ok := v.(map[string]any); ok {
			for k, x := range o {
				walk(prefix+k+".", x)
			}
			return
		}
		t, _ := json.Marshal(v)
		out[strings.TrimSuffix(prefix, ".")] = string(t)
	}
	walk("", m)
	return out
}

// diffSettings lists what differs between the recorded settings and this
// run's, one "key old -> new" per setting, in key order.
func diffSettings(rec, now ScanSettings) []string {
	a, b := flatSettings(rec), flatSettings(now)
	keys := slices.Collect(maps.Keys(b))
	for k := range a {
		if _, ok := b[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var d []string
	for _, k := range keys {
		if a[k] != b[k] {
			d = append(d, fmt.Sprintf("%s %s -> %s", k, orNone(a[k]), orNone(b[k])))
		}
	}
	return d
}

func orNone(s string) string {
	if s == "" || s == `""` {
		return "none"
	}
	return s
}

// changed lists how this run's settings differ from those the complete
// scan rec was made with (nil: none, the scan may be skipped). A record
// written before done.json held settings is compared on what it does
// record: the scorer, the model's sha256 and the covariates taken from
// --clinical (see legacyClinical).
func (b *batch) changed(rec ScanRecord) []string {
	now := b.settings
	tab := b.cfg.Scan.Score.Clinical
	now.ClinicalRow = tab.clinicalRow(rec.ID, rec.PatientID)
	if rec.Settings != nil {
		return diffSettings(*rec.Settings, now)
	}
	var d []string
	if rec.ModelSHA256 != now.ModelSHA256 {
		d = append(d, fmt.Sprintf("model_sha256 %s -> %s", orNone(strconv.Quote(rec.ModelSHA256)), orNone(strconv.Quote(now.ModelSHA256))))
	}
	if rec.Scorer != now.Scorer {
		d = append(d, fmt.Sprintf("scorer %s -> %s", orNone(strconv.Quote(rec.Scorer)), strconv.Quote(now.Scorer)))
	}
	if s := legacyClinical(rec, tab); s != "" {
		d = append(d, s)
	}
	return d
}

// legacyClinical compares the covariates a record without settings took
// from --clinical with this run's table t ("" when they agree). Such a
// record does not say which DICOM PatientID it had, so only a row for the
// scan id can be checked: with a table that has none, the scan is redone.
func legacyClinical(rec ScanRecord, t ClinicalTable) string {
	c := rec.Clinical
	usedCSV := c != nil && slices.Contains(slices.Collect(maps.Values(c.Sources)), SourceCSV)
	if t == nil {
		if usedCSV {
			return "clinical_row: done.json used --clinical values, this run has no --clinical"
		}
		return ""
	}
	row, ok := t[rec.ID]
	if !ok {
		return "clinical_row: done.json does not record which --clinical row it used (written by an older lungctl) and this run's --clinical has none for the scan id"
	}
	if c == nil {
		return "clinical_row: done.json has no clinical block"
	}
	fromCSV := func(k string) bool { return c.Sources[k] == SourceCSV }
	var d []string
	if row.AgeKnown != fromCSV("age") || (row.AgeKnown && c.AgeYears != math.Round(row.AgeYears*100)/100) {
		d = append(d, "age")
	}
	// Sex O is defaulted by Brock, so its source then reads default.
	switch {
	case row.Sex == risk.SexOther:
		if c.Sex != "O" {
			d = append(d, "sex")
		}
	case (row.Sex != risk.SexUnknown) != fromCSV("sex") || (row.Sex != risk.SexUnknown && c.Sex != row.Sex.String()):
		d = append(d, "sex")
	}
	if row.FamilyHistory.Known() != fromCSV("family_history") ||
		(row.FamilyHistory.Known() && c.FamilyHistory != row.FamilyHistory.String()) {
		d = append(d, "family_history")
	}
	if row.Emphysema.Known() != fromCSV("emphysema") || (row.Emphysema.Known() && c.Emphysema != row.Emphysema.String()) {
		d = append(d, "emphysema")
	}
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprintf("clinical_row: the --clinical row for %s differs from done.json's covariates (%s)", rec.ID, strings.Join(d, ", "))
}
