package nodule

import (
	"math"

	"github.com/lungctl/lungctl/internal/volume"
)

// A juxtapleural nodule sits on the pleura: the lung mask keeps the part
// that bulges into the lung, a dome. Judged with the chest wall counted
// as lung (blobRatio), a dome is a disc, and its blob ratio is that of a
// vessel's fork: 0.15–0.48 for the 4–20 mm juxtapleural phantoms that
// seeds 1–20 and 301–320 detect (medians 0.41 and 0.34), where the
// free-standing round ones score medians of 0.92 and 0.71. Reflected in
// the pleura's plane, a dome becomes the whole nodule it is a cap of, and
// its blob ratio is read again on that image (0.48–0.83 for all but one of
// them, which keeps its 0.15). A tube that
// ends on the wall stays a tube in the mirror, and a plaque along it a
// plate; the lesion keeps the larger of the two ratios, so a round nodule
// that only touches the wall loses nothing.

// mirrorMinContact is the least share of a body's surface against the
// outside of the lung (Result.WallContact) for which its mirror image is
// looked at: a lesion touching the wall on a few faces is judged as it is.
const mirrorMinContact = 0.05

// minWallFaces is the fewest body faces against the outside of the lung
// that wallPlane fits a plane to.
const minWallFaces = 6

// mirrorPlane is a plane in a box: a point (box index coordinates) and a
// unit normal (in mm, pointing out of the lung).
type mirrorPlane struct {
	p0 volume.Vec3
	n  [3]float64
}

// mirroredBlobRatio is blobRatio on the body's mirror image in the plane
// where it meets the wall (wallPlane), at the body's centroid cen (box
// index coordinates) and at the scale of a ball of twice the body's
// volume; ok is false for a lesion away from the wall (res.WallContact
// under mirrorMinContact) or with no plane to mirror in. At the centroid,
// not at its foot on the plane: there the lung's own partial-volume rim
// along the pleura, doubled by the mirror, is a plate that outweighs a
// small nodule (phantom 209's 5.3 mm one: 0.40 at the foot, 0.77 at the
// centroid).
func (ws *Workspace) mirroredBlobRatio(b *boxInfo, cen volume.Vec3, res *Result, clip float64) (float64, bool) {
	if res.WallContact < mirrorMinContact {
		return 0, false
	}
	m, ok := ws.wallPlane(b)
	if !ok {
		return 0, false
	}
	ws.mirror = &m
	defer func() { ws.mirror = nil }()
	sigma := math.Cbrt(3*2*res.VolumeMM3/(4*math.Pi)) / math.Sqrt(3)
	return ws.blobRatio(b, cen, sigma, res.BackgroundHU, clip), true
}

// wallPlane fits the plane where the body meets the outside of the lung
// mask (chest wall, mediastinum, diaphragm): through the mean of the
// faces between body voxels and non-lung voxels, normal to their summed
// outward directions, each weighted by its area in mm². ok is false with
// fewer than minWallFaces such faces or when their directions cancel (a
// body wedged between two walls). Its faces are wallContact's, not
// pleuraLine's contact (outsideFaces): after extendToPleura a body has
// voxels outside the mask, and the faces between two of its own voxels
// are no contact with the wall.
func (ws *Workspace) wallPlane(b *boxInfo) (m mirrorPlane, ok bool) {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	sp := b.grid.Spacing
	var sum [3]float64
	var count int
	// The outward directions of neighbours6's six neighbours, in order.
	dirs := [6][3]float64{{-1, 0, 0}, {1, 0, 0}, {0, -1, 0}, {0, 1, 0}, {0, 0, -1}, {0, 0, 1}}
	for p, l := range ws.lab {
		if l != lBody {
			continue
		}
		i, j, k := p%nx, (p/nx)%ny, p/(nx*ny)
		for f, np := range neighbours6(p, nx, ny, nz) {
			if np < 0 || ws.lab[np] == lBody || ws.lung[np] != 0 {
				continue
			}
			d := dirs[f]
			m.p0[0] += float64(i) + d[0]/2
			m.p0[1] += float64(j) + d[1]/2
			m.p0[2] += float64(k) + d[2]/2
			for a := 0; a < 3; a++ {
				sum[a] += d[a] * sp[(a+1)%3] * sp[(a+2)%3]
			}
			count++
		}
	}
	if count < minWallFaces {
		return m, false
	}
	for a := range m.p0 {
		m.p0[a] /= float64(count)
	}
	norm := math.Sqrt(sum[0]*sum[0] + sum[1]*sum[1] + sum[2]*sum[2])
	if norm == 0 {
		return m, false
	}
	for a := range m.n {
		m.n[a] = sum[a] / norm
	}
	return m, true
}

// mirrored is the HU over bg (at most clip − bg) of the lung voxel that
// is the mirror image of box voxel (i, j, k), a voxel outside the lung
// mask, in ws.mirror's plane, when (i, j, k) lies beyond the plane and its
// image inside the box and the lung; 0 (the surrounding lung) otherwise.
func (ws *Workspace) mirrored(b *boxInfo, i, j, k int, clip, bg float64) float64 {
	m := ws.mirror
	sp := b.grid.Spacing
	x := [3]float64{float64(i), float64(j), float64(k)}
	var d float64
	for a := 0; a < 3; a++ {
		d += (x[a] - m.p0[a]) * sp[a] * m.n[a]
	}
	if d <= 0 {
		return 0
	}
	var q [3]int
	for a := 0; a < 3; a++ {
		q[a] = int(math.Round(x[a] - 2*d*m.n[a]/sp[a]))
		if q[a] < 0 || q[a] >= b.n[a] {
			return 0
		}
	}
	p := q[0] + b.n[0]*(q[1]+b.n[1]*q[2])
	if ws.lung[p] == 0 {
		return 0
	}
	return math.Min(float64(ws.raw[p]), clip) - bg
}
