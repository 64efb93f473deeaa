package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lungctl/lungctl/internal/classify"
	"github.com/lungctl/lungctl/internal/classify/gorgop"
	"github.com/lungctl/lungctl/internal/classify/nn"
	"github.com/lungctl/lungctl/internal/classify/train"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newTrainCmd) }

// parseChannels reads --channels: 1 to 8 comma-separated counts, each 1 to 1024.
func parseChannels(s string) ([]int, error) {
	var ch []int
	for _, f := range strings.Split(s, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 || c > 1024 {
			return nil, usagef("--channels %q: want 1 to 8 comma-separated integers, each 1 to 1024", s)
		}
		ch = append(ch, c)
	}
	if len(ch) > 8 {
		return nil, usagef("--channels %q: at most 8 conv blocks", s)
	}
	return ch, nil
}

func newTrainCmd() *cobra.Command {
	var (
		cfg                    train.Config
		source, channels, note string
	)
	cmd := &cobra.Command{
		Use:   "train -o model.lcnn [--source phantom|synth | --annotations a.csv --volumes DIR]",
		Short: "Train the 3-D CNN malignancy model (phantoms, or LUNA16/LIDC volumes)",
		Long:  trainLong,
		Example: `  lungctl train -o phantom.lcnn --source phantom --n 2000 --epochs 10
  lungctl train -o luna.lcnn --annotations annotations_with_malignancy.csv \
      --candidates candidates.csv --volumes luna16/ --channels 16,32,64
  lungctl model info luna.lcnn
  lungctl classify scan.nii.gz --candidates c.csv --model luna.lcnn`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch cfg.Out {
			case "":
				return usagef("train: -o model file is required")
			case stdoutPath:
				return usagef("train: -o - (standard output) is not supported: name the model file")
			}
			ch, err := parseChannels(channels)
			if err != nil {
				return err
			}
			cfg.Arch = nn.Arch{Size: classify.DefaultPatchSpec.Size, Channels: ch}
			if err := trainSource(&cfg, source, cmd.Flags().Changed("source")); err != nil {
				return err
			}
			cfg.Version, cfg.Note = version, note
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			// -o is checked (train.Run) before any data is read or trained on:
			// its folder is made here, as detect's.
			if err := mkdirOut(filepath.Dir(cfg.Out)); err != nil {
				return fmt.Errorf("train: -o %s: %w", cfg.Out, err)
			}
			cfg.Progress = trainProgress(newProgress(cmd.ErrOrStderr()))
			res, err := train.Run(context.Background(), cfg)
			// As run's "scan failed" lines: each unreadable volume once,
			// also before the error that none could be read.
			for _, f := range res.FailedVolumes {
				logger.Warn("volume failed, series skipped", "series", f.Series, "error", f.Error)
			}
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				logger.Warn(w)
			}
			c := res.Model.Card()
			attrs := []any{"path", cfg.Out, "sha256", res.Model.SHA256(), "domain", c.Domain,
				"train", fmt.Sprintf("%d malignant + %d benign", c.Data.Train.Malignant, c.Data.Train.Benign),
				"held_out", fmt.Sprintf("%d malignant + %d benign", c.Data.HeldOut.Malignant, c.Data.HeldOut.Benign),
				"best_epoch", c.Metrics.BestEpoch, "held_out_auc", fmt.Sprintf("%.4f", c.Metrics.HeldOutAUC)}
			if cfg.Source == classify.SourceLUNA16 {
				attrs = append(attrs, "scans", c.Data.Scans, "volumes_failed", len(res.FailedVolumes))
			}
			logger.Info("wrote model", attrs...)
			if n := len(res.FailedVolumes); n > 0 {
				// As run: partial success exits 3, so a script notices.
				return partialError{failed: n, total: n + c.Data.Scans}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfg.Out, "out", "o", "", "model file to write (.lcnn; its folder is created; checked before training; - is refused)")
	f.StringVar(&source, "source", "phantom", "training data when no --annotations: phantom (internal/phantom) or synth (train's own generator)")
	intFlag(f, &cfg.Phantom.N, "n", 1200, 4, 1_000_000, "phantom patches (training + held-out)")
	floatFlag(f, &cfg.Phantom.NegFrac, "neg", 0.2, 0, 0.9, true, false, "fraction of phantom patches without a nodule (benign)")
	f.StringVar(&cfg.LUNA.Annotations, "annotations", "", "LUNA16-style annotations CSV with a malignancy column")
	f.StringVar(&cfg.LUNA.MalignancyColumn, "malignancy-column", "", "name of the malignancy column (default: malignancy, mal_details or mal_bool)")
	floatFlag(f, &cfg.LUNA.MalignantMin, "malignant-min", 3, 1, 5, false, false, "mean reader rating at or above which a nodule is malignant")
	f.StringVar(&cfg.LUNA.Candidates, "candidates", "", "LUNA16 candidates CSV: class-0 rows become benign examples")
	intFlag(f, &cfg.LUNA.NegativesPerScan, "negatives-per-scan", 20, -1, 100_000, "class-0 candidates used per scan; -1 = all")
	f.StringVar(&cfg.LUNA.VolumeDir, "volumes", "", "folder searched at any depth for <seriesuid>.mhd/.mha/.nii.gz/.nii")
	f.StringVar(&channels, "channels", "8,16,32", "conv channels per block, 1 to 8 blocks of 1 to 1024 (the peer benchmark uses 16,32,64)")
	intFlag(f, &cfg.Epochs, "epochs", 10, 1, 10_000, "maximum epochs")
	intFlag(f, &cfg.BatchSize, "batch", 32, 1, 1024, "mini-batch size")
	floatFlag(f, &cfg.LR, "lr", 2e-3, 0, 1, true, false, "Adam learning rate")
	floatFlag(f, &cfg.WeightDecay, "weight-decay", 0, 0, 1, false, false, "Adam L2 weight decay")
	intFlag(f, &cfg.Patience, "patience", 3, 1, 10_000, "stop after this many epochs without a better held-out AUC")
	floatFlag(f, &cfg.ValFrac, "val", 0.2, 0, 0.9, true, false, "held-out fraction of each class")
	floatFlag(f, &cfg.MaxShiftMM, "max-shift", 2, 0, 16, true, false, "largest random shift of a patch centre, mm")
	f.BoolVar(&cfg.NoAugment, "no-augment", false, "no flips, rotations or shifts")
	intFlag(f, &cfg.GradParts, "grad-parts", gorgop.DefaultGradParts, 1, 64,
		"fixed partial sums of the weight gradients: the same seed and value give the same weights on any machine; at most this many cores sum them")
	f.Uint64Var(&cfg.Seed, "seed", 1, "seed for data, split, initialisation, batch order and augmentation (any 64-bit unsigned integer)")
	f.StringVar(&note, "note", "", "free text stored in the model card, at most 8 KiB")
	return cmd
}

// trainSource sets cfg's data source from --source (sourceGiven: set on
// the command line) and the LUNA16 flags, refusing combinations that do not
// name one source.
func trainSource(cfg *train.Config, source string, sourceGiven bool) error {
	switch {
	case cfg.LUNA.Annotations != "":
		if sourceGiven && source != classify.SourceLUNA16 {
			return usagef("train: --annotations trains on LUNA16 data; drop --source %s", source)
		}
		if cfg.LUNA.VolumeDir == "" {
			return usagef("train: --annotations needs --volumes DIR")
		}
		cfg.Source = classify.SourceLUNA16
	case source == train.GeneratorPhantom || source == train.GeneratorSynth:
		cfg.Source, cfg.Phantom.Generator = classify.SourcePhantom, source
	case source == classify.SourceLUNA16:
		return usagef("train: --source luna16 needs --annotations A.csv and --volumes DIR")
	default:
		return usagef("train: --source %q: want phantom or synth (or give --annotations)", source)
	}
	return nil
}

// trainProgress reports training: a log line per epoch, and on a terminal
// a bar over the epoch's batches.
func trainProgress(pr *progress) func(train.Progress) {
	return func(p train.Progress) {
		if p.EpochDone {
			s := p.Stats
			if pr.tty {
				pr.draw("\n")
			}
			logger.Info("epoch", "epoch", s.Epoch, "of", p.Epochs, "train_loss", fmt.Sprintf("%.4f", s.TrainLoss),
				"train_auc", fmt.Sprintf("%.4f", s.TrainAUC), "held_out_loss", fmt.Sprintf("%.4f", s.ValLoss),
				"held_out_auc", fmt.Sprintf("%.4f", s.ValAUC), "elapsed", p.Elapsed.Round(time.Second))
			return
		}
		if pr.tty && !gf.quiet {
			const width = 30
			k := width * p.Batch / max(p.Batches, 1)
			pr.draw("\repoch %d/%d %s batch %d/%d loss %.4f  ", p.Epoch, p.Epochs,
				strings.Repeat("█", k)+strings.Repeat("░", width-k), p.Batch, p.Batches, p.Loss)
		}
	}
}

// trainLong is the command's --help text.
const trainLong = `train fits the 3-D CNN that classify uses, with Adam on binary cross-entropy,
augmentation (flips, 90-degree axial rotations, shifts up to --max-shift mm), a
stratified held-out split with early stopping on its AUC (--patience), and
prints loss and AUC per epoch. The model file carries a model card (training
data and counts per class, held-out AUC and loss, the domain it is valid for,
architecture, lungctl version): see 'lungctl model info'. Everything follows
--seed and --grad-parts: the same command gives the same weights on any
machine. 'make model' runs this command to rebuild the embedded default.

Data, one of:
  --source phantom   synthetic nodule patches rendered on the fly by
                     internal/phantom (5 kinds, 3-30 mm; malignant =
                     lobulated/spiculated >= 8 mm, or any non-calcified >= 15
                     mm). The card says domain "phantom": such a model knows
                     the phantoms' label rule, not real pathology.
  --source synth     the same with train's own, independent nodule generator.
  --annotations A.csv --volumes DIR [--candidates C.csv]
                     LUNA16/LIDC: DIR is searched at any depth for
                     <seriesuid>.mhd/.mha/.nii.gz/.nii; A.csv has
                     seriesuid,coordX,coordY,coordZ (LPS mm) and a malignancy
                     column (a mean rating 1-5, a list of readers' ratings
                     like "[4, 2, 4]", each an integer 1-5, or True/False); a
                     nodule is malignant when its rating is at least
                     --malignant-min. Class-0 rows of C.csv (LUNA16
                     candidates.csv) are added as benign examples, at most
                     --negatives-per-scan per scan (a seeded sample taken
                     while the file is read). Series without a volume and
                     rows without a rating are skipped and reported. A
                     volume that cannot be read (corrupt, unreadable, over
                     the memory budget) is a warning naming the file, its
                     series is skipped, and training goes on: the count is
                     in the closing log line (volumes_failed) and the card
                     (scans_failed), and train exits 3 (partial success,
                     as run); none readable is an error (exit 1). A
                     rating outside 1-5 (or NaN), a table without a rated
                     row, and a nodule or picked candidate whose centre lies
                     more than half a voxel outside its scan's volume are
                     errors naming the table (and line). The card says domain
                     "patients".

-o is checked before any work: - (standard output) is a usage error; its folder is created; a folder, a symbolic
link to a file or a dangling link is refused (a character device such as
/dev/null is written into).

Every numeric flag states its valid range; a value outside it (or NaN) exits 2
before any work.`
