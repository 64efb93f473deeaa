package main

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/eval"
	"github.com/lungctl/lungctl/internal/shareddata"
	"github.com/lungctl/lungctl/internal/testfs"
	"github.com/lungctl/lungctl/internal/volio"
	"github.com/lungctl/lungctl/internal/volume"
)

// TestEvalUsageErrors: every bad combination or value is a usage error
// (exit 2) naming the flag, before anything is read or written.
func TestEvalUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "c.csv"}, "--annotations"},
		{[]string{"eval", "--annotations", "a.csv", "--lidc", "d", "c.csv"}, "--lidc"},
		{[]string{"eval", "--lidc", "d", "a.csv", "b.csv"}, "one candidates file"},
		{[]string{"eval", "--lidc", "d", "--by", "kind", "c.csv"}, "--by"},
		{[]string{"eval", "--lidc", "d", "--min-diameter", "4", "c.csv"}, "--min-diameter"},
		{[]string{"eval", "--lidc", "d", "--bootstrap", "10", "c.csv"}, "--bootstrap"},
		{[]string{"eval", "--lidc", "d", "--malignant-from", "7", "c.csv"}, "--malignant-from"},
		{[]string{"eval", "--annotations", "a.csv", "--labels", "l.nii", "c.csv"}, "--labels"},
		{[]string{"eval", "--annotations", "a.csv", "--malignant-from", "4", "c.csv"}, "--malignant-from"},
		{[]string{"eval", "--annotations", "a.csv", "--by", "colour", "c.csv"}, "--by"},
		{[]string{"eval", "--annotations", "a.csv", "--min-diameter", "-1", "c.csv"}, "--min-diameter"},
		{[]string{"eval", "--annotations", "a.csv", "--min-diameter", "NaN", "c.csv"}, "--min-diameter"},
	} {
		wantUsageRefusal(t, tc.want, tc.args...)
	}
}

// A phantom truth (kind and measurement columns) and measured candidates:
// S1 has a round 10 mm nodule hit at .9 (measured 10.5 mm, solid), a
// groundglass 20 mm nodule hit at .4 (measured as part-solid) and a 2 mm
// round nodule hit at .95; one false positive at .8.
const evalTruth = `seriesuid,coordX,coordY,coordZ,diameter_mm,malignancy,kind,type,solid_diameter_mm,long_axis_mm,short_axis_mm,volume_mm3,spiculated,location
S1,0,0,0,10,2,round,solid,10,10,10,523.6,0,parenchyma
S1,0,50,0,20,3,groundglass,non-solid,0,22,18,4000,0,parenchyma
S1,50,50,50,2,1,round,solid,2,2,2,4.19,0,parenchyma
`

const evalCands = `seriesuid,coordX,coordY,coordZ,probability,type,long_axis_mm,short_axis_mm,volume_mm3,spiculation,lung_rads
S1,1,0,0,0.9,solid,11,10,600,0.2,2
S1,0,51,0,0.4,part-solid,20,16,3000,0.1,3
S1,200,0,0,0.8,solid,5,4,50,0.1,2
S1,50,50,50.5,0.95,solid,2,2,4,0,2
`

// TestEvalPhantomByKind runs eval on a hand-made phantom truth: the default
// rule makes the 2 mm nodule an excluded finding; --min-diameter 0 counts
// it; the JSON carries by_kind, by_size and measurement.
func TestEvalPhantomByKind(t *testing.T) {
	dir := t.TempDir()
	truth, cands := filepath.Join(dir, "truth.csv"), filepath.Join(dir, "c.csv")
	testfs.WriteFile(t, truth, []byte(evalTruth))
	testfs.WriteFile(t, cands, []byte(evalCands))
	out := filepath.Join(dir, "out")
	r := lungctl(t, "eval", "--annotations", truth, "--by", "kind,size", cands, "-o", out)
	checkExit(t, r, exitOK, "eval --by kind,size")
	for _, want := range []string{"diameter_mm ≥ 3 mm; 1 smaller ones are excluded findings", "LUNA16's rule",
		"groundglass        1         1       1.0000     1.0000  0.5714", "round              1         1       1.0000     1.0000  1.0000",
		"10–30 mm        2         2       1.0000     1.0000  0.7857", "type accuracy: groundglass 0.0 % (0/1); round 100.0 % (1/1)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	var res eval.Result
	b, err := os.ReadFile(filepath.Join(out, "c_froc.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.ByKind) != 2 || len(res.BySize) != 5 || res.Measurement == nil || res.MinDiameterMM != 3 || res.ExcludedBelowMin != 1 ||
		res.Measurement.Detected != 2 || math.Abs(float64(res.Measurement.MeanDiameter.Median)-0.075) > 1e-12 {
		t.Errorf("JSON: %s", b)
	}
	r = lungctl(t, "eval", "--annotations", truth, "--by", "size", "--min-diameter", "0", cands, "-o", out)
	checkExit(t, r, exitOK, "eval --min-diameter 0")
	if !strings.Contains(r.stdout, "< 3 mm          1         1       1.0000     1.0000  1.0000") ||
		!strings.Contains(r.stdout, "every nodule of the table") {
		t.Errorf("--min-diameter 0:\n%s", r.stdout)
	}
	// A LUNA16 table has no kind: --by kind is a failure naming the file.
	plain := filepath.Join(dir, "plain.csv")
	testfs.WriteFile(t, plain, []byte("seriesuid,coordX,coordY,coordZ,diameter_mm\nS1,0,0,0,10\n"))
	r = lungctl(t, "eval", "--annotations", plain, "--by", "kind", cands, "-o", out)
	if r.code != exitFailure || !strings.Contains(r.stderr, "plain.csv") || !strings.Contains(r.stderr, "kind") {
		t.Errorf("--by kind on a plain table: exit %d\n%s", r.code, r.stderr)
	}
}

// TestEvalLUNA16JSONUnchanged: a plain annotations file gives the JSON keys
// it always had (no by_kind, measurement, rule ...), and the summary no
// extra lines.
func TestEvalLUNA16JSONUnchanged(t *testing.T) {
	ann, cands, out := plainEval(t)
	r := lungctl(t, "eval", "--annotations", ann, cands, "-o", out)
	checkExit(t, r, exitOK, "eval")
	if n := strings.Count(r.stdout, "\n"); n != 4 {
		t.Errorf("summary has %d lines, want 4:\n%s", n, r.stdout)
	}
	b, _ := os.ReadFile(filepath.Join(out, "c_froc.json"))
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := "cpm curve detected duplicate_hits false_positives fp_per_scan ignored_marks marks marks_capped marks_other_scans name nodules operating_points per_nodule scans sensitivity sensitivity_at true_positive_marks"
	if strings.Join(keys, " ") != want {
		t.Errorf("JSON keys %v, want %s", keys, want)
	}
	if m["nodules"].(float64) != 2 {
		t.Errorf("the 2.5 mm annotation must count without --min-diameter: %v", m["nodules"])
	}
}

// TestEvalLIDC runs eval --lidc on LIDC-IDRI-0001 with a candidate at the
// consensus centroid and a label map of the ball of its equivalent
// diameter, and checks the JSON against the library's own evaluation and
// the plausible range.
func TestEvalLIDC(t *testing.T) {
	caseDir := shareddata.Dir(t, "lidc-idri-0001")
	if testing.Short() {
		t.Skip("real LIDC series load skipped in -short mode")
	}
	s, err := eval.LoadLIDC(caseDir)
	if err != nil {
		t.Fatal(err)
	}
	nd := s.Analysis.Nodules[0]
	dir := t.TempDir()
	cands, labels := filepath.Join(dir, "hand.csv"), filepath.Join(dir, "labels.nii.gz")
	nan := math.NaN()
	c := candidate.Candidate{SeriesUID: s.UID, World: nd.Centroid, Probability: 0.9, Type: "solid", LongAxisMM: 25, ShortAxisMM: 21,
		MeanDiameterMM: 23, VolumeMM3: 6000, SolidDiameterMM: 23, Spiculation: 0.3, Malignancy: 0.85, Brock: 0.6, CNN: 0.7, LungRADS: "4B",
		DiameterMM: nan, MeanHU: nan, MeanSI: nan, Compactness: nan, DetectScore: nan}
	if err := candidate.WriteFile(cands, []candidate.Candidate{c}); err != nil {
		t.Fatal(err)
	}
	g := volume.Grid{Dims: [3]int{41, 41, 41}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	for a := 0; a < 3; a++ {
		g.Origin[a] = math.Round(nd.Centroid[a]) - 20
	}
	lv := volume.New[uint8](g)
	rad := nd.EquivDiameterMM / 2
	for n := range lv.Data {
		i, j, k := n%41, n/41%41, n/(41*41)
		p := g.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
		if (p[0]-nd.Centroid[0])*(p[0]-nd.Centroid[0])+(p[1]-nd.Centroid[1])*(p[1]-nd.Centroid[1])+(p[2]-nd.Centroid[2])*(p[2]-nd.Centroid[2]) <= rad*rad {
			lv.Data[n] = 1
		}
	}
	if err := volio.WriteNIfTI(labels, lv, volio.NIfTIOptions{}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	r := lungctl(t, "eval", "--lidc", caseDir, "--labels", labels, cands, "-o", out)
	checkExit(t, r, exitOK, "eval --lidc")
	for _, want := range []string{"1 physical nodules ≥ 3 mm", "hit by candidate rank 1", "type solid vs solid: agree",
		"malignancy n/a (one class)", "readers' median rating ≥ 3 malignant"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	var got eval.LIDCResult
	b, err := os.ReadFile(filepath.Join(out, "hand_lidc.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want, err := eval.EvaluateLIDCFiles(caseDir, cands, labels, eval.LIDCOptions{Name: "hand"})
	if err != nil {
		t.Fatal(err)
	}
	n, w := got.Nodules[0], want.Nodules[0]
	if !n.Detected || n.Dice != w.Dice || n.DiameterErrEquivMM != w.DiameterErrEquivMM || n.VolumeRel != w.VolumeRel ||
		!(n.Dice > 0.6 && n.Dice < 0.98) || got.SeriesUID != s.UID || filepath.Base(got.XML) != "069.xml" {
		t.Errorf("JSON nodule %+v, library %+v", n, w)
	}
	t.Logf("%s", r.stdout)
}

// TestEvalAt: --at prints the operating point at that probability (and
// writes it to the JSON); out of 0-1 it is a usage error.
func TestEvalAt(t *testing.T) {
	ann, cands, out := plainEval(t)
	r := lungctl(t, "eval", "--annotations", ann, "--at", "0.35", cands, "-o", out)
	checkExit(t, r, exitOK, "eval --at 0.35")
	if !strings.Contains(r.stdout, "at probability ≥ 0.35: sensitivity ") {
		t.Errorf("no operating point in the summary:\n%s", r.stdout)
	}
	b, _ := os.ReadFile(filepath.Join(out, "c_froc.json"))
	if !strings.Contains(string(b), `"operating"`) {
		t.Error("no operating point in the JSON")
	}
	r = lungctl(t, "eval", "--annotations", ann, "--at", "2", cands, "-o", out)
	if r.code != exitUsage || !strings.Contains(r.stderr, "--at") {
		t.Errorf("--at 2: exit %d\n%s", r.code, r.stderr)
	}
}

// plainEval writes a plain (LUNA16-style) annotations file and the
// evalCands candidates into a temporary folder, and returns their paths
// and an output folder in it.
func plainEval(t *testing.T) (ann, cands, out string) {
	t.Helper()
	dir := t.TempDir()
	ann, cands = filepath.Join(dir, "a.csv"), filepath.Join(dir, "c.csv")
	testfs.WriteFile(t, ann, []byte("seriesuid,coordX,coordY,coordZ,diameter_mm\nS1,0,0,0,10\nS1,40,0,0,2.5\n"))
	testfs.WriteFile(t, cands, []byte(evalCands))
	return ann, cands, filepath.Join(dir, "out")
}

// lungctlIn is lungctl run in folder dir.
func lungctlIn(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd, so, se := lungctlCmd(nil, args...)
	cmd.Dir = dir
	err := cmd.Run()
	r := result{stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("lungctl %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// TestEvalOutputNamesUnique: several candidates files get one result each,
// under names unique across them that never start with a dot; the same
// file given twice is a usage error that writes nothing.
func TestEvalOutputNamesUnique(t *testing.T) {
	dir := t.TempDir()
	testfs.WriteFile(t, filepath.Join(dir, "a.csv"), []byte("seriesuid,coordX,coordY,coordZ,diameter_mm\nS1,0,0,0,10\n"))
	hit := "seriesuid,coordX,coordY,coordZ,probability\nS1,1,0,0,0.9\n"
	miss := "seriesuid,coordX,coordY,coordZ,probability\nS1,90,0,0,0.9\n"
	for p, body := range map[string]string{"e4/a/c.csv": hit, "e4/b/a/c.csv": miss, "cands.csv": hit, "csv/x.csv": miss} {
		testfs.WriteFile(t, filepath.Join(dir, filepath.FromSlash(p)), []byte(body))
	}
	for _, tc := range []struct {
		args []string
		want map[string]int // result name: nodules detected
	}{
		{[]string{"e4/a/c.csv", "e4/b/a/c.csv"}, map[string]int{"e4_a_c": 1, "b_a_c": 0}},
		{[]string{"cands.csv", "csv/x.csv"}, map[string]int{"cands": 1, "csv_x": 0}},
	} {
		out := filepath.Join(t.TempDir(), "out")
		r := lungctlIn(t, dir, append([]string{"eval", "--annotations", "a.csv", "-o", out}, tc.args...)...)
		checkExit(t, r, exitOK, "eval "+strings.Join(tc.args, " "))
		ents, _ := os.ReadDir(out)
		var got []string
		for _, e := range ents {
			got = append(got, e.Name())
		}
		if len(got) != len(tc.want)+1 {
			t.Errorf("%v: wrote %v, want %d results and froc.png", tc.args, got, len(tc.want))
		}
		for name, det := range tc.want {
			var res eval.Result
			b, err := os.ReadFile(filepath.Join(out, name+"_froc.json"))
			if err == nil {
				err = json.Unmarshal(b, &res)
			}
			if err != nil || res.Name != name || res.Detected != det {
				t.Errorf("%v: %s_froc.json: name %q, %d detected, want %d (%v)", tc.args, name, res.Name, res.Detected, det, err)
			}
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	r := lungctlIn(t, dir, "eval", "--annotations", "a.csv", "-o", out, "cands.csv", "csv/../cands.csv")
	if r.code != exitUsage || !strings.Contains(r.stderr, "csv/../cands.csv") || !strings.Contains(r.stderr, "twice") {
		t.Errorf("same file twice: exit %d\n%s", r.code, r.stderr)
	}
	if fileExists(out) {
		t.Errorf("same file twice: %s created", out)
	}
}

// TestEvalBadInputWritesNothing: a bad value in any input (the second
// candidates file's NaN probability, an empty probability, a negative
// annotation diameter, a column named twice) fails naming the file and
// line or column, before any output is written.
func TestEvalBadInputWritesNothing(t *testing.T) {
	dir := t.TempDir()
	ann, bad, good := filepath.Join(dir, "a.csv"), filepath.Join(dir, "bad", "c.csv"), filepath.Join(dir, "good", "c.csv")
	const head = "seriesuid,coordX,coordY,coordZ,probability\n"
	testfs.WriteFile(t, good, []byte(head+"S1,1,0,0,0.9\n"))
	for _, tc := range []struct {
		ann, cands, want string
	}{
		{"S1,0,0,0,10\n", head + "S1,1,0,0,0.9\nS1,5,0,0,NaN\n", bad + ": line 3: column probability"},
		{"S1,0,0,0,10\n", head + "S1,1,0,0,\n", bad + ": line 2: column probability: empty"},
		{"S1,0,0,0,10\n", "seriesuid,coordX,coordY,coordZ,probability,coordX\nS1,1,0,0,0.9,50\n", bad + `: line 1: column "coordX" appears twice`},
		{"S1,0,0,0,10\nS1,50,0,0,-4\n", head + "S1,1,0,0,0.9\n", ann + ": line 3: column diameter_mm: -4 is negative"},
	} {
		testfs.WriteFile(t, ann, []byte("seriesuid,coordX,coordY,coordZ,diameter_mm\n"+tc.ann))
		testfs.WriteFile(t, bad, []byte(tc.cands))
		out := filepath.Join(t.TempDir(), "out")
		r := lungctl(t, "eval", "--annotations", ann, good, bad, "-o", out)
		if r.code != exitFailure || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q / %q: exit %d, want 1 naming %q:\n%s", tc.ann, tc.cands, r.code, tc.want, r.stderr)
		}
		if fileExists(out) || r.stdout != "" {
			t.Errorf("%q / %q: output before the failure (stdout %q)", tc.ann, tc.cands, r.stdout)
		}
	}
}
