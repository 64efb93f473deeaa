//go:build amd64

package simd

import "github.com/lungctl/lungctl/internal/cpufeat"

// Accum5 is the AVX2/FMA 5-D kernel sum (see accum_amd64.s): over the
// points i of the nruns index runs [runs[2j], runs[2j+1]) of the arrays
// x0…x4 (scaled units) with weights w[i] (nil: 1) and s = |x − y|² < r² it
// sets out = {Σ k, Σ k·(x0−y0), …, Σ k·(x4−y4)}, k = w[i]·exp(−s/2)
// (range reduction to |f| ≤ ln2/16, a 2^(j/8) table and a degree-3
// polynomial: relative error < 3e-7 for s ≤ 170; larger s count as
// exp(−85)), summed in float32. yb holds y0…y4
// and r², each repeated 8 times. It may read up to 7 values past the end of
// a run in every array (the caller must pad them). Call it only when
// Available is true.
//
//go:noescape
func Accum5(x0, x1, x2, x3, x4, w *float32, runs *int32, nruns int, yb *[48]float32, out *[6]float32)

// Available reports whether Accum5 can run here (the CPU and the OS
// support AVX2 and FMA3).
var Available = cpufeat.AVX2FMA
