package pipeline

import (
	"math"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lungctl/lungctl/internal/detect"
)

// TestDetectFormatInvariance is the real-lesions issue's acceptance check on
// top of TestFormatInvariance: LIDC-IDRI-0001 as its DICOM files, as
// plastimatch's MetaImage and as dcm2niix's NIfTI gives the same top 10
// candidates, each within 0.5 mm of one from the DICOM run.
func TestDetectFormatInvariance(t *testing.T) {
	if testing.Short() {
		t.Skip("converts and detects LIDC-IDRI-0001 three times: skipped in -short mode")
	}
	series := lidcSeriesFolder(t)
	dir := t.TempDir()
	inputs := map[string]string{}
	if tool, err := exec.LookPath("plastimatch"); err == nil {
		out := filepath.Join(dir, "lidc.mhd")
		if b, err := exec.Command(tool, "convert", "--input", series, "--output-img", out).CombinedOutput(); err != nil {
			t.Fatalf("plastimatch: %v\n%s", err, b)
		}
		inputs["plastimatch .mhd"] = out
	}
	if tool, err := exec.LookPath("dcm2niix"); err == nil {
		if b, err := exec.Command(tool, "-z", "n", "-f", "lidc", "-o", dir, series).CombinedOutput(); err != nil {
			t.Fatalf("dcm2niix: %v\n%s", err, b)
		}
		inputs["dcm2niix .nii"] = filepath.Join(dir, "lidc.nii")
	}
	if len(inputs) == 0 {
		t.Skip("neither plastimatch nor dcm2niix is installed")
	}
	top := func(in string) [][3]float64 {
		p, err := Preprocess(in, PreprocessOptions{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cs, _, err := Detect(p, detect.Options{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out := make([][3]float64, len(cs))
		for i, c := range cs {
			out[i] = c.World
		}
		return out
	}
	ref := top(series)
	if len(ref) != 10 {
		t.Fatalf("DICOM run: %d candidates, want 10", len(ref))
	}
	for name, in := range inputs {
		got := top(in)
		if len(got) != len(ref) {
			t.Errorf("%s: %d candidates, DICOM %d", name, len(got), len(ref))
			continue
		}
		worst := 0.0
		for _, a := range ref {
			best := math.Inf(1)
			for _, b := range got {
				best = math.Min(best, math.Hypot(math.Hypot(a[0]-b[0], a[1]-b[1]), a[2]-b[2]))
			}
			worst = math.Max(worst, best)
		}
		t.Logf("%s: every DICOM candidate has one within %.3f mm", name, worst)
		if worst > 0.5 {
			t.Errorf("%s: a DICOM candidate has none within 0.5 mm (worst %.3f mm)", name, worst)
		}
	}
}
