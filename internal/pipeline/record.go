package pipeline

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"github.com/lungctl/lungctl/internal/atomicfile"
	"github.com/lungctl/lungctl/internal/candidate"
)

// DoneFile is the name of the per-scan completion record, written last and
// atomically: a scan folder holding a valid DoneFile is complete.
const DoneFile = "done.json"

// CandidatesFile is the name of each scan's candidates and of the batch's
// combined candidates.
const CandidatesFile = "candidates.csv"

// ScanRecord is what a finished scan leaves in OUT/<id>/done.json and what the
// batch summary is built from.
type ScanRecord struct {
	// ID is the scan's output id (see ScanID).
	ID string `json:"id"`
	// Input is the path the scan was read from.
	Input string `json:"input"`
	// SeriesUID is the DICOM SeriesInstanceUID or, for files, the stem.
	SeriesUID string `json:"series_uid"`
	// Cancer is the patient-level cancer probability in [0,1] (records
	// written before lungctl called it cancer_probability said "cancer";
	// ReadDone reads both).
	Cancer float64 `json:"cancer_probability"`
	// Scorer names the per-candidate malignancy model: brock, cnn or fused.
	Scorer string `json:"scorer,omitempty"`
	// ModelSHA256 and ModelDomain identify the CNN model when it ran (its
	// file's sha256 and its card's domain: phantom, patients, unknown).
	ModelSHA256 string `json:"model_sha256,omitempty"`
	ModelDomain string `json:"model_domain,omitempty"`
	// LungRADS is the patient's Lung-RADS v2022 category: the most
	// suspicious reported nodule's ("1" when none is reported).
	LungRADS string `json:"lung_rads,omitempty"`
	// EmphysemaPct is the % (0–100) of lung voxels at or below −950 HU
	// (LAA-950); absent without a lung mask.
	EmphysemaPct *float64 `json:"emphysema_pct,omitempty"`
	// Reported is the number of candidates at or above the report
	// threshold (ReportThreshold), the Brock model's nodule count.
	Reported int `json:"reported_nodules"`
	// Clinical are the patient covariates Brock used, their sources and
	// which were defaulted.
	Clinical *ClinicalRecord `json:"clinical,omitempty"`
	// Candidates is the number of candidates written.
	Candidates int `json:"candidates"`
	// Seconds holds wall time per stage in seconds.
	Seconds Timings `json:"seconds"`
	// Files lists the output files relative to OUT/<id>/.
	Files []string `json:"files"`
	// Warnings carries the loader's geometry warnings.
	Warnings []string `json:"warnings,omitempty"`
	// ToolVersion is the lungctl version that wrote the record.
	ToolVersion string `json:"tool_version"`
}

// Timings are wall seconds per stage. They are JSON numbers in files, and a
// group of numbers in logs (seconds.load=0.12 in text, an object in JSON).
type Timings map[string]float64

// LogValue makes a slog group of the stages, in name order.
func (t Timings) LogValue() slog.Value {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	as := make([]slog.Attr, len(keys))
	for i, k := range keys {
		as[i] = slog.Float64(k, t[k])
	}
	return slog.GroupValue(as...)
}

// Failure is one failed scan, as written to failures.csv and to the
// failures list of summary.json (keys id, input, error, like the CSV
// header).
type Failure struct {
	ID    string `json:"id"`
	Input string `json:"input"`
	Error string `json:"error"`
}

// ReadDone returns the record of a complete scan folder, or an error when
// the folder is missing or incomplete (no valid done.json, or a file it
// lists is gone).
func ReadDone(scanDir string) (ScanRecord, error) {
	var r ScanRecord
	b, err := os.ReadFile(filepath.Join(scanDir, DoneFile))
	if err != nil {
		return r, err
	}
	var legacy struct {
		Cancer *float64 `json:"cancer"`
		Prob   *float64 `json:"cancer_probability"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: %w", filepath.Join(scanDir, DoneFile), err)
	}
	if json.Unmarshal(b, &legacy) == nil && legacy.Prob == nil && legacy.Cancer != nil {
		r.Cancer = *legacy.Cancer
	}
	for _, f := range r.Files {
		if !filepath.IsLocal(f) {
			return r, fmt.Errorf("%s: listed output %q is not inside the scan folder", scanDir, f)
		}
		if _, err := os.Stat(filepath.Join(scanDir, f)); err != nil {
			return r, fmt.Errorf("%s: listed output missing: %w", scanDir, err)
		}
	}
	return r, nil
}

// readComplete returns a complete scan's record and candidates; a done
// scan whose candidates no longer parse is incomplete.
func readComplete(dir, id string) (ScanRecord, []candidate.Candidate, error) {
	rec, err := ReadDone(dir)
	if err != nil {
		return rec, nil, err
	}
	cs, err := candidate.ReadFile(filepath.Join(dir, CandidatesFile))
	if err != nil {
		return rec, nil, err
	}
	for i := range cs {
		if cs[i].PatientID == "" {
			cs[i].PatientID = id // written before the column existed
		}
	}
	return rec, cs, nil
}

// WriteJSON writes v as indented JSON to path atomically.
func WriteJSON(path string, v any) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(v)
	})
}
