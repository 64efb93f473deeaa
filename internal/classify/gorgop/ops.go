// Package gorgop is lungctl's CNN engine: the network of an nn.Net as a
// gorgonia expression graph whose operations call package nn's fast float32
// kernels — im2col + the AVX2/FMA GEMM for 3-D convolution and its two
// gradients, the fused bias + ReLU + 2×2×2 max pooling with its argmax
// gradient, a linear layer and a numerically stable binary cross-entropy.
// Gorgonia provides the graph, the symbolic differentiation (each op's
// SymDiff wires in its gradient ops), the tape machine and the Adam solver.
// Training (classify/train) and inference (classify.Score) both run here;
// the graph is checked number by number against PyTorch.
//
// Activations are batch-major [N, C, D, H, W] (W fastest), PyTorch's NCDHW:
// sample s of a tensor is one contiguous nn activation, so every op runs nn's
// per-sample kernels over the batch with par.For. Ops keep their outputs in
// buffers of their own, reused from one run to the next (the tape machine
// would otherwise allocate, and the runtime zero, every activation on every
// step).
package gorgop

import (
	"fmt"
	"github.com/lungctl/lungctl/internal/volume"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lungctl/lungctl/internal/classify/nn"
	"github.com/lungctl/lungctl/internal/par"
)

// DefaultGradParts is the number of partial sums a weight gradient is split
// into when Options.GradParts is 0.
const DefaultGradParts = 8

// base gives every op its name, identity and the Op methods that are the
// same for all of them.
type base struct {
	name string
	id   int
}

func (b base) ReturnsPtr() bool      { return false }
func (b base) CallsExtern() bool     { return false }
func (b base) OverwritesInput() int  { return -1 }
func (b base) WriteHash(h hash.Hash) { _, _ = fmt.Fprintf(h, "%s#%d", b.name, b.id) } // a hash.Hash never fails a Write
func (b base) Hashcode() uint32 {
	h := fnv.New32a()
	b.WriteHash(h)
	return h.Sum32()
}
func (b base) String() string { return fmt.Sprintf("%s#%d", b.name, b.id) }

// scratch is memory shared by every op of one graph (ops run one at a time
// on a tape machine): per-worker im2col buffers, sized before each parallel
// loop, and the partial weight gradients.
type scratch struct {
	nparts    int // fixed partial gradient sums: sample s goes to part s mod nparts
	col, dcol [][]float32
	parts     [][]float32
}

// cols returns one buffer of n values for each par worker of a loop over
// items items (par.For numbers its workers below min(items, par.Limit()),
// so no more buffers are allocated than it uses; dcol: the second set).
func (s *scratch) cols(n, items int, dcol bool) [][]float32 {
	bufs := &s.col
	if dcol {
		bufs = &s.dcol
	}
	k := max(1, min(items, par.Limit()))
	for len(*bufs) < k {
		*bufs = append(*bufs, nil)
	}
	out := make([][]float32, k)
	for i := range out {
		if len((*bufs)[i]) < n {
			(*bufs)[i] = make([]float32, n)
		}
		out[i] = (*bufs)[i][:n]
	}
	return out
}

// part returns the nparts partial sums of n values each, cleared.
func (s *scratch) part(n int) [][]float32 {
	if len(s.parts) != s.nparts || len(s.parts[0]) < n {
		s.parts = make([][]float32, s.nparts)
		for i := range s.parts {
			s.parts[i] = make([]float32, n)
		}
	}
	out := make([][]float32, s.nparts)
	for i := range out {
		out[i] = s.parts[i][:n]
		clear(out[i])
	}
	return out
}

// out is an op's own output buffer.
type out struct{ data []float32 }

func (o *out) tensor(shape ...int) (*tensor.Dense, []float32) {
	n := 1
	for _, s := range shape {
		n *= s
	}
	o.data = volume.Resize(o.data, n) // the buffer-reuse rule (package volume)
	d := o.data
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d)), d
}

func f32(v G.Value) ([]float32, error) {
	t, ok := v.(*tensor.Dense)
	if !ok || t.Dtype() != tensor.Float32 {
		return nil, fmt.Errorf("gorgop: want a float32 *tensor.Dense, got %T", v)
	}
	return t.Float32s(), nil
}

func args(n int, vs []G.Value) ([][]float32, error) {
	if len(vs) != n {
		return nil, fmt.Errorf("gorgop: %d inputs, want %d", len(vs), n)
	}
	a := make([][]float32, n)
	for i, v := range vs {
		var err error
		if a[i], err = f32(v); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func fnType(in []int, outDims int) hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, 0, len(in)+1)
	for _, d := range in {
		ts = append(ts, G.TensorType{Dims: d, Of: a})
	}
	ts = append(ts, G.TensorType{Dims: outDims, Of: a})
	return hm.NewFnType(ts...)
}

// conv is a 3-D convolution without bias, x [N, Cin, D, H, W] · w [Cout,
// Cin·K³] → [N, Cout, Do, Ho, Wo]: per sample nn.Im2Col and nn.Gemm.
type conv struct {
	base
	g       nn.ConvGeom
	cout, n int
	needDX  bool // false for the first layer: the input needs no gradient
	sc      *scratch
	o       *out
}

func (op conv) Arity() int    { return 2 }
func (op conv) Type() hm.Type { return fnType([]int{5, 2}, 5) }
func (op conv) outShape() tensor.Shape {
	o := op.g.Out()
	return tensor.Shape{op.n, op.cout, o[0], o[1], o[2]}
}
func (op conv) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.outShape(), nil }
func (op conv) Do(vs ...G.Value) (G.Value, error) {
	a, err := args(2, vs)
	if err != nil {
		return nil, err
	}
	x, w := a[0], a[1]
	P, Kr, in := op.g.Out().Len(), op.g.Rows(), op.g.Cin*op.g.In.Len()
	t, y := op.o.tensor(op.outShape()...)
	cols := op.sc.cols(Kr*P, op.n, false)
	par.For(op.n, func(wk, s int) {
		col := cols[wk]
		nn.Im2Col(op.g, x[s*in:(s+1)*in], col)
		nn.Gemm(false, false, op.cout, P, Kr, w, Kr, col, P, 0, y[s*op.cout*P:(s+1)*op.cout*P], P)
	})
	return t, nil
}
func (op conv) DiffWRT(int) []bool { return []bool{op.needDX, true} }
func (op conv) SymDiff(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
	dw, err := G.ApplyOp(convGradW{base{"conv3d_dw", op.id}, op, &out{}}, in[0], dy)
	if err != nil {
		return nil, err
	}
	var dx *G.Node
	if op.needDX {
		if dx, err = G.ApplyOp(convGradX{base{"conv3d_dx", op.id}, op, &out{}}, in[1], dy); err != nil {
			return nil, err
		}
	}
	return G.Nodes{dx, dw}, nil
}

// convGradW is ∂/∂w of conv: Σ_s dy_s · im2col(x_s)ᵀ, computed transposed
// (col · dy_sᵀ, [Cin·K³, Cout]) per part as nn.Net.Backward does.
type convGradW struct {
	base
	c conv
	o *out
}

func (op convGradW) Arity() int    { return 2 }
func (op convGradW) Type() hm.Type { return fnType([]int{5, 5}, 2) }
func (op convGradW) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.c.cout, op.c.g.Rows()}, nil
}
func (op convGradW) Do(vs ...G.Value) (G.Value, error) {
	a, err := args(2, vs)
	if err != nil {
		return nil, err
	}
	x, dy := a[0], a[1]
	g, cout, n := op.c.g, op.c.cout, op.c.n
	P, Kr, in := g.Out().Len(), g.Rows(), g.Cin*g.In.Len()
	parts := op.c.sc.part(Kr * cout)
	np := len(parts)
	cols := op.c.sc.cols(Kr*P, min(np, n), false)
	par.For(min(np, n), func(wk, p int) {
		col := cols[wk]
		for s := p; s < n; s += np {
			nn.Im2Col(g, x[s*in:(s+1)*in], col)
			nn.Gemm(false, true, Kr, cout, P, col, P, dy[s*cout*P:(s+1)*cout*P], P, 1, parts[p], cout)
		}
	})
	t, dw := op.o.tensor(cout, Kr)
	clear(dw)
	for _, gt := range parts {
		for k := 0; k < Kr; k++ {
			for o := 0; o < cout; o++ {
				dw[o*Kr+k] += gt[k*cout+o]
			}
		}
	}
	return t, nil
}

// convGradX is ∂/∂x of conv: col2im(wᵀ · dy_s) per sample.
type convGradX struct {
	base
	c conv
	o *out
}

func (op convGradX) Arity() int    { return 2 }
func (op convGradX) Type() hm.Type { return fnType([]int{2, 5}, 5) }
func (op convGradX) InferShape(...G.DimSizer) (tensor.Shape, error) {
	g := op.c.g
	return tensor.Shape{op.c.n, g.Cin, g.In[0], g.In[1], g.In[2]}, nil
}
func (op convGradX) Do(vs ...G.Value) (G.Value, error) {
	a, err := args(2, vs)
	if err != nil {
		return nil, err
	}
	w, dy := a[0], a[1]
	g, cout := op.c.g, op.c.cout
	P, Kr, in := g.Out().Len(), g.Rows(), g.Cin*g.In.Len()
	t, dx := op.o.tensor(op.c.n, g.Cin, g.In[0], g.In[1], g.In[2])
	dcols := op.c.sc.cols(Kr*P, op.c.n, true)
	par.For(op.c.n, func(wk, s int) {
		dcol := dcols[wk]
		nn.Gemm(true, false, Kr, P, cout, w, Kr, dy[s*cout*P:(s+1)*cout*P], P, 0, dcol, P)
		d := dx[s*in : (s+1)*in]
		clear(d)
		nn.Col2Im(g, dcol, d)
	})
	return t, nil
}
