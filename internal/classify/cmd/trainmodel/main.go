// Command trainmodel regenerates lungctl's embedded default malignancy model
// (internal/classify/model/default.lcnn) from synthetic phantom patches:
//
//	go run ./internal/classify/cmd/trainmodel [-out internal/classify/model/default.lcnn]
//
// The weights depend only on the flags (seeded data, initialisation, batch
// order and augmentation), so a rerun with the same flags reproduces them;
// only the date in the provenance changes.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lungctl/lungctl/internal/classify"
	"github.com/lungctl/lungctl/internal/classify/nn"
)

func main() {
	out := flag.String("out", "internal/classify/model/default.lcnn", "model file to write")
	seed := flag.Uint64("seed", 1, "seed for data, initialisation, batch order and augmentation")
	n := flag.Int("n", 1200, "number of synthetic patches (training + held-out)")
	neg := flag.Float64("neg", 0.2, "fraction of patches without a nodule (labelled benign)")
	val := flag.Float64("val", 0.2, "held-out fraction")
	epochs := flag.Int("epochs", 10, "maximum epochs")
	batch := flag.Int("batch", 32, "mini-batch size")
	lr := flag.Float64("lr", 2e-3, "Adam learning rate")
	channels := flag.String("channels", "8,16,32", "conv channels per block")
	size := flag.Int("size", 32, "patch side in 1 mm voxels")
	source := flag.String("source", "phantom", "patch generator: phantom (internal/phantom.Patch) or synth (classify.SynthPatch)")
	flag.Parse()
	var ch []int
	for _, f := range strings.Split(*channels, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			fmt.Fprintf(os.Stderr, "trainmodel: -channels %q: %v\n", *channels, err)
			os.Exit(2)
		}
		ch = append(ch, c)
	}
	t0 := time.Now()
	// margin for the ±2 mm shift and the rotations
	gen, genName := classify.PatchFunc(classify.PhantomPatch), "phantom.Patch"
	switch *source {
	case "phantom":
	case "synth":
		gen, genName = classify.SynthPatch, "classify.SynthPatch"
	default:
		fmt.Fprintf(os.Stderr, "trainmodel: -source %q: want phantom or synth\n", *source)
		os.Exit(2)
	}
	ex := classify.PhantomExamples(gen, *n, int64(*seed), *size+6, *neg)
	tr, va := classify.Split(ex, *val, *seed)
	fmt.Fprintf(os.Stderr, "trainmodel: %d training, %d held-out patches rendered in %s\n", len(tr), len(va), time.Since(t0).Round(time.Millisecond))
	src := fmt.Sprintf("%s phantom patches: n=%d seed=%d neg=%.2f val=%.2f size=%d", genName, *n, *seed, *neg, *val, *size)
	m, _, err := classify.Train(tr, va, classify.TrainOptions{
		Arch: nn.Arch{Size: *size, Channels: ch}, Seed: *seed, Epochs: *epochs, BatchSize: *batch, LR: *lr,
		DataSource: src,
		Progress: func(p classify.Progress) {
			if p.EpochDone {
				s := p.Stats
				fmt.Fprintf(os.Stderr, "epoch %d/%d  train loss %.4f AUC %.4f  held-out loss %.4f AUC %.4f  (%s)\n",
					s.Epoch, p.Epochs, s.TrainLoss, s.TrainAUC, s.ValLoss, s.ValAUC, p.ElapsedDuration.Round(time.Second))
			}
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "trainmodel:", err)
		os.Exit(1)
	}
	var args []string
	flag.Visit(func(f *flag.Flag) {
		if f.Name != "out" {
			args = append(args, "-"+f.Name+"="+f.Value.String())
		}
	})
	m.Header.Training.Note = strings.TrimSpace("regenerate with: go run ./internal/classify/cmd/trainmodel " + strings.Join(args, " "))
	if err := m.Save(*out); err != nil {
		fmt.Fprintln(os.Stderr, "trainmodel:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "trainmodel: wrote %s (%d parameters, best epoch %d, held-out AUC %.4f) in %s\n",
		*out, m.Net.NumParams(), m.Header.Training.BestEpoch, m.Header.Training.ValAUC, time.Since(t0).Round(time.Second))
}
