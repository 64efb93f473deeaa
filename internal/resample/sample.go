package resample

import (
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

// worker holds one goroutine's reusable buffers.
type worker struct {
	planes   [2][]float32
	planeK   [2]int
	xi0, xi1 []int32
	xf       []float32
	yj0, yj1 []int32
	yf       []float32
	row      []float32
}

func newWorker(p *plan) *worker {
	nxo, nyo := p.out.Dims[0], p.out.Dims[1]
	w := &worker{planeK: [2]int{-1, -1}}
	if p.axial {
		for s := range w.planes {
			w.planes[s] = make([]float32, nxo*nyo)
		}
		w.xi0, w.xi1, w.xf = make([]int32, nxo), make([]int32, nxo), make([]float32, nxo)
		w.yj0, w.yj1, w.yf = make([]int32, nyo), make([]int32, nyo), make([]float32, nyo)
	} else {
		w.row = make([]float32, nxo)
	}
	return w
}

// plane returns the in-plane resampling of sorted slice t onto the output
// (a, b) grid, computing it unless cached; keep names the other slice that
// must stay cached.
func plane[T volume.Voxel](w *worker, p *plan, src []T, t, keep int, nearest bool, fill float32) []float32 {
	for s := 0; s < 2; s++ {
		if w.planeK[s] == t {
			return w.planes[s]
		}
	}
	slot := 0
	if w.planeK[0] == keep {
		slot = 1
	}
	w.planeK[slot] = t
	dst := w.planes[slot]
	nxo, nyo := p.out.Dims[0], p.out.Dims[1]
	nx, ny := p.nx, p.ny
	sl := src[p.srcIdx[t]*nx*ny : (p.srcIdx[t]+1)*nx*ny]
	if p.separable {
		axisTable(w.xi0, w.xi1, w.xf, p.ci[t], p.dia, nx, nearest)
		axisTable(w.yj0, w.yj1, w.yf, p.cj[t], p.djb, ny, nearest)
		for b := 0; b < nyo; b++ {
			row := dst[b*nxo : (b+1)*nxo]
			j0 := w.yj0[b]
			if j0 < 0 {
				for a := range row {
					row[a] = fill
				}
				continue
			}
			fy := w.yf[b]
			r0 := sl[int(j0)*nx : int(j0+1)*nx]
			r1 := sl[int(w.yj1[b])*nx : int(w.yj1[b]+1)*nx]
			xi0, xi1, xf := w.xi0[:len(row)], w.xi1[:len(row)], w.xf[:len(row)]
			if nearest {
				for a := range row {
					i := xi0[a]
					if i < 0 {
						row[a] = fill
						continue
					}
					row[a] = float32(r0[i])
				}
				continue
			}
			for a := range row {
				i := xi0[a]
				if i < 0 {
					row[a] = fill
					continue
				}
				i1, fx := xi1[a], xf[a]
				v00, v10 := float32(r0[i]), float32(r0[i1])
				v01, v11 := float32(r1[i]), float32(r1[i1])
				top := v00 + fx*(v10-v00)
				bot := v01 + fx*(v11-v01)
				row[a] = top + fy*(bot-top)
			}
		}
		return dst
	}
	// In-plane axes not along x and y (a transposed or rotated plane): i
	// and j depend on both a and b.
	for b := 0; b < nyo; b++ {
		row := dst[b*nxo : (b+1)*nxo]
		bi := p.ci[t] + float64(b)*p.dib
		bj := p.cj[t] + float64(b)*p.djb
		for a := range row {
			v, ok := sample2(sl, nx, ny, bi+float64(a)*p.dia, bj+float64(a)*p.dja, nearest)
			if !ok {
				v = fill
			}
			row[a] = v
		}
	}
	return dst
}

// sample2 interpolates slice sl (nx×ny, row-major) at continuous in-plane
// index (i, j); ok is false outside the slice's extent.
func sample2[T volume.Voxel](sl []T, nx, ny int, i, j float64, nearest bool) (float32, bool) {
	i0, i1, fx := locate(i, nx, nearest)
	j0, j1, fy := locate(j, ny, nearest)
	if i0 < 0 || j0 < 0 {
		return 0, false
	}
	r0 := sl[int(j0)*nx:]
	if nearest {
		return float32(r0[i0]), true
	}
	r1 := sl[int(j1)*nx:]
	v00, v10 := float32(r0[i0]), float32(r0[i1])
	v01, v11 := float32(r1[i0]), float32(r1[i1])
	top := v00 + fx*(v10-v00)
	bot := v01 + fx*(v11-v01)
	return top + fy*(bot-top), true
}

// axialSlice fills output slice c on the fast path.
func axialSlice[T volume.Voxel](w *worker, p *plan, src []T, o []T, c int, nearest bool, fill float32) {
	t0, t1, wt, ok := p.bracketAt(p.s0+float64(c)*p.ds, -1)
	switch {
	case !ok:
		fillSlice(o, fill)
	case nearest:
		t := t0
		if wt >= 0.5 {
			t = t1
		}
		convert(o, plane(w, p, src, t, -1, true, fill))
	case wt == 0 || t0 == t1:
		convert(o, plane(w, p, src, t0, -1, false, fill))
	case wt == 1:
		convert(o, plane(w, p, src, t1, -1, false, fill))
	default:
		p0 := plane(w, p, src, t0, t1, false, fill)
		p1 := plane(w, p, src, t1, t0, false, fill)
		blend(o, p0, p1, float32(wt))
	}
}

// generalSlice fills output slice c voxel by voxel (slice normal not
// along z): each voxel finds its bracketing source slices along n and
// samples both in their own planes.
func generalSlice[T volume.Voxel](w *worker, p *plan, src []T, o []T, c int, nearest bool, fill float32) {
	nxo, nyo := p.out.Dims[0], p.out.Dims[1]
	nxy := p.nx * p.ny
	sp, org := p.out.Spacing, p.out.Origin
	stepS, stepU, stepV := sp[0]*p.n[0], sp[0]*p.ud[0], sp[0]*p.vd[0]
	row := w.row
	for b := 0; b < nyo; b++ {
		q0 := volume.Vec3{org[0], org[1] + float64(b)*sp[1], org[2] + float64(c)*sp[2]}
		s0, qu, qv := dot(p.n, q0), dot(q0, p.ud), dot(q0, p.vd)
		hint := 0
		for a := range row {
			af := float64(a)
			t0, t1, wt, ok := p.bracketAt(s0+af*stepS, hint)
			if !ok {
				row[a] = fill
				continue
			}
			hint = t0
			iu, jv := qu+af*stepU, qv+af*stepV
			if nearest {
				t := t0
				if wt >= 0.5 {
					t = t1
				}
				k := p.srcIdx[t]
				v, ok := sample2(src[k*nxy:(k+1)*nxy], p.nx, p.ny, iu-p.pu[t], jv-p.pv[t], true)
				if !ok {
					v = fill
				}
				row[a] = v
				continue
			}
			k0 := p.srcIdx[t0]
			v0, ok0 := sample2(src[k0*nxy:(k0+1)*nxy], p.nx, p.ny, iu-p.pu[t0], jv-p.pv[t0], false)
			if !ok0 {
				v0 = fill
			}
			if t1 == t0 || wt == 0 {
				row[a] = v0
				continue
			}
			k1 := p.srcIdx[t1]
			v1, ok1 := sample2(src[k1*nxy:(k1+1)*nxy], p.nx, p.ny, iu-p.pu[t1], jv-p.pv[t1], false)
			if !ok1 {
				v1 = fill
			}
			row[a] = v0 + float32(wt)*(v1-v0)
		}
		convert(o[b*nxo:(b+1)*nxo], row)
	}
}

// run resamples src through plan p into out (already sized), slice-parallel
// under internal/par's budget. Every output voxel depends only on the plan
// and the source, so the result does not depend on scheduling.
func run[T volume.Voxel](p *plan, src []T, out []T, nearest bool, fill float32) {
	nxo, nyo, nzo := p.out.Dims[0], p.out.Dims[1], p.out.Dims[2]
	plen := nxo * nyo
	workers := make([]*worker, par.Limit())
	par.Chunks(nzo, 1, func(wk, c0, c1 int) {
		w := workers[wk]
		if w == nil {
			w = newWorker(p)
			workers[wk] = w
		}
		for c := c0; c < c1; c++ {
			o := out[c*plen : (c+1)*plen]
			if p.axial {
				axialSlice(w, p, src, o, c, nearest, fill)
			} else {
				generalSlice(w, p, src, o, c, nearest, fill)
			}
		}
	})
}

func fillSlice[T volume.Voxel](o []T, fill float32) {
	var v T
	switch d := any(o).(type) {
	case []int16:
		d[0] = roundInt16(fill)
		v = o[0]
	default:
		v = T(fill)
	}
	for i := range o {
		o[i] = v
	}
}

func roundInt16(x float32) int16 {
	if x >= 32767 {
		return 32767
	}
	if x <= -32768 {
		return -32768
	}
	if x >= 0 {
		return int16(x + 0.5)
	}
	return int16(x - 0.5)
}

// convert copies a float32 plane into an output slice with the element
// type's rounding and clamping.
func convert[T volume.Voxel](o []T, pl []float32) {
	switch d := any(o).(type) {
	case []int16:
		pl = pl[:len(d)]
		for i, x := range pl {
			d[i] = roundInt16(x)
		}
	case []uint8:
		pl = pl[:len(d)]
		for i, x := range pl {
			d[i] = uint8(x)
		}
	case []float32:
		copy(d, pl)
	}
}

// blend writes (1−w)·p0 + w·p1 into o with the element type's rounding.
func blend[T volume.Voxel](o []T, p0, p1 []float32, w float32) {
	switch d := any(o).(type) {
	case []int16:
		p0, p1 = p0[:len(d)], p1[:len(d)]
		for i := range d {
			x := p0[i] + w*(p1[i]-p0[i])
			d[i] = roundInt16(x)
		}
	case []float32:
		p0, p1 = p0[:len(d)], p1[:len(d)]
		for i := range d {
			d[i] = p0[i] + w*(p1[i]-p0[i])
		}
	case []uint8:
		p0, p1 = p0[:len(d)], p1[:len(d)]
		for i := range d {
			d[i] = uint8(p0[i] + w*(p1[i]-p0[i]) + 0.5)
		}
	}
}
