package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/lungctl/lungctl/internal/atomicfile"
	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/jsonstrict"
	"github.com/lungctl/lungctl/internal/safefile"
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
	// (LAA-950), read with the image noise brought down to a standard
	// scan's (risk.NoiseRefHU, 20 HU); absent without a lung mask.
	// EmphysemaRawPct is the same count on the image as read, and
	// LungNoiseHU the in-plane noise SD read in the lung (absent when it
	// could not be read).
	EmphysemaPct    *float64 `json:"emphysema_pct,omitempty"`
	EmphysemaRawPct *float64 `json:"emphysema_raw_pct,omitempty"`
	LungNoiseHU     *float64 `json:"lung_noise_hu,omitempty"`
	// KernelSigmaMM is the reconstruction kernel's in-plane point spread σ
	// (mm) read from the scan's air–skin edge, which the lesion
	// measurements' blur model used; absent when no edge could be read
	// (the model then assumed a standard kernel's, 0.45 mm).
	KernelSigmaMM *float64 `json:"kernel_sigma_mm,omitempty"`
	// ConvolutionKernel is the vendor's name of the reconstruction kernel
	// (DICOM ConvolutionKernel), absent when the input does not say: an
	// edge-enhancing one ("LUNG", "BONE", Siemens B60f and sharper) lifts
	// small dense objects' peaks, which the blur model does not know.
	ConvolutionKernel string `json:"convolution_kernel,omitempty"`
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
	// Warnings carries the loader's, the scoring's and the exports'
	// warnings; runOne writes [] when there are none (records written
	// before lungctl did so lack the key, and read as none).
	Warnings []string `json:"warnings"`
	// ToolVersion is the lungctl version that wrote the record.
	ToolVersion string `json:"tool_version"`
	// PatientID is the DICOM PatientID (empty when the input has none): a
	// --clinical row may match it.
	PatientID string `json:"patient_id,omitempty"`
	// Settings are the settings that determined the results beyond the
	// input; a resumed run redoes a scan whose settings differ from its
	// own (see ScanSettings). Absent in records written before lungctl
	// recorded them.
	Settings *ScanSettings `json:"settings,omitempty"`
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
	r, _, err := readDone(scanDir)
	return r, err
}

// MaxDoneBytes bounds the done.json a resumed run or report reads, in
// bytes: lungctl writes a few KiB, more with many warnings (each sidecar's
// is at most 4 MiB, volio.MaxSidecarBytes); a larger file is refused
// before it is read, as not a record lungctl wrote.
const MaxDoneBytes = 16 << 20

// readDone is ReadDone, also returning the file's bytes.
func readDone(scanDir string) (ScanRecord, []byte, error) {
	var r ScanRecord
	p := filepath.Join(scanDir, DoneFile)
	f, err := safefile.Open(p)
	if err != nil {
		return r, nil, err
	}
	defer f.Close()
	tooBig := fmt.Errorf("%s: larger than %d bytes (MaxDoneBytes): not a record lungctl wrote", p, MaxDoneBytes)
	if st, err := f.Stat(); err == nil && st.Size() > MaxDoneBytes {
		return r, nil, tooBig
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxDoneBytes+1))
	if err != nil {
		return r, nil, fmt.Errorf("%s: %w", p, err)
	}
	if len(b) > MaxDoneBytes {
		return r, nil, tooBig
	}
	var legacy struct {
		Cancer *float64 `json:"cancer"`
		Prob   *float64 `json:"cancer_probability"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, nil, fmt.Errorf("%s: %w", filepath.Join(scanDir, DoneFile), err)
	}
	if err := jsonstrict.UniqueKeys(b); err != nil {
		return r, nil, fmt.Errorf("%s: %w", filepath.Join(scanDir, DoneFile), err)
	}
	if json.Unmarshal(b, &legacy) == nil && legacy.Prob == nil && legacy.Cancer != nil {
		r.Cancer = *legacy.Cancer
	}
	for _, f := range r.Files {
		if !filepath.IsLocal(f) {
			return r, nil, fmt.Errorf("%s: listed output %q is not inside the scan folder", scanDir, f)
		}
		if _, err := os.Stat(filepath.Join(scanDir, f)); err != nil {
			return r, nil, fmt.Errorf("%s: listed output missing: %w", scanDir, err)
		}
	}
	return r, b, nil
}

// readComplete returns a complete scan's record and candidates: a done
// scan whose done.json lacks a field every finished scan writes or holds an
// invalid value (see checkDone), or whose candidates no longer parse, is
// incomplete.
func readComplete(dir, id string) (ScanRecord, []candidate.Candidate, error) {
	rec, raw, err := readDone(dir)
	if err != nil {
		return rec, nil, err
	}
	if err := checkDone(raw, rec, id); err != nil {
		return rec, nil, fmt.Errorf("%s: %w", filepath.Join(dir, DoneFile), err)
	}
	cs, err := candidate.ReadFile(filepath.Join(dir, CandidatesFile))
	if err != nil {
		return rec, nil, err
	}
	if len(cs) != rec.Candidates {
		return rec, nil, fmt.Errorf("%s: says %d candidates, %s holds %d", filepath.Join(dir, DoneFile),
			rec.Candidates, CandidatesFile, len(cs))
	}
	for i := range cs {
		if cs[i].PatientID == "" {
			cs[i].PatientID = id // written before the column existed
		}
	}
	return rec, cs, nil
}

// ErrIncomplete marks a done.json that does not describe a finished scan:
// a field every finished scan writes is missing, or a value is invalid.
var ErrIncomplete = errors.New("not a finished scan's record")

// doneKeys are the keys every finished scan's done.json has (runOne and
// Worker.Process write them all; "cancer_probability" may be the legacy
// "cancer").
var doneKeys = []string{"id", "input", "series_uid", "cancer_probability", "scorer", "reported_nodules",
	"candidates", "seconds", "files", "tool_version"}

// checkDone checks a done.json's bytes raw (rec, as decoded) for scan id:
// every key of doneKeys present and not null (seconds may be null), and
// valid values: the id, a cancer probability in [0,1], a known scorer,
// candidate counts that are not negative, files naming candidates.csv, a
// tool version. The error (ErrIncomplete) lists every problem.
func checkDone(raw []byte, rec ScanRecord, id string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("%w: %w", ErrIncomplete, err)
	}
	has := func(k string) bool {
		v, ok := m[k]
		return ok && (k == "seconds" || strings.TrimSpace(string(v)) != "null")
	}
	var missing, bad []string
	for _, k := range doneKeys {
		if !has(k) && !(k == "cancer_probability" && has("cancer")) {
			missing = append(missing, k)
		}
	}
	if has("id") && rec.ID != id {
		bad = append(bad, fmt.Sprintf("id %q is not the folder's %q", rec.ID, id))
	}
	if !(rec.Cancer >= 0 && rec.Cancer <= 1) || math.IsInf(rec.Cancer, 0) {
		bad = append(bad, fmt.Sprintf("cancer_probability %v is not in [0,1]", rec.Cancer))
	}
	if has("scorer") {
		if _, err := ParseScorer(rec.Scorer); err != nil {
			bad = append(bad, fmt.Sprintf("scorer %q is not brock, cnn or fused", rec.Scorer))
		}
	}
	if rec.Candidates < 0 || rec.Reported < 0 || rec.Reported > rec.Candidates {
		bad = append(bad, fmt.Sprintf("%d candidates, %d reported nodules", rec.Candidates, rec.Reported))
	}
	if has("files") && !slices.Contains(rec.Files, CandidatesFile) {
		bad = append(bad, "files does not list "+CandidatesFile)
	}
	if has("tool_version") && rec.ToolVersion == "" {
		bad = append(bad, "tool_version is empty")
	}
	if len(missing) > 0 {
		bad = append([]string{"no " + strings.Join(missing, ", ")}, bad...)
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrIncomplete, strings.Join(bad, "; "))
	}
	return nil
}

// WriteJSON writes v as indented JSON to path atomically.
func WriteJSON(path string, v any) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(v)
	})
}
