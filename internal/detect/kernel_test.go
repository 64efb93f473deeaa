package detect

import (
	"math"
	"math/rand"
	"testing"

	"github.com/lungctl/lungctl/internal/features"
	"github.com/lungctl/lungctl/internal/nodule"
	"github.com/lungctl/lungctl/internal/psf"
	"github.com/lungctl/lungctl/internal/risk"
	"github.com/lungctl/lungctl/internal/volume"
)

// sharpKernel turns v (HU, on the acquisition's own grid) into what an
// edge-enhancing ("lung" or "bone") reconstruction kernel would have made
// of the same projections: white noise of sd HU (the quantum noise, seeded
// by seed) is added, and every slice is then unsharp-masked in-plane,
// x + amount·(x − G_σ x) with σ sigmaMM (features.Smooth on the slice
// alone), which boosts the noise and makes every edge overshoot, as such
// kernels do. The loader has already made the padding outside the field
// of view air (hounsfield.Normalize), so it is treated as air.
func sharpKernel(t testing.TB, v *volume.Volume[int16], amount, sigmaMM, sd float64, seed int64) {
	t.Helper()
	nx, ny, nz := v.Dims[0], v.Dims[1], v.Dims[2]
	rng := rand.New(rand.NewSource(seed))
	g := v.Grid
	g.Dims[2] = 1
	slice := volume.Volume[int16]{Grid: g}
	var blur *volume.Volume[float32]
	for k := 0; k < nz; k++ {
		s := v.Data[k*nx*ny : (k+1)*nx*ny]
		for i, h := range s {
			s[i] = int16(math.Max(-1024, math.Min(3071, math.Round(float64(h)+sd*rng.NormFloat64()))))
		}
		slice.Data = s
		var err error
		// One slice: the replicated edge makes the z pass the identity.
		if blur, err = features.Smooth(blur, &slice, sigmaMM); err != nil {
			t.Fatal(err)
		}
		for i, h := range s {
			x := float64(h)
			s[i] = int16(math.Max(-1024, math.Min(3071, math.Round(x+amount*(x-float64(blur.Data[i]))))))
		}
	}
}

// TestLIDC0001SharpKernel reconstructs LIDC-IDRI-0001 (a GE scan on a
// standard kernel: kernel σ 0.61 mm read from its air–skin edge) as an
// edge-enhancing kernel would have: 25 HU of quantum noise, then an
// unsharp mask of σ 0.7 mm and amount 1 (moderate, like a "lung" kernel)
// or 2 (strong, like a "bone" kernel): the kernel σ read from the edge
// falls to 0.42 and 0.29 mm, the lung's noise (risk.NoiseHU, as done.json
// reports it) rises from 19 to 40 and 54 HU. The nodule stays first, is
// typed solid and measures within 15 % of LUNA16's 23.35 mm (the
// measurements issue's target). With the moderate kernel nothing else
// reaches the report threshold (0.45, pipeline.ReportThreshold); the
// strong kernel's overshoot along the diaphragm's dome may (logged).
func TestLIDC0001SharpKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("LIDC-IDRI-0001 on an edge-enhancing kernel, end to end: skipped with -short")
	}
	for _, amount := range []float64{1, 2} {
		hu, m, sp := loadScanWith(t, "lidc-idri-0001", func(v *volume.Volume[int16]) {
			sharpKernel(t, v, amount, 0.7, 25, 11)
		})
		opt := Options{Nodule: nodule.Options{SourceSpacingMM: [3]float64(sp), SliceThicknessMM: 2.5}}
		if s, ok := psf.Kernel(hu, sp[0]); ok {
			opt.Nodule.KernelSigmaMM = s
		}
		res, err := Run(hu, m, opt)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Candidates) == 0 || dist3(res.Candidates[0].World, lidcNodule) > lidcDiameter/2 {
			t.Fatalf("amount %.0f: the nodule is not the first candidate", amount)
		}
		c := res.Candidates[0]
		t.Logf("amount %.0f: lung noise %.0f HU, kernel σ %.2f mm; nodule %s, %.1f × %.1f mm (mean %.1f), score %.3f", amount,
			noiseOf(hu, m), opt.Nodule.KernelSigmaMM, c.Type, c.LongAxisMM, c.ShortAxisMM, c.MeanDiameterMM, c.DetectScore)
		if c.Type != "solid" {
			t.Errorf("amount %.0f: nodule typed %q, want solid", amount, c.Type)
		}
		if e := math.Abs(c.MeanDiameterMM-lidcDiameter) / lidcDiameter; e > 0.15 {
			t.Errorf("amount %.0f: nodule mean diameter %.1f mm, %.0f %% from %.2f", amount, c.MeanDiameterMM, 100*e, lidcDiameter)
		}
		for r, o := range res.Candidates[1:] {
			if o.DetectScore < 0.45 {
				continue
			}
			msg := "amount %.0f: rank %d at %.1f (%s %.1f mm, wall contact %.2f) scores %.2f: reported"
			args := []any{amount, r + 2, o.World, o.Type, o.MeanDiameterMM, res.Features[r+1].WallContact, o.DetectScore}
			if amount == 1 {
				t.Errorf(msg, args...)
			} else {
				t.Logf(msg, args...)
			}
		}
	}
}

// noiseOf is the lung's noise (HU) as done.json reports it
// (risk.NoiseHU), 0 when it cannot be read.
func noiseOf(hu *volume.Volume[int16], m *volume.Volume[uint8]) float64 {
	n, _ := risk.NoiseHU(hu, m)
	return n
}
