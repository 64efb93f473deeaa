package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/volio"
	"github.com/lungctl/lungctl/internal/volume"
)

// TestGridClaimOverBudget: two one-pixel slices 1000 mm apart along a
// diagonal claim a 1001³ mm world box (a 1 mm grid of 6 GB with its mask
// and scratch): Preprocess refuses it before allocating, naming the input.
func TestGridClaimOverBudget(t *testing.T) {
	old := membudget.Limit()
	membudget.Set(2 << 30)
	defer membudget.Set(old)
	s := 1 / 1.7320508075688772
	g := volume.Grid{Dims: [3]int{1, 1, 2}, Spacing: volume.Vec3{1, 1, 1732.0508075688772},
		Direction: [3][3]float64{{1, 0, s}, {0, 1, s}, {0, 0, s}}}
	v := volume.New[int16](g)
	p := filepath.Join(t.TempDir(), "far.nii")
	if err := volio.WriteNIfTI(p, v, volio.NIfTIOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := Preprocess(p, PreprocessOptions{NoMask: true}, nil)
	if !errors.Is(err, membudget.ErrTooBig) || !strings.Contains(err.Error(), p) {
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
