package gorgop

import (
	"fmt"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lungctl/lungctl/internal/classify/nn"
)

// Graph is an nn.Net as a gorgonia graph for a fixed batch size. Its
// parameter nodes are backed by the nn.Net's Param.Data slices, so the
// solver's updates are the network's.
type Graph struct {
	G *G.ExprGraph
	// X is the input [N, 1, S, S, S]; Y the labels [N, 1] (0 or 1).
	X, Y *G.Node
	// Logits is [N, 1]; Loss the mean BCE with logits (training graphs).
	Logits, Loss *G.Node
	// Params are in nn.Net.Params order.
	Params G.Nodes
	// Solver is gorgonia's Adam (training graphs).
	Solver G.Solver
	m      G.VM
	n      int
}

// Build constructs the graph of net for batch patches. A training graph
// (train true) adds the loss, its symbolic gradients and an Adam solver
// with learning rate lr; an inference graph pools without argmax.
func Build(net *nn.Net, batch int, train bool, lr float64) (*Graph, error) {
	a := net.Arch
	g := G.NewGraph()
	gr := &Graph{G: g, n: batch}
	S := a.Size
	gr.X = G.NewTensor(g, tensor.Float32, 5, G.WithShape(batch, 1, S, S, S), G.WithName("x"))
	ps := net.Params()
	node := func(p *nn.Param, shape ...int) *G.Node {
		t := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(p.Data))
		n := G.NodeFromAny(g, t, G.WithName(p.Name))
		gr.Params = append(gr.Params, n)
		return n
	}
	sc := &scratch{}
	h := gr.X
	cin, s := 1, S
	pi := 0
	var err error
	for i, c := range a.Channels {
		cg := nn.ConvGeom{Cin: cin, In: nn.Shape3{s, s, s}, K: 3, Stride: 1, Pad: 1}
		w := node(ps[pi], c, cin*27)
		b := node(ps[pi+1], c)
		pi += 2
		cv := conv{base: base{"conv3d", i}, g: cg, cout: c, n: batch, needDX: i > 0, sc: sc, o: &out{}}
		if h, err = G.ApplyOp(cv, h, w); err != nil {
			return nil, errors.Wrap(err, "gorgop: conv")
		}
		pl := pool{base: base{"pool3d", i}, g: nn.PoolGeom{C: c, In: cg.Out(), K: 2, S: 2}, n: batch,
			infer: !train, arg: new([]int32), o: &out{}}
		if h, err = G.ApplyOp(pl, h, b); err != nil {
			return nil, errors.Wrap(err, "gorgop: pool")
		}
		cin, s = c, s/2
	}
	flat := cin * s * s * s
	for li := 0; pi < len(ps); li++ {
		w := node(ps[pi], ps[pi].Shape...)
		b := node(ps[pi+1], ps[pi+1].Shape...)
		pi += 2
		ln := linear{base: base{"linear", li}, n: batch, in: flat, outN: ps[pi-2].Shape[0], xDims: h.Dims(),
			relu: pi < len(ps), o: &out{}}
		if h, err = G.ApplyOp(ln, h, w, b); err != nil {
			return nil, errors.Wrap(err, "gorgop: linear")
		}
		flat = ln.outN
	}
	gr.Logits = h
	if !train {
		gr.m = G.NewTapeMachine(g)
		return gr, nil
	}
	gr.Y = G.NewMatrix(g, tensor.Float32, G.WithShape(batch, 1), G.WithName("y"))
	// BCE with logits: softplus(z) − y·z, averaged
	sp, err := G.Softplus(h)
	if err != nil {
		return nil, err
	}
	yz, err := G.HadamardProd(gr.Y, h)
	if err != nil {
		return nil, err
	}
	l, err := G.Sub(sp, yz)
	if err != nil {
		return nil, err
	}
	if gr.Loss, err = G.Mean(l); err != nil {
		return nil, err
	}
	if _, err = G.Grad(gr.Loss, gr.Params...); err != nil {
		return nil, errors.Wrap(err, "gorgop: gradient")
	}
	gr.m = G.NewTapeMachine(g, G.BindDualValues(gr.Params...))
	gr.Solver = G.NewAdamSolver(G.WithLearnRate(lr))
	return gr, nil
}

// Close releases the machine.
func (gr *Graph) Close() error { return gr.m.Close() }

func (gr *Graph) run(x, y []float32) error {
	if len(x) != gr.X.Shape().TotalSize() {
		return fmt.Errorf("gorgop: %d input values for a graph of shape %v", len(x), gr.X.Shape())
	}
	if err := G.Let(gr.X, tensor.New(tensor.WithShape(gr.X.Shape()...), tensor.WithBacking(x))); err != nil {
		return err
	}
	if gr.Y != nil {
		if err := G.Let(gr.Y, tensor.New(tensor.WithShape(gr.Y.Shape()...), tensor.WithBacking(y))); err != nil {
			return err
		}
	}
	gr.m.Reset()
	if err := gr.m.RunAll(); err != nil {
		return errors.Wrap(err, "gorgop: run")
	}
	return nil
}

// Forward evaluates the logits of the batch x (N·S³ values) into logits.
func (gr *Graph) Forward(x, logits []float32) error {
	y := make([]float32, gr.n)
	if err := gr.run(x, y); err != nil {
		return err
	}
	copy(logits, gr.Logits.Value().Data().([]float32))
	return nil
}

// Grads runs the training graph on x and labels y and returns the logits,
// the loss and the gradients in Params order (without a solver step).
func (gr *Graph) Grads(x, y []float32) (logits []float32, loss float32, grads [][]float32, err error) {
	if err = gr.run(x, y); err != nil {
		return nil, 0, nil, err
	}
	logits = append([]float32(nil), gr.Logits.Value().Data().([]float32)...)
	loss = scalar(gr.Loss.Value())
	for _, p := range gr.Params {
		gv, err := p.Grad()
		if err != nil {
			return nil, 0, nil, err
		}
		grads = append(grads, append([]float32(nil), gv.Data().([]float32)...))
	}
	return logits, loss, grads, nil
}

// Step is one training step: forward, loss, gradients, Adam. It returns
// the batch loss.
func (gr *Graph) Step(x, y []float32) (float32, error) {
	if err := gr.run(x, y); err != nil {
		return 0, err
	}
	if err := gr.Solver.Step(G.NodesToValueGrads(gr.Params)); err != nil {
		return 0, errors.Wrap(err, "gorgop: solver")
	}
	return scalar(gr.Loss.Value()), nil
}

func scalar(v G.Value) float32 {
	switch d := v.Data().(type) {
	case float32:
		return d
	case []float32:
		return d[0]
	}
	return 0
}
