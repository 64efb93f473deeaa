package pipeline

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/pyref"
	"github.com/lungctl/lungctl/internal/shareddata"
	"github.com/lungctl/lungctl/internal/volio"
	"github.com/lungctl/lungctl/internal/volume"
)

var sharedData = shareddata.Path()

func needShared(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(sharedData, rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared data not available (%s): %v", p, err)
	}
	return p
}

// lidcNodule is the LUNA16 annotation of LIDC-IDRI-0001 (LPS mm).
var lidcNodule = volume.Vec3{56.21, 86.34, -115.87}

// TestPreprocessLIDC0001 is the acceptance check: the 1 mm output
// has the LUNA16 nodule at a voxel whose 3×3×3 mean is above −100 HU, inside
// the lung mask, and nibabel reading the written .nii.gz puts that voxel at
// the same world position (after LPS↔RAS).
func TestPreprocessLIDC0001(t *testing.T) {
	dir := needShared(t, "lidc-idri-0001")
	p, err := Preprocess(dir, PreprocessOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.HU.Spacing != (volume.Vec3{1, 1, 1}) {
		t.Fatalf("spacing %v, want 1 mm", p.HU.Spacing)
	}
	if p.SeriesUID != "1.3.6.1.4.1.14519.5.2.1.6279.6001.179049373636438705059720603192" {
		t.Errorf("series uid %q", p.SeriesUID)
	}
	idx := p.HU.WorldToIndex(lidcNodule)
	i, j, k := int(math.Round(idx[0])), int(math.Round(idx[1])), int(math.Round(idx[2]))
	var sum float64
	for dk := -1; dk <= 1; dk++ {
		for dj := -1; dj <= 1; dj++ {
			for di := -1; di <= 1; di++ {
				sum += float64(p.HU.At(i+di, j+dj, k+dk))
			}
		}
	}
	if mean := sum / 27; !(mean > -100) {
		t.Errorf("3x3x3 mean at nodule voxel (%d,%d,%d) = %.1f HU, want > -100", i, j, k, mean)
	}
	if p.Lung.At(i, j, k) != 1 {
		t.Errorf("nodule voxel (%d,%d,%d) is outside the lung mask", i, j, k)
	}
	out := t.TempDir()
	ps, err := p.Write(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	side, err := volio.ReadSidecar(ps.Sidecar)
	if err != nil || side.SeriesUID != p.SeriesUID || side.OriginalDims != [3]int{512, 512, 133} {
		t.Fatalf("sidecar %+v %v", side, err)
	}
	// The output, preprocessed again, still knows the scanner's spacing
	// (the blur that small lesions' density is corrected for), not 1 mm.
	if p.AcquisitionSpacing[2] < 2 {
		t.Fatalf("DICOM acquisition spacing %v, want 2.5 mm slices", p.AcquisitionSpacing)
	}
	again, err := Preprocess(ps.HU, PreprocessOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.AcquisitionSpacing != p.AcquisitionSpacing {
		t.Errorf("re-read acquisition spacing %v, want the DICOM's %v", again.AcquisitionSpacing, p.AcquisitionSpacing)
	}
	if p.SliceThickness != 2.5 || again.SliceThickness != p.SliceThickness {
		t.Errorf("slice thickness %v, re-read %v, want the DICOM's 2.5 mm", p.SliceThickness, again.SliceThickness)
	}
	// Preprocessed once more, the output of the output (whose original
	// grid is the 1 mm one) still carries the scanner's acquisition.
	ps2, err := again.Write(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	third, err := Preprocess(ps2.HU, PreprocessOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The vendor's kernel name travels the same way (GE's STANDARD here).
	if p.ConvolutionKernel != "STANDARD" || again.ConvolutionKernel != p.ConvolutionKernel || third.ConvolutionKernel != p.ConvolutionKernel {
		t.Errorf("convolution kernel %q, re-read %q, %q: want the DICOM's STANDARD", p.ConvolutionKernel, again.ConvolutionKernel, third.ConvolutionKernel)
	}
	if third.AcquisitionSpacing != p.AcquisitionSpacing || third.SliceThickness != p.SliceThickness {
		t.Errorf("preprocessed twice: acquisition %v, thickness %v, want the DICOM's %v, %v",
			third.AcquisitionSpacing, third.SliceThickness, p.AcquisitionSpacing, p.SliceThickness)
	}
	// Our own reader gives the same voxel back at the same world position.
	back, err := volio.ReadHU(ps.HU)
	if err != nil {
		t.Fatal(err)
	}
	w0 := p.HU.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
	w1 := back.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
	for a := 0; a < 3; a++ {
		if math.Abs(w0[a]-w1[a]) > 1e-3 {
			t.Fatalf("re-read world %v, want %v", w1, w0)
		}
	}
	// nibabel: the RAS world of that voxel must be (−x, −y, z) of LPS.
	py := pyref.Python(t, "nibabel", "numpy")
	script := fmt.Sprintf(`import nibabel as nib, numpy as np
img = nib.load(%q)
a = img.affine
w = a @ np.array([%d, %d, %d, 1.0])
d = np.asarray(img.dataobj[%d, %d, %d])
print(w[0], w[1], w[2], int(d), img.header['sform_code'], img.header['qform_code'])
q = img.get_qform() @ np.array([%d, %d, %d, 1.0])
print(q[0], q[1], q[2])`, ps.HU, i, j, k, i, j, k, i, j, k)
	b, err := exec.Command(py, "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("nibabel: %v\n%s", err, b)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	f := strings.Fields(lines[0])
	q := strings.Fields(lines[1])
	want := volume.Vec3{-w0[0], -w0[1], w0[2]}
	for a := 0; a < 3; a++ {
		s, _ := strconv.ParseFloat(f[a], 64)
		qs, _ := strconv.ParseFloat(q[a], 64)
		if math.Abs(s-want[a]) > 1e-3 || math.Abs(qs-want[a]) > 1e-3 {
			t.Errorf("nibabel RAS axis %d: sform %v qform %v, want %v (LPS %v)", a, s, qs, want[a], w0)
		}
	}
	if v, _ := strconv.Atoi(f[3]); int16(v) != p.HU.At(i, j, k) {
		t.Errorf("nibabel voxel value %d, ours %d", v, p.HU.At(i, j, k))
	}
	// The nodule world point itself is within half a voxel of that voxel.
	for a := 0; a < 3; a++ {
		if math.Abs(w0[a]-lidcNodule[a]) > 0.5+1e-9 {
			t.Errorf("nearest voxel centre %v is more than half a voxel from %v", w0, lidcNodule)
		}
	}
}
