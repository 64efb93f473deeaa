// Package resample puts a CT slice stack onto an orthogonal grid of chosen
// spacing (typically 1 mm isotropic), using each slice's true position.
//
// Geometry. Source slice k's voxel (i, j) lies at the LPS world point
//
//	P_k + i·s0·u + j·s1·v            (mm)
//
// where u and v are the source Grid.Direction columns 0 and 1 (the DICOM
// ImageOrientationPatient row and column directions), s0 and s1 the in-plane
// spacing (mm) and P_k the slice's ImagePositionPatient (positions[k], or
// src.IndexToWorld(0,0,k) when positions is nil). Slices may be unevenly
// spaced and sheared (gantry tilt): nothing assumes P_k lies on a line along
// the slice normal.
//
// The output axes are e0 = u, e1 = v orthonormalised against u, and
// e2 = n = e0 × e1; for an axial scan these are the LPS x, y and z axes. An
// output voxel at world point q has slice coordinate s = n·q; the two source
// slices whose n·P_k bracket s are sampled bilinearly at q projected onto
// their own planes (which corrects tilt shear exactly), and the two values are
// blended linearly in s. A linear function of world position is therefore
// reproduced exactly, whatever the slice gaps or shear.
package resample

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/lungctl/lungctl/internal/volume"
)

// AirHU is the value, in Hounsfield units, that Stack writes where an output
// voxel lies outside the source stack.
const AirHU = -1000

// MaxVoxels bounds the number of output voxels a call may create, so that a
// tiny spacing from user input fails cleanly instead of exhausting memory.
const MaxVoxels = 1 << 30

// ErrPositions reports slice positions that cannot describe the stack: a
// count different from the number of slices, non-finite values, or two
// slices at the same position along the slice normal.
var ErrPositions = errors.New("resample: bad slice positions")

// eps is the tolerance (in voxel index units, or mm along the normal) under
// which a sample point just outside the source is taken as on its boundary.
const eps = 1e-6

// plan holds the precomputed geometry of one resampling.
type plan struct {
	out volume.Grid

	nx, ny, nz int       // source dims
	srcIdx     []int     // source slice index of the t-th slice in ascending n·P order
	sk         []float64 // n·P for the t-th slice, ascending (mm)
	ci, cj     []float64 // in-plane index of output voxel (0,0) on the t-th slice
	dia, dib   float64   // d(source i)/d(output a), d(source i)/d(output b)
	dja, djb   float64   // d(source j)/d(output a), d(source j)/d(output b)
	s0         float64   // n·(output origin), mm
	separable  bool      // dib == 0 && dja == 0 (u ⟂ v): per-axis lookup tables
	axes       [3]volume.Vec3
	pos        []volume.Vec3
}

func dot(a, b volume.Vec3) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }

func cross(a, b volume.Vec3) volume.Vec3 {
	return volume.Vec3{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}

func scale(a volume.Vec3, s float64) volume.Vec3 { return volume.Vec3{a[0] * s, a[1] * s, a[2] * s} }

func sub(a, b volume.Vec3) volume.Vec3 { return volume.Vec3{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }

func add(a, b volume.Vec3) volume.Vec3 { return volume.Vec3{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }

func unit(a volume.Vec3) (volume.Vec3, bool) {
	l := math.Sqrt(dot(a, a))
	if !(l > 1e-9) || math.IsInf(l, 0) {
		return a, false
	}
	return scale(a, 1/l), true
}

func finite(a volume.Vec3) bool {
	for _, x := range a {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// OutputGrid returns the grid Stack, StackFloat32 and Mask write for a source
// grid src with slice positions (nil = regular, from src) and output spacing
// (mm along e0, e1, e2).
//
// Extent rule: every source voxel centre is projected onto each output axis
// e_a; the output origin is Σ_a min_a·e_a (the corner of the bounding box of
// all source voxel centres, in the output frame), and
// Dims[a] = floor((max_a − min_a)/spacing[a] + 1e-6) + 1. For a source whose
// directions are the identity (and for any source whose u, v, n point along
// the output axes with the slices ascending), output voxel (0,0,0) is exactly
// source voxel (0,0,0) and world coordinates are preserved. Direction is
// (e0, e1, e2) as columns.
func OutputGrid(src volume.Grid, positions []volume.Vec3, spacing volume.Vec3) (volume.Grid, error) {
	p, err := newPlan(src, positions, spacing)
	if err != nil {
		return volume.Grid{}, err
	}
	return p.out, nil
}

func newPlan(src volume.Grid, positions []volume.Vec3, spacing volume.Vec3) (*plan, error) {
	if err := src.Validate(); err != nil {
		return nil, fmt.Errorf("resample: source: %w", err)
	}
	for a := 0; a < 3; a++ {
		if !(spacing[a] > 0) || math.IsInf(spacing[a], 0) {
			return nil, fmt.Errorf("resample: %w: output spacing %v mm", volume.ErrGeometry, spacing)
		}
	}
	nz := src.Dims[2]
	if positions == nil {
		positions = make([]volume.Vec3, nz)
		for k := range positions {
			positions[k] = src.IndexToWorld(volume.Vec3{0, 0, float64(k)})
		}
	}
	if len(positions) != nz {
		return nil, fmt.Errorf("%w: %d positions for %d slices", ErrPositions, len(positions), nz)
	}
	for k, q := range positions {
		if !finite(q) {
			return nil, fmt.Errorf("%w: slice %d position %v", ErrPositions, k, q)
		}
	}
	u := volume.Vec3{src.Direction[0][0], src.Direction[1][0], src.Direction[2][0]}
	v := volume.Vec3{src.Direction[0][1], src.Direction[1][1], src.Direction[2][1]}
	u, ok1 := unit(u)
	v, ok2 := unit(v)
	c := dot(u, v)
	e1, ok3 := unit(sub(v, scale(u, c)))
	if !ok1 || !ok2 || !ok3 {
		return nil, fmt.Errorf("resample: %w: in-plane directions are parallel or zero", volume.ErrGeometry)
	}
	e0 := u
	e2, _ := unit(cross(e0, e1))
	// Dual basis of (u, v) inside the slice plane: (q−P)·ud = i·s0 for
	// q−P = i·s0·u + j·s1·v (+ any multiple of n).
	det := 1 - c*c
	ud := scale(sub(u, scale(v, c)), 1/det)
	vd := scale(sub(v, scale(u, c)), 1/det)

	p := &plan{nx: src.Dims[0], ny: src.Dims[1], nz: nz, axes: [3]volume.Vec3{e0, e1, e2}, pos: positions}
	// Sort slices by n·P.
	p.srcIdx = make([]int, nz)
	for k := range p.srcIdx {
		p.srcIdx[k] = k
	}
	sk := make([]float64, nz)
	for k := range sk {
		sk[k] = dot(e2, positions[k])
	}
	sort.SliceStable(p.srcIdx, func(a, b int) bool { return sk[p.srcIdx[a]] < sk[p.srcIdx[b]] })
	p.sk = make([]float64, nz)
	for t, k := range p.srcIdx {
		p.sk[t] = sk[k]
		if t > 0 && p.sk[t]-p.sk[t-1] < 1e-4 {
			return nil, fmt.Errorf("%w: slices %d and %d are both at %.4f mm along the normal", ErrPositions, p.srcIdx[t-1], k, p.sk[t])
		}
	}
	// Bounding box of all source voxel centres in the output frame.
	s0, s1 := src.Spacing[0], src.Spacing[1]
	wi := scale(u, float64(p.nx-1)*s0)
	wj := scale(v, float64(p.ny-1)*s1)
	var lo, hi [3]float64
	for a := 0; a < 3; a++ {
		lo[a], hi[a] = math.Inf(1), math.Inf(-1)
	}
	for _, q := range positions {
		for _, corner := range [4]volume.Vec3{q, add(q, wi), add(q, wj), add(add(q, wi), wj)} {
			for a := 0; a < 3; a++ {
				x := dot(corner, p.axes[a])
				lo[a] = math.Min(lo[a], x)
				hi[a] = math.Max(hi[a], x)
			}
		}
	}
	g := volume.Grid{Spacing: spacing}
	total := 1.0
	for a := 0; a < 3; a++ {
		n := math.Floor((hi[a]-lo[a])/spacing[a]+1e-6) + 1
		total *= n
		if total > MaxVoxels {
			return nil, fmt.Errorf("resample: %w: output grid at %v mm spacing exceeds %d voxels", volume.ErrGeometry, spacing, MaxVoxels)
		}
		g.Dims[a] = int(n)
		for r := 0; r < 3; r++ {
			g.Origin[r] += lo[a] * p.axes[a][r]
			g.Direction[r][a] = p.axes[a][r]
		}
	}
	p.out = g
	p.s0 = dot(e2, g.Origin)
	// In-plane index of output voxel (a, b, ·) on slice t:
	// i = ((O−P)·ud + a·σ0·(e0·ud) + b·σ1·(e1·ud)) / s0, likewise j with vd.
	// n·ud = n·vd = 0, so the output slice index does not enter.
	p.dia = spacing[0] * dot(e0, ud) / s0
	p.dib = spacing[1] * dot(e1, ud) / s0
	p.dja = spacing[0] * dot(e0, vd) / s1
	p.djb = spacing[1] * dot(e1, vd) / s1
	if math.Abs(p.dib) < 1e-12 {
		p.dib = 0
	}
	if math.Abs(p.dja) < 1e-12 {
		p.dja = 0
	}
	p.separable = p.dib == 0 && p.dja == 0
	p.ci = make([]float64, nz)
	p.cj = make([]float64, nz)
	for t, k := range p.srcIdx {
		d := sub(g.Origin, positions[k])
		p.ci[t] = dot(d, ud) / s0
		p.cj[t] = dot(d, vd) / s1
	}
	return p, nil
}

// bracket returns the sorted slice indices t0 ≤ t1 bracketing output slice c
// and the blend weight w of t1, or ok=false when the slice lies outside the
// stack along the normal.
func (p *plan) bracket(c int) (t0, t1 int, w float64, ok bool) {
	s := p.s0 + float64(c)*p.out.Spacing[2]
	n := len(p.sk)
	if s < p.sk[0]-eps*10 || s > p.sk[n-1]+eps*10 {
		return 0, 0, 0, false
	}
	if n == 1 {
		return 0, 0, 0, true
	}
	// First t with sk[t] > s, so sk[t-1] <= s < sk[t].
	t := sort.SearchFloat64s(p.sk, s)
	if t < n && p.sk[t] == s {
		t++
	}
	if t <= 0 {
		return 0, 1, 0, true
	}
	if t >= n {
		return n - 2, n - 1, 1, true
	}
	w = (s - p.sk[t-1]) / (p.sk[t] - p.sk[t-1])
	return t - 1, t, math.Min(1, math.Max(0, w)), true
}

// axisTable fills the lookup for one in-plane axis: for output position a,
// lower source index i0 (−1 when outside), upper index i1 and fraction f.
// With nearest set, i0 is the nearest index and f is 0.
func axisTable(i0, i1 []int32, f []float32, start, step float64, n int, nearest bool) {
	for a := range i0 {
		x := start + float64(a)*step
		idx, idx1, fr := locate(x, n, nearest)
		i0[a], i1[a], f[a] = idx, idx1, fr
	}
}

// locate maps a continuous source index x on an axis of n samples to the
// interpolation stencil; idx is −1 when x is outside [0, n−1].
func locate(x float64, n int, nearest bool) (idx, idx1 int32, fr float32) {
	if !(x >= -eps && x <= float64(n-1)+eps) {
		return -1, -1, 0
	}
	if nearest {
		k := int32(math.Floor(x + 0.5))
		k = min(max(k, 0), int32(n-1))
		return k, k, 0
	}
	x = math.Min(math.Max(x, 0), float64(n-1))
	k := int(x)
	if k >= n-1 {
		if n == 1 {
			return 0, 0, 0
		}
		k = n - 2
	}
	return int32(k), int32(k + 1), float32(x - float64(k))
}

// worker holds one goroutine's reusable buffers.
type worker struct {
	planes   [2][]float32
	planeK   [2]int
	xi0, xi1 []int32
	xf       []float32
	yj0, yj1 []int32
	yf       []float32
}

func newWorker(p *plan) *worker {
	nxo, nyo := p.out.Dims[0], p.out.Dims[1]
	w := &worker{planeK: [2]int{-1, -1}}
	for s := range w.planes {
		w.planes[s] = make([]float32, nxo*nyo)
	}
	w.xi0, w.xi1, w.xf = make([]int32, nxo), make([]int32, nxo), make([]float32, nxo)
	w.yj0, w.yj1, w.yf = make([]int32, nyo), make([]int32, nyo), make([]float32, nyo)
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
	// General (non-orthogonal in-plane axes): i and j depend on both a and b.
	for b := 0; b < nyo; b++ {
		row := dst[b*nxo : (b+1)*nxo]
		bi := p.ci[t] + float64(b)*p.dib
		bj := p.cj[t] + float64(b)*p.djb
		for a := range row {
			i0, i1, fx := locate(bi+float64(a)*p.dia, nx, nearest)
			j0, j1, fy := locate(bj+float64(a)*p.dja, ny, nearest)
			if i0 < 0 || j0 < 0 {
				row[a] = fill
				continue
			}
			r0 := sl[int(j0)*nx:]
			r1 := sl[int(j1)*nx:]
			v00, v10 := float32(r0[i0]), float32(r0[i1])
			v01, v11 := float32(r1[i0]), float32(r1[i1])
			top := v00 + fx*(v10-v00)
			bot := v01 + fx*(v11-v01)
			row[a] = top + fy*(bot-top)
		}
	}
	return dst
}

// run resamples src through plan p into out (already sized), slice-parallel.
func run[T volume.Voxel](p *plan, src []T, out []T, nearest bool, fill float32) {
	nxo, nyo, nzo := p.out.Dims[0], p.out.Dims[1], p.out.Dims[2]
	plen := nxo * nyo
	workers := runtime.GOMAXPROCS(0)
	chunk := max(1, nzo/(4*workers))
	var next atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWorker(p)
			for {
				c0 := int(next.Add(int64(chunk))) - chunk
				if c0 >= nzo {
					return
				}
				for c := c0; c < min(c0+chunk, nzo); c++ {
					o := out[c*plen : (c+1)*plen]
					t0, t1, wt, ok := p.bracket(c)
					if !ok {
						fillSlice(o, fill)
						continue
					}
					if nearest {
						t := t0
						if wt >= 0.5 {
							t = t1
						}
						pl := plane(w, p, src, t, -1, true, fill)
						convert(o, pl)
						continue
					}
					if wt == 0 || t0 == t1 {
						convert(o, plane(w, p, src, t0, -1, false, fill))
						continue
					}
					if wt == 1 {
						convert(o, plane(w, p, src, t1, -1, false, fill))
						continue
					}
					p0 := plane(w, p, src, t0, t1, false, fill)
					p1 := plane(w, p, src, t1, t0, false, fill)
					blend(o, p0, p1, float32(wt))
				}
			}
		}()
	}
	wg.Wait()
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

func prepare[T volume.Voxel](src *volume.Volume[T], positions []volume.Vec3, spacing volume.Vec3, dst *volume.Volume[T]) (*plan, *volume.Volume[T], error) {
	if src == nil {
		return nil, nil, fmt.Errorf("resample: %w: nil source volume", volume.ErrGeometry)
	}
	if err := src.Check(); err != nil {
		return nil, nil, fmt.Errorf("resample: source: %w", err)
	}
	p, err := newPlan(src.Grid, positions, spacing)
	if err != nil {
		return nil, nil, err
	}
	n := p.out.Len()
	if dst != nil && cap(dst.Data) >= n {
		dst.Data = dst.Data[:n]
		dst.Grid = p.out
	} else {
		dst = volume.New[T](p.out)
	}
	return p, dst, nil
}

// Stack resamples a slice stack of Hounsfield units by trilinear
// interpolation onto the orthogonal grid OutputGrid(src.Grid, positions,
// spacing) (spacing in mm along e0, e1, e2; see the package comment).
// positions[k] is slice k's ImagePositionPatient in LPS mm (nil = the regular
// grid of src). Output voxels outside the stack are AirHU; values round to
// the nearest integer. dst is reused when its capacity suffices (it may be
// nil); the result is returned. Runs on all cores.
func Stack(src *volume.Volume[int16], positions []volume.Vec3, spacing volume.Vec3, dst *volume.Volume[int16]) (*volume.Volume[int16], error) {
	p, dst, err := prepare(src, positions, spacing, dst)
	if err != nil {
		return nil, err
	}
	run(p, src.Data, dst.Data, false, AirHU)
	return dst, nil
}

// StackFloat32 is Stack for float32 volumes (values in whatever unit the
// source holds); voxels outside the stack are set to outside.
func StackFloat32(src *volume.Volume[float32], positions []volume.Vec3, spacing volume.Vec3, outside float32, dst *volume.Volume[float32]) (*volume.Volume[float32], error) {
	p, dst, err := prepare(src, positions, spacing, dst)
	if err != nil {
		return nil, err
	}
	run(p, src.Data, dst.Data, false, outside)
	return dst, nil
}

// Mask resamples a uint8 label volume (a mask) by nearest neighbour onto the
// same grid Stack would produce for these arguments: the nearest slice along
// the normal, then the nearest voxel in that slice's plane. Outside the stack
// the output is 0. dst is reused when its capacity suffices.
func Mask(src *volume.Volume[uint8], positions []volume.Vec3, spacing volume.Vec3, dst *volume.Volume[uint8]) (*volume.Volume[uint8], error) {
	p, dst, err := prepare(src, positions, spacing, dst)
	if err != nil {
		return nil, err
	}
	run(p, src.Data, dst.Data, true, 0)
	return dst, nil
}
