package edt

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAgainstBruteForce compares with the direct minimum over all features.
func TestAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 20; trial++ {
		nx, ny, nz := 1+r.IntN(9), 1+r.IntN(9), 1+r.IntN(9)
		sp := [3]float64{0.5 + r.Float64(), 0.5 + r.Float64(), 0.5 + 2*r.Float64()}
		n := nx * ny * nz
		f := make([]float32, n)
		var feat [][3]int
		for k := 0; k < nz; k++ {
			for j := 0; j < ny; j++ {
				for i := 0; i < nx; i++ {
					p := i + nx*(j+ny*k)
					if r.Float64() < 0.08 {
						feat = append(feat, [3]int{i, j, k})
					} else {
						f[p] = Inf
					}
				}
			}
		}
		Transform3(f, nx, ny, nz, sp, nil)
		for k := 0; k < nz; k++ {
			for j := 0; j < ny; j++ {
				for i := 0; i < nx; i++ {
					want := math.Inf(1)
					for _, q := range feat {
						dx, dy, dz := float64(i-q[0])*sp[0], float64(j-q[1])*sp[1], float64(k-q[2])*sp[2]
						want = math.Min(want, dx*dx+dy*dy+dz*dz)
					}
					got := float64(f[i+nx*(j+ny*k)])
					if math.IsInf(want, 1) {
						if got < float64(Inf) {
							t.Fatalf("trial %d (%d,%d,%d): no feature but %g", trial, i, j, k, got)
						}
						continue
					}
					if math.Abs(got-want) > 1e-3*(1+want) {
						t.Fatalf("trial %d (%d,%d,%d): %g want %g", trial, i, j, k, got, want)
					}
				}
			}
		}
	}
}
