package risk

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func TestNoisyOR(t *testing.T) {
	cases := []struct {
		ps   []float64
		k    int
		leak float64
		want float64
	}{
		{nil, 5, 0.02, 0.02},
		{[]float64{0.5}, 5, 0, 0.5},
		// 1 − 0.98·0.5·0.8 = 0.608
		{[]float64{0.5, 0.2}, 5, 0.02, 0.608},
		// k = 2 keeps 0.5 and 0.4: 1 − 0.98·0.5·0.6 = 0.706
		{[]float64{0.1, 0.5, 0.4, 0.3}, 2, 0.02, 0.706},
		// k ≤ 0 keeps all: 1 − 0.9·0.5·0.6·0.7 = 0.811
		{[]float64{0.1, 0.5, 0.4}, 0, 0.1, 1 - 0.9*0.9*0.5*0.6},
		{[]float64{0.1, 0.5, 0.4}, -1, 0.1, 1 - 0.9*0.9*0.5*0.6},
		{[]float64{1, 0.2}, 5, 0.02, 1},
		{[]float64{0, 0, 0}, 5, 0, 0},
		{[]float64{0.3}, 5, 1, 1},
	}
	for _, c := range cases {
		in := slices.Clone(c.ps)
		got, err := NoisyOR(c.ps, c.k, c.leak)
		if err != nil || math.Abs(got-c.want) > 1e-12 {
			t.Errorf("NoisyOR(%v, %d, %v) = %v, %v; want %v", c.ps, c.k, c.leak, got, err, c.want)
		}
		if !slices.Equal(in, c.ps) {
			t.Errorf("NoisyOR reordered its input: %v → %v", in, c.ps)
		}
	}
	// The defaults are the classify command's: k = 5, 2 % leak.
	six := []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6}
	got, _ := NoisyOR(six, DefaultTopK, DefaultLeak)
	if want := 1 - 0.98*0.8*0.7*0.6*0.5*0.4; math.Abs(got-want) > 1e-12 {
		t.Errorf("defaults: %v, want %v (0.1 dropped)", got, want)
	}
	for _, bad := range []struct {
		ps   []float64
		leak float64
	}{
		{[]float64{math.NaN()}, 0.02}, {[]float64{1.5}, 0.02}, {[]float64{-0.1}, 0.02},
		{nil, -0.1}, {nil, 1.1}, {nil, math.NaN()},
	} {
		if _, err := NoisyOR(bad.ps, 5, bad.leak); !errors.Is(err, ErrProbability) {
			t.Errorf("NoisyOR(%v, leak %v): %v, want ErrProbability", bad.ps, bad.leak, err)
		}
	}
}

// Adding a nodule never lowers the patient probability.
func TestNoisyORMonotone(t *testing.T) {
	ps := []float64{}
	prev := DefaultLeak
	for _, p := range []float64{0.05, 0.3, 0.01, 0.2, 0.7, 0.02, 0.4} {
		ps = append(ps, p)
		got, err := NoisyOR(ps, DefaultTopK, DefaultLeak)
		if err != nil || got < prev {
			t.Fatalf("after adding %v: %v < %v (%v)", p, got, prev, err)
		}
		prev = got
	}
}
