package gorgop

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lungctl/lungctl/internal/classify/nn"
)

// bce is the mean binary cross-entropy of logits z [N, 1] against labels y
// [N, 1] (0 or 1), max(z, 0) − z·y + log(1 + e^−|z|) in float64 per sample
// (stable for any z), returned as a float32 scalar.
type bce struct {
	base
	n int
}

func (op bce) Arity() int { return 2 }
func (op bce) Type() hm.Type {
	a := hm.TypeVariable('a')
	t := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(t, t, a)
}
func (op bce) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.ScalarShape(), nil }
func (op bce) Do(vs ...G.Value) (G.Value, error) {
	a, err := args(2, vs)
	if err != nil {
		return nil, err
	}
	z, y := a[0], a[1]
	var loss float64
	for i, zi := range z {
		x, t := float64(zi), float64(y[i])
		loss += math.Max(x, 0) - x*t + math.Log1p(math.Exp(-math.Abs(x)))
	}
	return G.NewF32(float32(loss / float64(len(z)))), nil
}
func (op bce) DiffWRT(int) []bool { return []bool{true, false} }
func (op bce) SymDiff(in G.Nodes, _, dl *G.Node) (G.Nodes, error) {
	dz, err := G.ApplyOp(bceGrad{base{"bce_dz", op.id}, op.n, &out{}}, in[0], in[1], dl)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dz, nil}, nil
}

// bceGrad is ∂bce/∂z scaled by the incoming gradient: dl·(σ(z) − y)/N,
// computed in float64 per sample.
type bceGrad struct {
	base
	n int
	o *out
}

func (op bceGrad) Arity() int { return 3 }
func (op bceGrad) Type() hm.Type {
	a := hm.TypeVariable('a')
	t := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(t, t, a, t)
}
func (op bceGrad) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.Shape{op.n, 1}, nil }
func (op bceGrad) Do(vs ...G.Value) (G.Value, error) {
	if len(vs) != 3 {
		return nil, fmt.Errorf("gorgop: bce gradient: %d inputs", len(vs))
	}
	a, err := args(2, vs[:2])
	if err != nil {
		return nil, err
	}
	dl, ok := vs[2].(*G.F32)
	if !ok {
		return nil, fmt.Errorf("gorgop: bce gradient: incoming gradient is %T, want *gorgonia.F32", vs[2])
	}
	z, y := a[0], a[1]
	t, dz := op.o.tensor(op.n, 1)
	n := float64(len(z))
	for i, zi := range z {
		dz[i] = float32(float64(*dl) * (nn.Sigmoid(float64(zi)) - float64(y[i])) / n)
	}
	return t, nil
}
