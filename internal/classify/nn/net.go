package nn

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
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

// Param is one learnable tensor, named as PyTorch names the same parameter
// of Net3D (features.0.weight, head.bias, …).
type Param struct {
	// Name is PyTorch's parameter name.
	Name string
	// Shape is PyTorch's shape (conv [out, in, 3, 3, 3], linear [out, in], bias [out]).
	Shape []int
	// Data holds the values in C order.
	Data []float32
}

// Net is the CNN's parameters for an Arch, in PyTorch's order. It holds no
// computation: package classify/gorgop builds the network's graph over
// these parameters (sharing their memory) and runs it.
type Net struct {
	Arch   Arch
	params []*Param
}

// New builds a network with zero parameters; call Init or load weights.
func New(a Arch) (*Net, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	n := &Net{Arch: a}
	newP := func(name string, shape ...int) {
		l := 1
		for _, s := range shape {
			l *= s
		}
		n.params = append(n.params, &Param{Name: name, Shape: shape, Data: make([]float32, l)})
	}
	cin, s := 1, a.Size
	for i, c := range a.Channels {
		newP(fmt.Sprintf("features.%d.weight", 3*i), c, cin, 3, 3, 3)
		newP(fmt.Sprintf("features.%d.bias", 3*i), c)
		cin, s = c, s/2
	}
	flat := cin * s * s * s
	if a.Hidden > 0 {
		newP("head.0.weight", a.Hidden, flat)
		newP("head.0.bias", a.Hidden)
		newP("head.2.weight", 1, a.Hidden)
		newP("head.2.bias", 1)
	} else {
		newP("head.weight", 1, flat)
		newP("head.bias", 1)
	}
	return n, nil
}

// Params returns the parameters in PyTorch's named_parameters order: each
// conv block's weight and bias, then each linear layer's.
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
	last := n.params[len(n.params)-2] // the logit layer's weight
	for _, p := range n.params {
		if len(p.Shape) == 1 {
			clear(p.Data)
			continue
		}
		fanIn := len(p.Data) / p.Shape[0]
		std := math.Sqrt(2 / float64(fanIn))
		if p == last {
			std = math.Sqrt(1 / float64(fanIn))
		}
		for i := range p.Data {
			p.Data[i] = float32(r.NormFloat64() * std)
		}
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
