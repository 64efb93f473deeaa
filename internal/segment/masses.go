package segment

import (
	"sort"

	"github.com/lungctl/lungctl/internal/volume"
)

// Thresholds of step 6 (see the package comment).
const (
	// massSoftHU: a voxel at or above this (HU) is soft tissue.
	massSoftHU = -50
	// massSoftFraction: at least this share of a piece must be soft tissue.
	massSoftFraction = 0.5
)

// massLungContact: at least this share of a piece's surface (voxel faces)
// must touch the lung mask rather than the body (see the package comment
// for the cases it was chosen on).
const massLungContact = 0.45

// keepMasses judges the pieces the mass closing proposed (cls == cCand):
// 6-connected 3-D components, each added to dst when it is soft tissue
// facing mostly lung and not too large. It returns the voxels added and
// records each added piece in st.MassesML. The proposals are visited in
// slice and voxel order, sequentially, so the result does not depend on
// scheduling.
func (s *Segmenter) keepMasses(hu *volume.Volume[int16], opt Options, dst *volume.Volume[uint8], st *Stats) int {
	nx, ny, nz := hu.Dims[0], hu.Dims[1], hu.Dims[2]
	nxy := nx * ny
	vox := hu.Spacing[0] * hu.Spacing[1] * hu.Spacing[2] / 1000
	maxVox := int(opt.MaxMassML / vox)
	cls, d := s.cls, dst.Data
	var piece, stack []int32
	added := 0
	for _, list := range s.cand {
		for _, c := range list {
			p0 := int(c)
			if cls[p0] != cCand {
				continue // already in a piece
			}
			piece, stack = piece[:0], append(stack[:0], int32(p0))
			cls[p0] = cSeen
			var soft, lung, body int
			for len(stack) > 0 {
				p := int(stack[len(stack)-1])
				stack = stack[:len(stack)-1]
				piece = append(piece, int32(p))
				if hu.Data[p] >= massSoftHU {
					soft++
				}
				i, j, k := p%nx, (p/nx)%ny, p/nxy
				for n, ok := range [6]bool{i > 0, i < nx-1, j > 0, j < ny-1, k > 0, k < nz-1} {
					if !ok {
						continue
					}
					q := p + [6]int{-1, 1, -nx, nx, -nxy, nxy}[n]
					switch {
					case cls[q] == cCand:
						cls[q] = cSeen
						stack = append(stack, int32(q))
					case cls[q] == cSeen:
					case d[q] == 1:
						lung++
					default:
						body++
					}
				}
			}
			n := len(piece)
			if n > maxVox || float64(soft) < massSoftFraction*float64(n) || float64(lung) < massLungContact*float64(lung+body) {
				continue
			}
			for _, p := range piece {
				d[p] = 1
			}
			added += n
			st.MassesML = append(st.MassesML, float64(n)*vox)
		}
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(st.MassesML)))
	return added
}
