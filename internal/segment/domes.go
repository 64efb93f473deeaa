package segment

import (
	"math"

	"github.com/lungctl/lungctl/internal/par"
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
// outside the mask; a face of a voxel that the mass step added counts only
// with no mask below it in its column: the lung wraps the dome's sides but
// never lies under it, while a mass beside the mediastinum has lower lobe
// under much of it (other dense pieces, such as mediastinal borders the
// closings took in, go by their bottom alone). What stands on the dome (a
// nodule or vessel resting on the diaphragm) stays: removeDomeBelowBumps.
// Visited voxels are marked cDome or cDomeMass, marks of their own: the
// mass step (6) leaves its pieces marked cSeen, and sharing that mark once
// made this step skip every dome the mass closing had proposed. It returns
// the voxels removed.
func (s *Segmenter) removeDomes(hu *volume.Volume[int16], dst *volume.Volume[uint8]) int {
	nx, ny, nz := hu.Dims[0], hu.Dims[1], hu.Dims[2]
	nxy := nx * ny
	d := dst.Data
	seen := s.cls // reuse: mark visited dense mask voxels with cDome
	// low[j*nx+i] is the lowest slice of column (i, j) holding mask; it
	// is needed, and scanned, only for what the mass step added.
	var low []int32
	lowest := func(c int) int {
		if low == nil {
			low = make([]int32, nxy)
			for c := range low {
				low[c] = int32(nz)
			}
			for k := nz - 1; k >= 0; k-- {
				for c, v := range d[k*nxy : (k+1)*nxy] {
					if v != 0 {
						low[c] = int32(k)
					}
				}
			}
		}
		return int(low[c])
	}
	var piece, stack []int32
	removed := 0
	for p0 := range d {
		if d[p0] == 0 || hu.Data[p0] < domeDenseHU || seen[p0] == cDome || seen[p0] == cDomeMass {
			continue
		}
		piece, stack = piece[:0], append(stack[:0], int32(p0))
		seen[p0] = domeMark(seen[p0])
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
					if seen[q] != cDome && seen[q] != cDomeMass {
						seen[q] = domeMark(seen[q])
						stack = append(stack, int32(q))
					}
					continue
				}
				if n == 4 { // a bottom face, towards −z
					bottom++
					// A face of what the mass step added counts only with
					// no lung under it: a mass beside the mediastinum has
					// lower lobe under it, the dome never.
					if d[q] == 0 && hu.Data[q] >= domeDenseHU && (seen[p] != cDomeMass || lowest(p%nxy) == k) {
						onDense++
					}
				}
			}
		}
		if len(piece) < domeMinVoxels || bottom == 0 || float64(onDense) < domeBottomContact*float64(bottom) {
			if float64(len(piece))*hu.Spacing[0]*hu.Spacing[1]*hu.Spacing[2] >= domeSplitMinMM3 {
				// A dome that vessels touch: look for it among the piece's
				// thick parts.
				removed += splitDome(hu, dst, piece, func(p, q int) bool {
					return d[q] == 0 && hu.Data[q] >= domeDenseHU && (seen[p] != cDomeMass || lowest(p%nxy) == p/nxy)
				})
			}
			continue
		}
		removed += removeDomeBelowBumps(hu, dst, piece)
	}
	// Leave cls as the other steps expect: visited voxels, and the mass
	// step's marks, back to tissue.
	par.Chunks(len(seen), 1<<20, func(_, lo, hi int) {
		for p, c := range seen[lo:hi] {
			if c == cDome || c == cDomeMass || c == cSeen {
				seen[lo+p] = cTissue
			}
		}
	})
	return removed
}

// domeMark is the mark removeDomes gives a voxel it visits: cDomeMass
// where the mass step (6) had added it (marked cSeen), cDome elsewhere.
func domeMark(c uint8) uint8 {
	if c == cSeen {
		return cDomeMass
	}
	return cDome
}

// domeBumpMM is the half-width (mm) of the flat square that opens a dome's
// height map: bumps narrower than its width (a nodule or vessel resting on
// the dome) rise above the opened surface and stay in the mask.
const domeBumpMM = 15

// domeBumpTolMM: a voxel stays when it lies more than this (mm) above the
// opened surface (the opening lowers a smooth dome's apex by about r²/ρ at
// the square's corners for a half-width r: about 2 mm for 15 mm on a dome
// of 100 mm radius of curvature).
const domeBumpTolMM = 3

// noTop marks a column of a height map that holds no voxel of the piece.
const noTop = math.MinInt32

// removeDomeBelowBumps removes from dst the voxels of piece (a dome found
// by removeDomes) that lie at or below the piece's height map after a
// grey-level opening with a flat square of half-width domeBumpMM, and returns
// their number (a piece with a footprint narrower than 4·domeBumpMM goes
// whole). The height map is, per (i, j) column, the highest slice of
// the piece; the opening (erosion then dilation, both over the piece's
// columns only) keeps the dome's smooth top and cuts off what stands on it
// narrower than the square: a nodule resting on the diaphragm stays lung.
func removeDomeBelowBumps(hu *volume.Volume[int16], dst *volume.Volume[uint8], piece []int32) int {
	nx, ny := hu.Dims[0], hu.Dims[1]
	nxy := nx * ny
	i0, j0, i1, j1 := nx, ny, -1, -1
	for _, p := range piece {
		i, j := int(p)%nx, (int(p)/nx)%ny
		i0, j0, i1, j1 = min(i0, i), min(j0, j), max(i1, i), max(j1, j)
	}
	bw, bh := i1-i0+1, j1-j0+1
	top := make([]int32, bw*bh)
	for c := range top {
		top[c] = noTop
	}
	cols := 0
	for _, p := range piece {
		i, j, k := int(p)%nx, (int(p)/nx)%ny, int32(int(p)/nxy)
		c := (j-j0)*bw + (i - i0)
		if top[c] == noTop {
			cols++
		}
		top[c] = max(top[c], k)
	}
	// A piece whose footprint is narrower than two squares (a strip of
	// the mediastinum's border that the closings took in) has no top
	// for anything to stand on: it goes whole (opened = top everywhere).
	whole := discDiameter(cols, hu.Spacing) < 4*domeBumpMM
	// A square of half-width domeBumpMM, separably: a row pass, then a
	// column pass, each the min (erode) or max over the window of the
	// columns that hold the piece.
	ri, rj := int(domeBumpMM/hu.Spacing[0]), int(domeBumpMM/hu.Spacing[1])
	pass := func(src []int32, erode bool, r, step, n, lines, lstep int) []int32 {
		out := make([]int32, len(src))
		for l := 0; l < lines; l++ {
			for x := 0; x < n; x++ {
				v := int32(noTop)
				for o := max(0, x-r); o <= min(n-1, x+r); o++ {
					w := src[l*lstep+o*step]
					switch {
					case w == noTop:
					case v == noTop:
						v = w
					case erode:
						v = min(v, w)
					default:
						v = max(v, w)
					}
				}
				out[l*lstep+x*step] = v
			}
		}
		return out
	}
	morph := func(src []int32, erode bool) []int32 {
		out := pass(pass(src, erode, ri, 1, bw, bh, bw), erode, rj, bw, bh, bw, 1)
		for c := range out {
			if src[c] == noTop {
				out[c] = noTop
			}
		}
		return out
	}
	tol := int32(math.Ceil(domeBumpTolMM / hu.Spacing[2]))
	opened := top
	if !whole {
		opened = morph(morph(top, true), false)
		keepBumps(opened, top, bw, bh, tol, hu.Spacing)
	}
	d := dst.Data
	n := 0
	for _, p := range piece {
		i, j, k := int(p)%nx, (int(p)/nx)%ny, int32(int(p)/nxy)
		if k <= opened[(j-j0)*bw+(i-i0)]+tol {
			d[p] = 0
			n++
		}
	}
	return n
}

// domeBumpAspect: a bump stays only when its height is at least this share
// of its width (the diameter of a disc of its area): a nodule resting on
// the dome is about as high as it is wide, while the flat cap that the
// opening leaves on a steep dome's apex is a few mm high and 20–30 mm wide.
const domeBumpAspect = 0.4

// keepBumps judges the bumps of a dome's height map top above its opening
// opened (both slices per column of a bw×bh grid, none where the piece has
// no voxel): the 8-connected groups of columns more than tol slices above
// the opening. A group that is lower than domeBumpAspect of its width is
// part of the dome: its columns' opening is raised to their top, so that
// the whole column goes.
func keepBumps(opened, top []int32, bw, bh int, tol int32, sp volume.Vec3) {
	bump := func(c int) bool { return top[c] != noTop && top[c]-opened[c] > tol }
	seen := make([]bool, len(top))
	var group, stack []int
	for c0 := range top {
		if seen[c0] || !bump(c0) {
			continue
		}
		group, stack = group[:0], append(stack[:0], c0)
		seen[c0] = true
		var high int32
		for len(stack) > 0 {
			c := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			group = append(group, c)
			high = max(high, top[c]-opened[c])
			i, j := c%bw, c/bw
			for dj := -1; dj <= 1; dj++ {
				for di := -1; di <= 1; di++ {
					a, b := i+di, j+dj
					if a < 0 || b < 0 || a >= bw || b >= bh {
						continue
					}
					if q := b*bw + a; !seen[q] && bump(q) {
						seen[q] = true
						stack = append(stack, q)
					}
				}
			}
		}
		if float64(high)*sp[2] >= domeBumpAspect*discDiameter(len(group), sp) {
			continue
		}
		for _, c := range group {
			opened[c] = top[c]
		}
	}
}

// discDiameter is the diameter (mm) of a disc of the area of n columns of
// spacing sp[0] × sp[1] mm.
func discDiameter(n int, sp volume.Vec3) float64 {
	return 2 * math.Sqrt(float64(n)*sp[0]*sp[1]/math.Pi)
}
