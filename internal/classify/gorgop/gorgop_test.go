package gorgop

import (
	"math"
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/lungctl/lungctl/internal/classify/nn"
)

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func testNet(t testing.TB, a nn.Arch, seed uint64) *nn.Net {
	net, err := nn.New(a)
	if err != nil {
		t.Fatal(err)
	}
	net.Init(seed)
	r := rand.New(rand.NewPCG(seed, 2))
	for _, p := range net.Params() { // non-zero biases so their gradients are exercised
		if len(p.Shape) == 1 {
			for i := range p.Data {
				p.Data[i] = float32(0.05 * r.NormFloat64())
			}
		}
	}
	return net
}

// TestGraphMatchesNN checks that the gorgonia graph and package nn's
// Forward/Backward (checked against PyTorch) give the same logits, loss and
// gradients from the same weights, with and without a hidden layer, and
// that the inference graph gives the training graph's logits.
func TestGraphMatchesNN(t *testing.T) {
	for _, a := range []nn.Arch{{Size: 8, Channels: []int{3, 4}, Hidden: 5}, {Size: 16, Channels: []int{4, 8, 8}}} {
		net := testNet(t, a, 3)
		const nb = 11
		gr, err := Build(net, nb, true, 1e-3)
		if err != nil {
			t.Fatal(err)
		}
		defer gr.Close()
		for i, p := range net.Params() {
			if d := gr.Params[i].Value().Data().([]float32); &d[0] != &p.Data[0] {
				t.Fatalf("graph parameter %s does not share memory with the nn.Net", p.Name)
			}
		}
		r := rand.New(rand.NewPCG(1, 2))
		x := randVec(r, nb*net.InputLen())
		y := make([]float32, nb)
		for i := range y {
			y[i] = float32(i % 2)
		}
		logits, loss, grads, err := gr.Grads(x, y)
		if err != nil {
			t.Fatal(err)
		}
		ws := net.NewWorkspace(nb)
		z, dz := make([]float32, nb), make([]float32, nb)
		if err := net.Forward(ws, x, nb, z); err != nil {
			t.Fatal(err)
		}
		want := nn.BCEWithLogits(z, y, dz)
		for i := range z {
			if logits[i] != z[i] {
				t.Fatalf("%v: gorgonia logit %d = %g, nn %g (the same kernels in the same order)", a, i, logits[i], z[i])
			}
		}
		if math.Abs(float64(loss)-want) > 1e-5 {
			t.Fatalf("%v: gorgonia loss %g, nn %g", a, loss, want)
		}
		net.ZeroGrad()
		if err := net.Backward(ws, dz); err != nil {
			t.Fatal(err)
		}
		for pi, p := range net.Params() {
			var scale float64
			for _, v := range p.Grad {
				scale = max(scale, math.Abs(float64(v)))
			}
			if scale == 0 {
				t.Fatalf("%v: %s has an all-zero gradient; the check proves nothing", a, p.Name)
			}
			for i := range p.Grad {
				if math.Abs(float64(grads[pi][i]-p.Grad[i])) > 1e-5*scale+1e-8 {
					t.Fatalf("%v: %s grad[%d]: gorgonia %g, nn %g", a, p.Name, i, grads[pi][i], p.Grad[i])
				}
			}
		}
		inf, err := Build(net, nb, false, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer inf.Close()
		zi := make([]float32, nb)
		if err := inf.Forward(x, zi); err != nil {
			t.Fatal(err)
		}
		for i := range z {
			if zi[i] != z[i] {
				t.Fatalf("%v: inference graph logit %d = %g, nn %g", a, i, zi[i], z[i])
			}
		}
	}
}

// TestStepMatchesNN checks steps of gorgonia's Adam solver through the graph
// against nn's Adam on nn's own gradients.
func TestStepMatchesNN(t *testing.T) {
	a := nn.Arch{Size: 8, Channels: []int{2, 3}}
	n1, n2 := testNet(t, a, 4), testNet(t, a, 4)
	const nb = 5
	gr, err := Build(n1, nb, true, 1e-2)
	if err != nil {
		t.Fatal(err)
	}
	defer gr.Close()
	r := rand.New(rand.NewPCG(3, 3))
	ws := n2.NewWorkspace(nb)
	adam := nn.NewAdam(1e-2)
	y := []float32{0, 1, 1, 0, 1}
	for step := 0; step < 3; step++ {
		x := randVec(r, nb*n1.InputLen())
		if _, err := gr.Step(x, y); err != nil {
			t.Fatal(err)
		}
		z, dz := make([]float32, nb), make([]float32, nb)
		if err := n2.Forward(ws, x, nb, z); err != nil {
			t.Fatal(err)
		}
		nn.BCEWithLogits(z, y, dz)
		n2.ZeroGrad()
		if err := n2.Backward(ws, dz); err != nil {
			t.Fatal(err)
		}
		adam.Step(n2)
	}
	for i, p := range n1.Params() {
		q := n2.Params()[i]
		for j := range p.Data {
			if math.Abs(float64(p.Data[j]-q.Data[j])) > 1e-5 {
				t.Fatalf("%s[%d] after 3 steps: graph %g, nn %g", p.Name, j, p.Data[j], q.Data[j])
			}
		}
	}
}

// peerArch is classify's benchmark architecture (the PyTorch peer's
// defaults): conv 16-32-64 with pooling on 32³, one logit.
var peerArch = nn.Arch{Size: 32, Channels: []int{16, 32, 64}}

// BenchmarkGraphTrainStep is classify's BenchmarkTrainStep through the
// gorgonia graph: one Adam step (forward, BCE, symbolic gradients, gorgonia's
// Adam) on a batch of 64 32³ patches of the peer architecture.
func BenchmarkGraphTrainStep(b *testing.B) {
	net := testNet(b, peerArch, 1)
	const nb = 64
	gr, err := Build(net, nb, true, 1e-3)
	if err != nil {
		b.Fatal(err)
	}
	defer gr.Close()
	x := randVec(rand.New(rand.NewPCG(1, 1)), nb*net.InputLen())
	y := make([]float32, nb)
	for i := range y {
		y[i] = float32(i % 2)
	}
	if _, err := gr.Step(x, y); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := gr.Step(x, y); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nb), "ns/patch")
}

// BenchmarkGraphInference is classify's BenchmarkInference through the
// gorgonia inference graph: logits of a batch of 64 32³ patches.
func BenchmarkGraphInference(b *testing.B) {
	net := testNet(b, peerArch, 1)
	const nb = 64
	gr, err := Build(net, nb, false, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer gr.Close()
	x := randVec(rand.New(rand.NewPCG(1, 1)), nb*net.InputLen())
	z := make([]float32, nb)
	if err := gr.Forward(x, z); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := gr.Forward(x, z); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nb), "ns/patch")
}

// BenchmarkPaired runs package nn's step and the gorgonia graph's step
// alternately on the same batch (the order swapping every iteration), so
// that both see the same load on a shared machine, and reports each
// engine's median time per step and the median of the per-pair ratios
// gorgonia/nn. TrainStep is a full Adam step of each engine on its own copy
// of the weights; Inference one forward pass.
func BenchmarkPaired(b *testing.B) {
	const nb = 64
	x := randVec(rand.New(rand.NewPCG(1, 1)), nb*peerArch.Size*peerArch.Size*peerArch.Size)
	y := make([]float32, nb)
	for i := range y {
		y[i] = float32(i % 2)
	}
	run := func(b *testing.B, train bool) {
		n1, n2 := testNet(b, peerArch, 1), testNet(b, peerArch, 1)
		gr, err := Build(n2, nb, train, 1e-3)
		if err != nil {
			b.Fatal(err)
		}
		defer gr.Close()
		ws := n1.NewWorkspace(nb)
		ws.Inference = !train
		adam := nn.NewAdam(1e-3)
		z, dz := make([]float32, nb), make([]float32, nb)
		nnStep := func() {
			if err := n1.Forward(ws, x, nb, z); err != nil {
				b.Fatal(err)
			}
			if train {
				nn.BCEWithLogits(z, y, dz)
				n1.ZeroGrad()
				if err := n1.Backward(ws, dz); err != nil {
					b.Fatal(err)
				}
				adam.Step(n1)
			}
		}
		gStep := func() {
			var err error
			if train {
				_, err = gr.Step(x, y)
			} else {
				err = gr.Forward(x, z)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		nnStep()
		gStep()
		var tn, tg, ratio, cn, cg, cratio []float64
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			first, second := nnStep, gStep
			if i%2 == 1 {
				first, second = gStep, nnStep
			}
			c0, t0 := cpuSeconds(b), time.Now()
			first()
			c1, t1 := cpuSeconds(b), time.Now()
			second()
			d1, d2 := t1.Sub(t0).Seconds(), time.Since(t1).Seconds()
			e1, e2 := c1-c0, cpuSeconds(b)-c1
			if i%2 == 1 {
				d1, d2, e1, e2 = d2, d1, e2, e1
			}
			tn, tg, ratio = append(tn, d1), append(tg, d2), append(ratio, d2/d1)
			cn, cg, cratio = append(cn, e1), append(cg, e2), append(cratio, e2/e1)
		}
		b.ReportMetric(median(tn)*1e3, "nn-ms/step")
		b.ReportMetric(median(tg)*1e3, "gorgonia-ms/step")
		b.ReportMetric(median(ratio), "gorgonia/nn")
		b.ReportMetric(median(cn)*1e3, "nn-cpu-ms/step")
		b.ReportMetric(median(cg)*1e3, "gorgonia-cpu-ms/step")
		b.ReportMetric(median(cratio), "cpu-gorgonia/nn")
	}
	b.Run("TrainStep", func(b *testing.B) { run(b, true) })
	b.Run("Inference", func(b *testing.B) { run(b, false) })
}

// cpuSeconds is the process's user + system CPU time so far.
func cpuSeconds(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return math.NaN()
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
