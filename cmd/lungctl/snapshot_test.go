package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSnapshotRefusesOtherScansRows: a candidates file with rows but none
// for the scan (another scan's detect output) is an error (exit 1) naming
// the file and the scan, and draws nothing; a header-only file still
// draws the overview.
func TestSnapshotRefusesOtherScansRows(t *testing.T) {
	fx := phantomFixture(t)
	p1, p2 := filepath.Join(fx, "PHANTOM-1"), filepath.Join(fx, "PHANTOM-2")
	dir := t.TempDir()
	other := filepath.Join(dir, "phantom2.csv")
	checkExit(t, lungctl(t, "detect", p2, "--spacing", "2", "-o", other), exitOK, "detect PHANTOM-2")
	pics := filepath.Join(dir, "pics")
	r := lungctl(t, "snapshot", p1, "--candidates", other, "-o", pics, "--spacing", "2")
	if r.code != exitFailure || !strings.Contains(r.stderr, other) || !strings.Contains(r.stderr, p1) {
		t.Errorf("snapshot PHANTOM-1 --candidates PHANTOM-2's: exit %d, want 1 naming %s and %s\n%s", r.code, other, p1, r.stderr)
	}
	if names, _ := filepath.Glob(filepath.Join(pics, "*.png")); len(names) > 0 {
		t.Errorf("pictures drawn for another scan's candidates: %v", names)
	}

	b, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.csv")
	if err := os.WriteFile(empty, b[:strings.IndexByte(string(b), '\n')+1], 0o644); err != nil {
		t.Fatal(err)
	}
	r = lungctl(t, "snapshot", p1, "--candidates", empty, "-o", pics, "--spacing", "2")
	checkExit(t, r, exitOK, "snapshot with a header-only candidates file")
	if !fileExists(filepath.Join(pics, "PHANTOM-1_overview.png")) {
		t.Errorf("header-only candidates: no overview\n%s", r.stderr)
	}
}
