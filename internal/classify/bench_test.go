package classify

import (
	"math/rand/v2"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/classify/nn"
	"github.com/lungctl/lungctl/internal/volume"
)

// peerArch is the architecture of /work/shared/peers/cnn3d_torch.py's
// defaults (conv 16-32-64 + pooling on 32³, one logit), for side-by-side timing.
var peerArch = nn.Arch{Size: 32, Channels: []int{16, 32, 64}}

func benchInput(n int) []float32 {
	r := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// BenchmarkInference is one forward pass of a batch of 64 32³ patches
// through the peer architecture (network only, like the PyTorch "infer"
// timing); ns/patch is reported.
func BenchmarkInference(b *testing.B) {
	net, _ := nn.New(peerArch)
	net.Init(1)
	const nb = 64
	ws := net.NewWorkspace(nb)
	ws.Inference = true
	x := benchInput(nb * net.InputLen())
	z := make([]float32, nb)
	_ = net.Forward(ws, x, nb, z) // touch the buffers once
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := net.Forward(ws, x, nb, z); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nb), "ns/patch")
}

// BenchmarkTrainStep is one Adam training step (forward, BCE, backward,
// update) on a batch of 64 32³ patches of the peer architecture, like the
// PyTorch "train" timing.
func BenchmarkTrainStep(b *testing.B) {
	net, _ := nn.New(peerArch)
	net.Init(1)
	const nb = 64
	ws := net.NewWorkspace(nb)
	x := benchInput(nb * net.InputLen())
	z, dz, y := make([]float32, nb), make([]float32, nb), make([]float32, nb)
	for i := range y {
		y[i] = float32(i % 2)
	}
	adam := nn.NewAdam(1e-3)
	step := func() {
		if err := net.Forward(ws, x, nb, z); err != nil {
			b.Fatal(err)
		}
		nn.BCEWithLogits(z, y, dz)
		net.ZeroGrad()
		if err := net.Backward(ws, dz); err != nil {
			b.Fatal(err)
		}
		adam.Step(net)
	}
	step()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nb), "ns/patch")
}

// BenchmarkScore is Score end to end (trilinear patch extraction + the
// embedded default model) for 64 candidates in a 1 mm volume.
func BenchmarkScore(b *testing.B) {
	m, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	v := SynthPatch(1, Round, 10, 96, true)
	r := rand.New(rand.NewPCG(2, 2))
	cs := make([]candidate.Candidate, 64)
	for i := range cs {
		cs[i].World = [3]float64(volume.Vec3{20 * (r.Float64() - 0.5), 20 * (r.Float64() - 0.5), 20 * (r.Float64() - 0.5)})
	}
	if _, err := Score(v, cs, m); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Score(v, cs, m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(cs)), "ns/patch")
}
