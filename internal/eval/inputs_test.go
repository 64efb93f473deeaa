package eval

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/testfs"
)

// TestOutputNamesRule: names are unique across the files and never start
// with a dot; the usual cases keep the names they always had.
func TestOutputNamesRule(t *testing.T) {
	for _, tc := range []struct {
		paths, want []string
	}{
		{[]string{"out/candidates.csv"}, []string{"candidates"}},
		{[]string{"c.csv"}, []string{"c"}},
		{[]string{".hidden.csv"}, []string{"hidden"}},
		{[]string{"run1/candidates.csv", "run2/candidates.csv"}, []string{"run1_candidates", "run2_candidates"}},
		{[]string{"/abs/out-luna0/candidates.csv", "../out-luna1/candidates.csv"}, []string{"out-luna0_candidates", "out-luna1_candidates"}},
		// the probe's collision: both were a_c
		{[]string{"e4/a/c.csv", "e4/b/a/c.csv"}, []string{"e4_a_c", "b_a_c"}},
		// a file in the current folder was ._cands
		{[]string{"cands.csv", "csv/x.csv"}, []string{"cands", "csv_x"}},
		{[]string{"./cands.csv", "../x.csv"}, []string{"cands", "x"}},
		{[]string{"x/c.csv", "x/c.txt"}, []string{"x_c", "x_c_2"}},
		{[]string{"x/c.csv", "x/c.txt", "x_c_2.csv"}, []string{"x_c", "x_c_3", "x_c_2"}},
		{[]string{"../x/c.csv", "x/c.csv"}, []string{"x_c", "x_c_2"}},
		{[]string{".a/c.csv", "b/c.csv"}, []string{"a_c", "b_c"}},
	} {
		got := outputNames(tc.paths)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("outputNames(%q) = %q, want %q", tc.paths, got, tc.want)
		}
	}
}

// TestOutputNamesSameFile: the same file given twice (after cleaning the
// path, or through a link) is refused, naming both paths.
func TestOutputNamesSameFile(t *testing.T) {
	dir := t.TempDir()
	c := filepath.Join(dir, "cands.csv")
	testfs.WriteFile(t, c, []byte("seriesuid,coordX,coordY,coordZ,probability\n"))
	if err := os.Mkdir(filepath.Join(dir, "pp"), 0o755); err != nil {
		t.Fatal(err)
	}
	twice := filepath.Join(dir, "pp", "..", "cands.csv")
	_, err := OutputNames([]string{c, twice})
	if !errors.Is(err, ErrSameCandidates) || !strings.Contains(err.Error(), twice) {
		t.Errorf("same file twice: %v", err)
	}
	link := filepath.Join(dir, "link.csv")
	if err := os.Symlink(c, link); err == nil {
		if _, err := OutputNames([]string{c, link}); !errors.Is(err, ErrSameCandidates) {
			t.Errorf("same file through a link: %v", err)
		}
	}
	if _, err := OutputNames([]string{c, filepath.Join(dir, "missing.csv")}); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("missing file: %v", err)
	}
	if names, err := OutputNames([]string{c}); err != nil || names[0] != "cands" {
		t.Errorf("one file: %q %v", names, err)
	}
}

// TestReadCandidatesRefuses: a probability that is empty, NaN, infinite or
// not a number, and a column named twice, are errors naming the file, the
// line and the column.
func TestReadCandidatesRefuses(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cands.csv")
	const head = "seriesuid,coordX,coordY,coordZ,probability\n"
	for _, tc := range []struct{ body, want string }{
		{head + "A,1,2,3,0.5\nA,1,2,3,NaN\n", "line 3: column probability"},
		{head + "A,1,2,3,+Inf\n", "line 2: column probability"},
		{head + "A,1,2,3,0.5\n\nA,1,2,3,\n", "line 4: column probability: empty"},
		{head + "A,1,2,3\n", "line 2: column probability: empty"},
		{head + "A,1,2,3,high\n", "line 2: column probability"},
		{"seriesuid,coordX,coordY,coordZ,probability,coordX\nA,1,2,3,0.5,9\n", `column "coordX" appears twice (columns 2 and 6)`},
	} {
		testfs.WriteFile(t, p, []byte(tc.body))
		_, err := ReadCandidates(p)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error naming %s and %q", tc.body, err, p, tc.want)
		}
	}
	// Valid files read as candidate.Read reads them; scores outside 0-1
	// rank as the official script ranks them, with a note.
	testfs.WriteFile(t, p, []byte(head+"A,0,0,0,7\nA,90,0,0,-1\n"))
	cs, err := ReadCandidates(p)
	if err != nil || len(cs) != 2 || cs[0].Probability != 7 || cs[1].Probability != -1 {
		t.Fatalf("scores outside 0-1: %+v %v", cs, err)
	}
	ann := filepath.Join(dir, "ann.csv")
	testfs.WriteFile(t, ann, []byte("seriesuid,coordX,coordY,coordZ,diameter_mm\nA,0,0,0,10\n"))
	r, err := EvaluateFiles(Files{Annotations: ann, Candidates: p}, Options{})
	if err != nil || r.Detected != 1 || r.FalsePositives != 1 || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "outside [0, 1] (-1 to 7)") {
		t.Errorf("scores outside 0-1: %+v %v", r, err)
	}
	// A file without a probability column is still accepted (LUNA16's
	// candidates lists have none): every mark scores 0.
	testfs.WriteFile(t, p, []byte("seriesuid,coordX,coordY,coordZ,class\nA,0,0,0,1\n"))
	if cs, err := ReadCandidates(p); err != nil || len(cs) != 1 || cs[0].Probability != 0 {
		t.Errorf("no probability column: %+v %v", cs, err)
	}
}

// TestEvaluateFilesNaNNamesFile: a NaN probability read through
// EvaluateFiles names the candidates file and line.
func TestEvaluateFilesNaNNamesFile(t *testing.T) {
	dir := t.TempDir()
	ann, p := filepath.Join(dir, "ann.csv"), filepath.Join(dir, "cands.csv")
	testfs.WriteFile(t, ann, []byte("seriesuid,coordX,coordY,coordZ,diameter_mm\nA,0,0,0,10\n"))
	testfs.WriteFile(t, p, []byte("seriesuid,coordX,coordY,coordZ,probability\nA,0,0,0,NaN\n"))
	_, err := EvaluateFiles(Files{Annotations: ann, Candidates: p}, Options{})
	if err == nil || !strings.Contains(err.Error(), p+": line 2: column probability") {
		t.Errorf("got %v", err)
	}
}

// TestAnnotationsRefuseNegativeDiameter: a negative diameter_mm in the
// annotations (the nodules to find) is an error naming file and line; the
// excluded findings keep LUNA16's -1; a diameter that is not finite or is
// over MaxDiameterMM (1e308 made every mark a hit) is refused too; a column
// named twice is an error in both.
func TestAnnotationsRefuseNegativeDiameter(t *testing.T) {
	dir := t.TempDir()
	ann, p := filepath.Join(dir, "ann.csv"), filepath.Join(dir, "cands.csv")
	testfs.WriteFile(t, p, []byte("seriesuid,coordX,coordY,coordZ,probability\nA,0,0,0,0.9\n"))
	for _, body := range []string{
		"seriesuid,coordX,coordY,coordZ,diameter_mm\nA,50,0,0,4\nA,0,0,0,-5\n",
		"seriesuid,coordX,coordY,coordZ,diameter_mm,kind\nA,50,0,0,4,round\nA,0,0,0,-5,round\n",
	} {
		testfs.WriteFile(t, ann, []byte(body))
		_, err := EvaluateFiles(Files{Annotations: ann, Candidates: p}, Options{})
		if err == nil || !strings.Contains(err.Error(), ann+": line 3: column diameter_mm: -5 is negative") {
			t.Errorf("%q: got %v", body, err)
		}
	}
	for _, d := range []string{"NaN", "Inf", "-Inf", "1e308", "501"} {
		testfs.WriteFile(t, ann, []byte("seriesuid,coordX,coordY,coordZ,diameter_mm\nA,0,0,0,"+d+"\n"))
		if _, err := EvaluateFiles(Files{Annotations: ann, Candidates: p}, Options{}); err == nil || !strings.Contains(err.Error(), ann+": line 2: column diameter_mm") {
			t.Errorf("diameter %s: got %v", d, err)
		}
	}
	exc := filepath.Join(dir, "exc.csv")
	testfs.WriteFile(t, exc, []byte("seriesuid,coordX,coordY,coordZ,diameter_mm\nA,0,0,0,-1\n"))
	if es, err := ReadAnnotations(exc); err != nil || len(es) != 1 || es[0].DiameterMM != -1 {
		t.Errorf("excluded -1: %+v %v", es, err)
	}
	testfs.WriteFile(t, exc, []byte("seriesuid,coordX,coordY,coordZ,diameter_mm\nA,0,0,0,1e308\n"))
	if _, err := ReadAnnotations(exc); err == nil || !strings.Contains(err.Error(), exc+": line 2: column diameter_mm: 1e308 mm is wider than any chest") {
		t.Errorf("excluded 1e308: %v", err)
	}
	testfs.WriteFile(t, exc, []byte("seriesuid,coordX,coordY,coordZ,diameter_mm\nA,0,0,0,100\n"))
	if es, err := ReadAnnotations(exc); err != nil || len(es) != 1 {
		t.Errorf("a 100 mm mass: %+v %v", es, err)
	}
	testfs.WriteFile(t, ann, []byte("seriesuid,coordX,coordY,coordZ,diameter_mm,diameter_mm\nA,0,0,0,5,9\n"))
	if _, err := ReadTruth(ann); err == nil || !strings.Contains(err.Error(), `column "diameter_mm" appears twice`) {
		t.Errorf("duplicate column in annotations: %v", err)
	}
	if _, err := ReadAnnotations(ann); err == nil || !strings.Contains(err.Error(), ann) {
		t.Errorf("duplicate column in excluded: %v", err)
	}
}
