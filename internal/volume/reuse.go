package volume

// Resize returns s resliced to n elements when cap(s) >= n, and a new zeroed
// slice of n elements otherwise: the package's buffer-reuse rule for plain
// slices. A reused slice keeps its old values; a caller that needs zeros
// clears them.
func Resize[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

// Reuse applies the buffer-reuse rule to an output volume: when dst is not
// nil and cap(dst.Data) >= g.Len() it sets dst's grid to g, reslices its
// data and returns dst, true. Otherwise it returns nil, false and leaves dst
// alone: the caller checks the memory budget and allocates with New. A
// reused volume keeps its old voxel values.
func Reuse[T Voxel](dst *Volume[T], g Grid) (*Volume[T], bool) {
	if dst == nil || cap(dst.Data) < g.Len() {
		return nil, false
	}
	dst.Grid, dst.Data = g, dst.Data[:g.Len()]
	return dst, true
}
