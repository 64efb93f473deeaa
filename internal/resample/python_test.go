package resample

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/dicomio"
	"github.com/lungctl/lungctl/internal/pyref"
	"github.com/lungctl/lungctl/internal/shareddata"
	"github.com/lungctl/lungctl/internal/volume"
)

// pyRef reads the DICOM files with pydicom, stacks them by z, converts to HU
// (slope, intercept) and samples world points (LPS mm) with
// scipy.ndimage.map_coordinates(order=1): an independent trilinear reference
// for an axial, evenly spaced stack.
const pyRef = `
import sys, numpy as np, pydicom
from scipy.ndimage import map_coordinates
files = sys.argv[2:]
ds = [pydicom.dcmread(f) for f in files]
ds.sort(key=lambda d: float(d.ImagePositionPatient[2]))
vol = np.stack([d.pixel_array.astype(np.float64) * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in ds])
ipp = np.array([[float(v) for v in d.ImagePositionPatient] for d in ds])
ps = [float(v) for v in ds[0].PixelSpacing]  # row spacing, column spacing
dz = (ipp[-1, 2] - ipp[0, 2]) / (len(ds) - 1)
pts = np.loadtxt(sys.argv[1], ndmin=2)
k = (pts[:, 2] - ipp[0, 2]) / dz
r = (pts[:, 1] - ipp[0, 1]) / ps[0]
c = (pts[:, 0] - ipp[0, 0]) / ps[1]
vals = map_coordinates(vol, [k, r, c], order=1, mode='nearest')
# the minimum of the 8 neighbours flags samples touching padding
lo = np.minimum.reduce([map_coordinates(vol, [np.floor(k) + a, np.floor(r) + b, np.floor(c) + e], order=0, mode='nearest')
                        for a in (0, 1) for b in (0, 1) for e in (0, 1)])
for v, m in zip(vals, lo):
    print("%.4f %.1f" % (v, m))
`

// TestAgainstScipyLIDC resamples the 16-slice LIDC-IDRI-0001 subset to 1 mm
// and compares sampled output voxels with scipy's trilinear interpolation of
// the same files read by pydicom. Skips when the data or python is missing.
func TestAgainstScipyLIDC(t *testing.T) {
	if testing.Short() {
		t.Skip("python cross-check skipped in -short mode")
	}
	d := shareddata.Path("lidc-idri-0001")
	if _, err := os.Stat(d); err != nil {
		t.Skipf("real data not available at %s: %v", d, err)
	}
	py := pyref.Python(t, "pydicom", "scipy", "numpy")
	names := strings.Fields("000053 000058 000082 000071 000123 000080 000061 000041 000003 000104 000030 000025 000077 000096 000111 000046")
	var files []string
	if err := filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			for _, n := range names {
				if filepath.Base(p) == n+".dcm" {
					files = append(files, p)
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(files) != len(names) {
		t.Fatalf("found %d of %d subset files under %s", len(files), len(names), d)
	}
	sc, err := dicomio.LoadFiles(files, dicomio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := Stack(sc.HU, sc.Positions, volume.Vec3{1, 1, 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Deterministic sample of output voxels.
	type sample struct{ i, j, k int }
	var ss []sample
	var b strings.Builder
	for n := 0; n < 3000; n++ {
		s := sample{(n * 7919) % out.Dims[0], (n * 104729) % out.Dims[1], (n * 31) % out.Dims[2]}
		ss = append(ss, s)
		w := out.IndexToWorld(volume.Vec3{float64(s.i), float64(s.j), float64(s.k)})
		fmt.Fprintf(&b, "%.9f %.9f %.9f\n", w[0], w[1], w[2])
	}
	pts := filepath.Join(t.TempDir(), "pts.txt")
	if err := os.WriteFile(pts, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, append([]string{"-c", pyRef, pts}, files...)...)
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("python reference: %v", err)
	}
	sc2 := bufio.NewScanner(strings.NewReader(string(res)))
	n, compared, worst := 0, 0, 0.0
	for sc2.Scan() {
		f := strings.Fields(sc2.Text())
		if len(f) != 2 || n >= len(ss) {
			t.Fatalf("bad python output line %q", sc2.Text())
		}
		ref, _ := strconv.ParseFloat(f[0], 64)
		lo, _ := strconv.ParseFloat(f[1], 64)
		s := ss[n]
		n++
		if lo < -1024 {
			continue // touches padding, which HU conversion maps to −1000
		}
		compared++
		d := math.Abs(float64(out.At(s.i, s.j, s.k)) - ref)
		worst = math.Max(worst, d)
		if d > 0.5+1e-3 {
			t.Errorf("voxel (%d,%d,%d): lungctl %d, scipy %.3f", s.i, s.j, s.k, out.At(s.i, s.j, s.k), ref)
		}
	}
	if n != len(ss) || compared < len(ss)/2 {
		t.Fatalf("python returned %d values, %d comparable", n, compared)
	}
	t.Logf("%d voxels compared with scipy map_coordinates(order=1): worst |difference| %.3f HU", compared, worst)
}
