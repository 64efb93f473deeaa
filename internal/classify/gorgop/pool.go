package gorgop

import (
	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lungctl/lungctl/internal/classify/nn"
	"github.com/lungctl/lungctl/internal/par"
)

// pool is nn's fused conv-block tail: y [N, C, D, H, W] + bias b [C] →
// ReLU → K³ max pooling, [N, C, Do, Ho, Wo]. Bias and ReLU commute with the
// max, so they run on the pooled values (nn.MaxPoolBiasReLU). The argmax of
// each window is kept in the op for the gradient ops, which take the
// pooled output as an input and so always run after it.
type pool struct {
	base
	g     nn.PoolGeom // one sample: C channels of In
	n     int
	infer bool // no argmax (inference graph)
	parts int  // the graph's fixed partial sums, for the bias gradient
	arg   *[]int32
	o     *out
}

func (op pool) Arity() int    { return 2 }
func (op pool) Type() hm.Type { return fnType([]int{5, 1}, 5) }
func (op pool) outShape() tensor.Shape {
	o := op.g.Out()
	return tensor.Shape{op.n, op.g.C, o[0], o[1], o[2]}
}
func (op pool) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.outShape(), nil }
func (op pool) Do(vs ...G.Value) (G.Value, error) {
	a, err := args(2, vs)
	if err != nil {
		return nil, err
	}
	y, b := a[0], a[1]
	in, sz := op.g.C*op.g.In.Len(), op.g.C*op.g.Out().Len()
	t, p := op.o.tensor(op.outShape()...)
	if !op.infer && len(*op.arg) < op.n*sz {
		*op.arg = make([]int32, op.n*sz)
	}
	par.For(op.n, func(_, s int) {
		if op.infer {
			nn.MaxPoolBiasReLUNoArg(op.g, y[s*in:(s+1)*in], b, p[s*sz:(s+1)*sz])
		} else {
			nn.MaxPoolBiasReLU(op.g, y[s*in:(s+1)*in], b, p[s*sz:(s+1)*sz], (*op.arg)[s*sz:(s+1)*sz])
		}
	})
	return t, nil
}
func (op pool) DiffWRT(int) []bool { return []bool{true, true} }
func (op pool) SymDiff(_ G.Nodes, p, dp *G.Node) (G.Nodes, error) {
	dy, err := G.ApplyOp(poolGradY{base{"pool_dy", op.id}, op, &out{}}, p, dp)
	if err != nil {
		return nil, err
	}
	db, err := G.ApplyOp(poolGradB{base{"pool_db", op.id}, op, &out{}, op.parts}, p, dp)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dy, db}, nil
}

// poolGradY routes each pooled gradient to its window's argmax where the
// pooled output (after ReLU) is positive.
type poolGradY struct {
	base
	p pool
	o *out
}

func (op poolGradY) Arity() int    { return 2 }
func (op poolGradY) Type() hm.Type { return fnType([]int{5, 5}, 5) }
func (op poolGradY) InferShape(...G.DimSizer) (tensor.Shape, error) {
	g := op.p.g
	return tensor.Shape{op.p.n, g.C, g.In[0], g.In[1], g.In[2]}, nil
}
func (op poolGradY) Do(vs ...G.Value) (G.Value, error) {
	a, err := args(2, vs)
	if err != nil {
		return nil, err
	}
	p, dp := a[0], a[1]
	g := op.p.g
	P, po := g.In.Len(), g.Out().Len()
	in, sz := g.C*P, g.C*po
	t, dy := op.o.tensor(op.p.n, g.C, g.In[0], g.In[1], g.In[2])
	arg := *op.p.arg
	par.For(op.p.n, func(_, s int) {
		d := dy[s*in : (s+1)*in]
		clear(d)
		ps, dps, as := p[s*sz:(s+1)*sz], dp[s*sz:(s+1)*sz], arg[s*sz:(s+1)*sz]
		for c := 0; c < g.C; c++ {
			for i := c * po; i < (c+1)*po; i++ {
				if ps[i] > 0 {
					d[c*P+int(as[i])] += dps[i]
				}
			}
		}
	})
	return t, nil
}

// poolGradB is the bias gradient: Σ over samples and pooled positions with
// a positive output, in the graph's fixed parts.
type poolGradB struct {
	base
	p     pool
	o     *out
	parts int
}

func (op poolGradB) Arity() int    { return 2 }
func (op poolGradB) Type() hm.Type { return fnType([]int{5, 5}, 1) }
func (op poolGradB) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.p.g.C}, nil
}
func (op poolGradB) Do(vs ...G.Value) (G.Value, error) {
	a, err := args(2, vs)
	if err != nil {
		return nil, err
	}
	p, dp := a[0], a[1]
	C, po := op.p.g.C, op.p.g.Out().Len()
	sz := C * po
	parts := make([][]float32, op.parts)
	par.For(op.parts, func(_, k int) {
		acc := make([]float32, C)
		for s := k; s < op.p.n; s += op.parts {
			for c := 0; c < C; c++ {
				var sb float32
				for i := s*sz + c*po; i < s*sz+(c+1)*po; i++ {
					if p[i] > 0 {
						sb += dp[i]
					}
				}
				acc[c] += sb
			}
		}
		parts[k] = acc
	})
	t, db := op.o.tensor(C)
	clear(db)
	for _, acc := range parts {
		for c, v := range acc {
			db[c] += v
		}
	}
	return t, nil
}

// linear is x [N, …] (flattened per sample, F values) · wᵀ [F, O] + b [O]
// → [N, O], with ReLU when relu is set; the same per-sample dot products as
// nn.Net.Forward.
type linear struct {
	base
	n, in, outN int
	xDims       int
	relu        bool
	o           *out
}

func (op linear) Arity() int    { return 3 }
func (op linear) Type() hm.Type { return fnType([]int{op.xDims, 2, 1}, 2) }
func (op linear) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.n, op.outN}, nil
}
func (op linear) Do(vs ...G.Value) (G.Value, error) {
	a, err := args(3, vs)
	if err != nil {
		return nil, err
	}
	x, w, b := a[0], a[1], a[2]
	t, y := op.o.tensor(op.n, op.outN)
	for s := 0; s < op.n; s++ {
		xs := x[s*op.in : (s+1)*op.in]
		for o := 0; o < op.outN; o++ {
			var acc float32
			for i, v := range w[o*op.in : (o+1)*op.in] {
				acc += v * xs[i]
			}
			acc += b[o]
			if op.relu && acc < 0 {
				acc = 0
			}
			y[s*op.outN+o] = acc
		}
	}
	return t, nil
}
func (op linear) DiffWRT(int) []bool { return []bool{true, true, true} }
func (op linear) SymDiff(in G.Nodes, y, dy *G.Node) (G.Nodes, error) {
	var r G.Nodes
	for i := 0; i < 3; i++ {
		n, err := G.ApplyOp(linearGrad{base{"linear_d" + string("xwb"[i]), op.id}, op, i, in[0].Shape(), &out{}}, in[0], in[1], y, dy)
		if err != nil {
			return nil, err
		}
		r = append(r, n)
	}
	return r, nil
}

// linearGrad is the gradient of linear with respect to input which (0 x,
// 1 w, 2 b), from x, w, the output y (for the ReLU mask) and dy.
type linearGrad struct {
	base
	l      linear
	which  int
	xShape tensor.Shape
	o      *out
}

func (op linearGrad) Arity() int { return 4 }
func (op linearGrad) Type() hm.Type {
	return fnType([]int{op.l.xDims, 2, 2, 2}, []int{op.l.xDims, 2, 1}[op.which])
}
func (op linearGrad) shape() tensor.Shape {
	switch op.which {
	case 0:
		return op.xShape.Clone()
	case 1:
		return tensor.Shape{op.l.outN, op.l.in}
	}
	return tensor.Shape{op.l.outN}
}
func (op linearGrad) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape(), nil }
func (op linearGrad) Do(vs ...G.Value) (G.Value, error) {
	a, err := args(4, vs)
	if err != nil {
		return nil, err
	}
	x, w, y, dy := a[0], a[1], a[2], a[3]
	l := op.l
	t, d := op.o.tensor(op.shape()...)
	clear(d)
	for s := 0; s < l.n; s++ {
		for o := 0; o < l.outN; o++ {
			g := dy[s*l.outN+o]
			if l.relu && y[s*l.outN+o] <= 0 {
				g = 0
			}
			if g == 0 {
				continue
			}
			switch op.which {
			case 0:
				ds := d[s*l.in : (s+1)*l.in]
				for i, v := range w[o*l.in : (o+1)*l.in] {
					ds[i] += g * v
				}
			case 1:
				dw := d[o*l.in : (o+1)*l.in]
				for i, v := range x[s*l.in : (s+1)*l.in] {
					dw[i] += g * v
				}
			default:
				d[o] += g
			}
		}
	}
	return t, nil
}
