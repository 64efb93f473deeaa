package gorgop

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lungctl/lungctl/internal/classify/nn"
)

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// fdCheck builds L = Σ r ⊙ f(x, w) for a graph f, takes gorgonia's symbolic
// gradients and compares them with central finite differences of L.
func fdCheck(t *testing.T, name string, xs, ws tensor.Shape, f func(x, w *G.Node) (*G.Node, error)) {
	t.Helper()
	r := rand.New(rand.NewPCG(11, uint64(len(name))))
	xd := randVec(r, xs.TotalSize())
	var wd []float32
	if ws != nil {
		wd = randVec(r, ws.TotalSize())
	}
	var rd []float32
	eval := func(wantGrad bool) (float64, [][]float32) {
		g := G.NewGraph()
		x := G.NodeFromAny(g, tensor.New(tensor.WithShape(xs...), tensor.WithBacking(append([]float32(nil), xd...))), G.WithName("x"))
		wrt := G.Nodes{x}
		var w *G.Node
		if ws != nil {
			w = G.NodeFromAny(g, tensor.New(tensor.WithShape(ws...), tensor.WithBacking(append([]float32(nil), wd...))), G.WithName("w"))
			wrt = append(wrt, w)
		}
		y, err := f(x, w)
		if err != nil {
			t.Fatal(err)
		}
		if rd == nil {
			rd = randVec(r, y.Shape().TotalSize())
		}
		rn := G.NodeFromAny(g, tensor.New(tensor.WithShape(y.Shape()...), tensor.WithBacking(rd)), G.WithName("r"))
		p, err := G.HadamardProd(y, rn)
		if err != nil {
			t.Fatal(err)
		}
		l, err := G.Sum(p)
		if err != nil {
			t.Fatal(err)
		}
		var grads G.Nodes
		if wantGrad {
			if grads, err = G.Grad(l, wrt...); err != nil {
				t.Fatal(err)
			}
		}
		m := G.NewTapeMachine(g)
		defer m.Close()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		var out [][]float32
		for _, gn := range grads {
			out = append(out, append([]float32(nil), gn.Value().Data().([]float32)...))
		}
		return float64(l.Value().Data().(float32)), out
	}
	_, grads := eval(true)
	const h = 1e-2
	for gi, data := range [][]float32{xd, wd} {
		if data == nil {
			continue
		}
		var worst float64
		idx := []int{0, len(data) / 3, len(data) / 2, len(data) - 1}
		for k := 0; k < 16; k++ {
			idx = append(idx, r.IntN(len(data)))
		}
		for _, i := range idx {
			v0 := data[i]
			data[i] = v0 + h
			lp, _ := eval(false)
			data[i] = v0 - h
			lm, _ := eval(false)
			data[i] = v0
			num := (lp - lm) / (2 * h)
			ana := float64(grads[gi][i])
			if math.Abs(num-ana) > 2e-2+1e-2*math.Abs(num) {
				t.Errorf("%s: ∂L/∂input%d[%d] = %g, finite difference %g", name, gi, i, ana, num)
			}
			worst = max(worst, math.Abs(num))
		}
		if worst == 0 {
			t.Errorf("%s: all sampled gradients of input %d are zero", name, gi)
		}
	}
}

func TestConv3dGradient(t *testing.T) {
	for _, c := range []struct {
		k, s, p int
	}{{3, 1, 1}, {3, 2, 1}, {2, 2, 0}} {
		fdCheck(t, "conv3d", tensor.Shape{2, 2, 5, 4, 6}, tensor.Shape{3, 2 * c.k * c.k * c.k}, func(x, w *G.Node) (*G.Node, error) {
			return Conv3d(x, w, nil, c.k, c.s, c.p)
		})
	}
}

func TestMaxPool3dGradient(t *testing.T) {
	fdCheck(t, "maxpool3d", tensor.Shape{2, 3, 4, 5, 6}, nil, func(x, _ *G.Node) (*G.Node, error) {
		return MaxPool3d(x, 2, 2)
	})
}

// TestGraphMatchesNN checks that the gorgonia graph and package nn's float32
// path (itself checked against PyTorch) give the same logits, loss and
// gradients from the same weights.
func TestGraphMatchesNN(t *testing.T) {
	for _, a := range []nn.Arch{{Size: 8, Channels: []int{3, 4}, Hidden: 5}, {Size: 16, Channels: []int{4, 8, 8}}} {
		net, err := nn.New(a)
		if err != nil {
			t.Fatal(err)
		}
		net.Init(3)
		r := rand.New(rand.NewPCG(1, 2))
		for _, p := range net.Params() {
			if len(p.Shape) == 1 {
				for i := range p.Data {
					p.Data[i] = float32(0.05 * r.NormFloat64())
				}
			}
		}
		const nb = 3
		gr, err := Build(net, nb)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range net.Params() {
			if d := gr.Params[i].Value().Data().([]float32); &d[0] != &p.Data[0] {
				t.Fatalf("graph parameter %s does not share memory with the nn.Net", p.Name)
			}
		}
		x := randVec(r, nb*net.InputLen())
		y := []float32{1, 0, 1}
		logits, loss, grads, err := gr.Run(x, y)
		if err != nil {
			t.Fatal(err)
		}
		ws := net.NewWorkspace(nb)
		z := make([]float32, nb)
		dz := make([]float32, nb)
		if err := net.Forward(ws, x, nb, z); err != nil {
			t.Fatal(err)
		}
		want := nn.BCEWithLogits(z, y, dz)
		for i := range z {
			if math.Abs(float64(logits[i]-z[i])) > 1e-4*(1+math.Abs(float64(z[i]))) {
				t.Fatalf("%v: gorgonia logit %d = %g, nn %g", a, i, logits[i], z[i])
			}
		}
		if math.Abs(float64(loss)-want) > 1e-5 {
			t.Fatalf("%v: gorgonia loss %g, nn %g", a, loss, want)
		}
		net.ZeroGrad()
		if err := net.Backward(ws, dz); err != nil {
			t.Fatal(err)
		}
		for pi, p := range net.Params() {
			var scale float64
			for _, v := range p.Grad {
				scale = max(scale, math.Abs(float64(v)))
			}
			for i := range p.Grad {
				if math.Abs(float64(grads[pi][i]-p.Grad[i])) > 1e-4*scale+1e-7 {
					t.Fatalf("%v: %s grad[%d]: gorgonia %g, nn %g", a, p.Name, i, grads[pi][i], p.Grad[i])
				}
			}
		}
	}
}

// TestStepMatchesNN checks one Adam step through the graph against the
// same step through nn's own backward pass.
func TestStepMatchesNN(t *testing.T) {
	a := nn.Arch{Size: 8, Channels: []int{2, 3}}
	n1, _ := nn.New(a)
	n2, _ := nn.New(a)
	n1.Init(4)
	n2.Init(4)
	const nb = 2
	gr, err := Build(n1, nb)
	if err != nil {
		t.Fatal(err)
	}
	x := randVec(rand.New(rand.NewPCG(3, 3)), nb*n1.InputLen())
	y := []float32{0, 1}
	if _, err := gr.Step(n1, nn.NewAdam(1e-2), x, y); err != nil {
		t.Fatal(err)
	}
	ws := n2.NewWorkspace(nb)
	z, dz := make([]float32, nb), make([]float32, nb)
	_ = n2.Forward(ws, x, nb, z)
	nn.BCEWithLogits(z, y, dz)
	n2.ZeroGrad()
	_ = n2.Backward(ws, dz)
	nn.NewAdam(1e-2).Step(n2)
	for i, p := range n1.Params() {
		q := n2.Params()[i]
		for j := range p.Data {
			if math.Abs(float64(p.Data[j]-q.Data[j])) > 1e-5 {
				t.Fatalf("%s[%d] after a step: graph %g, nn %g", p.Name, j, p.Data[j], q.Data[j])
			}
		}
	}
}

// BenchmarkGraphTrainStep is one Adam step through the gorgonia graph for
// the peer architecture (conv 16-32-64 on 32³) at batch 16 (the graph's
// vol2col of layer 1 alone is 27 × 16·32768 floats); ns/patch is reported
// for comparison with nn's BenchmarkTrainStep in package classify.
func BenchmarkGraphTrainStep(b *testing.B) {
	net, _ := nn.New(nn.Arch{Size: 32, Channels: []int{16, 32, 64}})
	net.Init(1)
	const nb = 16
	gr, err := Build(net, nb)
	if err != nil {
		b.Fatal(err)
	}
	x := randVec(rand.New(rand.NewPCG(1, 1)), nb*net.InputLen())
	y := make([]float32, nb)
	opt := nn.NewAdam(1e-3)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := gr.Step(net, opt, x, y); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nb), "ns/patch")
}
