package cluster

// Index phase of FlatMeanShift: the row list the radius queries scan.

import (
	"math"
	"slices"
)

// flatIndex is a row list of the points: rows are the cells of a 2-D grid
// of side bw/sub over axes 1 and 2 (y, z; fewer when dim < 3), and within a
// row the points are sorted by axis 0 (x). A radius query visits the rows
// that overlap the ball's bounding box and, in each, only the run of points
// whose x lies within the bandwidth (found by binary search), so the
// candidates fill a box of 2·bw by about (2 + 1/sub)·bw squared.
type flatIndex struct {
	dim   int
	r2, r float64 // bandwidth² and bandwidth
	rq    float64 // query half-width for row and x ranges (a hair above r)
	side  float64 // row cell side on axes 1 and 2
	lo    [3]float64
	nc    [3]int    // nc[0] = 1; rows along axes 1, 2
	start []int32   // nrows+1 offsets into xs and pts (in points)
	xs    []float64 // axis 0 of the sorted points
	pts   []float32 // N×dim, sorted by (row, x)
}

// newFlatIndex builds the row list for radius bw with rows of side bw/sub
// (sub ≥ 1), enlarged while there would be more than 4·N + 4096 rows.
func newFlatIndex(points []float32, dim int, bw float64, sub int) *flatIndex {
	n := len(points) / dim
	ix := &flatIndex{dim: dim, r: bw, r2: bw * bw, rq: bw * (1 + 1e-7)}
	var hi [3]float64
	for a := 1; a < 3; a++ {
		if a >= dim {
			continue
		}
		ix.lo[a], hi[a] = math.Inf(1), math.Inf(-1)
		for i := 0; i < n; i++ {
			x := float64(points[i*dim+a])
			ix.lo[a] = math.Min(ix.lo[a], x)
			hi[a] = math.Max(hi[a], x)
		}
	}
	side := bw / float64(max(sub, 1))
	for {
		rows := (math.Floor((hi[1]-ix.lo[1])/side) + 1) * (math.Floor((hi[2]-ix.lo[2])/side) + 1)
		if rows <= 4*float64(n)+4096 {
			break
		}
		side *= 1.25
	}
	ix.side = side
	ix.nc[0] = 1
	total := 1
	for a := 1; a < 3; a++ {
		ix.nc[a] = int(math.Floor((hi[a]-ix.lo[a])/side)) + 1
		total *= ix.nc[a]
	}
	row := make([]int32, n)
	ix.start = make([]int32, total+1)
	for i := 0; i < n; i++ {
		c := 0
		if dim > 2 {
			c = ix.cellOf(float64(points[i*dim+2]), 2) * ix.nc[1]
		}
		if dim > 1 {
			c += ix.cellOf(float64(points[i*dim+1]), 1)
		}
		row[i] = int32(c)
		ix.start[c+1]++
	}
	for c := 0; c < total; c++ {
		ix.start[c+1] += ix.start[c]
	}
	order := make([]int32, n)
	fill := make([]int32, total)
	copy(fill, ix.start[:total])
	for i := 0; i < n; i++ {
		order[fill[row[i]]] = int32(i)
		fill[row[i]]++
	}
	for c := 0; c < total; c++ {
		seg := order[ix.start[c]:ix.start[c+1]]
		if len(seg) > 1 {
			slices.SortFunc(seg, func(p, q int32) int {
				xp, xq := points[int(p)*dim], points[int(q)*dim]
				switch {
				case xp < xq:
					return -1
				case xp > xq:
					return 1
				}
				return int(p - q)
			})
		}
	}
	ix.xs = make([]float64, n)
	ix.pts = make([]float32, n*dim)
	for j, i := range order {
		copy(ix.pts[j*dim:(j+1)*dim], points[int(i)*dim:int(i+1)*dim])
		ix.xs[j] = float64(ix.pts[j*dim])
	}
	return ix
}

// cellOf is the row-grid index of coordinate x on axis a (1 or 2), clamped.
func (ix *flatIndex) cellOf(x float64, a int) int {
	c := int(math.Max(math.Min(math.Floor((x-ix.lo[a])/ix.side), float64(ix.nc[a]-1)), 0))
	return c
}

// cellRange is the clamped row-grid range [c0, c1] on axis a (1 or 2)
// covering [x−rq, x+rq]; empty when c0 > c1; (0, 0) for a missing axis.
func (ix *flatIndex) cellRange(x float64, a int) (int, int) {
	if a >= ix.dim {
		return 0, 0
	}
	f0 := math.Floor((x - ix.rq - ix.lo[a]) / ix.side)
	f1 := math.Floor((x + ix.rq - ix.lo[a]) / ix.side)
	if f1 < 0 || f0 > float64(ix.nc[a]-1) {
		return 1, 0
	}
	return int(math.Max(f0, 0)), int(math.Min(f1, float64(ix.nc[a]-1)))
}

// within sums (into sum, which it zeroes) the points whose squared distance
// from m is ≤ r² and returns how many there are.
func (ix *flatIndex) within(m, sum []float64) int {
	for a := range sum {
		sum[a] = 0
	}
	dim := ix.dim
	var c0, c1 [3]int
	for a := 1; a < 3; a++ {
		if a < dim {
			c0[a], c1[a] = ix.cellRange(m[a], a)
			if c0[a] > c1[a] {
				return 0
			}
		}
	}
	xlo, xhi := m[0]-ix.rq, m[0]+ix.rq
	r2 := ix.r2
	cnt := 0
	pts, xs := ix.pts, ix.xs
	for z := c0[2]; z <= c1[2]; z++ {
		for y := c0[1]; y <= c1[1]; y++ {
			row := z*ix.nc[1] + y
			b, e := int(ix.start[row]), int(ix.start[row+1])
			if b == e || xs[e-1] < xlo || xs[b] > xhi {
				continue
			}
			// First point with x ≥ xlo.
			for lo, hi := b, e; lo < hi; {
				h := int(uint(lo+hi) >> 1)
				if xs[h] < xlo {
					lo = h + 1
				} else {
					hi = h
				}
				b = lo
			}
			if dim == 5 {
				m0, m1, m2, m3, m4 := m[0], m[1], m[2], m[3], m[4]
				var s0, s1, s2, s3, s4 float64
				q := pts[b*5 : e*5]
				var n int64
				for len(q) >= 5 {
					x0, x1, x2, x3, x4 := float64(q[0]), float64(q[1]), float64(q[2]), float64(q[3]), float64(q[4])
					if x0 > xhi {
						break
					}
					d0 := x0 - m0
					d1 := x1 - m1
					d2 := x2 - m2
					d3 := x3 - m3
					d4 := x4 - m4
					d := float64(d0*d0) + float64(d1*d1)
					d = d + float64(d2*d2)
					d = d + float64(d3*d3)
					d = d + float64(d4*d4)
					// Branch-free: mask is all ones when d ≤ r² (r² − d is
					// +0 or positive), else 0; masked values add +0.
					mask := ^uint64(int64(math.Float64bits(r2-d)) >> 63)
					n += int64(mask & 1)
					s0 += math.Float64frombits(math.Float64bits(x0) & mask)
					s1 += math.Float64frombits(math.Float64bits(x1) & mask)
					s2 += math.Float64frombits(math.Float64bits(x2) & mask)
					s3 += math.Float64frombits(math.Float64bits(x3) & mask)
					s4 += math.Float64frombits(math.Float64bits(x4) & mask)
					q = q[5:]
				}
				cnt += int(n)
				sum[0] += s0
				sum[1] += s1
				sum[2] += s2
				sum[3] += s3
				sum[4] += s4
				continue
			}
			for j := b; j < e && xs[j] <= xhi; j++ {
				q := pts[j*dim : (j+1)*dim]
				var d float64
				for a, v := range q {
					t := float64(v) - m[a]
					d = d + float64(t*t)
				}
				if d <= r2 {
					cnt++
					for a, v := range q {
						sum[a] += float64(v)
					}
				}
			}
		}
	}
	return cnt
}
