package nodule

import (
	"math"

	"github.com/lungctl/lungctl/internal/volume"
)

// boxInfo is the analysis box.
type boxInfo struct {
	grid    volume.Grid
	lo      [3]int
	n       [3]int
	seed    volume.Vec3 // continuous box index of the seed
	thresh  float32
	cap     float64 // the region's reach from the seed, mm
	t0      float64 // the threshold before the ground-glass switch moved it (HU)
	coreMed float64 // the median smoothed HU within coreRadius of the seed
	coreCap float64 // the threshold's cap on the core's density (HU, CoreCapHU by default)
	body    [2]int  // the body's first and last box index, while measure runs
	// thin is whether the acquisition's slices are thin enough for
	// cutVessels (vesselCutMaxSliceMM).
	thin bool
}

func (b *boxInfo) len() int { return b.n[0] * b.n[1] * b.n[2] }

// ballBox returns the box's voxel index range (inclusive, per axis) that
// holds every voxel within r mm of the seed (distMM ≤ r), with a voxel to
// spare for rounding.
func (b *boxInfo) ballBox(r float64) (lo, hi [3]int) {
	for a := range lo {
		h := r / b.grid.Spacing[a]
		lo[a] = max(int(math.Floor(b.seed[a]-h))-1, 0)
		hi[a] = min(int(math.Ceil(b.seed[a]+h))+1, b.n[a]-1)
	}
	return lo, hi
}

// distMM is the distance in mm from voxel (i, j, k) of the box to the seed.
func (b *boxInfo) distMM(i, j, k int) float64 { return b.distFrom(b.seed, i, j, k) }

// distFrom is the distance in mm from voxel (i, j, k) of the box to the
// point at (box voxel coordinates).
func (b *boxInfo) distFrom(at volume.Vec3, i, j, k int) float64 {
	dx := (float64(i) - at[0]) * b.grid.Spacing[0]
	dy := (float64(j) - at[1]) * b.grid.Spacing[1]
	dz := (float64(k) - at[2]) * b.grid.Spacing[2]
	return math.Sqrt(dx*dx + dy*dy + dz*dz)
}
