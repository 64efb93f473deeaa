package dicomio

import (
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/hounsfield"
	"github.com/lungctl/lungctl/internal/warn"
)

// TestSaturatedRescale: a RescaleSlope of 10³⁰ would clamp nearly every
// voxel to 32767 HU: the CT series is refused naming its first such file.
// A slope that sends 3 of 1,024 voxels past the int16 range loads them
// clamped, with a warning that counts them and names the first file.
func TestSaturatedRescale(t *testing.T) {
	slope := func(s string) func(int) []elem {
		return func(int) []elem { return []elem{text(0x0028, 0x1053, "DS", s)} }
	}
	files := writeSeries(t, t.TempDir(), "s", "P", "1.2.3.9", 4, 16, 16, slope("1e30"))
	_, err := LoadFiles(files, Options{})
	wantErr(t, err, hounsfield.ErrSaturated, files[0])

	// Stored values p%700+k: only 257 (slice 2) and 257, 258 (slice 3)
	// pass 32767 HU at slope 131.7, intercept −1024.
	files = writeSeries(t, t.TempDir(), "s", "P", "1.2.3.9", 4, 16, 16, slope("131.7"))
	sc, err := LoadFiles(files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var sat []warn.Warning
	for _, w := range sc.Warnings {
		if w.Code == warn.Saturated {
			sat = append(sat, w)
		}
	}
	if len(sat) != 1 || sat[0].File != files[2] || !strings.Contains(sat[0].Message, "3 of 1024 voxels") {
		t.Fatalf("saturation warnings %+v", sat)
	}
	clampedVoxels := 0
	for _, v := range sc.HU.Data {
		if v == 32767 {
			clampedVoxels++
		}
	}
	if clampedVoxels != 3 {
		t.Errorf("%d voxels at 32767 HU, want 3", clampedVoxels)
	}
}
