package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPhantomUsage checks that bad phantom flags are usage errors (exit 2)
// reported before anything is written.
func TestPhantomUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"phantom"},
		{"phantom", "--seed", "3"},
		{"phantom", "-o", filepath.Join(dir, "a"), "--noise", "NaN"},
		{"phantom", "-o", filepath.Join(dir, "b"), "--psf-fwhm", "11"},
		{"phantom", "-o", filepath.Join(dir, "c"), "--slice-fwhm", "nan"},
		{"phantom", "-o", filepath.Join(dir, "d"), "--kinds", "round,blob"},
		{"phantom", "-o", filepath.Join(dir, "e"), "--count", "0"},
		{"phantom", "-o", filepath.Join(dir, "f"), "--mass-probability", "2"},
		{"phantom", "-o", filepath.Join(dir, "g"), "--max-diameter", "70"},
		{"phantom", "-o", filepath.Join(dir, "h"), "--mass-min-diameter", "Inf"},
		{"phantom", "-o", filepath.Join(dir, "i"), "--size", "huge"},
		{"phantom", "-o", filepath.Join(dir, "j"), "--edge-enhance", "4"},
		{"phantom", "-o", filepath.Join(dir, "k"), "--edge-enhance", "-1"},
		{"phantom", "-o", filepath.Join(dir, "l"), "--edge-enhance", "nan"},
	} {
		r := lungctl(t, args...)
		if r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, r.code, exitUsage, r.stderr)
		}
		if len(args) > 2 {
			if _, err := os.Stat(args[2]); err == nil {
				t.Errorf("%v: wrote %s before failing", args, args[2])
			}
		}
	}
}

// TestPhantomKinds writes a small patient with chosen kinds and checks the
// truth file's header and rows.
func TestPhantomKinds(t *testing.T) {
	dir := t.TempDir()
	r := lungctl(t, "phantom", "-o", dir, "--size", "small", "--seed", "4", "--kinds", "mass,groundglass,partsolid", "--nodules", "3", "-q")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	recs := readCSV(t, filepath.Join(dir, "truth.csv"))
	want := "seriesuid,coordX,coordY,coordZ,diameter_mm,malignancy,kind,type,solid_diameter_mm,long_axis_mm,short_axis_mm,volume_mm3,spiculated,location"
	if strings.Join(recs[0], ",") != want || len(recs) != 4 {
		t.Fatalf("truth.csv: %v", recs)
	}
	for i, kind := range []string{"mass", "groundglass", "partsolid"} {
		if recs[i+1][6] != kind {
			t.Errorf("row %d kind %q, want %q", i+1, recs[i+1][6], kind)
		}
	}
	if recs[2][7] != "non-solid" || recs[2][8] != "0" || recs[3][7] != "part-solid" {
		t.Errorf("types: %v / %v", recs[2], recs[3])
	}
}

// TestPhantomAndDemoOutputFolders: phantom refuses a folder that holds
// anything (an earlier --count 2 left PHANTOM-2 beside a later --count 1's
// truth); demo runs twice into its folder with another seed, replacing
// the last demo's patients (the second run crashed on them), and refuses
// a folder that is not a demo's.
func TestPhantomAndDemoOutputFolders(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ph")
	r := lungctl(t, "phantom", "-o", dir, "--size", "small", "--nodules", "1")
	checkExit(t, r, exitOK, "phantom into a new folder")
	r = lungctl(t, "phantom", "-o", dir, "--size", "small", "--nodules", "1", "--seed", "2")
	if r.code != exitFailure || !strings.Contains(r.stderr, "not empty") || !strings.Contains(r.stderr, dir) {
		t.Errorf("phantom into a folder with a phantom: exit %d\n%s", r.code, r.stderr)
	}
	// Refused by the memory budget, it leaves no empty folder behind.
	small := filepath.Join(t.TempDir(), "budget")
	r = lungctl(t, "phantom", "-o", small, "--size", "small", "--max-memory", "1M")
	if _, err := os.Stat(small); r.code != exitFailure || err == nil {
		t.Errorf("phantom over the budget: exit %d, folder left: %v\n%s", r.code, err == nil, r.stderr)
	}
	demo := filepath.Join(t.TempDir(), "demo")
	for _, seed := range []string{"1", "5"} {
		r = lungctl(t, "demo", "-o", demo, "--size", "small", "--count", "1", "--snapshots", "0", "--seed", seed)
		checkExit(t, r, exitOK, "demo --seed "+seed)
		if m := regexp.MustCompile(`(\d+) on other scans`).FindStringSubmatch(r.stdout + r.stderr); m == nil || m[1] != "0" {
			t.Errorf("demo --seed %s: marks on other scans %v, want 0 (another demo's patients scored):\n%s", seed, m, r.stdout)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(demo, "phantoms")); len(ents) != 1 {
		t.Errorf("phantoms after two demos: %d patients, want 1", len(ents))
	}
	r = lungctl(t, "demo", "-o", dir, "--size", "small", "--count", "1", "--snapshots", "0")
	if r.code != exitFailure || !strings.Contains(r.stderr, "not a demo's folder") {
		t.Errorf("demo into a phantom folder: exit %d\n%s", r.code, r.stderr)
	}
}
