package nodule

import (
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/lungctl/lungctl/internal/volume"
)

// frameMaxAspect is the most elongated body (longest over shortest
// semi-axis of its moment ellipsoid) that frameBlobRatio judges in its own
// frame: ovoid nodules reach about 2:1 (perifissural ones, lentiform, a
// little more); beyond, a body is a vessel piece or a plate, which must
// not be made round by its own frame.
const frameMaxAspect = 2.5

// A body is judged in its own frame (measure) only when it lies in the
// lung (not on the wall, where it is judged in the pleura's mirror, and
// where a plaque would be round in its own frame), when it closes by
// itself, and when it is at least frameMinMM across:
//
//   - frameMaxContinued: its region continues beyond it over less than this
//     share of its surface (continuedShare; in effect none: a body that is
//     its whole threshold region). Vessel crossings and junction pieces that
//     the opening or the cap cut are round in their own frame too: judged
//     so even when they continued over up to 10 % of their surface, seeds
//     101–120 lost CPM 0.920 → 0.856.
//   - frameMinMM: 6 mm, Lung-RADS' size step, under which a body of a few
//     dozen voxels has second moments that say little of its axes, and
//     small closed blobs of ground-glass density at vessel crossings became
//     round (with no size floor, seeds 101–120 and 401–420 lost 0.006 and
//     0.018, two faint ground-glass lesions at rank 10 leaving the list).
const (
	frameMaxContinued = 0.005
	frameMinMM        = 6
)

// frameBlobRatio is blobRatio in the body's own frame: the Gaussian's σ
// along each principal axis of the body is that axis's semi-axis over √3
// (the semi-axes of the ellipsoid with the body's second moments, a² =
// 5·variance), and the Hessian at the box index cen is scale-normalised
// per axis (σᵢσⱼ·Hᵢⱼ) before its weakest curvature is taken over its
// strongest. For a ball it is blobRatio at the ball's scale. An ovoid
// nodule, whose isotropic blob ratio is its axis ratio squared (about 0.3
// at 2:1, the range of vessel forks), is as round as a ball in its own
// frame. A vessel's bend, a fork or a rod can be round in their own frame
// too (0.5–0.9 without the gates); what keeps them out is that a vessel
// runs on beyond its body (continuedShare) and a rod or plate is more
// elongated than frameMaxAspect, which measure and this function check
// (a straight vessel piece stays near 0 even in its frame). Voxels outside
// the lung count as the lung (bg), HU above clip as clip, as in
// blobRatio. It returns 0 for a body more elongated than frameMaxAspect
// or of fewer than 7 voxels.
func (ws *Workspace) frameBlobRatio(b *boxInfo, cen volume.Vec3, bg, clip float64) float64 {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	sp := b.grid.Spacing
	var c [6]float64 // xx yy zz xy xz yz, mm²
	n := 0
	for k := 0; k < nz; k++ {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				if ws.lab[i+nx*(j+ny*k)] != lBody {
					continue
				}
				dx, dy, dz := (float64(i)-cen[0])*sp[0], (float64(j)-cen[1])*sp[1], (float64(k)-cen[2])*sp[2]
				c[0] += dx * dx
				c[1] += dy * dy
				c[2] += dz * dz
				c[3] += dx * dy
				c[4] += dx * dz
				c[5] += dy * dz
				n++
			}
		}
	}
	if n < 7 {
		return 0
	}
	for q := range c {
		c[q] /= float64(n)
	}
	var es mat.EigenSym
	if !es.Factorize(mat.NewSymDense(3, []float64{c[0], c[3], c[4], c[3], c[1], c[5], c[4], c[5], c[2]}), true) {
		return 0
	}
	var vecs mat.Dense
	es.VectorsTo(&vecs)
	vals := es.Values(nil)
	var sigma [3]float64
	var axis [3][3]float64 // axis[a] is the a-th principal direction (index space × spacing, mm)
	smin, smax := math.Inf(1), 0.0
	for a := 0; a < 3; a++ {
		// The aspect is judged on the body's own σ; the kernel's is at
		// least 1 mm (a plate one or two voxels thick would pass the
		// aspect test on the floored σ).
		s := math.Sqrt(5 * math.Max(vals[a], 0) / 3)
		smin, smax = math.Min(smin, s), math.Max(smax, s)
		sigma[a] = math.Max(s, 1)
		for q := 0; q < 3; q++ {
			axis[a][q] = vecs.At(q, a)
		}
	}
	if !(smax <= frameMaxAspect*smin) {
		return 0
	}
	smin, smax = math.Max(smin, 1), math.Max(smax, 1)
	lo, hi, st := b.kernelWindow(cen, smax, smin)
	var h [6]float64 // normalised Hessian in the body's frame: 00 11 22 01 02 12
	for k := lo[2]; k <= hi[2]; k += st {
		dz := (float64(k) - cen[2]) * sp[2]
		for j := lo[1]; j <= hi[1]; j += st {
			dy := (float64(j) - cen[1]) * sp[1]
			for i := lo[0]; i <= hi[0]; i += st {
				dx := (float64(i) - cen[0]) * sp[0]
				var u [3]float64 // offset along the principal axes, in σ
				e := 0.0
				for a := 0; a < 3; a++ {
					u[a] = (dx*axis[a][0] + dy*axis[a][1] + dz*axis[a][2]) / sigma[a]
					e += u[a] * u[a]
				}
				if e > 9 {
					continue
				}
				p := i + nx*(j+ny*k)
				v := 0.0
				if ws.lung[p] != 0 {
					v = math.Min(float64(ws.raw[p]), clip) - bg
				}
				g := v * math.Exp(-e/2)
				h[0] += g * (u[0]*u[0] - 1)
				h[1] += g * (u[1]*u[1] - 1)
				h[2] += g * (u[2]*u[2] - 1)
				h[3] += g * u[0] * u[1]
				h[4] += g * u[0] * u[2]
				h[5] += g * u[1] * u[2]
			}
		}
	}
	return hessianRoundness(h)
}

// continuedShare is the share of the body's surface (voxel faces) beyond
// which the region would have gone on: the neighbour is lung above the
// body's threshold, cut off by the opening or by the cap. A lesion that
// closes by itself shows little (the faces where vessels join it); a piece
// of vessel shows its cut ends.
func (ws *Workspace) continuedShare(b *boxInfo) float64 {
	return ws.surfaceShare(b, edgeHits, func(np int) bool { return ws.lung[np] != 0 && ws.sm.Data[np] > b.thresh })
}
