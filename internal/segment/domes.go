package segment

import (
	"github.com/lungctl/lungctl/internal/volume"
)

// Thresholds of step 7 (see the package comment).
const (
	// domeDenseHU: a voxel at or above this (HU) is dense tissue.
	domeDenseHU = -300
	// domeBottomContact: a dense piece of the mask whose bottom faces (the
	// faces towards −z) meet dense tissue outside the mask on at least this
	// share is the top of the diaphragm's dome.
	domeBottomContact = 0.6
	// domeMinVoxels: smaller dense pieces are left alone (vessels, specks).
	domeMinVoxels = 200
)

// removeDomes is step 7: the per-slice closing and hole filling take in the
// top of the diaphragm's dome (liver or spleen), which an axial slice shows
// as a disc surrounded by lung. In 3-D that disc is the top of a dense
// structure that continues downwards out of the lung, while a nodule or a
// vessel sits on lung. Each 6-connected piece of dense (≥ domeDenseHU)
// mask voxels of at least domeMinVoxels is removed from dst when at least
// domeBottomContact of its bottom faces (towards −z; k is the head–foot
// axis, increasing to the head in lungctl's LPS grids) meet dense voxels
// outside the mask. A mass resting on the diaphragm meets it along part of
// its bottom only and stays. It returns the voxels removed.
func (s *Segmenter) removeDomes(hu *volume.Volume[int16], dst *volume.Volume[uint8]) int {
	nx, ny, nz := hu.Dims[0], hu.Dims[1], hu.Dims[2]
	nxy := nx * ny
	d := dst.Data
	seen := s.cls // reuse: mark visited dense mask voxels with cSeen
	var piece, stack []int32
	removed := 0
	for p0 := range d {
		if d[p0] == 0 || hu.Data[p0] < domeDenseHU || seen[p0] == cSeen {
			continue
		}
		piece, stack = piece[:0], append(stack[:0], int32(p0))
		seen[p0] = cSeen
		var bottom, onDense int
		for len(stack) > 0 {
			p := int(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			piece = append(piece, int32(p))
			i, j, k := p%nx, (p/nx)%ny, p/nxy
			for n, ok := range [6]bool{i > 0, i < nx-1, j > 0, j < ny-1, k > 0, k < nz-1} {
				if !ok {
					continue
				}
				q := p + [6]int{-1, 1, -nx, nx, -nxy, nxy}[n]
				if d[q] != 0 && hu.Data[q] >= domeDenseHU {
					if seen[q] != cSeen {
						seen[q] = cSeen
						stack = append(stack, int32(q))
					}
					continue
				}
				if n == 4 { // a bottom face, towards −z
					bottom++
					if d[q] == 0 && hu.Data[q] >= domeDenseHU {
						onDense++
					}
				}
			}
		}
		if len(piece) < domeMinVoxels || bottom == 0 || float64(onDense) < domeBottomContact*float64(bottom) {
			continue
		}
		for _, p := range piece {
			d[p] = 0
		}
		removed += len(piece)
	}
	// Leave cls as the other steps expect: visited voxels back to tissue.
	for p, c := range seen {
		if c == cSeen {
			seen[p] = cTissue
		}
	}
	return removed
}
