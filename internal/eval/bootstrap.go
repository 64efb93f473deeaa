package eval

import (
	"math"
	"math/rand/v2"
	"sort"

	"github.com/lungctl/lungctl/internal/par"
)

// BootstrapResult holds bootstrap confidence bands of the FROC curve: the
// scans are drawn with replacement Samples times and the curve recomputed.
type BootstrapResult struct {
	// Samples is the number of resamplings drawn; Skipped of them held no
	// nodule (sensitivity undefined) and were left out of the statistics.
	Samples int `json:"samples"`
	Skipped int `json:"skipped"`
	// Confidence is the two-sided level of Lower/Upper, e.g. 0.95.
	Confidence float64 `json:"confidence"`
	Seed       int64   `json:"seed"`
	// FPPerScan is the grid (log-spaced, 1/8 … 8 FP per scan, 24 points per
	// doubling) on which Mean, Lower and Upper are given.
	FPPerScan []float64 `json:"fp_per_scan"`
	Mean      []float64 `json:"mean"`
	Lower     []float64 `json:"lower"`
	Upper     []float64 `json:"upper"`
	// SensitivityAt* are the same statistics at the 7 operating points.
	SensitivityAtMean  [7]float64 `json:"sensitivity_at_mean"`
	SensitivityAtLower [7]float64 `json:"sensitivity_at_lower"`
	SensitivityAtUpper [7]float64 `json:"sensitivity_at_upper"`
	// CPM statistics over the resamplings (an addition to the official
	// script, which reports only the curves).
	CPMMean  float64 `json:"cpm_mean"`
	CPMLower float64 `json:"cpm_lower"`
	CPMUpper float64 `json:"cpm_upper"`
}

// LogGrid returns the FP-per-scan grid 2^(−3 + i/24), i = 0 … 144: 1/8 to 8
// with every operating point on it (at i = 0, 24, …, 144).
func LogGrid() []float64 {
	g := make([]float64, 145)
	for i := range g {
		g[i] = math.Exp2(-3 + float64(i)/24)
	}
	return g
}

// bootstrap resamples the scans. entries are sorted by descending
// probability; lesions[s] is the number of included nodules of scan s.
// Sample i draws from its own PCG stream (Seed, i), so the result does not
// depend on the number of workers (par's budget).
func bootstrap(entries []entry, lesions []int, opt Options) *BootstrapResult {
	conf := opt.Confidence
	if conf <= 0 || conf >= 1 {
		conf = 0.95
	}
	n := opt.Bootstrap
	grid := LogGrid()
	nScans := len(lesions)
	// rows[i] = sensitivities of sample i on grid, then the 7 points, then CPM.
	width := len(grid) + 8
	rows := make([]float64, n*width)
	valid := make([]bool, n)
	// Per-worker scratch, indexed by par's worker number.
	weights := make([][]int32, par.Limit())
	curves := make([][]Point, par.Limit())
	par.For(n, func(w, i int) {
		if weights[w] == nil {
			weights[w] = make([]int32, nScans)
		}
		weight := weights[w]
		rng := rand.New(rand.NewPCG(uint64(opt.Seed), uint64(i)))
		clear(weight)
		total := 0
		for k := 0; k < nScans; k++ {
			s := rng.IntN(nScans)
			weight[s]++
			total += lesions[s]
		}
		if total == 0 {
			return
		}
		valid[i] = true
		curves[w] = froc(entries, weight, float64(total), float64(nScans), curves[w])
		row := rows[i*width : (i+1)*width]
		for g, x := range grid {
			row[g] = Interp(curves[w], x)
		}
		at, c := cpm(curves[w])
		copy(row[len(grid):], at[:])
		row[width-1] = c
	})

	var ok []int
	for i, v := range valid {
		if v {
			ok = append(ok, i)
		}
	}
	br := &BootstrapResult{Samples: n, Skipped: n - len(ok), Confidence: conf, Seed: opt.Seed, FPPerScan: grid,
		Mean: make([]float64, len(grid)), Lower: make([]float64, len(grid)), Upper: make([]float64, len(grid))}
	if len(ok) == 0 {
		return br
	}
	pz := (1 - conf) / 2
	col := make([]float64, len(ok))
	stat := func(c int) (mean, lo, hi float64) {
		for k, i := range ok {
			col[k] = rows[i*width+c]
			mean += col[k]
		}
		sort.Float64s(col)
		m := len(col)
		lo = col[min(m-1, int(math.Floor(pz*float64(m))))]
		hi = col[min(m-1, int(math.Floor((1-pz)*float64(m))))]
		return mean / float64(m), lo, hi
	}
	for g := range grid {
		br.Mean[g], br.Lower[g], br.Upper[g] = stat(g)
	}
	for p := 0; p < 7; p++ {
		br.SensitivityAtMean[p], br.SensitivityAtLower[p], br.SensitivityAtUpper[p] = stat(len(grid) + p)
	}
	br.CPMMean, br.CPMLower, br.CPMUpper = stat(width - 1)
	return br
}
