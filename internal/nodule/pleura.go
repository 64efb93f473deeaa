package nodule

import (
	"math"
	"slices"

	"github.com/lungctl/lungctl/internal/edt"
)

// PleuraReachMM is how far from the body (mm) the pleura distance is
// measured exactly; beyond it PleuraDistanceMM is a lower bound.
const PleuraReachMM = 15

// pleura returns the distance (mm) from the body to the nearest box voxel
// outside the lung mask, 0 when touching, looked for over the body's box
// plus a margin of PleuraReachMM; when no such voxel lies within
// PleuraReachMM, that reach and true (a lower bound). The distance map
// (ws.dist) is computed only when the margin box holds a voxel outside the
// lung and the body does not touch one: most candidates lie inside the
// lung, most others against the wall, and the map is the costliest step
// of their measurement otherwise.
func (ws *Workspace) pleura(b *boxInfo) (float64, bool) {
	nx, ny := b.n[0], b.n[1]
	sp := b.grid.Spacing
	minSp := math.Min(sp[0], math.Min(sp[1], sp[2]))
	lo, hi := ws.bbox(b, lBody, int(math.Ceil(PleuraReachMM/minSp))+1)
	if !ws.outsideLungIn(b, lo, hi) {
		return PleuraReachMM, true
	}
	if ws.touchesOutside(b, minSp) {
		return 0, false
	}
	n := b.len()
	ws.dist = grow(ws.dist, n)
	for p := 0; p < n; p++ {
		if ws.lab[p] == lBody {
			ws.dist[p] = 0
		} else {
			ws.dist[p] = edt.Inf
		}
	}
	edt.Transform3Box(ws.dist, b.n[0], b.n[1], b.n[2], lo, hi, [3]float64(sp), &ws.edt)
	best := float32(edt.Inf)
	for k := lo[2]; k <= hi[2]; k++ {
		for j := lo[1]; j <= hi[1]; j++ {
			for i := lo[0]; i <= hi[0]; i++ {
				if p := i + nx*(j+ny*k); ws.lung[p] == 0 && ws.dist[p] < best {
					best = ws.dist[p]
				}
			}
		}
	}
	d := math.Max(0, math.Sqrt(float64(best))-minSp)
	if d >= PleuraReachMM {
		// The box reaches further along its diagonals: past the reach
		// every distance is reported as the bound.
		return PleuraReachMM, true
	}
	return d, false
}

// outsideLungIn reports whether the box voxels lo…hi (inclusive) hold one
// outside the lung mask.
func (ws *Workspace) outsideLungIn(b *boxInfo, lo, hi [3]int) bool {
	nx, ny := b.n[0], b.n[1]
	for k := lo[2]; k <= hi[2]; k++ {
		for j := lo[1]; j <= hi[1]; j++ {
			row := ws.lung[lo[0]+nx*(j+ny*k) : hi[0]+1+nx*(j+ny*k)]
			if slices.Contains(row, 0) {
				return true
			}
		}
	}
	return false
}

// touchesOutside reports whether a body voxel has a face neighbour outside
// the lung mask along an axis of the smallest spacing minSp: the pleura
// distance is then exactly 0 (the map's nearest outside voxel would lie
// minSp from the body, and minSp is subtracted).
func (ws *Workspace) touchesOutside(b *boxInfo, minSp float64) bool {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	sp := b.grid.Spacing
	for p, l := range ws.lab {
		if l != lBody {
			continue
		}
		for n, np := range neighbours6(p, nx, ny, nz) {
			if np >= 0 && sp[n/2] == minSp && ws.lung[np] == 0 {
				return true
			}
		}
	}
	return false
}
