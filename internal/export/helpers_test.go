package export

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/lungctl/lungctl/internal/dicomio"
	"github.com/lungctl/lungctl/internal/phantom"
	"github.com/lungctl/lungctl/internal/resample"
	"github.com/lungctl/lungctl/internal/shareddata"
	"github.com/lungctl/lungctl/internal/volume"
)

// The LIDC-IDRI-0001 nodule (LUNA16 annotation), LPS world mm.
var lidcNodule = [3]float64{56.21, 86.34, -115.87}

// lidcSubset is the 16-slice subset of LIDC-IDRI-0001 around the nodule
// (z −132.5 … −95.0 mm) listed in shared/data/README.md.
var lidcSubset = strings.Fields("000053 000058 000082 000071 000123 000080 000061 000041 000003 000104 000030 000025 000077 000096 000111 000046")

// testCase is a source series with its references, a 1 mm label volume on
// the grid lungctl's preprocess would produce for it, and findings.
type testCase struct {
	name     string
	files    []string // the source series' files
	refs     *dicomio.SeriesRefs
	labels   *volume.Volume[uint8]
	findings []Finding
}

// lidcFiles returns LIDC-IDRI-0001's files: the 16-slice subset, or all 133
// when full; it skips when the shared data are absent.
func lidcFiles(t testing.TB, full bool) []string {
	t.Helper()
	root := shareddata.Dir(t, "lidc-idri-0001", "LIDC-IDRI-0001")
	all, _ := filepath.Glob(filepath.Join(root, "*", "*", "*.dcm"))
	if len(all) != 133 {
		t.Fatalf("%s: %d .dcm files, want 133", root, len(all))
	}
	if full {
		return all
	}
	dir := filepath.Dir(all[0])
	out := make([]string, len(lidcSubset))
	for i, n := range lidcSubset {
		out[i] = filepath.Join(dir, n+".dcm")
	}
	return out
}

// labelGrid loads the series with dicomio and returns the 1 mm grid
// resample.Stack would write for it (the grid of lungctl's <id>.nii.gz).
func labelGrid(t testing.TB, files []string) volume.Grid {
	t.Helper()
	scan, err := dicomio.LoadFiles(files, dicomio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := resample.OutputGrid(scan.HU.Grid, scan.Positions, volume.Vec3{1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// paintBall sets every voxel whose centre lies within radius mm of the LPS
// point c to value v; it returns how many voxels it set.
func paintBall(v *volume.Volume[uint8], c [3]float64, radius float64, val uint8) int {
	idx := v.WorldToIndex(c)
	r := int(math.Ceil(radius/math.Min(v.Spacing[0], math.Min(v.Spacing[1], v.Spacing[2])))) + 1
	n := 0
	for k := int(idx[2]) - r; k <= int(idx[2])+r; k++ {
		for j := int(idx[1]) - r; j <= int(idx[1])+r; j++ {
			for i := int(idx[0]) - r; i <= int(idx[0])+r; i++ {
				if !v.In(i, j, k) {
					continue
				}
				w := v.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
				d := math.Sqrt((w[0]-c[0])*(w[0]-c[0]) + (w[1]-c[1])*(w[1]-c[1]) + (w[2]-c[2])*(w[2]-c[2]))
				if d <= radius {
					v.Set(i, j, k, val)
					n++
				}
			}
		}
	}
	return n
}

// lidcFindings are two findings on LIDC-IDRI-0001: the real nodule (with
// every field set) and a second, made-up one with most fields unknown.
func lidcFindings() []Finding {
	nan := math.NaN()
	return []Finding{
		{Rank: 1, Label: "N1", CentreLPS: lidcNodule, LongAxisMM: 25.5, ShortAxisMM: 19.25, MeanDiameterMM: 22.375,
			VolumeMM3: 6123.5, SolidDiameterMM: 21.5, Type: "part-solid", LungRADS: "4B", Brock: 0.31, CNN: 0.87,
			Spiculation: 0.42, Lobulation: 0.34, PleuraDistanceMM: 0, Description: "juxtapleural, right lower lobe"},
		{Rank: 2, CentreLPS: [3]float64{-60, 40, -110}, LongAxisMM: nan, ShortAxisMM: nan, MeanDiameterMM: 6.5,
			VolumeMM3: nan, SolidDiameterMM: nan, Brock: nan, CNN: 0.12, Spiculation: nan, Lobulation: nan,
			PleuraDistanceMM: 15, PleuraBeyond: true},
	}
}

// The cases are built once per test binary and shared; tests must not
// modify them (copy what they change). cacheDir holds the phantom's files
// and is removed by TestMain.
var (
	caseMu   sync.Mutex
	cases    = map[string]*testCase{}
	cacheDir string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if cacheDir != "" {
		if err := os.RemoveAll(cacheDir); err != nil {
			fmt.Fprintln(os.Stderr, "export tests: removing the cache:", err)
		}
	}
	os.Exit(code)
}

// cached returns the case named name, building it with build the first
// time.
func cached(t testing.TB, name string, build func() *testCase) *testCase {
	t.Helper()
	caseMu.Lock()
	defer caseMu.Unlock()
	if c := cases[name]; c != nil {
		return c
	}
	c := build()
	cases[name] = c
	return c
}

// lidcCase builds the LIDC-IDRI-0001 case: a 10 mm ball (label 1) at the
// nodule and a 6 mm ball (label 2) at the second finding.
func lidcCase(t testing.TB, full bool) *testCase {
	t.Helper()
	name := "lidc16"
	if full {
		name = "lidc133"
	}
	return cached(t, name, func() *testCase { return buildLIDCCase(t, name, full) })
}

func buildLIDCCase(t testing.TB, name string, full bool) *testCase {
	t.Helper()
	files := lidcFiles(t, full)
	labels := volume.New[uint8](labelGrid(t, files))
	fs := lidcFindings()
	if paintBall(labels, fs[0].CentreLPS, 5, 1) == 0 || paintBall(labels, fs[1].CentreLPS, 3, 2) == 0 {
		t.Fatal("a ball fell outside the label grid")
	}
	refs, err := dicomio.ReadRefsFiles(files, dicomio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &testCase{name: name, files: files, refs: refs, labels: labels, findings: fs}
}

// syntheticCase writes a small phantom chest (128×128×64, 2.5 mm) as a
// DICOM series and labels a ball of each true nodule's diameter.
func syntheticCase(t testing.TB) *testCase {
	t.Helper()
	return cached(t, "phantom", func() *testCase { return buildSyntheticCase(t) })
}

func buildSyntheticCase(t testing.TB) *testCase {
	t.Helper()
	c, err := phantom.Generate(phantom.Options{Seed: 11, Nodules: 3, MinDiameterMM: 8, MaxDiameterMM: 16, NoiseHU: -1})
	if err != nil {
		t.Fatal(err)
	}
	if cacheDir == "" {
		var err error
		if cacheDir, err = os.MkdirTemp("", "export-test-"); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(cacheDir, "phantom")
	if err := phantom.WriteDICOM(dir, c); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range ents {
		files = append(files, filepath.Join(dir, e.Name()))
	}
	sort.Strings(files)
	labels := volume.New[uint8](labelGrid(t, files))
	var fs []Finding
	nan := math.NaN()
	for i, n := range c.Nodules {
		r := i + 1
		if paintBall(labels, n.World, n.DiameterMM/2, uint8(r)) == 0 {
			t.Fatalf("nodule %d at %v outside the label grid", r, n.World)
		}
		fs = append(fs, Finding{Rank: r, CentreLPS: n.World, LongAxisMM: n.DiameterMM, ShortAxisMM: n.DiameterMM,
			MeanDiameterMM: n.DiameterMM, VolumeMM3: math.Pi / 6 * n.DiameterMM * n.DiameterMM * n.DiameterMM,
			SolidDiameterMM: nan, Type: "solid", LungRADS: "3", Brock: nan, CNN: 0.5, Spiculation: nan,
			Lobulation: nan, PleuraDistanceMM: 4.5, Description: "phantom " + string(n.Kind)})
	}
	refs, err := dicomio.ReadRefs(dir, dicomio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &testCase{name: "phantom", files: files, refs: refs, labels: labels, findings: fs}
}

// enhancedCase is an Enhanced CT (one file, two frames 10 mm apart, rows
// running towards −x) from shared/data/odd: the SEG must reference frames
// by number. One finding, a 12 mm ball between the frames.
func enhancedCase(t testing.TB) *testCase {
	t.Helper()
	return cached(t, "enhanced", func() *testCase {
		files := []string{filepath.Join(shareddata.Dir(t, "odd", "suyashkumar-dicom"), "5.dcm")}
		labels := volume.New[uint8](labelGrid(t, files))
		refs, err := dicomio.ReadRefsFiles(files, dicomio.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(refs.Slices) != 2 || refs.Slices[0].Frame == 0 {
			t.Fatalf("enhanced CT: %d slices, frame %d", len(refs.Slices), refs.Slices[0].Frame)
		}
		// The centre pixel, half-way between the two frames.
		var c [3]float64
		for a := 0; a < 3; a++ {
			mid := (refs.Slices[0].Position[a] + refs.Slices[1].Position[a]) / 2
			c[a] = mid + float64(refs.Columns/2)*refs.PixelSpacing[1]*refs.Orientation[a] + float64(refs.Rows/2)*refs.PixelSpacing[0]*refs.Orientation[3+a]
		}
		if paintBall(labels, c, 6, 1) == 0 {
			t.Fatal("ball outside the grid")
		}
		nan := math.NaN()
		fs := []Finding{{Rank: 1, Label: "E1", CentreLPS: c, LongAxisMM: 12, ShortAxisMM: 12, MeanDiameterMM: 12,
			VolumeMM3: nan, SolidDiameterMM: nan, Brock: nan, CNN: nan, Spiculation: nan, Lobulation: nan,
			PleuraDistanceMM: nan}}
		return &testCase{name: "enhanced", files: files, refs: refs, labels: labels, findings: fs}
	})
}

// python returns /usr/bin/python3 when it imports every module in mods,
// else skips the test naming what is missing and the Debian package.
func python(t testing.TB, mods ...string) string {
	t.Helper()
	const py = "/usr/bin/python3"
	for _, m := range mods {
		if out, err := exec.Command(py, "-c", "import "+m).CombinedOutput(); err != nil {
			t.Skipf("independent check skipped: %s cannot import %s (Debian python3-%s): %v %s", py, m, m, err, strings.TrimSpace(string(out)))
		}
	}
	return py
}

// runPy runs testdata/<script> with args and returns its stdout; a non-zero
// exit fails the test with the script's stderr.
func runPy(t testing.TB, py, script string, args ...string) string {
	t.Helper()
	cmd := exec.Command(py, append([]string{filepath.Join("testdata", script)}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\nstdout:\n%s\nstderr:\n%s", script, args, err, out, stderr.String())
	}
	return string(out)
}

// tool returns the path of an installed command or skips the test.
func tool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("independent check skipped: %s not installed (Debian package %s)", name, pkg)
	}
	return p
}

// runCmd runs a command and returns its combined output and error.
func runCmd(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

func itoa(i int) string { return strconv.Itoa(i) }
