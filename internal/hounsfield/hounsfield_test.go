package hounsfield

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func p32(v int32) *int32 { return &v }

func TestValueTable(t *testing.T) {
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
	}
	for _, c := range cases {
		got, err := Value(c.stored, c.r)
		if err != nil || got != c.want {
			t.Errorf("%s: Value(%d) = %d, %v; want %d", c.name, c.stored, got, err, c.want)
		}
	}
}

// TestBadRescaleRefused: a slope of 0, NaN or ±Inf and a NaN or infinite
// intercept are refused, never replaced by 1 or 0.
func TestBadRescaleRefused(t *testing.T) {
	for _, r := range []Rescale{
		{Slope: 0, Intercept: -1024},
		{Slope: math.NaN(), Intercept: -24},
		{Slope: math.Inf(1)},
		{Slope: math.Inf(-1)},
		{Slope: 1, Intercept: math.NaN()},
		{Slope: 1, Intercept: math.Inf(-1)},
	} {
		dst := []int16{7}
		_, err := ToHU(dst, []int32{100}, r)
		if !errors.Is(err, ErrBadRescale) {
			t.Errorf("%+v: err %v, want ErrBadRescale", r, err)
		}
		if dst[0] != 7 {
			t.Errorf("%+v: wrote %d despite the error", r, dst[0])
		}
	}
}

// TestUnsigned32 keeps stored values of 2³¹ and more (they were clipped).
func TestUnsigned32(t *testing.T) {
	dst := make([]int16, 3)
	stored := []uint32{1 << 31, 3_000_000_000, 4_294_967_295}
	if _, err := ToHU(dst, stored, Rescale{Slope: 1e-6, Intercept: -2000}); err != nil {
		t.Fatal(err)
	}
	for i, s := range stored {
		want := int16(math.Round(float64(s)*1e-6 - 2000))
		if dst[i] != want {
			t.Errorf("stored %d → %d, want %d", s, dst[i], want)
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
		if _, err := ToHU(dst, stored, r); err != nil {
			t.Fatal(err)
		}
		Normalize(dst)
		for i, s := range stored {
			var want float64
			lo, hi, pad := r.padRange()
			switch {
			case pad && int64(s) >= lo && int64(s) <= hi:
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

// TestNormalizeCounts: Normalize replaces exactly the values below −1100
// HU (PaddingHU included) and says how many.
func TestNormalizeCounts(t *testing.T) {
	v := make([]int16, 1<<20)
	want := 0
	for i := range v {
		v[i] = int16(i%3000 - 2048)
		if v[i] < OutsideBelowHU {
			want++
		}
	}
	v[5] = PaddingHU
	if v5 := int16(5%3000 - 2048); v5 >= OutsideBelowHU {
		want++
	}
	if got := Normalize(v); got != want {
		t.Fatalf("Normalize replaced %d, want %d", got, want)
	}
	for i, x := range v {
		if x < OutsideBelowHU {
			t.Fatalf("voxel %d still %d", i, x)
		}
	}
}

func TestToHUShortDst(t *testing.T) {
	dst := make([]int16, 2)
	if _, err := ToHU(dst, []int32{1, 2, 3}, Identity); err != nil { // must not panic, converts 2
		t.Fatal(err)
	}
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
				_, _ = ToHU(dst, stored, bc.r)
			}
		})
	}
}

func BenchmarkNormalize(b *testing.B) {
	v := make([]int16, 362*362*331)
	for i := range v {
		v[i] = int16(i%4096) - 2048
	}
	b.SetBytes(int64(len(v) * 2))
	for b.Loop() {
		Normalize(v)
	}
}

// TestToHUCountsClamped: both paths (integral slope 1 and the general one)
// count the values they clamp, not those that land on the range's ends;
// Saturation warns up to MaxSaturated of a volume and refuses beyond.
func TestToHUCountsClamped(t *testing.T) {
	stored := []int32{0, 100, 33791, 33792, -31744, -31745}
	dst := make([]int16, len(stored))
	if n, err := ToHU(dst, stored, Rescale{Slope: 1, Intercept: -1024}); err != nil || n != 2 {
		t.Errorf("slope 1: %d clamped, %v; want 2 (33792 and −31745)", n, err)
	}
	if n, err := ToHU(dst, stored, Rescale{Slope: 1e30}); err != nil || n != 5 || dst[1] != math.MaxInt16 || dst[4] != math.MinInt16 {
		t.Errorf("slope 1e30: %d clamped, %v, %v; want all but 0", n, err, dst)
	}
	pad := int32(100)
	if n, _ := ToHU(dst, stored, Rescale{Slope: 1, Padding: &pad}); n != 2 || dst[1] != PaddingHU {
		t.Errorf("padding: %d clamped, %v", n, dst)
	}
	if w, err := Saturation(0, 100); w != "" || err != nil {
		t.Errorf("none: %q %v", w, err)
	}
	if w, err := Saturation(1, 100); !strings.Contains(w, "1 of 100 voxels") || err != nil {
		t.Errorf("1 %%: %q %v", w, err)
	}
	if _, err := Saturation(2, 100); !errors.Is(err, ErrSaturated) {
		t.Errorf("2 %%: %v", err)
	}
}
