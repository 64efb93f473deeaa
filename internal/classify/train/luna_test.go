package train

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/classify"
	"github.com/lungctl/lungctl/internal/shareddata"
	"github.com/lungctl/lungctl/internal/volio"
	"github.com/lungctl/lungctl/internal/volume"
)

// linearVolume fills a volume with HU = round(a·x + b·y + c·z + d) of each
// voxel's world position (LPS mm).
func linearVolume(g volume.Grid, coef [4]float64) *volume.Volume[int16] {
	v := volume.New[int16](g)
	for k := 0; k < g.Dims[2]; k++ {
		for j := 0; j < g.Dims[1]; j++ {
			for i := 0; i < g.Dims[0]; i++ {
				w := g.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
				v.Set(i, j, k, int16(math.Round(coef[0]*w[0]+coef[1]*w[1]+coef[2]*w[2]+coef[3])))
			}
		}
	}
	return v
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadLUNA(t *testing.T) {
	dir := t.TempDir()
	g := volume.Grid{Dims: [3]int{40, 40, 20}, Spacing: volume.Vec3{0.8, 0.8, 2}, Origin: volume.Vec3{-16, -16, -20}, Direction: volume.Identity}
	v := linearVolume(g, [4]float64{1, 2, 3, -500})
	uid, absent := "1.2.3", "9.9.9"
	// LUNA16 layout: one folder per subset; only subset3 is here
	writeFile(t, filepath.Join(dir, "subset3", uid+".mhd"), "stub; read by the test's ReadHU")
	ann := "seriesuid,coordX,coordY,coordZ,diameter_mm,mal_bool,mal_details\n" +
		uid + ",1,2,-3,10,True,\"[4, 2, 4, 2]\"\n" +
		uid + ",-5,0,0,5,False,\"[3, 2, 3]\"\n" +
		uid + ",0,1,0,4,False,\n" + // no rating: skipped
		absent + ",0,0,0,6,True,\"[5, 5]\"\n" // no volume: skipped
	cands := "seriesuid,coordX,coordY,coordZ,class\n" +
		uid + ",0,0,0,0\n" + uid + ",1,2,-3,1\n" + uid + ",3,3,3,0\n" + uid + ",4,4,4,0\n"
	writeFile(t, filepath.Join(dir, "ann.csv"), ann)
	writeFile(t, filepath.Join(dir, "cand.csv"), cands)
	reads := 0
	read := func(p string) (*volume.Volume[int16], error) {
		reads++
		if filepath.Base(p) != uid+".mhd" {
			t.Fatalf("read %s", p)
		}
		return v, nil
	}
	opt := LUNAOptions{Annotations: filepath.Join(dir, "ann.csv"), Candidates: filepath.Join(dir, "cand.csv"),
		VolumeDir: dir, ReadHU: read, NegativesPerScan: 2, Seed: 1}
	d, err := loadLUNA(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	ex := d.examples
	if reads != 1 || len(ex) != 4 || d.scans != 1 {
		t.Fatalf("%d reads, %d examples, %d scans", reads, len(ex), d.scans)
	}
	// mean ratings 3.0 → malignant, 2.67 → benign; negatives benign
	if !ex[0].label || ex[1].label || ex[2].label || ex[3].label {
		t.Fatalf("labels %v %v %v %v", ex[0].label, ex[1].label, ex[2].label, ex[3].label)
	}
	if len(d.skipped) != 2 || !strings.Contains(strings.Join(d.skipped, "\n"), absent) {
		t.Fatalf("skipped %q: want the unrated row and the series without a volume", d.skipped)
	}
	if len(d.tables) != 2 || d.tables[0].Rows != 2 || d.tables[1].Rows != 2 || len(d.tables[0].SHA256) != 64 || d.column != "mal_details" {
		t.Fatalf("tables %+v, column %s", d.tables, d.column)
	}
	// The cards' hashes are the files' (streamed, not read whole).
	for i, f := range []string{opt.Annotations, opt.Candidates} {
		b, _ := os.ReadFile(f)
		if sum := sha256.Sum256(b); d.tables[i].SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: card sha256 %s, file's %x", f, d.tables[i].SHA256, sum)
		}
	}
	// the crop must give the same patch as the full volume
	spec := classify.PatchSpec{Size: 16, SpacingMM: 1, Norm: classify.Norm{MinHU: -1000, MaxHU: 1000, OutsideHU: -1000}}
	a, b := make([]float32, 4096), make([]float32, 4096)
	for _, e := range ex {
		classify.ExtractPatch(v, e.World, spec, nil, a)
		classify.ExtractPatch(e.Vol, e.World, spec, nil, b)
		if !equalF32(a, b) {
			t.Fatalf("%s: cropped patch differs from the full-volume patch", e.info)
		}
	}
	// a boolean column by name, threshold unused
	opt2 := LUNAOptions{Annotations: filepath.Join(dir, "ann.csv"), MalignancyColumn: "mal_bool", VolumeDir: dir, ReadHU: read}
	d, err = loadLUNA(context.Background(), opt2)
	if err != nil || len(d.examples) != 3 || !d.examples[0].label || d.examples[1].label {
		t.Fatalf("mal_bool: %v, %d examples", err, len(d.examples))
	}
	opt2.VolumeDir = t.TempDir()
	if _, err = loadLUNA(context.Background(), opt2); !errors.Is(err, ErrNoVolume) {
		t.Fatalf("no volumes at all: %v", err)
	}
}

// TestLoadLUNAWithVolio writes a small LPS volume as .nii.gz with volio and
// loads examples through the default reader: patches from the crops must
// equal patches from the in-memory volume.
func TestLoadLUNAWithVolio(t *testing.T) {
	dir := t.TempDir()
	g := volume.Grid{Dims: [3]int{30, 28, 12}, Spacing: volume.Vec3{0.9, 0.9, 2.5}, Origin: volume.Vec3{-10, 5, -30}, Direction: volume.Identity}
	v := linearVolume(g, [4]float64{2, -1, 3, -400})
	uid := "1.3.6.1.4.1.99"
	if err := volio.WriteNIfTI(filepath.Join(dir, uid+".nii.gz"), v, volio.NIfTIOptions{}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "a.csv"), "seriesuid,coordX,coordY,coordZ,diameter_mm,malignancy\n"+uid+",3,16,-18,12,4\n"+uid+",0,12,-20,4,1.5\n")
	d, err := loadLUNA(context.Background(), LUNAOptions{Annotations: filepath.Join(dir, "a.csv"), VolumeDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ex := d.examples
	if len(ex) != 2 || !ex[0].label || ex[1].label {
		t.Fatalf("examples %+v", ex)
	}
	spec := classify.PatchSpec{Size: 16, SpacingMM: 1, Norm: classify.Norm{MinHU: -1000, MaxHU: 1000, OutsideHU: -1000}}
	a, b := make([]float32, 4096), make([]float32, 4096)
	for _, e := range ex {
		classify.ExtractPatch(v, e.World, spec, nil, a)
		classify.ExtractPatch(e.Vol, e.World, spec, nil, b)
		for i := range a {
			if math.Abs(float64(a[i]-b[i])) > 1e-6 {
				t.Fatalf("%s: sample %d: %g from the NIfTI crop, %g in memory", e.info, i, b[i], a[i])
			}
		}
	}
}

// TestLUNAAnnotationsReal parses the official LUNA16 table with malignancy
// for LIDC-IDRI-0001.
func TestLUNAAnnotationsReal(t *testing.T) {
	p := shareddata.Path("lidc-idri-0001", "truth_luna16_annotations_with_malignancy.csv")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared data not found: %v", err)
	}
	var d lunaData
	pts, tab, err := readAnnotations(LUNAOptions{Annotations: p, MalignantMin: 3}, &d)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 1 || !pts[0].label || math.Abs(pts[0].world[2]-(-115.8675792)) > 1e-6 || d.column != "mal_details" || tab.SHA256 == "" {
		t.Fatalf("LIDC-IDRI-0001 nodule (ratings 5/5/5/4) read as %+v (column %s)", pts, d.column)
	}
}
