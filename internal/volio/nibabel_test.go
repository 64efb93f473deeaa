package volio

import (
	"encoding/json"
	"errors"
	"math"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lungctl/lungctl/internal/pyref"
	"github.com/lungctl/lungctl/internal/volume"
)

// python returns the Debian python3 when it can import nibabel and numpy,
// else skips the test.
func python(t *testing.T) string {
	t.Helper()
	return pyref.Python(t, "nibabel", "numpy")
}

func runPy(t *testing.T, py, script string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(py, append([]string{"-c", script}, args...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("python: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("python: %v", err)
	}
	return out
}

// TestNibabelReadsOurFiles: nibabel (an independent NIfTI implementation)
// reads our .nii.gz (several parallel-gzip blocks, one member) and must see
// the RAS affine = our LPS affine with rows x and y negated, the same qform,
// codes 1, and the same voxels.
func TestNibabelReadsOurFiles(t *testing.T) {
	py := python(t)
	dir := t.TempDir()
	const script = `
import sys, json, nibabel as nib, numpy as np
img = nib.load(sys.argv[1])
h = img.header
d = np.asarray(img.dataobj)
print(json.dumps({
  "affine": img.affine.tolist(),
  "qform": img.get_qform().tolist(),
  "sform_code": int(h["sform_code"]), "qform_code": int(h["qform_code"]),
  "dtype": str(d.dtype), "shape": list(d.shape),
  "v342": float(d[3, 4, 2]), "v_last": float(d[-1, -2, -3]),
  "sum": float(d.astype(np.float64).sum()),
  "zooms": [float(z) for z in h.get_zooms()], "units": h.get_xyzt_units()[0],
}))
`
	type pyOut struct {
		Affine, Qform          [][]float64
		Sform_code, Qform_code int
		Dtype                  string
		Shape                  []int
		V342, V_last, Sum      float64
		Zooms                  []float64
		Units                  string
	}
	g := obliqueGrid([3]int{64, 72, 150}) // 1.4 MB: two gzip blocks
	v := patternHU(g)
	var sum float64
	for _, x := range v.Data {
		sum += float64(x)
	}
	sheared := g
	sheared.Direction[0][2] += 0.3
	n := math.Sqrt(sheared.Direction[0][2]*sheared.Direction[0][2] + sheared.Direction[1][2]*sheared.Direction[1][2] + sheared.Direction[2][2]*sheared.Direction[2][2])
	for r := 0; r < 3; r++ {
		sheared.Direction[r][2] /= n
	}
	for _, tc := range []struct {
		name string
		grid volume.Grid
	}{{"oblique.nii.gz", g}, {"sheared.nii.gz", sheared}, {"plain.nii", g}} {
		v.Grid = tc.grid
		path := filepath.Join(dir, tc.name)
		if err := WriteNIfTI(path, v, NIfTIOptions{}); err != nil {
			t.Fatal(err)
		}
		var o pyOut
		if err := json.Unmarshal(runPy(t, py, script, path), &o); err != nil {
			t.Fatal(err)
		}
		a := v.Affine()
		for r := 0; r < 3; r++ {
			s := 1.0
			if r < 2 {
				s = -1
			}
			for c := 0; c < 4; c++ {
				if math.Abs(o.Affine[r][c]-s*a[r][c]) > 1e-4 {
					t.Errorf("%s: nibabel affine[%d][%d] = %v, want %v", tc.name, r, c, o.Affine[r][c], s*a[r][c])
				}
				if tc.name != "sheared.nii.gz" && math.Abs(o.Qform[r][c]-s*a[r][c]) > 1e-4 {
					t.Errorf("%s: nibabel qform[%d][%d] = %v, want %v", tc.name, r, c, o.Qform[r][c], s*a[r][c])
				}
			}
		}
		wantQ := 1
		if tc.name == "sheared.nii.gz" {
			wantQ = 0
		}
		if o.Sform_code != 1 || o.Qform_code != wantQ {
			t.Errorf("%s: codes sform %d qform %d", tc.name, o.Sform_code, o.Qform_code)
		}
		if o.Dtype != "int16" || o.Shape[0] != 64 || o.Shape[1] != 72 || o.Shape[2] != 150 || o.Units != "mm" {
			t.Errorf("%s: dtype %s shape %v units %s", tc.name, o.Dtype, o.Shape, o.Units)
		}
		if o.V342 != float64(v.At(3, 4, 2)) || o.V_last != float64(v.At(63, 70, 147)) || o.Sum != sum {
			t.Errorf("%s: nibabel voxels %v %v sum %v, want %v %v %v", tc.name, o.V342, o.V_last, o.Sum, v.At(3, 4, 2), v.At(63, 70, 147), sum)
		}
		for a := 0; a < 3; a++ {
			if math.Abs(o.Zooms[a]-tc.grid.Spacing[a]) > 1e-6 {
				t.Errorf("%s: zooms %v", tc.name, o.Zooms)
			}
		}
	}
}

// TestReadNibabelFiles: nibabel writes oblique NIfTI files (big-endian
// uint16 with scl_slope/inter, little-endian float32, gzip and plain); we
// must find voxel values at the same (i,j,k) and LPS world points equal to
// nibabel's RAS points with x and y negated.
func TestReadNibabelFiles(t *testing.T) {
	py := python(t)
	dir := t.TempDir()
	const script = `
import sys, json, numpy as np, nibabel as nib
out = sys.argv[1]
th = np.deg2rad(20.0)
R = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1.0]])
aff = np.eye(4); aff[:3, :3] = R @ np.diag([0.8, 0.6, 2.0]); aff[:3, 3] = [12.5, -30.0, 44.0]
i, j, k = np.meshgrid(np.arange(11), np.arange(9), np.arange(7), indexing="ij")
vals = (i * 3 + j * 50 + k * 700).astype(np.float64)
res = {"affine": aff.tolist(), "files": {}}
# big-endian uint16 with scaling HU = 1*stored - 1024
hdr = nib.Nifti1Header(endianness=">")
img = nib.Nifti1Image(vals.astype(">u2"), aff, header=hdr)
img.header.set_data_dtype(">u2")
img.header.set_slope_inter(1.0, -1024.0)
nib.save(img, out + "/be_u16.nii.gz")
res["files"]["be_u16.nii.gz"] = nib.load(out + "/be_u16.nii.gz").get_fdata()[4, 5, 6]
img2 = nib.Nifti1Image(vals.astype("<f4") * 0.5, aff)
nib.save(img2, out + "/f32.nii")
res["files"]["f32.nii"] = float(nib.load(out + "/f32.nii").get_fdata()[4, 5, 6])
res["endian"] = nib.load(out + "/be_u16.nii.gz").header.endianness
res["world456"] = (aff @ np.array([4, 5, 6, 1.0]))[:3].tolist()
print(json.dumps(res))
`
	var o struct {
		Affine   [][]float64
		Files    map[string]float64
		Endian   string
		World456 []float64
	}
	if err := json.Unmarshal(runPy(t, py, script, dir), &o); err != nil {
		t.Fatal(err)
	}
	if o.Endian != ">" {
		t.Logf("nibabel wrote endianness %q (wanted big endian)", o.Endian)
	}
	for name, want := range o.Files {
		v, err := ReadFloat32(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := float64(v.At(4, 5, 6)); math.Abs(got-want) > 1e-3 {
			t.Errorf("%s: voxel (4,5,6) = %v, nibabel says %v", name, got, want)
		}
		w := v.IndexToWorld(volume.Vec3{4, 5, 6})
		lps := [3]float64{-o.World456[0], -o.World456[1], o.World456[2]}
		for a := 0; a < 3; a++ {
			if math.Abs(w[a]-lps[a]) > 1e-4 {
				t.Errorf("%s: world of (4,5,6) = %v, want LPS %v", name, w, lps)
			}
		}
		if math.Abs(v.Spacing[0]-0.8) > 1e-6 || math.Abs(v.Spacing[1]-0.6) > 1e-6 || math.Abs(v.Spacing[2]-2) > 1e-6 {
			t.Errorf("%s: spacing %v", name, v.Spacing)
		}
	}
	hu, err := ReadHU(filepath.Join(dir, "be_u16.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if want := int16(4*3 + 5*50 + 6*700 - 1024); hu.At(4, 5, 6) != want {
		t.Errorf("HU (4,5,6) = %d, want %d", hu.At(4, 5, 6), want)
	}
}
