package cluster

// Seeding phase of FlatMeanShift.

import "math"

// flatBinSeeds returns scikit-learn's get_bin_seeds(X, bw, minFreq) as
// float64 S×dim: per point the bin round(x/bw) (half to even, −0 = +0), bins
// in order of first occurrence, those with ≥ minFreq points become seeds at
// float32(bin)·float32(bw) computed in float32 (numpy float32 arithmetic);
// when every point has a bin of its own the points are the seeds.
func flatBinSeeds(points []float32, dim int, bw float64, minFreq int) []float64 {
	n := len(points) / dim
	rounded := make([]float64, len(points))
	lo, hi := make([]float64, dim), make([]float64, dim)
	for a := range lo {
		lo[a], hi[a] = math.Inf(1), math.Inf(-1)
	}
	for i, x := range points {
		v := math.RoundToEven(float64(x)/bw) + 0 // −0 → +0, as Python's dict keys
		rounded[i] = v
		a := i % dim
		lo[a], hi[a] = math.Min(lo[a], v), math.Max(hi[a], v)
	}
	// Bin of each point, numbered in order of first occurrence. The bin
	// coordinates are integers; when their ranges fit, a mixed-radix uint64
	// is the map key, else the bytes of the float64 values.
	binOf := make([]int32, n)
	var first []int32 // first point of each bin
	span := 1.0
	for a := range lo {
		span *= hi[a] - lo[a] + 1
	}
	if span < 1<<62 {
		idx := make(map[uint64]int32, n/4+16)
		for i := 0; i < n; i++ {
			var k uint64
			for a := dim - 1; a >= 0; a-- {
				k = k*uint64(hi[a]-lo[a]+1) + uint64(rounded[i*dim+a]-lo[a])
			}
			b, ok := idx[k]
			if !ok {
				b = int32(len(first))
				idx[k] = b
				first = append(first, int32(i))
			}
			binOf[i] = b
		}
	} else {
		idx := make(map[string]int32, n/4+16)
		key := make([]byte, 8*dim)
		for i := 0; i < n; i++ {
			for a := 0; a < dim; a++ {
				flatPutU64(key[8*a:], math.Float64bits(rounded[i*dim+a]))
			}
			b, ok := idx[string(key)]
			if !ok {
				b = int32(len(first))
				idx[string(key)] = b
				first = append(first, int32(i))
			}
			binOf[i] = b
		}
	}
	freq := make([]int32, len(first))
	for _, b := range binOf {
		freq[b]++
	}
	kept := 0
	for _, f := range freq {
		if int(f) >= minFreq {
			kept++
		}
	}
	if kept == n {
		seeds := make([]float64, len(points))
		for i, x := range points {
			seeds[i] = float64(x)
		}
		return seeds
	}
	seeds := make([]float64, 0, kept*dim)
	for b, f := range freq {
		if int(f) >= minFreq {
			for a := 0; a < dim; a++ {
				seeds = append(seeds, float64(float32(rounded[int(first[b])*dim+a])*float32(bw)))
			}
		}
	}
	return seeds
}

func flatPutU64(b []byte, v uint64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
}
