package hounsfield

import (
	"math"
	"math/rand/v2"
	"testing"
)

func p32(v int32) *int32 { return &v }

func TestToHUTable(t *testing.T) {
	cases := []struct {
		name   string
		stored int32
		r      Rescale
		want   int16
	}{
		{"LIDC air", 24, Rescale{Slope: 1, Intercept: -1024}, -1000},
		{"LIDC water", 1024, Rescale{Slope: 1, Intercept: -1024}, 0},
		{"LIDC bone", 2024, Rescale{Slope: 1, Intercept: -1024}, 1000},
		{"LIDC out-of-circle -2048 HU", -1024, Rescale{Slope: 1, Intercept: -1024}, AirHU},
		{"lowest real air -1024 kept", 0, Rescale{Slope: 1, Intercept: -1024}, -1024},
		{"-1100 kept (threshold is strict)", -1100, Identity, -1100},
		{"-1101 becomes air", -1101, Identity, AirHU},
		{"Siemens -3024 fill", -3024, Identity, AirHU},
		{"head padding -1500", -1500, Identity, AirHU},
		{"padding value exact", -2000, Rescale{Slope: 1, Intercept: 0, Padding: p32(-2000)}, AirHU},
		{"padding value beats rescale", 0, Rescale{Slope: 1, Intercept: -1024, Padding: p32(0)}, AirHU},
		{"padding range low..high", 5, Rescale{Slope: 1, Intercept: 100, Padding: p32(0), PaddingRangeLimit: p32(10)}, AirHU},
		{"padding range reversed", 5, Rescale{Slope: 1, Intercept: 100, Padding: p32(10), PaddingRangeLimit: p32(0)}, AirHU},
		{"outside padding range", 11, Rescale{Slope: 1, Intercept: 100, Padding: p32(0), PaddingRangeLimit: p32(10)}, 111},
		{"slope 0.5 rounds half away from zero", 3, Rescale{Slope: 0.5, Intercept: -1000}, -999}, // -998.5
		{"slope 2", 600, Rescale{Slope: 2, Intercept: -1024}, 176},
		{"fractional intercept", 1000, Rescale{Slope: 1, Intercept: -1024.4}, -24},
		{"clamp high", 40000, Identity, math.MaxInt16},
		{"clamp high float path", 40000, Rescale{Slope: 1.5}, math.MaxInt16},
		{"slope 0 treated as 1", 100, Rescale{Slope: 0, Intercept: -1024}, -924},
		{"NaN slope treated as 1", 100, Rescale{Slope: math.NaN(), Intercept: -24}, 76},
	}
	for _, c := range cases {
		want := c.want
		if got := Value(c.stored, c.r); got != want {
			t.Errorf("%s: Value(%d) = %d, want %d", c.name, c.stored, got, want)
		}
	}
}

// TestToHUMatchesFloatReference compares the integer fast path and the
// float path with a direct float64 evaluation of the documented rule on
// random values.
func TestToHUMatchesFloatReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, r := range []Rescale{
		{Slope: 1, Intercept: -1024},
		{Slope: 1, Intercept: -1024, Padding: p32(-2000)},
		{Slope: 0.75, Intercept: -1000.5},
		{Slope: 1, Intercept: 0, Padding: p32(-3000), PaddingRangeLimit: p32(-2500)},
	} {
		stored := make([]int32, 10000)
		for i := range stored {
			stored[i] = rng.Int32N(70000) - 35000
		}
		dst := make([]int16, len(stored))
		ToHU(dst, stored, r)
		for i, s := range stored {
			var want float64
			lo, hi, pad := r.padRange()
			switch {
			case pad && s >= lo && s <= hi:
				want = AirHU
			default:
				want = math.Round(float64(s)*r.Slope + r.Intercept)
				if want < OutsideBelowHU {
					want = AirHU
				}
				want = math.Min(want, math.MaxInt16)
			}
			if float64(dst[i]) != want {
				t.Fatalf("%+v: stored %d → %d, want %v", r, s, dst[i], want)
			}
		}
	}
}

func TestToHUShortDst(t *testing.T) {
	dst := make([]int16, 2)
	ToHU(dst, []int32{1, 2, 3}, Identity) // must not panic, converts 2
	if dst[0] != 1 || dst[1] != 2 {
		t.Fatalf("%v", dst)
	}
}

func BenchmarkToHU(b *testing.B) {
	stored := make([]int32, 512*512)
	for i := range stored {
		stored[i] = int32(i%4096) - 1024
	}
	dst := make([]int16, len(stored))
	for _, bc := range []struct {
		name string
		r    Rescale
	}{{"int", Rescale{Slope: 1, Intercept: -1024, Padding: p32(-2000)}}, {"float", Rescale{Slope: 0.5, Intercept: -1024}}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(stored) * 4))
			for b.Loop() {
				ToHU(dst, stored, bc.r)
			}
		})
	}
}
