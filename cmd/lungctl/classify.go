package main

import (
	"fmt"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/classify"
	"github.com/lungctl/lungctl/internal/pipeline"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newClassifyCmd) }

type classifyFlags struct {
	model string
	k     int
	leak  float64
}

// Ranges of the classify flags (also used by run).
const maxTopK = 1000

func (f *classifyFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.model, "model", "", "model file from 'lungctl train' (default: the embedded phantom-trained model; see 'lungctl model info')")
	intFlag(cmd.Flags(), &f.k, "top-k", classify.DefaultNoisyORK, 0, maxTopK,
		"patient probability uses the k most malignant candidates; 0 = all")
	floatFlag(cmd.Flags(), &f.leak, "leak", classify.DefaultNoisyORLeak, 0, 1, false, true,
		"noisy-OR leak: the probability of cancer with no suspicious candidate")
}

// load returns the model named by --model, or the embedded default. The
// numeric flags were range-checked when parsed.
func (f *classifyFlags) load() (*classify.Model, error) {
	if f.model == "" {
		return classify.Default()
	}
	return classify.Load(f.model)
}

func newClassifyCmd() *cobra.Command {
	var pf preprocessFlags
	var cf classifyFlags
	var cands, out, mask, submission string
	cmd := &cobra.Command{
		Use:   "classify IN --candidates candidates.csv [-o scored.csv] [--model FILE]",
		Short: "3-D CNN malignancy per candidate and a patient cancer probability",
		Long: `classify cuts a 32 mm cube around each candidate (trilinear, clipped to
[-1000, 400] HU and scaled), runs the 3-D CNN on it, and writes the candidates
with the malignancy column filled (probability keeps the detection score). The
patient's cancer probability is a leaky noisy-OR over the k most malignant
candidates: P = 1 - (1 - leak) * prod(1 - p_i), as the DSB 2017 winners did.
It is printed, and appended as an id,cancer row to --submission when given.

The embedded default model was trained on synthetic phantom nodules only (its
model card says domain "phantom"; see 'lungctl model info', 'lungctl train' and
the README): it knows size and outline, not real pathology.

Numeric flags: --top-k 0 to 1000 (0 = every candidate), --leak 0 <= x < 1,
--spacing 0.1 to 20 mm; a value outside its range exits 2 before any work.`,
		Example: `  lungctl classify out/lidc-idri-0001.nii.gz --candidates cands.csv -o scored.csv
  lungctl classify scan/ --candidates cands.csv --submission submission.csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cands == "" {
				return usagef("classify: --candidates is required")
			}
			popt, err := pf.options() // --spacing: a usage error before any work
			if err != nil {
				return err
			}
			m, err := cf.load()
			if err != nil {
				return err
			}
			popt.NoMask = true
			cs, err := candidate.ReadFile(cands)
			if err != nil {
				return err
			}
			p, err := pipeline.LoadVolumes(args[0], mask, popt, nil)
			if err != nil {
				return err
			}
			mine := p.CandidatesFor(cs) // only this scan's rows of a multi-scan CSV
			if len(mine) == 0 && len(cs) > 0 {
				logger.Warn("no candidate rows carry this scan's id; scoring all rows", "series_uid", p.SeriesUID, "id", p.ID)
				mine = cs
			}
			prob, err := pipeline.Classify(p, mine, m, cf.k, cf.leak)
			if err != nil {
				return err
			}
			if out != "" {
				if err := candidate.WriteFile(out, mine); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\t%.6f\n", p.ID, prob)
			if submission != "" {
				if err := pipeline.AppendSubmission(submission, p.ID, prob); err != nil {
					return err
				}
			}
			logger.Info("classified", "id", p.ID, "candidates", len(mine), "cancer", fmt.Sprintf("%.4f", prob))
			return nil
		},
	}
	pf.add(cmd)
	cf.add(cmd)
	cmd.Flags().StringVar(&cands, "candidates", "", "candidates CSV from detect")
	cmd.Flags().StringVar(&mask, "mask", "", "unused by the CNN; accepted for symmetry with detect")
	cmd.Flags().StringVarP(&out, "out", "o", "", "scored candidates CSV to write")
	cmd.Flags().StringVar(&submission, "submission", "", "append an id,cancer row (Kaggle DSB 2017) to this CSV, creating it with a header")
	return cmd
}
