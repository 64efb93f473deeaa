package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunEveryScanFailedExitsOne: a run in which no scan succeeded exits 1,
// not 3 (its submission is all fallback values, which a script accepting 3
// would take for results), and still writes failures.csv and the aggregate
// files; one good scan beside the failures makes it 3 again, and so does a
// good scan complete from an earlier run.
func TestRunEveryScanFailedExitsOne(t *testing.T) {
	in := filepath.Join(t.TempDir(), "stage1")
	mkjunk(t, filepath.Join(in, "bad1"))
	mkjunk(t, filepath.Join(in, "bad2"))
	out := filepath.Join(t.TempDir(), "out")
	r := lungctl(t, runCmd(in, out)...)
	checkExit(t, r, exitFailure, "run where every scan fails")
	if !strings.Contains(r.stderr, "every scan failed") || !strings.Contains(r.stderr, filepath.Join(out, "failures.csv")) {
		t.Errorf("the error does not say every scan failed, naming failures.csv:\n%s", r.stderr)
	}
	for _, f := range []string{"failures.csv", "submission.csv", "candidates.csv", "summary.json"} {
		if !fileExists(filepath.Join(out, f)) {
			t.Errorf("%s not written", f)
		}
	}
	if rows := readCSV(t, filepath.Join(out, "failures.csv")); len(rows) != 3 {
		t.Errorf("failures.csv: %v, want both scans", rows)
	}

	// One good scan: partial success.
	good := filepath.Join(phantomFixture(t), "PHANTOM-1")
	if err := os.Symlink(good, filepath.Join(in, "PHANTOM-1")); err != nil {
		t.Fatal(err)
	}
	r = lungctl(t, runCmd(in, out)...)
	checkExit(t, r, exitPartial, "run with one good scan")
	// The good scan skipped as complete, the bad ones failing again.
	r = lungctl(t, runCmd(in, out)...)
	checkExit(t, r, exitPartial, "rerun with the good scan complete")
}
