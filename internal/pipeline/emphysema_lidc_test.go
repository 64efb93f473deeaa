package pipeline

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lungctl/lungctl/internal/risk"
	"github.com/lungctl/lungctl/internal/volume"
)

// TestLIDC0001EmphysemaUnderNoise: LIDC-IDRI-0001 as a low-dose scan would
// read it. White noise of 30 and 60 HU on its 1 mm grid raised the raw
// LAA-950 from 1.4 % to 5.0 and 12.6 % (the 5 % cut: emphysema, a higher
// Brock probability for every nodule); read with the noise brought down
// to risk.NoiseRefHU it stays within half a point of the scan as
// acquired, and no emphysema. The noise is read back at least as the noise
// added and at most a quarter over its sum in quadrature with the scan's
// own (41 and 70 HU: the lung's texture and the scan's correlated noise do
// not add as white noise would).
func TestLIDC0001EmphysemaUnderNoise(t *testing.T) {
	if testing.Short() {
		t.Skip("preprocesses LIDC-IDRI-0001 (slow)")
	}
	dir := needShared(t, "lidc-idri-0001")
	p, err := Preprocess(dir, PreprocessOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	base, err := risk.Emphysema(p.HU, p.Lung)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("as acquired: %+v", base)
	if base.Smoothing != 0 || base.NoiseHU > risk.NoiseRefHU || base.LAA950 > 2 {
		t.Fatalf("LIDC-IDRI-0001 as acquired: %+v; want its own noise under the reference and LAA-950 about 1.4 %%", base)
	}
	for _, sigma := range []float64{30, 60} {
		noisy := &volume.Volume[int16]{Grid: p.HU.Grid, Data: slices.Clone(p.HU.Data)}
		r := rand.New(rand.NewPCG(uint64(sigma), 2))
		for i, v := range noisy.Data {
			noisy.Data[i] = int16(max(-1024, min(3071, math.Round(float64(v)+sigma*r.NormFloat64()))))
		}
		d, err := risk.Emphysema(noisy, p.Lung)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("+%v HU: %+v", sigma, d)
		if want := math.Hypot(base.NoiseHU, sigma); d.NoiseHU < sigma || d.NoiseHU > 1.25*want {
			t.Errorf("+%v HU: noise read %.1f HU, want %.0f–%.1f", sigma, d.NoiseHU, sigma, 1.25*want)
		}
		if d.RawLAA950 < base.LAA950+3 {
			t.Errorf("+%v HU: raw LAA-950 %.2f %%: the noise no longer inflates it; the test lost its power", sigma, d.RawLAA950)
		}
		if math.Abs(d.LAA950-base.LAA950) > 0.5 {
			t.Errorf("+%v HU: LAA-950 %.2f %%, want within 0.5 of %.2f %% (raw %.2f %%)", sigma, d.LAA950, base.LAA950, d.RawLAA950)
		}
		if yes, _ := risk.EmphysemaPresent(d.LAA950); yes {
			t.Errorf("+%v HU: noise read as emphysema (LAA-950 %.2f %%)", sigma, d.LAA950)
		}
	}
}
