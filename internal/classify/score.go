package classify

import (
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/classify/nn"
	"github.com/lungctl/lungctl/internal/volume"
)

// ScoreBatch is the number of patches Score pushes through the network at once.
const ScoreBatch = 64

// scorer holds reusable inference buffers (touching fresh pages is slow).
type scorer struct {
	ws *nn.Workspace
	x  []float32
	z  []float32
}

var scorers sync.Map // *nn.Net → *sync.Pool of *scorer

func getScorer(n *nn.Net) (*scorer, *sync.Pool) {
	pi, _ := scorers.LoadOrStore(n, &sync.Pool{})
	p := pi.(*sync.Pool)
	if s, ok := p.Get().(*scorer); ok {
		return s, p
	}
	ws := n.NewWorkspace(ScoreBatch)
	ws.Inference = true
	return &scorer{ws: ws, x: make([]float32, ScoreBatch*n.InputLen()), z: make([]float32, ScoreBatch)}, p
}

// Score returns, for each candidate, the model's malignancy probability in
// [0, 1] (sigmoid of the logit) for the patch centred on its World (LPS mm)
// position in hu (any spacing; patches are resampled to the model's patch
// spec). Patches are evaluated ScoreBatch at a time on all cores.
func Score(hu *volume.Volume[int16], cs []candidate.Candidate, m *Model) ([]float64, error) {
	if m == nil || m.Net == nil {
		return nil, fmt.Errorf("classify: score: no model")
	}
	if err := hu.Check(); err != nil {
		return nil, fmt.Errorf("classify: score: %w", err)
	}
	out := make([]float64, len(cs))
	if len(cs) == 0 {
		return out, nil
	}
	for i, c := range cs {
		for a := 0; a < 3; a++ {
			if math.IsNaN(c.World[a]) || math.IsInf(c.World[a], 0) {
				return nil, fmt.Errorf("classify: score: candidate %d has a non-finite position", i)
			}
		}
	}
	s, pool := getScorer(m.Net)
	defer pool.Put(s)
	ex := make([]Example, len(cs))
	for i, c := range cs {
		ex[i] = Example{Vol: hu, World: volume.Vec3(c.World)}
	}
	idx := make([]int, 0, ScoreBatch)
	for st := 0; st < len(cs); st += ScoreBatch {
		nb := min(ScoreBatch, len(cs)-st)
		idx = idx[:0]
		for i := 0; i < nb; i++ {
			idx = append(idx, st+i)
		}
		extractBatch(ex, idx, m.Patch, nil, s.x)
		if err := m.Net.Forward(s.ws, s.x, nb, s.z); err != nil {
			return nil, fmt.Errorf("classify: score: %w", err)
		}
		for i := 0; i < nb; i++ {
			out[st+i] = nn.Sigmoid(float64(s.z[i]))
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
