package classify

import (
	"math/rand/v2"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/classify/gorgop"
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
// timing) on the engine's inference graph; ns/patch is reported.
func BenchmarkInference(b *testing.B) {
	net, _ := nn.New(peerArch)
	net.Init(1)
	const nb = 64
	g, err := gorgop.Build(net, nb, gorgop.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	x := benchInput(nb * net.InputLen())
	z := make([]float32, nb)
	if err := g.Forward(x, z); err != nil { // touch the buffers once
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := g.Forward(x, z); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nb), "ns/patch")
}

// BenchmarkTrainStep is one Adam training step (forward, BCE, backward,
// update) on a batch of 64 32³ patches of the peer architecture on the
// engine's training graph, like the PyTorch "train" timing.
func BenchmarkTrainStep(b *testing.B) {
	net, _ := nn.New(peerArch)
	net.Init(1)
	const nb = 64
	g, err := gorgop.Build(net, nb, gorgop.Options{Train: true})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	x := benchInput(nb * net.InputLen())
	y := make([]float32, nb)
	for i := range y {
		y[i] = float32(i % 2)
	}
	adam := gorgop.NewAdam(1e-3, 0)
	if err := g.Step(x, y, adam); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := g.Step(x, y, adam); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nb), "ns/patch")
}

// BenchmarkScore is Score end to end (trilinear patch extraction + the
// embedded default model) for 64 candidates in a 96³ 1 mm volume.
func BenchmarkScore(b *testing.B) {
	m, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	v := volume.New[int16](volume.Grid{Dims: [3]int{96, 96, 96}, Spacing: volume.Vec3{1, 1, 1},
		Origin: volume.Vec3{-48, -48, -48}, Direction: volume.Identity})
	r := rand.New(rand.NewPCG(2, 2))
	for i := range v.Data {
		v.Data[i] = int16(r.IntN(1400) - 1000)
	}
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
