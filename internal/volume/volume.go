// Package volume defines the one image type shared by every lungctl stage: a
// 3-D scalar grid placed in DICOM patient (LPS) world coordinates.
//
// Conventions, relied on by every package:
//   - World coordinates are DICOM/ITK LPS millimetres (+x towards the patient's
//     left, +y towards posterior, +z towards head), the frame LUNA16's
//     coordX/Y/Z use. NIfTI's RAS frame exists only inside the NIfTI codec.
//   - Voxel indices (i, j, k) are continuous grid coordinates: integer values
//     are voxel centres, so voxel (0,0,0)'s centre is exactly Origin.
//   - Voxels are stored x (i) fastest, then y (j), then z (k):
//     Data[i + Nx*(j + Ny*k)], as NIfTI stores them.
//
// # Buffer reuse
//
// The one rule for every package ("the buffer-reuse rule" in their docs): a
// function or method that takes a dst (an output volume or slice) or a
// workspace reuses its memory when the capacity suffices and allocates anew
// otherwise. A nil dst or a zero workspace is valid and only allocates. The
// result is returned and may alias dst; dst's old contents are irrelevant
// unless the function says otherwise. A dst or workspace belongs to one
// goroutine at a time: run parallel work with one workspace per goroutine.
// Resize and Reuse implement the rule; an allocation that depends on the
// input is checked against the memory budget (internal/membudget) by the
// caller before it is made.
package volume

import (
	"errors"
	"fmt"
	"math"
)

// Voxel is the set of element types a Volume may hold: uint8 for masks, int16
// for Hounsfield units, float32 for derived features.
type Voxel interface {
	~uint8 | ~int16 | ~float32
}

// Vec3 is a 3-vector: a world point or direction in LPS mm, or a continuous
// voxel index (i, j, k), depending on context; each use says which.
type Vec3 [3]float64

// Grid is the geometry of a volume: how many voxels, how far apart, and where
// they sit in LPS world space.
type Grid struct {
	// Dims is the number of voxels along i, j, k (x, y, z in memory order).
	Dims [3]int
	// Spacing is the distance in mm between neighbouring voxel centres along
	// i, j, k.
	Spacing Vec3
	// Origin is the LPS world position in mm of the centre of voxel (0,0,0).
	Origin Vec3
	// Direction holds, as columns, the unit LPS direction of the i, j and k
	// axes: Direction[r][c] is world component r of axis c. For an axial
	// DICOM series column 0 is ImageOrientationPatient's row direction,
	// column 1 its column direction and column 2 the slice normal, oriented
	// towards increasing slice position. It need not be orthogonal (a gantry
	// tilt that was not resampled leaves a sheared grid).
	Direction [3][3]float64
}

// Identity is the 3×3 identity direction matrix (axes aligned with LPS).
var Identity = [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}

// ErrGeometry reports a grid whose spacing, dims or direction cannot describe
// a volume (zero or negative spacing, singular direction, and so on).
var ErrGeometry = errors.New("invalid volume geometry")

// Len is the number of voxels, Nx*Ny*Nz.
func (g Grid) Len() int { return g.Dims[0] * g.Dims[1] * g.Dims[2] }

// Index is the linear offset into Data of integer voxel (i, j, k). It does
// not check bounds; use In first when the index may lie outside.
func (g Grid) Index(i, j, k int) int { return i + g.Dims[0]*(j+g.Dims[1]*k) }

// In reports whether integer voxel (i, j, k) lies inside the grid.
func (g Grid) In(i, j, k int) bool {
	return i >= 0 && j >= 0 && k >= 0 && i < g.Dims[0] && j < g.Dims[1] && k < g.Dims[2]
}

// Validate reports ErrGeometry (wrapped, with the reason) when the grid is
// unusable: non-positive dims or spacing, non-finite values, or a direction
// matrix that is singular or has non-unit columns.
func (g Grid) Validate() error {
	for a := 0; a < 3; a++ {
		if g.Dims[a] <= 0 {
			return fmt.Errorf("%w: dims %v", ErrGeometry, g.Dims)
		}
		if !(g.Spacing[a] > 0) || math.IsInf(g.Spacing[a], 0) {
			return fmt.Errorf("%w: spacing %v mm", ErrGeometry, g.Spacing)
		}
		if math.IsNaN(g.Origin[a]) || math.IsInf(g.Origin[a], 0) {
			return fmt.Errorf("%w: origin %v mm", ErrGeometry, g.Origin)
		}
		var n float64
		for r := 0; r < 3; r++ {
			n += g.Direction[r][a] * g.Direction[r][a]
		}
		if math.Abs(n-1) > 1e-3 {
			return fmt.Errorf("%w: direction column %d has length %.4f, want 1", ErrGeometry, a, math.Sqrt(n))
		}
	}
	if d := det3(g.Direction); math.Abs(d) < 1e-6 || math.IsNaN(d) {
		return fmt.Errorf("%w: direction matrix is singular", ErrGeometry)
	}
	return nil
}

// IndexToWorld maps a continuous voxel index (i, j, k) to LPS world mm:
// Origin + Direction · (Spacing ⊙ idx).
func (g Grid) IndexToWorld(idx Vec3) Vec3 {
	s := Vec3{idx[0] * g.Spacing[0], idx[1] * g.Spacing[1], idx[2] * g.Spacing[2]}
	var w Vec3
	for r := 0; r < 3; r++ {
		w[r] = g.Origin[r] + g.Direction[r][0]*s[0] + g.Direction[r][1]*s[1] + g.Direction[r][2]*s[2]
	}
	return w
}

// WorldToIndex maps an LPS world point in mm to a continuous voxel index; it
// inverts IndexToWorld. The result may lie outside the grid.
func (g Grid) WorldToIndex(p Vec3) Vec3 {
	inv := inverse3(g.Direction)
	d := Vec3{p[0] - g.Origin[0], p[1] - g.Origin[1], p[2] - g.Origin[2]}
	var idx Vec3
	for r := 0; r < 3; r++ {
		idx[r] = (inv[r][0]*d[0] + inv[r][1]*d[1] + inv[r][2]*d[2]) / g.Spacing[r]
	}
	return idx
}

// Covers reports whether the LPS point w (mm) lies within the volume:
// at most half a voxel beyond its outermost voxel centres along each grid
// axis. It is false for a point with a NaN coordinate.
func (g Grid) Covers(w Vec3) bool {
	ix := g.WorldToIndex(w)
	for a := 0; a < 3; a++ {
		if !(ix[a] >= -0.5 && ix[a] <= float64(g.Dims[a])-0.5) {
			return false
		}
	}
	return true
}

// Extent returns the LPS bounding box (mm) of the volume's voxels, half
// a voxel beyond the outermost centres: the lower and upper corner, per
// world axis (for a grid along the axes, what Covers accepts).
func (g Grid) Extent() (lo, hi Vec3) {
	a := g.IndexToWorld(Vec3{-0.5, -0.5, -0.5})
	b := g.IndexToWorld(Vec3{float64(g.Dims[0]) - 0.5, float64(g.Dims[1]) - 0.5, float64(g.Dims[2]) - 0.5})
	for i := 0; i < 3; i++ {
		lo[i], hi[i] = math.Min(a[i], b[i]), math.Max(a[i], b[i])
	}
	return lo, hi
}

// ExtentText writes Extent for messages: "x a…b, y c…d, z e…f mm".
func (g Grid) ExtentText() string {
	lo, hi := g.Extent()
	return fmt.Sprintf("x %.1f…%.1f, y %.1f…%.1f, z %.1f…%.1f mm", lo[0], hi[0], lo[1], hi[1], lo[2], hi[2])
}

// Affine is the 4×4 matrix taking homogeneous voxel index (i, j, k, 1) to LPS
// world mm, the same map as IndexToWorld.
func (g Grid) Affine() [4][4]float64 {
	var m [4][4]float64
	for r := 0; r < 3; r++ {
		for c := 0; c < 3; c++ {
			m[r][c] = g.Direction[r][c] * g.Spacing[c]
		}
		m[r][3] = g.Origin[r]
	}
	m[3][3] = 1
	return m
}

// Volume is a 3-D image: a Grid and its voxels, x fastest (see the package
// comment). uint8 volumes are masks (0 outside, 1 inside), int16 volumes are
// Hounsfield units, float32 volumes hold derived quantities whose unit the
// producer documents.
type Volume[T Voxel] struct {
	Grid
	// Data has exactly Grid.Len() elements, Data[i + Nx*(j + Ny*k)].
	Data []T
}

// New returns a zero-filled volume on grid g.
func New[T Voxel](g Grid) *Volume[T] {
	return &Volume[T]{Grid: g, Data: make([]T, g.Len())}
}

// At returns voxel (i, j, k); it panics when the index is outside, like a
// slice access: callers check In for indices that come from user input.
func (v *Volume[T]) At(i, j, k int) T { return v.Data[v.Index(i, j, k)] }

// Set stores x at voxel (i, j, k).
func (v *Volume[T]) Set(i, j, k int, x T) { v.Data[v.Index(i, j, k)] = x }

// Check validates the grid and that Data has Grid.Len() elements.
func (v *Volume[T]) Check() error {
	if err := v.Grid.Validate(); err != nil {
		return err
	}
	if len(v.Data) != v.Len() {
		return fmt.Errorf("%w: %d voxels for dims %v", ErrGeometry, len(v.Data), v.Dims)
	}
	return nil
}

func det3(m [3][3]float64) float64 {
	return m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) -
		m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) +
		m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
}

// inverse3 inverts a 3×3 matrix by its adjugate. Callers validate the grid,
// so a singular matrix yields NaNs rather than a panic.
func inverse3(m [3][3]float64) [3][3]float64 {
	d := det3(m)
	var r [3][3]float64
	r[0][0] = (m[1][1]*m[2][2] - m[1][2]*m[2][1]) / d
	r[0][1] = (m[0][2]*m[2][1] - m[0][1]*m[2][2]) / d
	r[0][2] = (m[0][1]*m[1][2] - m[0][2]*m[1][1]) / d
	r[1][0] = (m[1][2]*m[2][0] - m[1][0]*m[2][2]) / d
	r[1][1] = (m[0][0]*m[2][2] - m[0][2]*m[2][0]) / d
	r[1][2] = (m[0][2]*m[1][0] - m[0][0]*m[1][2]) / d
	r[2][0] = (m[1][0]*m[2][1] - m[1][1]*m[2][0]) / d
	r[2][1] = (m[0][1]*m[2][0] - m[0][0]*m[2][1]) / d
	r[2][2] = (m[0][0]*m[1][1] - m[0][1]*m[1][0]) / d
	return r
}

// Inverse3 returns the inverse of a 3×3 matrix (NaNs when it is singular).
func Inverse3(m [3][3]float64) [3][3]float64 { return inverse3(m) }

// Trilinear samples v at the continuous voxel index idx (see WorldToIndex)
// by trilinear interpolation. Neighbours outside the grid read as outside,
// so values fade to outside over the half voxel beyond the edge centres;
// indices further out, or NaN, return outside itself.
func (v *Volume[T]) Trilinear(idx Vec3, outside float64) float64 {
	nx, ny, nz := v.Dims[0], v.Dims[1], v.Dims[2]
	x, y, z := idx[0], idx[1], idx[2]
	if !(x > -1 && y > -1 && z > -1 && x < float64(nx) && y < float64(ny) && z < float64(nz)) {
		return outside
	}
	x0, y0, z0 := math.Floor(x), math.Floor(y), math.Floor(z)
	fx, fy, fz := x-x0, y-y0, z-z0
	i, j, k := int(x0), int(y0), int(z0)
	d := v.Data
	var c000, c100, c010, c110, c001, c101, c011, c111 float64
	if i >= 0 && j >= 0 && k >= 0 && i+1 < nx && j+1 < ny && k+1 < nz {
		b := i + nx*(j+ny*k)
		sy, sz := nx, nx*ny
		c000, c100 = float64(d[b]), float64(d[b+1])
		c010, c110 = float64(d[b+sy]), float64(d[b+sy+1])
		c001, c101 = float64(d[b+sz]), float64(d[b+sz+1])
		c011, c111 = float64(d[b+sz+sy]), float64(d[b+sz+sy+1])
	} else {
		at := func(i, j, k int) float64 {
			if i < 0 || j < 0 || k < 0 || i >= nx || j >= ny || k >= nz {
				return outside
			}
			return float64(d[i+nx*(j+ny*k)])
		}
		c000, c100 = at(i, j, k), at(i+1, j, k)
		c010, c110 = at(i, j+1, k), at(i+1, j+1, k)
		c001, c101 = at(i, j, k+1), at(i+1, j, k+1)
		c011, c111 = at(i, j+1, k+1), at(i+1, j+1, k+1)
	}
	c00 := c000 + (c100-c000)*fx
	c10 := c010 + (c110-c010)*fx
	c01 := c001 + (c101-c001)*fx
	c11 := c011 + (c111-c011)*fx
	c0 := c00 + (c10-c00)*fy
	c1 := c01 + (c11-c01)*fy
	return c0 + (c1-c0)*fz
}
