package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/risk"
)

// editDone rewrites OUT/<id>/done.json through edit on its JSON object.
func editDone(t *testing.T, out, id string, edit func(m map[string]any)) {
	t.Helper()
	p := filepath.Join(out, id, DoneFile)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	mkfile(t, p, b)
}

// TestResumeRedoesIncompleteDone: a done.json that lacks a field every
// finished scan writes, or holds an invalid value, is not complete: the
// resumed run redoes that scan, says so naming the file and the problem,
// and the submission holds the redone result, never a zero.
func TestResumeRedoesIncompleteDone(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		edit       func(m map[string]any)
		raw        func(b []byte) []byte // edits the file's bytes instead
	}{
		{"no cancer_probability", "no cancer_probability", func(m map[string]any) { delete(m, "cancer_probability") }, nil},
		{"no files", "no files", func(m map[string]any) { delete(m, "files") }, nil},
		{"no scorer", "no scorer", func(m map[string]any) { delete(m, "scorer") }, nil},
		{"no candidates", "no candidates", func(m map[string]any) { delete(m, "candidates") }, nil},
		{"null cancer", "no cancer_probability", func(m map[string]any) { m["cancer_probability"] = nil }, nil},
		{"cancer out of range", "not in [0,1]", func(m map[string]any) { m["cancer_probability"] = 1.5 }, nil},
		{"empty scorer", `scorer ""`, func(m map[string]any) { m["scorer"] = "" }, nil},
		{"unknown scorer", `scorer "magic"`, func(m map[string]any) { m["scorer"] = "magic" }, nil},
		{"files without candidates.csv", "does not list candidates.csv", func(m map[string]any) { m["files"] = []string{} }, nil},
		{"wrong candidate count", "says 3 candidates", func(m map[string]any) { m["candidates"] = 3 }, nil},
		{"other scan's id", `id "p2"`, func(m map[string]any) { m["id"] = "p2" }, nil},
		// encoding/json keeps the last of two values; a reader that keeps
		// the first would see another result.
		{"key named twice", `duplicate key "cancer_probability"`, nil, func(b []byte) []byte {
			return bytes.Replace(b, []byte("{"), []byte(`{"cancer_probability":0,`), 1)
		}},
		{"key named twice in another case", `duplicate key "cancer_probability"`, nil, func(b []byte) []byte {
			return bytes.Replace(b, []byte("{"), []byte(`{"Cancer_Probability":0,`), 1)
		}},
		{"too large", "larger than 16777216 bytes", nil, func(b []byte) []byte {
			return append(b, bytes.Repeat([]byte(" "), MaxDoneBytes)...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := fakeScans(t, "p1", "p2")
			out := t.TempDir()
			calls := map[string]int{}
			var mu sync.Mutex
			cfg := fakeConfig(in, out, fakeScan(calls, &mu))
			if _, err := Run(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			if tc.raw != nil {
				p := filepath.Join(out, "p1", DoneFile)
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				mkfile(t, p, tc.raw(b))
			} else {
				editDone(t, out, "p1", tc.edit)
			}
			var logs bytes.Buffer
			cfg.Log = testLogger(&logs)
			sum, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Skipped != 1 || sum.Succeeded != 1 || calls["p1"] != 2 || calls["p2"] != 1 {
				t.Errorf("skipped %d, succeeded %d, calls %v: want p1 redone and p2 skipped", sum.Skipped, sum.Succeeded, calls)
			}
			l := logs.String()
			if !strings.Contains(l, "redoing scan") || !strings.Contains(l, filepath.Join(out, "p1", DoneFile)) ||
				!strings.Contains(l, strings.ReplaceAll(tc.want, `"`, `\"`)) {
				t.Errorf("log does not say p1 is redone because of %q:\n%s", tc.want, l)
			}
			if sub, _ := os.ReadFile(filepath.Join(out, "submission.csv")); string(sub) != "id,cancer\np1,0.500000\np2,0.500000\n" {
				t.Errorf("submission:\n%s", sub)
			}
			if _, _, err := readComplete(filepath.Join(out, "p1"), "p1"); err != nil {
				t.Errorf("redone p1 is not complete: %v", err)
			}
		})
	}
}

// settingsScan is a ScanFunc recording *opt's settings as Worker.Process
// does, with cancer = the leak and the DICOM PatientID "pat-<id>".
func settingsScan(opt *ScanOptions, calls map[string]int, mu *sync.Mutex) ScanFunc {
	return func(_ context.Context, in, dir string) (ScanRecord, []candidate.Candidate, error) {
		id := ScanID(in)
		mu.Lock()
		calls[id]++
		mu.Unlock()
		set := opt.settings()
		set.ClinicalRow = opt.Score.Clinical.clinicalRow(id, "pat-"+id)
		return ScanRecord{SeriesUID: "uid-" + id, Cancer: opt.Score.NoisyORLeak, Scorer: string(opt.Score.scorer()),
				PatientID: "pat-" + id, Settings: &set, Seconds: Timings{}},
			[]candidate.Candidate{{SeriesUID: "uid-" + id, Probability: 0.9}}, nil
	}
}

// TestResumeRedoesChangedSettings: a resumed run redoes the scans whose
// recorded settings (scorer, leak, a scan's --clinical row, spacing, …)
// differ from its own, logs what changed, and rewrites the aggregates from
// the redone scans; with unchanged settings it skips them. A done.json
// written before settings were recorded is skipped when its scorer agrees.
func TestResumeRedoesChangedSettings(t *testing.T) {
	in := fakeScans(t, "p1", "p2")
	out := t.TempDir()
	calls := map[string]int{}
	var mu sync.Mutex
	cfg := fakeConfig(in, out, nil)
	cfg.Scan.Score.NoisyORLeak, cfg.Scan.Score.NoisyORK = 0.02, 3
	cfg.NewScan = func() ScanFunc { return settingsScan(&cfg.Scan, calls, &mu) }
	run := func(what string, wantRedone ...string) (*Summary, string) {
		t.Helper()
		var logs bytes.Buffer
		cfg.Log = testLogger(&logs)
		before := map[string]int{"p1": calls["p1"], "p2": calls["p2"]}
		sum, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		for _, id := range []string{"p1", "p2"} {
			redone := calls[id] > before[id]
			want := strings.Contains(strings.Join(wantRedone, ","), id)
			if redone != want {
				t.Errorf("%s: %s redone %v, want %v\n%s", what, id, redone, want, logs.String())
			}
		}
		if sum.Skipped != 2-len(wantRedone) {
			t.Errorf("%s: skipped_complete %d, want %d", what, sum.Skipped, 2-len(wantRedone))
		}
		return sum, logs.String()
	}
	run("first run", "p1", "p2")
	run("same settings")

	cfg.Scan.Score.NoisyORLeak = 0.9
	_, l := run("--leak 0.9", "p1", "p2")
	if !strings.Contains(l, "leak 0.02 -> 0.9") || !strings.Contains(l, filepath.Join(out, "p1", DoneFile)) {
		t.Errorf("log does not say the leak changed:\n%s", l)
	}
	if sub, _ := os.ReadFile(filepath.Join(out, "submission.csv")); string(sub) != "id,cancer\np1,0.900000\np2,0.900000\n" {
		t.Errorf("submission not rewritten from the redone scans:\n%s", sub)
	}
	var sj Summary
	if b, err := os.ReadFile(filepath.Join(out, "summary.json")); err != nil || json.Unmarshal(b, &sj) != nil ||
		len(sj.Patients) != 2 || sj.Patients[0].CancerProbability != 0.9 {
		t.Errorf("summary.json not rewritten: %+v %v", sj.Patients, err)
	}

	cfg.Scan.Score.Scorer = ScorerFused
	_, l = run("--scorer fused", "p1", "p2")
	if !strings.Contains(l, `scorer \"brock\" -> \"fused\"`) {
		t.Errorf("log does not say the scorer changed:\n%s", l)
	}
	cfg.Scan.Preprocess.Spacing = [3]float64{2, 2, 2}
	run("--spacing 2", "p1", "p2")
	cfg.Scan.Detect.MaxCandidates = 5
	run("--max-candidates 5", "p1", "p2")

	// A --clinical row for p1 (by its PatientID) redoes p1 alone; the same
	// table again redoes nothing; a changed row redoes p1 again.
	cfg.Scan.Score.Clinical = ClinicalTable{"pat-p1": {AgeYears: 70, AgeKnown: true}}
	_, l = run("--clinical with p1's row", "p1")
	if !strings.Contains(l, "clinical_row none -> ") {
		t.Errorf("log does not say the clinical row changed:\n%s", l)
	}
	run("same --clinical")
	cfg.Scan.Score.Clinical = ClinicalTable{"pat-p1": {AgeYears: 71, AgeKnown: true}}
	run("changed --clinical row", "p1")

	// done.json from before settings were recorded: complete when what it
	// records agrees (the scorer; covariates from no --clinical).
	cfg.Scan.Score.Clinical = nil
	run("no --clinical", "p1")
	for _, id := range []string{"p1", "p2"} {
		editDone(t, out, id, func(m map[string]any) { delete(m, "settings"); delete(m, "patient_id") })
	}
	run("legacy done.json, same scorer")
	cfg.Scan.Score.Scorer = ScorerBrock
	_, l = run("legacy done.json, other scorer", "p1", "p2")
	if !strings.Contains(l, `scorer \"fused\" -> \"brock\"`) {
		t.Errorf("log does not say the scorer changed:\n%s", l)
	}
}

// TestLegacyClinical: a done.json without settings is compared with the
// --clinical row for its scan id on the covariates it took from the CSV.
func TestLegacyClinical(t *testing.T) {
	cv, _ := ResolveCovariates("", "", &risk.Clinical{AgeYears: 70, AgeKnown: true, Sex: risk.Male})
	csvRec := ScanRecord{ID: "p1", Clinical: cv.Record(cv.Clinical)}
	none, _ := ResolveCovariates("", "", nil)
	plain := ScanRecord{ID: "p1", Clinical: none.Record(none.Clinical)}
	for _, tc := range []struct {
		name    string
		rec     ScanRecord
		tab     ClinicalTable
		changed bool
	}{
		{"no csv, no table", plain, nil, false},
		{"csv, no table", csvRec, nil, true},
		{"same row", csvRec, ClinicalTable{"p1": {AgeYears: 70, AgeKnown: true, Sex: risk.Male}}, false},
		{"other age", csvRec, ClinicalTable{"p1": {AgeYears: 71, AgeKnown: true, Sex: risk.Male}}, true},
		{"row added", plain, ClinicalTable{"p1": {FamilyHistory: risk.Yes}}, true},
		{"no row for the id", plain, ClinicalTable{"other": {FamilyHistory: risk.Yes}}, true},
	} {
		if got := legacyClinical(tc.rec, tc.tab) != ""; got != tc.changed {
			t.Errorf("%s: changed %v, want %v (%q)", tc.name, got, tc.changed, legacyClinical(tc.rec, tc.tab))
		}
	}
}

// TestRunLabelsConflictsAndMismatches: an id labelled both 0 and 1 is an
// error naming the file and both lines; label ids matching no scan and
// scans without a label are warned about, once each, with examples.
func TestRunLabelsConflictsAndMismatches(t *testing.T) {
	in := fakeScans(t, "p1", "p2", "p3")
	out := t.TempDir()
	var mu sync.Mutex
	cfg := fakeConfig(in, out, fakeScan(map[string]int{}, &mu))
	dir := t.TempDir()
	cfg.Labels = filepath.Join(dir, "labels.csv")
	mkfile(t, cfg.Labels, []byte("id,cancer\np1,1\np2,0\np1,0\n"))
	_, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), cfg.Labels) || !strings.Contains(err.Error(), "line 4") ||
		!strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), `"p1"`) {
		t.Fatalf("conflicting labels: %v, want an error naming the file, the id and lines 2 and 4", err)
	}
	if _, err := os.Stat(filepath.Join(out, "summary.json")); err == nil {
		t.Error("a run with conflicting labels wrote summary.json")
	}

	mkfile(t, cfg.Labels, []byte("id,cancer\np1,1\nP2,0\nghost,1\np1,1\n"))
	var logs bytes.Buffer
	cfg.Log = testLogger(&logs)
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Labelled == nil || *sum.Labelled != 1 {
		t.Errorf("labelled %v, want 1", sum.Labelled)
	}
	notes := strings.Join(sum.Notes, "\n")
	for _, want := range []string{`2 of the 3 ids in ` + cfg.Labels + ` match no scan`, `"P2" (scan "p2"?)`, `"ghost"`,
		`2 of the 3 scans have no label in ` + cfg.Labels, `"p2", "p3"`} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes do not say %q:\n%s", want, notes)
		}
	}
	if l := logs.String(); !strings.Contains(l, "same label twice") || strings.Count(l, "match no scan") != 1 {
		t.Errorf("log:\n%s", l)
	}
}

// TestRunClinicalUnusedRows: --clinical rows whose id matches no scan id
// and no scan's DICOM PatientID are warned about at the end of the run,
// with a hint for an id that differs only in case.
func TestRunClinicalUnusedRows(t *testing.T) {
	in := fakeScans(t, "p1", "p2", "p3", "bad1")
	out := t.TempDir()
	calls := map[string]int{}
	var mu sync.Mutex
	cfg := fakeConfig(in, out, nil)
	cfg.Scan.Score.Clinical = ClinicalTable{"P1": {}, "p2": {}, "pat-p3": {}, "bad1": {}, "nobody": {}}
	cfg.ClinicalFile = "clinical.csv"
	scan := settingsScan(&cfg.Scan, calls, &mu)
	cfg.NewScan = func() ScanFunc {
		return func(ctx context.Context, in, dir string) (ScanRecord, []candidate.Candidate, error) {
			if strings.HasPrefix(ScanID(in), "bad") {
				return fakeScan(calls, &mu)(ctx, in, dir)
			}
			return scan(ctx, in, dir)
		}
	}
	var logs bytes.Buffer
	cfg.Log = testLogger(&logs)
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(sum.Notes, "\n")
	want := `clinical: 2 of the 5 ids in clinical.csv match no scan id or DICOM PatientID, so their rows were not used (ids match exactly): "P1" (scan "p1"?), "nobody"`
	if notes != want {
		t.Errorf("notes:\n%s\nwant:\n%s", notes, want)
	}
	if !strings.Contains(logs.String(), "2 of the 5 ids in clinical.csv") {
		t.Errorf("not logged:\n%s", logs.String())
	}
}

// TestDoneWarningsAlwaysListed: done.json always has "warnings", [] when
// the scan has none (scripts need not test for the key), and a done.json
// written before that, without the key, is still complete on resume.
func TestDoneWarningsAlwaysListed(t *testing.T) {
	in := fakeScans(t, "p1")
	out := t.TempDir()
	calls := map[string]int{}
	var mu sync.Mutex
	cfg := fakeConfig(in, out, fakeScan(calls, &mu))
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "p1", DoneFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if w, ok := m["warnings"]; !ok || string(w) != "[]" {
		t.Errorf(`done.json "warnings": %q (present %v), want []`, w, ok)
	}
	editDone(t, out, "p1", func(m map[string]any) { delete(m, "warnings") })
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Skipped != 1 || calls["p1"] != 1 {
		t.Errorf("a done.json without warnings: skipped %d, calls %d; want it complete", sum.Skipped, calls["p1"])
	}
}
