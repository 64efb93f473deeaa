// Package gorgop provides the 3-D operations gorgonia lacks — vol2col (3-D
// im2col) with its adjoint col2vol, and 3-D max pooling with an argmax
// gradient — and builds lungctl's CNN (nn.Arch) as a gorgonia expression
// graph whose weight tensors share memory with an nn.Net. It is the
// reference/training-graph form of the network; package nn's hand-written
// float32 path is the fast one, and the tests check the two agree.
//
// Graph activations use a channel-major layout [C, N, D, H, W] (W fastest)
// so that a convolution is one matrix product W[Cout, Cin·k³] ·
// col[Cin·k³, N·Do·Ho·Wo] whose result is already [Cout, N, Do, Ho, Wo].
package gorgop

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lungctl/lungctl/internal/classify/nn"
)

func hashOf(s fmt.Stringer) uint32 {
	h := fnv.New32a()
	fmt.Fprint(h, s.String())
	return h.Sum32()
}

func f32(v G.Value) ([]float32, error) {
	t, ok := v.(*tensor.Dense)
	if !ok || t.Dtype() != tensor.Float32 {
		return nil, errors.Errorf("gorgop: want a float32 *tensor.Dense, got %T", v)
	}
	return t.Float32s(), nil
}

// vol2colOp unfolds [C, N, D, H, W] into [C·k³, N·Do·Ho·Wo]: row (c, kd,
// kh, kw), column (n, od, oh, ow).
type vol2colOp struct {
	c, n  int
	in    nn.Shape3
	k, s  int
	pad   int
	geomC nn.ConvGeom // geometry of one sample, one channel at a time
}

func newVol2Col(c, n int, in nn.Shape3, k, stride, pad int) vol2colOp {
	return vol2colOp{c: c, n: n, in: in, k: k, s: stride, pad: pad,
		geomC: nn.ConvGeom{Cin: 1, In: in, K: k, Stride: stride, Pad: pad}}
}

func (op vol2colOp) out() nn.Shape3 { return op.geomC.Out() }

func (op vol2colOp) Arity() int { return 1 }
func (op vol2colOp) Type() hm.Type {
	return hm.NewFnType(G.TensorType{Dims: 5, Of: hm.TypeVariable('a')}, G.TensorType{Dims: 2, Of: hm.TypeVariable('a')})
}
func (op vol2colOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.c * op.k * op.k * op.k, op.n * op.out().Len()}, nil
}
func (op vol2colOp) Do(vs ...G.Value) (G.Value, error) {
	x, err := f32(vs[0])
	if err != nil {
		return nil, err
	}
	if len(x) != op.c*op.n*op.in.Len() {
		return nil, errors.Errorf("%v: input has %d values", op, len(x))
	}
	P := op.out().Len()
	k3 := op.k * op.k * op.k
	NP := op.n * P
	out := make([]float32, op.c*k3*NP)
	tmp := make([]float32, k3*P)
	for c := 0; c < op.c; c++ {
		for s := 0; s < op.n; s++ {
			nn.Im2Col(op.geomC, x[(c*op.n+s)*op.in.Len():(c*op.n+s+1)*op.in.Len()], tmp)
			for r := 0; r < k3; r++ {
				copy(out[(c*k3+r)*NP+s*P:(c*k3+r)*NP+(s+1)*P], tmp[r*P:(r+1)*P])
			}
		}
	}
	return tensor.New(tensor.WithShape(op.c*k3, NP), tensor.WithBacking(out)), nil
}
func (op vol2colOp) ReturnsPtr() bool      { return false }
func (op vol2colOp) CallsExtern() bool     { return false }
func (op vol2colOp) OverwritesInput() int  { return -1 }
func (op vol2colOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op vol2colOp) Hashcode() uint32      { return hashOf(op) }
func (op vol2colOp) String() string {
	return fmt.Sprintf("vol2col<c%d n%d in%v k%d s%d p%d>", op.c, op.n, op.in, op.k, op.s, op.pad)
}
func (op vol2colOp) DiffWRT(int) []bool { return []bool{true} }
func (op vol2colOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	r, err := G.ApplyOp(col2volOp{op}, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{r}, nil
}

// col2volOp is the adjoint of vol2colOp: it sums columns back onto the
// voxels they came from, [C·k³, N·P] → [C, N, D, H, W].
type col2volOp struct{ v vol2colOp }

func (op col2volOp) Arity() int { return 1 }
func (op col2volOp) Type() hm.Type {
	return hm.NewFnType(G.TensorType{Dims: 2, Of: hm.TypeVariable('a')}, G.TensorType{Dims: 5, Of: hm.TypeVariable('a')})
}
func (op col2volOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.v.c, op.v.n, op.v.in[0], op.v.in[1], op.v.in[2]}, nil
}
func (op col2volOp) Do(vs ...G.Value) (G.Value, error) {
	col, err := f32(vs[0])
	if err != nil {
		return nil, err
	}
	v := op.v
	P := v.out().Len()
	k3 := v.k * v.k * v.k
	NP := v.n * P
	if len(col) != v.c*k3*NP {
		return nil, errors.Errorf("%v: input has %d values", op, len(col))
	}
	out := make([]float32, v.c*v.n*v.in.Len())
	tmp := make([]float32, k3*P)
	for c := 0; c < v.c; c++ {
		for s := 0; s < v.n; s++ {
			for r := 0; r < k3; r++ {
				copy(tmp[r*P:(r+1)*P], col[(c*k3+r)*NP+s*P:(c*k3+r)*NP+(s+1)*P])
			}
			nn.Col2Im(v.geomC, tmp, out[(c*v.n+s)*v.in.Len():(c*v.n+s+1)*v.in.Len()])
		}
	}
	return tensor.New(tensor.WithShape(v.c, v.n, v.in[0], v.in[1], v.in[2]), tensor.WithBacking(out)), nil
}
func (op col2volOp) ReturnsPtr() bool      { return false }
func (op col2volOp) CallsExtern() bool     { return false }
func (op col2volOp) OverwritesInput() int  { return -1 }
func (op col2volOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op col2volOp) Hashcode() uint32      { return hashOf(op) }
func (op col2volOp) String() string        { return "col2vol" + op.v.String()[7:] }
func (op col2volOp) DiffWRT(int) []bool    { return []bool{true} }
func (op col2volOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	r, err := G.ApplyOp(op.v, grad) // the adjoint of the adjoint
	if err != nil {
		return nil, err
	}
	return G.Nodes{r}, nil
}

// maxPoolOp is a K³ max pooling with stride S over [C, N, D, H, W].
type maxPoolOp struct {
	c, n int
	in   nn.Shape3
	k, s int
}

func (op maxPoolOp) geom() nn.PoolGeom {
	return nn.PoolGeom{C: op.c * op.n, In: op.in, K: op.k, S: op.s}
}
func (op maxPoolOp) Arity() int { return 1 }
func (op maxPoolOp) Type() hm.Type {
	t := G.TensorType{Dims: 5, Of: hm.TypeVariable('a')}
	return hm.NewFnType(t, t)
}
func (op maxPoolOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	o := op.geom().Out()
	return tensor.Shape{op.c, op.n, o[0], o[1], o[2]}, nil
}
func (op maxPoolOp) Do(vs ...G.Value) (G.Value, error) {
	x, err := f32(vs[0])
	if err != nil {
		return nil, err
	}
	g := op.geom()
	if len(x) != g.C*g.In.Len() {
		return nil, errors.Errorf("%v: input has %d values", op, len(x))
	}
	o := g.Out()
	y := make([]float32, g.C*o.Len())
	arg := make([]int32, len(y))
	nn.MaxPool(g, x, y, arg)
	return tensor.New(tensor.WithShape(op.c, op.n, o[0], o[1], o[2]), tensor.WithBacking(y)), nil
}
func (op maxPoolOp) ReturnsPtr() bool      { return false }
func (op maxPoolOp) CallsExtern() bool     { return false }
func (op maxPoolOp) OverwritesInput() int  { return -1 }
func (op maxPoolOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op maxPoolOp) Hashcode() uint32      { return hashOf(op) }
func (op maxPoolOp) String() string {
	return fmt.Sprintf("maxpool3d<c%d n%d in%v k%d s%d>", op.c, op.n, op.in, op.k, op.s)
}
func (op maxPoolOp) DiffWRT(int) []bool { return []bool{true} }
func (op maxPoolOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	r, err := G.ApplyOp(maxPoolGradOp{op}, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{r}, nil
}

// maxPoolGradOp routes the output gradient to each window's first maximal
// input (recomputed from x with the same tie rule as the forward pass).
type maxPoolGradOp struct{ p maxPoolOp }

func (op maxPoolGradOp) Arity() int { return 2 }
func (op maxPoolGradOp) Type() hm.Type {
	t := G.TensorType{Dims: 5, Of: hm.TypeVariable('a')}
	return hm.NewFnType(t, t, t)
}
func (op maxPoolGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.p.c, op.p.n, op.p.in[0], op.p.in[1], op.p.in[2]}, nil
}
func (op maxPoolGradOp) Do(vs ...G.Value) (G.Value, error) {
	x, err := f32(vs[0])
	if err != nil {
		return nil, err
	}
	dy, err := f32(vs[1])
	if err != nil {
		return nil, err
	}
	g := op.p.geom()
	o := g.Out()
	if len(x) != g.C*g.In.Len() || len(dy) != g.C*o.Len() {
		return nil, errors.Errorf("%v: inputs have %d and %d values", op, len(x), len(dy))
	}
	y := make([]float32, len(dy))
	arg := make([]int32, len(dy))
	nn.MaxPool(g, x, y, arg)
	dx := make([]float32, len(x))
	nn.MaxPoolBackward(g, dy, arg, dx)
	return tensor.New(tensor.WithShape(op.p.c, op.p.n, g.In[0], g.In[1], g.In[2]), tensor.WithBacking(dx)), nil
}
func (op maxPoolGradOp) ReturnsPtr() bool      { return false }
func (op maxPoolGradOp) CallsExtern() bool     { return false }
func (op maxPoolGradOp) OverwritesInput() int  { return -1 }
func (op maxPoolGradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op maxPoolGradOp) Hashcode() uint32      { return hashOf(op) }
func (op maxPoolGradOp) String() string        { return "maxpool3dgrad" + op.p.String()[9:] }

// Conv3d applies a 3-D convolution (cross-correlation, as PyTorch) with a
// cubic kernel of side k, stride and zero padding (voxels) to x [Cin, N, D,
// H, W], weights w [Cout, Cin·k³] (PyTorch's [out, in, kd, kh, kw] flattened)
// and bias b [Cout, 1], returning [Cout, N, Do, Ho, Wo].
func Conv3d(x, w, b *G.Node, k, stride, pad int) (*G.Node, error) {
	s := x.Shape()
	if len(s) != 5 {
		return nil, errors.Errorf("gorgop: Conv3d input shape %v, want [C, N, D, H, W]", s)
	}
	op := newVol2Col(s[0], s[1], nn.Shape3{s[2], s[3], s[4]}, k, stride, pad)
	col, err := G.ApplyOp(op, x)
	if err != nil {
		return nil, err
	}
	y, err := G.Mul(w, col)
	if err != nil {
		return nil, err
	}
	if b != nil {
		if y, err = G.BroadcastAdd(y, b, nil, []byte{1}); err != nil {
			return nil, err
		}
	}
	o := op.out()
	return G.Reshape(y, tensor.Shape{w.Shape()[0], s[1], o[0], o[1], o[2]})
}

// MaxPool3d applies a k³ max pooling with the given stride to x [C, N, D, H, W].
func MaxPool3d(x *G.Node, k, stride int) (*G.Node, error) {
	s := x.Shape()
	if len(s) != 5 {
		return nil, errors.Errorf("gorgop: MaxPool3d input shape %v, want [C, N, D, H, W]", s)
	}
	return G.ApplyOp(maxPoolOp{c: s[0], n: s[1], in: nn.Shape3{s[2], s[3], s[4]}, k: k, s: stride}, x)
}
