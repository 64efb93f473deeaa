package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lungctl/lungctl/internal/classify"
	"github.com/lungctl/lungctl/internal/classify/nn"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newTrainCmd) }

func newTrainCmd() *cobra.Command {
	var (
		out, source, channels                  string
		annotations, candidates, volumes, mcol string
		n, epochs, batch, patience, negPerScan int
		seed                                   uint64
		lr, val, neg, malMin                   float64
	)
	cmd := &cobra.Command{
		Use:   "train -o model.lcnn [--source phantom | --annotations a.csv --volumes DIR]",
		Short: "Train the 3-D CNN malignancy model (phantoms, or LUNA16/LIDC volumes)",
		Long: `train fits the 3-D CNN that classify uses, with Adam on binary cross-entropy,
augmentation (flips, 90-degree axial rotations, shifts up to 2 mm), a stratified
held-out split with early stopping on its AUC (--patience), and prints loss and
AUC per epoch. Everything follows --seed: the same command gives the same
weights.

Data, one of:
  --source phantom   synthetic nodule patches rendered on the fly (5 kinds,
                     3-30 mm; malignant = lobulated/spiculated >= 8 mm, or any
                     non-calcified >= 15 mm). This is how the embedded default
                     model was made (make model).
  --annotations A.csv --volumes DIR [--candidates C.csv]
                     LUNA16/LIDC style: DIR holds <seriesuid>.mhd/.nii.gz/.nii,
                     A.csv has seriesuid,coordX,coordY,coordZ (LPS mm) and a
                     malignancy column (a mean rating, a list like "[4, 2, 4]",
                     or 0/1); a nodule is malignant when its rating is at least
                     --malignant-min. Class-0 rows of C.csv (LUNA16
                     candidates.csv) are added as benign examples.`,
		Example: `  lungctl train -o phantom.lcnn --source phantom --n 2000 --epochs 10
  lungctl train -o luna.lcnn --annotations annotations_with_malignancy.csv \
      --candidates candidates.csv --volumes luna16/all_subsets/ --channels 16,32,64
  lungctl classify scan.nii.gz --candidates c.csv --model luna.lcnn`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("train: -o model file is required")
			}
			var ch []int
			for _, f := range strings.Split(channels, ",") {
				c, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil || c < 1 {
					return usagef("--channels %q: want comma-separated positive integers", channels)
				}
				ch = append(ch, c)
			}
			t0 := time.Now()
			var ex []classify.Example
			var src string
			if annotations != "" {
				if volumes == "" {
					return usagef("train: --annotations needs --volumes DIR")
				}
				var err error
				ex, err = classify.LoadLUNA(classify.LUNAOptions{Annotations: annotations, Candidates: candidates,
					VolumeDir: volumes, MalignancyColumn: mcol, MalignantMin: malMin, NegativesPerScan: negPerScan, Seed: seed})
				if err != nil {
					return err
				}
				src = fmt.Sprintf("LUNA16-style: annotations=%s candidates=%s volumes=%s malignant>=%g", annotations, candidates, volumes, malMin)
			} else {
				if source != "phantom" {
					return usagef("--source must be phantom (or give --annotations)")
				}
				ex = classify.PhantomExamples(classify.PhantomPatch, n, int64(seed), 38, neg)
				src = fmt.Sprintf("phantom.Patch patches: n=%d seed=%d neg=%.2f", n, seed, neg)
			}
			tr, va := classify.Split(ex, val, seed)
			logger.Info("training data", "train", len(tr), "held_out", len(va), "seconds", fmt.Sprintf("%.1f", time.Since(t0).Seconds()))
			pr := newProgress(cmd.ErrOrStderr())
			m, _, err := classify.Train(tr, va, classify.TrainOptions{
				Arch: nn.Arch{Size: 32, Channels: ch}, Seed: seed, Epochs: epochs, BatchSize: batch, LR: lr,
				Patience: patience, DataSource: src,
				Progress: func(p classify.Progress) {
					if p.EpochDone {
						s := p.Stats
						if pr.tty {
							fmt.Fprintln(pr.w)
						}
						logger.Info("epoch", "epoch", s.Epoch, "of", p.Epochs, "train_loss", fmt.Sprintf("%.4f", s.TrainLoss),
							"train_auc", fmt.Sprintf("%.4f", s.TrainAUC), "held_out_loss", fmt.Sprintf("%.4f", s.ValLoss),
							"held_out_auc", fmt.Sprintf("%.4f", s.ValAUC), "elapsed", p.ElapsedDuration.Round(time.Second))
						return
					}
					if pr.tty && !gf.quiet {
						const width = 30
						k := width * p.Batch / max(p.Batches, 1)
						fmt.Fprintf(pr.w, "\repoch %d/%d %s batch %d/%d loss %.4f  ", p.Epoch, p.Epochs,
							strings.Repeat("█", k)+strings.Repeat("░", width-k), p.Batch, p.Batches, p.Loss)
					}
				},
			})
			if err != nil {
				return err
			}
			if err := m.Save(out); err != nil {
				return err
			}
			logger.Info("wrote model", "path", out, "parameters", m.Net.NumParams(),
				"best_epoch", m.Header.Training.BestEpoch, "held_out_auc", fmt.Sprintf("%.4f", m.Header.Training.ValAUC))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "out", "o", "", "model file to write (.lcnn)")
	f.StringVar(&source, "source", "phantom", "training data when no --annotations: phantom")
	f.IntVar(&n, "n", 1200, "phantom patches (training + held-out)")
	f.Float64Var(&neg, "neg", 0.2, "fraction of phantom patches without a nodule (benign)")
	f.StringVar(&annotations, "annotations", "", "LUNA16-style annotations CSV with a malignancy column")
	f.StringVar(&mcol, "malignancy-column", "", "name of the malignancy column (default: malignancy, mal_details or mal_bool)")
	f.Float64Var(&malMin, "malignant-min", 3, "rating at or above which a nodule is malignant")
	f.StringVar(&candidates, "candidates", "", "LUNA16 candidates CSV: class-0 rows become benign examples")
	f.IntVar(&negPerScan, "negatives-per-scan", 20, "class-0 candidates used per scan (negative = all)")
	f.StringVar(&volumes, "volumes", "", "folder of <seriesuid>.mhd/.nii.gz/.nii volumes")
	f.StringVar(&channels, "channels", "8,16,32", "conv channels per block (the peer benchmark uses 16,32,64)")
	f.IntVar(&epochs, "epochs", 10, "maximum epochs")
	f.IntVar(&batch, "batch", 32, "mini-batch size")
	f.Float64Var(&lr, "lr", 2e-3, "Adam learning rate")
	f.IntVar(&patience, "patience", 3, "stop after this many epochs without a better held-out AUC")
	f.Float64Var(&val, "val", 0.2, "held-out fraction")
	f.Uint64Var(&seed, "seed", 1, "seed for data, initialisation, batch order and augmentation")
	return cmd
}
