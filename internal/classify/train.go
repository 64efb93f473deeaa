package classify

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"time"

	"gonum.org/v1/gonum/integrate"
	"gonum.org/v1/gonum/stat"

	"github.com/lungctl/lungctl/internal/classify/nn"
	"github.com/lungctl/lungctl/internal/volume"
)

// Example is one labelled training patch source: an HU volume (typically a
// small crop) and the LPS world point (mm) the patch is centred on.
type Example struct {
	Vol   *volume.Volume[int16]
	World volume.Vec3
	// Label is true for a malignant nodule.
	Label bool
	// Info describes the example (kind, diameter, series) for reports.
	Info string
}

// ErrNoData reports a training or validation set without both classes.
var ErrNoData = errors.New("classify: need examples of both classes")

// PhantomExamples renders n synthetic examples with gen (SynthPatch when
// nil) on size³ 1 mm patches: a fraction negFrac without a nodule (label
// benign), the rest with a nodule of a uniformly drawn Kind and a diameter
// log-uniform in [3, 30] mm labelled by Malignant. Everything derives from
// seed; rendering runs on all cores.
func PhantomExamples(gen PatchFunc, n int, seed int64, size int, negFrac float64) []Example {
	if gen == nil {
		gen = SynthPatch
	}
	ex := make([]Example, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i := 0; i < n; i++ {
		r := rand.New(rand.NewPCG(uint64(seed), uint64(i)))
		nod := r.Float64() >= negFrac
		kind := Kinds[r.IntN(len(Kinds))]
		d := 3 * math.Pow(10, r.Float64())
		if kind == Calcified {
			d = math.Min(d, 12)
		}
		s := seed*1_000_003 + int64(i)
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			v := gen(s, kind, d, size, nod)
			c := volume.Vec3{} // PatchFunc contract: nodule at world (0, 0, 0)
			info := "no nodule"
			lab := false
			if nod {
				info = fmt.Sprintf("%s %.1f mm", kind, d)
				lab = Malignant(kind, d)
			}
			ex[i] = Example{Vol: v, World: c, Label: lab, Info: info}
			<-sem
		}(i)
	}
	wg.Wait()
	return ex
}

// Split divides ex into a training and a held-out set, stratified by label:
// a fraction valFrac of each class (at least one when the class has two or
// more) goes to the held-out set, chosen by a seeded shuffle.
func Split(ex []Example, valFrac float64, seed uint64) (train, val []Example) {
	r := rand.New(rand.NewPCG(seed, 0x73706c6974))
	for _, lab := range []bool{false, true} {
		var idx []int
		for i, e := range ex {
			if e.Label == lab {
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

// AUC is the area under the ROC curve of scores against labels (true =
// positive), computed with gonum's stat.ROC after sorting; NaN when either
// class is missing.
func AUC(scores []float64, labels []bool) float64 {
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

// TrainOptions configures Train. Zero fields take the documented defaults.
type TrainOptions struct {
	// Arch is the network; default Size 32, Channels 16,32,64, no hidden layer.
	Arch nn.Arch
	// Patch is the patch sampling; default DefaultPatchSpec (Size follows Arch.Size).
	Patch PatchSpec
	// Seed drives initialisation, shuffling and augmentation.
	Seed uint64
	// Epochs is the maximum number of passes over the training set (default 10).
	Epochs int
	// BatchSize is the mini-batch size (default 32).
	BatchSize int
	// LR is Adam's learning rate (default 1e-3); WeightDecay its L2 term.
	LR, WeightDecay float64
	// Patience stops training after this many epochs without a better
	// held-out AUC (default 3); the best epoch's weights are kept.
	Patience int
	// NoAugment disables augmentation (flips, axial 90° rotations, shifts).
	NoAugment bool
	// MaxShiftMM bounds the random shift (default 2 mm).
	MaxShiftMM float64
	// DataSource is recorded in the model's provenance.
	DataSource string
	// Progress, when set, is called after every batch and at each epoch end.
	Progress func(Progress)
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
	// ElapsedDuration is the wall time since training started.
	ElapsedDuration time.Duration
}

// EpochStats summarises one epoch.
type EpochStats struct {
	Epoch     int     // 1-based
	TrainLoss float64 // mean BCE over the epoch's batches
	TrainAUC  float64 // AUC of the training logits seen during the epoch
	ValLoss   float64 // mean BCE on the held-out set (no augmentation)
	ValAUC    float64
}

func (o *TrainOptions) defaults() {
	if o.Arch.Size == 0 {
		o.Arch.Size = 32
	}
	if len(o.Arch.Channels) == 0 {
		o.Arch.Channels = []int{16, 32, 64}
	}
	if o.Patch.Size == 0 {
		o.Patch = DefaultPatchSpec
	}
	o.Patch.Size = o.Arch.Size
	if o.Epochs <= 0 {
		o.Epochs = 10
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 32
	}
	if o.LR <= 0 {
		o.LR = 1e-3
	}
	if o.Patience <= 0 {
		o.Patience = 3
	}
	if o.MaxShiftMM == 0 {
		o.MaxShiftMM = 2
	}
}

// extractBatch fills x with the patches of ex[idx] (augmented when augs is
// non-nil), in parallel.
func extractBatch(ex []Example, idx []int, spec PatchSpec, augs []Augment, x []float32) {
	n := spec.Size * spec.Size * spec.Size
	var wg sync.WaitGroup
	nw := runtime.GOMAXPROCS(0)
	for w := 0; w < nw; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for b := w; b < len(idx); b += nw {
				var a *Augment
				if augs != nil {
					a = &augs[b]
				}
				e := ex[idx[b]]
				ExtractPatch(e.Vol, e.World, spec, a, x[b*n:(b+1)*n])
			}
		}(w)
	}
	wg.Wait()
}

// Evaluate returns the mean BCE and the AUC of m on ex (no augmentation)
// and the malignancy probabilities.
func Evaluate(m *Model, ex []Example) (loss, auc float64, probs []float64, err error) {
	bs := 64
	ws := m.Net.NewWorkspace(bs)
	ws.Inference = true
	n := m.Net.InputLen()
	x := make([]float32, bs*n)
	z := make([]float32, bs)
	y := make([]float32, bs)
	dz := make([]float32, bs)
	labels := make([]bool, len(ex))
	probs = make([]float64, len(ex))
	idx := make([]int, 0, bs)
	for s := 0; s < len(ex); s += bs {
		nb := min(bs, len(ex)-s)
		idx = idx[:0]
		for i := 0; i < nb; i++ {
			idx = append(idx, s+i)
			labels[s+i] = ex[s+i].Label
			y[i] = 0
			if ex[s+i].Label {
				y[i] = 1
			}
		}
		extractBatch(ex, idx, m.Patch, nil, x)
		if err := m.Net.Forward(ws, x, nb, z); err != nil {
			return 0, 0, nil, err
		}
		loss += nn.BCEWithLogits(z[:nb], y[:nb], dz[:nb]) * float64(nb)
		for i := 0; i < nb; i++ {
			probs[s+i] = nn.Sigmoid(float64(z[i]))
		}
	}
	if len(ex) > 0 {
		loss /= float64(len(ex))
	}
	return loss, AUC(probs, labels), probs, nil
}

// Train fits a new model on train with Adam and BCE-with-logits, evaluating
// on val after every epoch and keeping the weights of the epoch with the best
// held-out AUC (lower held-out loss breaks ties); it stops early after
// Patience epochs without improvement. Results are deterministic for a given
// seed and data (the batch order, augmentation and initialisation are
// seeded; float sums are reduced in a fixed order).
func Train(train, val []Example, opt TrainOptions) (*Model, []EpochStats, error) {
	opt.defaults()
	countPos := func(ex []Example) (p, n int) {
		for _, e := range ex {
			if e.Label {
				p++
			} else {
				n++
			}
		}
		return
	}
	if p, n := countPos(train); p == 0 || n == 0 {
		return nil, nil, fmt.Errorf("%w: training set has %d malignant, %d benign", ErrNoData, p, n)
	}
	if p, n := countPos(val); p == 0 || n == 0 {
		return nil, nil, fmt.Errorf("%w: held-out set has %d malignant, %d benign", ErrNoData, p, n)
	}
	m, err := NewModel(opt.Arch, opt.Patch, opt.Seed)
	if err != nil {
		return nil, nil, err
	}
	net := m.Net
	adam := nn.NewAdam(opt.LR)
	adam.WeightDecay = opt.WeightDecay
	bs := opt.BatchSize
	ws := net.NewWorkspace(bs)
	n := net.InputLen()
	x := make([]float32, bs*n)
	z := make([]float32, bs)
	y := make([]float32, bs)
	dz := make([]float32, bs)
	augs := make([]Augment, bs)
	order := make([]int, len(train))
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x747261696e))
	best := -1.0
	bestLoss := math.Inf(1)
	bestEpoch := 0
	bestW := make([][]float32, len(net.Params()))
	var stats []EpochStats
	start := time.Now()
	batches := (len(train) + bs - 1) / bs
	since := 0
	for ep := 1; ep <= opt.Epochs; ep++ {
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		var lossSum float64
		var seen int
		tScores := make([]float64, 0, len(train))
		tLabels := make([]bool, 0, len(train))
		for b := 0; b < batches; b++ {
			idx := order[b*bs : min((b+1)*bs, len(order))]
			nb := len(idx)
			var ap []Augment
			if !opt.NoAugment {
				for i := 0; i < nb; i++ {
					augs[i] = RandomAugment(rng, opt.MaxShiftMM)
				}
				ap = augs
			}
			extractBatch(train, idx, m.Patch, ap, x)
			for i, k := range idx {
				y[i] = 0
				if train[k].Label {
					y[i] = 1
				}
			}
			if err := net.Forward(ws, x, nb, z); err != nil {
				return nil, nil, err
			}
			l := nn.BCEWithLogits(z[:nb], y[:nb], dz[:nb])
			net.ZeroGrad()
			if err := net.Backward(ws, dz[:nb]); err != nil {
				return nil, nil, err
			}
			adam.Step(net)
			lossSum += l * float64(nb)
			seen += nb
			for i, k := range idx {
				tScores = append(tScores, float64(z[i]))
				tLabels = append(tLabels, train[k].Label)
			}
			if opt.Progress != nil {
				opt.Progress(Progress{Epoch: ep, Epochs: opt.Epochs, Batch: b + 1, Batches: batches,
					Loss: lossSum / float64(seen), ElapsedDuration: time.Since(start)})
			}
		}
		vl, va, _, err := Evaluate(m, val)
		if err != nil {
			return nil, nil, err
		}
		st := EpochStats{Epoch: ep, TrainLoss: lossSum / float64(seen), TrainAUC: AUC(tScores, tLabels), ValLoss: vl, ValAUC: va}
		stats = append(stats, st)
		if va > best || (va == best && vl < bestLoss) {
			best, bestLoss, bestEpoch, since = va, vl, ep, 0
			for i, p := range net.Params() {
				bestW[i] = append(bestW[i][:0], p.Data...)
			}
		} else {
			since++
		}
		stop := since >= opt.Patience && ep < opt.Epochs
		if opt.Progress != nil {
			opt.Progress(Progress{Epoch: ep, Epochs: opt.Epochs, Batch: batches, Batches: batches,
				Loss: st.TrainLoss, EpochDone: true, Stats: st, StoppedEarly: stop, ElapsedDuration: time.Since(start)})
		}
		if stop {
			break
		}
	}
	for i, p := range net.Params() {
		copy(p.Data, bestW[i])
	}
	m.Header.Training = Provenance{DataSource: opt.DataSource, Seed: opt.Seed, Epochs: len(stats), BestEpoch: bestEpoch,
		Date: time.Now().UTC().Format(time.RFC3339), ValAUC: best, ValLoss: bestLoss,
		TrainSamples: len(train), ValSamples: len(val)}
	return m, stats, nil
}
