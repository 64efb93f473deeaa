package pipeline

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/volio"
	"github.com/lungctl/lungctl/internal/volume"
)

// TestLoadVolumesMaskGrid: a mask of the volume's size but on another grid
// (its origin 1 mm off) is refused naming the mask file; detect used to
// refuse it later without naming it.
func TestLoadVolumesMaskGrid(t *testing.T) {
	dir := t.TempDir()
	g := volume.Grid{Dims: [3]int{24, 24, 16}, Spacing: volume.Vec3{1, 1, 1}, Origin: volume.Vec3{-12, -12, -100}, Direction: volume.Identity}
	hu := volume.New[int16](g)
	for i := range hu.Data {
		hu.Data[i] = -800
	}
	in := filepath.Join(dir, "s.nii.gz")
	if err := volio.WriteNIfTI(in, hu, volio.NIfTIOptions{}); err != nil {
		t.Fatal(err)
	}
	good := volume.New[uint8](g)
	shifted := g
	shifted.Origin[0]++
	bad := volume.New[uint8](shifted)
	goodPath, badPath := filepath.Join(dir, "good_lung.nii.gz"), filepath.Join(dir, "bad_lung.nii.gz")
	if err := volio.WriteNIfTI(goodPath, good, volio.NIfTIOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := volio.WriteNIfTI(badPath, bad, volio.NIfTIOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadVolumes(in, goodPath, PreprocessOptions{}, nil); err != nil {
		t.Fatalf("the volume's own grid: %v", err)
	}
	_, err := LoadVolumes(in, badPath, PreprocessOptions{}, nil)
	if err == nil || !strings.Contains(err.Error(), badPath) || !strings.Contains(err.Error(), "grid") {
		t.Errorf("a mask 1 mm off: %v", err)
	}
}
