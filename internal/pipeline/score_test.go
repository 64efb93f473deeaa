package pipeline

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/classify"
	"github.com/lungctl/lungctl/internal/risk"
	"github.com/lungctl/lungctl/internal/volume"
)

func TestResolveCovariates(t *testing.T) {
	// DICOM alone.
	cv, w := ResolveCovariates("071Y", "F", nil)
	if !cv.Clinical.AgeKnown || cv.Clinical.AgeYears != 71 || cv.Clinical.Sex != risk.Female || len(w) != 0 {
		t.Errorf("DICOM only: %+v %v", cv.Clinical, w)
	}
	if cv.Sources["age"] != SourceDICOM || cv.Sources["sex"] != SourceDICOM || cv.Sources["family_history"] != SourceDefault {
		t.Errorf("DICOM only sources %v", cv.Sources)
	}
	// The CSV overrides what it gives; an empty cell gives nothing.
	row := risk.Clinical{AgeYears: 64, AgeKnown: true, FamilyHistory: risk.Yes}
	cv, _ = ResolveCovariates("071Y", "F", &row)
	if cv.Clinical.AgeYears != 64 || cv.Sources["age"] != SourceCSV || cv.Clinical.Sex != risk.Female ||
		cv.Sources["sex"] != SourceDICOM || cv.Clinical.FamilyHistory != risk.Yes || cv.Sources["family_history"] != SourceCSV {
		t.Errorf("CSV over DICOM: %+v %v", cv.Clinical, cv.Sources)
	}
	// A DICOM value that does not parse is unknown, with a warning.
	cv, w = ResolveCovariates("71", "X", nil)
	if cv.Clinical.AgeKnown || cv.Clinical.Sex != risk.SexUnknown || len(w) != 2 {
		t.Errorf("bad DICOM values: %+v %v", cv.Clinical, w)
	}
	// The record: emphysema measured on the CT, the rest as resolved.
	cv, _ = ResolveCovariates("", "M", nil)
	used := cv.Clinical
	used.Emphysema = risk.No
	r := cv.Record(used)
	if r.AgeYears != risk.DefaultAgeYears || r.Sex != "M" || r.Emphysema != "no" || r.Sources["emphysema"] != SourceCT ||
		!slices.Equal(r.Defaulted, []string{"age", "family_history"}) || r.Sources["age"] != SourceDefault {
		t.Errorf("record %+v", r)
	}
}

// chest is a small scan: a 40 mm cube of lung (−850 HU) with a 10 %
// share at −960 HU, on a 1 mm grid.
func chest(t *testing.T) *Preprocessed {
	t.Helper()
	g := volume.Grid{Dims: [3]int{40, 40, 40}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	p := &Preprocessed{ID: "c", HU: volume.New[int16](g), Lung: volume.New[uint8](g), Seconds: map[string]float64{}}
	for i := range p.HU.Data {
		p.HU.Data[i], p.Lung.Data[i] = -850, 1
		if i%10 == 0 {
			p.HU.Data[i] = -960
		}
	}
	return p
}

func measured(typ string, long, short, solid, detect float64) candidate.Candidate {
	return candidate.Candidate{World: [3]float64{20, 20, 30}, Type: typ, LongAxisMM: long, ShortAxisMM: short,
		MeanDiameterMM: (long + short) / 2, SolidDiameterMM: solid, DetectScore: detect, Probability: detect,
		Malignancy: math.NaN(), Brock: math.NaN(), CNN: math.NaN()}
}

// TestCharacteriseKeepsGoing: a candidate the models cannot use gets a
// note, not a failed scan; the nodule count includes the scored nodule;
// the defaults are listed even when no nodule is scored.
func TestCharacteriseKeepsGoing(t *testing.T) {
	p := chest(t)
	cs := []candidate.Candidate{
		measured("part-solid", 9, 7, 0, 0.9), // no solid part to measure: no Lung-RADS, with a note
		measured("solid", 12, 10, 11, 0.8),
		{World: [3]float64{5, 5, 5}, DetectScore: 0.7, Malignancy: math.NaN()}, // not measured
		measured("calcified", 6, 5, 5, 0.6),
		measured("solid", 5, 4, 4.5, 0.2), // below the report threshold
	}
	clin := risk.Clinical{AgeYears: 70, AgeKnown: true, Sex: risk.Male}
	pr, err := Characterise(p, cs, clin)
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.Notes) != 1 || !strings.Contains(pr.Notes[0], "candidate 1") {
		t.Errorf("notes %q, want one about candidate 1", pr.Notes)
	}
	if cs[0].LungRADS != "" || !(cs[0].Brock > 0) {
		t.Errorf("part-solid without a solid part: Lung-RADS %q, Brock %v", cs[0].LungRADS, cs[0].Brock)
	}
	if cs[1].LungRADS != "4A" || pr.LungRADS != "4A" || pr.Reported != 4 {
		t.Errorf("solid 11 mm: %q, patient %q, reported %d", cs[1].LungRADS, pr.LungRADS, pr.Reported)
	}
	if !math.IsNaN(cs[2].Brock) || cs[2].LungRADS != "" || !math.IsNaN(cs[3].Brock) || cs[3].LungRADS != "1" {
		t.Errorf("unmeasured %v %q, calcified %v %q", cs[2].Brock, cs[2].LungRADS, cs[3].Brock, cs[3].LungRADS)
	}
	if math.Abs(pr.EmphysemaPct-10) > 0.01 || pr.Clinical.Emphysema != risk.Yes {
		t.Errorf("emphysema %.3f %% (%v), want 10 %% measured as yes", pr.EmphysemaPct, pr.Clinical.Emphysema)
	}
	if !slices.Equal(pr.Defaulted, []string{"family_history"}) {
		t.Errorf("defaulted %v", pr.Defaulted)
	}
	for i, count := range map[int]int{1: 4, 4: 5} { // reported: 4; the unreported one counts itself
		typ, _ := risk.ParseNoduleType(cs[i].Type)
		want, err := risk.Brock(risk.BrockInput{Clinical: pr.Clinical, SizeMM: cs[i].LongAxisMM, Type: typ,
			UpperLobe: cs[i].UpperZone, NoduleCount: count})
		if err != nil || math.Abs(want.Probability-cs[i].Brock) > 1e-12 {
			t.Errorf("candidate %d: Brock %v, want %v with %d nodules (%v)", i+1, cs[i].Brock, want.Probability, count, err)
		}
	}
	// No scored nodule: the defaults are still listed.
	pr, err = Characterise(p, nil, risk.Clinical{})
	if err != nil || !slices.Equal(pr.Defaulted, []string{"age", "sex", "family_history"}) || pr.LungRADS != "1" {
		t.Errorf("no candidates: %v %v %q", err, pr.Defaulted, pr.LungRADS)
	}
}

// TestScorers: which scorer runs the CNN, which warns, and what
// malignancy each gives, with the embedded (phantom) model.
func TestScorers(t *testing.T) {
	m, err := classify.Default()
	if err != nil {
		t.Fatal(err)
	}
	if m.Card().Domain != classify.DomainPhantom {
		t.Skipf("the embedded model's domain is %q", m.Card().Domain)
	}
	for _, tc := range []struct {
		o        ScoreOptions
		runs     bool
		warnsFor string
	}{
		{ScoreOptions{Model: m}, false, ""},
		{ScoreOptions{Model: m, CNN: true}, true, ""},
		{ScoreOptions{Model: m, Scorer: ScorerCNN}, true, `domain "phantom"`},
		{ScoreOptions{Model: m, Scorer: ScorerFused}, false, "Brock's alone"},
		{ScoreOptions{Model: m, Scorer: ScorerCNN, NoScore: true}, false, ""},
	} {
		if got := tc.o.RunsCNN(); got != tc.runs {
			t.Errorf("%+v: RunsCNN %v, want %v", tc.o, got, tc.runs)
		}
		w := tc.o.ModelWarning()
		if (tc.warnsFor == "") != (w == "") || !strings.Contains(w, tc.warnsFor) {
			t.Errorf("scorer %q: warning %q, want one with %q", tc.o.Scorer, w, tc.warnsFor)
		}
	}
	p := chest(t)
	cs := []candidate.Candidate{measured("solid", 12, 10, 11, 0.8)}
	s, err := Score(p, cs, ScoreOptions{Model: m, Scorer: ScorerCNN, NoisyORK: 5, NoisyORLeak: 0.02})
	if err != nil {
		t.Fatal(err)
	}
	if cs[0].Malignancy != cs[0].CNN || math.IsNaN(cs[0].CNN) || s.ModelSHA256 != m.SHA256() || s.ModelDomain != "phantom" {
		t.Errorf("cnn: malignancy %v, cnn %v, sha %q", cs[0].Malignancy, cs[0].CNN, s.ModelSHA256)
	}
	if want := 1 - 0.98*(1-0.8*cs[0].CNN); math.Abs(s.Cancer-want) > 1e-12 {
		t.Errorf("cancer %v, want %v", s.Cancer, want)
	}
	s, err = Score(p, cs, ScoreOptions{Model: m, Scorer: ScorerFused, NoisyORK: 5, NoisyORLeak: 0.02})
	if err != nil || cs[0].Malignancy != cs[0].Brock || !math.IsNaN(cs[0].CNN) || s.ModelSHA256 != "" {
		t.Errorf("fused with a phantom model: %v, malignancy %v, brock %v, cnn %v", err, cs[0].Malignancy, cs[0].Brock, cs[0].CNN)
	}
}

func TestOrdered(t *testing.T) {
	nan := math.NaN()
	cs := []candidate.Candidate{
		{Malignancy: nan, Probability: 0.9},
		{Malignancy: 0.2, Probability: 0.5},
		{Malignancy: 0.7, Probability: 0.4},
		{Malignancy: 0.2, Probability: 0.8},
		{Malignancy: nan, Probability: 0.95},
		{Malignancy: 0.9, Probability: 0.1}, // large and Brock-high, but hardly a lesion
		{Malignancy: 0.1, Probability: nan}, // no detection score: malignancy alone
	}
	// Keys: 0.28 (2), 0.16 (3), 0.1 (1), 0.1 (6, tie broken by the NaN
	// detection score last), 0.09 (5), then by detection score.
	if got := Ordered(cs, OrderMalignancy); !slices.Equal(got, []int{2, 3, 1, 6, 5, 4, 0}) {
		t.Errorf("by malignancy %v", got)
	}
	if got := Ordered(cs, OrderDetection); !slices.Equal(got, []int{4, 0, 3, 1, 2, 5, 6}) {
		t.Errorf("by detection %v", got)
	}
	if _, err := ParseOrder("size"); err == nil {
		t.Error("--order size accepted")
	}
}

// TestReadDoneLegacy: a done.json written before cancer_probability reads
// its "cancer".
func TestReadDoneLegacy(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, DoneFile), []byte(`{"id":"a","cancer":0.75,"files":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := ReadDone(dir)
	if err != nil || r.Cancer != 0.75 {
		t.Errorf("legacy done.json: %v %v", r.Cancer, err)
	}
}

// TestMalignancyDetectionWeight: the patient probability weighs each
// malignancy by the detection score, the probability column standing in
// for a candidates file without detect_score (a plain LUNA16 file).
func TestMalignancyDetectionWeight(t *testing.T) {
	cs := []candidate.Candidate{
		{DetectScore: 0.5, Probability: 0.9, Brock: 0.4},
		{DetectScore: math.NaN(), Probability: 0.8, Brock: 0.5},
	}
	p, err := Malignancy(cs, ScorerBrock, false, 5, 0.02)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 - 0.98*(1-0.5*0.4)*(1-0.8*0.5); math.Abs(p-want) > 1e-12 {
		t.Errorf("patient probability %v, want %v", p, want)
	}
}
