// Package edt computes exact Euclidean distance transforms on regular grids
// (Felzenszwalb & Huttenlocher's separable lower envelope of parabolas), in
// squared millimetres, honouring anisotropic spacing.
package edt

import "math"

// Inf marks a non-feature voxel in the input of Transform3.
const Inf = float32(1e20)

// Workspace holds the scratch lines of Transform3; it follows the
// buffer-reuse rule (package volume): its zero value is ready, it grows as
// needed, one per goroutine.
type Workspace struct {
	v    []int32
	z    []float32
	line []float32
	out  []float32
}

func (ws *Workspace) ensure(n int) {
	if len(ws.v) < n+1 {
		ws.v = make([]int32, n+1)
		ws.z = make([]float32, n+1)
		ws.line = make([]float32, n)
		ws.out = make([]float32, n)
	}
}

// Transform3 replaces f (nx×ny×nz, x fastest; 0 at feature voxels, Inf
// elsewhere) by the squared Euclidean distance in mm² from each voxel centre
// to the nearest feature voxel centre, with voxel spacing sp (mm). Voxels
// with no feature anywhere stay Inf.
func Transform3(f []float32, nx, ny, nz int, sp [3]float64, ws *Workspace) {
	if ws == nil {
		ws = &Workspace{}
	}
	ws.ensure(max(nx, ny, nz))
	// x lines
	for r := 0; r < ny*nz; r++ {
		row := f[r*nx : (r+1)*nx]
		ws.line1(row, nx, float32(sp[0]))
	}
	// y lines
	for k := 0; k < nz; k++ {
		for i := 0; i < nx; i++ {
			ws.strided(f, k*nx*ny+i, nx, ny, float32(sp[1]))
		}
	}
	// z lines
	for j := 0; j < ny; j++ {
		for i := 0; i < nx; i++ {
			ws.strided(f, j*nx+i, nx*ny, nz, float32(sp[2]))
		}
	}
}

// Line replaces row (finite at feature samples, Inf elsewhere) by its 1-D
// transform with sample spacing s (mm): row[q] becomes the minimum over p
// of s²(q−p)² + row[p]. A line with no finite value stays as it is.
// Transform3 runs it along each axis in turn; a caller with a faster first
// pass of its own (a binary one, say) runs it for the others.
func (ws *Workspace) Line(row []float32, s float32) {
	ws.ensure(len(row))
	ws.line1(row, len(row), s)
}

func (ws *Workspace) strided(f []float32, start, stride, n int, s float32) {
	l := ws.line[:n]
	for q := 0; q < n; q++ {
		l[q] = f[start+q*stride]
	}
	ws.line1(l, n, s)
	for q := 0; q < n; q++ {
		f[start+q*stride] = l[q]
	}
}

// line1 transforms one contiguous line in place: out[q] = min_p s²(q−p)² + in[p].
func (ws *Workspace) line1(row []float32, n int, s float32) {
	v, z, out := ws.v, ws.z, ws.out[:n]
	s2 := s * s
	kk := -1
	for q := 0; q < n; q++ {
		if row[q] >= Inf {
			continue
		}
		fq := row[q] + s2*float32(q*q)
		for kk >= 0 {
			p := int(v[kk])
			x := (fq - (row[p] + s2*float32(p*p))) / (2 * s2 * float32(q-p))
			if x <= z[kk] {
				kk--
				continue
			}
			kk++
			v[kk] = int32(q)
			z[kk] = x
			break
		}
		if kk < 0 {
			kk = 0
			v[0] = int32(q)
			z[0] = float32(math.Inf(-1))
		}
	}
	if kk < 0 {
		return // no finite value on this line
	}
	z[kk+1] = float32(math.Inf(1))
	t := 0
	for q := 0; q < n; q++ {
		for z[t+1] < float32(q) {
			t++
		}
		p := int(v[t])
		d := float32(q-p) * s
		out[q] = d*d + row[p]
	}
	copy(row, out)
}

// Transform3Box is Transform3 restricted to the sub-block lo…hi (inclusive
// voxel indices) of the nx×ny×nz array f: voxels of the block get the
// squared distance to the nearest feature voxel inside the block; the rest
// of f is left as it was. A caller that knows where the distances it needs
// come from (a lesion's bounding box plus a margin) saves the work of a
// whole box.
func Transform3Box(f []float32, nx, ny, nz int, lo, hi [3]int, sp [3]float64, ws *Workspace) {
	if ws == nil {
		ws = &Workspace{}
	}
	for a := 0; a < 3; a++ {
		lo[a] = max(lo[a], 0)
	}
	hi[0], hi[1], hi[2] = min(hi[0], nx-1), min(hi[1], ny-1), min(hi[2], nz-1)
	if hi[0] < lo[0] || hi[1] < lo[1] || hi[2] < lo[2] {
		return
	}
	w, h, d := hi[0]-lo[0]+1, hi[1]-lo[1]+1, hi[2]-lo[2]+1
	ws.ensure(max(w, h, d))
	for k := lo[2]; k <= hi[2]; k++ {
		for j := lo[1]; j <= hi[1]; j++ {
			start := lo[0] + nx*(j+ny*k)
			ws.line1(f[start:start+w], w, float32(sp[0]))
		}
	}
	for k := lo[2]; k <= hi[2]; k++ {
		for i := lo[0]; i <= hi[0]; i++ {
			ws.strided(f, i+nx*(lo[1]+ny*k), nx, h, float32(sp[1]))
		}
	}
	for j := lo[1]; j <= hi[1]; j++ {
		for i := lo[0]; i <= hi[0]; i++ {
			ws.strided(f, i+nx*(j+ny*lo[2]), nx*ny, d, float32(sp[2]))
		}
	}
}
