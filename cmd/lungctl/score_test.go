package main

// End-to-end tests of the scorers, the clinical covariates, the memory
// budget flags and snapshot's order, on small phantom DICOM folders.

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/pipeline"
	"github.com/lungctl/lungctl/internal/testfs"
	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// twoPatients writes two small phantom patients whose DICOM headers carry
// an age and a sex (PHANTOM-1: 055Y F, PHANTOM-2: 048Y M) and a clinical
// CSV with a row for PHANTOM-1 only (70, M, family history yes).
func twoPatients(t *testing.T) (in, clinical string) {
	t.Helper()
	in = filepath.Join(t.TempDir(), "ph")
	if r := lungctl(t, "phantom", "-o", in, "--count", "2", "--size", "small", "--seed", "1"); r.code != 0 {
		t.Fatalf("phantom: %s", r.stderr)
	}
	testfs.Must(t, os.Remove(filepath.Join(in, "truth.csv")))
	addPatientTags(t, filepath.Join(in, "PHANTOM-1"), "055Y", "F")
	addPatientTags(t, filepath.Join(in, "PHANTOM-2"), "048Y", "M")
	clinical = filepath.Join(t.TempDir(), "clinical.csv")
	if err := os.WriteFile(clinical, []byte("id,age,sex,family_history,emphysema\nPHANTOM-1,70,M,yes,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return in, clinical
}

// rawKeys reads a JSON object's keys.
func rawKeys(t *testing.T, path string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	readJSON(t, path, &m)
	return m
}

// TestRunClinical: run --clinical fills done.json and summary.json with
// each patient's results and covariates; the CSV overrides the DICOM
// header, the header fills what the CSV does not give, and a patient with
// no row says so.
func TestRunClinical(t *testing.T) {
	in, clinical := twoPatients(t)
	out := filepath.Join(t.TempDir(), "out")
	r := lungctl(t, runCmd(in, out, "--clinical", clinical, "-j", "1")...)
	checkExit(t, r, exitOK, "run --clinical")
	recs := map[string]pipeline.ScanRecord{}
	for _, id := range []string{"PHANTOM-1", "PHANTOM-2"} {
		path := filepath.Join(out, id, pipeline.DoneFile)
		raw := rawKeys(t, path)
		for _, k := range []string{"cancer_probability", "scorer", "lung_rads", "emphysema_pct", "clinical", "tool_version"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("%s/done.json has no %q", id, k)
			}
		}
		if _, ok := raw["model_sha256"]; ok {
			t.Errorf("%s/done.json names a model, but Brock scored alone", id)
		}
		var rec pipeline.ScanRecord
		readJSON(t, path, &rec)
		recs[id] = rec
	}
	c1, c2 := recs["PHANTOM-1"].Clinical, recs["PHANTOM-2"].Clinical
	if c1 == nil || c2 == nil {
		t.Fatalf("no clinical block: %+v %+v", c1, c2)
	}
	if c1.AgeYears != 70 || c1.Sex != "M" || c1.FamilyHistory != "yes" || c1.Sources["age"] != "csv" ||
		c1.Sources["sex"] != "csv" || c1.Sources["emphysema"] != "ct" || len(c1.Defaulted) != 0 {
		t.Errorf("PHANTOM-1: the CSV must override the header's 055Y F: %+v", c1)
	}
	if c2.AgeYears != 48 || c2.Sex != "M" || c2.Sources["age"] != "dicom" || !slices.Equal(c2.Defaulted, []string{"family_history"}) {
		t.Errorf("PHANTOM-2: the header's 048Y M, family history defaulted: %+v", c2)
	}
	if !strings.Contains(strings.Join(recs["PHANTOM-2"].Warnings, "\n"), "no --clinical row") {
		t.Errorf("PHANTOM-2 has no --clinical row and no warning saying so: %v", recs["PHANTOM-2"].Warnings)
	}
	var sum struct {
		Patients []pipeline.PatientSummary `json:"patients"`
	}
	readJSON(t, filepath.Join(out, "summary.json"), &sum)
	if len(sum.Patients) != 2 || sum.Patients[0].ID != "PHANTOM-1" || sum.Patients[0].Clinical == nil ||
		sum.Patients[0].LungRADS != recs["PHANTOM-1"].LungRADS || sum.Patients[1].CancerProbability != recs["PHANTOM-2"].Cancer ||
		sum.Patients[0].Scorer != "brock" || sum.Patients[0].ToolVersion != testVersion || sum.Patients[0].EmphysemaPct == nil {
		t.Errorf("summary.json patients: %+v", sum.Patients)
	}
}

// TestScorerFlags: --scorer cnn with the phantom model runs, warns once and
// records the model; a bad --scorer or --max-memory is a usage error.
func TestScorerFlags(t *testing.T) {
	fx := phantomFixture(t)
	out := filepath.Join(t.TempDir(), "out")
	r := lungctl(t, runCmd(filepath.Join(fx, "PHANTOM-1"), out, "--scorer", "cnn")...)
	checkExit(t, r, exitOK, "run --scorer cnn")
	if n := strings.Count(r.stderr, `domain \"phantom\"`) + strings.Count(r.stderr, `domain "phantom"`); n != 1 {
		t.Errorf("run --scorer cnn with the phantom model: %d warnings naming its domain, want 1:\n%s", n, r.stderr)
	}
	var rec pipeline.ScanRecord
	readJSON(t, filepath.Join(out, "PHANTOM-1", pipeline.DoneFile), &rec)
	if rec.Scorer != "cnn" || len(rec.ModelSHA256) != 64 || rec.ModelDomain != "phantom" ||
		!strings.Contains(strings.Join(rec.Warnings, "\n"), "phantom") {
		t.Errorf("done.json: scorer %q, model %q %q, warnings %q", rec.Scorer, rec.ModelSHA256, rec.ModelDomain, rec.Warnings)
	}
	cs, err := candidate.ReadFile(filepath.Join(out, "PHANTOM-1", "candidates.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Malignancy != c.CNN || math.IsNaN(c.CNN) {
			t.Errorf("--scorer cnn: malignancy %v, cnn %v", c.Malignancy, c.CNN)
		}
	}
	for _, tc := range []struct {
		env  []string
		args []string
		what string
	}{
		{nil, []string{"run", fx, "-o", out + "x", "--scorer", "magic"}, "--scorer"},
		{nil, []string{"classify", fx, "--candidates", "c.csv", "--scorer", "magic"}, "--scorer"},
		{nil, []string{"preprocess", fx, "-o", out + "y", "--max-memory", "lots"}, "--max-memory"},
		{[]string{"LUNGCTL_MAX_MEMORY=lots"}, []string{"preprocess", fx, "-o", out + "z"}, "LUNGCTL_MAX_MEMORY"},
		{[]string{"LUNGCTL_MAX_MEMORY=100M"}, []string{"run", fx, "-o", out + "w"}, "LUNGCTL_MAX_MEMORY"},
		{nil, []string{"snapshot", fx, "--candidates", "c.csv", "-o", out + "v", "--order", "size"}, "--order"},
		{nil, []string{"snapshot", fx, "--candidates", "c.csv", "-o", out + "u", "--window", "0,40"}, "--window"},
	} {
		r := lungctlEnv(t, tc.env, tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.what) {
			t.Errorf("%v lungctl %s: exit %d, want 2 naming %s:\n%s", tc.env, strings.Join(tc.args, " "), r.code, tc.what, r.stderr)
		}
	}
	// A budget too small for the scan fails it by name, with exit 1.
	r = lungctl(t, "preprocess", filepath.Join(fx, "PHANTOM-1"), "-o", out+"t", "--max-memory", "64K")
	if r.code != exitFailure || !strings.Contains(r.stderr, "memory budget") {
		t.Errorf("preprocess --max-memory 64K: exit %d\n%s", r.code, r.stderr)
	}
}

// TestSnapshotOrder: snapshot draws the first N by malignancy (or by
// detection) in the window asked, from the DICOM slices.
func TestSnapshotOrder(t *testing.T) {
	fx := phantomFixture(t)
	out := filepath.Join(t.TempDir(), "out")
	r := lungctl(t, runCmd(filepath.Join(fx, "PHANTOM-1"), out)...)
	checkExit(t, r, exitOK, "run")
	cands := filepath.Join(out, "PHANTOM-1", "candidates.csv")
	var shots [2][]byte
	for i, order := range []string{"malignancy", "detection"} {
		pics := filepath.Join(t.TempDir(), order)
		r := lungctl(t, "snapshot", filepath.Join(fx, "PHANTOM-1"), "--candidates", cands, "-o", pics, "--top", "2",
			"--order", order, "--window", "mediastinum", "--spacing", "2")
		checkExit(t, r, exitOK, "snapshot --order "+order)
		names, _ := filepath.Glob(filepath.Join(pics, "*.png"))
		if len(names) != 3 {
			t.Errorf("snapshot --top 2: %d pictures %v, want 2 and the overview", len(names), names)
		}
		shots[i], _ = os.ReadFile(filepath.Join(pics, "PHANTOM-1_cand01.png"))
	}
	cs, _ := candidate.ReadFile(cands)
	if got := pipeline.Ordered(cs, pipeline.OrderMalignancy); got[0] != 0 && bytes.Equal(shots[0], shots[1]) {
		t.Errorf("the most malignant candidate is %d, not the first detected, but both orders drew the same cand01", got[0]+1)
	}
}

// TestClassifyOutputsAndOffScan: classify makes the folders of -o and
// --submission before the work; a candidate centred outside the scan (here
// 5 m away) is an error naming the file, and writes nothing.
func TestClassifyOutputsAndOffScan(t *testing.T) {
	fx := phantomFixture(t)
	out := filepath.Join(t.TempDir(), "out")
	r := lungctl(t, runCmd(filepath.Join(fx, "PHANTOM-1"), out, "--volumes")...)
	checkExit(t, r, exitOK, "run --volumes")
	vol := filepath.Join(out, "PHANTOM-1", "PHANTOM-1.nii.gz")
	cands := filepath.Join(out, "PHANTOM-1", "candidates.csv")
	dir := t.TempDir()
	scored, sub := filepath.Join(dir, "new", "scored.csv"), filepath.Join(dir, "other", "submission.csv")
	r = lungctl(t, "classify", vol, "--candidates", cands, "-o", scored, "--submission", sub, "--spacing", "2")
	checkExit(t, r, exitOK, "classify into new folders")
	if !fileExists(scored) || !fileExists(sub) {
		t.Errorf("classify -o %s --submission %s: files missing", scored, sub)
	}
	// --model given to a scorer that does not read it is said, not
	// silently ignored.
	r = lungctl(t, "classify", vol, "--candidates", cands, "--model", filepath.Join(dir, "typo.lcnn"), "--spacing", "2")
	checkExit(t, r, exitOK, "classify --model with brock")
	if !strings.Contains(r.stderr, "--model is not read") {
		t.Errorf("classify --model typo.lcnn with brock: no warning\n%s", r.stderr)
	}
	cs, err := candidate.ReadFile(cands)
	if err != nil || len(cs) == 0 {
		t.Fatalf("candidates: %v", err)
	}
	cs[len(cs)-1].World = [3]float64{5000, 5000, 5000}
	bad := filepath.Join(dir, "bad.csv")
	if err := candidate.WriteFile(bad, cs); err != nil {
		t.Fatal(err)
	}
	scored2 := filepath.Join(dir, "scored2.csv")
	r = lungctl(t, "classify", vol, "--candidates", bad, "-o", scored2, "--spacing", "2")
	if r.code != exitFailure || !strings.Contains(r.stderr, bad) || !strings.Contains(r.stderr, "outside the scan") || fileExists(scored2) {
		t.Errorf("classify with a candidate 5 m away: exit %d, wrote %v\n%s", r.code, fileExists(scored2), r.stderr)
	}
}

// addPatientTags rewrites every DICOM file in dir with PatientAge and
// PatientSex set (the phantom writes neither).
func addPatientTags(t *testing.T, dir, age, sex string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) == 0 {
		t.Fatalf("no files in %s", dir)
	}
	for _, f := range files {
		ds, err := dicom.ParseFile(f, nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, kv := range []struct {
			tg tag.Tag
			v  string
		}{{tag.PatientAge, age}, {tag.PatientSex, sex}} {
			e, err := dicom.NewElement(kv.tg, []string{kv.v})
			if err != nil {
				t.Fatal(err)
			}
			ds.Elements = append(ds.Elements, e)
		}
		sort.SliceStable(ds.Elements, func(a, b int) bool {
			x, y := ds.Elements[a].Tag, ds.Elements[b].Tag
			return x.Group < y.Group || (x.Group == y.Group && x.Element < y.Element)
		})
		var buf bytes.Buffer
		if err := dicom.Write(&buf, ds, dicom.SkipVRVerification()); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := os.WriteFile(f, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
