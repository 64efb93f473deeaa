package segment

import (
	"math"

	"github.com/lungctl/lungctl/internal/edt"
	"github.com/lungctl/lungctl/internal/volume"
)

// domeThinMM is the radius (mm) of the ball whose opening splits a dense
// piece of the mask into its thick parts (splitDome): vessels of the lower
// lobes that touch the dome are thinner than its diameter and fall away,
// the dome's cap stays.
const domeThinMM = 4

// domeSplitMinMM3: a dense piece that fails removeDomes' bottom test is
// split (splitDome) only when it is at least this large (20 mL), and only
// when the columns where it rests on dense tissue could hold a dome's
// (denseFloor): a dome with vessels on it, not a vessel tree alone (on
// LIDC-IDRI-0001 the split of a 59 mL piece would find nothing and cost a
// tenth of a second).
const domeSplitMinMM3 = 20000

// domeSplitMaxShare: splitDome opens a piece only when its bounding block
// (with the opening's margin) is at most 1/domeSplitMaxShare of the volume
// (a dome with its lower-lobe vessels: 8–27 % on the independent
// generator's phantoms).
const domeSplitMaxShare = 2

// splitDome looks for the diaphragm's dome inside a dense piece of the
// mask (piece: voxel indices of hu's grid) that failed removeDomes' bottom
// test as a whole. The lower lobes' vessels run down to the diaphragm, and
// a vessel tree that touches the dome joins it in one 6-connected piece
// whose bottom faces are then mostly the vessels', over lung (a phantom
// from an independent generator: a 145 mL piece, 30 % of its bottom faces
// on dense tissue, left the right dome in the mask as a 69 mm "solid
// mass"). The piece is opened with a ball of radius domeThinMM (its
// voxels within that radius of those deeper inside it than the radius;
// both distances by edt.Within3Box, which only resolves the radius),
// and each 6-connected part of the opening that holds at least
// domeMinVoxels, is as wide as a dome (a footprint of 4·domeBumpMM, what
// removeDomeBelowBumps needs to tell a bump from the cap; a vessel trunk
// at the hilum is narrower), and rests on dense tissue outside the mask
// (onDense, as removeDomes counts a bottom face) on at least
// domeBottomContact of its bottom faces is removed as a dome
// (removeDomeBelowBumps: what stands on it narrower than its opening
// stays). It returns the voxels removed.
func splitDome(hu *volume.Volume[int16], dst *volume.Volume[uint8], piece []int32, onDense func(p, q int) bool) int {
	nx, ny, nz := hu.Dims[0], hu.Dims[1], hu.Dims[2]
	nxy := nx * ny
	sp := [3]float64(hu.Spacing)
	var margin [3]int
	for a := range margin {
		margin[a] = int(domeThinMM/sp[a]) + 2
	}
	lo, hi := [3]int{nx, ny, nz}, [3]int{-1, -1, -1}
	for _, p := range piece {
		c := [3]int{int(p) % nx, (int(p) / nx) % ny, int(p) / nxy}
		for a := range c {
			lo[a], hi[a] = min(lo[a], c[a]), max(hi[a], c[a])
		}
	}
	dims := [3]int{nx, ny, nz}
	var n [3]int
	for a := range lo {
		lo[a], hi[a] = max(lo[a]-margin[a], 0), min(hi[a]+margin[a], dims[a]-1)
		n[a] = hi[a] - lo[a] + 1
	}
	bn := n[0] * n[1] * n[2]
	// The opening's buffers (a float32 distance and two bits a voxel of
	// the block, at most half the volume: 2.1 bytes a voxel of the volume)
	// are counted in the preprocessing budget (pipeline.bytesPerOutputVoxel).
	if bn > nx*ny*nz/domeSplitMaxShare {
		return 0
	}
	// Only where a dome could be: the columns in which the piece rests on
	// dense tissue must hold a connected group as large as a dome's part
	// of them (domeBottomContact of a disc of 4·domeBumpMM).
	if !denseFloor(piece, nx, ny, lo, n, sp, onDense) {
		return 0
	}
	local := func(p int32) int {
		i, j, k := int(p)%nx-lo[0], (int(p)/nx)%ny-lo[1], int(p)/nxy-lo[2]
		return i + n[0]*(j+n[1]*k)
	}
	global := func(q int) int32 {
		i, j, k := q%n[0]+lo[0], (q/n[0])%n[1]+lo[1], q/(n[0]*n[1])+lo[2]
		return int32(i + nx*(j+ny*k))
	}
	in, open := newBits(bn), newBits(bn)
	f := make([]float32, bn)
	for _, p := range piece {
		q := local(p)
		in.set(q)
		f[q] = edt.Inf
	}
	var ws edt.Workspace
	edt.Within3Box(f, n[0], n[1], n[2], [3]int{}, [3]int{n[0] - 1, n[1] - 1, n[2] - 1}, sp, domeThinMM, &ws)
	r2 := float32(domeThinMM * domeThinMM)
	for q, v := range f {
		if in.has(q) && v > r2 {
			f[q] = 0
		} else {
			f[q] = edt.Inf
		}
	}
	edt.Within3Box(f, n[0], n[1], n[2], [3]int{}, [3]int{n[0] - 1, n[1] - 1, n[2] - 1}, sp, domeThinMM, &ws)
	for q, v := range f {
		if in.has(q) && v <= r2 {
			open.set(q)
		}
	}
	removed := 0
	foot := make(map[int32]struct{})
	var part, stack []int32
	for q0 := 0; q0 < bn; q0++ {
		if !open.has(q0) {
			continue
		}
		part, stack = part[:0], append(stack[:0], int32(q0))
		open.clear(q0)
		var bottom, dense int
		for len(stack) > 0 {
			q := int(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			p := global(q)
			part = append(part, p)
			i, j, k := q%n[0], (q/n[0])%n[1], q/(n[0]*n[1])
			for m, ok := range [6]bool{i > 0, i < n[0]-1, j > 0, j < n[1]-1, k > 0, k < n[2]-1} {
				if !ok {
					continue
				}
				o := q + [6]int{-1, 1, -n[0], n[0], -n[0] * n[1], n[0] * n[1]}[m]
				if open.has(o) {
					open.clear(o)
					stack = append(stack, int32(o))
					continue
				}
				if m == 4 && (!in.has(o) || f[o] > r2) {
					bottom++
					if onDense(int(p), int(global(o))) {
						dense++
					}
				}
			}
		}
		if len(part) < domeMinVoxels || bottom == 0 || float64(dense) < domeBottomContact*float64(bottom) ||
			discDiameter(footprint(part, nxy, n[0]*n[1], foot), hu.Spacing) < 4*domeBumpMM {
			continue
		}
		removed += removeDomeBelowBumps(hu, dst, part)
	}
	return removed
}

// denseFloor reports whether the columns (i, j) in which a voxel of piece
// rests on dense tissue (onDense onto the voxel below it) hold an
// 8-connected group of at least domeBottomContact of a disc of diameter
// 4·domeBumpMM. lo and n are the piece's bounding box (with any margin)
// on the nx × ny slices.
func denseFloor(piece []int32, nx, ny int, lo, n [3]int, sp [3]float64, onDense func(p, q int) bool) bool {
	nxy := nx * ny
	floor := make([]bool, n[0]*n[1])
	for _, p := range piece {
		if int(p) < nxy {
			continue
		}
		if onDense(int(p), int(p)-nxy) {
			i, j := int(p)%nx-lo[0], (int(p)/nx)%ny-lo[1]
			floor[i+n[0]*j] = true
		}
	}
	need := domeBottomContact * math.Pi * 4 * domeBumpMM * domeBumpMM / (sp[0] * sp[1])
	var stack []int
	for c0, f := range floor {
		if !f {
			continue
		}
		floor[c0] = false
		stack = append(stack[:0], c0)
		size := 0
		for len(stack) > 0 {
			c := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			size++
			i, j := c%n[0], c/n[0]
			for dj := -1; dj <= 1; dj++ {
				for di := -1; di <= 1; di++ {
					a, b := i+di, j+dj
					if a < 0 || b < 0 || a >= n[0] || b >= n[1] {
						continue
					}
					if q := a + n[0]*b; floor[q] {
						floor[q] = false
						stack = append(stack, q)
					}
				}
			}
		}
		if float64(size) >= need {
			return true
		}
	}
	return false
}

// bits is a bit set over a block's voxels.
type bits []uint64

func newBits(n int) bits      { return make(bits, (n+63)/64) }
func (b bits) set(i int)      { b[i>>6] |= 1 << (i & 63) }
func (b bits) clear(i int)    { b[i>>6] &^= 1 << (i & 63) }
func (b bits) has(i int) bool { return b[i>>6]&(1<<(i&63)) != 0 }

// footprint is the number of distinct (i, j) columns of the voxels of part
// (indices of slices of nxy voxels); seen is scratch, emptied first. A
// part holds at most maxCols columns.
func footprint(part []int32, nxy, maxCols int, seen map[int32]struct{}) int {
	clear(seen)
	for _, p := range part {
		seen[p%int32(nxy)] = struct{}{}
		if len(seen) == maxCols {
			break
		}
	}
	return len(seen)
}
