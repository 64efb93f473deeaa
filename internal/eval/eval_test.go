package eval

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/pyref"
	"github.com/lungctl/lungctl/internal/shareddata"

	"github.com/lungctl/lungctl/internal/testfs"
)

func cand(s string, x, y, z, p float64) candidate.Candidate {
	return candidate.Candidate{SeriesUID: s, World: [3]float64{x, y, z}, Probability: p}
}

func ann(s string, x, y, z, d float64) Annotation {
	return Annotation{SeriesUID: s, World: [3]float64{x, y, z}, DiameterMM: d}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

// handExample is worked out by hand below; TestHandExample checks every
// number.
//
// Scans A, B, C, D (N = 4; C has marks but no nodule, D has nothing).
// Included nodules (4): A1 A(0,0,0) Ø10 (r 5); A2 A(50,0,0) Ø6 (r 3);
// B1 B(0,0,0) Ø8 (r 4); B2 B(100,100,100) Ø20 (never hit).
// Excluded: A(0,50,0) Ø−1 (→ 10 mm, r 5); B(0,0,3) Ø4 (r 2, overlaps B1).
// Marks:
//
//	m0 A(1,0,0)     p .90  d(A1)=1 < 5      → TP for A1
//	m1 A(0,2,0)     p .50  d(A1)=2          → second hit on A1: duplicate, A1 keeps .90
//	m2 A(0,53,0)    p .95  d(excl)=3 < 5    → ignored (not FP)
//	m3 A(50,3,0)    p .80  d(A2)=3 = r, not < r → FP (A2 missed)
//	m4 A(20,20,20)  p .60                    → FP
//	m5 B(0,0,3.5)   p .60  d(B1)=3.5 < 4 and hits the excluded mark → TP for B1 (tie with m4)
//	m6 B(30,0,0)    p .30                    → FP
//	m7 C(0,0,0)     p .70                    → FP (scan without nodules)
//	m8 C(5,5,5)     p .20                    → FP
//	m9 E(0,0,0)     p .99  scan E not evaluated → not counted at all
//
// Entries by descending p: .90 TP, .80 FP, .70 FP, .60 {TP, FP}, .30 FP, .20 FP.
// FROC points (FP/4, TP/4): (0,0) (0,.25) (.25,.25) (.5,.25) (.75,.5) (1,.5) (1.25,.5).
// Sensitivity at 1/8: between (0,.25) and (.25,.25) → .25; at 1/4 and 1/2: .25;
// at 1: point (1,.5) → .5; at 2, 4, 8: past the end → .5.
// CPM = (3·.25 + 4·.5)/7 = 2.75/7.
func handExample() (inc, exc []Annotation, scans []string, cs []candidate.Candidate) {
	inc = []Annotation{ann("A", 0, 0, 0, 10), ann("A", 50, 0, 0, 6), ann("B", 0, 0, 0, 8), ann("B", 100, 100, 100, 20)}
	exc = []Annotation{ann("A", 0, 50, 0, -1), ann("B", 0, 0, 3, 4)}
	scans = []string{"A", "B", "C", "D"}
	cs = []candidate.Candidate{
		cand("A", 1, 0, 0, .9), cand("A", 0, 2, 0, .5), cand("A", 0, 53, 0, .95), cand("A", 50, 3, 0, .8),
		cand("A", 20, 20, 20, .6), cand("B", 0, 0, 3.5, .6), cand("B", 30, 0, 0, .3), cand("C", 0, 0, 0, .7),
		cand("C", 5, 5, 5, .2), cand("E", 0, 0, 0, .99),
	}
	return
}

func TestHandExample(t *testing.T) {
	inc, exc, scans, cs := handExample()
	r, err := Evaluate(inc, exc, scans, cs, Options{Name: "hand"})
	if err != nil {
		t.Fatal(err)
	}
	counts := []struct {
		name      string
		got, want int
	}{
		{"scans", r.Scans, 4}, {"nodules", r.Nodules, 4}, {"detected", r.Detected, 2}, {"marks", r.Marks, 9},
		{"tp marks", r.TruePositiveMarks, 3}, {"duplicates", r.DuplicateHits, 1}, {"ignored", r.IgnoredMarks, 1},
		{"fp", r.FalsePositives, 5}, {"other scans", r.MarksOtherScans, 1}, {"capped", r.MarksCapped, 0},
	}
	for _, c := range counts {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if !near(r.Sensitivity, 0.5) || !near(r.FPPerScan, 1.25) {
		t.Errorf("sensitivity %v fp/scan %v, want 0.5 1.25", r.Sensitivity, r.FPPerScan)
	}
	wantCurve := [][2]float64{{0, 0}, {0, .25}, {.25, .25}, {.5, .25}, {.75, .5}, {1, .5}, {1.25, .5}}
	if len(r.Curve) != len(wantCurve) {
		t.Fatalf("curve %+v, want %v", r.Curve, wantCurve)
	}
	for i, w := range wantCurve {
		if !near(r.Curve[i].FPPerScan, w[0]) || !near(r.Curve[i].Sensitivity, w[1]) {
			t.Errorf("curve[%d] = %+v, want %v", i, r.Curve[i], w)
		}
	}
	if r.Curve[4].Threshold != 0.6 {
		t.Errorf("tie point threshold %v, want 0.6", r.Curve[4].Threshold)
	}
	// The operating point at a probability counts the marks at or above
	// it: at 0.6 the tie point, between two marks the higher one's, above
	// every mark nothing.
	for _, c := range []struct {
		at      float64
		fp, sen float64
	}{{0.6, .75, .5}, {0.65, .5, .25}, {2, 0, 0}, {0.1, 1.25, .5}} {
		if op := operating(r.Curve, c.at); op.Threshold != c.at || !near(op.FPPerScan, c.fp) || !near(op.Sensitivity, c.sen) {
			t.Errorf("operating point at %v: %+v, want %v FP/scan, sensitivity %v", c.at, op, c.fp, c.sen)
		}
	}
	if r.Operating != nil {
		t.Error("an operating point reported without Options.OperatingAt")
	}
	if r2, err := Evaluate(inc, exc, scans, cs, Options{Name: "hand", OperatingAt: 0.6}); err != nil || r2.Operating == nil ||
		*r2.Operating != (Point{FPPerScan: .75, Sensitivity: .5, Threshold: 0.6}) || !strings.Contains(r2.Summary(), "at probability ≥ 0.6: sensitivity 0.5000 at 0.750 FP/scan") {
		t.Errorf("Options.OperatingAt 0.6: %v %+v", err, r2.Operating)
	}
	wantAt := [7]float64{.25, .25, .25, .5, .5, .5, .5}
	for i := range wantAt {
		if !near(r.SensitivityAt[i], wantAt[i]) {
			t.Errorf("sensitivity at %v FP/scan = %v, want %v", OperatingPoints[i], r.SensitivityAt[i], wantAt[i])
		}
	}
	if !near(r.CPM, 2.75/7) {
		t.Errorf("CPM %v, want %v", r.CPM, 2.75/7)
	}
	// Per-nodule report: A1 hit by m0 (index 0, best of 2 hits), A2 and B2
	// missed, B1 hit by m5 at 3.5 mm.
	pn := r.PerNodule
	if len(pn) != 4 || !pn[0].Detected || pn[0].Hits != 2 || pn[0].Candidate != 0 || pn[0].Probability != .9 ||
		!near(pn[0].DistanceMM, 1) || pn[1].Detected || pn[1].Candidate != -1 || !pn[2].Detected ||
		pn[2].Candidate != 5 || !near(pn[2].DistanceMM, 3.5) || pn[3].Detected {
		t.Errorf("per-nodule: %+v", pn)
	}
	// Interpolation between points and numpy's rule on a vertical step.
	if s := Interp(r.Curve, 0.625); !near(s, 0.375) {
		t.Errorf("Interp(0.625) = %v, want 0.375", s)
	}
	if s := Interp(r.Curve, 0); s != 0.25 {
		t.Errorf("Interp at the vertical step x=0 = %v, want the top 0.25", s)
	}
}

// Without a scan list the scans are the union of candidate and annotation
// series: A, B, C, E here (N = 4 again, but m9 on E is now an FP at .99, the
// top entry). Entries: .99 FP, .90 TP, .80 FP, .70 FP, .60 {TP,FP}, .30 FP,
// .20 FP → points (0,0) (.25,0) (.25,.25) (.5,.25) (.75,.25) (1,.5) (1.25,.5)
// (1.5,.5). At 1/8: between (0,0) and (.25,0) → 0; at 1/4: last point with
// x = .25 → .25; at 1/2: .25; at 1: .5; beyond: .5. CPM = (0+.25+.25+4·.5)/7.
func TestScanUnion(t *testing.T) {
	inc, exc, _, cs := handExample()
	r, err := Evaluate(inc, exc, nil, cs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Scans != 4 || r.FalsePositives != 6 || r.MarksOtherScans != 0 {
		t.Fatalf("scans %d fp %d other %d", r.Scans, r.FalsePositives, r.MarksOtherScans)
	}
	want := [7]float64{0, .25, .25, .5, .5, .5, .5}
	if r.SensitivityAt != want || !near(r.CPM, 2.5/7) {
		t.Errorf("sensitivity at %v CPM %v, want %v %v", r.SensitivityAt, r.CPM, want, 2.5/7)
	}
}

// A mark within the radius of two included nodules counts for both (the
// official script warns but scores it so).
func TestOneMarkTwoNodules(t *testing.T) {
	inc := []Annotation{ann("S", 0, 0, 0, 10), ann("S", 6, 0, 0, 10)}
	r, err := Evaluate(inc, nil, []string{"S"}, []candidate.Candidate{cand("S", 3, 0, 0, .4)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Detected != 2 || r.FalsePositives != 0 || r.TruePositiveMarks != 1 || r.CPM != 1 {
		t.Errorf("%+v", r)
	}
}

func TestCap(t *testing.T) {
	// 101 FPs with p = .500 … .600 and the only hit at p = .1: 102 marks,
	// the 101st-highest p is .500, so only the 100 marks with p > .5 stay:
	// the hit and the .500 FP are dropped and the nodule is missed.
	inc := []Annotation{ann("S", 0, 0, 0, 10)}
	var cs []candidate.Candidate
	for i := 0; i <= 100; i++ {
		cs = append(cs, cand("S", 100+float64(i), 0, 0, 0.5+float64(i)/1000))
	}
	cs = append(cs, cand("S", 0, 0, 0, 0.1))
	r, err := Evaluate(inc, nil, []string{"S"}, cs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Marks != 100 || r.MarksCapped != 2 || r.Detected != 0 || r.FalsePositives != 100 || r.CPM != 0 {
		t.Errorf("cap 100: marks %d capped %d detected %d fp %d cpm %v", r.Marks, r.MarksCapped, r.Detected, r.FalsePositives, r.CPM)
	}
	r, err = Evaluate(inc, nil, []string{"S"}, cs, Options{MaxMarksPerScan: -1})
	if err != nil {
		t.Fatal(err)
	}
	// Uncapped: the hit is the lowest entry, reached at 101 FP/scan:
	// sensitivity 0 at every operating point, total sensitivity 1.
	if r.Marks != 102 || r.Detected != 1 || r.Sensitivity != 1 || r.CPM != 0 {
		t.Errorf("no cap: marks %d detected %d cpm %v", r.Marks, r.Detected, r.CPM)
	}
	// Ties at the cut: p = .9 .5 .5 .5 with a cap of 2: the 3rd-highest is
	// .5, only p > .5 stays: one mark, not two.
	cs = []candidate.Candidate{cand("S", 0, 0, 0, .5), cand("S", 1, 0, 0, .9), cand("S", 50, 0, 0, .5), cand("S", 60, 0, 0, .5)}
	r, err = Evaluate(inc, nil, []string{"S"}, cs, Options{MaxMarksPerScan: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Marks != 1 || r.MarksCapped != 3 || r.Detected != 1 || r.PerNodule[0].Candidate != 1 || r.FalsePositives != 0 {
		t.Errorf("tie at cut: %+v", r)
	}
}

func TestErrors(t *testing.T) {
	_, err := Evaluate(nil, nil, []string{"A"}, []candidate.Candidate{cand("A", 0, 0, 0, 1)}, Options{})
	if !errors.Is(err, ErrNoNodules) {
		t.Errorf("want ErrNoNodules, got %v", err)
	}
	if _, err := Evaluate(nil, nil, nil, nil, Options{}); !errors.Is(err, ErrNoScans) {
		t.Errorf("want ErrNoScans, got %v", err)
	}
	_, err = Evaluate([]Annotation{ann("A", 0, 0, 0, 5)}, nil, nil, []candidate.Candidate{cand("A", 0, 0, 0, math.NaN())}, Options{})
	if err == nil {
		t.Error("NaN probability accepted")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.csv")
	testfs.WriteFile(t, p, []byte("seriesuid,coordX,coordY,coordZ\nA,1,2,3\n"))
	if _, err := ReadAnnotations(p); err == nil || !contains(err.Error(), "bad.csv") || !contains(err.Error(), "diameter_mm") {
		t.Errorf("want error naming file and column, got %v", err)
	}
	testfs.WriteFile(t, p, []byte("seriesuid,coordX,coordY,coordZ,diameter_mm\nA,1,x,3,4\n"))
	if _, err := ReadAnnotations(p); err == nil || !contains(err.Error(), "line 2") {
		t.Errorf("want line error, got %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestBootstrap(t *testing.T) {
	inc, exc, scans, cs := handExample()
	opt := Options{Bootstrap: 300, Seed: 7}
	r1, err := Evaluate(inc, exc, scans, cs, opt)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := Evaluate(inc, exc, scans, cs, opt)
	b := r1.Bootstrap
	if b == nil || b.Samples != 300 || len(b.Mean) != len(LogGrid()) {
		t.Fatalf("bootstrap %+v", b)
	}
	// Resamples that drew only C and D have no nodule: (1/2)^4 of them.
	if b.Skipped == 0 || b.Skipped > 60 {
		t.Errorf("skipped %d of 300, expected about 19", b.Skipped)
	}
	for i := range b.Mean {
		// The percentile bounds need not bracket the mean of a skewed
		// distribution (most resamples give exactly .5 at 1 FP/scan), so
		// only order and range are checked.
		if b.Lower[i] > b.Upper[i] || b.Lower[i] < 0 || b.Upper[i] > 1 || b.Mean[i] < 0 || b.Mean[i] > 1 {
			t.Fatalf("grid %d: lower %v mean %v upper %v", i, b.Lower[i], b.Mean[i], b.Upper[i])
		}
	}
	if !(b.CPMLower <= r1.CPM && r1.CPM <= b.CPMUpper) || b.CPMLower == b.CPMUpper {
		t.Errorf("CPM %v outside its bootstrap interval [%v, %v] or degenerate", r1.CPM, b.CPMLower, b.CPMUpper)
	}
	j1, _ := json.Marshal(r1)
	j2, _ := json.Marshal(r2)
	if string(j1) != string(j2) {
		t.Error("bootstrap not reproducible with the same seed")
	}
	// A perfect system has a degenerate band at 1.
	perfect := []candidate.Candidate{cand("A", 0, 0, 0, 1), cand("A", 50, 0, 0, 1), cand("B", 0, 0, 0, 1), cand("B", 100, 100, 100, 1)}
	r, err := Evaluate(inc, exc, scans, perfect, Options{Bootstrap: 50})
	if err != nil {
		t.Fatal(err)
	}
	if r.CPM != 1 || r.Bootstrap.CPMLower != 1 || r.Bootstrap.CPMUpper != 1 {
		t.Errorf("perfect: CPM %v band [%v,%v]", r.CPM, r.Bootstrap.CPMLower, r.Bootstrap.CPMUpper)
	}
}

func TestWriteJSONAndPlot(t *testing.T) {
	inc, exc, scans, cs := handExample()
	r, err := Evaluate(inc, exc, scans, cs, Options{Name: "hand", Bootstrap: 100, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if os.Getenv("EVAL_PNG_DIR") != "" {
		dir = os.Getenv("EVAL_PNG_DIR")
	}
	jp := filepath.Join(dir, "froc.json")
	if err := WriteJSON(jp, r); err != nil {
		t.Fatal(err)
	}
	var back Result
	b, _ := os.ReadFile(jp)
	if err := json.Unmarshal(b, &back); err != nil || back.CPM != r.CPM || len(back.Curve) != len(r.Curve) {
		t.Fatalf("JSON round trip: %v", err)
	}
	r2, _ := Evaluate(inc, exc, nil, cs, Options{Name: "union"})
	pp := filepath.Join(dir, "froc.png")
	if err := PlotFROC(pp, r, r2); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(pp); err != nil || fi.Size() < 5000 {
		t.Fatalf("png: %v %v", fi, err)
	}
	if err := PlotFROC(filepath.Join(dir, "one.png"), r); err != nil {
		t.Fatal(err)
	}
	if err := PlotFROC(filepath.Join(dir, "none.png")); err == nil {
		t.Error("empty plot accepted")
	}
	if s := r.Summary(); !contains(s, "CPM 0.3929") {
		t.Errorf("summary: %s", s)
	}
}

func lunaDir(t *testing.T) string {
	d := shareddata.Path("luna16-csv")
	if _, err := os.Stat(d); err != nil {
		t.Skipf("real LUNA16 tables not present at %s: %v", d, err)
	}
	return d
}

// The official tables, candidates = the annotations themselves with
// probability 1: every nodule found, no FP, CPM 1. Adding every excluded
// finding as a mark must change nothing (ignored, or a duplicate hit when it
// lies inside a nodule).
func TestLUNA16Perfect(t *testing.T) {
	d := lunaDir(t)
	inc, err := ReadAnnotations(filepath.Join(d, "annotations.csv"))
	if err != nil {
		t.Fatal(err)
	}
	exc, err := ReadAnnotations(filepath.Join(d, "annotations_excluded.csv"))
	if err != nil {
		t.Fatal(err)
	}
	scans, err := ReadSeriesUIDs(filepath.Join(d, "seriesuids.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inc) != 1186 || len(exc) != 35192 || len(scans) != 888 {
		t.Fatalf("read %d annotations, %d excluded, %d scans", len(inc), len(exc), len(scans))
	}
	var cs []candidate.Candidate
	for _, a := range inc {
		cs = append(cs, candidate.Candidate{SeriesUID: a.SeriesUID, World: a.World, Probability: 1})
	}
	r, err := Evaluate(inc, exc, scans, cs, Options{MaxMarksPerScan: -1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Nodules != 1186 || r.Detected != 1186 || r.FalsePositives != 0 || r.CPM != 1 || r.Sensitivity != 1 {
		t.Errorf("perfect: %s", r.Summary())
	}
	for _, a := range exc {
		cs = append(cs, candidate.Candidate{SeriesUID: a.SeriesUID, World: a.World, Probability: 0.5})
	}
	r, err = Evaluate(inc, exc, scans, cs, Options{MaxMarksPerScan: -1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Detected != 1186 || r.FalsePositives != 0 || r.CPM != 1 || r.IgnoredMarks+r.DuplicateHits < len(exc) {
		t.Errorf("perfect + excluded: %s", r.Summary())
	}
	// The same marks shifted by one diameter in x (outside the nodule; may
	// land in another finding): most nodules are missed now.
	var shifted []candidate.Candidate
	for _, a := range inc {
		shifted = append(shifted, candidate.Candidate{SeriesUID: a.SeriesUID, World: [3]float64{a.World[0] + a.DiameterMM, a.World[1], a.World[2]}, Probability: 1})
	}
	r, err = Evaluate(inc, exc, scans, shifted, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sensitivity > 0.1 || r.FalsePositives < 1000 {
		t.Errorf("shifted: %s", r.Summary())
	}
}

// Random marks on the real tables (hits inside and just outside nodules and
// excluded findings, far FPs, rounded probabilities for many ties, some
// scans over the 100-mark cap), scored here and by an independent Python
// implementation with sklearn's roc_curve and numpy.interp.
func TestAgainstPythonReference(t *testing.T) {
	d := lunaDir(t)
	if testing.Short() {
		t.Skip("slow: runs the Python reference")
	}
	py := pyref.Python(t, "sklearn", "numpy")
	inc, _ := ReadAnnotations(filepath.Join(d, "annotations.csv"))
	exc, _ := ReadAnnotations(filepath.Join(d, "annotations_excluded.csv"))
	scans, _ := ReadSeriesUIDs(filepath.Join(d, "seriesuids.csv"))
	rng := rand.New(rand.NewPCG(1, 2))
	var cs []candidate.Candidate
	jitter := func(a Annotation, frac float64) candidate.Candidate {
		dia := a.DiameterMM
		if dia < 0 {
			dia = 10
		}
		// random direction, distance frac·radius
		var v [3]float64
		var n float64
		for k := range v {
			v[k] = rng.NormFloat64()
			n += v[k] * v[k]
		}
		n = math.Sqrt(n)
		w := a.World
		for k := range w {
			w[k] += v[k] / n * frac * dia / 2
		}
		return candidate.Candidate{SeriesUID: a.SeriesUID, World: w, Probability: math.Round(rng.Float64()*100) / 100}
	}
	for _, a := range inc {
		for k := rng.IntN(3); k >= 0; k-- {
			cs = append(cs, jitter(a, rng.Float64()*1.3))
		}
	}
	for i, a := range exc {
		if i%7 == 0 {
			cs = append(cs, jitter(a, rng.Float64()*1.3))
		}
	}
	for i, s := range scans {
		n := rng.IntN(20)
		if i%50 == 0 {
			n = 130
		}
		for k := 0; k < n; k++ {
			cs = append(cs, candidate.Candidate{SeriesUID: s, World: [3]float64{rng.Float64()*300 - 150, rng.Float64()*300 - 150, rng.Float64()*300 - 300},
				Probability: math.Round(rng.Float64()*100) / 100})
		}
	}
	dir := t.TempDir()
	cp := filepath.Join(dir, "cands.csv")
	if err := candidate.WriteFile(cp, cs); err != nil {
		t.Fatal(err)
	}
	// Evaluate what the CSV holds (it rounds coordinates to 1 µm).
	csRead, err := candidate.ReadFile(cp)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Evaluate(inc, exc, scans, csRead, Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, filepath.Join("testdata", "luna16_reference.py"),
		filepath.Join(d, "annotations.csv"), filepath.Join(d, "annotations_excluded.csv"),
		filepath.Join(d, "seriesuids.csv"), cp).Output()
	if err != nil {
		t.Fatalf("python reference: %v %s", err, out)
	}
	var ref struct {
		Nodules, Detected, FP, Ignored, Dup int
		SensAt                              []float64 `json:"sens_at"`
		CPM                                 float64
	}
	if err := json.Unmarshal(out, &ref); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Logf("Go: %s", r.Summary())
	t.Logf("python: %s", out)
	if r.MarksCapped == 0 {
		t.Error("test set does not exercise the cap")
	}
	if ref.Nodules != r.Nodules || ref.Detected != r.Detected || ref.FP != r.FalsePositives || ref.Ignored != r.IgnoredMarks || ref.Dup != r.DuplicateHits {
		t.Errorf("counts differ: python %+v", ref)
	}
	for i := range ref.SensAt {
		if math.Abs(ref.SensAt[i]-r.SensitivityAt[i]) > 1e-9 {
			t.Errorf("sensitivity at %v: Go %v python %v", OperatingPoints[i], r.SensitivityAt[i], ref.SensAt[i])
		}
	}
	if math.Abs(ref.CPM-r.CPM) > 1e-9 {
		t.Errorf("CPM Go %v python %v", r.CPM, ref.CPM)
	}
}

func BenchmarkEvaluateLUNA16(b *testing.B) {
	d := shareddata.Path("luna16-csv")
	inc, err := ReadAnnotations(filepath.Join(d, "annotations.csv"))
	if err != nil {
		b.Skip(err)
	}
	exc, _ := ReadAnnotations(filepath.Join(d, "annotations_excluded.csv"))
	scans, _ := ReadSeriesUIDs(filepath.Join(d, "seriesuids.csv"))
	rng := rand.New(rand.NewPCG(3, 4))
	var cs []candidate.Candidate
	for _, s := range scans {
		for k := 0; k < 100; k++ {
			cs = append(cs, candidate.Candidate{SeriesUID: s, World: [3]float64{rng.Float64()*300 - 150, rng.Float64()*300 - 150, rng.Float64()*300 - 300}, Probability: rng.Float64()})
		}
	}
	for _, bs := range []int{0, 1000} {
		b.Run(fmt.Sprintf("bootstrap=%d", bs), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := Evaluate(inc, exc, scans, cs, Options{Bootstrap: bs}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPerNoduleInAnnotationOrder: PerNodule follows the annotations' order,
// not the (sorted) order of the scans, so callers can pair it with their
// truth rows (the demo's table did, and printed one scan's hits against the
// other scan's nodules).
func TestPerNoduleInAnnotationOrder(t *testing.T) {
	ann := []Annotation{
		{SeriesUID: "b", World: [3]float64{0, 0, 0}, DiameterMM: 10},
		{SeriesUID: "a", World: [3]float64{50, 0, 0}, DiameterMM: 10},
		{SeriesUID: "b", World: [3]float64{100, 0, 0}, DiameterMM: 10},
	}
	cs := []candidate.Candidate{{SeriesUID: "a", World: [3]float64{50, 0, 1}, Probability: 0.9},
		{SeriesUID: "b", World: [3]float64{100, 0, 2}, Probability: 0.8}}
	r, err := Evaluate(ann, nil, nil, cs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, nr := range r.PerNodule {
		if nr.SeriesUID != ann[i].SeriesUID || nr.World != ann[i].World {
			t.Fatalf("PerNodule[%d] = %s %v, want annotation %d (%s %v)", i, nr.SeriesUID, nr.World, i, ann[i].SeriesUID, ann[i].World)
		}
	}
	if r.PerNodule[0].Detected || r.PerNodule[1].Candidate != 0 || r.PerNodule[2].Candidate != 1 {
		t.Errorf("hits %+v", r.PerNodule)
	}
}

// TestEvaluateFilesScansOfTheCandidates: without a scan list only the scans
// named in the candidates file are evaluated (a subset against the full
// annotations does not count the other scans' nodules as missed).
func TestEvaluateFilesScansOfTheCandidates(t *testing.T) {
	dir := t.TempDir()
	ann := filepath.Join(dir, "ann.csv")
	cands := filepath.Join(dir, "c.csv")
	testfs.WriteFile(t, ann, []byte("seriesuid,coordX,coordY,coordZ,diameter_mm\na,0,0,0,10\nb,0,0,0,10\n"))
	testfs.WriteFile(t, cands, []byte("seriesuid,coordX,coordY,coordZ,probability\na,1,0,0,0.9\n"))
	r, err := EvaluateFiles(Files{Annotations: ann, Candidates: cands}, Options{})
	if err != nil || r.Scans != 1 || r.Nodules != 1 || r.Sensitivity != 1 {
		t.Fatalf("%+v %v: want 1 scan, 1 nodule found", r, err)
	}
	list := filepath.Join(dir, "uids.csv")
	testfs.WriteFile(t, list, []byte("seriesuid\na\nb\n"))
	if r, err = EvaluateFiles(Files{Annotations: ann, Candidates: cands, SeriesUIDs: list}, Options{}); err != nil || r.Nodules != 2 {
		t.Fatalf("with the list: %+v %v", r, err)
	}
}
