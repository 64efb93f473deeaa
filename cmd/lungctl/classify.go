package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/classify"
	"github.com/lungctl/lungctl/internal/pipeline"
	"github.com/lungctl/lungctl/internal/risk"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newClassifyCmd) }

type classifyFlags struct {
	model    string
	k        int
	leak     float64
	scorer   string
	cnn      bool
	clinical string
}

// Ranges of the classify flags (also used by run).
const maxTopK = 1000

// scorerHelp is the --scorer flag's help line.
const scorerHelp = "per-candidate malignancy: brock (the Brock/PanCan model on the measurements and covariates), " +
	"cnn (the 3-D CNN; warns when its model card's domain is not patients: the embedded model knows phantoms only) or " +
	"fused (mean of both when the card says patients, else brock)"

func (f *classifyFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "model file from 'lungctl train' (default: the embedded phantom-trained model; see 'lungctl model info')")
	intFlag(fl, &f.k, "top-k", classify.DefaultNoisyORK, 0, maxTopK,
		"patient probability uses the k most malignant candidates; 0 = all")
	floatFlag(fl, &f.leak, "leak", classify.DefaultNoisyORLeak, 0, 1, false, true,
		"noisy-OR leak: the probability of cancer with no suspicious candidate")
	fl.StringVar(&f.scorer, "scorer", string(pipeline.ScorerBrock), scorerHelp)
	fl.BoolVar(&f.cnn, "cnn", false, "also run the CNN for the cnn column when the scorer does not need it (brock; fused with a phantom model)")
	fl.StringVar(&f.clinical, "clinical", "", "patient covariates CSV: id,age,sex,family_history,emphysema (id = scan id or DICOM PatientID; "+
		"a value given here overrides the DICOM header's; empty cells and missing patients are defaulted, see the README)")
}

// load returns the model named by --model, or the embedded default. The
// numeric flags were range-checked when parsed.
func (f *classifyFlags) load() (*classify.Model, error) {
	m, err := classify.Default()
	if f.model != "" {
		m, err = classify.Load(f.model)
	}
	if err != nil {
		return nil, err
	}
	// A model that cannot score one patch within the budget is refused
	// now, not after the preprocessing and detection before scoring.
	if err := m.CheckMemory(); err != nil {
		return nil, err
	}
	return m, nil
}

// readClinical reads a --clinical CSV (nil for "").
func readClinical(path string) (pipeline.ClinicalTable, error) {
	if path == "" {
		return nil, nil
	}
	t, err := risk.ReadClinicalCSV(path)
	return pipeline.ClinicalTable(t), err
}

// scoreOptions checks --scorer and builds the scoring options, reading
// --clinical and loading the model only when the scorer or --cnn needs it
// (noScore: no scorer, the model only for --cnn). The model-domain warning
// is logged unless quiet (a scan process: it is in each scan's record).
func (f *classifyFlags) scoreOptions(noScore, quiet bool) (pipeline.ScoreOptions, error) {
	o := pipeline.ScoreOptions{CNN: f.cnn, NoisyORK: f.k, NoisyORLeak: f.leak, NoScore: noScore}
	s, err := pipeline.ParseScorer(f.scorer)
	if err != nil {
		return o, usageError{err}
	}
	o.Scorer = s
	if o.Clinical, err = readClinical(f.clinical); err != nil {
		return o, err
	}
	if f.cnn || (!noScore && pipeline.NeedsModel(s, false)) {
		if o.Model, err = f.load(); err != nil {
			return o, err
		}
	}
	if w := o.ModelWarning(); w != "" && !quiet {
		logger.Warn(w, "model", f.modelName(), "domain", o.Model.Card().Domain)
	}
	return o, nil
}

// warnUnusedModel warns that --model was given to a scorer that does not
// read it (brock without --cnn): a mistyped flag or path would otherwise
// pass without a word.
func (f *classifyFlags) warnUnusedModel(o pipeline.ScoreOptions) {
	if f.model != "" && o.Model == nil {
		logger.Warn("--model is not read: the scorer does not use the CNN (add --cnn for the cnn column, or use --scorer cnn or fused)",
			"model", f.model, "scorer", f.scorer)
	}
}

// modelName names the model for messages.
func (f *classifyFlags) modelName() string {
	if f.model == "" {
		return "embedded default"
	}
	return f.model
}

func newClassifyCmd() *cobra.Command {
	var pf preprocessFlags
	var cf classifyFlags
	var cands, out, mask, submission string
	cmd := &cobra.Command{
		Use:   "classify IN --candidates candidates.csv [-o scored.csv] [--scorer brock|cnn|fused]",
		Short: "Malignancy per candidate (Brock by default, or the 3-D CNN) and a patient cancer probability",
		Long:  classifyLong,
		Example: `  lungctl classify out/LIDC-IDRI-0001.nii.gz --candidates cands.csv -o scored.csv
  lungctl classify scan/ --candidates cands.csv --clinical clinical.csv --submission submission.csv
  lungctl classify scan/ --candidates cands.csv --scorer cnn --model luna.lcnn -o scored.csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cands == "" {
				return usagef("classify: --candidates is required")
			}
			if submission == stdoutPath {
				return usagef("classify: --submission - (standard output) is not supported: it updates a file in place")
			}
			popt, err := pf.options() // --spacing: a usage error before any work
			if err != nil {
				return err
			}
			so, err := cf.scoreOptions(false, true) // its warnings are logged with the scan's below
			if err != nil {
				return err
			}
			cf.warnUnusedModel(so)
			cs, err := candidate.ReadFile(cands)
			if err != nil {
				return err
			}
			// The output folders first, as detect does: a missing one is
			// made, and one that cannot be fails before the work.
			for _, f := range []string{out, submission} {
				if f != "" && f != stdoutPath {
					if err := mkdirOut(filepath.Dir(f)); err != nil {
						return err
					}
				}
			}
			p, err := pipeline.LoadVolumes(args[0], mask, popt, nil)
			if err != nil {
				return err
			}
			logWarnings(args[0], p.Sidecar.Warnings) // the loader's, and a sidecar's that could not be used
			mine := p.CandidatesFor(cs)              // only this scan's rows of a multi-scan CSV
			if len(mine) == 0 && len(cs) > 0 {
				logger.Warn("no candidate rows carry this scan's id; scoring all rows", "series_uid", p.SeriesUID, "id", p.ID)
				mine = cs
			}
			if err := pipeline.CheckInside(p, mine); err != nil {
				return fmt.Errorf("%s: %w", cands, err)
			}
			sc, err := pipeline.Score(p, mine, so)
			if err != nil {
				return err
			}
			for _, w := range sc.Warnings {
				logger.Warn(w, "id", p.ID)
			}
			if so.Scorer != pipeline.ScorerCNN && !anyMeasured(mine) && len(mine) > 0 {
				logger.Warn("no candidate carries measurements (type, long_axis_mm, ...): Brock scores nothing; run 'lungctl detect' for them or use --scorer cnn", "csv", cands)
			}
			if out != "" {
				if err := writeOut(cmd, out, func(w io.Writer) error { return candidate.Write(w, mine) }); err != nil {
					return err
				}
			}
			if out != stdoutPath { // with -o -, standard output is the CSV alone
				pr := newPrinter(cmd.OutOrStdout())
				pr.Printf("%s\t%.6f\n", p.ID, sc.Cancer)
				if err := pr.Err(); err != nil {
					return err
				}
			}
			if submission != "" {
				if err := pipeline.AppendSubmission(submission, p.ID, sc.Cancer); err != nil {
					return err
				}
			}
			logger.Info("classified", "id", p.ID, "candidates", len(mine), "scorer", sc.Scorer, "cancer", fmt.Sprintf("%.4f", sc.Cancer),
				"lung_rads", sc.Risk.LungRADS, "defaulted", fmt.Sprint(sc.Clinical.Defaulted))
			return nil
		},
	}
	pf.add(cmd)
	cf.add(cmd)
	cmd.Flags().StringVar(&cands, "candidates", "", "candidates CSV from detect")
	cmd.Flags().StringVar(&mask, "mask", "", "lung mask NIfTI for Brock's upper zone and emphysema (default: <id>_lung.nii.gz beside IN, else computed)")
	cmd.Flags().StringVarP(&out, "out", "o", "", "scored candidates CSV to write (- = standard output, the CSV alone: the patient's probability is then only in the log line)")
	cmd.Flags().StringVar(&submission, "submission", "", "set this patient's id,cancer row (Kaggle DSB 2017) in this CSV, creating it with a header")
	return cmd
}

// anyMeasured reports whether any candidate carries nodule measurements.
func anyMeasured(cs []candidate.Candidate) bool {
	for _, c := range cs {
		if c.Type != "" {
			return true
		}
	}
	return false
}

// classifyLong is the command's --help text.
const classifyLong = `classify scores each candidate's malignancy with the chosen --scorer and writes
the candidates with malignancy (and the brock, cnn, upper_zone and lung_rads
columns) filled; probability keeps the detection score.

  brock  (default) the Brock University (PanCan) model, validated on screening
         populations: the nodule's long axis, type, upper zone, spiculation and
         the scan's nodule count, with the patient's age, sex, family history
         and emphysema. Covariates come from the DICOM header (PatientAge,
         PatientSex), overridden by --clinical; unknown ones are defaulted
         (age 62, the model's centre; an unknown yes/no counts half) and
         emphysema, when not given, is measured (LAA-950 >= 5 %, a scan
         with over 20 HU of lung noise read smoothed down to it). Needs the
         measured columns detect writes (type, long_axis_mm, ...) and the lung
         mask (found beside a NIfTI, or computed).
  cnn    the 3-D CNN on a 32 mm cube around each candidate. The embedded
         default model was trained on synthetic phantom nodules only (its model
         card says domain "phantom"; see 'lungctl model info'): it knows size and
         outline, not real pathology, and classify warns.
  fused  the mean of both where the model's card says domain "patients",
         Brock alone otherwise.

The patient's cancer probability is a leaky noisy-OR over the k candidates
with the highest detection-weighted malignancy, P = 1 - (1 - leak) *
prod(1 - d_i * m_i) (d = detection score, m = malignancy). It is printed, and
set as the id,cancer row of --submission when given. -o - writes the scored
CSV to standard output instead of a file; the "<id> <probability>" line is then
left out (standard output is the CSV alone) and the probability is in the
"classified" log line on standard error.

A candidate whose centre lies outside the scan's volume (another scan's
row, or voxel or RAS coordinates) is an error that names it.

Numeric flags: --top-k 0 to 1000 (0 = every candidate), --leak 0 <= x < 1,
--spacing 0.1 to 20 mm; a value outside its range exits 2 before any work.`
