package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/pipeline"
)

// TestRunResumeChecksDoneAndSettings: a resumed run redoes a scan whose
// done.json lacks cancer_probability, and one whose recorded settings
// (done.json's settings: here --leak) differ from the run's, saying why and
// rewriting submission.csv; with the same settings it skips it. A
// --clinical id that matches no scan is warned about.
func TestRunResumeChecksDoneAndSettings(t *testing.T) {
	in := linkPatients(t, "PHANTOM-1")
	out := filepath.Join(t.TempDir(), "out")
	done := filepath.Join(out, "PHANTOM-1", pipeline.DoneFile)
	clinical := filepath.Join(t.TempDir(), "clinical.csv")
	if err := os.WriteFile(clinical, []byte("id,age,sex,family_history,emphysema\nphantom-1,70,M,1,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := lungctl(t, runCmd(in, out, "--clinical", clinical)...)
	checkExit(t, r, exitOK, "run")
	if !strings.Contains(r.stderr, "1 of the 1 ids in "+clinical+" match no scan id") || !strings.Contains(r.stderr, "PHANTOM-1") {
		t.Errorf("run with a --clinical id in the wrong case does not warn:\n%s", r.stderr)
	}
	var rec pipeline.ScanRecord
	readJSON(t, done, &rec)
	if rec.Settings == nil || rec.Settings.Scorer != "brock" || rec.Settings.SpacingMM != [3]float64{2, 2, 2} {
		t.Fatalf("done.json settings %+v", rec.Settings)
	}
	leak := rec.Settings.Leak

	var sum summaryJSON
	r = lungctl(t, runCmd(in, out, "--leak", "0.5", "--no-classify")...)
	checkExit(t, r, exitOK, "run --leak 0.5 --no-classify")
	readJSON(t, filepath.Join(out, "summary.json"), &sum)
	readJSON(t, done, &rec)
	if sum.Skipped != 0 || rec.Settings.Leak != 0.5 || rec.Cancer != 0.5 || !strings.Contains(r.stderr, "redoing scan") ||
		!strings.Contains(r.stderr, fmt.Sprintf("leak %v -> 0.5", leak)) {
		t.Errorf("changed --leak: skipped %d, done.json leak %v cancer %v\n%s", sum.Skipped, rec.Settings.Leak, rec.Cancer, r.stderr)
	}
	if sub := readCSV(t, filepath.Join(out, "submission.csv")); len(sub) != 2 || sub[1][1] != "0.500000" {
		t.Errorf("submission.csv not rewritten: %v", sub)
	}

	r = lungctl(t, runCmd(in, out, "--leak", "0.5", "--no-classify")...)
	checkExit(t, r, exitOK, "run --leak 0.5 --no-classify (again)")
	readJSON(t, filepath.Join(out, "summary.json"), &sum)
	if sum.Skipped != 1 || strings.Contains(r.stderr, "redoing scan") {
		t.Errorf("same settings: skipped %d\n%s", sum.Skipped, r.stderr)
	}

	b, err := os.ReadFile(done)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "cancer_probability")
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(done, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r = lungctl(t, runCmd(in, out, "--leak", "0.5", "--no-classify")...)
	checkExit(t, r, exitOK, "run over a done.json without cancer_probability")
	readJSON(t, filepath.Join(out, "summary.json"), &sum)
	if sum.Skipped != 0 || !strings.Contains(r.stderr, "no cancer_probability") {
		t.Errorf("done.json without cancer_probability: skipped %d\n%s", sum.Skipped, r.stderr)
	}
	if sub := readCSV(t, filepath.Join(out, "submission.csv")); len(sub) != 2 || sub[1][1] != "0.500000" {
		t.Errorf("submission.csv: %v", sub)
	}
}

// TestRunRecordsAbsoluteInput: a run given a relative input records it as
// an absolute path in done.json, so that 'lungctl report' over the run,
// from another folder, finds the scan (it failed on ../shared/... there).
func TestRunRecordsAbsoluteInput(t *testing.T) {
	in := linkPatients(t, "PHANTOM-1")
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, in)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	r := lungctl(t, runCmd(rel, out)...)
	checkExit(t, r, exitOK, "run with a relative input")
	var rec struct {
		Input string `json:"input"`
	}
	b, err := os.ReadFile(filepath.Join(out, "PHANTOM-1", pipeline.DoneFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rec); err != nil || !filepath.IsAbs(rec.Input) || filepath.Clean(rec.Input) != filepath.Join(in, "PHANTOM-1") {
		t.Errorf("done.json input %q (%v), want %s", rec.Input, err, filepath.Join(in, "PHANTOM-1"))
	}
}
