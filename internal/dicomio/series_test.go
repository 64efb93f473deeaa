package dicomio

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/warn"
)

// copySubset copies the named LIDC subset files into a fresh temp folder
// (in odd places and names) and returns the folder and the copies' paths.
func copySubset(t *testing.T, names []string) (string, []string) {
	t.Helper()
	src := lidcSeriesDir(t)
	dst := t.TempDir()
	var out []string
	for i, n := range names {
		b, err := os.ReadFile(filepath.Join(src, n+".dcm"))
		if err != nil {
			t.Fatal(err)
		}
		// No .dcm extension, spaces and nesting: names must not matter.
		dir := filepath.Join(dst, "series  one", string(rune('a'+i%3)))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "IM "+n)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return dst, out
}

// edit replaces old with new (same length) in file p.
func edit(t *testing.T, p string, old, new string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(old) != len(new) || !bytes.Contains(b, []byte(old)) {
		t.Fatalf("cannot edit %q in %s", old, p)
	}
	b = bytes.Replace(b, []byte(old), []byte(new), 1)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Five consecutive subset slices: z -132.5, -130, -127.5, -125, -122.5.
var five = []string{"000053", "000058", "000082", "000071", "000123"}

func hasWarning(ws []warn.Warning, sub string) bool {
	for _, w := range ws {
		if strings.Contains(w.String(), sub) {
			return true
		}
	}
	return false
}

func TestNamesAndNonDICOMFiles(t *testing.T) {
	dir, _ := copySubset(t, five)
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a DICOM file, just notes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sc.HU.Dims[2] != 5 || math.Abs(sc.HU.Spacing[2]-2.5) > 1e-6 {
		t.Fatalf("dims %v spacing %v", sc.HU.Dims, sc.HU.Spacing)
	}
	for k, want := range []float64{-132.5, -130, -127.5, -125, -122.5} {
		if math.Abs(sc.Positions[k][2]-want) > 1e-4 {
			t.Errorf("slice %d at z %v, want %v", k, sc.Positions[k][2], want)
		}
	}
	if !hasWarning(sc.Warnings, "notes.txt") {
		t.Errorf("non-DICOM file not reported: %q", sc.Warnings)
	}
}

func TestDuplicateIdenticalKeptOnce(t *testing.T) {
	dir, files := copySubset(t, five)
	b, _ := os.ReadFile(files[2])
	if err := os.WriteFile(filepath.Join(dir, "copy of 082"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sc.HU.Dims[2] != 5 || !hasWarning(sc.Warnings, "duplicate slice") {
		t.Fatalf("dims %v warnings %q", sc.HU.Dims, sc.Warnings)
	}
}

func TestDuplicateDifferentRefused(t *testing.T) {
	dir, files := copySubset(t, five)
	b, _ := os.ReadFile(files[2])
	b[len(b)-2] ^= 0x01 // one pixel differs
	p := filepath.Join(dir, "changed 082")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir, Options{})
	if !errors.Is(err, ErrDuplicateSlice) || !strings.Contains(err.Error(), "082") {
		t.Fatalf("want ErrDuplicateSlice naming the file, got %v", err)
	}
}

func TestMissingSliceWarned(t *testing.T) {
	dir, files := copySubset(t, five)
	if err := os.Remove(files[2]); err != nil {
		t.Fatal(err)
	}
	sc, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sc.HU.Dims[2] != 4 || !hasWarning(sc.Warnings, "missing slice") || !hasWarning(sc.Warnings, "uneven") {
		t.Fatalf("dims %v warnings %q", sc.HU.Dims, sc.Warnings)
	}
	// Positions keep the truth: the gap is 5 mm between slices 1 and 2.
	if g := sc.Positions[2][2] - sc.Positions[1][2]; math.Abs(g-5) > 1e-4 {
		t.Errorf("gap %v mm, want 5", g)
	}
	if math.Abs(sc.HU.Spacing[2]-10.0/3) > 1e-6 {
		t.Errorf("mean step %v, want 10/3 mm", sc.HU.Spacing[2])
	}
}

func TestInconsistentGeometryRefused(t *testing.T) {
	for _, c := range []struct{ name, old, new string }{
		{"pixel spacing", `0.703125\0.703125`, `0.803125\0.803125`},
		{"orientation 1.8°", `1.000000\0.000000\0.000000\0.000000\1.000000`, `0.999500\0.031600\0.000000\0.000000\1.000000`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, files := copySubset(t, five)
			edit(t, files[3], c.old, c.new)
			_, err := Load(dir, Options{})
			if !errors.Is(err, ErrInconsistentGeometry) || !strings.Contains(err.Error(), "IM 000071") {
				t.Fatalf("want ErrInconsistentGeometry naming IM 000071, got %v", err)
			}
		})
	}
}

func TestOffPlaneImageDropped(t *testing.T) {
	// A slice whose orientation is 90° away (a coronal image in the series)
	// is dropped like a scout, not stacked.
	dir, files := copySubset(t, five)
	edit(t, files[4], `1.000000\0.000000\0.000000\0.000000\1.000000\0.000000`, `1.000000\0.000000\0.000000\0.000000\0.000000\1.000000`)
	sc, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sc.HU.Dims[2] != 4 || !hasWarning(sc.Warnings, "orientation unlike") {
		t.Fatalf("dims %v warnings %q", sc.HU.Dims, sc.Warnings)
	}
}

func TestLocalizerDropped(t *testing.T) {
	dir, files := copySubset(t, five)
	edit(t, files[0], `ORIGINAL\PRIMARY\AXIAL`, `ORIGINAL\LOCALIZER\AXI`) // same length
	sc, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sc.HU.Dims[2] != 4 || !hasWarning(sc.Warnings, "localizer") || math.Abs(sc.Positions[0][2]+130) > 1e-4 {
		t.Fatalf("dims %v first z %v warnings %q", sc.HU.Dims, sc.Positions[0][2], sc.Warnings)
	}
}

func TestEmptyAndMissingFolder(t *testing.T) {
	if _, err := Load(t.TempDir(), Options{}); !errors.Is(err, ErrNoCTSeries) {
		t.Errorf("empty folder: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "nope"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing folder: %v", err)
	}
}

// TestOtherSeriesNamed: a folder with two reconstructions loads the larger
// and names the other, with the flag that loads it; a series picked by
// --series (or a folder of one series) warns of nothing.
func TestOtherSeriesNamed(t *testing.T) {
	dir := t.TempDir()
	writeSeries(t, dir, "thin", "P", "1.9.1", 5, 4, 4, nil)
	thick := writeSeries(t, dir, "thick", "P", "1.9.2", 3, 4, 4, nil)
	sc, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Info.UID != "1.9.1" {
		t.Fatalf("loaded %s, want the 5-slice series 1.9.1", sc.Info.UID)
	}
	var other []warn.Warning
	for _, w := range sc.Warnings {
		if w.Code == warn.OtherSeries {
			other = append(other, w)
		}
	}
	if len(other) != 1 || other[0].File != thick[0] || !strings.Contains(other[0].Message, "series 1.9.2 (CT axial, 3 slices) not loaded") ||
		!strings.Contains(other[0].Message, "--series 1.9.2") {
		t.Errorf("other-series warnings %+v, want one naming 1.9.2 and --series", other)
	}
	sc, err = Load(dir, Options{SeriesUID: "1.9.2"})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Info.UID != "1.9.2" || hasCode(sc.Warnings, warn.OtherSeries) {
		t.Errorf("--series 1.9.2: loaded %s, warnings %+v; want 1.9.2 and no other-series warning", sc.Info.UID, sc.Warnings)
	}
	// Two reconstructions of the same slices on two kernels, as LIDC
	// patients often have: the warning names both kernels.
	two := t.TempDir()
	kernel := func(name string) func(int) []elem {
		return func(int) []elem { return []elem{text(0x0018, 0x1210, "SH", name)} }
	}
	writeSeries(t, two, "std", "P", "1.9.4", 5, 4, 4, kernel("STANDARD"))
	writeSeries(t, two, "lung", "P", "1.9.5", 4, 4, 4, kernel("LUNG"))
	if sc, err = Load(two, Options{}); err != nil || sc.Info.ConvolutionKernel != "STANDARD" {
		t.Fatalf("two kernels: err %v, loaded kernel %q, want STANDARD", err, sc.Info.ConvolutionKernel)
	}
	want := "series 1.9.5 (CT axial, kernel LUNG, 4 slices) not loaded: the CT series 1.9.4 (5 slices, kernel STANDARD) was"
	if !hasCode(sc.Warnings, warn.OtherSeries) || !strings.Contains(fmt.Sprint(sc.Warnings), want) {
		t.Errorf("two kernels: warnings %+v, want %q", sc.Warnings, want)
	}
	one := t.TempDir()
	writeSeries(t, one, "s", "P", "1.9.3", 3, 4, 4, nil)
	if sc, err = Load(one, Options{}); err != nil || hasCode(sc.Warnings, warn.OtherSeries) {
		t.Errorf("one series: err %v, warnings %+v; want no other-series warning", err, sc.Warnings)
	}
}

func hasCode(ws []warn.Warning, c warn.Code) bool {
	for _, w := range ws {
		if w.Code == c {
			return true
		}
	}
	return false
}
