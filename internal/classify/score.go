package classify

import (
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/classify/gorgop"
	"github.com/lungctl/lungctl/internal/classify/nn"
	"github.com/lungctl/lungctl/internal/volume"
)

// ScoreBatch is the largest number of patches Score pushes through the
// network at once.
const ScoreBatch = 64

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
		out[i] = nn.Sigmoid(float64(v))
	}
	return out, nil
}

// Logits returns the model's logit (log-odds of malignancy) for the patch
// at each site, without augmentation, up to ScoreBatch patches at a time
// through the gorgonia inference graph (package gorgop).
func Logits(sites []Site, m *Model) ([]float32, error) {
	if m == nil || m.Net == nil {
		return nil, fmt.Errorf("classify: score: no model")
	}
	out := make([]float32, len(sites))
	if len(sites) == 0 {
		return out, nil
	}
	L := m.Net.InputLen()
	for st := 0; st < len(sites); st += ScoreBatch {
		nb := min(ScoreBatch, len(sites)-st)
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
