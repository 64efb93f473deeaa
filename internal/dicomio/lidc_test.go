package dicomio

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/hounsfield"
	"github.com/lungctl/lungctl/internal/shareddata"
	"github.com/lungctl/lungctl/internal/volume"
)

// dataDir returns the shared real-data folder, skipping the test when absent.
func dataDir(t testing.TB, sub ...string) string {
	t.Helper()
	return shareddata.Dir(t, sub...)
}

func lidcSeriesDir(t testing.TB) string {
	d := dataDir(t, "lidc-idri-0001")
	var found string
	if err := filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(p, "000001.dcm") {
			found = filepath.Dir(p)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if found == "" {
		t.Fatalf("no LIDC slices under %s", d)
	}
	return found
}

// mean3 is the 3×3×3 mean HU around the voxel nearest world point w.
func mean3(t *testing.T, v *volume.Volume[int16], w volume.Vec3) float64 {
	t.Helper()
	idx := v.WorldToIndex(w)
	i, j, k := int(math.Round(idx[0])), int(math.Round(idx[1])), int(math.Round(idx[2]))
	var s float64
	n := 0
	for dk := -1; dk <= 1; dk++ {
		for dj := -1; dj <= 1; dj++ {
			for di := -1; di <= 1; di++ {
				if v.In(i+di, j+dj, k+dk) {
					s += float64(v.At(i+di, j+dj, k+dk))
					n++
				}
			}
		}
	}
	if n == 0 {
		t.Fatalf("world %v (index %v) outside volume %v", w, idx, v.Dims)
	}
	return s / float64(n)
}

func TestLoadLIDC(t *testing.T) {
	if testing.Short() {
		t.Skip("full LIDC load skipped in -short mode")
	}
	sc, err := Load(dataDir(t, "lidc-idri-0001"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	v := sc.HU
	if v.Dims != [3]int{512, 512, 133} {
		t.Fatalf("dims %v", v.Dims)
	}
	if math.Abs(v.Spacing[0]-0.703125) > 1e-6 || math.Abs(v.Spacing[1]-0.703125) > 1e-6 || math.Abs(v.Spacing[2]-2.5) > 1e-3 {
		t.Errorf("spacing %v", v.Spacing)
	}
	if len(sc.Positions) != 133 || math.Abs(sc.Positions[0][2]+340) > 1e-3 || math.Abs(sc.Positions[132][2]+10) > 1e-3 {
		t.Fatalf("z range %v … %v", sc.Positions[0], sc.Positions[len(sc.Positions)-1])
	}
	for k := 1; k < len(sc.Positions); k++ {
		if sc.Positions[k][2] <= sc.Positions[k-1][2] {
			t.Fatalf("positions not ascending at %d: %v %v", k, sc.Positions[k-1], sc.Positions[k])
		}
	}
	if v.Origin != sc.Positions[0] {
		t.Errorf("origin %v != first position %v", v.Origin, sc.Positions[0])
	}
	// Slice k lies at Positions[k] through the grid too.
	for _, k := range []int{0, 57, 132} {
		w := v.IndexToWorld(volume.Vec3{0, 0, float64(k)})
		for a := 0; a < 3; a++ {
			if math.Abs(w[a]-sc.Positions[k][a]) > 1e-3 {
				t.Fatalf("slice %d at %v, position %v", k, w, sc.Positions[k])
			}
		}
	}
	// Padding (stored -1024 → -2048 HU outside the circle) is kept by
	// Load (step 1 of the hounsfield rule) and becomes air in step 2:
	// nothing below -1024 HU remains, the corner voxel is -1000.
	if c := v.At(0, 0, 60); c != -2048 {
		t.Errorf("corner voxel %d HU before the normalisation, want -2048", c)
	}
	if n := hounsfield.Normalize(v.Data); n < len(v.Data)/10 {
		t.Errorf("normalisation replaced %d voxels, want the scan circle's outside", n)
	}
	mn := int16(math.MaxInt16)
	for _, x := range v.Data {
		mn = min(mn, x)
	}
	if mn < -1024 {
		t.Errorf("min HU %d: out-of-circle padding not replaced", mn)
	}
	if c := v.At(0, 0, 60); c != -1000 {
		t.Errorf("corner voxel %d HU, want -1000 (padding)", c)
	}
	// Air outside the body but inside the scan circle: near -1000.
	if m := mean3(t, v, v.IndexToWorld(volume.Vec3{256, 40, 60})); m > -900 || m < -1030 {
		t.Errorf("air in front of the chest %.1f HU, want ≈ -1000", m)
	}
	// The LUNA16 nodule.
	if m := mean3(t, v, volume.Vec3{56.21, 86.34, -115.87}); m <= -100 {
		t.Errorf("nodule 3×3×3 mean %.1f HU, want > -100", m)
	}
	t.Logf("warnings: %q", sc.Warnings)
}

// lidcSubset is the README's 16-slice subset around the nodule.
var lidcSubset = []string{"000053", "000058", "000082", "000071", "000123", "000080", "000061", "000041", "000003", "000104", "000030", "000025", "000077", "000096", "000111", "000046"}

func TestLoadLIDCSubset(t *testing.T) {
	dir := lidcSeriesDir(t)
	var files []string
	for _, f := range lidcSubset {
		files = append(files, filepath.Join(dir, f+".dcm"))
	}
	sc, err := LoadFiles(files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	v := sc.HU
	hounsfield.Normalize(v.Data) // step 2 of the rule, as preprocess applies it
	if v.Dims != [3]int{512, 512, 16} {
		t.Fatalf("dims %v", v.Dims)
	}
	if math.Abs(sc.Positions[0][2]+132.5) > 1e-3 || math.Abs(sc.Positions[15][2]+95) > 1e-3 {
		t.Errorf("z %v … %v, want -132.5 … -95", sc.Positions[0][2], sc.Positions[15][2])
	}
	if math.Abs(v.Spacing[2]-2.5) > 1e-3 {
		t.Errorf("slice step %v", v.Spacing[2])
	}
	if m := mean3(t, v, volume.Vec3{56.21, 86.34, -115.87}); m <= -100 {
		t.Errorf("nodule 3×3×3 mean %.1f HU, want > -100", m)
	}
	if len(sc.Warnings) != 0 {
		t.Errorf("unexpected warnings %q", sc.Warnings)
	}
	// Every slice's HU equal pydicom's (stored*slope+intercept, the
	// documented padding rule) at the same position.
	ref := pyRef(t, files)
	plane := 512 * 512
	for k := 0; k < 16; k++ {
		var f *pyFrame
		for _, p := range ref {
			if len(p.Frames) == 1 && math.Abs(p.Frames[0].IPP[2]-sc.Positions[k][2]) < 1e-3 {
				f = &p.Frames[0]
			}
		}
		if f == nil {
			t.Fatalf("slice %d: no pydicom file at z %v", k, sc.Positions[k][2])
		}
		hu := make([]int32, plane)
		for i, x := range v.Data[k*plane : (k+1)*plane] {
			hu[i] = int32(x)
		}
		n, mn, mx, sum, wsum := stats(hu)
		if n != f.N || mn != f.Humin || mx != f.Humax || sum != f.Husum || wsum != f.Huwsum {
			t.Errorf("slice %d: HU n/min/max/sum/wsum %d %d %d %d %d, pydicom %d %d %d %d %d", k, n, mn, mx, sum, wsum, f.N, f.Humin, f.Humax, f.Husum, f.Huwsum)
		}
	}
}

func TestScanDirLIDC(t *testing.T) {
	ss, err := ScanDir(dataDir(t, "lidc-idri-0001"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 || ss[0].NumSlices != 133 || ss[0].Modality != "CT" || ss[0].Rows != 512 || ss[0].Orientation != "axial" || len(ss[0].Files) != 133 {
		t.Fatalf("series %+v", ss)
	}
	_, err = Load(dataDir(t, "lidc-idri-0001"), Options{SeriesUID: "1.2.3"})
	if !errors.Is(err, ErrSeriesNotFound) {
		t.Fatalf("unknown series: %v", err)
	}
}

func TestLoadSiemensPositiveZ(t *testing.T) {
	sc, err := Load(dataDir(t, "lung-pet-ct-dx-a0002-siemens"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	v := sc.HU
	if v.Dims != [3]int{512, 512, 30} || math.Abs(v.Spacing[0]-0.646484375) > 1e-6 || math.Abs(v.Spacing[2]-8) > 1e-3 {
		t.Fatalf("dims %v spacing %v", v.Dims, v.Spacing)
	}
	if math.Abs(sc.Positions[0][2]-80) > 1e-3 || math.Abs(sc.Positions[29][2]-312) > 1e-3 || v.Direction[2][2] != 1 {
		t.Fatalf("z %v … %v direction %v", sc.Positions[0][2], sc.Positions[29][2], v.Direction)
	}
	// The vendor's kernel name, as pydicom reads (0018,1210).
	if sc.Info.ConvolutionKernel != "B40f" {
		t.Errorf("convolution kernel %q, want B40f", sc.Info.ConvolutionKernel)
	}
	// Independent truth: the per-slice tumour boxes and their mean HU
	// (computed from the source pixels when the data set was prepared).
	raw, err := os.ReadFile(filepath.Join(dataDir(t, "lung-pet-ct-dx-a0002-siemens"), "truth_tumor_boxes_world_derived.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(string(raw)), "\n")[1:]
	if len(rows) < 5 {
		t.Fatalf("only %d truth rows", len(rows))
	}
	for _, line := range rows {
		f := strings.Split(line, ",")
		var z, want float64
		var x0, y0, x1, y1 int
		for _, c := range []struct {
			s string
			v any
		}{{f[3], &z}, {f[4], &x0}, {f[5], &y0}, {f[6], &x1}, {f[7], &y1}, {f[12], &want}} {
			if _, err := fmt.Sscan(c.s, c.v); err != nil {
				t.Fatalf("truth row %q: %v", line, err)
			}
		}
		k := int(math.Round((z - sc.Positions[0][2]) / 8))
		if k < 0 || k >= 30 || math.Abs(sc.Positions[k][2]-z) > 1e-3 {
			t.Fatalf("no slice at z %v", z)
		}
		var s float64
		for j := y0; j < y1; j++ {
			for i := x0; i < x1; i++ {
				s += float64(v.At(i, j, k))
			}
		}
		got := s / float64((x1-x0)*(y1-y0)) // numpy-style half-open box
		if math.Abs(got-want) > 1.5 {
			t.Errorf("z %.0f box mean %.1f HU, truth %.1f HU", z, got, want)
		}
	}
}

func BenchmarkLoadLIDC(b *testing.B) {
	d := dataDir(b, "lidc-idri-0001")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(d, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadLIDCReuse loads into a reused volume (Options.Reuse), the
// steady state of a batch run.
func BenchmarkLoadLIDCReuse(b *testing.B) {
	d := dataDir(b, "lidc-idri-0001")
	sc, err := Load(d, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(d, Options{Reuse: sc.HU}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestReuseGivesSameVolume(t *testing.T) {
	dir := lidcSeriesDir(t)
	var files []string
	for _, f := range lidcSubset {
		files = append(files, filepath.Join(dir, f+".dcm"))
	}
	a, err := LoadFiles(files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	big := volume.New[int16](volume.Grid{Dims: [3]int{512, 512, 20}})
	for i := range big.Data {
		big.Data[i] = 12345
	}
	b, err := LoadFiles(files, Options{Reuse: big})
	if err != nil {
		t.Fatal(err)
	}
	if b.HU != big || b.HU.Grid != a.HU.Grid || len(b.HU.Data) != len(a.HU.Data) {
		t.Fatalf("reuse: grid %+v vs %+v", b.HU.Grid, a.HU.Grid)
	}
	for i := range a.HU.Data {
		if a.HU.Data[i] != b.HU.Data[i] {
			t.Fatalf("voxel %d: %d vs %d", i, a.HU.Data[i], b.HU.Data[i])
		}
	}
}

// BenchmarkScanDirLIDC lists the series of the LIDC folder (headers only).
func BenchmarkScanDirLIDC(b *testing.B) {
	d := dataDir(b, "lidc-idri-0001")
	for b.Loop() {
		if _, err := ScanDir(d); err != nil {
			b.Fatal(err)
		}
	}
}
