package risk

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Noisy-OR defaults: the five most suspicious nodules and a 2 % leak, the
// values lungctl classify documents for its patient probability (README,
// "classify": P = 1 − (1 − 0.02)·Π(1 − pᵢ) over the k = 5 most malignant
// candidates, flags --top-k and --leak).
const (
	DefaultTopK = 5
	DefaultLeak = 0.02
)

// ErrProbability reports a probability outside [0, 1] or NaN.
var ErrProbability = errors.New("invalid probability")

// NoisyOR combines per-nodule malignancy probabilities into one patient
// probability, a leaky noisy-OR over the k most suspicious nodules:
//
//	P = 1 − (1 − leak) · Π over the k largest pᵢ of (1 − pᵢ)
//
// k ≤ 0 uses every nodule. With no nodules the result is leak. Every pᵢ
// and leak must lie in [0, 1] (ErrProbability otherwise; nothing is
// clamped, since an out-of-range value is a bug upstream).
//
// The noisy-OR treats the nodules as independent causes of cancer. Brock
// probabilities are per nodule and already contain the patient's age, sex,
// family history and emphysema, so the nodules of one patient are not
// independent: combining them this way counts those shared factors once
// per nodule and overstates the patient's probability, the more so the more
// nodules are combined (which is one reason to keep k small). The PanCan
// model also already lowers each nodule's probability as the nodule count
// rises. Treat the result as a ranking score across patients rather than a
// calibrated patient-level probability.
func NoisyOR(ps []float64, k int, leak float64) (float64, error) {
	if math.IsNaN(leak) || leak < 0 || leak > 1 {
		return 0, fmt.Errorf("noisy-or: %w: leak %v (want 0–1)", ErrProbability, leak)
	}
	for i, p := range ps {
		if math.IsNaN(p) || p < 0 || p > 1 {
			return 0, fmt.Errorf("noisy-or: %w: nodule %d: p = %v (want 0–1)", ErrProbability, i, p)
		}
	}
	q := ps
	if k > 0 && k < len(ps) {
		q = append([]float64(nil), ps...)
		sort.Sort(sort.Reverse(sort.Float64Slice(q)))
		q = q[:k]
	}
	prod := 1 - leak
	for _, p := range q {
		prod *= 1 - p
	}
	return 1 - prod, nil
}
