package segment

import (
	"math"
	"sync/atomic"

	"github.com/lungctl/lungctl/internal/edt"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

// closer holds one worker's 2-D buffers for close.
type closer struct {
	f, cf []float32
	m, cn []uint8
	ew    edt.Workspace // edt's scratch lines
	res   []uint8
	stack []int32
}

// massCoarse is the in-plane downsampling factor of the mass closing
// (step 6): a 50 mm disk is still 12.5 pixels of 4 mm, and the closing costs
// a sixteenth of a full-resolution one. Only the closing's far edge (the
// cut through the mediastinum) is 4 mm coarse; the side against the lung is
// the base mask's, at full resolution.
const massCoarse = 4

// close replaces each lung label in dst, slice by slice, by its disk
// closing of radius Options.ClosingRadiusMM with holes filled, limited to
// the body and outside the airway; dst ends as a 0/1 mask. It returns the
// number of mask voxels. With a mass closing radius R > 0 it also closes
// each lung with radius R on a massCoarse-times coarser grid and marks what
// that closing adds, inside the body, as cCand in s.cls for keepMasses
// (s.cand[k] lists them per slice).
func (s *Segmenter) close(hu *volume.Volume[int16], opt Options, dst *volume.Volume[uint8]) int {
	var count atomic.Int64
	nx, ny, nz := hu.Dims[0], hu.Dims[1], hu.Dims[2]
	nxy := nx * ny
	sx, sy := float32(hu.Spacing[0]), float32(hu.Spacing[1])
	r := opt.ClosingRadiusMM
	r2 := float32(r * r)
	big := opt.MassClosingRadiusMM
	mx := int(math.Ceil(r/hu.Spacing[0])) + 2
	my := int(math.Ceil(r/hu.Spacing[1])) + 2
	bx := int(math.Ceil(big/hu.Spacing[0])) + 2*massCoarse
	by := int(math.Ceil(big/hu.Spacing[1])) + 2*massCoarse
	if cap(s.cand) < nz {
		s.cand = make([][]int32, nz)
	}
	s.cand = s.cand[:nz]
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
			b := s.boxes[k][label-1]
			i0, i1, j0, j1 := b.i0, b.i1, b.j0, b.j1
			if i1 < 0 {
				continue
			}
			found = true
			if big > 0 {
				cl.coarseClose(d, res, nx, ny, label, max(0, i0-bx), min(nx-1, i1+bx), max(0, j0-by), min(ny-1, j1+by), sx, sy, float32(big*big))
			}
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
			edt.Transform2(f, w, h, sx, sy, &cl.ew)
			cl.closeFrom(f, w, h, sx, sy, r2)
			m := cl.m[:w*h]
			for j := 0; j < h; j++ {
				for i := 0; i < w; i++ {
					if m[j*w+i] != 2 {
						res[(j+j0)*nx+i+i0] |= 1
					}
				}
			}
		}
		cand := s.cand[k][:0]
		if !found {
			clear(d)
			s.cand[k] = cand
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
				cand = append(cand, int32(k*nxy+p))
			default:
				d[p] = 0
			}
		}
		s.cand[k] = cand
		count.Add(int64(n))
	})
	return int(count.Load())
}

// coarseClose closes lung label of slice d (nx wide) within the box
// [i0,i1]×[j0,j1] with a disk of radius √r2 mm on a grid massCoarse times
// coarser (a coarse pixel is lung when any of its pixels is) and fills its
// holes. It then sets bit 2 of res on the pixels the closing added: every
// pixel of a closed coarse pixel that holds no lung, and the non-lung
// pixels of a closed coarse pixel that holds some lung when it touches
// (8-neighbour) one of the former — so the thin rim that coarse pixels
// leave along the whole lung boundary is not proposed, but the edge of a
// filled bay is, up to the lung at full resolution.
func (cl *closer) coarseClose(d, res []uint8, nx, ny int, label uint8, i0, i1, j0, j1 int, sx, sy, r2 float32) {
	const f = massCoarse
	w, h := (i1-i0)/f+1, (j1-j0)/f+1
	cl.ensureCoarse(w, h)
	g, cnt := cl.cf[:w*h], cl.cn[:w*h]
	for p := range g {
		g[p] = inf
		cnt[p] = 0
	}
	for j := j0; j <= j1; j++ {
		row := d[j*nx : (j+1)*nx]
		cj := (j - j0) / f * w
		for i := i0; i <= i1; i++ {
			if row[i] == label {
				q := cj + (i-i0)/f
				g[q] = 0
				cnt[q]++
			}
		}
	}
	csx, csy := sx*f, sy*f
	edt.Transform2(g, w, h, csx, csy, &cl.ew)
	cl.closeFrom(g, w, h, csx, csy, r2)
	m := cl.m[:w*h]
	// Classify coarse pixels: 0 not closed, 1 added (closed, no lung),
	// 2 closed with lung next to an added one, 3 other closed.
	for q := range m {
		switch {
		case m[q] == 2:
			m[q] = 0
		case cnt[q] == 0:
			m[q] = 1
		default:
			m[q] = 3
		}
	}
	for cj := 0; cj < h; cj++ {
		for ci := 0; ci < w; ci++ {
			q := cj*w + ci
			if m[q] != 3 {
				continue
			}
			for dj := -1; dj <= 1 && m[q] == 3; dj++ {
				for di := -1; di <= 1; di++ {
					a, b := ci+di, cj+dj
					if a >= 0 && b >= 0 && a < w && b < h && m[b*w+a] == 1 {
						m[q] = 2
						break
					}
				}
			}
		}
	}
	for cj := 0; cj < h; cj++ {
		for ci := 0; ci < w; ci++ {
			if v := m[cj*w+ci]; v != 1 && v != 2 {
				continue
			}
			for j := j0 + cj*f; j < min(j0+cj*f+f, j1+1); j++ {
				for i := i0 + ci*f; i < min(i0+ci*f+f, i1+1); i++ {
					if p := j*nx + i; d[p] != label {
						res[p] |= 2
					}
				}
			}
		}
	}
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
	edt.Transform2(f, w, h, sx, sy, &cl.ew)
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

const inf = edt.Inf

// ensureCoarse sizes the buffers of a coarse w×h closing (it shares m and
// the edt workspace with the fine one, which runs after it).
func (cl *closer) ensureCoarse(w, h int) {
	if len(cl.cf) < w*h {
		cl.cf = make([]float32, w*h)
		cl.cn = make([]uint8, w*h)
	}
	cl.ensure(w, h)
}

func (cl *closer) ensure(w, h int) {
	if len(cl.f) < w*h {
		cl.f = make([]float32, w*h)
		cl.m = make([]uint8, w*h)
	}
}
