package nodule

import (
	"math"
	"slices"

	"github.com/lungctl/lungctl/internal/volume"
)

// Zones locates lesions in the lungs' craniocaudal extent, the proxy the
// Brock model's "upper lobe" needs when there is no lobe segmentation: a
// lesion is in the upper zone when it lies in the upper third of its own
// lung's height. The lungs are told apart by the midline, the median x (LPS
// mm) of the mask's voxels; each side's height runs from its lowest to its
// highest mask voxel (world z, mm). The upper lobe reaches lower than that
// at the back, so the proxy misses some posterior upper-lobe lesions and
// never calls a middle- or lower-lobe lesion near the base upper.
type Zones struct {
	// MidlineX is the x (LPS mm) dividing right (x < MidlineX) from left.
	MidlineX float64
	// ZMin, ZMax are each side's lowest and highest mask z (mm): index 0
	// the right lung, 1 the left.
	ZMin, ZMax [2]float64
	// Valid is false for an empty mask.
	Valid bool
}

// LungZones measures the Zones of a lung mask on an axial grid (k along the
// patient's head–foot axis).
func LungZones(lung *volume.Volume[uint8]) Zones {
	var z Zones
	if lung == nil || len(lung.Data) != lung.Len() {
		return z
	}
	nx, ny, nz := lung.Dims[0], lung.Dims[1], lung.Dims[2]
	// Median x over mask voxels, by counting per column i.
	cols := make([]int, nx)
	total := 0
	for k := 0; k < nz; k++ {
		for j := 0; j < ny; j++ {
			row := lung.Data[(k*ny+j)*nx : (k*ny+j+1)*nx]
			for i, v := range row {
				if v != 0 {
					cols[i]++
					total++
				}
			}
		}
	}
	if total == 0 {
		return z
	}
	mid, acc := 0, 0
	for i, c := range cols {
		acc += c
		if 2*acc >= total {
			mid = i
			break
		}
	}
	z.MidlineX = lung.IndexToWorld(volume.Vec3{float64(mid) + 0.5, 0, 0})[0]
	z.ZMin = [2]float64{math.Inf(1), math.Inf(1)}
	z.ZMax = [2]float64{math.Inf(-1), math.Inf(-1)}
	// Per row: the world position of voxel i is the row start plus i steps
	// along the grid's first axis (no per-voxel conversion).
	step := lung.IndexToWorld(volume.Vec3{1, 0, 0})
	o := lung.IndexToWorld(volume.Vec3{0, 0, 0})
	for a := range step {
		step[a] -= o[a]
	}
	for k := 0; k < nz; k++ {
		for j := 0; j < ny; j++ {
			row := lung.Data[(k*ny+j)*nx : (k*ny+j+1)*nx]
			w0 := lung.IndexToWorld(volume.Vec3{0, float64(j), float64(k)})
			for i, v := range row {
				if v == 0 {
					continue
				}
				x := w0[0] + float64(i)*step[0]
				zz := w0[2] + float64(i)*step[2]
				s := side(x, z.MidlineX)
				z.ZMin[s] = math.Min(z.ZMin[s], zz)
				z.ZMax[s] = math.Max(z.ZMax[s], zz)
			}
		}
	}
	for s := 0; s < 2; s++ {
		if math.IsInf(z.ZMin[s], 0) { // one lung only: both sides share it
			z.ZMin[s], z.ZMax[s] = slices.Min(z.ZMin[:]), slices.Max(z.ZMax[:])
		}
	}
	z.Valid = true
	return z
}

func side(x, mid float64) int {
	if x < mid {
		return 0
	}
	return 1
}

// Upper reports whether the LPS point p (mm) lies in the upper third of its
// lung's height.
func (z Zones) Upper(p [3]float64) bool {
	if !z.Valid {
		return false
	}
	s := side(p[0], z.MidlineX)
	h := z.ZMax[s] - z.ZMin[s]
	return p[2] >= z.ZMax[s]-h/3
}
