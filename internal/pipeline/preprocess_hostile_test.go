package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/testfs"
	"github.com/lungctl/lungctl/internal/volio"
	"github.com/lungctl/lungctl/internal/volume"
	"github.com/lungctl/lungctl/internal/warn"
)

// TestGridClaimOverBudget: two one-pixel slices 1000 mm apart along a
// diagonal claim a 1001³ mm world box (a 1 mm grid of 6 GB with its mask
// and scratch): Preprocess refuses it before allocating, naming the input.
func TestGridClaimOverBudget(t *testing.T) {
	testfs.SetBudget(t, 2<<30)
	s := 1 / 1.7320508075688772
	g := volume.Grid{Dims: [3]int{1, 1, 2}, Spacing: volume.Vec3{1, 1, 1732.0508075688772},
		Direction: [3][3]float64{{1, 0, s}, {0, 1, s}, {0, 0, s}}}
	v := volume.New[int16](g)
	p := filepath.Join(t.TempDir(), "far.nii")
	if err := volio.WriteNIfTI(p, v, volio.NIfTIOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := Preprocess(p, PreprocessOptions{NoMask: true}, nil)
	if !testfs.TooBig(err, p) {
		t.Fatalf("grid claim: %v", err)
	}
	t.Logf("refused as wanted: %v", err)
}

// TestKindOfArchivesAndMHA: .zip reads as a DICOM folder, .mha as a
// MetaImage, and both give their scan id.
func TestKindOfArchivesAndMHA(t *testing.T) {
	dir := t.TempDir()
	for name, want := range map[string]Kind{"a.zip": DICOMDir, "b.MHA": MetaImage, "c.mhd": MetaImage} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if k, err := KindOf(p); err != nil || k != want {
			t.Errorf("%s: %v %v, want %v", name, k, err, want)
		}
		if id := ScanID(p); id != name[:1] {
			t.Errorf("%s: scan id %q", name, id)
		}
	}
}

// TestManyNonDICOMFilesFold: a DICOM folder with 8,000 other files of long
// names (one warning each made a 4.8 MB sidecar, which its own reader then
// refused, losing the series and patient ids) is written with them folded
// into one warning, and the sidecar reads back with the series' ids.
func TestManyNonDICOMFilesFold(t *testing.T) {
	dir := phantomSeries(t)
	notes := filepath.Join(dir, "notes")
	testfs.MkdirAll(t, notes)
	for i := 0; i < 8000; i++ {
		testfs.WriteFile(t, filepath.Join(notes, fmt.Sprintf("%s%05d.txt", strings.Repeat("n", 190), i)), nil)
	}
	p, err := Preprocess(dir, PreprocessOptions{NoMask: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := p.Write(filepath.Join(t.TempDir(), "out"), NoGzip)
	if err != nil {
		t.Fatal(err)
	}
	side, err := volio.ReadSidecar(ps.Sidecar)
	if err != nil || side.SeriesUID != p.SeriesUID || side.PatientID == "" {
		t.Fatalf("sidecar: series %q patient %q, %v", side.SeriesUID, side.PatientID, err)
	}
	n := 0
	for _, w := range side.Warnings {
		if w.Code == warn.SkippedNotDICOM {
			n += w.N()
		}
	}
	if n != 8000 || len(side.Warnings) > 2*warn.FoldAfter {
		t.Errorf("%d warnings standing for %d skipped files, want few for 8000", len(side.Warnings), n)
	}
}

// TestOutputGridBeyondNIfTI: 20,000 slices 2 mm apart make a 1 mm grid of
// 39,999 slices, more than NIfTI-1 stores along an axis: Preprocess refuses
// it before resampling, naming the input (the write used to fail after the
// work, naming the output).
func TestOutputGridBeyondNIfTI(t *testing.T) {
	g := volume.Grid{Dims: [3]int{2, 2, 20000}, Spacing: volume.Vec3{1, 1, 2}, Direction: volume.Identity}
	p := filepath.Join(t.TempDir(), "tall.nii")
	if err := volio.WriteNIfTI(p, volume.New[int16](g), volio.NIfTIOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := Preprocess(p, PreprocessOptions{NoMask: true}, nil)
	if !errors.Is(err, volio.ErrUnsupported) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "39999") {
		t.Fatalf("a 2×2×39999 output grid: %v, want ErrUnsupported naming %s", err, p)
	}
}
