package nn

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lungctl/lungctl/internal/npy"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/pyref"
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
func TestNetGradientFiniteDifference(t *testing.T) {
	for _, a := range []Arch{{Size: 8, Channels: []int{3, 4}}, {Size: 6, Channels: []int{2, 3}, Hidden: 5}} {
		n, err := New(a)
		if err != nil {
			t.Fatal(err)
		}
		n.Init(7)
		r := rand.New(rand.NewPCG(5, 6))
		for _, p := range n.Params() { // non-zero biases so their gradients are exercised
			if len(p.Shape) == 1 {
				for i := range p.Data {
					p.Data[i] = float32(0.1 * r.NormFloat64())
				}
			}
		}
		const nb = 3
		x := randVec(r, nb*n.InputLen())
		y := []float32{1, 0, 1}
		ws := n.NewWorkspace(nb)
		z := make([]float32, nb)
		dz := make([]float32, nb)
		lossAt := func() float64 {
			if err := n.Forward(ws, x, nb, z); err != nil {
				t.Fatal(err)
			}
			// float64 loss from the float32 logits
			var l float64
			for i := range z {
				zi := float64(z[i])
				l += math.Max(zi, 0) - zi*float64(y[i]) + math.Log1p(math.Exp(-math.Abs(zi)))
			}
			return l / nb
		}
		lossAt()
		BCEWithLogits(z, y, dz)
		n.ZeroGrad()
		if err := n.Backward(ws, dz); err != nil {
			t.Fatal(err)
		}
		const h = 1e-3
		checked := 0
		for _, p := range n.Params() {
			idx := []int{0, len(p.Data) / 2, len(p.Data) - 1}
			for k := 0; k < 4; k++ {
				idx = append(idx, r.IntN(len(p.Data)))
			}
			var worst float64
			for _, i := range idx {
				p0 := p.Data[i]
				p.Data[i] = p0 + h
				lp := lossAt()
				p.Data[i] = p0 - h
				lm := lossAt()
				p.Data[i] = p0
				num := (lp - lm) / (2 * h)
				ana := float64(p.Grad[i])
				if d := math.Abs(num - ana); d > 2e-3+3e-2*math.Abs(num) {
					t.Errorf("%v %s[%d]: backward %g, finite difference %g", a, p.Name, i, ana, num)
				}
				worst = max(worst, math.Abs(num))
				checked++
			}
			if worst == 0 {
				t.Errorf("%v %s: all sampled gradients are zero; the check proves nothing", a, p.Name)
			}
		}
		if checked == 0 {
			t.Fatal("nothing checked")
		}
	}
}

// torchExport runs the PyTorch peer's --export into a temporary folder, or
// skips when /usr/bin/python3 with torch or the peer script is missing.
func torchExport(t testing.TB, hidden int) string {
	t.Helper()
	script := filepath.Join("..", "..", "..", "..", "shared", "peers", "cnn3d_torch.py")
	if _, err := os.Stat(script); err != nil {
		t.Skipf("PyTorch peer script not found (%v)", err)
	}
	py := pyref.Python(t, "torch", "numpy")
	dir := t.TempDir()
	args := []string{script, "--export", dir, "--no-train", "--batch", "1", "--warmup", "0", "--repeat", "1", "--threads", "1"}
	if hidden > 0 {
		args = append(args, "--hidden", itoa(hidden))
	}
	cmd := exec.Command(py, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cnn3d_torch.py --export: %v\n%s", err, out)
	}
	return dir
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func loadNPY(t testing.TB, dir, name string) []float32 {
	t.Helper()
	v, _, err := npy.Read(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMatchesPyTorch loads the PyTorch peer's exported weights and checks
// logits, loss, every gradient and the SGD-stepped weights number by number.
func TestMatchesPyTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("runs PyTorch (a few seconds); skipped in -short")
	}
	for _, hidden := range []int{0, 16} {
		dir := torchExport(t, hidden)
		n, err := New(Arch{Size: 32, Channels: []int{16, 32, 64}, Hidden: hidden})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range n.Params() {
			v, shape, err := npy.Read(filepath.Join(dir, p.Name+".npy"))
			if err != nil {
				t.Fatal(err)
			}
			if len(v) != len(p.Data) || len(shape) != len(p.Shape) {
				t.Fatalf("%s: shape %v, want %v", p.Name, shape, p.Shape)
			}
			copy(p.Data, v)
		}
		x := loadNPY(t, dir, "input.npy")
		y := loadNPY(t, dir, "labels.npy")
		want := loadNPY(t, dir, "logits.npy")
		nb := len(want)
		ws := n.NewWorkspace(nb)
		z := make([]float32, nb)
		if err := n.Forward(ws, x, nb, z); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if d := math.Abs(float64(z[i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i]))) {
				t.Errorf("hidden %d: logit %d = %.6g, PyTorch %.6g", hidden, i, z[i], want[i])
			}
		}
		// the inference-only path must give the same logits
		wsi := n.NewWorkspace(nb)
		wsi.Inference = true
		zi := make([]float32, nb)
		if err := n.Forward(wsi, x, nb, zi); err != nil {
			t.Fatal(err)
		}
		for i := range z {
			if zi[i] != z[i] {
				t.Fatalf("inference logit %d = %g, training path %g", i, zi[i], z[i])
			}
		}
		if err := n.Backward(wsi, make([]float32, nb)); err == nil {
			t.Fatal("Backward accepted an inference-only batch")
		}
		dz := make([]float32, nb)
		loss := BCEWithLogits(z, y, dz)
		var lj struct {
			Loss float64 `json:"loss_bce_mean"`
		}
		b, err := os.ReadFile(filepath.Join(dir, "loss.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &lj); err != nil {
			t.Fatal(err)
		}
		if math.Abs(loss-lj.Loss) > 1e-5 {
			t.Errorf("loss %.7g, PyTorch %.7g", loss, lj.Loss)
		}
		n.ZeroGrad()
		if err := n.Backward(ws, dz); err != nil {
			t.Fatal(err)
		}
		for _, p := range n.Params() {
			g := loadNPY(t, dir, "grad_"+p.Name+".npy")
			var scale float64
			for _, v := range g {
				scale = max(scale, math.Abs(float64(v)))
			}
			for i := range g {
				if d := math.Abs(float64(p.Grad[i] - g[i])); d > 1e-3*scale+1e-7 {
					t.Fatalf("hidden %d: grad %s[%d] = %g, PyTorch %g (max |g| %g)", hidden, p.Name, i, p.Grad[i], g[i], scale)
				}
			}
		}
		SGD(n, 0.01)
		for _, p := range n.Params() {
			s := loadNPY(t, dir, "stepped_"+p.Name+".npy")
			for i := range s {
				if d := math.Abs(float64(p.Data[i] - s[i])); d > 1e-6+1e-5*math.Abs(float64(s[i])) {
					t.Fatalf("stepped %s[%d] = %g, PyTorch %g", p.Name, i, p.Data[i], s[i])
				}
			}
		}
	}
}

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

func TestAdamMatchesHandComputation(t *testing.T) {
	n, _ := New(Arch{Size: 2, Channels: []int{1}})
	p := n.Params()[0]
	p.Data[0] = 1
	p.Grad[0] = 0.5
	a := NewAdam(0.1)
	a.Step(n)
	// first step: m̂ = g, v̂ = g², update = lr·g/(|g|+eps) = 0.1
	if d := math.Abs(float64(p.Data[0]) - 0.9); d > 1e-6 {
		t.Fatalf("after one Adam step %g, want 0.9", p.Data[0])
	}
	p.Grad[0] = -0.5
	a.Step(n)
	// m = 0.9·0.05 − 0.05 = −0.005, m̂ = −0.005/0.19; v = 0.00025, v̂ = 0.25 → update ≈ +0.1·0.026316/0.5
	want := 0.9 + 0.1*(0.005/0.19)/0.5
	if d := math.Abs(float64(p.Data[0]) - want); d > 1e-5 {
		t.Fatalf("after two Adam steps %g, want %g", p.Data[0], want)
	}
}

func BenchmarkForward32(b *testing.B) {
	n, _ := New(Arch{Size: 32, Channels: []int{16, 32, 64}})
	n.Init(1)
	const nb = 64
	ws := n.NewWorkspace(nb)
	x := randVec(rand.New(rand.NewPCG(1, 1)), nb*n.InputLen())
	z := make([]float32, nb)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = n.Forward(ws, x, nb, z)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nb), "ns/patch")
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
func TestBackwardIndependentOfWorkers(t *testing.T) {
	n, err := New(Arch{Size: 8, Channels: []int{3, 4}, Hidden: 5})
	if err != nil {
		t.Fatal(err)
	}
	n.Init(11)
	const nb = 13
	r := rand.New(rand.NewPCG(2, 3))
	x := randVec(r, nb*n.InputLen())
	dz := randVec(r, nb)
	grads := func(limit, parts int) [][]float32 {
		old := par.Limit()
		par.SetLimit(limit)
		defer par.SetLimit(old)
		ws := n.NewWorkspace(nb)
		ws.GradParts = parts
		z := make([]float32, nb)
		if err := n.Forward(ws, x, nb, z); err != nil {
			t.Fatal(err)
		}
		n.ZeroGrad()
		if err := n.Backward(ws, dz); err != nil {
			t.Fatal(err)
		}
		var g [][]float32
		for _, p := range n.Params() {
			g = append(g, slices.Clone(p.Grad))
		}
		return g
	}
	same := func(a, b [][]float32) bool {
		for i := range a {
			for j := range a[i] {
				if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
					return false
				}
			}
		}
		return true
	}
	ref := grads(1, 3)
	for _, lim := range []int{2, 5} {
		if !same(ref, grads(lim, 3)) {
			t.Fatalf("GradParts 3: gradient on %d workers differs from 1 worker", lim)
		}
	}
	if same(ref, grads(1, 1)) {
		t.Fatal("GradParts 1 and 3 gave bit-identical gradients; the check cannot tell partitions apart")
	}
}
