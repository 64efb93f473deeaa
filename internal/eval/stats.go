package eval

import (
	"math"
	"sort"
)

// ErrorStats summarises absolute relative errors |measured − truth| / truth
// (fractions: 0.1 is 10 %).
type ErrorStats struct {
	// N is the number of nodules measured (truth > 0, both values finite).
	N int `json:"n"`
	// Median, P90 and Mean of the absolute relative error; NaN (null) when
	// N is 0. Percentiles interpolate linearly between order statistics
	// (numpy.percentile's default): the q-quantile of n sorted values is at
	// position q·(n−1).
	Median Float `json:"median"`
	P90    Float `json:"p90"`
	Mean   Float `json:"mean"`
}

// errorStats summarises the absolute relative errors in e (modified: sorted).
func errorStats(e []float64) ErrorStats {
	s := ErrorStats{N: len(e), Median: nan, P90: nan, Mean: nan}
	if len(e) == 0 {
		return s
	}
	sort.Float64s(e)
	var sum float64
	for _, x := range e {
		sum += x
	}
	s.Median, s.P90, s.Mean = Float(Quantile(e, 0.5)), Float(Quantile(e, 0.9)), Float(sum/float64(len(e)))
	return s
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of sorted values by linear
// interpolation between order statistics at position q·(n−1), as
// numpy.percentile does by default; NaN for no values.
func Quantile(sorted []float64, q float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	pos := q * float64(n-1)
	lo := int(math.Floor(pos))
	if lo >= n-1 {
		return sorted[n-1]
	}
	if lo < 0 {
		return sorted[0]
	}
	f := pos - float64(lo)
	return sorted[lo] + f*(sorted[lo+1]-sorted[lo])
}

// relErr is |m − t| / t, or NaN when t is not positive or either value is
// not finite.
func relErr(m, t float64) float64 {
	if !(t > 0) || math.IsNaN(m) || math.IsInf(m, 0) || math.IsInf(t, 0) {
		return math.NaN()
	}
	return math.Abs(m-t) / t
}

// AUC is the area under the ROC curve of a score against a binary truth.
type AUC struct {
	// Column is the candidates column scored (e.g. "spiculation").
	Column string `json:"column"`
	// Positives and Negatives count the nodules of each class with a
	// finite score; Skipped counts those without one.
	Positives int `json:"positives"`
	Negatives int `json:"negatives"`
	Skipped   int `json:"skipped,omitempty"`
	// AUC is the Mann–Whitney statistic U/(P·N): the probability that a
	// random positive scores above a random negative, ties counting one
	// half (equal to scikit-learn's roc_auc_score). NaN (null) when a
	// class is empty.
	AUC Float `json:"auc"`
	// Note says why AUC is undefined ("n/a (one class)", "n/a (no
	// scores)"); empty when it is defined.
	Note string `json:"note,omitempty"`
}

// MannWhitneyAUC returns the AUC of scores against labels (true =
// positive) by midranks: U = R₊ − P(P+1)/2, AUC = U/(P·N). NaN scores must
// be removed first. It returns NaN when either class is empty.
func MannWhitneyAUC(scores []float64, positive []bool) float64 {
	n := len(scores)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var rPos float64
	var nPos int
	for i := 0; i < n; {
		j := i
		for j < n && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		mid := float64(i+j+1) / 2 // ranks i+1 … j averaged
		for k := i; k < j; k++ {
			if positive[idx[k]] {
				rPos += mid
				nPos++
			}
		}
		i = j
	}
	nNeg := n - nPos
	if nPos == 0 || nNeg == 0 {
		return math.NaN()
	}
	u := rPos - float64(nPos)*float64(nPos+1)/2
	return u / (float64(nPos) * float64(nNeg))
}

// aucOf scores one column: pairs of (score, positive) with NaN scores
// skipped.
func aucOf(column string, scores []float64, positive []bool) AUC {
	a := AUC{Column: column, AUC: nan}
	var s []float64
	var p []bool
	for i, x := range scores {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			a.Skipped++
			continue
		}
		s = append(s, x)
		p = append(p, positive[i])
		if positive[i] {
			a.Positives++
		} else {
			a.Negatives++
		}
	}
	switch {
	case len(s) == 0:
		a.Note = "n/a (no scores)"
	case a.Positives == 0 || a.Negatives == 0:
		a.Note = "n/a (one class)"
	default:
		a.AUC = Float(MannWhitneyAUC(s, p))
	}
	return a
}

// aucText formats an AUC for the text summary.
func aucText(a AUC) string {
	if a.Note != "" {
		return a.Note
	}
	return fmtF(a.AUC, 3)
}
