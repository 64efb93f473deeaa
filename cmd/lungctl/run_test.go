package main

// End-to-end tests of `lungctl run` over a Kaggle-like folder: synthetic
// phantom patients written by `lungctl phantom` plus corrupted patients, a
// run that is SIGKILLed halfway and resumed, and byte-for-byte determinism.

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/classify"
	"github.com/lungctl/lungctl/internal/pipeline"
)

// kaggleFolder is a synthetic DSB 2017 stage1/ folder.
type kaggleFolder struct {
	dir  string
	good []string // phantom patient ids, sorted
	// badWords lists, per bad id, alternatives of which one must appear in
	// the error (lower case).
	badWords map[string][]string
	truth    []truthRow
}

type truthRow struct {
	series string
	world  [3]float64
	diamMM float64
}

// makeKaggleFolder writes 3 small phantom patients (PHANTOM-1..3, each a
// folder of DICOM slices), the phantom's truth.csv at the top (not a scan,
// must be ignored), and three broken patients: one holding a single DICOM
// slice truncated to 300 bytes, one holding only non-DICOM files, and an
// empty one.
func makeKaggleFolder(t *testing.T) *kaggleFolder {
	t.Helper()
	k := &kaggleFolder{dir: filepath.Join(t.TempDir(), "stage1")}
	r := lungctl(t, "phantom", "-o", k.dir, "--count", "3", "--size", "small", "--seed", "1")
	if r.code != 0 {
		t.Fatalf("lungctl phantom: exit %d\n%s", r.code, r.stderr)
	}
	k.good = []string{"PHANTOM-1", "PHANTOM-2", "PHANTOM-3"}
	for _, id := range k.good {
		if ents, err := os.ReadDir(filepath.Join(k.dir, id)); err != nil || len(ents) < 10 {
			t.Fatalf("phantom did not write patient folder %s (%v, %d files)", id, err, len(ents))
		}
	}
	k.truth = readTruth(t, filepath.Join(k.dir, "truth.csv"))

	mk := func(id string) string {
		d := filepath.Join(k.dir, id)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	slices, _ := filepath.Glob(filepath.Join(k.dir, "PHANTOM-1", "*"))
	sort.Strings(slices)
	whole, err := os.ReadFile(slices[len(slices)/2])
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) < 1000 {
		t.Fatalf("phantom slice %s is only %d bytes", slices[len(slices)/2], len(whole))
	}
	if err := os.WriteFile(filepath.Join(mk("BAD-truncated"), "000032.dcm"), whole[:300], 0o644); err != nil {
		t.Fatal(err)
	}
	junk := mk("BAD-junk")
	rnd := rand.New(rand.NewSource(7))
	noise := make([]byte, 4096)
	rnd.Read(noise)
	for name, b := range map[string][]byte{
		"README.txt": []byte("scanner export failed, see ticket 1234\n"),
		"image.bin":  noise,
		"notes.json": []byte(`{"patient": "BAD-junk"}`),
	} {
		if err := os.WriteFile(filepath.Join(junk, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk("BAD-empty")
	k.badWords = map[string][]string{
		"BAD-truncated": {"corrupt", "truncat", "unexpected eof", "ends inside"},
		"BAD-junk":      {"not a dicom", "no ct image series", "no dicom"},
		"BAD-empty":     {"no files", "empty", "no dicom", "no ct image series"},
	}
	return k
}

func readTruth(t *testing.T, path string) []truthRow {
	t.Helper()
	recs := readCSV(t, path)
	if len(recs) < 2 || strings.Join(recs[0][:5], ",") != "seriesuid,coordX,coordY,coordZ,diameter_mm" {
		t.Fatalf("%s: unexpected truth file (%d rows)", path, len(recs))
	}
	var rows []truthRow
	for _, rec := range recs[1:] {
		var r truthRow
		r.series = rec[0]
		for i := 0; i < 4; i++ {
			v, err := strconv.ParseFloat(rec[1+i], 64)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if i < 3 {
				r.world[i] = v
			} else {
				r.diamMM = v
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// readCSV parses a whole CSV file, failing the test when it is not valid
// CSV with the same number of fields on every line.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("%s is not valid CSV: %v", path, err)
	}
	return recs
}

// runArgs are the settings of every batch run in these tests. 2 mm voxels
// keep a small phantom at a few seconds on a busy 2-core machine (at the
// default 1 mm, detection alone takes ~30 s per small phantom there).
var runArgs = []string{"--spacing", "2"}

func runCmd(in, out string, extra ...string) []string {
	a := append([]string{"run", in, "-o", out}, runArgs...)
	return append(a, extra...)
}

// summaryJSON mirrors OUT/summary.json as a reader sees it.
type summaryJSON struct {
	Scans     int `json:"scans"`
	Succeeded int `json:"succeeded"`
	Skipped   int `json:"skipped_complete"`
	Failed    int `json:"failed"`
	Failures  []struct {
		ID    string `json:"id"`
		Input string `json:"input"`
		Error string `json:"error"`
	} `json:"failures"`
	Seconds map[string]float64 `json:"seconds_total_per_stage"`
	Workers int                `json:"workers"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s is not valid JSON: %v", path, err)
	}
}

// checkBatchOutputs verifies a finished run of k into out: every good patient
// complete with candidates in the aggregate, every bad one in failures.csv
// with an error naming its problem, submission.csv with every id once, and
// summary.json agreeing. classified says whether the CNN ran. It returns
// the done.json records by id.
func checkBatchOutputs(t *testing.T, k *kaggleFolder, out string, classified bool, wantSkipped int) map[string]pipeline.ScanRecord {
	t.Helper()
	recs := map[string]pipeline.ScanRecord{}
	bySeries := map[string]string{}
	perScan := map[string][]byte{}
	for _, id := range k.good {
		dir := filepath.Join(out, id)
		var rec pipeline.ScanRecord
		readJSON(t, filepath.Join(dir, pipeline.DoneFile), &rec)
		if _, err := pipeline.ReadDone(dir); err != nil {
			t.Errorf("%s: done.json does not describe a complete scan: %v", id, err)
		}
		if rec.ID != id || rec.SeriesUID == "" || filepath.Base(rec.Input) != id {
			t.Errorf("%s/done.json: id %q, input %q, series %q", id, rec.ID, rec.Input, rec.SeriesUID)
		}
		if rec.Cancer < 0 || rec.Cancer > 1 {
			t.Errorf("%s: cancer %v outside [0,1]", id, rec.Cancer)
		}
		if rec.Seconds["total"] <= 0 || rec.Seconds["detect"] <= 0 {
			t.Errorf("%s: stage timings missing: %v", id, rec.Seconds)
		}
		cs, err := candidate.ReadFile(filepath.Join(dir, "candidates.csv"))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if len(cs) == 0 || len(cs) != rec.Candidates {
			t.Errorf("%s: %d candidates in candidates.csv, done.json says %d (want > 0)", id, len(cs), rec.Candidates)
		}
		for _, c := range cs {
			if c.SeriesUID != rec.SeriesUID {
				t.Errorf("%s: candidate of series %q in a scan of series %q", id, c.SeriesUID, rec.SeriesUID)
			}
			// Brock, the default scorer, scores every measured lesion but a
			// calcified one; the others stay empty.
			scorable := c.Type != "" && c.Type != "calcified"
			if classified && scorable && !(c.Malignancy >= 0 && c.Malignancy <= 1) {
				t.Errorf("%s: malignancy %v outside [0,1] after classify", id, c.Malignancy)
			}
			if classified && !scorable && !math.IsNaN(c.Malignancy) {
				t.Errorf("%s: malignancy %v for a %q candidate Brock cannot score", id, c.Malignancy, c.Type)
			}
			if !classified && !math.IsNaN(c.Malignancy) {
				t.Errorf("%s: malignancy %v with --no-classify, want empty", id, c.Malignancy)
			}
		}
		b, _ := os.ReadFile(filepath.Join(dir, "candidates.csv"))
		perScan[id] = b
		recs[id] = rec
		bySeries[rec.SeriesUID] = id
	}
	if len(bySeries) != len(k.good) {
		t.Errorf("patients share series UIDs: %v", bySeries)
	}

	// The aggregate is the per-scan files concatenated in id order, under one
	// header.
	all, err := candidate.ReadFile(filepath.Join(out, "candidates.csv"))
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, c := range all {
		count[c.SeriesUID]++
	}
	for _, id := range k.good {
		if n := count[recs[id].SeriesUID]; n != recs[id].Candidates {
			t.Errorf("OUT/candidates.csv holds %d candidates of %s, want %d", n, id, recs[id].Candidates)
		}
	}
	for series, n := range count {
		if _, ok := bySeries[series]; !ok {
			t.Errorf("OUT/candidates.csv holds %d candidates of series %s, which is no patient's", n, series)
		}
	}
	aggregate, _ := os.ReadFile(filepath.Join(out, "candidates.csv"))
	var concat bytes.Buffer
	for i, id := range k.good {
		b := perScan[id]
		if i > 0 {
			b = b[bytes.IndexByte(b, '\n')+1:]
		}
		concat.Write(b)
	}
	if !bytes.Equal(aggregate, concat.Bytes()) {
		t.Errorf("OUT/candidates.csv is not the per-scan candidates.csv files concatenated in id order")
	}

	// The detector finds, in world coordinates, at least one of each
	// phantom's true nodules (a hit: centre distance below the radius, as in
	// LUNA16): checks that coordinates survive the whole batch path.
	hits := map[string]int{}
	for _, n := range k.truth {
		id, ok := bySeries[n.series]
		if !ok {
			t.Errorf("truth.csv names series %s, which no patient's done.json has", n.series)
			continue
		}
		for _, c := range all {
			if c.SeriesUID != n.series {
				continue
			}
			d := math.Hypot(math.Hypot(c.World[0]-n.world[0], c.World[1]-n.world[1]), c.World[2]-n.world[2])
			if d < n.diamMM/2 {
				hits[id]++
				break
			}
		}
	}
	for _, id := range k.good {
		if hits[id] == 0 {
			t.Errorf("%s: no candidate hits any of its true nodules", id)
		}
	}

	// failures.csv: exactly the broken patients, each with its problem.
	frecs := readCSV(t, filepath.Join(out, "failures.csv"))
	if strings.Join(frecs[0], ",") != "id,input,error" {
		t.Errorf("failures.csv header %v, want id,input,error", frecs[0])
	}
	failed := map[string]string{}
	for _, r := range frecs[1:] {
		if _, dup := failed[r[0]]; dup {
			t.Errorf("failures.csv lists %s twice", r[0])
		}
		failed[r[0]] = r[2]
		if filepath.Base(r[1]) != r[0] {
			t.Errorf("failures.csv: %s has input %q", r[0], r[1])
		}
	}
	if len(failed) != len(k.badWords) {
		t.Errorf("failures.csv lists %d scans %v, want the %d broken ones", len(failed), failed, len(k.badWords))
	}
	for id, words := range k.badWords {
		msg, ok := failed[id]
		if !ok {
			t.Errorf("failures.csv does not list %s", id)
			continue
		}
		if !strings.Contains(msg, id) {
			t.Errorf("%s: error does not name the patient's files: %q", id, msg)
		}
		found := false
		for _, w := range words {
			found = found || strings.Contains(strings.ToLower(msg), w)
		}
		if !found {
			t.Errorf("%s: error %q names none of %q", id, msg, words)
		}
		if fileExists(filepath.Join(out, id, pipeline.DoneFile)) {
			t.Errorf("%s failed but has a done.json", id)
		}
	}

	// submission.csv: every input patient exactly once.
	srecs := readCSV(t, filepath.Join(out, "submission.csv"))
	if len(srecs) == 0 || strings.Join(srecs[0], ",") != "id,cancer" {
		t.Fatalf("submission.csv header %v, want id,cancer", srecs[:min(1, len(srecs))])
	}
	sub := map[string]string{}
	for _, r := range srecs[1:] {
		if _, dup := sub[r[0]]; dup {
			t.Errorf("submission.csv lists %s twice", r[0])
		}
		sub[r[0]] = r[1]
	}
	if len(sub) != len(k.good)+len(k.badWords) {
		t.Errorf("submission.csv has %d ids, want %d: %v", len(sub), len(k.good)+len(k.badWords), sub)
	}
	for _, id := range k.good {
		if want := strconv.FormatFloat(recs[id].Cancer, 'f', 6, 64); sub[id] != want {
			t.Errorf("submission.csv %s = %q, want done.json's %s", id, sub[id], want)
		}
		if !classified && recs[id].Cancer != classify.DefaultNoisyORLeak {
			t.Errorf("%s: cancer %v with --no-classify, want the leak %v", id, recs[id].Cancer, classify.DefaultNoisyORLeak)
		}
	}
	for id := range k.badWords {
		if sub[id] != "0.260000" {
			t.Errorf("submission.csv %s = %q, want the fallback 0.260000", id, sub[id])
		}
	}

	var s summaryJSON
	readJSON(t, filepath.Join(out, "summary.json"), &s)
	if s.Scans != 6 || s.Succeeded+s.Skipped != len(k.good) || s.Skipped != wantSkipped || s.Failed != len(k.badWords) {
		t.Errorf("summary.json: scans %d succeeded %d skipped %d failed %d; want 6, %d, %d, %d",
			s.Scans, s.Succeeded, s.Skipped, s.Failed, len(k.good)-wantSkipped, wantSkipped, len(k.badWords))
	}
	if len(s.Failures) != s.Failed {
		t.Errorf("summary.json: %d failure entries for %d failures", len(s.Failures), s.Failed)
	}
	for _, f := range s.Failures {
		if failed[f.ID] != f.Error || f.Input == "" {
			t.Errorf("summary.json failure %+v disagrees with failures.csv (%q)", f, failed[f.ID])
		}
	}
	// Its keys are spelled as in failures.csv and the rest of the file
	// (encoding/json matches keys case-insensitively, so look at the text).
	var raw struct {
		Failures []map[string]any `json:"failures"`
	}
	readJSON(t, filepath.Join(out, "summary.json"), &raw)
	for _, f := range raw.Failures {
		for _, key := range []string{"id", "input", "error"} {
			if _, ok := f[key]; !ok {
				t.Errorf("summary.json failure entry %v has no %q key", f, key)
			}
		}
	}
	noTemps(t, out)
	return recs
}

// noTemps fails when any temporary file is left under dir.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("temporary file left after a finished run: %s", p)
		}
		return nil
	})
	if err != nil {
		t.Errorf("looking for temporary files: %v", err)
	}
}

// killAndWait kills a test's lungctl process, the test failing anyway, and
// waits for the goroutine that reaps it; it says how that went, for the
// failure message.
func killAndWait(cmd *exec.Cmd, exited <-chan error) string {
	kerr := cmd.Process.Kill()
	werr := <-exited
	return fmt.Sprintf("kill: %v; wait: %v", kerr, werr)
}

func checkExit(t *testing.T, r result, want int, what string) {
	t.Helper()
	if r.code != want {
		t.Fatalf("%s: exit %d, want %d\nstderr:\n%s", what, r.code, want, r.stderr)
	}
}

func TestRunKaggleFolder(t *testing.T) {
	k := makeKaggleFolder(t)
	tmp := t.TempDir()

	t.Run("no-classify", func(t *testing.T) {
		out := filepath.Join(tmp, "out-nocls")
		r := lungctl(t, runCmd(k.dir, out, "-j", "2", "--no-classify")...)
		t.Logf("run -j 2 --no-classify: %.1f s", r.elapsed.Seconds())
		checkExit(t, r, exitPartial, "lungctl run --no-classify")
		if !strings.Contains(r.stderr, "3 of 6 scans failed") {
			t.Errorf("stderr does not report 3 of 6 scans failed:\n%s", r.stderr)
		}
		checkBatchOutputs(t, k, out, false, 0)
	})

	ref := filepath.Join(tmp, "out")
	ok := t.Run("classify", func(t *testing.T) {
		r := lungctl(t, runCmd(k.dir, ref, "-j", "2")...)
		t.Logf("run -j 2: %.1f s", r.elapsed.Seconds())
		checkExit(t, r, exitPartial, "lungctl run")
		checkBatchOutputs(t, k, ref, true, 0)

		// A second run skips every complete scan and rewrites the same files.
		before := readTree(t, ref)
		r = lungctl(t, runCmd(k.dir, ref, "-j", "2")...)
		checkExit(t, r, exitPartial, "lungctl run (again)")
		checkBatchOutputs(t, k, ref, true, len(k.good))
		after := readTree(t, ref)
		for name, b := range before {
			if name == "summary.json" {
				continue // holds wall times
			}
			if !bytes.Equal(b, after[name]) {
				t.Errorf("rerun over complete outputs changed %s", name)
			}
		}

		// --force redoes every scan, with identical results.
		forced := filepath.Join(tmp, "out-forced")
		if err := os.CopyFS(forced, os.DirFS(ref)); err != nil {
			t.Fatal(err)
		}
		r = lungctl(t, runCmd(k.dir, forced, "-j", "2", "--force")...)
		checkExit(t, r, exitPartial, "lungctl run --force")
		checkBatchOutputs(t, k, forced, true, 0)
		again := readTree(t, forced)
		for name, b := range before {
			if name == "summary.json" || strings.HasSuffix(name, pipeline.DoneFile) {
				continue // wall times
			}
			if !bytes.Equal(b, again[name]) {
				t.Errorf("--force run gave a different %s", name)
			}
		}
	})
	if !ok {
		return
	}

	t.Run("kill-resume", func(t *testing.T) {
		out := filepath.Join(tmp, "out-killed")
		doneAtKill := killMidway(t, k, out)
		t.Logf("killed with %v complete", doneAtKill)

		// Nothing under a final name is partial.
		err := filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			name := d.Name()
			switch {
			case strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-"):
				base := strings.TrimPrefix(name[:strings.Index(name, ".tmp-")], ".")
				if base != "candidates.csv" && base != pipeline.DoneFile {
					t.Errorf("unexpected temporary file %s", p)
				}
			case name == "candidates.csv":
				if _, err := candidate.ReadFile(p); err != nil {
					t.Errorf("partial file after kill: %v", err)
				}
			case name == pipeline.DoneFile:
				var rec pipeline.ScanRecord
				readJSON(t, p, &rec)
			case name == pipeline.LockFile && filepath.Dir(p) == out:
				// The killed run's lock: the resumed run takes it over
				// and removes it (readTree's comparison below checks).
			default:
				t.Errorf("unexpected file after kill: %s", p)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walk the killed run's folder: %v", err)
		}

		// Resume: complete scans are skipped, the rest redone; everything
		// ends byte-identical to the uninterrupted run.
		stamps := map[string]time.Time{}
		for _, id := range doneAtKill {
			st, err := os.Stat(filepath.Join(out, id, pipeline.DoneFile))
			if err != nil {
				t.Fatal(err)
			}
			stamps[id] = st.ModTime()
		}
		r := lungctl(t, runCmd(k.dir, out, "-j", "2")...)
		checkExit(t, r, exitPartial, "lungctl run (resume)")
		checkBatchOutputs(t, k, out, true, len(doneAtKill))
		for id, mt := range stamps {
			st, err := os.Stat(filepath.Join(out, id, pipeline.DoneFile))
			if err != nil || !st.ModTime().Equal(mt) {
				t.Errorf("%s was complete before the kill but was redone on resume", id)
			}
		}
		for _, id := range k.good {
			var a, b pipeline.ScanRecord
			readJSON(t, filepath.Join(ref, id, pipeline.DoneFile), &a)
			readJSON(t, filepath.Join(out, id, pipeline.DoneFile), &b)
			a.Seconds, b.Seconds = nil, nil // wall times
			if ja, jb := mustJSON(t, a), mustJSON(t, b); ja != jb {
				t.Errorf("%s/done.json differs from the uninterrupted run's (timings aside):\n%s\n%s", id, ja, jb)
			}
		}
		want, got := readTree(t, ref), readTree(t, out)
		for name, b := range want {
			if name == "summary.json" || strings.HasSuffix(name, pipeline.DoneFile) {
				continue // wall times; compared above
			}
			if !bytes.Equal(b, got[name]) {
				t.Errorf("%s differs between the uninterrupted run and the killed-and-resumed run", name)
			}
		}
		for name := range got {
			if _, ok := want[name]; !ok {
				t.Errorf("resumed run wrote %s, which the uninterrupted run did not", name)
			}
		}
	})
}

// TestRunDefaultSettings runs the batch at the default 1 mm voxels with the
// default classifier, the settings a user runs: ~10 s per small phantom on
// an idle 2-core machine, several times that on a busy one.
func TestRunDefaultSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("1 mm batch run of 3 phantoms takes 10-60 s")
	}
	k := makeKaggleFolder(t)
	out := filepath.Join(t.TempDir(), "out")
	r := lungctl(t, "run", k.dir, "-o", out, "-j", "2")
	t.Logf("run -j 2 at default settings: %.1f s", r.elapsed.Seconds())
	checkExit(t, r, exitPartial, "lungctl run")
	checkBatchOutputs(t, k, out, true, 0)
}

// killMidway starts `lungctl run -j 1` into out, SIGKILLs it once at least
// one scan's done.json exists but not all, and returns the ids whose
// done.json existed after the process died.
func killMidway(t *testing.T, k *kaggleFolder, out string) []string {
	t.Helper()
	cmd := exec.Command(lungctlBin, runCmd(k.dir, out, "-j", "1")...)
	var se bytes.Buffer
	cmd.Stderr = &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	complete := func() (n int) {
		for _, id := range k.good {
			if fileExists(filepath.Join(out, id, pipeline.DoneFile)) {
				n++
			}
		}
		return n
	}
	deadline := time.After(5 * time.Minute)
poll:
	for {
		select {
		case err := <-exited:
			t.Fatalf("run ended (%v) before it could be killed with %d of %d scans complete; make the fixture larger\n%s",
				err, complete(), len(k.good), se.String())
		case <-deadline:
			t.Fatalf("no scan completed in 5 minutes (%s)\n%s", killAndWait(cmd, exited), se.String())
		case <-time.After(5 * time.Millisecond):
			if n := complete(); n >= 1 {
				if n == len(k.good) {
					t.Fatalf("all scans completed before the kill (%s); make the fixture larger", killAndWait(cmd, exited))
				}
				break poll
			}
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed run: %v", <-exited)
	if fileExists(filepath.Join(out, "summary.json")) || fileExists(filepath.Join(out, "submission.csv")) {
		t.Errorf("killed run wrote its aggregate files")
	}
	var done []string
	for _, id := range k.good {
		if fileExists(filepath.Join(out, id, pipeline.DoneFile)) {
			done = append(done, id)
		}
	}
	if len(done) == 0 || len(done) == len(k.good) {
		t.Fatalf("after the kill %d of %d scans are complete; want some but not all", len(done), len(k.good))
	}
	return done
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readTree returns every regular file under dir by slash-separated relative
// path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		m[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
