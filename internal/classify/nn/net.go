package nn

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/lungctl/lungctl/internal/par"
)

// Arch is the network architecture, the same as the PyTorch reference
// (/work/shared/peers/cnn3d_torch.py Net3D): for each entry of Channels a
// Conv3d(kernel 3, stride 1, padding 1) → ReLU → MaxPool3d(2), then flatten in
// (c, d, h, w) order, an optional Linear(·, Hidden) → ReLU, and a Linear(·, 1)
// giving one logit. Input is one channel of Size³ voxels.
type Arch struct {
	// Size is the input patch side in voxels.
	Size int `json:"size"`
	// Channels lists the output channels of the conv blocks.
	Channels []int `json:"channels"`
	// Hidden is the width of the hidden dense layer; 0 means none.
	Hidden int `json:"hidden"`
}

// ErrArch reports an architecture that cannot be built.
var ErrArch = errors.New("nn: invalid architecture")

// Validate checks that every pooling level keeps at least one voxel.
func (a Arch) Validate() error {
	if a.Size < 1 || len(a.Channels) == 0 || a.Hidden < 0 || len(a.Channels) > 8 || a.Size > 256 || a.Hidden > 1<<16 {
		return fmt.Errorf("%w: size %d, channels %v, hidden %d", ErrArch, a.Size, a.Channels, a.Hidden)
	}
	s := a.Size
	for _, c := range a.Channels {
		if c < 1 || c > 1024 {
			return fmt.Errorf("%w: channel count %d", ErrArch, c)
		}
		s /= 2
	}
	if s < 1 {
		return fmt.Errorf("%w: size %d too small for %d pooling levels", ErrArch, a.Size, len(a.Channels))
	}
	return nil
}

// NumParams is the number of learnable scalars of a network of this
// architecture, computed without building it (0 when Validate fails).
func (a Arch) NumParams() int {
	if a.Validate() != nil {
		return 0
	}
	t, cin, s := 0, 1, a.Size
	for _, c := range a.Channels {
		t += c*cin*27 + c
		cin, s = c, s/2
	}
	flat := cin * s * s * s
	if a.Hidden > 0 {
		return t + a.Hidden*flat + a.Hidden + a.Hidden + 1
	}
	return t + flat + 1
}

// Param is one learnable tensor with its gradient, named as PyTorch names the
// same parameter of Net3D (features.0.weight, head.bias, …).
type Param struct {
	// Name is PyTorch's parameter name.
	Name string
	// Shape is PyTorch's shape (conv [out, in, 3, 3, 3], linear [out, in], bias [out]).
	Shape []int
	// Data holds the values in C order; Grad the accumulated gradient.
	Data []float32
	Grad []float32
}

type convLayer struct {
	g    ConvGeom
	cout int
	pg   PoolGeom
	w, b *Param
}

type linLayer struct {
	in, out int
	w, b    *Param
	relu    bool
}

// Net is the CNN with its parameters. Forward and Backward are safe for one
// goroutine at a time (they parallelise internally over the batch).
type Net struct {
	Arch   Arch
	convs  []convLayer
	lins   []linLayer
	params []*Param
}

// New builds a network with zero parameters; call Init or load weights.
func New(a Arch) (*Net, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	n := &Net{Arch: a}
	newP := func(name string, shape ...int) *Param {
		l := 1
		for _, s := range shape {
			l *= s
		}
		p := &Param{Name: name, Shape: shape, Data: make([]float32, l), Grad: make([]float32, l)}
		n.params = append(n.params, p)
		return p
	}
	cin, s := 1, a.Size
	for i, c := range a.Channels {
		g := ConvGeom{Cin: cin, In: Shape3{s, s, s}, K: 3, Stride: 1, Pad: 1}
		l := convLayer{g: g, cout: c, pg: PoolGeom{C: c, In: g.Out(), K: 2, S: 2}}
		l.w = newP(fmt.Sprintf("features.%d.weight", 3*i), c, cin, 3, 3, 3)
		l.b = newP(fmt.Sprintf("features.%d.bias", 3*i), c)
		n.convs = append(n.convs, l)
		cin, s = c, l.pg.Out()[0]
	}
	flat := cin * s * s * s
	if a.Hidden > 0 {
		n.lins = append(n.lins, linLayer{in: flat, out: a.Hidden, relu: true,
			w: newP("head.0.weight", a.Hidden, flat), b: newP("head.0.bias", a.Hidden)})
		n.lins = append(n.lins, linLayer{in: a.Hidden, out: 1,
			w: newP("head.2.weight", 1, a.Hidden), b: newP("head.2.bias", 1)})
	} else {
		n.lins = append(n.lins, linLayer{in: flat, out: 1, w: newP("head.weight", 1, flat), b: newP("head.bias", 1)})
	}
	return n, nil
}

// Params returns the parameters in PyTorch's named_parameters order.
func (n *Net) Params() []*Param { return n.params }

// NumParams is the total number of learnable scalars.
func (n *Net) NumParams() int {
	t := 0
	for _, p := range n.params {
		t += len(p.Data)
	}
	return t
}

// InputLen is Size³, the number of float32 values of one input patch.
func (n *Net) InputLen() int { return n.Arch.Size * n.Arch.Size * n.Arch.Size }

// Init sets weights by He initialisation (normal, std √(2/fan_in); the
// final logit layer uses √(1/fan_in)) and biases to zero, from a PCG
// generator seeded with seed, so equal seeds give equal networks.
func (n *Net) Init(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0x6c756e67))
	for _, p := range n.params {
		if len(p.Shape) == 1 {
			clear(p.Data)
			continue
		}
		fanIn := len(p.Data) / p.Shape[0]
		std := math.Sqrt(2 / float64(fanIn))
		if p == n.lins[len(n.lins)-1].w {
			std = math.Sqrt(1 / float64(fanIn))
		}
		for i := range p.Data {
			p.Data[i] = float32(r.NormFloat64() * std)
		}
	}
}

// ZeroGrad clears every parameter gradient.
func (n *Net) ZeroGrad() {
	for _, p := range n.params {
		clear(p.Grad)
	}
}

// DefaultGradParts is the number of partial gradient sums Backward uses
// when Workspace.GradParts is 0.
const DefaultGradParts = 8

// Workspace holds the reusable buffers of Forward/Backward for batches of up
// to Cap samples: per-sample pooled activations and argmax indices (kept for
// Backward), per-worker im2col scratch and per-part gradient sums.
type Workspace struct {
	Cap int
	// Inference skips what only Backward needs (pooling argmax indices);
	// Backward refuses a batch computed with it set.
	Inference bool
	// GradParts is the number of fixed partial sums Backward splits the
	// batch's gradient into (0 means DefaultGradParts): sample s is added
	// to part s mod GradParts, each part in sample order, and the parts are
	// added in order, so the gradient, and so training, is bit-identical for
	// a given GradParts on any number of cores. At most GradParts workers
	// run Backward.
	GradParts int
	infer     bool // Inference as of the last Forward
	input     []float32
	pooled    [][]float32 // per conv layer, Cap × C·(S/2)³
	arg       [][]int32
	hidden    [][]float32 // per linear layer except the last: Cap × out
	sizes     scratchSizes
	workers   []*worker // per par worker
	parts     []*part   // per gradient part
}

type scratchSizes struct{ col, out, in, lin int }

// worker is one goroutine's scratch memory.
type worker struct {
	col, out, dout, dcol, dx, dp []float32
	hbuf                         []float32
}

// part is one partial gradient sum.
type part struct {
	grads [][]float32 // per param
	// gradT holds each conv layer's weight gradient transposed,
	// [Cin·27, Cout]: computing it as col·doutᵀ transposes the small dout
	// instead of the large col.
	gradT [][]float32
}

// NewWorkspace allocates buffers for batches of up to capacity samples;
// per-worker scratch follows the par worker budget.
func (n *Net) NewWorkspace(capacity int) *Workspace {
	ws := &Workspace{Cap: capacity}
	for _, l := range n.convs {
		sz := l.cout * l.pg.Out().Len()
		ws.pooled = append(ws.pooled, make([]float32, capacity*sz))
		ws.arg = append(ws.arg, make([]int32, capacity*sz))
	}
	for _, l := range n.lins[:len(n.lins)-1] {
		ws.hidden = append(ws.hidden, make([]float32, capacity*l.out))
	}
	for _, l := range n.convs {
		P := l.g.Out().Len()
		ws.sizes.col = max(ws.sizes.col, l.g.Rows()*P)
		ws.sizes.out = max(ws.sizes.out, l.cout*P)
		ws.sizes.in = max(ws.sizes.in, l.g.Cin*l.g.In.Len(), l.cout*l.pg.Out().Len())
	}
	for _, l := range n.lins {
		ws.sizes.lin = max(ws.sizes.lin, l.in, l.out)
	}
	return ws
}

// ensureWorkers allocates forward scratch for every par worker (and
// backward scratch too when train is set) before a parallel loop uses it.
func (ws *Workspace) ensureWorkers(train bool) {
	for len(ws.workers) < par.Limit() {
		ws.workers = append(ws.workers, &worker{col: make([]float32, ws.sizes.col),
			out: make([]float32, ws.sizes.out), hbuf: make([]float32, 2*ws.sizes.lin)})
	}
	if !train {
		return
	}
	for _, w := range ws.workers {
		if w.dout == nil {
			w.dout = make([]float32, ws.sizes.out)
			w.dcol = make([]float32, ws.sizes.col)
			w.dx = make([]float32, ws.sizes.in)
			w.dp = make([]float32, ws.sizes.in)
		}
	}
}

func (ws *Workspace) gradParts() int {
	if ws.GradParts > 0 {
		return ws.GradParts
	}
	return DefaultGradParts
}

// ensureParts allocates and clears the partial gradient sums.
func (ws *Workspace) ensureParts(n *Net) {
	np := ws.gradParts()
	if len(ws.parts) != np {
		ws.parts = nil
		for i := 0; i < np; i++ {
			pt := &part{}
			for _, p := range n.params {
				pt.grads = append(pt.grads, make([]float32, len(p.Data)))
			}
			for _, l := range n.convs {
				pt.gradT = append(pt.gradT, make([]float32, len(l.w.Data)))
			}
			ws.parts = append(ws.parts, pt)
		}
		return
	}
	for _, pt := range ws.parts {
		for _, g := range pt.grads {
			clear(g)
		}
		for _, g := range pt.gradT {
			clear(g)
		}
	}
}

// Forward computes the logits of nb input patches x (nb × Size³, each [D, H,
// W] with W fastest) into logits[:nb]. It keeps what Backward needs in ws.
func (n *Net) Forward(ws *Workspace, x []float32, nb int, logits []float32) error {
	if nb > ws.Cap || len(x) < nb*n.InputLen() || len(logits) < nb {
		return fmt.Errorf("nn: forward: batch %d, capacity %d, %d inputs, %d logits", nb, ws.Cap, len(x), len(logits))
	}
	ws.input = x[:nb*n.InputLen()]
	ws.infer = ws.Inference
	ws.ensureWorkers(false)
	par.For(nb, func(wi, s int) {
		w := ws.workers[wi]
		in := x[s*n.InputLen() : (s+1)*n.InputLen()]
		for li, l := range n.convs {
			P := l.g.Out().Len()
			Kr := l.g.Rows()
			col, out := w.col[:Kr*P], w.out[:l.cout*P]
			Im2Col(l.g, in, col)
			Gemm(false, false, l.cout, P, Kr, l.w.Data, Kr, col, P, 0, out, P)
			sz := l.cout * l.pg.Out().Len()
			pooled := ws.pooled[li][s*sz : (s+1)*sz]
			// bias and ReLU commute with the max, so they run on the pooled values
			if ws.Inference && l.pg.K == 2 && l.pg.S == 2 {
				maxPool2NoArg(l.pg, out, l.b.Data, pooled)
			} else {
				MaxPoolBiasReLU(l.pg, out, l.b.Data, pooled, ws.arg[li][s*sz:(s+1)*sz])
			}
			in = pooled
		}
		for li, l := range n.lins {
			var y []float32
			if l.relu {
				y = ws.hidden[li][s*l.out : (s+1)*l.out]
			} else {
				y = w.hbuf[:l.out]
			}
			for o := 0; o < l.out; o++ {
				row := l.w.Data[o*l.in : (o+1)*l.in]
				var acc float32
				for i, v := range row {
					acc += v * in[i]
				}
				acc += l.b.Data[o]
				if l.relu && acc < 0 {
					acc = 0
				}
				y[o] = acc
			}
			in = y
		}
		logits[s] = in[0]
	})
	return nil
}

// Backward accumulates into every Param.Grad the gradient of Σ_s
// dlogits[s]·logit_s for the batch of the last Forward call on ws.
func (n *Net) Backward(ws *Workspace, dlogits []float32) error {
	nb := len(ws.input) / n.InputLen()
	if ws.infer {
		return fmt.Errorf("nn: backward after an inference-only forward pass")
	}
	if len(dlogits) < nb {
		return fmt.Errorf("nn: backward: %d gradients for a batch of %d", len(dlogits), nb)
	}
	ws.ensureWorkers(true)
	ws.ensureParts(n)
	pidx := map[*Param]int{}
	for i, p := range n.params {
		pidx[p] = i
	}
	np := len(ws.parts)
	par.For(min(np, nb), func(wi, pi int) {
		for s := pi; s < nb; s += np {
			n.backwardSample(ws, ws.workers[wi], ws.parts[pi], pidx, dlogits, s)
		}
	})
	for _, pt := range ws.parts {
		for li, l := range n.convs {
			g, gt := pt.grads[pidx[l.w]], pt.gradT[li]
			Kr := l.g.Rows()
			for k := 0; k < Kr; k++ {
				for o := 0; o < l.cout; o++ {
					g[o*Kr+k] += gt[k*l.cout+o]
				}
			}
		}
	}
	for i, p := range n.params {
		for _, pt := range ws.parts {
			g := pt.grads[i]
			for j := range p.Grad {
				p.Grad[j] += g[j]
			}
		}
	}
	return nil
}

// backwardSample adds sample s's gradient into part pt, using w's scratch.
func (n *Net) backwardSample(ws *Workspace, w *worker, pt *part, pidx map[*Param]int, dlogits []float32, s int) {
	// dense head, last layer first
	dy := w.hbuf[:1]
	dy[0] = dlogits[s]
	for li := len(n.lins) - 1; li >= 0; li-- {
		l := n.lins[li]
		var x []float32
		if li > 0 {
			x = ws.hidden[li-1][s*n.lins[li-1].out : (s+1)*n.lins[li-1].out]
		} else {
			lc := n.convs[len(n.convs)-1]
			sz := lc.cout * lc.pg.Out().Len()
			x = ws.pooled[len(n.convs)-1][s*sz : (s+1)*sz]
		}
		gw, gb := pt.grads[pidx[l.w]], pt.grads[pidx[l.b]]
		var dx []float32
		if li > 0 {
			dx = w.hbuf[len(w.hbuf)/2 : len(w.hbuf)/2+l.in]
		} else {
			dx = w.dp[:l.in]
		}
		clear(dx)
		for o := 0; o < l.out; o++ {
			d := dy[o]
			if l.relu && ws.hidden[li][s*l.out+o] <= 0 {
				d = 0
			}
			if d == 0 {
				continue
			}
			gb[o] += d
			row := l.w.Data[o*l.in : (o+1)*l.in]
			grow := gw[o*l.in : (o+1)*l.in]
			for i, v := range x {
				grow[i] += d * v
				dx[i] += d * row[i]
			}
		}
		if li > 0 {
			copy(w.hbuf[:l.in], dx)
			dy = w.hbuf[:l.in]
		}
	}
	// conv blocks; w.dp holds d(pooled output of the current layer)
	for li := len(n.convs) - 1; li >= 0; li-- {
		l := n.convs[li]
		P := l.g.Out().Len()
		Kr := l.g.Rows()
		sz := l.cout * l.pg.Out().Len()
		pooled := ws.pooled[li][s*sz : (s+1)*sz]
		arg := ws.arg[li][s*sz : (s+1)*sz]
		dout := w.dout[:l.cout*P]
		clear(dout)
		po := l.pg.Out().Len()
		gb := pt.grads[pidx[l.b]]
		for c := 0; c < l.cout; c++ {
			var sb float32
			for i := c * po; i < (c+1)*po; i++ {
				if pooled[i] > 0 { // ReLU passes the gradient only where its output was positive
					dout[c*P+int(arg[i])] += w.dp[i]
					sb += w.dp[i]
				}
			}
			gb[c] += sb
		}
		var in []float32
		if li == 0 {
			in = ws.input[s*n.InputLen() : (s+1)*n.InputLen()]
		} else {
			lp := n.convs[li-1]
			psz := lp.cout * lp.pg.Out().Len()
			in = ws.pooled[li-1][s*psz : (s+1)*psz]
		}
		col := w.col[:Kr*P]
		Im2Col(l.g, in, col)
		Gemm(false, true, Kr, l.cout, P, col, P, dout, P, 1, pt.gradT[li], l.cout)
		if li == 0 {
			break
		}
		dcol := w.dcol[:Kr*P]
		Gemm(true, false, Kr, P, l.cout, l.w.Data, Kr, dout, P, 0, dcol, P)
		dx := w.dx[:l.g.Cin*l.g.In.Len()]
		clear(dx)
		Col2Im(l.g, dcol, dx)
		copy(w.dp, dx)
	}
}

// BCEWithLogits returns the mean binary cross-entropy of logits z against
// labels y (0 or 1), computed stably, and writes into dz the gradient of that
// mean with respect to each logit: (σ(z)−y)/n.
func BCEWithLogits(z, y, dz []float32) float64 {
	n := float64(len(z))
	var loss float64
	for i, zi := range z {
		x, t := float64(zi), float64(y[i])
		loss += math.Max(x, 0) - x*t + math.Log1p(math.Exp(-math.Abs(x)))
		dz[i] = float32((Sigmoid(x) - t) / n)
	}
	return loss / n
}

// Sigmoid is 1/(1+e^−x), stable for large |x|.
func Sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// Adam is the Adam optimiser (Kingma & Ba) with PyTorch's defaults and bias
// correction; state is per parameter, in Net.Params order.
type Adam struct {
	// LR is the learning rate, Beta1/Beta2 the moment decay rates, Eps the
	// denominator guard.
	LR, Beta1, Beta2, Eps float64
	// WeightDecay is an L2 coefficient added to the gradient (PyTorch Adam's
	// weight_decay); 0 disables it.
	WeightDecay float64
	t           int
	m, v        [][]float32
}

// NewAdam returns Adam with learning rate lr, β = (0.9, 0.999), ε = 1e-8.
func NewAdam(lr float64) *Adam { return &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

// Step updates every parameter of n from its Grad.
func (a *Adam) Step(n *Net) {
	if a.m == nil {
		for _, p := range n.params {
			a.m = append(a.m, make([]float32, len(p.Data)))
			a.v = append(a.v, make([]float32, len(p.Data)))
		}
	}
	a.t++
	b1, b2 := float32(a.Beta1), float32(a.Beta2)
	c1 := 1 - math.Pow(a.Beta1, float64(a.t))
	c2 := 1 - math.Pow(a.Beta2, float64(a.t))
	step := float32(a.LR / c1)
	sc2 := float32(1 / math.Sqrt(c2))
	eps, wd := float32(a.Eps), float32(a.WeightDecay)
	for i, p := range n.params {
		m, v := a.m[i], a.v[i]
		for j, g := range p.Grad {
			g += wd * p.Data[j]
			m[j] = b1*m[j] + (1-b1)*g
			v[j] = b2*v[j] + (1-b2)*g*g
			p.Data[j] -= step * m[j] / (float32(math.Sqrt(float64(v[j])))*sc2 + eps)
		}
	}
}

// SGD applies p -= lr·grad to every parameter (used to compare with
// PyTorch's exported plain-SGD step).
func SGD(n *Net, lr float32) {
	for _, p := range n.params {
		for j, g := range p.Grad {
			p.Data[j] -= lr * g
		}
	}
}
