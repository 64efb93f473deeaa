package cluster

import (
	"fmt"
	"math"
)

// BruteForce is the O(N²)-per-step reference backend: every mode looks at
// every point, with the same truncation radius and convergence rule as Grid
// but math.Exp and float64 sums throughout. Use it only for tests and small
// inputs.
type BruteForce struct{}

// Name returns "brute".
func (BruteForce) Name() string { return "brute" }

// Shift implements Backend.
func (BruteForce) Shift(points []float32, dim int, modes []float32, opt Options) (int, error) {
	if err := checkShiftArgs(points, dim, modes); err != nil {
		return 0, err
	}
	if opt.Scale != nil && !opt.SingleScale() {
		sa := opt.scaledAxes(dim)
		if _, err := scaleLevels(opt.Scale, len(points)/dim, sa, dim); err != nil {
			return 0, err
		}
		return bruteScaled(points, dim, modes, opt, sa), nil
	}
	n := len(points) / dim
	m := len(modes) / dim
	r2 := opt.Truncate * opt.Truncate
	tol2 := opt.Tol * opt.Tol
	maxIt := 0
	y := make([]float64, dim)
	num := make([]float64, dim)
	for q := 0; q < m; q++ {
		for a := 0; a < dim; a++ {
			y[a] = float64(modes[q*dim+a])
		}
		it := 0
		for it < opt.MaxIter {
			it++
			var den float64
			for a := range num {
				num[a] = 0
			}
			for i := 0; i < n; i++ {
				var s float64
				for a := 0; a < dim; a++ {
					d := float64(points[i*dim+a]) - y[a]
					s += d * d
				}
				if s >= r2 {
					continue
				}
				w := math.Exp(-0.5 * s)
				if opt.Weights != nil {
					w *= float64(opt.Weights[i])
				}
				den += w
				for a := 0; a < dim; a++ {
					num[a] += w * float64(points[i*dim+a])
				}
			}
			if den == 0 {
				break
			}
			var step2 float64
			for a := 0; a < dim; a++ {
				nv := num[a] / den
				step2 += (nv - y[a]) * (nv - y[a])
				y[a] = nv
			}
			if step2 < tol2 {
				break
			}
		}
		for a := 0; a < dim; a++ {
			modes[q*dim+a] = float32(y[a])
		}
		if it > maxIt {
			maxIt = it
		}
	}
	return maxIt, nil
}

func checkShiftArgs(points []float32, dim int, modes []float32) error {
	if dim < 1 || len(points)%dim != 0 || len(modes)%dim != 0 {
		return fmt.Errorf("%w: %d points / %d modes values for dim %d", ErrInput, len(points), len(modes), dim)
	}
	return nil
}
