package cluster

import "math"

// kernelTable tabulates exp(−s/2) for s = |d|² in [0, R²] (scaled units)
// with linear interpolation: relative error below 1e-6 with 4096 steps up to
// R = 3, and no call to math.Exp in the inner loop.
type kernelTable struct {
	r2    float32
	scale float32 // steps per unit of s
	v     []float32
}

func newKernelTable(r float64) *kernelTable {
	const steps = 4096
	r2 := r * r
	t := &kernelTable{r2: float32(r2), scale: float32(steps / r2), v: make([]float32, steps+2)}
	for i := range t.v {
		t.v[i] = float32(math.Exp(-0.5 * float64(i) * r2 / steps))
	}
	return t
}

// accum5 is the pure-Go 5-D kernel sum over the points soa[·][b:e] with
// weights wt (= the weights of soa[·][b:e]; nil: all 1): for the points with
// s = |x − y|² < r² (scaled units) and k = wt·exp(−s/2) (table-interpolated,
// relative error < 1e-6) it returns {Σ k, Σ k·(x0−y0), …, Σ k·(x4−y4)},
// summed in float32. simd.Accum5 computes the same sums.
func accum5(soa [][]float32, wt []float32, b, e int, y []float32, kt *kernelTable) (out [6]float32) {
	x0, x1, x2, x3, x4 := soa[0][b:e], soa[1][b:e], soa[2][b:e], soa[3][b:e], soa[4][b:e]
	x1 = x1[:len(x0)]
	x2 = x2[:len(x0)]
	x3 = x3[:len(x0)]
	x4 = x4[:len(x0)]
	if wt != nil {
		wt = wt[:len(x0)]
	}
	y0, y1, y2, y3, y4 := y[0], y[1], y[2], y[3], y[4]
	r2, sc, tab := kt.r2, kt.scale, kt.v
	var den, n0, n1, n2, n3, n4 float32
	for i := range x0 {
		d0 := x0[i] - y0
		d1 := x1[i] - y1
		d2 := x2[i] - y2
		s := d0*d0 + d1*d1 + d2*d2
		if s >= r2 {
			continue
		}
		d3 := x3[i] - y3
		d4 := x4[i] - y4
		s += d3*d3 + d4*d4
		if s >= r2 {
			continue
		}
		f := s * sc
		j := int(f)
		fr := f - float32(j)
		w := tab[j] + fr*(tab[j+1]-tab[j])
		if wt != nil {
			w *= wt[i]
		}
		den += w
		n0 += w * d0
		n1 += w * d1
		n2 += w * d2
		n3 += w * d3
		n4 += w * d4
	}
	return [6]float32{den, n0, n1, n2, n3, n4}
}

// accumN is accum5 for any dim: it adds Σ k·(x − y) over soa[·][b:e] to
// num and returns Σ k (float64 sums).
func accumN(soa [][]float32, wt []float32, b, e int, y []float32, num []float64, kt *kernelTable) float64 {
	var den float64
	dim := len(y)
	for i := b; i < e; i++ {
		var s float32
		for a := 0; a < dim; a++ {
			d := soa[a][i] - y[a]
			s += d * d
		}
		if s >= kt.r2 {
			continue
		}
		f := s * kt.scale
		j := int(f)
		fr := f - float32(j)
		w := kt.v[j] + fr*(kt.v[j+1]-kt.v[j])
		if wt != nil {
			w *= wt[i]
		}
		den += float64(w)
		for a := 0; a < dim; a++ {
			num[a] += float64(w) * float64(soa[a][i]-y[a])
		}
	}
	return den
}
