package phantom

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/pyref"
	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

func writeSeries(t testing.TB, seed int64) (*Chest, string) {
	t.Helper()
	c := allKinds(t, seed, 0)
	dir := filepath.Join(t.TempDir(), "series")
	if err := WriteDICOM(dir, c); err != nil {
		t.Fatal(err)
	}
	return c, dir
}

func str(t *testing.T, ds dicom.Dataset, tg tag.Tag) []string {
	t.Helper()
	e, err := ds.FindElementByTag(tg)
	if err != nil {
		t.Fatalf("%v: %v", tg, err)
	}
	v, ok := e.Value.GetValue().([]string)
	if !ok {
		t.Fatalf("%v: not a string value", tg)
	}
	return v
}

func num(t *testing.T, ds dicom.Dataset, tg tag.Tag) int {
	t.Helper()
	e, err := ds.FindElementByTag(tg)
	if err != nil {
		t.Fatalf("%v: %v", tg, err)
	}
	v, ok := e.Value.GetValue().([]int)
	if !ok || len(v) != 1 {
		t.Fatalf("%v: not one int", tg)
	}
	return v[0]
}

// TestDICOMRoundTrip parses every written file back with suyashkumar/dicom
// and compares geometry, identifiers and every stored pixel with the
// phantom.
func TestDICOMRoundTrip(t *testing.T) {
	c, dir := writeSeries(t, 31)
	g := c.HU.Grid
	nx, ny, nz := g.Dims[0], g.Dims[1], g.Dims[2]
	names, desc := FileOrder(c.Seed, nz)
	files, _ := filepath.Glob(filepath.Join(dir, "*.dcm"))
	if len(files) != nz {
		t.Fatalf("%d files, want %d", len(files), nz)
	}
	sorted := slicesSorted(names)
	if strings.Join(sorted, ",") == strings.Join(names, ",") {
		t.Error("file names are in z order")
	}
	var insts []int
	for k, name := range names {
		ds, err := dicom.ParseFile(filepath.Join(dir, name), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ipp := str(t, ds, tag.ImagePositionPatient)
		want := g.IndexToWorld([3]float64{0, 0, float64(k)})
		for a := 0; a < 3; a++ {
			v, err := strconv.ParseFloat(ipp[a], 64)
			if err != nil || abs(v-want[a]) > 1e-6 {
				t.Fatalf("%s IPP %v, want %v", name, ipp, want)
			}
		}
		if k == 0 {
			if got := strings.Join(str(t, ds, tag.ImageOrientationPatient), `\`); got != `1\0\0\0\1\0` {
				t.Errorf("IOP %s", got)
			}
			if got := str(t, ds, tag.PixelSpacing); got[0] != ds1(g.Spacing[1]) || got[1] != ds1(g.Spacing[0]) {
				t.Errorf("PixelSpacing %v", got)
			}
			if str(t, ds, tag.SeriesInstanceUID)[0] != c.SeriesUID || str(t, ds, tag.Modality)[0] != "CT" ||
				str(t, ds, tag.TransferSyntaxUID)[0] != ExplicitVRLittleEndian || str(t, ds, tag.SOPClassUID)[0] != CTImageStorage {
				t.Error("identifiers differ")
			}
			if num(t, ds, tag.Rows) != ny || num(t, ds, tag.Columns) != nx || num(t, ds, tag.PixelRepresentation) != 1 || num(t, ds, tag.BitsAllocated) != 16 {
				t.Error("image pixel module differs")
			}
			if str(t, ds, tag.RescaleIntercept)[0] != "-1024" || str(t, ds, tag.RescaleSlope)[0] != "1" {
				t.Error("rescale differs")
			}
		}
		in, _ := strconv.Atoi(str(t, ds, tag.InstanceNumber)[0])
		insts = append(insts, in)
		pe, err := ds.FindElementByTag(tag.PixelData)
		if err != nil {
			t.Fatal(err)
		}
		fr := pe.Value.GetValue().(dicom.PixelDataInfo).Frames[0].NativeData
		raw, ok := fr.RawDataSlice().([]uint16)
		if !ok || len(raw) != nx*ny {
			t.Fatalf("%s: pixel data %T", name, fr.RawDataSlice())
		}
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				hu := int(int16(raw[j*nx+i])) - 1024
				want := int(c.HU.At(i, j, k))
				if !InScanCircle(i, j, nx, ny) {
					want = -2048
				}
				if hu != want {
					t.Fatalf("%s pixel (%d,%d): %d HU, want %d", name, i, j, hu, want)
				}
			}
		}
	}
	if (insts[0] > insts[nz-1]) != desc {
		t.Errorf("instance numbers %d…%d, descending %v", insts[0], insts[nz-1], desc)
	}
	// Seeds choose both orders.
	var seen [2]bool
	for s := int64(0); s < 16; s++ {
		_, d := FileOrder(s, 10)
		seen[btoi(d)] = true
	}
	if !seen[0] || !seen[1] {
		t.Error("FileOrder never reverses or always reverses")
	}
	// Same seed, same bytes.
	_, dir2 := writeSeries(t, 31)
	a, _ := os.ReadFile(filepath.Join(dir, names[3]))
	b, _ := os.ReadFile(filepath.Join(dir2, names[3]))
	if string(a) != string(b) {
		t.Error("same seed wrote different bytes")
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func ds1(v float64) string { return ds(v) }

func slicesSorted(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

const pyReader = `
import json, sys, glob, os
import pydicom, numpy as np
fs = glob.glob(os.path.join(sys.argv[1], "*.dcm"))
ds = [pydicom.dcmread(f) for f in fs]
ds.sort(key=lambda d: float(d.ImagePositionPatient[2]))
vol = np.stack([d.pixel_array.astype(np.float64) * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in ds])
pts = json.loads(sys.argv[2])
out = {
  "n": len(ds),
  "series": str(ds[0].SeriesInstanceUID),
  "ipp": [[float(x) for x in d.ImagePositionPatient] for d in ds],
  "spacing": [float(x) for x in ds[0].PixelSpacing],
  "hu": [float(vol[k, j, i]) for (i, j, k) in pts],
  "corner": float(vol[0, 0, 0]),
}
print(json.dumps(out))
`

// TestPydicom reads the series with pydicom (an independent DICOM reader),
// sorts by ImagePositionPatient and checks positions, spacing and HU at
// each nodule centre.
func TestPydicom(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (starts Python): skipped with -short")
	}
	py := pyref.Python(t, "pydicom", "numpy")
	c, dir := writeSeries(t, 41)
	g := c.HU.Grid
	var pts [][3]int
	for _, n := range c.Nodules {
		idx := g.WorldToIndex(n.World)
		pts = append(pts, [3]int{int(idx[0] + 0.5), int(idx[1] + 0.5), int(idx[2] + 0.5)})
	}
	pj, _ := json.Marshal(pts)
	out, err := exec.Command(py, "-c", pyReader, dir, string(pj)).CombinedOutput()
	if err != nil {
		t.Fatalf("pydicom: %v\n%s", err, out)
	}
	var r struct {
		N       int
		Series  string
		IPP     [][3]float64
		Spacing []float64
		HU      []float64
		Corner  float64
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if r.N != g.Dims[2] || r.Series != c.SeriesUID {
		t.Fatalf("pydicom: %d slices of %s", r.N, r.Series)
	}
	for k, p := range r.IPP {
		w := g.IndexToWorld([3]float64{0, 0, float64(k)})
		for a := 0; a < 3; a++ {
			if abs(p[a]-w[a]) > 1e-6 {
				t.Fatalf("slice %d IPP %v, want %v", k, p, w)
			}
		}
	}
	if abs(r.Spacing[0]-g.Spacing[1]) > 1e-9 || abs(r.Spacing[1]-g.Spacing[0]) > 1e-9 {
		t.Errorf("PixelSpacing %v", r.Spacing)
	}
	for i, p := range pts {
		if want := float64(c.HU.At(p[0], p[1], p[2])); r.HU[i] != want {
			t.Errorf("nodule %d (%s) centre: pydicom %g HU, want %g", i, c.Nodules[i].Kind, r.HU[i], want)
		}
	}
	if r.Corner != -2048 {
		t.Errorf("padding corner %g HU, want −2048", r.Corner)
	}
}

// TestDcm2niix converts the series with dcm2niix (skipped when absent) and
// checks that it finds one volume of the right dimensions and spacing.
func TestDcm2niix(t *testing.T) {
	bin, err := exec.LookPath("dcm2niix")
	if err != nil {
		t.Skip("dcm2niix not installed")
	}
	c, dir := writeSeries(t, 51)
	outDir := t.TempDir()
	out, err := exec.Command(bin, "-z", "n", "-f", "vol", "-o", outDir, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("dcm2niix: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(outDir, "vol.nii"))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(b) < 348 || binary.LittleEndian.Uint32(b) != 348 {
		t.Fatal("not a little-endian NIfTI-1 file")
	}
	var dim [4]int
	for i := range dim {
		dim[i] = int(binary.LittleEndian.Uint16(b[40+2*i:]))
	}
	if dim[0] != 3 || dim[1] != c.HU.Dims[0] || dim[2] != c.HU.Dims[1] || dim[3] != c.HU.Dims[2] {
		t.Errorf("dcm2niix dims %v, want %v", dim, c.HU.Dims)
	}
	if strings.Contains(strings.ToLower(string(out)), "error") {
		t.Errorf("dcm2niix reported an error:\n%s", out)
	}
}
