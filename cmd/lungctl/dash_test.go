package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDashOutput: classify -o - writes the scored CSV to standard output
// (and nothing else there), as detect does; train -o -, phantom -o - and
// classify --submission - are usage errors (exit 2). None of them leaves a
// file or folder named "-".
func TestDashOutput(t *testing.T) {
	p1 := filepath.Join(phantomFixture(t), "PHANTOM-1")
	cands := filepath.Join(t.TempDir(), "c.csv")
	checkExit(t, lungctl(t, "detect", p1, "--spacing", "2", "-o", cands), exitOK, "detect")

	cwd := t.TempDir()
	r := lungctlIn(t, cwd, "classify", p1, "--candidates", cands, "--spacing", "2", "-o", "-")
	checkExit(t, r, exitOK, "classify -o -")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "seriesuid,coordX,coordY,coordZ,probability,") || len(lines) < 2 {
		t.Errorf("classify -o -: stdout %.300q, want the scored CSV", r.stdout)
	}
	for _, l := range lines[1:] {
		if strings.Contains(l, "\t") || strings.Count(l, ",") != strings.Count(lines[0], ",") {
			t.Errorf("classify -o -: stdout line %q is not a CSV row", l)
		}
	}
	if !strings.Contains(r.stderr, "classified") || !strings.Contains(r.stderr, "cancer=") {
		t.Errorf("classify -o -: the probability is not logged:\n%s", r.stderr)
	}

	for _, args := range [][]string{
		{"train", "--source", "synth", "--n", "8", "--epochs", "1", "--channels", "1", "--batch", "8", "-o", "-"},
		{"phantom", "--size", "small", "--count", "1", "-o", "-"},
		{"classify", p1, "--candidates", cands, "--spacing", "2", "--submission", "-"},
	} {
		r := lungctlIn(t, cwd, args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "standard output") {
			t.Errorf("lungctl %s: exit %d, want 2 naming standard output\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	if _, err := os.Lstat(filepath.Join(cwd, "-")); err == nil {
		t.Errorf("a file or folder named - was made in %s", cwd)
	}
}
