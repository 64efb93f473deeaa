//go:build !amd64

package simd

// Available is false: there is no assembly kernel on this architecture.
var Available = false

// Accum5 is not available on this architecture; it panics.
func Accum5(x0, x1, x2, x3, x4, w *float32, runs *int32, nruns int, yb *[48]float32, out *[6]float32) {
	panic("simd: no assembly kernel on this architecture")
}
