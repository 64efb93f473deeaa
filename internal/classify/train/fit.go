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
	G "gorgonia.org/gorgonia"

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
	tr, err := newTrainer(train, cfg)
	if err != nil {
		return nil, res, err
	}
	defer tr.close()
	m, net := tr.m, tr.m.Net
	best := EpochStats{ValAUC: -1, ValLoss: math.Inf(1)}
	bestW := make([][]float32, len(net.Params()))
	since := 0
	for ep := 1; ep <= cfg.Epochs; ep++ {
		trainLoss, trainAUC, err := tr.epoch(ctx, ep)
		if err != nil {
			return nil, res, err
		}
		vl, va, _, err := evaluate(m, val)
		if err != nil {
			return nil, res, err
		}
		st := EpochStats{Epoch: ep, TrainLoss: trainLoss, TrainAUC: trainAUC, ValLoss: vl, ValAUC: va}
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
			cfg.Progress(Progress{Epoch: ep, Epochs: cfg.Epochs, Batch: tr.batches, Batches: tr.batches,
				Loss: st.TrainLoss, EpochDone: true, Stats: st, StoppedEarly: stop, Elapsed: time.Since(tr.start)})
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

// trainer is fit's training state: the model, its solver, one training
// graph per batch size (full batches and the last, shorter one), the batch
// buffers and the seeded batch order.
type trainer struct {
	cfg     *Config
	m       *classify.Model
	train   []example
	solver  G.Solver
	graphs  map[int]*gorgop.Graph
	x, y    []float32
	dz      []float32
	augs    []classify.Augment
	sites   []classify.Site
	order   []int
	rng     *rand.Rand
	start   time.Time
	batches int
}

func newTrainer(train []example, cfg *Config) (*trainer, error) {
	m, err := classify.NewModel(cfg.Arch, cfg.Patch, cfg.Seed)
	if err != nil {
		return nil, err
	}
	bs := cfg.BatchSize
	tr := &trainer{
		cfg: cfg, m: m, train: train,
		solver:  gorgop.NewAdam(cfg.LR, cfg.WeightDecay),
		graphs:  map[int]*gorgop.Graph{},
		x:       make([]float32, bs*m.Net.InputLen()),
		y:       make([]float32, bs),
		dz:      make([]float32, bs),
		augs:    make([]classify.Augment, bs),
		sites:   make([]classify.Site, 0, bs),
		order:   make([]int, len(train)),
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x747261696e)),
		start:   time.Now(),
		batches: (len(train) + bs - 1) / bs,
	}
	for i := range tr.order {
		tr.order[i] = i
	}
	return tr, nil
}

// close releases the graphs' memory; a training result or error is already
// decided, so their Close errors add nothing.
func (tr *trainer) close() {
	for _, g := range tr.graphs {
		_ = g.Close()
	}
}

func (tr *trainer) graphFor(nb int) (*gorgop.Graph, error) {
	if g, ok := tr.graphs[nb]; ok {
		return g, nil
	}
	g, err := gorgop.Build(tr.m.Net, nb, gorgop.Options{Train: true, GradParts: tr.cfg.GradParts})
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	tr.graphs[nb] = g
	return g, nil
}

// epoch runs one pass over the shuffled training set and returns its mean
// loss and AUC.
func (tr *trainer) epoch(ctx context.Context, ep int) (loss, auroc float64, err error) {
	cfg, bs := tr.cfg, tr.cfg.BatchSize
	tr.rng.Shuffle(len(tr.order), func(a, b int) { tr.order[a], tr.order[b] = tr.order[b], tr.order[a] })
	var lossSum float64
	var seen int
	tScores := make([]float64, 0, len(tr.train))
	tLabels := make([]bool, 0, len(tr.train))
	for b := 0; b < tr.batches; b++ {
		if err := ctx.Err(); err != nil {
			return 0, 0, fmt.Errorf("train: epoch %d: %w", ep, err)
		}
		idx := tr.order[b*bs : min((b+1)*bs, len(tr.order))]
		z, err := tr.step(ep, idx)
		if err != nil {
			return 0, 0, err
		}
		nb := len(idx)
		lossSum += nn.BCEWithLogits(z, tr.y[:nb], tr.dz[:nb]) * float64(nb)
		seen += nb
		for i, k := range idx {
			tScores = append(tScores, float64(z[i]))
			tLabels = append(tLabels, tr.train[k].label)
		}
		if cfg.Progress != nil {
			cfg.Progress(Progress{Epoch: ep, Epochs: cfg.Epochs, Batch: b + 1, Batches: tr.batches,
				Loss: lossSum / float64(seen), Elapsed: time.Since(tr.start)})
		}
	}
	return lossSum / float64(seen), auc(tScores, tLabels), nil
}

// step trains on the examples idx (augmented unless cfg.NoAugment) and
// returns their logits; tr.y holds their labels.
func (tr *trainer) step(ep int, idx []int) ([]float32, error) {
	nb := len(idx)
	var ap []classify.Augment
	if !tr.cfg.NoAugment {
		for i := 0; i < nb; i++ {
			tr.augs[i] = randomAugment(tr.rng, tr.cfg.MaxShiftMM)
		}
		ap = tr.augs[:nb]
	}
	tr.sites = tr.sites[:0]
	for i, k := range idx {
		tr.sites = append(tr.sites, tr.train[k].Site)
		tr.y[i] = 0
		if tr.train[k].label {
			tr.y[i] = 1
		}
	}
	classify.ExtractPatches(tr.sites, tr.m.Patch, ap, tr.x)
	g, err := tr.graphFor(nb)
	if err != nil {
		return nil, err
	}
	if err := g.Step(tr.x[:nb*tr.m.Net.InputLen()], tr.y[:nb], tr.solver); err != nil {
		return nil, fmt.Errorf("train: epoch %d: %w", ep, err)
	}
	return g.Logits(), nil
}
