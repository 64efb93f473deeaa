package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/lungctl/lungctl/internal/shareddata"
	"github.com/lungctl/lungctl/internal/testfs"
)

// TestRunSymlinkFarmAndSpecialFiles: linked patient folders, a folder of
// linked slices and a linked input folder are all scanned (they were
// silently dropped: a submission of 1 patient of 3 and exit 0); a FIFO and
// a link loop are skipped with a warning and never block; OUT inside IN is
// not taken for a patient on the next run.
func TestRunSymlinkFarmAndSpecialFiles(t *testing.T) {
	fx := phantomFixture(t)
	in := linkPatients(t, "PHANTOM-1", "PHANTOM-2")
	slices := filepath.Join(in, "PHANTOM-3")
	testfs.MkdirAll(t, slices)
	ents, _ := os.ReadDir(filepath.Join(fx, "PHANTOM-1"))
	for _, e := range ents {
		testfs.Symlink(t, filepath.Join(fx, "PHANTOM-1", e.Name()), filepath.Join(slices, e.Name()))
	}
	if err := syscall.Mkfifo(filepath.Join(in, "pipe"), 0o600); err != nil {
		t.Fatal(err)
	}
	testfs.Symlink(t, in, filepath.Join(in, "loop"))
	link := filepath.Join(t.TempDir(), "linked-in")
	testfs.Symlink(t, in, link)
	out := filepath.Join(in, "out")
	for pass := 0; pass < 2; pass++ {
		r := lungctlEnv(t, nil, runCmd(link, out)...)
		checkExit(t, r, exitOK, "run over a symlink farm")
		sub := readCSV(t, filepath.Join(out, "submission.csv"))
		var ids []string
		for _, rec := range sub[1:] {
			ids = append(ids, rec[0])
		}
		if strings.Join(ids, ",") != "PHANTOM-1,PHANTOM-2,PHANTOM-3" {
			t.Errorf("pass %d: submission ids %v, want the 3 patients", pass, ids)
		}
		for _, w := range []string{"pipe: a FIFO", "loop"} {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("no warning about %q:\n%s", w, r.stderr)
			}
		}
	}
}

// TestRunDotDotSingleInput: one input file named "...nii.gz" (id "..")
// made run write into the parent of -o, with --volumes over the input
// itself. Now its id is "__" and everything stays under -o.
func TestRunDotDotSingleInput(t *testing.T) {
	fx := phantomFixture(t)
	pre := t.TempDir()
	checkExit(t, lungctl(t, "preprocess", filepath.Join(fx, "PHANTOM-1"), "-o", pre, "--spacing", "2"), exitOK, "preprocess")
	vol, _ := os.ReadFile(filepath.Join(pre, "PHANTOM-1.nii.gz"))
	in := filepath.Join(t.TempDir(), "in")
	testfs.MkdirAll(t, in)
	scan := filepath.Join(in, "...nii.gz")
	testfs.WriteFile(t, scan, vol)
	out := filepath.Join(in, "out")
	r := lungctl(t, runCmd(scan, out, "--volumes")...)
	checkExit(t, r, exitOK, "run ...nii.gz --volumes")
	if b, _ := os.ReadFile(scan); !bytes.Equal(b, vol) {
		t.Error("the input was overwritten")
	}
	ents, _ := os.ReadDir(in)
	if len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("input folder holds %v, want only the scan and out", names)
	}
	for _, f := range []string{"__/done.json", "__/__.nii.gz", "__/__.json", "submission.csv"} {
		if !fileExists(filepath.Join(out, f)) {
			t.Errorf("OUT/%s missing", f)
		}
	}
	// Every provenance file records the version the binary was built with.
	for _, f := range []string{"__/done.json", "__/__.json", "summary.json"} {
		var v struct {
			ToolVersion string `json:"tool_version"`
		}
		readJSON(t, filepath.Join(out, f), &v)
		if v.ToolVersion != testVersion {
			t.Errorf("%s: tool_version %q, want %q", f, v.ToolVersion, testVersion)
		}
	}
	cands := readCSV(t, filepath.Join(out, "candidates.csv"))
	col := slices.Index(cands[0], "patient_id")
	if col < 0 || len(cands) < 2 || cands[1][col] != "__" {
		t.Errorf("combined candidates: header %v, first row %v: want patient_id __", cands[0], cands[1:2])
	}
}

// TestStrictFlags: every out-of-range or NaN value is a usage error (exit 2)
// before any work: nothing is created.
func TestStrictFlags(t *testing.T) {
	fx := phantomFixture(t)
	p1 := filepath.Join(fx, "PHANTOM-1")
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"detect", p1, "--bandwidth-mm", "1e-9"}, "--bandwidth-mm"},
		{[]string{"detect", p1, "--bandwidth-mm", "0"}, "--bandwidth-mm"},
		{[]string{"detect", p1, "--bandwidth-hu", "-5"}, "--bandwidth-hu"},
		{[]string{"detect", p1, "--sigma", "1e6"}, "--sigma"},
		{[]string{"detect", p1, "--sigma", "0"}, "--sigma"},
		{[]string{"detect", p1, "--sigma", "NaN"}, "--sigma"},
		{[]string{"detect", p1, "--max-candidates", "0"}, "--max-candidates"},
		{[]string{"detect", p1, "--min-diameter", "20", "--max-diameter", "10"}, "--max-diameter"},
		{[]string{"run", p1, "-j", "-3"}, "--jobs"},
		{[]string{"run", p1, "--shard", "1/2junk"}, "--shard"},
		{[]string{"run", p1, "--shard", "3/2"}, "--shard"},
		{[]string{"run", p1, "--fallback", "1.5"}, "--fallback"},
		{[]string{"run", p1, "--max-memory", "1k"}, "--max-memory"},
		{[]string{"run", p1, "--snapshots", "-1"}, "--snapshots"},
		{[]string{"run", p1, "--top-k", "0"}, "--top-k"},
		{[]string{"run", p1, "--threads", "-1"}, "--threads"},
		{[]string{"preprocess", p1, "--gzip-level", "99"}, "--gzip-level"},
		{[]string{"preprocess", p1, "--spacing", "NaN"}, "--spacing"},
		{[]string{"snapshot", p1, "--candidates", "c.csv", "--top", "-1"}, "--top"},
		{[]string{"eval", "--annotations", "a.csv", "c.csv", "--bootstrap", "-1"}, "--bootstrap"},
		{[]string{"demo", "--count", "0"}, "--count"},
		{[]string{"meanshift", "p.csv", "--max-iter", "0"}, "--max-iter"},
		{[]string{"meanshift", "p.csv", "--bandwidth", "NaN"}, "--bandwidth"},
	} {
		wantUsageRefusal(t, tc.flag, tc.args...)
	}
	for _, args := range [][]string{{"completion", "tcsh"}, {"run", p1, "-o", "-"}, {"preprocess", p1, "-o", "-"},
		{"eval", "--annotations", "a.csv", "c.csv", "-o", "-"}} {
		if r := lungctl(t, args...); r.code != exitUsage {
			t.Errorf("lungctl %s: exit %d, want 2\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

// TestOutputToStandardOutput: "-o -" and "-o /dev/stdout" (a pipe here)
// write the CSV to standard output, and /dev/stdout stays what it was.
func TestOutputToStandardOutput(t *testing.T) {
	p1 := filepath.Join(phantomFixture(t), "PHANTOM-1")
	before, _ := os.Lstat("/dev/stdout")
	for _, o := range []string{"-", "/dev/stdout"} {
		r := lungctl(t, "detect", p1, "--spacing", "2", "-o", o)
		checkExit(t, r, exitOK, "detect -o "+o)
		if !strings.HasPrefix(r.stdout, "seriesuid,coordX,coordY,coordZ,probability,") || strings.Count(r.stdout, "\n") < 2 {
			t.Errorf("-o %s: stdout %.300q, want the candidates CSV", o, r.stdout)
		}
	}
	if after, err := os.Lstat("/dev/stdout"); err != nil || after.Mode() != before.Mode() {
		t.Errorf("/dev/stdout changed: %v -> %v (%v)", before.Mode(), after.Mode(), err)
	}
}

// TestLogsSafeAndMachineReadable: a folder name with a newline cannot forge
// a text log line; under --log-format json every line, the final error
// included, is a JSON object with numbers for timings; -v adds the stages'
// timings, counts and the mean-shift backend; a sharded run names its own
// failures file.
func TestLogsSafeAndMachineReadable(t *testing.T) {
	in := linkPatients(t, "PHANTOM-1")
	mkjunk(t, filepath.Join(in, "evil\nlevel=ERROR forged"))
	r := lungctl(t, runCmd(in, filepath.Join(t.TempDir(), "o1"), "-v")...)
	checkExit(t, r, exitPartial, "text run")
	for _, line := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(line, "level=ERROR forged") {
			t.Errorf("forged log line: %q", line)
		}
	}
	for _, w := range []string{`evil\nlevel=ERROR forged`, "seconds.detect=", "backend=", "points=", "clusters="} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("text log lacks %q:\n%s", w, r.stderr)
		}
	}
	r = lungctl(t, append([]string{"--log-format", "json"}, runCmd(in, filepath.Join(t.TempDir(), "o2"), "--shard", "1/1")...)...)
	checkExit(t, r, exitPartial, "json run")
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	var last, finished map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON under --log-format json: %q", l)
		}
		if m["msg"] == "run finished" {
			finished = m
		}
		last = m
	}
	if last["msg"] != "lungctl failed" || last["exit_code"] != 3.0 || !strings.Contains(last["error"].(string), "failures.shard1of1.csv") {
		t.Errorf("final line %v: want the error as JSON naming failures.shard1of1.csv", last)
	}
	if _, ok := finished["wall_s"].(float64); !ok {
		t.Errorf("wall_s is not a number: %v", finished)
	}
	if st, ok := finished["seconds_total"].(map[string]any); !ok || st["detect"] == nil {
		t.Errorf("seconds_total is not an object of numbers: %v", finished)
	} else if _, ok := st["detect"].(float64); !ok {
		t.Errorf("seconds_total.detect is not a number: %v", st)
	}
	// A usage error before the flags are parsed is JSON too.
	r = lungctl(t, "--log-format", "json", "run", "--no-such-flag", in)
	var m map[string]any
	if r.code != exitUsage || json.Unmarshal([]byte(strings.TrimSpace(r.stderr)), &m) != nil || m["exit_code"] != 2.0 {
		t.Errorf("usage error under --log-format json: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestSeriesEscapesHeaderText: a SeriesDescription holding terminal escape
// sequences is printed escaped.
func TestSeriesEscapesHeaderText(t *testing.T) {
	fx := phantomFixture(t)
	dir := filepath.Join(t.TempDir(), "p")
	testfs.MkdirAll(t, dir)
	ents, _ := os.ReadDir(filepath.Join(fx, "PHANTOM-1"))
	evil := []byte("\x1b[31mchest\x1b[0m CT ") // as long as "synthetic chest CT"
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(fx, "PHANTOM-1", e.Name()))
		testfs.WriteFile(t, filepath.Join(dir, e.Name()), bytes.ReplaceAll(b, []byte("synthetic chest CT"), evil))
	}
	r := lungctl(t, "series", dir)
	checkExit(t, r, exitOK, "series")
	if strings.Contains(r.stdout, "\x1b") || !strings.Contains(r.stdout, `\x1b[31mchest`) {
		t.Errorf("series output %q: escape sequence not escaped", r.stdout)
	}
	// A folder without a DICOM image fails (exit 1, naming it), as
	// preprocess does; it printed an empty table with exit 0.
	none := t.TempDir()
	testfs.WriteFile(t, filepath.Join(none, "notes.txt"), []byte("no images here"))
	r = lungctl(t, "series", none)
	if r.code != exitFailure || !strings.Contains(r.stderr, none) || r.stdout != "" {
		t.Errorf("series on a folder without DICOM: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestSeriesKernel: the series table names each series' reconstruction
// kernel as its DICOM gives it (LIDC-IDRI-0001: GE's STANDARD; A0002:
// Siemens' B40f, as pydicom reads them), "-" where there is none (the
// phantoms).
func TestSeriesKernel(t *testing.T) {
	for sub, want := range map[string]string{"lidc-idri-0001": "\tSTANDARD\t", "lung-pet-ct-dx-a0002-siemens": "\tB40f\t"} {
		r := lungctl(t, "series", shareddata.Dir(t, sub))
		checkExit(t, r, exitOK, "series "+sub)
		if !strings.HasPrefix(r.stdout, "series_uid\tmodality\torientation\tslices\tmatrix\ttransfer_syntax\tkernel\tdescription\n") || !strings.Contains(r.stdout, want) {
			t.Errorf("series %s: %q lacks the kernel %q", sub, r.stdout, want)
		}
	}
	r := lungctl(t, "series", filepath.Join(phantomFixture(t), "PHANTOM-1"))
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 || strings.Split(lines[1], "\t")[6] != "-" {
		t.Errorf("series of a phantom (no kernel recorded): %q, want \"-\" in the kernel column", r.stdout)
	}
}

// TestRunLabelsMatchingNothing: labels whose ids match no scan used to end
// the run with "json: unsupported value: NaN" and a stale summary.json.
func TestRunLabelsMatchingNothing(t *testing.T) {
	in := linkPatients(t, "PHANTOM-1")
	out := filepath.Join(t.TempDir(), "out")
	labels := filepath.Join(t.TempDir(), "labels.csv")
	testfs.WriteFile(t, labels, []byte("id,cancer\nsomeone-else,1\n"))
	r := lungctl(t, runCmd(in, out, "--labels", labels)...)
	checkExit(t, r, exitOK, "run --labels")
	b, _ := os.ReadFile(filepath.Join(out, "summary.json"))
	if !strings.Contains(string(b), `"labelled": 0`) || strings.Contains(string(b), `"log_loss"`) ||
		!strings.Contains(r.stderr, "none of the 1 scans has a label") {
		t.Errorf("summary.json:\n%s\nstderr:\n%s", b, r.stderr)
	}
}
