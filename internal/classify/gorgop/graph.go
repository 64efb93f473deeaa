package gorgop

import (
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lungctl/lungctl/internal/classify/nn"
)

// Graph is an nn.Net expressed as a gorgonia graph for a fixed batch size.
// Its parameter nodes are backed by the very slices of the nn.Net's
// parameters (Param.Data), so training either form updates both.
type Graph struct {
	G *G.ExprGraph
	// X is the input [1, N, S, S, S] (one channel; the same memory order as
	// nn's N patches of [S, S, S]); Y the labels [N, 1] (0 or 1).
	X, Y *G.Node
	// Logits is [N, 1]; Loss the mean BCE-with-logits.
	Logits, Loss *G.Node
	// Params are in nn.Net.Params order.
	Params G.Nodes
	// Grads are ∂Loss/∂Params, filled by a machine run.
	Grads G.Nodes
}

// Build constructs the graph of net for batch patches, with gradients.
func Build(net *nn.Net, batch int) (*Graph, error) {
	a := net.Arch
	g := G.NewGraph()
	gr := &Graph{G: g}
	S := a.Size
	gr.X = G.NewTensor(g, tensor.Float32, 5, G.WithShape(1, batch, S, S, S), G.WithName("x"))
	gr.Y = G.NewMatrix(g, tensor.Float32, G.WithShape(batch, 1), G.WithName("y"))
	ps := net.Params()
	node := func(p *nn.Param, shape ...int) *G.Node {
		t := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(p.Data))
		n := G.NodeFromAny(g, t, G.WithName(p.Name))
		gr.Params = append(gr.Params, n)
		return n
	}
	h := gr.X
	cin, s := 1, S
	pi := 0
	var err error
	for _, c := range a.Channels {
		w := node(ps[pi], c, cin*27)
		b := node(ps[pi+1], c, 1)
		pi += 2
		if h, err = Conv3d(h, w, b, 3, 1, 1); err != nil {
			return nil, errors.Wrap(err, "conv")
		}
		if h, err = G.Rectify(h); err != nil {
			return nil, errors.Wrap(err, "relu")
		}
		if h, err = MaxPool3d(h, 2, 2); err != nil {
			return nil, errors.Wrap(err, "pool")
		}
		cin, s = c, s/2
	}
	// [C, N, s³] → [N, C, s³] → [N, C·s³]: PyTorch's (c, d, h, w) flatten
	if h, err = G.Reshape(h, tensor.Shape{cin, batch, s * s * s}); err != nil {
		return nil, err
	}
	if h, err = G.Transpose(h, 1, 0, 2); err != nil {
		return nil, err
	}
	if h, err = G.Reshape(h, tensor.Shape{batch, cin * s * s * s}); err != nil {
		return nil, err
	}
	for pi < len(ps) {
		w := node(ps[pi], ps[pi].Shape...)
		b := node(ps[pi+1], 1, ps[pi+1].Shape[0])
		pi += 2
		wt, err := G.Transpose(w)
		if err != nil {
			return nil, err
		}
		if h, err = G.Mul(h, wt); err != nil {
			return nil, err
		}
		if h, err = G.BroadcastAdd(h, b, nil, []byte{0}); err != nil {
			return nil, err
		}
		if pi < len(ps) {
			if h, err = G.Rectify(h); err != nil {
				return nil, err
			}
		}
	}
	gr.Logits = h
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
	if gr.Grads, err = G.Grad(gr.Loss, gr.Params...); err != nil {
		return nil, errors.Wrap(err, "gorgop: gradient")
	}
	return gr, nil
}

// Run evaluates the graph on x (N·S³ values) and labels y (N values) and
// returns the logits, the loss and the gradients (in Params order).
func (gr *Graph) Run(x, y []float32) (logits []float32, loss float32, grads [][]float32, err error) {
	xs := gr.X.Shape()
	if err = G.Let(gr.X, tensor.New(tensor.WithShape(xs...), tensor.WithBacking(x))); err != nil {
		return
	}
	if err = G.Let(gr.Y, tensor.New(tensor.WithShape(gr.Y.Shape()...), tensor.WithBacking(y))); err != nil {
		return
	}
	m := G.NewTapeMachine(gr.G)
	defer m.Close()
	if err = m.RunAll(); err != nil {
		return nil, 0, nil, errors.Wrap(err, "gorgop: run")
	}
	logits = append([]float32(nil), gr.Logits.Value().Data().([]float32)...)
	switch v := gr.Loss.Value().Data().(type) {
	case float32:
		loss = v
	case []float32:
		loss = v[0]
	}
	for _, gn := range gr.Grads {
		grads = append(grads, append([]float32(nil), gn.Value().Data().([]float32)...))
	}
	return logits, loss, grads, nil
}

// Step runs one training step through the gorgonia graph: forward, BCE,
// symbolic gradients copied into the nn.Net's Param.Grad, then opt.Step.
// It returns the batch loss.
func (gr *Graph) Step(net *nn.Net, opt *nn.Adam, x, y []float32) (float32, error) {
	_, loss, grads, err := gr.Run(x, y)
	if err != nil {
		return 0, err
	}
	for i, p := range net.Params() {
		copy(p.Grad, grads[i])
	}
	opt.Step(net)
	return loss, nil
}
