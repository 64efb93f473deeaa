package cluster

import (
	"math"
	"math/rand"
	"os"
	"strconv"
	"testing"

	"github.com/lungctl/lungctl/internal/cluster/simd"
)

// padded returns n values (from gen) in a slice with soaPad spare values
// past its end, as gridIndex allocates them; the spare values are set to
// spare so that a kernel that read them unmasked would be caught.
func padded(n int, spare float32, gen func(i int) float32) []float32 {
	s := make([]float32, n+soaPad)
	for i := range s {
		s[i] = spare
	}
	for i := 0; i < n; i++ {
		s[i] = gen(i)
	}
	return s[:n]
}

// accum5Ref is the float64 reference of the 5-D kernel sums with math.Exp:
// {Σ k, Σ k·(x_a − y_a)} and the magnitudes {Σ k, Σ k·|x_a − y_a|}.
func accum5Ref(soa [][]float32, wt []float32, b, e int, y []float32, r2 float32) (sum, mag [6]float64) {
	for i := b; i < e; i++ {
		var d [5]float32
		var s float32
		for a := 0; a < 5; a++ {
			d[a] = soa[a][i] - y[a]
			s += d[a] * d[a]
		}
		if s >= r2 {
			continue
		}
		k := math.Exp(-0.5 * float64(s))
		if wt != nil {
			k *= float64(wt[i])
		}
		sum[0] += k
		mag[0] += k
		for a := 0; a < 5; a++ {
			sum[a+1] += k * float64(d[a])
			mag[a+1] += k * math.Abs(float64(d[a]))
		}
	}
	return sum, mag
}

// TestAccum5AVXMatchesGo checks the assembly kernel against the pure-Go
// kernel and a float64 math.Exp reference on random runs of every length
// 0…70 (all tail lengths), at offsets into a longer array (up to its very
// end, where only the padding follows), alone and together with two more
// runs in one call, with the mode y near the points (most inside the
// radius), at a middle distance (some inside) and far away (none inside),
// with and without weights. Sums must agree within 1e-5 of their magnitude
// Σ k·|x_a − y_a| (the sums of signed offsets cancel, so a plain relative
// error would be ill-conditioned).
func TestAccum5AVXMatchesGo(t *testing.T) {
	if !useAVX {
		t.Skip("no AVX2/FMA on this CPU: only the pure-Go kernel is used")
	}
	rng := rand.New(rand.NewSource(3))
	const total = 200
	kt := newKernelTable(3)
	soa := make([][]float32, 5)
	for a := range soa {
		// Spare values that would fall inside the radius of y = 0 if a
		// kernel summed them.
		soa[a] = padded(total, 0, func(int) float32 { return float32(rng.NormFloat64()) })
	}
	wt := padded(total, 1, func(int) float32 { return float32(2 * rng.Float64()) })
	checked := 0
	for n := 0; n <= 70; n++ {
		for _, b := range []int{0, 1, 7, total - n} {
			for _, far := range []float64{0, 1.5, 20} {
				for _, weighted := range []bool{false, true} {
					for _, multi := range []bool{false, true} {
						runs := []int32{int32(b), int32(b + n)}
						if multi {
							for k := 0; k < 2; k++ {
								l := rng.Intn(30)
								s := rng.Intn(total - l + 1)
								runs = append(runs, int32(s), int32(s+l))
							}
						}
						y := make([]float32, 5)
						for a := range y {
							y[a] = float32(far + 0.5*rng.NormFloat64())
						}
						var w []float32
						var wp *float32
						if weighted {
							w, wp = wt, &wt[0]
						}
						var yb [48]float32
						for a := 0; a < 5; a++ {
							for l := 0; l < 8; l++ {
								yb[8*a+l] = y[a]
							}
						}
						for l := 40; l < 48; l++ {
							yb[l] = kt.r2
						}
						var got [6]float32
						simd.Accum5(&soa[0][0], &soa[1][0], &soa[2][0], &soa[3][0], &soa[4][0], wp, &runs[0], len(runs)/2, &yb, &got)
						var goSum, ref, mag [6]float64
						for j := 0; j < len(runs); j += 2 {
							rb, re := int(runs[j]), int(runs[j+1])
							var wr []float32
							if w != nil {
								wr = w[rb:re]
							}
							g := accum5(soa, wr, rb, re, y, kt)
							r, m := accum5Ref(soa, w, rb, re, y, kt.r2)
							for a := 0; a < 6; a++ {
								goSum[a] += float64(g[a])
								ref[a] += r[a]
								mag[a] += m[a]
							}
						}
						for a := 0; a < 6; a++ {
							tol := 1e-5*mag[a] + 1e-30
							if d := math.Abs(float64(got[a]) - goSum[a]); d > tol {
								t.Fatalf("n=%d b=%d far=%g w=%v runs %v: sum %d asm %g vs Go %g (tol %g)", n, b, far, weighted, runs, a, got[a], goSum[a], tol)
							}
							if d := math.Abs(float64(got[a]) - ref[a]); d > tol {
								t.Fatalf("n=%d b=%d far=%g w=%v runs %v: sum %d asm %g vs float64 reference %g (tol %g)", n, b, far, weighted, runs, a, got[a], ref[a], tol)
							}
						}
						if far == 20 && got[0] != 0 {
							t.Fatalf("n=%d: far mode got weight %g", n, got[0])
						}
						checked++
					}
				}
			}
		}
	}
	t.Logf("%d calls checked", checked)
}

// TestAccum5AVXExp checks the kernel value of the assembly path, exp(−s/2)
// by range reduction, a 2^(j/8) table and a degree-3 polynomial, against
// math.Exp for one point at squared distances s spread over [0, r²)
// (relative error ≤ 1e-6; s > 170 is clamped to exp(−85)), and that a point
// at s ≥ r² gets weight 0, for r = 3 and r = 15 (where exp(−s/2) would
// underflow without the clamp).
func TestAccum5AVXExp(t *testing.T) {
	if !useAVX {
		t.Skip("no AVX2/FMA on this CPU")
	}
	for _, r := range []float32{3, 15} {
		r2 := r * r
		var yb [48]float32
		for l := 40; l < 48; l++ {
			yb[l] = r2
		}
		x := make([]float32, 1+soaPad)
		zero := make([]float32, 1+soaPad)
		run := []int32{0, 1}
		worst := 0.0
		for i := 0; i <= 2000; i++ {
			s := float32(float64(i) / 2000 * float64(r2) * 1.001)
			x[0] = float32(math.Sqrt(float64(s)))
			s = x[0] * x[0] // the squared distance the kernel will see
			var out [6]float32
			simd.Accum5(&x[0], &zero[0], &zero[0], &zero[0], &zero[0], nil, &run[0], 1, &yb, &out)
			if s >= r2 {
				if out[0] != 0 {
					t.Fatalf("r=%g s=%g ≥ r²: weight %g", r, s, out[0])
				}
				continue
			}
			want := math.Exp(-0.5 * float64(s))
			if s > 170 {
				// Clamped to exp(−85): negligible next to any point inside.
				if out[0] > 1.01*float32(math.Exp(-85)) {
					t.Fatalf("r=%g s=%g: weight %g, want ≤ exp(−85)", r, s, out[0])
				}
				continue
			}
			rel := math.Abs(float64(out[0])-want) / want
			worst = math.Max(worst, rel)
			if rel > 1e-6 {
				t.Fatalf("r=%g s=%g: exp %g, want %g (relative error %.2g)", r, s, out[0], want, rel)
			}
			if d := math.Abs(float64(out[1]) - want*float64(x[0])); d > 1e-6*want*float64(x[0])+1e-30 {
				t.Fatalf("r=%g s=%g: Σk·d %g, want %g", r, s, out[1], want*float64(x[0]))
			}
		}
		t.Logf("r=%g: worst relative error of exp(−s/2) %.2g", r, worst)
	}
}

// TestBinSeedsPackedAndMap checks binSeeds (packed keys in the open-addressing
// table, and the map fallback for data too spread to pack) against a direct
// map-based binning: same bins in order of first occurrence, same point→bin
// assignment, means and total weights.
func TestBinSeedsPackedAndMap(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for _, spread := range []float64{10, 1e12} {
		for _, dim := range []int{1, 3, 5, 8} {
			n := 3000
			pts := make([]float32, n*dim)
			w := make([]float32, n)
			for i := range pts {
				pts[i] = float32(3 * rng.NormFloat64())
				if i%dim == 0 && rng.Intn(50) == 0 {
					pts[i] = float32(spread * rng.Float64())
				}
			}
			for i := range w {
				w[i] = float32(rng.Float64())
			}
			seeds, binOf, tot := binSeeds(pts, w, dim, 0.5)
			// Reference.
			type key [8]int64
			idx := map[key]int{}
			var rs [][]float64
			var rw []float64
			for i := 0; i < n; i++ {
				var k key
				for a := 0; a < dim; a++ {
					k[a] = int64(math.Floor(float64(pts[i*dim+a]) / 0.5))
				}
				b, ok := idx[k]
				if !ok {
					b = len(rw)
					idx[k] = b
					rw = append(rw, 0)
					rs = append(rs, make([]float64, dim))
				}
				if int(binOf[i]) != b {
					t.Fatalf("spread %g dim %d: point %d in bin %d, want %d", spread, dim, i, binOf[i], b)
				}
				rw[b] += float64(w[i])
				for a := 0; a < dim; a++ {
					rs[b][a] += float64(w[i]) * float64(pts[i*dim+a])
				}
			}
			if len(tot) != len(rw) || len(seeds) != len(rw)*dim {
				t.Fatalf("spread %g dim %d: %d bins, want %d", spread, dim, len(tot), len(rw))
			}
			for b := range rw {
				if math.Abs(float64(tot[b])-rw[b]) > 1e-5*rw[b] {
					t.Fatalf("bin %d weight %g, want %g", b, tot[b], rw[b])
				}
				for a := 0; a < dim; a++ {
					want := rs[b][a] / rw[b]
					if math.Abs(float64(seeds[b*dim+a])-want) > 1e-5*math.Max(1, math.Abs(want)) {
						t.Fatalf("bin %d axis %d mean %g, want %g", b, a, seeds[b*dim+a], want)
					}
				}
			}
		}
	}
}

// BenchmarkAccum5 times the 5-D kernel sum over an in-cache run of 33
// points (the mean run length of lung-like data at N = 10⁶; ACCUM_N sets
// another length) with the mode near the points, for the assembly and the
// pure-Go kernels; ns/op is per run.
func BenchmarkAccum5(b *testing.B) {
	rng := rand.New(rand.NewSource(3))
	n := 33
	if s := os.Getenv("ACCUM_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	soa := make([][]float32, 5)
	for a := range soa {
		soa[a] = padded(n, 0, func(int) float32 { return float32(1.5 * rng.NormFloat64()) })
	}
	y := []float32{0.1, 0.2, -0.1, 0, 0.3}
	kt := newKernelTable(3)
	var yb [48]float32
	for a := 0; a < 5; a++ {
		for l := 0; l < 8; l++ {
			yb[8*a+l] = y[a]
		}
	}
	for l := 40; l < 48; l++ {
		yb[l] = kt.r2
	}
	b.Run("asm", func(b *testing.B) {
		if !useAVX {
			b.Skip("no AVX2/FMA")
		}
		var out [6]float32
		run := []int32{0, int32(n)}
		for i := 0; i < b.N; i++ {
			simd.Accum5(&soa[0][0], &soa[1][0], &soa[2][0], &soa[3][0], &soa[4][0], nil, &run[0], 1, &yb, &out)
		}
	})
	b.Run("go", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_ = accum5(soa, nil, 0, n, y, kt)
		}
	})
}

// TestGridPureGoPath runs the Grid backend's exact search (Reuse < 0) with
// the pure-Go kernel (as on CPUs without AVX2) and with the assembly
// kernel, with and without weights, on lung-like points, and checks that
// every mode agrees within 0.01 bandwidths (convergence stops at steps below
// Tol = 1e-3), and that the pure-Go path matches the BruteForce reference
// the same way.
func TestGridPureGoPath(t *testing.T) {
	pts := lungLike(700, 4)
	bw := []float64{4, 4, 4, 150, 0.15}
	n := len(pts) / 5
	scaled := make([]float32, len(pts))
	for i := range pts {
		scaled[i] = float32(float64(pts[i]) / bw[i%5])
	}
	rng := rand.New(rand.NewSource(9))
	w := make([]float32, n)
	for i := range w {
		w[i] = float32(0.5 + rng.Float64())
	}
	for _, weights := range [][]float32{nil, w} {
		opt := Options{Reuse: -1, Weights: weights}.withDefaults()
		shift := func(b Backend, avx bool) []float32 {
			saved := useAVX
			useAVX = avx && saved
			defer func() { useAVX = saved }()
			modes := append([]float32(nil), scaled...)
			if _, err := b.Shift(scaled, 5, modes, opt); err != nil {
				t.Fatal(err)
			}
			return modes
		}
		goModes := shift(Grid{}, false)
		ref := shift(BruteForce{}, false)
		others := map[string][]float32{"brute": ref}
		if useAVX {
			others["avx"] = shift(Grid{}, true)
		}
		for name, o := range others {
			worst := 0.0
			for i := 0; i < n; i++ {
				var d float64
				for a := 0; a < 5; a++ {
					x := float64(goModes[i*5+a] - o[i*5+a])
					d += x * x
				}
				worst = math.Max(worst, math.Sqrt(d))
			}
			t.Logf("weights %v: pure-Go grid vs %s: worst mode difference %.2g bandwidths", weights != nil, name, worst)
			if worst > 0.01 {
				t.Errorf("weights %v: pure-Go grid vs %s: modes differ by %.3g bandwidths", weights != nil, name, worst)
			}
		}
	}
}
