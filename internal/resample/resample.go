// Package resample puts a CT slice stack, or any 3-D volume, onto the
// world-aligned grid of chosen spacing (typically 1 mm isotropic), using
// each slice's true position.
//
// The output grid (the rule lives in OutputGrid, and nowhere else). For a
// source and a spacing σ (mm, per LPS axis):
//
//   - its axes are the LPS x, y and z axes (Direction is the identity),
//     whatever the source's voxel order, orientation, obliquity or tilt;
//   - along each axis a, lo_a and hi_a are the least and greatest world
//     coordinate (mm) of any source voxel centre; the first output index is
//     F_a = floor(lo_a/σ_a + 0.001) and the last L_a = ceil(hi_a/σ_a −
//     0.001), so Origin_a = F_a·σ_a (a whole multiple of the spacing, in
//     world mm) and Dims_a = L_a − F_a + 1. The 0.001-voxel tolerance
//     (1 µm at 1 mm) absorbs the rounding of positions in other formats
//     (NIfTI's float32 affine, a text header), so the same scan gives the
//     same grid from DICOM, MetaImage and NIfTI in any voxel order;
//   - the grid thereby covers every source voxel centre, and two scans (or
//     two files of one scan) on the same spacing share voxel centres.
//
// Sampling. Source slice k's voxel (i, j) lies at the LPS world point
//
//	P_k + i·s0·u + j·s1·v            (mm)
//
// where u and v are the source Grid.Direction columns 0 and 1 (the DICOM
// ImageOrientationPatient row and column directions), s0 and s1 the in-plane
// spacing (mm) and P_k the slice's ImagePositionPatient (positions[k], or
// src.IndexToWorld(0,0,k) when positions is nil). Slices may be unevenly
// spaced and sheared (gantry tilt): nothing assumes P_k lies on a line along
// the slice normal n = u × v. An output voxel at world point q has slice
// coordinate n·q; the two source slices whose n·P_k bracket it are sampled
// bilinearly at q projected onto their own planes (which corrects tilt shear
// exactly), and the two values are blended linearly along n. A linear
// function of world position is therefore reproduced exactly, whatever the
// slice gaps, shear, obliquity or voxel order. A source voxel covers half
// its spacing around its centre: output points within that half voxel of
// the outermost centres take the edge value (as ITK's interpolators do);
// points further out are the fill value (AirHU for Stack).
//
// When the slice normal is the z axis (within 10⁻⁵ rad: axial scans, in any
// in-plane voxel order, gantry tilt included) every output slice lies in one
// source slice interval, and each source slice is resampled in-plane once
// per output slice pair (the fast path); other orientations are sampled
// voxel by voxel.
package resample

import (
	"errors"
	"fmt"

	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/volume"
)

// AirHU is the value, in Hounsfield units, that Stack writes where an output
// voxel lies outside the source stack.
const AirHU = -1000

// MaxVoxels bounds the number of output voxels a call may create, so that a
// tiny spacing from user input fails cleanly instead of exhausting memory
// (the memory budget, internal/membudget, is checked as well).
const MaxVoxels = 1 << 30

// snapTol is the tolerance, in output voxels, of the grid rule's floor and
// ceil (see the package comment).
const snapTol = 1e-3

// axialTol: a slice normal within this of ±z (1 − |n_z|, i.e. an angle
// under about 1.4·10⁻⁵ rad) takes the fast path.
const axialTol = 1e-10

// ErrPositions reports slice positions that cannot describe the stack: a
// count different from the number of slices, non-finite values, or two
// slices at the same position along the slice normal.
var ErrPositions = errors.New("resample: bad slice positions")

// eps is the tolerance (in voxel index units, or mm along the normal) under
// which a sample point just outside a source voxel's half-voxel extent is
// taken as on it.
const eps = 1e-6

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
	if v, ok := volume.Reuse(dst, p.out); ok {
		return p, v, nil
	}
	var z T
	what := fmt.Sprintf("resample: output grid %d×%d×%d at %v mm", p.out.Dims[0], p.out.Dims[1], p.out.Dims[2], spacing)
	if err := membudget.Check(what, membudget.Mul(int64(n), int64(sizeOf(z)))); err != nil {
		return nil, nil, err
	}
	return p, volume.New[T](p.out), nil
}

func sizeOf(z any) int {
	switch z.(type) {
	case int16:
		return 2
	case float32:
		return 4
	}
	return 1
}

// Stack resamples a slice stack of Hounsfield units by trilinear
// interpolation onto the world-aligned grid OutputGrid(src.Grid, positions,
// spacing) (spacing in mm along LPS x, y, z; see the package comment).
// positions[k] is slice k's ImagePositionPatient in LPS mm (nil = the regular
// grid of src). Output voxels outside the stack are AirHU; values round to
// the nearest integer. dst follows the buffer-reuse rule (package volume;
// it may be nil); a new volume is checked against the memory budget. The
// result is returned. Runs in parallel under internal/par's budget.
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
// the output is 0. dst follows the buffer-reuse rule (package volume).
func Mask(src *volume.Volume[uint8], positions []volume.Vec3, spacing volume.Vec3, dst *volume.Volume[uint8]) (*volume.Volume[uint8], error) {
	p, dst, err := prepare(src, positions, spacing, dst)
	if err != nil {
		return nil, err
	}
	run(p, src.Data, dst.Data, true, 0)
	return dst, nil
}
