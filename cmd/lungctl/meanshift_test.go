package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestMeanShiftCommand clusters two hand-made triangles (bandwidth 2): the
// flat kernel puts the three points of each in one cluster, centred on
// their mean; sizes tie, so scikit-learn's order (larger coordinates
// first) numbers the right-hand group 0.
func TestMeanShiftCommand(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "pts.csv")
	if err := os.WriteFile(in, []byte("x,y\n0,0\n1,0\n0,1\n10,10\n11,10\n10,11\n30,30\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	labels, centers := filepath.Join(dir, "out", "labels.csv"), filepath.Join(dir, "out", "centers.csv")
	r := lungctl(t, "meanshift", in, "--bandwidth", "2", "-o", labels, "--centers", centers)
	if r.code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	b, err := os.ReadFile(labels)
	if err != nil {
		t.Fatal(err)
	}
	// (30, 30) is a cluster of its own (size 1, numbered last).
	if got, want := string(b), "label\n1\n1\n1\n0\n0\n0\n2\n"; got != want {
		t.Errorf("labels.csv = %q, want %q", got, want)
	}
	if b, err = os.ReadFile(centers); err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "x0,x1,size\n10.333333,10.333333,3\n0.33333334,0.33333334,3\n30,30,1\n"; got != want {
		t.Errorf("centers.csv = %q, want %q", got, want)
	}
	for _, args := range [][]string{
		{"meanshift", in, "-o", labels, "--bandwidth", "-1"},
		{"meanshift", in, "-o", labels, "--kernel", "box"},
		{"meanshift", in, "-o", labels, "--kernel", "gaussian", "--cluster-all"},
		{"meanshift", in},
	} {
		if r := lungctl(t, args...); r.code != exitUsage {
			t.Errorf("lungctl %s: exit %d, want %d (usage)", strings.Join(args, " "), r.code, exitUsage)
		}
	}
	missing := filepath.Join(dir, "none.npy")
	if r := lungctl(t, "meanshift", missing, "-o", labels); r.code != exitFailure || !strings.Contains(r.stderr, missing) {
		t.Errorf("missing input: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestMeanShiftCSVBudget: a points CSV too large for --max-memory is
// refused while it is read, naming the file and the budget, and no labels
// are written.
func TestMeanShiftCSVBudget(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "many.csv")
	var b strings.Builder
	b.WriteString("x,y\n")
	for i := 0; i < 20000; i++ {
		b.WriteString(strconv.Itoa(i) + "," + strconv.Itoa(i%7) + "\n")
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	labels := filepath.Join(dir, "labels.csv")
	r := lungctl(t, "--max-memory", "64K", "meanshift", in, "--bandwidth", "2", "-o", labels)
	if r.code != exitFailure || !strings.Contains(r.stderr, in+": line ") || !strings.Contains(r.stderr, "exceeds the memory budget") ||
		fileExists(labels) {
		t.Errorf("meanshift over the budget: exit %d, want %d naming %s and the budget, no labels:\n%s", r.code, exitFailure, in, r.stderr)
	}
}
