// Package features computes differential-geometry features of a CT volume:
// Gaussian smoothing, and at chosen voxels the gradient and Hessian of the
// smoothed intensity, the mean and Gaussian curvature of the iso-surface
// through the voxel, its principal curvatures, the volumetric shape index
// and the curvedness.
//
// Memory strategy: the HU volume is smoothed once, separably and in
// parallel, into a single float32 volume (Smooth, which can reuse the
// caller's buffer); first and second derivatives are then taken by central
// differences on that smoothed volume only at the voxels that are asked for
// (At, ShapeIndexAt). No full derivative volumes are ever held, so a
// 360×360×330 scan needs one extra float32 volume (~171 MB), not nine.
//
// Units: derivatives are per mm (the grid spacing is honoured), curvatures
// are in 1/mm, the shape index and curvedness are as documented on Curvature.
// Curvatures are invariant under rotation, so an orthonormal Grid.Direction
// does not change them; a sheared grid must be resampled first.
//
// Sign convention: the iso-surface normal is taken as −∇F/|∇F|, i.e. it
// points from bright towards dark. A BRIGHT ball (nodule) therefore has
// positive principal curvatures k1 = k2 = 1/r, H = 1/r, K = 1/r² and shape
// index 1; a bright cylinder (vessel) has k1 = 1/r, k2 = 0 and shape index
// 0.75; a plane has curvedness 0 and, by this package's convention, shape
// index 0.5 (atan2(0, 0) = 0), as does a symmetric saddle (k1 = −k2); a
// dark tube scores 0.25 and a dark ball (hole) 0.
package features

import (
	"errors"
	"fmt"
	"math"

	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

// ErrBadSigma reports a smoothing width that is not a positive finite
// number of mm.
var ErrBadSigma = errors.New("features: smoothing sigma must be a positive finite number of mm")

// parallelFor runs f(lo, hi) over [0, n) in contiguous chunks under the
// process's worker budget (internal/par) and waits.
func parallelFor(n int, f func(lo, hi int)) {
	par.Chunks(n, 1, func(_, lo, hi int) { f(lo, hi) })
}

// reuseOrNew returns dst resized to grid g by the buffer-reuse rule
// (volume.Reuse), or a new volume on g when dst has no room.
func reuseOrNew(dst *volume.Volume[float32], g volume.Grid) *volume.Volume[float32] {
	if v, ok := volume.Reuse(dst, g); ok {
		return v
	}
	return volume.New[float32](g)
}

// gaussKernel returns normalised Gaussian weights w[0..r] (w[d] for offset
// ±d) for a sigma of s voxels, truncated at ceil(3.5 s).
func gaussKernel(s float64) []float32 {
	r := int(math.Ceil(3.5 * s))
	if r < 1 {
		r = 1
	}
	w := make([]float64, r+1)
	sum := 0.0
	for d := 0; d <= r; d++ {
		w[d] = math.Exp(-0.5 * float64(d*d) / (s * s))
		if d == 0 {
			sum += w[d]
		} else {
			sum += 2 * w[d]
		}
	}
	out := make([]float32, r+1)
	for d := range w {
		out[d] = float32(w[d] / sum)
	}
	return out
}

func clampIdx(i, n int) int {
	if i < 0 {
		return 0
	}
	if i >= n {
		return n - 1
	}
	return i
}

// Smooth convolves src (HU) with a 3-D Gaussian of standard deviation
// sigmaMM millimetres along every axis (sigma in voxels = sigmaMM/Spacing per
// axis), edges replicated, and returns the result in HU as float32 on the
// same grid. dst is reused when its Data has room for the grid (pass nil to
// allocate); the returned volume is dst when it was reused. The three 1-D
// passes run in parallel over planes and use only plane-sized scratch
// buffers, so peak memory is one float32 volume.
func Smooth(dst *volume.Volume[float32], src *volume.Volume[int16], sigmaMM float64) (*volume.Volume[float32], error) {
	return smooth(dst, src, [3]float64{sigmaMM, sigmaMM, sigmaMM})
}

// SmoothInPlace convolves the float32 volume v with a 3-D Gaussian of
// standard deviation sigmaMM millimetres along every axis, as Smooth does,
// writing the result over v.
func SmoothInPlace(v *volume.Volume[float32], sigmaMM float64) error {
	_, err := smooth(v, v, [3]float64{sigmaMM, sigmaMM, sigmaMM})
	return err
}

// smooth is Smooth for an int16 or float32 source (dst may be src when both
// are float32) with one standard deviation per axis, in mm.
func smooth[T int16 | float32](dst *volume.Volume[float32], src *volume.Volume[T], sigma [3]float64) (*volume.Volume[float32], error) {
	if src == nil {
		return nil, errors.New("features: Smooth: nil source volume")
	}
	if err := src.Check(); err != nil {
		return nil, fmt.Errorf("features: Smooth: %w", err)
	}
	for _, sg := range sigma {
		if !(sg > 0) || math.IsInf(sg, 0) {
			return nil, fmt.Errorf("%w (got %g)", ErrBadSigma, sg)
		}
	}
	dst = reuseOrNew(dst, src.Grid)
	nx, ny, nz := src.Dims[0], src.Dims[1], src.Dims[2]
	kx := gaussKernel(sigma[0] / src.Spacing[0])
	ky := gaussKernel(sigma[1] / src.Spacing[1])
	kz := gaussKernel(sigma[2] / src.Spacing[2])

	// Pass 1: x, from the source into dst, row by row (through a float32
	// line, so dst may be src).
	parallelFor(ny*nz, func(lo, hi int) {
		line := make([]float32, nx)
		r := len(kx) - 1
		for row := lo; row < hi; row++ {
			in := src.Data[row*nx : (row+1)*nx]
			for i := range in {
				line[i] = float32(in[i])
			}
			out := dst.Data[row*nx : (row+1)*nx]
			for i := 0; i < nx; i++ {
				acc := kx[0] * line[i]
				if i >= r && i+r < nx {
					for d := 1; d <= r; d++ {
						acc += kx[d] * (line[i-d] + line[i+d])
					}
				} else {
					for d := 1; d <= r; d++ {
						acc += kx[d] * (line[clampIdx(i-d, nx)] + line[clampIdx(i+d, nx)])
					}
				}
				out[i] = acc
			}
		}
	})
	// Pass 2: y, in place, plane by plane (z): each output row is a weighted
	// sum of whole input rows, so the inner loop runs along contiguous x.
	parallelFor(nz, func(lo, hi int) {
		plane := make([]float32, nx*ny)
		for k := lo; k < hi; k++ {
			p := dst.Data[k*nx*ny : (k+1)*nx*ny]
			copy(plane, p)
			blurRows(p, plane, nx, ny, ky)
		}
	})
	// Pass 3: z, in place, one xz plane (fixed y) at a time.
	parallelFor(ny, func(lo, hi int) {
		plane := make([]float32, nx*nz)
		for j := lo; j < hi; j++ {
			for k := 0; k < nz; k++ {
				copy(plane[k*nx:(k+1)*nx], dst.Data[(k*ny+j)*nx:(k*ny+j+1)*nx])
			}
			r := len(kz) - 1
			for k := 0; k < nz; k++ {
				out := dst.Data[(k*ny+j)*nx : (k*ny+j+1)*nx]
				c := plane[k*nx : (k+1)*nx]
				for i := range out {
					out[i] = kz[0] * c[i]
				}
				for d := 1; d <= r; d++ {
					a := plane[clampIdx(k-d, nz)*nx:][:nx]
					b := plane[clampIdx(k+d, nz)*nx:][:nx]
					w := kz[d]
					for i := range out {
						out[i] += w * (a[i] + b[i])
					}
				}
			}
		}
	})
	return dst, nil
}

// blurRows writes into out (rows of length nx, ny rows) the 1-D convolution
// across rows of in with symmetric kernel w, edges replicated.
func blurRows(out, in []float32, nx, ny int, w []float32) {
	r := len(w) - 1
	for j := 0; j < ny; j++ {
		o := out[j*nx : (j+1)*nx]
		c := in[j*nx : (j+1)*nx]
		for i := range o {
			o[i] = w[0] * c[i]
		}
		for d := 1; d <= r; d++ {
			a := in[clampIdx(j-d, ny)*nx:][:nx]
			b := in[clampIdx(j+d, ny)*nx:][:nx]
			wd := w[d]
			for i := range o {
				o[i] += wd * (a[i] + b[i])
			}
		}
	}
}

// Curvature holds the local differential geometry at one voxel of a smoothed
// volume. Gradient components are HU/mm, Hessian HU/mm², curvatures 1/mm,
// all along the grid's i, j, k axes.
type Curvature struct {
	// Grad is the gradient (∂F/∂i, ∂F/∂j, ∂F/∂k) in HU/mm.
	Grad [3]float64
	// GradMag is |∇F| in HU/mm.
	GradMag float64
	// H is the mean curvature of the iso-surface in 1/mm, positive for a
	// bright convex blob (normal −∇F/|∇F|).
	H float64
	// K is the Gaussian curvature of the iso-surface in 1/mm².
	K float64
	// K1 ≥ K2 are the principal curvatures in 1/mm: H ± √max(H²−K, 0).
	K1, K2 float64
	// SI is the volumetric shape index in [0, 1]: 1 bright cap (ball), 0.75
	// bright ridge (cylinder), 0.5 saddle or plane, 0.25 dark rut, 0 cup.
	SI float64
	// C is the curvedness √((k1²+k2²)/2) in 1/mm.
	C float64
}

// ShapeIndex maps principal curvatures k1 ≥ k2 (1/mm, positive = bright
// convex) to the shape index in [0, 1]: 1/2 + (1/π)·atan2(k1+k2, k1−k2).
// This is Koenderink's index rescaled to [0,1] with 1 for a bright spherical
// cap; for a plane (k1 = k2 = 0) it returns 0.5.
func ShapeIndex(k1, k2 float64) float64 {
	if k1 < k2 {
		k1, k2 = k2, k1
	}
	return 0.5 + math.Atan2(k1+k2, k1-k2)/math.Pi
}

// Curvedness is √((k1²+k2²)/2) in 1/mm for principal curvatures in 1/mm.
func Curvedness(k1, k2 float64) float64 { return math.Sqrt((k1*k1 + k2*k2) / 2) }

// FromDerivatives computes the iso-surface curvatures from the gradient g
// (HU/mm) and the symmetric Hessian given as hxx, hyy, hzz, hxy, hxz, hyz
// (HU/mm²), using the implicit-surface formulas
// K = ∇F·adj(Hess)·∇Fᵀ/|∇F|⁴ and H = (∇F·Hess·∇Fᵀ − |∇F|² tr Hess)/(2|∇F|³).
// A zero gradient gives zero curvatures and SI 0.5.
func FromDerivatives(g [3]float64, hxx, hyy, hzz, hxy, hxz, hyz float64) Curvature {
	gx, gy, gz := g[0], g[1], g[2]
	g2 := gx*gx + gy*gy + gz*gz
	c := Curvature{Grad: g, GradMag: math.Sqrt(g2)}
	if g2 < 1e-12 {
		c.SI = 0.5
		return c
	}
	gHg := gx*gx*hxx + gy*gy*hyy + gz*gz*hzz + 2*(gx*gy*hxy+gx*gz*hxz+gy*gz*hyz)
	tr := hxx + hyy + hzz
	c.H = (gHg - g2*tr) / (2 * g2 * c.GradMag)
	gAg := gx*gx*(hyy*hzz-hyz*hyz) + gy*gy*(hxx*hzz-hxz*hxz) + gz*gz*(hxx*hyy-hxy*hxy) +
		2*gx*gy*(hxz*hyz-hxy*hzz) + 2*gx*gz*(hxy*hyz-hxz*hyy) + 2*gy*gz*(hxy*hxz-hxx*hyz)
	c.K = gAg / (g2 * g2)
	disc := math.Sqrt(math.Max(c.H*c.H-c.K, 0))
	c.K1, c.K2 = c.H+disc, c.H-disc
	c.SI = ShapeIndex(c.K1, c.K2)
	c.C = Curvedness(c.K1, c.K2)
	return c
}

// At returns the curvature of the iso-surface through integer voxel
// (i, j, k) of the smoothed volume s, from central differences (first and
// second, with the grid spacing in mm). Indices on the border are clamped
// one voxel inwards; indices outside the grid are clamped too.
func At(s *volume.Volume[float32], i, j, k int) Curvature {
	g, h := Derivatives(s, i, j, k)
	return FromDerivatives(g, h[0], h[1], h[2], h[3], h[4], h[5])
}

// Derivatives returns the gradient g (HU/mm) and the Hessian h = (hxx, hyy,
// hzz, hxy, hxz, hyz) (HU/mm²) of the smoothed volume s at integer voxel
// (i, j, k) by central differences along the grid axes, with the same
// border clamping as At.
func Derivatives(s *volume.Volume[float32], i, j, k int) (g [3]float64, h [6]float64) {
	nx, ny, nz := s.Dims[0], s.Dims[1], s.Dims[2]
	i = clampInner(i, nx)
	j = clampInner(j, ny)
	k = clampInner(k, nz)
	sx, sy := 1, nx
	sz := nx * ny
	if nx < 3 {
		sx = 0
	}
	if ny < 3 {
		sy = 0
	}
	if nz < 3 {
		sz = 0
	}
	p := i + nx*(j+ny*k)
	d := s.Data
	f := func(o int) float64 { return float64(d[p+o]) }
	hx, hy, hz := s.Spacing[0], s.Spacing[1], s.Spacing[2]
	c0 := f(0)
	g[0] = (f(sx) - f(-sx)) / (2 * hx)
	g[1] = (f(sy) - f(-sy)) / (2 * hy)
	g[2] = (f(sz) - f(-sz)) / (2 * hz)
	h[0] = (f(sx) - 2*c0 + f(-sx)) / (hx * hx)
	h[1] = (f(sy) - 2*c0 + f(-sy)) / (hy * hy)
	h[2] = (f(sz) - 2*c0 + f(-sz)) / (hz * hz)
	h[3] = (f(sx+sy) - f(sx-sy) - f(-sx+sy) + f(-sx-sy)) / (4 * hx * hy)
	h[4] = (f(sx+sz) - f(sx-sz) - f(-sx+sz) + f(-sx-sz)) / (4 * hx * hz)
	h[5] = (f(sy+sz) - f(sy-sz) - f(-sy+sz) + f(-sy-sz)) / (4 * hy * hz)
	return g, h
}

// Laplacian returns the Laplacian ∇²F (HU/mm²) of the smoothed volume s at
// integer voxel (i, j, k) by the 7-point stencil, with At's clamping.
func Laplacian(s *volume.Volume[float32], i, j, k int) float64 {
	nx, ny, nz := s.Dims[0], s.Dims[1], s.Dims[2]
	i = clampInner(i, nx)
	j = clampInner(j, ny)
	k = clampInner(k, nz)
	p := i + nx*(j+ny*k)
	d := s.Data
	c2 := 2 * float64(d[p])
	var l float64
	if nx >= 3 {
		l += (float64(d[p+1]) + float64(d[p-1]) - c2) / (s.Spacing[0] * s.Spacing[0])
	}
	if ny >= 3 {
		l += (float64(d[p+nx]) + float64(d[p-nx]) - c2) / (s.Spacing[1] * s.Spacing[1])
	}
	if nz >= 3 {
		l += (float64(d[p+nx*ny]) + float64(d[p-nx*ny]) - c2) / (s.Spacing[2] * s.Spacing[2])
	}
	return l
}

func clampInner(i, n int) int {
	if n < 3 {
		return clampIdx(i, n)
	}
	if i < 1 {
		return 1
	}
	if i > n-2 {
		return n - 2
	}
	return i
}

// ShapeIndexAt computes, in parallel, the shape index (into si) and the
// curvedness in 1/mm (into curv, may be nil) at the voxels whose linear
// indices (i + Nx*(j + Ny*k)) are listed in idx, on the smoothed volume s.
// si (and curv when given) must have len(idx) elements.
func ShapeIndexAt(s *volume.Volume[float32], idx []int32, si, curv []float32) error {
	if len(si) != len(idx) || (curv != nil && len(curv) != len(idx)) {
		return fmt.Errorf("features: ShapeIndexAt: %d indices but %d/%d outputs", len(idx), len(si), len(curv))
	}
	n := int32(s.Len())
	for _, p := range idx {
		if p < 0 || p >= n {
			return fmt.Errorf("features: ShapeIndexAt: voxel index %d outside the %v grid", p, s.Dims)
		}
	}
	nx, ny := s.Dims[0], s.Dims[1]
	parallelFor(len(idx), func(lo, hi int) {
		for q := lo; q < hi; q++ {
			p := int(idx[q])
			i := p % nx
			j := (p / nx) % ny
			k := p / (nx * ny)
			c := At(s, i, j, k)
			si[q] = float32(c.SI)
			if curv != nil {
				curv[q] = float32(c.C)
			}
		}
	})
	return nil
}

// Eigen3 returns the eigenvalues, ascending, of the symmetric 3×3 matrix
// given as (xx, yy, zz, xy, xz, yz) (Smith's closed form).
func Eigen3(h [6]float64) [3]float64 {
	a, b, c, d, e, f := h[0], h[1], h[2], h[3], h[4], h[5]
	p1 := d*d + e*e + f*f
	if p1 == 0 {
		ev := [3]float64{a, b, c}
		sortThree(&ev)
		return ev
	}
	q := (a + b + c) / 3
	p2 := (a-q)*(a-q) + (b-q)*(b-q) + (c-q)*(c-q) + 2*p1
	p := math.Sqrt(p2 / 6)
	// B = (A − qI)/p; r = det(B)/2
	ba, bb, bc := (a-q)/p, (b-q)/p, (c-q)/p
	bd, be, bf := d/p, e/p, f/p
	r := (ba*(bb*bc-bf*bf) - bd*(bd*bc-bf*be) + be*(bd*bf-bb*be)) / 2
	var phi float64
	switch {
	case r <= -1:
		phi = math.Pi / 3
	case r >= 1:
		phi = 0
	default:
		phi = math.Acos(r) / 3
	}
	e1 := q + 2*p*math.Cos(phi)
	e3 := q + 2*p*math.Cos(phi+2*math.Pi/3)
	e2 := 3*q - e1 - e3
	ev := [3]float64{e1, e2, e3}
	sortThree(&ev)
	return ev
}

func sortThree(v *[3]float64) {
	if v[0] > v[1] {
		v[0], v[1] = v[1], v[0]
	}
	if v[1] > v[2] {
		v[1], v[2] = v[2], v[1]
	}
	if v[0] > v[1] {
		v[0], v[1] = v[1], v[0]
	}
}

// BrightBlob reports whether the Hessian h (HU/mm², as Derivatives gives
// it) is that of a bright blob's top: negative definite, with the weakest
// curvature at least ratio times the strongest (a tube's axis has about
// none, a ball's three are equal). It is the blob test where the gradient,
// and so the shape index, vanishes: at the centre of a lesion at its own
// scale.
func BrightBlob(h [6]float64, ratio float64) bool {
	ev := Eigen3(h)
	return ev[2] < 0 && ev[2] <= ratio*ev[0]
}
