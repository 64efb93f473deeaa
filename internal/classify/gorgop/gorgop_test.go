package gorgop

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/lungctl/lungctl/internal/classify/nn"
	"github.com/lungctl/lungctl/internal/npy"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/pyref"
)

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// testNet is a He-initialised net with small non-zero biases (so that
// their gradients are exercised).
func testNet(t testing.TB, a nn.Arch, seed uint64) *nn.Net {
	net, err := nn.New(a)
	if err != nil {
		t.Fatal(err)
	}
	net.Init(seed)
	r := rand.New(rand.NewPCG(seed, 2))
	for _, p := range net.Params() {
		if len(p.Shape) == 1 {
			for i := range p.Data {
				p.Data[i] = float32(0.05 * r.NormFloat64())
			}
		}
	}
	return net
}

func build(t testing.TB, net *nn.Net, batch int, opt Options) *Graph {
	t.Helper()
	g, err := Build(net, batch, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Error(err)
		}
	})
	return g
}

// bceF64 is the mean BCE of logits z against labels y in float64.
func bceF64(z, y []float32) float64 {
	var l float64
	for i := range z {
		zi := float64(z[i])
		l += math.Max(zi, 0) - zi*float64(y[i]) + math.Log1p(math.Exp(-math.Abs(zi)))
	}
	return l / float64(len(z))
}

// TestGradientFiniteDifference checks every parameter tensor's gradient
// from the graph against central finite differences of the loss, with and
// without a hidden layer and with a batch that is not a multiple of the
// gradient parts.
func TestGradientFiniteDifference(t *testing.T) {
	for _, a := range []nn.Arch{{Size: 8, Channels: []int{3, 4}}, {Size: 6, Channels: []int{2, 3}, Hidden: 5}} {
		net := testNet(t, a, 7)
		const nb = 5
		r := rand.New(rand.NewPCG(5, 6))
		x := randVec(r, nb*net.InputLen())
		y := []float32{1, 0, 1, 1, 0}
		tr := build(t, net, nb, Options{Train: true, GradParts: 3})
		inf := build(t, net, nb, Options{})
		loss, grads, err := tr.Grads(x, y)
		if err != nil {
			t.Fatal(err)
		}
		z := make([]float32, nb)
		lossAt := func() float64 {
			if err := inf.Forward(x, z); err != nil {
				t.Fatal(err)
			}
			return bceF64(z, y)
		}
		if l := lossAt(); math.Abs(l-float64(loss)) > 1e-6 {
			t.Fatalf("%v: graph loss %g, recomputed %g", a, loss, l)
		}
		const h = 1e-3
		for pi, p := range net.Params() {
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
				if ana := float64(grads[pi][i]); math.Abs(num-ana) > 2e-3+3e-2*math.Abs(num) {
					t.Errorf("%v %s[%d]: graph %g, finite difference %g", a, p.Name, i, ana, num)
				}
				worst = max(worst, math.Abs(num))
			}
			if worst == 0 {
				t.Errorf("%v %s: all sampled gradients are zero; the check proves nothing", a, p.Name)
			}
		}
	}
}

// TestGradientIndependentOfWorkers checks that for fixed GradParts the
// gradient is the same bit for bit on worker budgets of 1, 2 and 5 (what
// makes training reproducible on any machine), that GradParts changes the
// rounding (so the check would notice parts that followed the workers),
// and that the inference graph gives the training graph's logits.
func TestGradientIndependentOfWorkers(t *testing.T) {
	net := testNet(t, nn.Arch{Size: 8, Channels: []int{3, 4}, Hidden: 5}, 11)
	const nb = 13
	r := rand.New(rand.NewPCG(2, 3))
	x := randVec(r, nb*net.InputLen())
	y := make([]float32, nb)
	for i := range y {
		y[i] = float32(i % 2)
	}
	grads := func(limit, parts int) ([][]float32, []float32) {
		old := par.Limit()
		par.SetLimit(limit)
		defer par.SetLimit(old)
		g := build(t, net, nb, Options{Train: true, GradParts: parts})
		_, gs, err := g.Grads(x, y)
		if err != nil {
			t.Fatal(err)
		}
		return gs, slices.Clone(g.Logits())
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
	ref, z := grads(1, 3)
	for _, lim := range []int{2, 5} {
		if g, _ := grads(lim, 3); !same(ref, g) {
			t.Fatalf("GradParts 3: gradient on %d workers differs from 1 worker", lim)
		}
	}
	if g, _ := grads(1, 1); same(ref, g) {
		t.Fatal("GradParts 1 and 3 gave bit-identical gradients; the check cannot tell partitions apart")
	}
	zi := make([]float32, nb)
	if err := build(t, net, nb, Options{}).Forward(x, zi); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(z, zi) {
		t.Fatalf("inference logits %v, training graph %v", zi, z)
	}
}

// TestAdamStep checks gorgonia's Adam on the graph's gradients against
// Adam computed by hand in float64 for two steps (PyTorch's formula,
// weight decay added to the gradient).
func TestAdamStep(t *testing.T) {
	net := testNet(t, nn.Arch{Size: 8, Channels: []int{2, 3}}, 4)
	const nb, lr, wd = 4, 1e-2, 1e-3
	g := build(t, net, nb, Options{Train: true})
	s := NewAdam(lr, wd)
	r := rand.New(rand.NewPCG(3, 3))
	y := []float32{0, 1, 1, 0}
	type state struct{ m, v []float64 }
	st := map[int]*state{}
	for step := 1; step <= 2; step++ {
		x := randVec(r, nb*net.InputLen())
		_, grads, err := g.Grads(x, y)
		if err != nil {
			t.Fatal(err)
		}
		want := make([][]float64, len(grads))
		for pi, p := range net.Params() {
			if st[pi] == nil {
				st[pi] = &state{make([]float64, len(p.Data)), make([]float64, len(p.Data))}
			}
			want[pi] = make([]float64, len(p.Data))
			for j, gj := range grads[pi] {
				gg := float64(gj) + wd*float64(p.Data[j])
				m := 0.9*st[pi].m[j] + 0.1*gg
				v := 0.999*st[pi].v[j] + 0.001*gg*gg
				st[pi].m[j], st[pi].v[j] = m, v
				mh, vh := m/(1-math.Pow(0.9, float64(step))), v/(1-math.Pow(0.999, float64(step)))
				want[pi][j] = float64(p.Data[j]) - lr*mh/(math.Sqrt(vh)+1e-8)
			}
		}
		if err := g.Step(x, y, s); err != nil {
			t.Fatal(err)
		}
		for pi, p := range net.Params() {
			for j, v := range p.Data {
				if math.Abs(float64(v)-want[pi][j]) > 1e-6+1e-5*math.Abs(want[pi][j]) {
					t.Fatalf("step %d: %s[%d] = %g, Adam by hand %g", step, p.Name, j, v, want[pi][j])
				}
			}
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
		args = append(args, "--hidden", strconv.Itoa(hidden))
	}
	if out, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Fatalf("cnn3d_torch.py --export: %v\n%s", err, out)
	}
	return dir
}

func loadNPY(t testing.TB, dir, name string) []float32 {
	t.Helper()
	v, _, err := npy.Read(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMatchesPyTorch loads the PyTorch peer's exported weights and checks
// the engine's logits (training and inference graphs), loss, every
// gradient and the SGD-stepped weights (gorgonia's vanilla solver) number by
// number.
func TestMatchesPyTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("runs PyTorch (a few seconds); skipped in -short")
	}
	for _, hidden := range []int{0, 16} {
		dir := torchExport(t, hidden)
		net, err := nn.New(nn.Arch{Size: 32, Channels: []int{16, 32, 64}, Hidden: hidden})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range net.Params() {
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
		g := build(t, net, nb, Options{Train: true})
		loss, grads, err := g.Grads(x, y)
		if err != nil {
			t.Fatal(err)
		}
		z := slices.Clone(g.Logits())
		for i := range want {
			if d := math.Abs(float64(z[i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i]))) {
				t.Errorf("hidden %d: logit %d = %.6g, PyTorch %.6g", hidden, i, z[i], want[i])
			}
		}
		zi := make([]float32, nb)
		if err := build(t, net, nb, Options{}).Forward(x, zi); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(z, zi) {
			t.Fatalf("inference logits %v, training graph %v", zi, z)
		}
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
		if math.Abs(float64(loss)-lj.Loss) > 1e-5 {
			t.Errorf("loss %.7g, PyTorch %.7g", loss, lj.Loss)
		}
		for pi, p := range net.Params() {
			gt := loadNPY(t, dir, "grad_"+p.Name+".npy")
			var scale float64
			for _, v := range gt {
				scale = max(scale, math.Abs(float64(v)))
			}
			for i := range gt {
				if d := math.Abs(float64(grads[pi][i] - gt[i])); d > 1e-3*scale+1e-7 {
					t.Fatalf("hidden %d: grad %s[%d] = %g, PyTorch %g (max |g| %g)", hidden, p.Name, i, grads[pi][i], gt[i], scale)
				}
			}
		}
		if err := g.Step(x, y, G.NewVanillaSolver(G.WithLearnRate(0.01))); err != nil {
			t.Fatal(err)
		}
		for _, p := range net.Params() {
			s := loadNPY(t, dir, "stepped_"+p.Name+".npy")
			for i := range s {
				if d := math.Abs(float64(p.Data[i] - s[i])); d > 1e-6+1e-5*math.Abs(float64(s[i])) {
					t.Fatalf("stepped %s[%d] = %g, PyTorch %g", p.Name, i, p.Data[i], s[i])
				}
			}
		}
	}
}
