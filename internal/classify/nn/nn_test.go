package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
)

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// naiveConv is a direct float64 3-D convolution (cross-correlation, as
// PyTorch) used as an independent reference.
func naiveConv(g ConvGeom, cout int, x, w []float32) []float64 {
	o := g.Out()
	y := make([]float64, cout*o.Len())
	D, H, W := g.In[0], g.In[1], g.In[2]
	for co := 0; co < cout; co++ {
		for od := 0; od < o[0]; od++ {
			for oh := 0; oh < o[1]; oh++ {
				for ow := 0; ow < o[2]; ow++ {
					var acc float64
					for ci := 0; ci < g.Cin; ci++ {
						for kd := 0; kd < g.K; kd++ {
							for kh := 0; kh < g.K; kh++ {
								for kw := 0; kw < g.K; kw++ {
									id, ih, iw := od*g.Stride-g.Pad+kd, oh*g.Stride-g.Pad+kh, ow*g.Stride-g.Pad+kw
									if id < 0 || ih < 0 || iw < 0 || id >= D || ih >= H || iw >= W {
										continue
									}
									acc += float64(x[((ci*D+id)*H+ih)*W+iw]) * float64(w[(((co*g.Cin+ci)*g.K+kd)*g.K+kh)*g.K+kw])
								}
							}
						}
					}
					y[((co*o[0]+od)*o[1]+oh)*o[2]+ow] = acc
				}
			}
		}
	}
	return y
}

func TestConvMatchesNaiveAndAdjoint(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, g := range []ConvGeom{
		{Cin: 2, In: Shape3{5, 6, 7}, K: 3, Stride: 1, Pad: 1},
		{Cin: 3, In: Shape3{7, 5, 6}, K: 3, Stride: 2, Pad: 1},
		{Cin: 1, In: Shape3{6, 6, 6}, K: 2, Stride: 2, Pad: 0},
		{Cin: 2, In: Shape3{4, 5, 6}, K: 5, Stride: 1, Pad: 2},
		{Cin: 1, In: Shape3{3, 3, 3}, K: 3, Stride: 1, Pad: 3},
	} {
		cout := 4
		x := randVec(r, g.Cin*g.In.Len())
		w := randVec(r, cout*g.Rows())
		P := g.Out().Len()
		col := make([]float32, g.Rows()*P)
		Im2Col(g, x, col)
		y := make([]float32, cout*P)
		Gemm(false, false, cout, P, g.Rows(), w, g.Rows(), col, P, 0, y, P)
		ref := naiveConv(g, cout, x, w)
		for i := range ref {
			if math.Abs(float64(y[i])-ref[i]) > 1e-4*(1+math.Abs(ref[i])) {
				t.Fatalf("%+v: y[%d] = %g, naive %g", g, i, y[i], ref[i])
			}
		}
		// Col2Im must be the adjoint of Im2Col: <Im2Col x, c> = <x, Col2Im c>.
		c := randVec(r, len(col))
		dx := make([]float32, len(x))
		Col2Im(g, c, dx)
		var a, b float64
		for i := range col {
			a += float64(col[i]) * float64(c[i])
		}
		for i := range x {
			b += float64(x[i]) * float64(dx[i])
		}
		if math.Abs(a-b) > 1e-4*(1+math.Abs(a)) {
			t.Fatalf("%+v: <im2col x, c> = %g, <x, col2im c> = %g", g, a, b)
		}
	}
}

func TestMaxPoolForwardAndGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	g := PoolGeom{C: 2, In: Shape3{5, 4, 6}, K: 2, S: 2}
	o := g.Out()
	if o != (Shape3{2, 2, 3}) {
		t.Fatalf("out %v", o)
	}
	x := randVec(r, g.C*g.In.Len())
	y := make([]float32, g.C*o.Len())
	arg := make([]int32, len(y))
	MaxPool(g, x, y, arg)
	// hand check one window: channel 1, output (1,0,2) covers d 2..3, h 0..1, w 4..5
	want := float32(math.Inf(-1))
	for d := 2; d < 4; d++ {
		for h := 0; h < 2; h++ {
			for w := 4; w < 6; w++ {
				want = max(want, x[g.In.Len()+(d*4+h)*6+w])
			}
		}
	}
	if got := y[o.Len()+(1*2+0)*3+2]; got != want {
		t.Fatalf("pool = %g, want %g", got, want)
	}
	// the generic path (3³ windows, stride 1) against brute force
	g3 := PoolGeom{C: 2, In: Shape3{4, 5, 4}, K: 3, S: 1}
	o3 := g3.Out()
	y3 := make([]float32, g3.C*o3.Len())
	a3 := make([]int32, len(y3))
	MaxPool(g3, x[:g3.C*g3.In.Len()], y3, a3)
	for c := 0; c < 2; c++ {
		for d := 0; d < o3[0]; d++ {
			for h := 0; h < o3[1]; h++ {
				for w := 0; w < o3[2]; w++ {
					m := float32(math.Inf(-1))
					for kd := 0; kd < 3; kd++ {
						for kh := 0; kh < 3; kh++ {
							for kw := 0; kw < 3; kw++ {
								m = max(m, x[c*80+((d+kd)*5+h+kh)*4+w+kw])
							}
						}
					}
					i := c*o3.Len() + (d*o3[1]+h)*o3[2] + w
					if y3[i] != m || x[c*80+int(a3[i])] != m {
						t.Fatalf("3³ pool at %d: %g (arg value %g), want %g", i, y3[i], x[c*80+int(a3[i])], m)
					}
				}
			}
		}
	}
	// bias + ReLU after pooling equals pooling ReLU(x + bias)
	bias := []float32{0.3, -0.4}
	yb := make([]float32, len(y))
	MaxPoolBiasReLU(g, x, bias, yb, arg)
	for i := range y {
		c := i / o.Len()
		if want := max(y[i]+bias[c], 0); yb[i] != want {
			t.Fatalf("MaxPoolBiasReLU[%d] = %g, want %g", i, yb[i], want)
		}
	}
	// finite differences of L = <y, r>
	rv := randVec(r, len(y))
	dx := make([]float32, len(x))
	MaxPoolBackward(g, rv, arg, dx)
	loss := func() float64 {
		MaxPool(g, x, y, arg)
		var s float64
		for i := range y {
			s += float64(y[i]) * float64(rv[i])
		}
		return s
	}
	const h = 1e-3
	for i := range x {
		x0 := x[i]
		x[i] = x0 + h
		lp := loss()
		x[i] = x0 - h
		lm := loss()
		x[i] = x0
		num := (lp - lm) / (2 * h)
		if math.Abs(num-float64(dx[i])) > 2e-2 {
			t.Fatalf("dx[%d] = %g, finite difference %g", i, dx[i], num)
		}
	}
}

// TestNetGradientFiniteDifference checks Backward against central finite
// differences of the BCE loss for every parameter tensor and for a network
// with a hidden layer.
// torchExport runs the PyTorch peer's --export into a temporary folder, or
// skips when /usr/bin/python3 with torch or the peer script is missing.
// TestMatchesPyTorch loads the PyTorch peer's exported weights and checks
// logits, loss, every gradient and the SGD-stepped weights number by number.
func TestArchNumParams(t *testing.T) {
	for _, a := range []Arch{{Size: 32, Channels: []int{16, 32, 64}}, {Size: 16, Channels: []int{4, 8}, Hidden: 7}} {
		n, err := New(a)
		if err != nil {
			t.Fatal(err)
		}
		if a.NumParams() != n.NumParams() {
			t.Fatalf("%v: Arch.NumParams %d, built net %d", a, a.NumParams(), n.NumParams())
		}
	}
	// 16·27+16 + 32·16·27+32 + 64·32·27+64 + 64·4³+1 (PyTorch's count for the peer net)
	if got := (Arch{Size: 32, Channels: []int{16, 32, 64}}).NumParams(); got != 448+13856+55360+4097 {
		t.Fatalf("peer net has %d parameters", got)
	}
	if (Arch{Size: 4, Channels: []int{2, 2, 2}}).Validate() == nil {
		t.Fatal("accepted an input too small for three poolings")
	}
}

// TestGemmAgainstNaive checks Gemm (the assembly tiles, the gonum edges and
// every transpose combination) against a float64 triple loop.
func TestGemmAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, sz := range [][3]int{{4, 16, 1}, {16, 32768 / 64, 27}, {7, 37, 13}, {64, 48, 100}, {3, 20, 5}, {9, 15, 4}, {33, 70, 64}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				for _, beta := range []float32{0, 1} {
					a := randVec(r, m*k)
					b := randVec(r, k*n)
					c := randVec(r, m*n)
					want := make([]float64, m*n)
					for i := 0; i < m; i++ {
						for j := 0; j < n; j++ {
							var s float64
							for p := 0; p < k; p++ {
								av := a[i*k+p]
								if tA {
									av = a[p*m+i]
								}
								bv := b[p*n+j]
								if tB {
									bv = b[j*k+p]
								}
								s += float64(av) * float64(bv)
							}
							want[i*n+j] = s + float64(beta)*float64(c[i*n+j])
						}
					}
					lda, ldb := k, n
					if tA {
						lda = m
					}
					if tB {
						ldb = k
					}
					Gemm(tA, tB, m, n, k, a, lda, b, ldb, beta, c, n)
					for i := range want {
						if math.Abs(float64(c[i])-want[i]) > 1e-4*(1+math.Sqrt(float64(k))) {
							t.Fatalf("m%d n%d k%d tA %v tB %v beta %g: c[%d] = %g, want %g", m, n, k, tA, tB, beta, i, c[i], want[i])
						}
					}
				}
			}
		}
	}
	t.Logf("assembly kernel in use: %v", useKernel)
}

// BenchmarkGemmConv2 times the conv2 GEMM of one 32³ patch (32×432 · 432×4096)
// with the assembly kernel and with gonum's Sgemm, single-threaded.
func BenchmarkGemmConv2(b *testing.B) {
	m, n, k := 32, 4096, 432
	r := rand.New(rand.NewPCG(1, 2))
	a, bb, c := randVec(r, m*k), randVec(r, k*n), make([]float32, m*n)
	flops := float64(2 * m * n * k)
	b.Run("kernel", func(b *testing.B) {
		if !useKernel {
			b.Skip("no AVX2/FMA")
		}
		for i := 0; i < b.N; i++ {
			gemmNN(m, n, k, a, k, bb, n, 0, c, n)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("gonum", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			impl.Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, k, bb, n, 0, c, n)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}

// TestBackwardIndependentOfWorkers checks that for a fixed GradParts the
// gradient is the same bit for bit on worker budgets of 1, 2 and 5 (the
// fixed partition of samples into partial sums is what makes training
// reproducible on any machine), and that GradParts itself changes the
// rounding, so the check would notice a partition that followed the workers.
