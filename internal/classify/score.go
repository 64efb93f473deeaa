package classify

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/classify/gorgop"
	"github.com/lungctl/lungctl/internal/classify/nn"
	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

// ScoreBatch is the largest number of patches Score pushes through the
// network at once; Logits uses fewer when the memory budget requires it
// (see ForwardBytes).
const ScoreBatch = 64

// ForwardBytes estimates the memory, in bytes, of the inference graph that
// Logits builds (and keeps for reuse) to push batch patches of network a
// through it with up to workers par workers: every value is a float32 (4
// bytes), and the graph holds
//
//   - the input patches: batch·Size³,
//   - for each conv block, with input side s (Size halved once per block
//     before it), input channels cin and output channels c, its own
//     convolution output batch·c·s³ and pooled output batch·c·(s/2)³,
//   - the im2col scratch, one buffer per worker in use
//     (min(batch, workers)) of the largest block's cin·27·s³,
//   - the outputs of the dense layers: batch·(Hidden + 1), and the logits.
//
// The weights (a.NumParams()·4 bytes) are not included: they were counted
// when the model was loaded. The default model (32³, conv 8-16-32) needs
// 102.5 MiB for a batch of 64 plus 3.4 MiB per worker; a 128³ input with
// one 1-channel block needs 233 MiB for a single patch. (Measured, the live
// heap of a built and run graph matched the estimate to 0.1 MiB; for
// layers of fewer than 4 channels the BLAS library adds short-lived
// garbage, 6.5 MiB a run in the 128³ example.) ForwardBytes saturates at
// math.MaxUint64 instead of overflowing; a must be valid.
func ForwardBytes(a nn.Arch, batch, workers int) uint64 {
	b := int64(batch)
	var floats uint64
	add := func(v uint64) {
		if floats > math.MaxUint64-v {
			floats = math.MaxUint64
		} else {
			floats += v
		}
	}
	s, cin := int64(a.Size), int64(1)
	add(membudget.Mul(b, s, s, s))
	var col uint64
	for _, c := range a.Channels {
		c := int64(c)
		add(membudget.Mul(b, c, s, s, s))
		h := s / 2
		add(membudget.Mul(b, c, h, h, h))
		col = max(col, membudget.Mul(cin, 27, s, s, s))
		cin, s = c, h
	}
	if w := uint64(max(1, min(batch, workers))); col > 0 && w > math.MaxUint64/col {
		add(math.MaxUint64)
	} else {
		add(w * col)
	}
	add(membudget.Mul(b, int64(a.Hidden)+2))
	if floats > math.MaxUint64/4 {
		return math.MaxUint64
	}
	return 4 * floats
}

// scoreBatch is the graph batch Logits uses for n patches of m: the next
// power of two of min(n, ScoreBatch), halved until ForwardBytes fits the
// memory budget. It fails, naming the model, when one patch does not fit.
func scoreBatch(m *Model, n int) (int, error) {
	a, w := m.Net.Arch, par.Limit()
	b := graphBatch(max(1, min(n, ScoreBatch)))
	for b > 1 && ForwardBytes(a, b, w) > membudget.Limit() {
		b /= 2
	}
	what := fmt.Sprintf("model %s: CNN forward pass (%d³ patches, conv %v, batch %d, %d workers)", m.name(), a.Size, a.Channels, b, min(b, w))
	if err := membudget.Check(what, ForwardBytes(a, b, w)); err != nil {
		return 0, err
	}
	return b, nil
}

// CheckMemory reports (membudget.ErrTooBig, naming the model) when the
// model cannot score even one patch within the memory budget, so that a
// caller can refuse it before the work that precedes scoring.
func (m *Model) CheckMemory() error {
	if m == nil || m.Net == nil {
		return fmt.Errorf("classify: no model")
	}
	if _, err := scoreBatch(m, 1); err != nil {
		return fmt.Errorf("classify: %w", err)
	}
	return nil
}

// scorer is an inference graph of one net for one batch size, with its
// input buffer; graphs are kept for reuse (touching fresh pages is slow).
type scorer struct {
	g    *gorgop.Graph
	x, z []float32
}

type scorerKey struct {
	net   *nn.Net
	batch int
}

var scorers sync.Map // scorerKey → *sync.Pool of *scorer

// graphBatch is the graph size used for nb patches: the next power of two
// (1 … ScoreBatch), so that few graphs exist and padding costs at most 2×.
func graphBatch(nb int) int {
	b := 1
	for b < nb {
		b *= 2
	}
	return b
}

func getScorer(n *nn.Net, batch int) (*scorer, *sync.Pool, error) {
	pi, _ := scorers.LoadOrStore(scorerKey{n, batch}, &sync.Pool{})
	p := pi.(*sync.Pool)
	if s, ok := p.Get().(*scorer); ok {
		return s, p, nil
	}
	g, err := gorgop.Build(n, batch, gorgop.Options{})
	if err != nil {
		return nil, nil, err
	}
	return &scorer{g: g, x: make([]float32, batch*n.InputLen()), z: make([]float32, batch)}, p, nil
}

// Score returns, for each candidate, the model's malignancy probability in
// [0, 1] (sigmoid of the logit) for the patch centred on its World (LPS mm)
// position in hu (any spacing; patches are resampled to the model's patch
// spec). Patches are evaluated ScoreBatch at a time on the par worker budget.
func Score(hu *volume.Volume[int16], cs []candidate.Candidate, m *Model) ([]float64, error) {
	if err := hu.Check(); err != nil {
		return nil, fmt.Errorf("classify: score: %w", err)
	}
	sites := make([]Site, len(cs))
	for i, c := range cs {
		for a := 0; a < 3; a++ {
			if math.IsNaN(c.World[a]) || math.IsInf(c.World[a], 0) {
				return nil, fmt.Errorf("classify: score: candidate %d has a non-finite position", i)
			}
		}
		sites[i] = Site{Vol: hu, World: volume.Vec3(c.World)}
	}
	z, err := Logits(sites, m)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(z))
	for i, v := range z {
		// A network whose finite weights overflow float32 (a corrupt or
		// crafted file) gives NaN or ±Inf; scored as is, a NaN became an
		// empty malignancy and the patient's probability the leak alone.
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%w: %s: its output for candidate %d (LPS %.4g, %.4g, %.4g mm) is %v, not a number: its weights overflow float32 arithmetic (a corrupt or foreign model file)",
				ErrModelOutput, m.name(), i, cs[i].World[0], cs[i].World[1], cs[i].World[2], v)
		}
		out[i] = nn.Sigmoid(float64(v))
	}
	return out, nil
}

// ErrModelOutput reports a model whose output for a patch is NaN or
// infinite.
var ErrModelOutput = errors.New("classify: model gives no score")

// Logits returns the model's logit (log-odds of malignancy) for the patch
// at each site, without augmentation, up to ScoreBatch patches at a time
// through the gorgonia inference graph (package gorgop). The batch is
// reduced (by powers of two) until the graph's memory, ForwardBytes, fits
// the memory budget; when one patch does not fit, the error wraps
// membudget.ErrTooBig and names the model file. The logits do not depend
// on the batch.
func Logits(sites []Site, m *Model) ([]float32, error) {
	if m == nil || m.Net == nil {
		return nil, fmt.Errorf("classify: score: no model")
	}
	out := make([]float32, len(sites))
	if len(sites) == 0 {
		return out, nil
	}
	batch, err := scoreBatch(m, len(sites))
	if err != nil {
		return nil, fmt.Errorf("classify: score: %w", err)
	}
	L := m.Net.InputLen()
	for st := 0; st < len(sites); st += batch {
		nb := min(batch, len(sites)-st)
		s, pool, err := getScorer(m.Net, graphBatch(nb))
		if err != nil {
			return nil, fmt.Errorf("classify: score: %w", err)
		}
		ExtractPatches(sites[st:st+nb], m.Patch, nil, s.x)
		clear(s.x[nb*L:]) // padding up to the graph's batch
		err = s.g.Forward(s.x, s.z)
		copy(out[st:st+nb], s.z)
		pool.Put(s)
		if err != nil {
			return nil, fmt.Errorf("classify: score: %w", err)
		}
	}
	return out, nil
}

// Noisy-OR defaults: the five most suspicious candidates and a 2 % leak.
const (
	DefaultNoisyORK    = 5
	DefaultNoisyORLeak = 0.02
)

// NoisyOR combines per-candidate malignancy probabilities into one patient
// probability, the DSB 2017 winning team's form:
// 1 − (1 − leak)·Π over the k largest p of (1 − p). k ≤ 0 uses every
// candidate; probabilities are clamped to [0, 1]; NaNs are ignored. With no
// candidates the result is leak.
func NoisyOR(ps []float64, k int, leak float64) float64 {
	q := make([]float64, 0, len(ps))
	for _, p := range ps {
		if math.IsNaN(p) {
			continue
		}
		q = append(q, math.Min(1, math.Max(0, p)))
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(q)))
	if k > 0 && k < len(q) {
		q = q[:k]
	}
	prod := 1 - math.Min(1, math.Max(0, leak))
	for _, p := range q {
		prod *= 1 - p
	}
	return 1 - prod
}
