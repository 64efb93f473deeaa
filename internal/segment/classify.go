package segment

import (
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

// classify thresholds air and removes, slice by slice, the air connected to
// the slice border (outside the body). It records each slice's body
// centroid.
func (s *Segmenter) classify(hu *volume.Volume[int16], opt Options) {
	nx, ny, nz := hu.Dims[0], hu.Dims[1], hu.Dims[2]
	nxy := nx * ny
	stacks := make([][]int32, par.Limit())
	par.For(nz, func(w, k int) {
		h := hu.Data[k*nxy : (k+1)*nxy]
		c := s.cls[k*nxy : (k+1)*nxy]
		for p, v := range h {
			if v < opt.AirHU {
				c[p] = cAir
			} else {
				c[p] = cTissue
			}
		}
		stacks[w] = borderFill(c, nx, ny, cAir, cOutside, stacks[w])
		var sum, cnt int
		for j := 0; j < ny; j++ {
			row := c[j*nx : (j+1)*nx]
			for i, v := range row {
				if v != cOutside {
					sum += i
					cnt++
				}
			}
		}
		s.nbody[k] = cnt
		if cnt > 0 {
			s.cx[k] = float64(sum) / float64(cnt)
		} else {
			s.cx[k] = float64(nx-1) / 2
		}
	})
}

// borderFill sets to `to` every pixel of value `from` in the w×h grid m
// (row-major) that is 4-connected to the grid border, by span filling. The
// stack buffer is returned for reuse.
func borderFill(m []uint8, w, h int, from, to uint8, stk []int32) []int32 {
	stk = stk[:0]
	for i := 0; i < w; i++ {
		stk = append(stk, int32(i), int32((h-1)*w+i))
	}
	for j := 1; j < h-1; j++ {
		stk = append(stk, int32(j*w), int32(j*w+w-1))
	}
	for len(stk) > 0 {
		p := int(stk[len(stk)-1])
		stk = stk[:len(stk)-1]
		if m[p] != from {
			continue
		}
		y := p / w
		row := m[y*w : (y+1)*w]
		xl, xr := p-y*w, p-y*w
		for xl > 0 && row[xl-1] == from {
			xl--
		}
		for xr < w-1 && row[xr+1] == from {
			xr++
		}
		for x := xl; x <= xr; x++ {
			row[x] = to
		}
		for _, ny := range [2]int{y - 1, y + 1} {
			if ny < 0 || ny >= h {
				continue
			}
			nr := m[ny*w : (ny+1)*w]
			for x := xl; x <= xr; x++ {
				if nr[x] == from && (x == xl || nr[x-1] != from) {
					stk = append(stk, int32(ny*w+x))
				}
			}
		}
	}
	return stk
}
