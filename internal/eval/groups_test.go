package eval

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/phantom"
	"github.com/lungctl/lungctl/internal/pyref"

	"github.com/lungctl/lungctl/internal/testfs"
)

// truthCSV is a hand-built phantom truth (internal/phantom's TruthHeader):
//
//	n0 S1 (0,0,0)     Ø10 round       L10 S10  V523.6  solid     spic 0 mal 2
//	n1 S1 (50,0,0)    Ø6  round       L6  S6   V113    solid     spic 0 mal 2  (missed)
//	n2 S1 (0,50,0)    Ø20 groundglass L22 S18  V4000   non-solid spic 0 mal 3
//	n3 S2 (0,0,0)     Ø8  spiculated  L9  S7   V300    solid     spic 1 mal 4  (juxtapleural)
//	n4 S2 (50,50,50)  Ø2  round       L2  S2   V4.19   solid     spic 0 mal 1  (< 3 mm)
//	n5 S2 (100,0,0)   Ø35 mass        L40 S30  V20000  solid     spic 1 mal 5
const truthCSV = `seriesuid,coordX,coordY,coordZ,diameter_mm,malignancy,kind,type,solid_diameter_mm,long_axis_mm,short_axis_mm,volume_mm3,spiculated,location
S1,0,0,0,10,2,round,solid,10,10,10,523.6,0,parenchyma
S1,50,0,0,6,2,round,solid,6,6,6,113,0,parenchyma
S1,0,50,0,20,3,groundglass,non-solid,0,22,18,4000,0,parenchyma
S2,0,0,0,8,4,spiculated,solid,8,9,7,300,1,juxtapleural
S2,50,50,50,2,1,round,solid,2,2,2,4.19,0,parenchyma
S2,100,0,0,35,5,mass,solid,35,40,30,20000,1,juxtapleural
`

// handCands are the marks against truthCSV:
//
//	c0 S1 (1,0,0)      p .90 → n0   L11 S10 V600  solid      spic .7 RADS 2   mal .1 brock .05 cnn .2
//	c1 S1 (0,51,0)     p .40 → n2   L20 S16 V3000 part-solid spic .1 RADS 3   mal .3 brock .3  cnn .4
//	c2 S1 (200,0,0)    p .80 FP     solid RADS 2
//	c3 S2 (0,0,1)      p .70 → n3   L9 S8 V330    solid      spic .6 RADS 4A  mal .7 brock .5  cnn .6
//	c4 S2 (50,50,50.5) p .95 → n4 (excluded under the 3 mm rule: ignored)
//	c5 S2 (-100,0,0)   p .50 FP     unmeasured
//	c6 S2 (100,0,2)    p .30 → n5   unmeasured                          mal .2 brock NaN cnn .4
//	c7 S1 (-50,-50,0)  p .60 FP     solid RADS 4B
func handCands() []candidate.Candidate {
	nan := math.NaN()
	m := func(s string, x, y, z, p float64, typ string, l, sh, v, sp float64, rads string, mal, brock, cnn float64) candidate.Candidate {
		return candidate.Candidate{SeriesUID: s, World: [3]float64{x, y, z}, Probability: p, DiameterMM: nan,
			MeanHU: nan, MeanSI: nan, Compactness: nan, DetectScore: nan, Malignancy: mal, Type: typ,
			LongAxisMM: l, ShortAxisMM: sh, MeanDiameterMM: (l + sh) / 2, VolumeMM3: v, SolidDiameterMM: nan,
			Spiculation: sp, LungRADS: rads, Brock: brock, CNN: cnn}
	}
	cs := []candidate.Candidate{
		m("S1", 1, 0, 0, .9, "solid", 11, 10, 600, .7, "2", .1, .05, .2),
		m("S1", 0, 51, 0, .4, "part-solid", 20, 16, 3000, .1, "3", .3, .3, .4),
		m("S1", 200, 0, 0, .8, "solid", 5, 4, 50, .1, "2", .1, .1, .1),
		m("S2", 0, 0, 1, .7, "solid", 9, 8, 330, .6, "4A", .7, .5, .6),
		m("S2", 50, 50, 50.5, .95, "solid", 2, 2, 4, 0, "2", .1, .1, .1),
		m("S2", -100, 0, 0, .5, "", nan, nan, nan, nan, "", .1, nan, .1),
		m("S2", 100, 0, 2, .3, "", nan, nan, nan, nan, "", .2, nan, .4),
		m("S1", -50, -50, 0, .6, "solid", 6, 5, 80, .2, "4B", .1, .1, .1),
	}
	// Pleura distances (mm) of the measured hits: c0 8, c1 0.5, c3 0.
	cs[0].PleuraDistanceMM, cs[1].PleuraDistanceMM, cs[3].PleuraDistanceMM = 8, 0.5, 0
	return cs
}

func writeHand(t *testing.T) (truth, cands string) {
	t.Helper()
	dir := t.TempDir()
	truth, cands = filepath.Join(dir, "truth.csv"), filepath.Join(dir, "cands.csv")
	if err := os.WriteFile(truth, []byte(truthCSV), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := candidate.WriteFile(cands, handCands()); err != nil {
		t.Fatal(err)
	}
	return truth, cands
}

func nearF(a Float, b float64) bool {
	if math.IsNaN(b) {
		return math.IsNaN(float64(a))
	}
	return math.Abs(float64(a)-b) < 1e-12
}

type wantGroup struct {
	name              string
	nodules, detected int
	at                [7]float64
}

func checkGroups(t *testing.T, what string, got []Group, want []wantGroup) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d groups %+v, want %d", what, len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || g.Nodules != w.nodules || g.Detected != w.detected {
			t.Errorf("%s[%d] = %s %d nodules %d detected, want %s %d %d", what, i, g.Name, g.Nodules, g.Detected, w.name, w.nodules, w.detected)
			continue
		}
		var sum float64
		for k := range w.at {
			sum += w.at[k]
			if !nearF(g.SensitivityAt[k], w.at[k]) {
				t.Errorf("%s %s: sensitivity at %g FP/scan = %v, want %v", what, g.Name, OperatingPoints[k], g.SensitivityAt[k], w.at[k])
			}
		}
		if !nearF(g.SensitivityAt4, w.at[5]) || !nearF(g.CPM, sum/7) {
			t.Errorf("%s %s: at 4 FP %v CPM %v, want %v %v", what, g.Name, g.SensitivityAt4, g.CPM, w.at[5], sum/7)
		}
		if w.nodules > 0 && !nearF(g.Sensitivity, float64(w.detected)/float64(w.nodules)) {
			t.Errorf("%s %s: sensitivity %v", what, g.Name, g.Sensitivity)
		}
	}
}

// TestByKindAndSizeHand checks every per-kind and per-size number of the
// hand example, worked out by hand:
//
// Default rule (≥ 3 mm): annotations n0 n1 n2 n3 n5, n4 excluded (c4
// ignored). 2 scans, 3 FPs (.8, .6, .5). Entries: .9 TP(n0) .8 FP .7 TP(n3)
// .6 FP .5 FP .4 TP(n2) .3 TP(n5). Overall: (0,.2) (.5,.2) (.5,.4) (1,.4)
// (1.5,.4) (1.5,.6) (1.5,.8) → at 1/8…8: .2 .2 .4 .4 .8 .8 .8.
//
//	groundglass {n2}: FP .8 .6 .5 then TP .4: (.5,0) (1,0) (1.5,0) (1.5,1) → 0 0 0 0 1 1 1
//	mass {n5}: the same shape → 0 0 0 0 1 1 1
//	round {n0, n1}: TP .9 first, n1 missed → .5 everywhere
//	spiculated {n3}: FP .8 then TP .7: (.5,0) (.5,1) → 0 0 1 1 1 1 1
//	6–10 mm {n1, n3}: (.5,0) (.5,.5) → 0 0 .5 .5 .5 .5 .5
//	10–30 mm {n0, n2}: (0,.5) … (1.5,.5) (1.5,1) → .5 .5 .5 .5 1 1 1
//	≥ 30 mm {n5}: 0 0 0 0 1 1 1; 3–4 and 4–6 mm: no nodules (n/a)
func TestByKindAndSizeHand(t *testing.T) {
	truth, cands := writeHand(t)
	r, err := EvaluateFiles(Files{Annotations: truth, Candidates: cands}, Options{ByKind: true, BySize: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Nodules != 5 || r.Detected != 4 || r.FalsePositives != 3 || r.IgnoredMarks != 1 || r.ExcludedBelowMin != 1 ||
		r.MinDiameterMM != 3 || !strings.Contains(r.AnnotationRule, "LUNA16") {
		t.Fatalf("counts: %s", r.Summary())
	}
	if want := [7]float64{.2, .2, .4, .4, .8, .8, .8}; r.SensitivityAt != want {
		t.Errorf("overall %v, want %v", r.SensitivityAt, want)
	}
	late := [7]float64{0, 0, 0, 0, 1, 1, 1}
	checkGroups(t, "by kind", r.ByKind, []wantGroup{
		{"groundglass", 1, 1, late}, {"mass", 1, 1, late},
		{"round", 2, 1, [7]float64{.5, .5, .5, .5, .5, .5, .5}},
		{"spiculated", 1, 1, [7]float64{0, 0, 1, 1, 1, 1, 1}}})
	none := [7]float64{math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()}
	checkGroups(t, "by size", r.BySize, []wantGroup{
		{"3–4 mm", 0, 0, none}, {"4–6 mm", 0, 0, none},
		{"6–10 mm", 2, 1, [7]float64{0, 0, .5, .5, .5, .5, .5}},
		{"10–30 mm", 2, 2, [7]float64{.5, .5, .5, .5, 1, 1, 1}},
		{"≥ 30 mm", 1, 1, late}})
	s := r.Summary()
	for _, want := range []string{"diameter_mm ≥ 3 mm", "1 smaller ones are excluded", "spiculated         1         1       1.0000     1.0000  0.7143",
		"3–4 mm          0         0          n/a        n/a     n/a"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	// The JSON carries the sections; undefined numbers are null.
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"by_kind":[{"name":"groundglass"`) || !strings.Contains(string(b), `"name":"3–4 mm","low_mm":3,"high_mm":4,"nodules":0,"detected":0,"sensitivity":null`) {
		t.Errorf("JSON: %s", b)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil || len(back.BySize) != 5 || !math.IsNaN(float64(back.BySize[0].CPM)) ||
		!math.IsInf(float64(back.BySize[4].HighMM), 0) && !math.IsNaN(float64(back.BySize[4].HighMM)) {
		t.Errorf("round trip: %v %+v", err, back.BySize)
	}

	// --min-diameter 0: n4 (Ø2, hit by c4 at .95) is an annotation; a
	// "< 3 mm" band appears. round {n0, n1, n4}: .95 and .9 before any FP
	// → 2/3 everywhere; < 3 mm {n4}: 1 everywhere.
	zero := 0.0
	r, err = EvaluateFiles(Files{Annotations: truth, Candidates: cands}, Options{ByKind: true, BySize: true, MinDiameterMM: &zero})
	if err != nil {
		t.Fatal(err)
	}
	if r.Nodules != 6 || r.IgnoredMarks != 0 || r.ExcludedBelowMin != 0 || !strings.Contains(r.AnnotationRule, "whatever its size") {
		t.Fatalf("min 0: %s", r.Summary())
	}
	two3 := 2.0 / 3
	checkGroups(t, "min 0 by kind", r.ByKind[2:3], []wantGroup{{"round", 3, 2, [7]float64{two3, two3, two3, two3, two3, two3, two3}}})
	checkGroups(t, "min 0 by size", r.BySize[:1], []wantGroup{{"< 3 mm", 1, 1, [7]float64{1, 1, 1, 1, 1, 1, 1}}})

	// --min-diameter 8 (stricter than the detect test's 4): n1 (Ø6) leaves
	// round; 6–10 mm keeps n3 only.
	eight := 8.0
	r, err = EvaluateFiles(Files{Annotations: truth, Candidates: cands}, Options{ByKind: true, BySize: true, MinDiameterMM: &eight})
	if err != nil {
		t.Fatal(err)
	}
	if r.Nodules != 4 || r.ExcludedBelowMin != 2 || r.ByKind[2].Nodules != 1 || r.BySize[2].Nodules != 1 || r.BySize[2].Detected != 1 {
		t.Errorf("min 8: %s", r.Summary())
	}
}

// A plain LUNA16 table has no kind: --by kind is refused; --by size works
// and no size rule is applied unless asked for.
func TestByKindNeedsKind(t *testing.T) {
	dir := t.TempDir()
	ann, cands := filepath.Join(dir, "a.csv"), filepath.Join(dir, "c.csv")
	testfs.WriteFile(t, ann, []byte("seriesuid,coordX,coordY,coordZ,diameter_mm,malignancy\nA,0,0,0,2.5,3.5\nA,50,0,0,5,x\n"))
	testfs.WriteFile(t, cands, []byte("seriesuid,coordX,coordY,coordZ,probability\nA,0,0,0,0.9\n"))
	if _, err := EvaluateFiles(Files{Annotations: ann, Candidates: cands}, Options{ByKind: true}); err == nil ||
		!strings.Contains(err.Error(), "a.csv") || !strings.Contains(err.Error(), "kind") {
		t.Errorf("want ErrNoKind naming the file, got %v", err)
	}
	r, err := EvaluateFiles(Files{Annotations: ann, Candidates: cands}, Options{BySize: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Nodules != 2 || r.AnnotationRule != "" || len(r.BySize) != 6 || r.BySize[0].Name != "< 3 mm" || r.BySize[0].Detected != 1 {
		t.Errorf("plain table: %s %+v", r.Summary(), r.BySize)
	}
	three := 3.0
	if r, err = EvaluateFiles(Files{Annotations: ann, Candidates: cands}, Options{MinDiameterMM: &three}); err != nil || r.Nodules != 1 || r.IgnoredMarks != 1 {
		t.Errorf("explicit 3 mm rule on a plain table: %v %+v", err, r)
	}
}

// TestMeasurementHand checks the agreement section of the hand example.
func TestMeasurementHand(t *testing.T) {
	truth, cands := writeHand(t)
	r, err := EvaluateFiles(Files{Annotations: truth, Candidates: cands}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := r.Measurement
	if a == nil {
		t.Fatal("no measurement section")
	}
	if a.Detected != 4 || a.Measured != 3 {
		t.Errorf("detected %d measured %d, want 4 3", a.Detected, a.Measured)
	}
	// Mean diameter: c0 10.5 vs 10 → .05; c1 18 vs 20 → .1; c3 8.5 vs 8 →
	// .0625. Sorted .05 .0625 .1: median .0625, P90 at 1.8 → .0625+.8·.0375.
	if d := a.MeanDiameter; d.N != 3 || !nearF(d.Median, .0625) || !nearF(d.P90, .0625+.8*.0375) || !nearF(d.Mean, (.05+.1+.0625)/3) {
		t.Errorf("mean diameter %+v", d)
	}
	// Per kind, signed: round c0 +.05, ground glass c1 −.1, spiculated c3
	// +.0625.
	wantKind := []KindError{{"groundglass", 1, .1, -.1}, {"round", 1, .05, .05}, {"spiculated", 1, .0625, .0625}}
	checkKindErrors(t, "diameter", a.MeanDiameterByKind, wantKind)
	v0 := (600 - 523.6) / 523.6
	if v := a.Volume; v.N != 3 || !nearF(v.Median, v0) || math.Abs(float64(v.P90)-(v0+.8*(.25-v0))) > 1e-12 {
		t.Errorf("volume %+v (want median %v)", v, v0)
	}
	// Volume per kind, signed: round c0 600 vs 523.6, ground glass c1 3000
	// vs 4000 (−.25), spiculated c3 330 vs 300 (+.1); the unmeasured mass
	// has none.
	wantVol := []KindError{{"groundglass", 1, .25, -.25}, {"round", 1, Float(v0), Float(v0)}, {"spiculated", 1, .1, .1}}
	checkKindErrors(t, "volume", a.VolumeByKind, wantVol)
	wantAcc := []struct {
		kind     string
		ok, meas int
	}{{"groundglass", 0, 1}, {"round", 1, 1}, {"spiculated", 1, 1}, {"all", 2, 3}}
	if len(a.TypeAccuracy) != len(wantAcc) {
		t.Fatalf("type accuracy %+v", a.TypeAccuracy)
	}
	for i, w := range wantAcc {
		g := a.TypeAccuracy[i]
		if g.Kind != w.kind || g.Correct != w.ok || g.Measured != w.meas || !nearF(g.Accuracy, float64(w.ok)/float64(w.meas)) {
			t.Errorf("type accuracy[%d] = %+v, want %+v", i, g, w)
		}
	}
	c := a.TypeConfusion
	if fmt.Sprint(c.Truth, c.Measured, c.Counts) != "[solid non-solid] [solid part-solid unmeasured] [[2 0 1] [0 1 0]]" {
		t.Errorf("confusion %v %v %v", c.Truth, c.Measured, c.Counts)
	}
	// Spiculation: positive n3 .6; negatives n0 .7, n2 .1 → 1 of 2 pairs.
	if s := a.Spiculation; s.Positives != 1 || s.Negatives != 2 || !nearF(s.AUC, .5) {
		t.Errorf("spiculation AUC %+v", s)
	}
	// Against round only: n3 .6 against n0 .7 → 0 of 1 pair.
	if s := a.SpiculationVsRound; s.Positives != 1 || s.Negatives != 1 || !nearF(s.AUC, 0) {
		t.Errorf("spiculated vs round AUC %+v", s)
	}
	// Malignant (≥ 4): n3, n5. malignancy {.7,.2} vs {.1,.3} → 3/4; brock
	// {.5} vs {.05,.3} (n5 has none) → 1; cnn {.6,.4} vs {.2,.4} → 3.5/4.
	wantMal := map[string]float64{"malignancy": .75, "brock": 1, "cnn": .875}
	for _, m := range a.Malignancy {
		if !nearF(m.AUC, wantMal[m.Column]) {
			t.Errorf("malignancy AUC %+v, want %v", m, wantMal[m.Column])
		}
	}
	if a.Malignancy[1].Skipped != 1 {
		t.Errorf("brock skipped %d, want 1", a.Malignancy[1].Skipped)
	}
	if fmt.Sprint(a.LungRADSDetected) != "map[2:1 3:1 4A:1 unmeasured:1]" || fmt.Sprint(a.LungRADSFalsePositives) != "map[2:1 4B:1 unmeasured:1]" {
		t.Errorf("Lung-RADS %v %v", a.LungRADSDetected, a.LungRADSFalsePositives)
	}
	// Touching the pleura: n3 (juxtapleural) by c3 at 0 mm; of the
	// parenchymal n0 and n2, c1 at 0.5 mm touches, c0 at 8 mm does not.
	if fmt.Sprint(a.PleuraContact) != "[{juxtapleural 1 1} {parenchyma 2 1}]" {
		t.Errorf("pleura contact %v", a.PleuraContact)
	}
	s := r.Summary()
	for _, want := range []string{"mean diameter (long+short)/2: |relative error| median 6.2 %, 90th percentile 9.2 % (n = 3)",
		"touching the pleura (pleura_distance_mm ≤ 1), by truth location: juxtapleural 1/1; parenchyma 1/2;",
		"by kind, median |error| (median signed error, n): groundglass 10.0 % (-10.0 %, 1); round 5.0 % (+5.0 %, 1); spiculated 6.2 % (+6.2 %, 1);",
		"by kind, median |error| (median signed error, n): groundglass 25.0 % (-25.0 %, 1); round 14.6 % (+14.6 %, 1); spiculated 10.0 % (+10.0 %, 1);",
		"spiculated vs not, AUC of spiculation: 0.500", "spiculated vs round, AUC of spiculation: 0.000 (1 spiculated, 1 round)",
		"Lung-RADS of false positives: 2 1, 4B 1, unmeasured 1",
		"brock 1.000 (1/2)"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	// Candidates without measurements: the section is skipped with a note.
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.csv")
	testfs.WriteFile(t, plain, []byte("seriesuid,coordX,coordY,coordZ,probability\nS1,0,0,0,0.9\n"))
	r, err = EvaluateFiles(Files{Annotations: truth, Candidates: plain}, Options{})
	if err != nil || r.Measurement != nil || len(r.Notes) != 1 || !strings.Contains(r.Summary(), "measurement agreement: skipped") {
		t.Errorf("unmeasured candidates: %v %+v", err, r)
	}
}

// ReadTruth reads what phantom.WriteTruth writes as phantom.ReadTruth does.
func TestReadTruthMatchesPhantom(t *testing.T) {
	ns := []phantom.Nodule{
		{World: [3]float64{1.5, -2.25, -100.125}, DiameterMM: 7.31, Kind: phantom.PartSolid, Malignancy: 4, Type: phantom.TypePartSolid,
			SolidDiameterMM: 3.2, LongAxisMM: 8.1, ShortAxisMM: 6.6, VolumeMM3: 204.5, Location: phantom.LocationParenchyma},
		{World: [3]float64{-40, 10, -50}, DiameterMM: 12, Kind: phantom.Spiculated, Malignancy: 5, Type: phantom.TypeSolid,
			SolidDiameterMM: 12, LongAxisMM: 12.5, ShortAxisMM: 11, VolumeMM3: 905, Spiculated: true, Location: phantom.LocationJuxtapleural},
	}
	p := filepath.Join(t.TempDir(), "truth.csv")
	if err := phantom.WriteTruth(p, "UID,1", ns); err != nil {
		t.Fatal(err)
	}
	want, err := phantom.ReadTruth(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadTruth(p)
	if err != nil {
		t.Fatal(err)
	}
	if !got.HasKind || !got.HasMeasures || len(got.Rows) != len(want) {
		t.Fatalf("%+v", got)
	}
	for i, w := range want {
		g := got.Rows[i]
		sp := 0
		if w.Spiculated {
			sp = 1
		}
		if g.SeriesUID != w.SeriesUID || g.World != [3]float64(w.World) || g.DiameterMM != w.DiameterMM || g.Kind != string(w.Kind) ||
			g.Type != string(w.Type) || g.Malignancy != w.Malignancy || g.SolidDiameterMM != w.SolidDiameterMM ||
			g.LongAxisMM != w.LongAxisMM || g.ShortAxisMM != w.ShortAxisMM || g.VolumeMM3 != w.VolumeMM3 || g.Spiculated != sp {
			t.Errorf("row %d: %+v, phantom %+v", i, g, w)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.csv")
	testfs.WriteFile(t, bad, []byte(strings.Replace(truthCSV, "S1,0,0,0,10,2,round,solid,10,10,10,523.6,0", "S1,0,0,0,10,2,round,solid,10,10,10,523.6,yes", 1)))
	if _, err := ReadTruth(bad); err == nil || !strings.Contains(err.Error(), "bad.csv") || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad spiculated cell: %v", err)
	}
}

// MannWhitneyAUC against scikit-learn's roc_auc_score on random scores
// with many ties.
func TestAUCAgainstSklearn(t *testing.T) {
	pyref.Python(t, "sklearn")
	rng := rand.New(rand.NewPCG(9, 9))
	var cases [][2][]string
	var want []float64
	for c := 0; c < 20; c++ {
		n := 2 + rng.IntN(60)
		var s, l []string
		scores, pos := make([]float64, n), make([]bool, n)
		for i := range scores {
			scores[i] = math.Round(rng.Float64()*10) / 10
			pos[i] = rng.Float64() < 0.4
			if i == 0 {
				pos[i] = true
			}
			if i == 1 {
				pos[i] = false
			}
			s = append(s, strconv.FormatFloat(scores[i], 'g', -1, 64))
			l = append(l, map[bool]string{true: "1", false: "0"}[pos[i]])
		}
		cases = append(cases, [2][]string{s, l})
		want = append(want, MannWhitneyAUC(scores, pos))
	}
	var script strings.Builder
	script.WriteString("from sklearn.metrics import roc_auc_score\n")
	for _, c := range cases {
		fmt.Fprintf(&script, "print(repr(roc_auc_score([%s], [%s])))\n", strings.Join(c[1], ","), strings.Join(c[0], ","))
	}
	out := pyref.Run(t, []string{"sklearn"}, "-c", script.String())
	lines := strings.Fields(string(out))
	if len(lines) != len(want) {
		t.Fatalf("python printed %d values for %d cases: %s", len(lines), len(want), out)
	}
	for i, l := range lines {
		ref, err := strconv.ParseFloat(l, 64)
		if err != nil || math.Abs(ref-want[i]) > 1e-12 {
			t.Errorf("case %d: Go %v, sklearn %s", i, want[i], l)
		}
	}
	if !math.IsNaN(MannWhitneyAUC([]float64{1, 2}, []bool{true, true})) {
		t.Error("one class: want NaN")
	}
}

func TestQuantile(t *testing.T) {
	// numpy.percentile([1, 2, 4, 8], [50, 90]) = 3.0, 6.8
	v := []float64{1, 2, 4, 8}
	if q := Quantile(v, .5); q != 3 {
		t.Errorf("median %v", q)
	}
	if q := Quantile(v, .9); math.Abs(q-6.8) > 1e-12 {
		t.Errorf("p90 %v", q)
	}
	if q := Quantile([]float64{5}, .9); q != 5 || !math.IsNaN(Quantile(nil, .5)) {
		t.Errorf("single %v", q)
	}
}

// checkKindErrors compares per-kind errors with want (kind, count, median
// and median signed error).
func checkKindErrors(t *testing.T, what string, got, want []KindError) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s by kind %+v, want %+v", what, got, want)
	}
	for i, w := range want {
		g := got[i]
		if g.Kind != w.Kind || g.N != w.N || !nearF(g.Median, float64(w.Median)) || !nearF(g.Bias, float64(w.Bias)) {
			t.Errorf("%s by kind[%d] = %+v, want %+v", what, i, g, w)
		}
	}
}
