package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"gonum.org/v1/gonum/integrate"
	"gonum.org/v1/gonum/stat"

	"github.com/lungctl/lungctl/internal/classify"
	"github.com/lungctl/lungctl/internal/classify/gorgop"
	"github.com/lungctl/lungctl/internal/classify/nn"
)

// example is one labelled training patch source.
type example struct {
	classify.Site
	// label is true for a malignant nodule.
	label bool
	// info describes the example (kind, diameter, series) for reports.
	info string
}

// ErrNoData reports a training set without both classes or an empty
// held-out set.
var ErrNoData = errors.New("train: need examples of both classes")

func countClasses(ex []example) classify.ClassCounts {
	var c classify.ClassCounts
	for _, e := range ex {
		if e.label {
			c.Malignant++
		} else {
			c.Benign++
		}
	}
	return c
}

// split divides ex into a training and a held-out set, stratified by label:
// a fraction valFrac of each class (at least one when the class has two or
// more) goes to the held-out set, chosen by a seeded shuffle.
func split(ex []example, valFrac float64, seed uint64) (train, val []example) {
	r := rand.New(rand.NewPCG(seed, 0x73706c6974))
	for _, lab := range []bool{false, true} {
		var idx []int
		for i, e := range ex {
			if e.label == lab {
				idx = append(idx, i)
			}
		}
		r.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		nv := int(math.Round(valFrac * float64(len(idx))))
		if nv == 0 && len(idx) >= 2 && valFrac > 0 {
			nv = 1
		}
		for k, i := range idx {
			if k < nv {
				val = append(val, ex[i])
			} else {
				train = append(train, ex[i])
			}
		}
	}
	return train, val
}

// auc is the area under the ROC curve of scores against labels (true =
// positive), computed with gonum's stat.ROC after sorting; NaN when either
// class is missing.
func auc(scores []float64, labels []bool) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	y := make([]float64, len(idx))
	cl := make([]bool, len(idx))
	var pos, neg int
	for k, i := range idx {
		y[k], cl[k] = scores[i], labels[i]
		if cl[k] {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	tpr, fpr, _ := stat.ROC(nil, y, cl, nil)
	return integrate.Trapezoidal(fpr, tpr)
}

// randomAugment draws an Augment from r: each flip with probability ½, a
// uniform rotation of 0…3 quarter turns and shifts uniform in ±maxShiftMM.
func randomAugment(r *rand.Rand, maxShiftMM float64) classify.Augment {
	var a classify.Augment
	for i := range a.Flip {
		a.Flip[i] = r.IntN(2) == 1
		a.ShiftMM[i] = (2*r.Float64() - 1) * maxShiftMM
	}
	a.Rot90 = r.IntN(4)
	return a
}

// Progress reports training progress to a caller (the CLI draws a bar).
type Progress struct {
	Epoch, Epochs  int // 1-based current epoch, maximum epochs
	Batch, Batches int // 1-based batch within the epoch
	// Loss is the mean training BCE so far in this epoch.
	Loss float64
	// EpochDone marks the end-of-epoch report, which carries Stats.
	EpochDone bool
	Stats     EpochStats
	// StoppedEarly is set on the last report when early stopping ends training.
	StoppedEarly bool
	// Elapsed is the wall time since training started.
	Elapsed time.Duration
}

// EpochStats summarises one epoch.
type EpochStats struct {
	Epoch     int     // 1-based
	TrainLoss float64 // mean BCE over the epoch's batches
	TrainAUC  float64 // AUC of the training logits seen during the epoch
	ValLoss   float64 // mean BCE on the held-out set (no augmentation)
	ValAUC    float64
}

// evaluate returns the mean BCE and the AUC of m on ex (no augmentation)
// and the malignancy probabilities, through classify.Logits: exactly the
// scores classify.Score gives the same patches.
func evaluate(m *classify.Model, ex []example) (loss, a float64, probs []float64, err error) {
	sites := make([]classify.Site, len(ex))
	labels := make([]bool, len(ex))
	for i, e := range ex {
		sites[i], labels[i] = e.Site, e.label
	}
	z, err := classify.Logits(sites, m)
	if err != nil {
		return 0, 0, nil, err
	}
	y := make([]float32, len(ex))
	for i, l := range labels {
		if l {
			y[i] = 1
		}
	}
	probs = make([]float64, len(ex))
	for i, v := range z {
		probs[i] = nn.Sigmoid(float64(v))
	}
	// the mean of per-batch means, weighted by batch size
	dz := make([]float32, classify.ScoreBatch)
	for s := 0; s < len(ex); s += classify.ScoreBatch {
		nb := min(classify.ScoreBatch, len(ex)-s)
		loss += nn.BCEWithLogits(z[s:s+nb], y[s:s+nb], dz[:nb]) * float64(nb)
	}
	if len(ex) > 0 {
		loss /= float64(len(ex))
	}
	return loss, auc(probs, labels), probs, nil
}

// fitResult is what fit returns besides the model.
type fitResult struct {
	stats []EpochStats
	best  EpochStats
}

// fit trains a new model on train with Adam and BCE-with-logits through the
// gorgonia graph (package gorgop, gorgonia's Adam solver), evaluating
// on val after every epoch and keeping the weights of the epoch with the best
// held-out AUC (lower held-out loss breaks ties; when val has one class only
// the AUC is undefined and the loss decides); it stops early after
// cfg.Patience epochs without improvement. Results are bit-identical for a
// given seed, data and cfg.GradParts on any machine (batch order,
// augmentation and initialisation are seeded; gradient sums are reduced in
// fixed parts in a fixed order).
func fit(ctx context.Context, train, val []example, cfg *Config) (*classify.Model, fitResult, error) {
	var res fitResult
	if c := countClasses(train); c.Malignant == 0 || c.Benign == 0 {
		return nil, res, fmt.Errorf("%w: training set has %d malignant, %d benign", ErrNoData, c.Malignant, c.Benign)
	}
	if len(val) == 0 {
		return nil, res, fmt.Errorf("%w: the held-out set is empty", ErrNoData)
	}
	m, err := classify.NewModel(cfg.Arch, cfg.Patch, cfg.Seed)
	if err != nil {
		return nil, res, err
	}
	net := m.Net
	solver := gorgop.NewAdam(cfg.LR, cfg.WeightDecay)
	bs := cfg.BatchSize
	// one training graph for full batches and one for the last, shorter one
	graphs := map[int]*gorgop.Graph{}
	defer func() {
		for _, g := range graphs {
			_ = g.Close() // releases memory only; a training result or error is already decided
		}
	}()
	graphFor := func(nb int) (*gorgop.Graph, error) {
		if g, ok := graphs[nb]; ok {
			return g, nil
		}
		g, err := gorgop.Build(net, nb, gorgop.Options{Train: true, GradParts: cfg.GradParts})
		if err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		graphs[nb] = g
		return g, nil
	}
	L := net.InputLen()
	x := make([]float32, bs*L)
	y, dz := make([]float32, bs), make([]float32, bs)
	augs := make([]classify.Augment, bs)
	sites := make([]classify.Site, 0, bs)
	order := make([]int, len(train))
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x747261696e))
	best := EpochStats{ValAUC: -1, ValLoss: math.Inf(1)}
	bestW := make([][]float32, len(net.Params()))
	start := time.Now()
	batches := (len(train) + bs - 1) / bs
	since := 0
	for ep := 1; ep <= cfg.Epochs; ep++ {
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		var lossSum float64
		var seen int
		tScores := make([]float64, 0, len(train))
		tLabels := make([]bool, 0, len(train))
		for b := 0; b < batches; b++ {
			if err := ctx.Err(); err != nil {
				return nil, res, fmt.Errorf("train: epoch %d: %w", ep, err)
			}
			idx := order[b*bs : min((b+1)*bs, len(order))]
			nb := len(idx)
			var ap []classify.Augment
			if !cfg.NoAugment {
				for i := 0; i < nb; i++ {
					augs[i] = randomAugment(rng, cfg.MaxShiftMM)
				}
				ap = augs[:nb]
			}
			sites = sites[:0]
			for i, k := range idx {
				sites = append(sites, train[k].Site)
				y[i] = 0
				if train[k].label {
					y[i] = 1
				}
			}
			classify.ExtractPatches(sites, m.Patch, ap, x)
			g, err := graphFor(nb)
			if err != nil {
				return nil, res, err
			}
			if err := g.Step(x[:nb*L], y[:nb], solver); err != nil {
				return nil, res, fmt.Errorf("train: epoch %d: %w", ep, err)
			}
			z := g.Logits()
			l := nn.BCEWithLogits(z, y[:nb], dz[:nb])
			lossSum += l * float64(nb)
			seen += nb
			for i, k := range idx {
				tScores = append(tScores, float64(z[i]))
				tLabels = append(tLabels, train[k].label)
			}
			if cfg.Progress != nil {
				cfg.Progress(Progress{Epoch: ep, Epochs: cfg.Epochs, Batch: b + 1, Batches: batches,
					Loss: lossSum / float64(seen), Elapsed: time.Since(start)})
			}
		}
		vl, va, _, err := evaluate(m, val)
		if err != nil {
			return nil, res, err
		}
		st := EpochStats{Epoch: ep, TrainLoss: lossSum / float64(seen), TrainAUC: auc(tScores, tLabels), ValLoss: vl, ValAUC: va}
		res.stats = append(res.stats, st)
		// a held-out set of one class has no AUC: the loss decides
		if va > best.ValAUC || (va == best.ValAUC && vl < best.ValLoss) || (math.IsNaN(va) && vl < best.ValLoss) {
			best, since = st, 0
			for i, p := range net.Params() {
				bestW[i] = append(bestW[i][:0], p.Data...)
			}
		} else {
			since++
		}
		stop := since >= cfg.Patience && ep < cfg.Epochs
		if cfg.Progress != nil {
			cfg.Progress(Progress{Epoch: ep, Epochs: cfg.Epochs, Batch: batches, Batches: batches,
				Loss: st.TrainLoss, EpochDone: true, Stats: st, StoppedEarly: stop, Elapsed: time.Since(start)})
		}
		if stop {
			break
		}
	}
	if best.Epoch == 0 {
		return nil, res, fmt.Errorf("train: no epoch had a finite held-out loss (training diverged; try a smaller learning rate): %+v", res.stats)
	}
	for i, p := range net.Params() {
		copy(p.Data, bestW[i])
	}
	res.best = best
	return m, res, nil
}
