package nodule

import "math"

// robustSD is 1.4826 × the median absolute deviation of v (HU), the
// standard deviation of Gaussian noise that vessels in v do not inflate; 0
// for fewer than 20 values. v is overwritten.
func robustSD(v []float32) float64 {
	if len(v) < 20 {
		return 0
	}
	med := quantile(v, 0.5)
	for i, x := range v {
		v[i] = float32(math.Abs(float64(x - med)))
	}
	return 1.4826 * float64(quantile(v, 0.5))
}

// quantile returns the q-quantile of v (HU values) to the nearest HU,
// from a histogram over −2048…4095 HU (values outside are clamped), in one
// pass: the boxes hold up to a million voxels and sorting them was the
// slowest part of a segmentation.
func quantile(v []float32, q float64) float32 {
	const lo, n = -2048, 6144
	var hist [n]int32
	for _, x := range v {
		b := int(math.Round(float64(x))) - lo
		hist[min(max(b, 0), n-1)]++
	}
	target := min(len(v)-1, int(q*float64(len(v))))
	acc := 0
	for b, c := range hist {
		acc += int(c)
		if acc > target {
			return float32(b + lo)
		}
	}
	return float32(n - 1 + lo)
}
