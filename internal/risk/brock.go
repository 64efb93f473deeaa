package risk

import (
	"errors"
	"fmt"
	"math"
)

// Brock model: the full PanCan model with spiculation of
//
//	[M13] McWilliams A, Tammemagi MC, Mayo JR, et al. Probability of cancer in
//	      pulmonary nodules detected on first screening CT. N Engl J Med
//	      2013;369(10):910-919. doi:10.1056/NEJMoa1214726 (PMC3951177).
//
// The model (variables per [M13]'s abstract and every source below) is a
// logistic regression
//
//	logit = BrockIntercept
//	      + BrockAge          · (age − BrockAgeCentre)
//	      + BrockFemale       · female
//	      + BrockFamily       · family history of lung cancer
//	      + BrockEmphysema    · emphysema
//	      + BrockSize         · ((size/10)^−0.5 − BrockSizeCentre)
//	      + BrockPartSolid    · part-solid  (or BrockNonSolid · non-solid)
//	      + BrockUpperLobe    · upper lobe
//	      + BrockCount        · (nodule count − BrockCountCentre)
//	      + BrockSpiculation  · spiculation
//	P = 1 / (1 + e^−logit)
//
// Where the numbers were read (the [M13] supplementary appendix itself,
// which holds the parameter table, could not be read from here):
//
//	[R19] Eur Radiol 2019;29(10):5367-5377, doi:10.1007/s00330-019-06168-x,
//	      Table 2 (PMC6717521), column "BU" (Brock University): every
//	      coefficient below to four decimals, the size term defined as
//	      (diameter in mm / 10)^−0.5, and an uncentred intercept 0.2761.
//	[MA]  medicalalgorithms.com, "pulmonary-nodule-cancer": the centring
//	      — 62 subtracted from age, 4 from the nodule count, and
//	      1.58113883 from the transformed size (its prose says "4 mm is
//	      subtracted", which is what 1.58113883 = (4/10)^−0.5 amounts to).
//	      Its coefficient table is the model without spiculation and is
//	      not used here.
//	[IMPL] three independent public reimplementations (a French clinical
//	      calculator in Python, a Spanish JavaScript module, a WeChat
//	      mini-program) that carry the same coefficients to seven significant
//	      digits, e.g. −6.78917, 0.0286687, 0.6010727, and the same three
//	      centring constants as [MA].
//
// Agreement: every [IMPL] coefficient rounds to [R19]'s four decimals but
// one: [IMPL]'s size coefficient −5.385484 would round to −5.3855, while
// [R19] (and a fourth reimplementation, in Kotlin, with four-decimal
// values) print −5.3854 — a truncation somewhere, 8.4e-5 apart. The
// centred intercept −6.7892 is [IMPL]'s −6.78917 rounded (and the Kotlin
// one's); it is also what [R19]'s uncentred 0.2761 gives back: 0.2761 =
// −6.7892 − 0.0287·62 + 5.3854·1.58113883 + 0.0824·4 (checked in the
// tests; the seven-digit values give 0.2782 instead, so [R19] used the
// four-decimal ones). 1.58113883 is (4/10)^−0.5 = √2.5, i.e. the size term is
// centred on a 4 mm nodule. The four-decimal values are used because they
// are the ones a peer-reviewed table prints; the seven-digit ones move the
// probability by less than 0.001 anywhere in the model's range (tested).
const (
	BrockIntercept   = -6.7892 // [IMPL] −6.78917; [R19] 0.2761 uncentred
	BrockAge         = 0.0287  // per year; [R19], [IMPL] 0.0286687
	BrockAgeCentre   = 62.0    // years; [MA], [IMPL]
	BrockFemale      = 0.6011  // [R19], [IMPL] 0.6010727
	BrockFamily      = 0.2961  // [R19], [IMPL] 0.296109
	BrockEmphysema   = 0.2953  // [R19], [IMPL] 0.2953112
	BrockSize        = -5.3854 // times the transformed size; [R19], [IMPL] −5.385484
	BrockSizeCentre  = 1.58113883
	BrockPartSolid   = 0.377   // [R19], [IMPL] 0.3769578
	BrockNonSolid    = -0.1276 // [R19], [IMPL] −0.1276173
	BrockUpperLobe   = 0.6581  // [R19], [IMPL] 0.6581383
	BrockCount       = -0.0824 // per nodule; [R19], [IMPL] −0.0824156
	BrockCountCentre = 4.0     // nodules; [MA], [IMPL]
	BrockSpiculation = 0.7729  // [R19], [IMPL] 0.7729335
)

// Defaults for unknown covariates (see Clinical).
//
// DefaultAgeYears is the model's own age centre: an unknown age adds
// nothing to the logit, so the probability is that of a 62-year-old. (The
// PanCan participants' mean age was about that: 62.9 years in the 1,237
// enrolled in BMJ Open 2019;9:e024719, Table 1.)
//
// UnknownIndicator is the value an unknown yes/no covariate (sex, family
// history, emphysema) takes in the logit: halfway between its two answers.
// It neither assumes the reference answer (which would always lower the
// probability, since every such coefficient is positive) nor borrows a
// cohort prevalence that may not fit lungctl's patients; the error it can
// make is at most half the coefficient — a factor of at most e^(0.6011/2) ≈
// 1.35 on the odds, for sex. BrockResult.Low and .High give the
// probabilities with every defaulted yes/no at its low and high answer.
const (
	DefaultAgeYears  = BrockAgeCentre
	UnknownIndicator = 0.5
)

// MaxNoduleMM is the largest diameter still called a nodule (Fleischner
// Society glossary: a nodule is ≤ 3 cm; larger is a mass). Brock still
// scores larger lesions but adds a note that the PanCan model was fitted on
// nodules.
const MaxNoduleMM = 30.0

// ErrCalcified is returned by Brock for a Calcified nodule: benign-calcified
// nodules are not scored by the PanCan model. Use LungRADS (category 1).
var ErrCalcified = errors.New("calcified nodules are outside the Brock (PanCan) model")

// BrockInput is one nodule of one patient.
type BrockInput struct {
	// Clinical holds the patient's covariates; unknown ones are defaulted.
	Clinical Clinical
	// SizeMM is the nodule's maximum (longest) diameter in mm. That is what
	// the PanCan radiologists measured: the model's authors describe it as
	// "radiologist-measured maximum diameter" when they compare it with
	// mean-diameter and volume versions ("Predicting Malignancy Risk of
	// Screen-Detected Lung Nodules–Mean Diameter or Volume", J Thorac Oncol,
	// doi:10.1016/j.jtho.2018.10.006), and calculators implementing it ask
	// for the maximum diameter. A mean of long and short axis (what
	// Lung-RADS measures) is smaller for an elongated nodule and so gives a
	// lower probability.
	SizeMM float64
	// Type is Solid, PartSolid or NonSolid. Juxtapleural is scored as Solid
	// (the published model has no perifissural term) and the result says so;
	// Calcified is ErrCalcified.
	Type NoduleType
	// UpperLobe: the nodule lies in the right or left upper lobe.
	UpperLobe bool
	// Spiculated: the nodule's margin is spiculated.
	Spiculated bool
	// NoduleCount is the number of nodules reported on the scan, this one
	// included (≥ 1). More nodules lower each one's probability.
	NoduleCount int
}

// BrockResult is the Brock probability of one nodule.
type BrockResult struct {
	// Probability that the nodule is, or will be found to be, lung cancer,
	// in [0, 1]; the British Thoracic Society's calculator page describes it
	// as diagnosis within a two to four year follow-up.
	Probability float64
	// Logit is the linear predictor, log(P/(1−P)).
	Logit float64
	// Low and High are the probabilities with every defaulted yes/no
	// covariate set to its lower-risk and higher-risk answer (female, family
	// history, emphysema all raise the risk). With nothing defaulted, Low ==
	// Probability == High. An unknown age stays at DefaultAgeYears in both.
	Low, High float64
	// Defaulted names the covariates that were unknown and replaced by a
	// default: "age", "sex", "family_history", "emphysema".
	Defaulted []string
	// Notes says where the input lay outside the model as published
	// (a juxtapleural nodule scored as solid, a lesion over 30 mm).
	Notes []string
}

// Brock returns the full PanCan model's malignancy probability for one
// nodule (see the BrockIntercept block for the equation and its sources).
// It is ErrNodule for a size that is NaN, infinite, zero or negative, a
// nodule count below 1 or an unknown type; ErrCalcified for a Calcified
// nodule; ErrClinical for an unusable covariate. Errors are wrapped; test
// them with errors.Is.
func Brock(in BrockInput) (BrockResult, error) {
	if err := in.Clinical.Validate(); err != nil {
		return BrockResult{}, fmt.Errorf("brock: %w", err)
	}
	if math.IsNaN(in.SizeMM) || math.IsInf(in.SizeMM, 0) || in.SizeMM <= 0 {
		return BrockResult{}, fmt.Errorf("brock: %w: size %v mm (want a positive diameter)", ErrNodule, in.SizeMM)
	}
	if in.NoduleCount < 1 {
		return BrockResult{}, fmt.Errorf("brock: %w: nodule count %d (want ≥ 1, this nodule included)", ErrNodule, in.NoduleCount)
	}
	var r BrockResult
	var typeTerm float64
	switch in.Type {
	case Solid:
	case PartSolid:
		typeTerm = BrockPartSolid
	case NonSolid:
		typeTerm = BrockNonSolid
	case Juxtapleural:
		r.Notes = append(r.Notes, "juxtapleural/perifissural nodule scored as solid: the published model has no perifissural term")
	case Calcified:
		return BrockResult{}, fmt.Errorf("brock: %w", ErrCalcified)
	default:
		return BrockResult{}, fmt.Errorf("brock: %w: type %v (want solid, part-solid or non-solid)", ErrNodule, in.Type)
	}
	if in.SizeMM > MaxNoduleMM {
		r.Notes = append(r.Notes, fmt.Sprintf("%.1f mm is over %.0f mm (a mass, not a nodule): outside the PanCan nodules", in.SizeMM, MaxNoduleMM))
	}

	c := in.Clinical
	age := DefaultAgeYears
	if c.AgeKnown {
		age = c.AgeYears
	} else {
		r.Defaulted = append(r.Defaulted, "age")
	}
	if c.Sex == SexOther {
		r.Notes = append(r.Notes, "sex O: the model has only male and female, so sex was defaulted")
	}
	female, fLow, fHigh := indicator(c.Sex == Female, c.Sex == Male, "sex", &r.Defaulted)
	family, hLow, hHigh := indicator(c.FamilyHistory == Yes, c.FamilyHistory == No, "family_history", &r.Defaulted)
	emph, eLow, eHigh := indicator(c.Emphysema == Yes, c.Emphysema == No, "emphysema", &r.Defaulted)

	fixed := BrockIntercept +
		BrockAge*(age-BrockAgeCentre) +
		BrockSize*(math.Pow(in.SizeMM/10, -0.5)-BrockSizeCentre) +
		typeTerm +
		BrockCount*(float64(in.NoduleCount)-BrockCountCentre)
	if in.UpperLobe {
		fixed += BrockUpperLobe
	}
	if in.Spiculated {
		fixed += BrockSpiculation
	}
	lp := func(f, h, e float64) float64 {
		return fixed + BrockFemale*f + BrockFamily*h + BrockEmphysema*e
	}
	r.Logit = lp(female, family, emph)
	r.Probability = logistic(r.Logit)
	r.Low = logistic(lp(fLow, hLow, eLow))
	r.High = logistic(lp(fHigh, hHigh, eHigh))
	return r, nil
}

// indicator codes one yes/no covariate: 1 when yes, 0 when no, and
// UnknownIndicator (recording name in defaulted) when neither; low and high
// are the values for BrockResult.Low and .High.
func indicator(yes, no bool, name string, defaulted *[]string) (v, low, high float64) {
	switch {
	case yes:
		return 1, 1, 1
	case no:
		return 0, 0, 0
	}
	*defaulted = append(*defaulted, name)
	return UnknownIndicator, 0, 1
}

// logistic is 1/(1+e^−x), written so that neither tail overflows.
func logistic(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}
