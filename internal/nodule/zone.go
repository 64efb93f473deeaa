package nodule

import (
	"math"
	"slices"

	"github.com/lungctl/lungctl/internal/par"
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
	// Median x over mask voxels, by counting per column i (each worker
	// its own counts over whole slices; summed after, exactly).
	per := make([][]int, par.Limit())
	par.Chunks(nz, 8, func(w, k0, k1 int) {
		if per[w] == nil {
			per[w] = make([]int, nx)
		}
		cw := per[w]
		for k := k0; k < k1; k++ {
			for j := 0; j < ny; j++ {
				row := lung.Data[(k*ny+j)*nx : (k*ny+j+1)*nx]
				for i, v := range row {
					if v != 0 {
						cw[i]++
					}
				}
			}
		}
	})
	cols := make([]int, nx)
	total := 0
	for _, cw := range per {
		for i, c := range cw {
			cols[i] += c
			total += c
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
	z.ZMin, z.ZMax = sideExtremes(lung, z.MidlineX, rowsAlongX(lung))
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

// rowsAlongX reports whether lung's rows run along +x at one z, as on
// lungctl's axial grids (sideExtremes' fast path).
func rowsAlongX(lung *volume.Volume[uint8]) bool {
	step := lung.IndexToWorld(volume.Vec3{1, 0, 0})
	o := lung.IndexToWorld(volume.Vec3{0, 0, 0})
	return step[2]-o[2] == 0 && step[0]-o[0] > 0
}

// sideExtremes returns the lowest and highest z (LPS mm) of lung's mask
// voxels on each side of the midline mid (x, mm; side 0 below it), ±Inf
// for a side with none. With axial (rowsAlongX) a row's z is one and its
// x grows along it, so only each row's first and last mask voxels are
// read; the result is the same.
func sideExtremes(lung *volume.Volume[uint8], mid float64, axial bool) (lo, hi [2]float64) {
	nx, ny, nz := lung.Dims[0], lung.Dims[1], lung.Dims[2]
	lo = [2]float64{math.Inf(1), math.Inf(1)}
	hi = [2]float64{math.Inf(-1), math.Inf(-1)}
	// Per row: the world position of voxel i is the row start plus i steps
	// along the grid's first axis (no per-voxel conversion).
	step := lung.IndexToWorld(volume.Vec3{1, 0, 0})
	o := lung.IndexToWorld(volume.Vec3{0, 0, 0})
	for a := range step {
		step[a] -= o[a]
	}
	// Each worker its own extremes over whole slices, combined after.
	type ext struct{ lo, hi [2]float64 }
	exts := make([]ext, par.Limit())
	for w := range exts {
		exts[w] = ext{lo, hi}
	}
	par.Chunks(nz, 8, func(w, k0, k1 int) {
		e := exts[w] // a copy: workers' extremes share a cache line
		defer func() { exts[w] = e }()
		for k := k0; k < k1; k++ {
			for j := 0; j < ny; j++ {
				row := lung.Data[(k*ny+j)*nx : (k*ny+j+1)*nx]
				w0 := lung.IndexToWorld(volume.Vec3{0, float64(j), float64(k)})
				if axial {
					// z is the row's; x grows with i, so the row's first
					// and last mask voxels tell which sides it reaches.
					f, l := volume.RowSpan(row)
					if f < 0 {
						continue
					}
					for _, i := range [2]int{f, l} {
						s := side(w0[0]+float64(i)*step[0], mid)
						e.lo[s] = math.Min(e.lo[s], w0[2])
						e.hi[s] = math.Max(e.hi[s], w0[2])
					}
					continue
				}
				for i, v := range row {
					if v == 0 {
						continue
					}
					x := w0[0] + float64(i)*step[0]
					zz := w0[2] + float64(i)*step[2]
					s := side(x, mid)
					e.lo[s] = math.Min(e.lo[s], zz)
					e.hi[s] = math.Max(e.hi[s], zz)
				}
			}
		}
	})
	for _, e := range exts {
		for s := 0; s < 2; s++ {
			lo[s] = math.Min(lo[s], e.lo[s])
			hi[s] = math.Max(hi[s], e.hi[s])
		}
	}
	return lo, hi
}
