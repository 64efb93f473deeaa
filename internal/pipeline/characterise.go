package pipeline

import (
	"errors"
	"fmt"
	"math"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/nodule"
	"github.com/lungctl/lungctl/internal/risk"
)

// ReportThreshold is the detection score at or above which a candidate
// counts as a reported nodule: for the Brock model's nodule count and for
// the patient's Lung-RADS category (candidates below it keep their own
// category in candidates.csv, but a probable vessel must not make the
// patient 4B). The detection score is a logistic model's (detect.FinalScore)
// fitted on phantom seeds 1–20, and 0.45 is its operating point of 0.25
// false positives per scan there (0.90 of the lesions since the ninth
// session's refit with the mirrored roundness, 0.87 before); on the
// held-out seeds 101–120 it keeps 0.86 at 0.10 per scan, on seeds 201–210
// 0.89–0.91 at 0.2–0.4. (With the model before the second stage weighed
// wall contact, that point was 0.35.) Lung-PET-CT-Dx A0002's 63 mm
// adenocarcinoma scores 0.47 (0.69 before the refit, which gave wall
// contact less weight: a thin margin, for a model fitted on phantoms) and
// LIDC-IDRI-0001's nodule 0.99; the next candidates of either scan stay
// under 0.03.
const ReportThreshold = 0.45

// Scorer names the per-candidate malignancy model.
type Scorer string

// The scorers: Brock (PanCan, the default: validated on screening
// populations, uses only measurements and covariates), the CNN (as good as
// its training data; the embedded one knows only phantoms), and fused (the
// mean of the two where the CNN's card says it was trained on patients,
// else Brock).
const (
	ScorerBrock Scorer = "brock"
	ScorerCNN   Scorer = "cnn"
	ScorerFused Scorer = "fused"
)

// ParseScorer reads a --scorer value.
func ParseScorer(s string) (Scorer, error) {
	switch Scorer(s) {
	case ScorerBrock, ScorerCNN, ScorerFused:
		return Scorer(s), nil
	}
	return "", fmt.Errorf("%w: --scorer %q: want brock, cnn or fused", ErrUsage, s)
}

// PatientRisk is a scan's patient-level characterisation.
type PatientRisk struct {
	// EmphysemaPct is the % of lung voxels at or below −950 HU (LAA-950),
	// read with the image noise brought down to risk.NoiseRefHU;
	// Densitometry holds that reading's noise, smoothing and raw value.
	EmphysemaPct float64
	Densitometry risk.Densitometry
	// LungRADS is the most suspicious category among the reported nodules
	// ("1" when none is reported: a negative screen).
	LungRADS string
	// Reported is the number of candidates at or above ReportThreshold.
	Reported int
	// Clinical are the covariates the Brock model used (emphysema filled
	// in from EmphysemaPct when it was unknown), and Defaulted the ones it
	// had to default (see defaulted), whether or not a nodule was scored.
	Clinical  risk.Clinical
	Defaulted []string
	// Notes say why a measured candidate got no Lung-RADS category or no
	// Brock probability (measurements the models cannot use, such as a
	// part-solid lesion without a measurable solid part).
	Notes []string
}

// Characterise fills each measured candidate's UpperZone, Brock and
// LungRADS from its measurements, the lung mask and the patient's
// covariates, and measures the patient: emphysema, Lung-RADS, nodule count.
// An unknown emphysema covariate is taken from the measured LAA-950
// (risk.EmphysemaPresent), the way PanCan's radiologists judged it on the
// CT; a noisy scan is read smoothed to a standard scan's noise first
// (risk.Emphysema), so that low-dose noise is not taken for emphysema. Brock's size is the candidate's long axis (the maximum diameter the
// model was fitted on); its nodule count is the number of reported
// candidates, plus one for a candidate below the report threshold (the
// count includes the nodule scored). A candidate whose measurements a model
// cannot use keeps an empty category or a NaN probability and gets a note;
// it does not fail the scan. Unmeasured candidates (Type "") are left
// alone.
func Characterise(p *Preprocessed, cs []candidate.Candidate, clin risk.Clinical) (PatientRisk, error) {
	var pr PatientRisk
	if p.Lung == nil {
		return pr, fmt.Errorf("characterise %s: no lung mask", p.ID)
	}
	if err := clin.Validate(); err != nil {
		return pr, fmt.Errorf("characterise %s: %w", p.ID, err)
	}
	dens, err := risk.Emphysema(p.HU, p.Lung)
	if err != nil {
		return pr, fmt.Errorf("characterise %s: %w", p.ID, err)
	}
	laa := dens.LAA950
	pr.EmphysemaPct, pr.Densitometry = laa, dens
	if clin.Emphysema == risk.Unknown {
		if yes, err := risk.EmphysemaPresent(laa); err == nil {
			clin.Emphysema = risk.TriOf(yes)
		}
	}
	pr.Clinical, pr.Defaulted = clin, defaulted(clin)
	zones := nodule.LungZones(p.Lung)
	for _, c := range cs {
		if detection(c) >= ReportThreshold {
			pr.Reported++
		}
	}
	var cats []risk.Category
	for i := range cs {
		cat, reported := characteriseOne(&cs[i], i+1, zones, clin, pr.Reported, &pr.Notes)
		if reported && cat != "" {
			cats = append(cats, cat)
		}
	}
	pr.LungRADS = string(risk.Cat1)
	if len(cats) > 0 {
		best, err := risk.MostSuspicious(cats)
		if err != nil {
			return pr, fmt.Errorf("characterise %s: %w", p.ID, err)
		}
		pr.LungRADS = string(best)
	}
	return pr, nil
}

// characteriseOne fills candidate c (1-based rank) and returns its
// category ("" when none) and whether it is reported; problems go to notes.
func characteriseOne(c *candidate.Candidate, rank int, zones nodule.Zones, clin risk.Clinical, reported int, notes *[]string) (risk.Category, bool) {
	c.Brock = math.NaN()
	c.LungRADS = ""
	if c.Type == "" {
		return "", false
	}
	c.UpperZone = zones.Upper(c.World)
	isReported := detection(*c) >= ReportThreshold
	typ, err := risk.ParseNoduleType(c.Type)
	if err != nil {
		*notes = append(*notes, fmt.Sprintf("candidate %d: %v", rank, err))
		return "", isReported
	}
	spic := c.Spiculation >= nodule.SpiculatedAt
	cat, err := risk.LungRADS(risk.LungRADSNodule{Type: typ, MeanDiameterMM: c.MeanDiameterMM,
		SolidMeanDiameterMM: c.SolidDiameterMM, Suspicious: spic})
	if err != nil {
		*notes = append(*notes, fmt.Sprintf("candidate %d: no Lung-RADS category: %v", rank, err))
	}
	c.LungRADS = string(cat)
	count := reported
	if !isReported {
		count++
	}
	b, err := risk.Brock(risk.BrockInput{Clinical: clin, SizeMM: c.LongAxisMM, Type: typ,
		UpperLobe: c.UpperZone, Spiculated: spic, NoduleCount: max(count, 1)})
	switch {
	case errors.Is(err, risk.ErrCalcified):
	case err != nil:
		*notes = append(*notes, fmt.Sprintf("candidate %d: no Brock probability: %v", rank, err))
	default:
		c.Brock = b.Probability
	}
	return cat, isReported
}

// Malignancy sets each candidate's Malignancy from the scorer and returns
// the patient's cancer probability: a noisy-OR over the k candidates with
// the highest detection-weighted malignancy, P = 1 − (1 − leak)·Π(1 − dᵢ·mᵢ),
// where dᵢ is the detection score (how likely the candidate is a lesion at
// all: a vessel's Brock probability must not count fully; the probability
// column when a candidates file has no detect_score) and mᵢ the
// scorer's malignancy. cnnPatients says whether the CNN was trained on
// patients (its model card); fused uses the CNN only then.
func Malignancy(cs []candidate.Candidate, s Scorer, cnnPatients bool, k int, leak float64) (float64, error) {
	var ps []float64
	for i := range cs {
		c := &cs[i]
		switch s {
		case ScorerBrock:
			c.Malignancy = c.Brock
		case ScorerCNN:
			c.Malignancy = c.CNN
		case ScorerFused:
			c.Malignancy = c.Brock
			if cnnPatients && !math.IsNaN(c.CNN) {
				if math.IsNaN(c.Brock) {
					c.Malignancy = c.CNN
				} else {
					c.Malignancy = (c.Brock + c.CNN) / 2
				}
			}
		default:
			return 0, fmt.Errorf("%w: scorer %q", ErrUsage, s)
		}
		if !math.IsNaN(c.Malignancy) {
			ps = append(ps, clamp01(detection(*c))*c.Malignancy)
		}
	}
	return risk.NoisyOR(ps, k, leak)
}

// detection is a candidate's detection score: DetectScore, or, in a
// candidates file without that column (a plain LUNA16 file), the
// probability column, which holds the detection score there.
func detection(c candidate.Candidate) float64 {
	if math.IsNaN(c.DetectScore) {
		return c.Probability
	}
	return c.DetectScore
}

func clamp01(x float64) float64 {
	if !(x > 0) {
		return 0
	}
	return math.Min(x, 1)
}
