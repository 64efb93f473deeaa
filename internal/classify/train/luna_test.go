package train

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
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
	cat := newCatalog(map[string]string{lidcUID: lidcUID + ".mhd"})
	tab, err := readAnnotations(context.Background(), LUNAOptions{Annotations: p, MalignantMin: 3}, cat, &d)
	if err != nil {
		t.Fatal(err)
	}
	s := cat.series[lidcUID]
	if s == nil || len(s.ann) != 1 || !s.ann[0].label || math.Abs(s.ann[0].world[2]-(-115.8675792)) > 1e-6 || d.column != "mal_details" || tab.SHA256 == "" {
		t.Fatalf("LIDC-IDRI-0001 nodule (ratings 5/5/5/4) read as %+v (column %s)", s, d.column)
	}
}

// lunaFixture writes ann (and cand, when not empty) under a temporary
// folder with one faked volume, uid 1.2.3 (40×40×20 voxels of 0.8×0.8×2 mm
// from LPS (-16, -16, -20) mm: x and y -16.4…15.6 mm, z -21…19 mm), and
// returns options that read it.
func lunaFixture(t *testing.T, ann, cand string) LUNAOptions {
	t.Helper()
	dir := t.TempDir()
	g := volume.Grid{Dims: [3]int{40, 40, 20}, Spacing: volume.Vec3{0.8, 0.8, 2}, Origin: volume.Vec3{-16, -16, -20}, Direction: volume.Identity}
	v := linearVolume(g, [4]float64{1, 2, 3, -500})
	writeFile(t, filepath.Join(dir, "vols", "1.2.3.mhd"), "stub; read by the test's ReadHU")
	opt := LUNAOptions{Annotations: filepath.Join(dir, "ann.csv"), VolumeDir: filepath.Join(dir, "vols"), Seed: 1,
		ReadHU: func(string) (*volume.Volume[int16], error) { return v, nil }}
	writeFile(t, opt.Annotations, ann)
	if cand != "" {
		opt.Candidates = filepath.Join(dir, "cand.csv")
		writeFile(t, opt.Candidates, cand)
	}
	return opt
}

// TestLoadLUNAOffScan: a nodule or a candidate whose centre lies more than
// half a voxel outside its scan is refused, naming the table, line and the
// scan's extent; the half voxel beyond the grid's edge is inside.
func TestLoadLUNAOffScan(t *testing.T) {
	const head = "seriesuid,coordX,coordY,coordZ,malignancy\n"
	const candHead = "seriesuid,coordX,coordY,coordZ,class\n"
	for _, tc := range []struct {
		name, ann, cand, table, line string
	}{
		{"annotation far out", head + "1.2.3,0,0,0,4\n1.2.3,5000,5000,5000,4\n", "", "ann.csv", "line 3"},
		{"annotation just out in z", head + "1.2.3,0,0,19.01,4\n", "", "ann.csv", "line 2"},
		{"candidate far out", head + "1.2.3,0,0,0,4\n", candHead + "1.2.3,1,1,1,0\n1.2.3,-5000,0,0,0\n", "cand.csv", "line 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := lunaFixture(t, tc.ann, tc.cand)
			opt.NegativesPerScan = -1
			_, err := loadLUNA(context.Background(), opt)
			if !errors.Is(err, ErrOffScan) {
				t.Fatalf("got %v, want ErrOffScan", err)
			}
			for _, s := range []string{tc.table, tc.line, "scan 1.2.3", "x -16.4…15.6, y -16.4…15.6, z -21.0…19.0 mm", "1.2.3.mhd"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
		})
	}
	// the corners of the grid's half-voxel margin are inside
	opt := lunaFixture(t, head+"1.2.3,-16.4,15.6,-21,4\n1.2.3,15.6,-16.4,19,2\n", "")
	if d, err := loadLUNA(context.Background(), opt); err != nil || len(d.examples) != 2 {
		t.Fatalf("points on the half-voxel margin: %v", err)
	}
}

// TestParseMalignancyRange: LIDC ratings are 1 to 5 (a reader's an
// integer); anything else, NaN and infinities included, is refused, and
// loadLUNA names the table, line and column.
func TestParseMalignancyRange(t *testing.T) {
	for _, tc := range []struct {
		s       string
		boolCol bool
		want    bool
	}{
		{"3", false, true}, {"2.75", false, false}, {"1", false, false}, {"5", false, true},
		{"[4, 2, 4, 2]", false, true}, {"[3, 2, 3]", false, false}, {"[5]", false, true},
		{"True", false, true}, {"no", false, false}, {"1", true, true}, {"0", true, false}, {"False", true, false},
	} {
		got, _, err := parseMalignancy(tc.s, 3, tc.boolCol)
		if err != nil || got != tc.want {
			t.Errorf("parseMalignancy(%q, bool column %v) = %v, %v; want %v", tc.s, tc.boolCol, got, err, tc.want)
		}
	}
	for _, s := range []string{"NaN", "nan", "7", "-3", "0", "0.99", "5.01", "inf", "-Inf", "1e308",
		"[9, 9]", "[4, NaN]", "[4, inf]", "[2.5, 3]", "[0, 4]", "[4, 2", "[]", "[4, x]", "x"} {
		if _, _, err := parseMalignancy(s, 3, false); err == nil {
			t.Errorf("parseMalignancy(%q) accepted", s)
		}
	}
	opt := lunaFixture(t, "seriesuid,coordX,coordY,coordZ,mal_details\n1.2.3,0,0,0,\"[4, 4]\"\n1.2.3,0,0,0,\"[9, 9]\"\n", "")
	_, err := loadLUNA(context.Background(), opt)
	for _, s := range []string{"ann.csv", "line 3", "column mal_details", "[9, 9]", "1 to 5"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("rating [9, 9]: error %v does not name %q", err, s)
		}
	}
	opt = lunaFixture(t, "seriesuid,coordX,coordY,coordZ,malignancy\n1.2.3,0,0,0,NaN\n", "")
	if _, err := loadLUNA(context.Background(), opt); err == nil || !strings.Contains(err.Error(), "line 2: column malignancy") {
		t.Errorf("rating NaN: %v", err)
	}
}

// TestLoadLUNANoRatedRows: an annotations table without data rows, or
// whose malignancy cells are all empty, is ErrNoRated naming it, not "no
// volume for any series".
func TestLoadLUNANoRatedRows(t *testing.T) {
	for _, ann := range []string{
		"seriesuid,coordX,coordY,coordZ,malignancy\n",
		"seriesuid,coordX,coordY,coordZ,malignancy\n1.2.3,0,0,0,\n9.9.9,1,1,1,\n",
	} {
		opt := lunaFixture(t, ann, "")
		_, err := loadLUNA(context.Background(), opt)
		if !errors.Is(err, ErrNoRated) || errors.Is(err, ErrNoVolume) || !strings.Contains(err.Error(), opt.Annotations) ||
			!strings.Contains(err.Error(), "column malignancy") {
			t.Errorf("%q: %v, want ErrNoRated naming %s and the column", ann, err, opt.Annotations)
		}
	}
}

// TestReadNegativesBounded: the candidates table is streamed: rows of
// series without a volume are dropped as read (only counted), and a scan
// holds at most NegativesPerScan rows, a seeded sample that is the same
// for the same seed and does not depend on other scans' rows.
func TestReadNegativesBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("seriesuid,coordX,coordY,coordZ,class\n")
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&b, "9.%d,0,0,0,0\n", i%1000) // 1000 series without a volume
		fmt.Fprintf(&b, "1.2.3,%d,0,0,0\n", i)
		fmt.Fprintf(&b, "4.5.6,%d,1,1,%d\n", i, i%2)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "cand.csv")
	writeFile(t, path, b.String())
	files := map[string]string{"1.2.3": "a.mhd", "4.5.6": "b.mhd"}
	pick := func(seed uint64) []float64 {
		cat := newCatalog(files)
		if _, err := readNegatives(context.Background(), LUNAOptions{Candidates: path, NegativesPerScan: 7, Seed: seed}, cat); err != nil {
			t.Fatal(err)
		}
		if len(cat.series) != 2 || len(cat.missing.seen) != 1000 || cat.missing.first != "9.0" {
			t.Fatalf("%d series held, %d missing (first %q): want 2 and 1000 (9.0)", len(cat.series), len(cat.missing.seen), cat.missing.first)
		}
		s, s2 := cat.series["1.2.3"], cat.series["4.5.6"]
		if len(s.neg) != 7 || s.seen != 3000 || len(s2.neg) != 7 || s2.seen != 1500 {
			t.Fatalf("held %d of %d and %d of %d class-0 rows, want 7 of 3000 and 7 of 1500", len(s.neg), s.seen, len(s2.neg), s2.seen)
		}
		var x []float64
		for i, p := range s.neg {
			if i > 0 && p.line <= s.neg[i-1].line {
				t.Fatalf("picks not in table order: %+v", s.neg)
			}
			x = append(x, p.world[0])
		}
		return x
	}
	a, a2, c := pick(1), pick(1), pick(2)
	if !slices.Equal(a, a2) || slices.Equal(a, c) {
		t.Fatalf("seed 1 picks %v and %v, seed 2 %v: want the same for a seed, another for another", a, a2, c)
	}
	// the reservoir is uniform: each of 10 rows kept 3 times in 10
	counts := make([]int, 10)
	const runs = 4000
	for seed := uint64(0); seed < runs; seed++ {
		s := &series{uid: "1.2.3"}
		for i := 0; i < 10; i++ {
			s.addNegative(point{line: i}, 3, seed)
		}
		for _, p := range s.neg {
			counts[p.line]++
		}
	}
	for i, n := range counts {
		if f := float64(n) / runs; math.Abs(f-0.3) > 0.04 {
			t.Errorf("row %d kept in %.3f of runs, want 0.3", i, f)
		}
	}
}

// TestLoadLUNASkipsUnreadableVolumes: a volume the reader refuses costs its
// series only, recorded with an error naming the file once; none readable
// is ErrNoReadableVolume.
func TestLoadLUNASkipsUnreadableVolumes(t *testing.T) {
	const head = "seriesuid,coordX,coordY,coordZ,malignancy\n"
	opt := lunaFixture(t, head+"1.2.3,0,0,0,4\n4.5.6,0,0,0,2\n", "")
	writeFile(t, filepath.Join(opt.VolumeDir, "4.5.6.mhd"), "stub; refused by the test's ReadHU")
	good := opt.ReadHU
	bad := errors.New("corrupt")
	opt.ReadHU = func(p string) (*volume.Volume[int16], error) {
		if filepath.Base(p) == "4.5.6.mhd" {
			return nil, bad
		}
		return good(p)
	}
	d, err := loadLUNA(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(opt.VolumeDir, "4.5.6.mhd")
	if d.scans != 1 || len(d.examples) != 1 || len(d.failed) != 1 {
		t.Fatalf("%d scans, %d examples, %d failed; want 1, 1, 1", d.scans, len(d.examples), len(d.failed))
	}
	if f := d.failed[0]; f.Series != "4.5.6" || f.Path != path || f.Error != path+": corrupt" {
		t.Errorf("failure %+v", f)
	}
	opt.ReadHU = func(string) (*volume.Volume[int16], error) { return nil, bad }
	d, err = loadLUNA(context.Background(), opt)
	if !errors.Is(err, ErrNoReadableVolume) || len(d.failed) != 2 || !strings.Contains(err.Error(), "all 2 volumes failed") {
		t.Fatalf("no readable volume: %v, %d failed", err, len(d.failed))
	}
}
