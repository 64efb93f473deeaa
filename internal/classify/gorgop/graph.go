package gorgop

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lungctl/lungctl/internal/classify/nn"
)

// Options configures Build.
type Options struct {
	// Train adds the loss and its gradients (Step, Grads); otherwise the
	// graph only infers (Forward) and pools without argmax.
	Train bool
	// GradParts is the number of fixed partial sums each weight gradient is
	// split into (default DefaultGradParts; 1 to 64): sample s is added to
	// part s mod GradParts in sample order and the parts are added in
	// order, so gradients, and so training, are bit-identical for a given
	// GradParts on any number of cores.
	GradParts int
}

// Graph is an nn.Net as a gorgonia graph for a fixed batch size. Its
// parameter nodes are backed by the nn.Net's Param.Data slices, so a
// solver's updates are the network's and several graphs of one net (for
// different batch sizes) share the weights. A Graph is for one goroutine at
// a time; its ops parallelise over the batch on the par worker budget.
type Graph struct {
	g *G.ExprGraph
	// x is the input [N, 1, S, S, S]; y the labels [N, 1] (0 or 1).
	x, y *G.Node
	// logits is [N, 1]; loss the mean BCE with logits (training graphs).
	logits, loss *G.Node
	params       G.Nodes
	m            G.VM
	n            int
}

// NewAdam returns gorgonia's Adam solver with PyTorch's defaults (β = 0.9,
// 0.999, ε = 1e-8) and learning rate lr; weightDecay is an L2 term added to
// every gradient (PyTorch Adam's weight_decay), 0 for none. One solver may
// step several graphs of the same net (it keys its state by parameter
// order).
func NewAdam(lr, weightDecay float64) G.Solver {
	opts := []G.SolverOpt{G.WithLearnRate(lr), G.WithBeta1(0.9), G.WithBeta2(0.999), G.WithEps(1e-8)}
	if weightDecay != 0 {
		opts = append(opts, G.WithL2Reg(weightDecay))
	}
	return G.NewAdamSolver(opts...)
}

// Build constructs the graph of net for batch patches.
func Build(net *nn.Net, batch int, opt Options) (*Graph, error) {
	if batch < 1 {
		return nil, fmt.Errorf("gorgop: batch %d", batch)
	}
	parts := opt.GradParts
	if parts == 0 {
		parts = DefaultGradParts
	}
	if parts < 1 || parts > 64 {
		return nil, fmt.Errorf("gorgop: GradParts %d, want 1 to 64", opt.GradParts)
	}
	a := net.Arch
	g := G.NewGraph()
	gr := &Graph{g: g, n: batch}
	S := a.Size
	gr.x = G.NewTensor(g, tensor.Float32, 5, G.WithShape(batch, 1, S, S, S), G.WithName("x"))
	ps := net.Params()
	node := func(p *nn.Param, shape ...int) *G.Node {
		t := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(p.Data))
		n := G.NodeFromAny(g, t, G.WithName(p.Name))
		gr.params = append(gr.params, n)
		return n
	}
	sc := &scratch{nparts: parts}
	h := gr.x
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
			return nil, fmt.Errorf("gorgop: conv: %w", err)
		}
		pl := pool{base: base{"pool3d", i}, g: nn.PoolGeom{C: c, In: cg.Out(), K: 2, S: 2}, n: batch,
			infer: !opt.Train, parts: parts, arg: new([]int32), o: &out{}}
		if h, err = G.ApplyOp(pl, h, b); err != nil {
			return nil, fmt.Errorf("gorgop: pool: %w", err)
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
			return nil, fmt.Errorf("gorgop: linear: %w", err)
		}
		flat = ln.outN
	}
	gr.logits = h
	if !opt.Train {
		gr.m = G.NewTapeMachine(g)
		return gr, nil
	}
	gr.y = G.NewMatrix(g, tensor.Float32, G.WithShape(batch, 1), G.WithName("y"))
	if gr.loss, err = G.ApplyOp(bce{base{"bce", 0}, batch}, h, gr.y); err != nil {
		return nil, fmt.Errorf("gorgop: loss: %w", err)
	}
	if _, err = G.Grad(gr.loss, gr.params...); err != nil {
		return nil, fmt.Errorf("gorgop: gradient: %w", err)
	}
	gr.m = G.NewTapeMachine(g, G.BindDualValues(gr.params...))
	return gr, nil
}

// Batch is the number of patches the graph takes.
func (gr *Graph) Batch() int { return gr.n }

// Close releases the machine.
func (gr *Graph) Close() error { return gr.m.Close() }

func (gr *Graph) run(x, y []float32) error {
	if len(x) != gr.x.Shape().TotalSize() {
		return fmt.Errorf("gorgop: %d input values for a graph of shape %v", len(x), gr.x.Shape())
	}
	if err := G.Let(gr.x, tensor.New(tensor.WithShape(gr.x.Shape()...), tensor.WithBacking(x))); err != nil {
		return fmt.Errorf("gorgop: input: %w", err)
	}
	if gr.y != nil {
		if len(y) != gr.n {
			return fmt.Errorf("gorgop: %d labels for a batch of %d", len(y), gr.n)
		}
		if err := G.Let(gr.y, tensor.New(tensor.WithShape(gr.y.Shape()...), tensor.WithBacking(y))); err != nil {
			return fmt.Errorf("gorgop: labels: %w", err)
		}
	}
	if gr.y != nil {
		// the tape machine adds each run's gradients to the parameters'
		// dual values (the solver clears them): start every run from zero
		for _, p := range gr.params {
			if gv, err := p.Grad(); err == nil {
				if d, ok := gv.(*tensor.Dense); ok {
					d.Zero()
				}
			}
		}
	}
	gr.m.Reset()
	if err := gr.m.RunAll(); err != nil {
		return fmt.Errorf("gorgop: run: %w", err)
	}
	return nil
}

// Forward computes the logits of the Batch() patches in x (each Size³
// values, [D, H, W] with W fastest) into logits[:Batch()]. On a training
// graph it also needs no labels: they are taken as 0 and the gradients
// computed are not used.
func (gr *Graph) Forward(x, logits []float32) error {
	var y []float32
	if gr.y != nil {
		y = make([]float32, gr.n)
	}
	if err := gr.run(x, y); err != nil {
		return err
	}
	copy(logits[:gr.n], gr.Logits())
	return nil
}

// Logits returns the logits of the last run (valid until the next one).
func (gr *Graph) Logits() []float32 { return gr.logits.Value().Data().([]float32) }

// Step is one training step of a training graph: forward, loss, gradients
// and the solver's update of the net's weights. Logits() then holds the
// batch's logits (before the update).
func (gr *Graph) Step(x, y []float32, s G.Solver) error {
	if gr.y == nil {
		return fmt.Errorf("gorgop: Step on an inference graph")
	}
	if err := gr.run(x, y); err != nil {
		return err
	}
	if err := s.Step(G.NodesToValueGrads(gr.params)); err != nil {
		return fmt.Errorf("gorgop: solver: %w", err)
	}
	return nil
}

// Grads runs a training graph on x and labels y and returns the loss and
// the gradients of every parameter (in nn.Net.Params order), without
// updating the weights.
func (gr *Graph) Grads(x, y []float32) (loss float32, grads [][]float32, err error) {
	if gr.y == nil {
		return 0, nil, fmt.Errorf("gorgop: Grads on an inference graph")
	}
	if err = gr.run(x, y); err != nil {
		return 0, nil, err
	}
	if v, ok := gr.loss.Value().(*G.F32); ok {
		loss = float32(*v)
	}
	for _, p := range gr.params {
		gv, err := p.Grad()
		if err != nil {
			return 0, nil, fmt.Errorf("gorgop: gradient of %s: %w", p.Name(), err)
		}
		grads = append(grads, append([]float32(nil), gv.Data().([]float32)...))
	}
	return loss, grads, nil
}
