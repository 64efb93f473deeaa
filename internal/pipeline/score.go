package pipeline

import (
	"fmt"
	"math"
	"time"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/classify"
	"github.com/lungctl/lungctl/internal/risk"
)

// ScoreOptions configures Score: which model gives each candidate its
// malignancy, and what the patient's covariates are.
type ScoreOptions struct {
	// Scorer picks the per-candidate malignancy ("" means ScorerBrock).
	Scorer Scorer
	// CNN runs the model for the cnn column even when Scorer does not use
	// it.
	CNN bool
	// Model is the CNN; nil leaves the cnn column empty (the cnn scorer
	// then scores nothing).
	Model *classify.Model
	// Clinical are the --clinical CSV's rows (nil: none).
	Clinical ClinicalTable
	// NoisyORK and NoisyORLeak combine candidate malignancies into the
	// patient probability (see Malignancy).
	NoisyORK    int
	NoisyORLeak float64
	// NoScore leaves malignancy empty and the patient probability at the
	// leak (the measurements, Brock and Lung-RADS columns are still
	// filled).
	NoScore bool
}

// scorer is the configured scorer, ScorerBrock by default.
func (o ScoreOptions) scorer() Scorer {
	if o.Scorer == "" {
		return ScorerBrock
	}
	return o.Scorer
}

// patientsModel reports whether the model's card says it was trained on
// patients.
func (o ScoreOptions) patientsModel() bool {
	return o.Model != nil && o.Model.Card().Domain == classify.DomainPatients
}

// RunsCNN reports whether Score runs the model: when the scorer uses it
// (cnn; fused with a patients-domain model) or CNN asks for the column.
func (o ScoreOptions) RunsCNN() bool {
	switch {
	case o.Model == nil:
		return false
	case o.CNN:
		return true
	case o.NoScore:
		return false
	case o.scorer() == ScorerCNN:
		return true
	}
	return o.scorer() == ScorerFused && o.patientsModel()
}

// NeedsModel reports whether a scorer or the CNN flag needs a model loaded.
func NeedsModel(s Scorer, cnn bool) bool { return cnn || s == ScorerCNN || s == ScorerFused }

// ModelWarning is the warning a scorer gets from a model that was not
// trained on patients ("" when there is none): the cnn scorer is allowed
// with it but says so, and fused falls back to Brock alone.
func (o ScoreOptions) ModelWarning() string {
	if o.Model == nil || o.NoScore || o.patientsModel() {
		return ""
	}
	d := o.Model.Card().Domain
	switch o.scorer() {
	case ScorerCNN:
		return fmt.Sprintf("scorer cnn: the model's card says domain %q, not patients: its malignancy is learned from "+
			"synthetic or undocumented data, not from patients' CT, and is no clinical probability "+
			"(the default --scorer brock is; train on LUNA16 for a patients model)", d)
	case ScorerFused:
		return fmt.Sprintf("scorer fused: the model's card says domain %q, not patients, so malignancy is Brock's alone", d)
	}
	return ""
}

// Scored is a scan's characterisation and scoring.
type Scored struct {
	// Risk is the patient-level characterisation (zero without a lung
	// mask).
	Risk PatientRisk
	// Masked says whether Risk was measured (a lung mask was there).
	Masked bool
	// Clinical describes the covariates as Brock used them.
	Clinical *ClinicalRecord
	// Cancer is the patient's cancer probability in [0,1].
	Cancer float64
	// Scorer is the scorer used; ModelSHA256 and ModelDomain describe the
	// model when it ran (empty otherwise).
	Scorer                   Scorer
	ModelSHA256, ModelDomain string
	// Warnings are the scorer's and the covariates' warnings and the
	// characterisation's notes.
	Warnings []string
}

// Score characterises and scores a detected scan: covariates from the
// DICOM series and the --clinical row (ResolveCovariates), Characterise
// (when p has a lung mask), the CNN when RunsCNN (its probability in
// Candidate.CNN), then Malignancy with the scorer (unless NoScore). It
// records the seconds of "characterise" and "classify" (the CNN) in
// p.Seconds.
func Score(p *Preprocessed, cs []candidate.Candidate, o ScoreOptions) (*Scored, error) {
	s := &Scored{Scorer: o.scorer(), Cancer: o.NoisyORLeak}
	var rowp *risk.Clinical
	row, ok := o.Clinical.lookup(p.ID, p.Sidecar.PatientID)
	if ok {
		rowp = &row
	}
	cv, warns := ResolveCovariates(p.PatientAge, p.PatientSex, rowp)
	s.Warnings = append(s.Warnings, warns...)
	if o.Clinical != nil && !ok {
		s.Warnings = append(s.Warnings, fmt.Sprintf("no --clinical row for id %q or patient id %q", p.ID, p.Sidecar.PatientID))
	}
	clin := cv.Clinical
	for i := range cs {
		cs[i].Brock, cs[i].CNN = math.NaN(), math.NaN()
	}
	if p.Lung != nil {
		t := time.Now()
		pr, err := Characterise(p, cs, cv.Clinical)
		if err != nil {
			return nil, err
		}
		s.Risk, s.Masked, clin = pr, true, pr.Clinical
		s.Warnings = append(s.Warnings, pr.Notes...)
		p.Seconds["characterise"] = sinceSec(t)
	}
	s.Clinical = cv.Record(clin)
	if w := o.ModelWarning(); w != "" {
		s.Warnings = append(s.Warnings, w)
	}
	if o.RunsCNN() {
		if err := ScoreCNN(p, cs, o.Model); err != nil {
			return nil, err
		}
		s.ModelSHA256, s.ModelDomain = o.Model.SHA256(), o.Model.Card().Domain
	}
	if o.NoScore {
		for i := range cs {
			cs[i].Malignancy = math.NaN()
		}
		return s, nil
	}
	var err error
	if s.Cancer, err = Malignancy(cs, s.Scorer, o.patientsModel(), o.NoisyORK, o.NoisyORLeak); err != nil {
		return nil, fmt.Errorf("score %s: %w", p.ID, err)
	}
	return s, nil
}

// ScoreCNN fills each candidate's CNN with the model's malignancy
// probability (a 32 mm patch around its centre, see classify.Score).
func ScoreCNN(p *Preprocessed, cs []candidate.Candidate, m *classify.Model) error {
	t := time.Now()
	ps, err := classify.Score(p.HU, cs, m)
	if err != nil {
		return fmt.Errorf("classify %s: %w", p.ID, err)
	}
	for i := range cs {
		cs[i].CNN = ps[i]
	}
	p.Seconds["classify"] = sinceSec(t)
	return nil
}
