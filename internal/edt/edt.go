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
	v         []int32
	z         []float32
	g         []float32 // g[p] = in[p] + s²p², the parabolas' offsets
	out       []float32
	blk       []float32 // blockCols lines of a strided pass, line b at b·n
	tmp       []float32 // Within3Box: a copy of its block
	fin, fin2 []bool    // Within3Box: its rows that hold a finite value
}

// blockCols is how many neighbouring lines (adjacent in x) a strided pass
// gathers at once: each gathered row of blockCols values is contiguous in
// memory, where one line at a time touches a new cache line per sample.
const blockCols = 16

func (ws *Workspace) ensure(n int) {
	if len(ws.v) < n+1 {
		ws.v = make([]int32, n+1)
		ws.z = make([]float32, n+1)
		ws.g = make([]float32, n)
		ws.out = make([]float32, n)
		ws.blk = make([]float32, blockCols*n)
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
		for i := 0; i < nx; i += blockCols {
			ws.stridedBlock(f, k*nx*ny+i, nx, ny, min(blockCols, nx-i), float32(sp[1]))
		}
	}
	// z lines
	for j := 0; j < ny; j++ {
		for i := 0; i < nx; i += blockCols {
			ws.stridedBlock(f, j*nx+i, nx*ny, nz, min(blockCols, nx-i), float32(sp[2]))
		}
	}
}

// Transform2 is Transform3 for one w×h image (x fastest) with pixel
// spacing sx, sy (mm): 0 at feature pixels, Inf elsewhere, replaced by the
// squared distance in mm² to the nearest feature pixel.
func Transform2(f []float32, w, h int, sx, sy float32, ws *Workspace) {
	if ws == nil {
		ws = &Workspace{}
	}
	ws.ensure(max(w, h))
	for i := 0; i < w; i += blockCols {
		ws.stridedBlock(f, i, w, h, min(blockCols, w-i), sy)
	}
	for j := 0; j < h; j++ {
		ws.line1(f[j*w:(j+1)*w], w, sx)
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

// stridedBlock transforms the cols lines of n samples that start at
// start, start+1, …, start+cols−1 of f with the given stride: gathered
// into ws.blk row by row, transformed, scattered back.
func (ws *Workspace) stridedBlock(f []float32, start, stride, n, cols int, s float32) {
	blk := ws.blk
	for q := 0; q < n; q++ {
		src := f[start+q*stride : start+q*stride+cols]
		for b, x := range src {
			blk[b*n+q] = x
		}
	}
	for b := 0; b < cols; b++ {
		ws.line1(blk[b*n:(b+1)*n], n, s)
	}
	for q := 0; q < n; q++ {
		dst := f[start+q*stride : start+q*stride+cols]
		for b := range dst {
			dst[b] = blk[b*n+q]
		}
	}
}

// line1 transforms one contiguous line in place: out[q] = min_p s²(q−p)² + in[p].
// A line whose finite values are all 0 (the first pass over a binary
// input) takes binaryLine's two sweeps; others the lower envelope of
// parabolas.
func (ws *Workspace) line1(row []float32, n int, s float32) {
	row = row[:n]
	finite, binary := false, true
	for _, x := range row {
		if x < Inf {
			finite = true
			if x != 0 {
				binary = false
				break
			}
		}
	}
	if !finite {
		return // no finite value on this line
	}
	if binary {
		binaryLine(row, s)
		return
	}
	v, z, g, out := ws.v, ws.z, ws.g[:n], ws.out[:n]
	s2 := s * s
	kk := -1
	for q := 0; q < n; q++ {
		if row[q] >= Inf {
			continue
		}
		fq := row[q] + s2*float32(q*q)
		g[q] = fq
		for kk >= 0 {
			p := int(v[kk])
			x := (fq - g[p]) / (2 * s2 * float32(q-p))
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

// binaryLine is line1 for a line of 0 (feature) and Inf with at least one
// 0: the distance to the nearest feature sample, from a forward and a
// backward sweep, squared, in mm².
func binaryLine(row []float32, s float32) {
	n := len(row)
	last := -1
	for q := 0; q < n; q++ {
		if row[q] == 0 {
			last = q
		} else if last >= 0 {
			d := float32(q-last) * s
			row[q] = d * d
		}
	}
	next := -1
	for q := n - 1; q >= 0; q-- {
		if row[q] == 0 {
			next = q
			continue
		}
		if next >= 0 {
			d := float32(next-q) * s
			row[q] = min(row[q], d*d)
		}
	}
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
		for i := lo[0]; i <= hi[0]; i += blockCols {
			ws.stridedBlock(f, i+nx*(lo[1]+ny*k), nx, h, min(blockCols, hi[0]+1-i), float32(sp[1]))
		}
	}
	for j := lo[1]; j <= hi[1]; j++ {
		for i := lo[0]; i <= hi[0]; i += blockCols {
			ws.stridedBlock(f, i+nx*(j+ny*lo[2]), nx*ny, d, min(blockCols, hi[0]+1-i), float32(sp[2]))
		}
	}
}
