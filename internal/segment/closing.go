package segment

import (
	"math"
	"sync/atomic"

	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

// closer holds one worker's 2-D buffers for close.
type closer struct {
	f, g, fb []float32
	m        []uint8
	v        []int32
	z        []float32
	res      []uint8
	stack    []int32
}

// close replaces each lung label in dst, slice by slice, by its disk
// closing of radius Options.ClosingRadiusMM with holes filled, limited to
// the body and outside the airway; dst ends as a 0/1 mask. It returns the
// number of mask voxels. With a mass closing radius R > 0 it also closes
// each lung with radius R (from the same dilation distances) and marks what
// that larger closing adds, inside the body, as cCand in s.cls for
// keepMasses.
func (s *Segmenter) close(hu *volume.Volume[int16], opt Options, dst *volume.Volume[uint8]) int {
	var count atomic.Int64
	nx, ny, nz := hu.Dims[0], hu.Dims[1], hu.Dims[2]
	nxy := nx * ny
	sx, sy := float32(hu.Spacing[0]), float32(hu.Spacing[1])
	r := opt.ClosingRadiusMM
	big := opt.MassClosingRadiusMM
	reach := max(r, big)
	mx := int(math.Ceil(reach/hu.Spacing[0])) + 2
	my := int(math.Ceil(reach/hu.Spacing[1])) + 2
	workers := make([]*closer, par.Limit())
	par.For(nz, func(wk, k int) {
		cl := workers[wk]
		if cl == nil {
			cl = &closer{res: make([]uint8, nxy)}
			workers[wk] = cl
		}
		d := dst.Data[k*nxy : (k+1)*nxy]
		c := s.cls[k*nxy : (k+1)*nxy]
		res := cl.res
		clear(res)
		found := false
		for label := uint8(1); label <= 2; label++ {
			i0, i1, j0, j1 := nx, -1, ny, -1
			for j := 0; j < ny; j++ {
				row := d[j*nx : (j+1)*nx]
				for i, v := range row {
					if v == label {
						i0, i1 = min(i0, i), max(i1, i)
						j0, j1 = min(j0, j), max(j1, j)
					}
				}
			}
			if i1 < 0 {
				continue
			}
			found = true
			i0, i1 = max(0, i0-mx), min(nx-1, i1+mx)
			j0, j1 = max(0, j0-my), min(ny-1, j1+my)
			w, h := i1-i0+1, j1-j0+1
			cl.ensure(w, h)
			f := cl.f[:w*h]
			// Dilation: distance to the lung (squared, mm²).
			for j := 0; j < h; j++ {
				for i := 0; i < w; i++ {
					if d[(j+j0)*nx+i+i0] == label {
						f[j*w+i] = 0
					} else {
						f[j*w+i] = inf
					}
				}
			}
			cl.edt(f, w, h, sx, sy)
			if big > 0 {
				fb := cl.fb[:w*h]
				copy(fb, f)
				cl.closeFrom(fb, w, h, sx, sy, float32(big*big))
				m := cl.m[:w*h]
				for j := 0; j < h; j++ {
					for i := 0; i < w; i++ {
						if m[j*w+i] != 2 {
							res[(j+j0)*nx+i+i0] |= 2
						}
					}
				}
			}
			cl.closeFrom(f, w, h, sx, sy, float32(r*r))
			m := cl.m[:w*h]
			for j := 0; j < h; j++ {
				for i := 0; i < w; i++ {
					if m[j*w+i] != 2 {
						res[(j+j0)*nx+i+i0] |= 1
					}
				}
			}
		}
		if !found {
			clear(d)
			return
		}
		n := 0
		for p := range d {
			in := c[p] != cOutside && c[p] != cAirway
			switch {
			case res[p]&1 != 0 && in:
				d[p] = 1
				n++
			case res[p] == 2 && in:
				d[p] = 0
				c[p] = cCand
			default:
				d[p] = 0
			}
		}
		count.Add(int64(n))
	})
	return int(count.Load())
}

// closeFrom finishes a disk closing of radius √r2 (mm) from f, the squared
// distances (mm²) to the set being closed: the dilation is f ≤ r2, its
// erosion the points farther than √r2 from the dilation's complement. It
// leaves in cl.m the closed set with its holes filled: 0 or 1 inside, 2
// for background reached from the box border.
func (cl *closer) closeFrom(f []float32, w, h int, sx, sy, r2 float32) {
	for p, x := range f {
		if x <= r2 {
			f[p] = inf
		} else {
			f[p] = 0
		}
	}
	cl.edt(f, w, h, sx, sy)
	m := cl.m[:w*h]
	for p, x := range f {
		if x > r2 {
			m[p] = 1
		} else {
			m[p] = 0
		}
	}
	cl.stack = borderFill(m, w, h, 0, 2, cl.stack)
}

const inf = float32(1e20)

func (cl *closer) ensure(w, h int) {
	if len(cl.f) < w*h {
		cl.f = make([]float32, w*h)
		cl.fb = make([]float32, w*h)
		cl.g = make([]float32, w*h)
		cl.m = make([]uint8, w*h)
	}
	if n := max(w, h); len(cl.v) < n+1 {
		cl.v = make([]int32, n+1)
		cl.z = make([]float32, n+1)
	}
}

// edt replaces f (0 at feature pixels, inf elsewhere; w×h, row-major) by the
// squared Euclidean distance in mm² to the nearest feature pixel, with pixel
// spacing sx, sy mm (separable lower-envelope algorithm).
func (cl *closer) edt(f []float32, w, h int, sx, sy float32) {
	// Columns: 1-D distance along y by two sweeps.
	for i := 0; i < w; i++ {
		last := -1
		for j := 0; j < h; j++ {
			if f[j*w+i] == 0 {
				last = j
			} else if last >= 0 {
				d := float32(j-last) * sy
				f[j*w+i] = d * d
			}
		}
		last = -1
		for j := h - 1; j >= 0; j-- {
			p := j*w + i
			if f[p] == 0 {
				last = j
			} else if last >= 0 {
				d := float32(last-j) * sy
				if d*d < f[p] {
					f[p] = d * d
				}
			}
		}
	}
	// Rows: lower envelope of parabolas sx²(i−q)² + f[q].
	v, z := cl.v, cl.z
	g := cl.g
	s2 := sx * sx
	for j := 0; j < h; j++ {
		row := f[j*w : (j+1)*w]
		out := g[:w]
		kk := -1
		for q := 0; q < w; q++ {
			if row[q] >= inf {
				continue
			}
			fq := row[q] + s2*float32(q*q)
			for kk >= 0 {
				p := int(v[kk])
				sIsect := (fq - (row[p] + s2*float32(p*p))) / (2 * s2 * float32(q-p))
				if sIsect <= z[kk] {
					kk--
					continue
				}
				kk++
				v[kk] = int32(q)
				z[kk] = sIsect
				break
			}
			if kk < 0 {
				kk = 0
				v[0] = int32(q)
				z[0] = float32(math.Inf(-1))
			}
		}
		if kk < 0 {
			continue // no feature in this row: stays inf
		}
		z[kk+1] = float32(math.Inf(1))
		t := 0
		for q := 0; q < w; q++ {
			for z[t+1] < float32(q) {
				t++
			}
			p := int(v[t])
			dq := float32(q-p) * sx
			out[q] = dq*dq + row[p]
		}
		copy(row, out)
	}
}
