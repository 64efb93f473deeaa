package export

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/volio"
	"github.com/lungctl/lungctl/internal/volume"
)

// markupsSchema is testdata/markups-structure.schema.json: a schema written
// for these tests from Slicer's published markups-schema-v1.0.3.json (see
// its $comment); the official file is not committed here.
var markupsSchema = filepath.Join("testdata", "markups-structure.schema.json")

func TestMarkupsFollowSlicerSchema(t *testing.T) {
	fs := lidcFindings()
	path := filepath.Join(t.TempDir(), "scan.mrk.json")
	if err := WriteMarkups(path, fs); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Schema  string `json:"@schema"`
		Markups []struct {
			Type, CoordinateSystem, CoordinateUnits string
			ControlPoints                           []struct {
				ID, Label, Description, PositionStatus string
				Position                               []float64
			}
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Markups) != 1 || doc.Markups[0].Type != "Fiducial" || doc.Markups[0].CoordinateSystem != "LPS" || doc.Markups[0].CoordinateUnits != "mm" {
		t.Fatalf("want one Fiducial markup in LPS mm, got %+v", doc.Markups)
	}
	cps := doc.Markups[0].ControlPoints
	if len(cps) != len(fs) {
		t.Fatalf("%d control points for %d findings", len(cps), len(fs))
	}
	for i, cp := range cps {
		for a := 0; a < 3; a++ {
			if math.Abs(cp.Position[a]-fs[i].CentreLPS[a]) > 1e-9 {
				t.Errorf("point %d position %v, want %v (LPS mm)", i, cp.Position, fs[i].CentreLPS)
			}
		}
		if cp.Label != fs[i].label() || cp.PositionStatus != "defined" {
			t.Errorf("point %d label %q status %q", i, cp.Label, cp.PositionStatus)
		}
	}
	for _, want := range []string{"long axis 25.5 mm", "short axis 19.2 mm", "mean diameter 22.4 mm", "volume 6124 mm³",
		"part-solid", "Lung-RADS 4B", "Brock 0.31", "CNN 0.87", "juxtapleural"} {
		if !strings.Contains(cps[0].Description, want) {
			t.Errorf("description %q lacks %q", cps[0].Description, want)
		}
	}
	if cps[1].Label != "N2" || strings.Contains(cps[1].Description, "NaN") || !strings.Contains(cps[1].Description, "mean diameter 6.5 mm") {
		t.Errorf("second point: label %q description %q", cps[1].Label, cps[1].Description)
	}

	py := python(t, "jsonschema")
	if out := runPy(t, py, "validate_markups.py", markupsSchema, path); strings.TrimSpace(out) != "ok" {
		t.Fatalf("schema validation: %s", out)
	}
	// The validator must be able to say no: a document with an unknown
	// coordinate system and a 2-element position fails.
	bad := strings.Replace(string(b), `"coordinateSystem": "LPS"`, `"coordinateSystem": "XYZ"`, 1)
	badPath := filepath.Join(t.TempDir(), "bad.mrk.json")
	if err := os.WriteFile(badPath, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(py, filepath.Join("testdata", "validate_markups.py"), markupsSchema, badPath)
	if err == nil || !strings.Contains(out, "coordinateSystem") {
		t.Fatalf("the schema check accepted a bad document: %v %s", err, out)
	}
}

func TestMarkupsRejectBadFindings(t *testing.T) {
	dir := t.TempDir()
	for name, mutate := range map[string]func(f *Finding){
		"rank 0":        func(f *Finding) { f.Rank = 0 },
		"rank 256":      func(f *Finding) { f.Rank = 256 },
		"NaN centre":    func(f *Finding) { f.CentreLPS[1] = math.NaN() },
		"Inf centre":    func(f *Finding) { f.CentreLPS[2] = math.Inf(1) },
		"unknown type":  func(f *Finding) { f.Type = "glass" },
		"bad Lung-RADS": func(f *Finding) { f.LungRADS = "5" },
		"score > 1":     func(f *Finding) { f.Brock = 1.5 },
		"negative size": func(f *Finding) { f.VolumeMM3 = -3 },
		"lobulation 2":  func(f *Finding) { f.Lobulation = 2 },
		"pleura -1 mm":  func(f *Finding) { f.PleuraDistanceMM = -1 },
	} {
		fs := lidcFindings()
		mutate(&fs[0])
		path := filepath.Join(dir, "x.mrk.json")
		err := WriteMarkups(path, fs)
		if !errors.Is(err, ErrFindings) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: err %v, want ErrFindings naming the file", name, err)
		}
		if _, err := os.Stat(path); err == nil {
			t.Errorf("%s: a file was written", name)
		}
	}
	fs := lidcFindings()
	fs[1].Rank = 1
	if err := WriteMarkups(filepath.Join(dir, "dup.mrk.json"), fs); !errors.Is(err, ErrFindings) {
		t.Errorf("duplicate rank: %v", err)
	}
	// No findings is a valid (empty) point list.
	if err := WriteMarkups(filepath.Join(dir, "none.mrk.json"), nil); err != nil {
		t.Errorf("no findings: %v", err)
	}
}

// TestLabelMapNibabel: nibabel (independent NIfTI reader) must find each
// label's voxels around its finding's LPS centre.
func TestLabelMapNibabel(t *testing.T) {
	for _, tc := range []func(testing.TB) *testCase{
		func(tb testing.TB) *testCase { return lidcCase(tb, false) },
		syntheticCase,
	} {
		c := tc(t)
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "labels.nii.gz")
			if err := WriteLabelMap(path, c.labels); err != nil {
				t.Fatal(err)
			}
			back, err := volio.ReadMask(path)
			if err != nil {
				t.Fatal(err)
			}
			if back.Grid != c.labels.Grid && !sameGrid(back.Grid, c.labels.Grid) {
				t.Fatalf("grid round trip: %+v vs %+v", back.Grid, c.labels.Grid)
			}
			for i := range back.Data {
				if back.Data[i] != c.labels.Data[i] {
					t.Fatalf("voxel %d: %d, wrote %d", i, back.Data[i], c.labels.Data[i])
				}
			}
			py := python(t, "nibabel", "numpy")
			var got struct {
				Shape  []int
				Dtype  string
				Labels map[string]struct {
					Count int
					LPS   [3]float64
				}
			}
			if err := json.Unmarshal([]byte(runPy(t, py, "check_labelmap.py", path)), &got); err != nil {
				t.Fatal(err)
			}
			if got.Dtype != "uint8" || len(got.Shape) != 3 || got.Shape[0] != c.labels.Dims[0] || got.Shape[2] != c.labels.Dims[2] {
				t.Fatalf("nibabel sees %s %v, want uint8 %v", got.Dtype, got.Shape, c.labels.Dims)
			}
			if len(got.Labels) != len(c.findings) {
				t.Fatalf("nibabel sees labels %v, want %d", got.Labels, len(c.findings))
			}
			for _, f := range c.findings {
				l, ok := got.Labels[itoa(f.Rank)]
				if !ok {
					t.Fatalf("label %d missing", f.Rank)
				}
				d := dist(l.LPS, f.CentreLPS)
				t.Logf("label %d: %d voxels, nibabel centroid %.2f %.2f %.2f LPS mm, %.2f mm from the finding", f.Rank, l.Count, l.LPS[0], l.LPS[1], l.LPS[2], d)
				if d > 0.6 {
					t.Errorf("label %d: centroid %v is %.2f mm from the finding's centre %v", f.Rank, l.LPS, d, f.CentreLPS)
				}
			}
		})
	}
}

func TestLabelMapRejects(t *testing.T) {
	dir := t.TempDir()
	if err := WriteLabelMap(filepath.Join(dir, "a.nii"), nil); !errors.Is(err, ErrLabels) {
		t.Errorf("nil volume: %v", err)
	}
	v := &volume.Volume[uint8]{Grid: volume.Grid{Dims: [3]int{2, 2, 2}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}, Data: make([]uint8, 7)}
	if err := WriteLabelMap(filepath.Join(dir, "b.nii"), v); !errors.Is(err, ErrLabels) {
		t.Errorf("short data: %v", err)
	}
}

func sameGrid(a, b volume.Grid) bool {
	if a.Dims != b.Dims {
		return false
	}
	for r := 0; r < 3; r++ {
		if math.Abs(a.Spacing[r]-b.Spacing[r]) > 1e-5 || math.Abs(a.Origin[r]-b.Origin[r]) > 1e-4 {
			return false
		}
		for c := 0; c < 3; c++ {
			if math.Abs(a.Direction[r][c]-b.Direction[r][c]) > 1e-5 {
				return false
			}
		}
	}
	return true
}

func dist(a, b [3]float64) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}
