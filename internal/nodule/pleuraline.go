package nodule

import (
	"math"

	"gonum.org/v1/gonum/mat"
)

// pleuraLine ends the body at the pleural line where it meets the chest
// wall, mediastinum or diaphragm, and returns the voxels it took off and
// added, and how many body voxels are left (−1 when it did nothing). A
// lesion on the wall and the wall behind it are both soft tissue,
// so nothing in the image separates them, and the lung mask, which the
// region may not leave, is wrong there both ways: its closing, which
// brings a juxtapleural nodule into the mask, also takes in a few
// millimetres of the wall at its base, and the region grows into them (on
// the phantoms' juxtapleural nodules a quarter of the segmented body lay
// beyond the pleura, and the axes read 14–37 % long); while a mass whose
// base is wider than that closing bridges is cut short by the mass step's
// coarser chord (up to 24 % of the phantoms' masses lay outside the mask). A
// radiologist ends the lesion at the pleural line, extrapolated under it
// from the pleura on either side; so does this:
//
//  1. the contact: body voxels with a 6-neighbour outside the lung mask;
//     the mean direction of those faces is the wall's normal n (into the
//     wall), their mean position the contact's centre c;
//  2. the pleura around the lesion: mask-boundary voxels of the lung (a
//     6-neighbour outside the mask, facing the wall's way) that are not
//     the body, lie beside the contact (in the plane across n, between
//     its radius plus pleuraGapMM and that plus the larger of
//     pleuraRingMM and the radius) and within pleuraSlabMM of c along n;
//  3. a quadratic surface height(u, v) along n over the plane across it,
//     fitted to them by least squares (a plane when there are too few
//     points for the six coefficients);
//  4. body voxels whose centre lies more than half a voxel beyond that
//     surface leave the body and count as outside the lung in the box
//     (they are wall), so the wall contact and the distance to the
//     pleura still see the lesion touching it;
//  5. the body grows under the contact up to the surface, through the
//     lens of the lesion's base that the mask's closing left out
//     (extendToPleura, maskClosingMM).
//
// Nothing is done when the surface cannot be trusted: under
// pleuraMinPoints points, points on fewer than three sides of the contact
// (quadrants of the plane with at least a sixteenth of them: a recess,
// the costophrenic angle), an RMS residual over pleuraMaxRMS mm, or a
// surface that strays further from the contact under it than pleuraSlabMM
// or the contact's radius.
func (ws *Workspace) pleuraLine(b *boxInfo) (cut, added, left int) {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	sp := b.grid.Spacing
	// 1. contact
	var c, n [3]float64
	contact := ws.queue[:0]
	for p, l := range ws.lab {
		if l != lBody {
			continue
		}
		if d, k := outsideFaces(ws.lung, p, nx, ny, nz); k > 0 {
			n = [3]float64{n[0] + d[0], n[1] + d[1], n[2] + d[2]}
			contact = append(contact, int32(p))
		}
	}
	ws.queue = contact
	nn := math.Sqrt(dot(n, n))
	if len(contact) < pleuraMinContact || nn == 0 {
		return 0, 0, -1
	}
	for _, p := range contact {
		x := b.posMM(int(p))
		for a := range c {
			c[a] += x[a]
		}
	}
	for a := range c {
		c[a] /= float64(len(contact))
		n[a] /= nn
	}
	u, v := perpendicular(n)
	rc := 0.0
	for _, p := range contact {
		d := sub(b.posMM(int(p)), c)
		rc = math.Max(rc, math.Hypot(dot(d, u), dot(d, v)))
	}
	// 2. the pleura around it
	pts, quad := ws.pleuraPoints(b, c, n, u, v, rc)
	if len(pts) < pleuraMinPoints {
		return 0, 0, -1
	}
	sides := 0
	for _, k := range quad {
		if k >= len(pts)/16 {
			sides++
		}
	}
	if sides < 3 {
		return 0, 0, -1
	}
	// 3. the surface
	surf, rms, ok := fitHeight(pts)
	if !ok || rms > pleuraMaxRMS {
		return 0, 0, -1
	}
	// It is extrapolated under the contact: where it strays further from
	// the contact than the ring's slab or the contact's radius, it is no
	// pleura (an ill-posed fit).
	limit := math.Max(pleuraSlabMM, rc)
	for _, p := range contact {
		d := sub(b.posMM(int(p)), c)
		if math.Abs(surf(dot(d, u), dot(d, v))) > limit {
			return 0, 0, -1
		}
	}
	// 4. the cut
	half := 0.5 * math.Min(sp[0], math.Min(sp[1], sp[2]))
	for p, l := range ws.lab {
		if l != lBody {
			continue
		}
		d := sub(b.posMM(p), c)
		if dot(d, n)-surf(dot(d, u), dot(d, v)) > half {
			ws.lab[p] = lOut
			ws.lung[p] = 0
			ws.cuts = append(ws.cuts, int32(p))
			cut++
		} else {
			left++
		}
	}
	added = ws.extendToPleura(b, c, n, u, v, rc, surf, half)
	return cut, added, left + added
}

// maskClosingMM is the radius (mm) of the lung mask's per-slice disk
// closing (segment.Options.ClosingRadiusMM's default), which brings a
// juxtapleural lesion into the mask. It does not bring all of it: the
// closed mask's edge under a lesion whose contact with the wall has
// radius a < R is the closing disk's arc across the contact, not the
// pleura, so a lens of the lesion's base, √(R² − r²) − √(R² − a²) deep at
// distance r from the contact's centre, stays outside the mask (about
// 4 mm at the centre of a 21 mm lesion's base; seeds 1201–1220's
// juxtapleural nodules of 17–21 mm measured 27–46 % short in volume). A
// base wider than the disk (a ≥ R) is not bridged at all, and is left to
// the mask's mass step, whose 4 mm coarse cut can fall short of the
// pleura anywhere under it (segment, method step 6).
const maskClosingMM = 15

// lensDepth is how far (mm) beyond the closed mask's edge, at distance r
// (mm) across the wall's normal from the centre of a contact of radius
// rc, the lesion can reach the pleura (see maskClosingMM): +Inf for a
// contact as wide as the closing disk.
func lensDepth(r, rc float64) float64 {
	const R = maskClosingMM
	if rc >= R {
		return math.Inf(1)
	}
	return math.Sqrt(R*R-math.Min(r*r, R*R)) - math.Sqrt(R*R-rc*rc)
}

// extendToPleura grows the body, from itself, into voxels outside the
// mask that are denser than the segmentation threshold, lie more than
// half a voxel (half mm) on the lung's side of the pleural surface surf
// (frame c, n, u, v as pleuraLine's), under the contact (within rmax mm
// of c across n) and, voxel centre, within the lens the mask's closing can
// have left out there (lensDepth: with half a voxel of slack beyond it, a
// pleural piece by a rib on LIDC-IDRI-0001's 1.25 mm grid took a layer of
// wall and was reported). The box's lung mask stays as it was: these voxels
// are lesion outside the mask, and the rays that count spicules must not
// read them as lung (read as lung, they showed one phantom mass a halo
// 16 mm deep and no spicule). It returns how many joined.
func (ws *Workspace) extendToPleura(b *boxInfo, c, n, u, v [3]float64, rmax float64, surf func(u, v float64) float64, half float64) int {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	q := ws.queue[:0]
	for p, l := range ws.lab {
		if l == lBody {
			q = append(q, int32(p))
		}
	}
	added := 0
	for len(q) > 0 {
		p := int(q[len(q)-1])
		q = q[:len(q)-1]
		for _, np := range neighbours6(p, nx, ny, nz) {
			if np < 0 || ws.lab[np] == lBody || ws.lung[np] != 0 || ws.sm.Data[np] <= b.thresh {
				continue
			}
			d := sub(b.posMM(np), c)
			du, dv := dot(d, u), dot(d, v)
			r, h := math.Hypot(du, dv), dot(d, n)-surf(du, dv)
			if r > rmax || h > -half || h < -lensDepth(r, rmax) {
				continue
			}
			ws.lab[np] = lBody
			added++
			q = append(q, int32(np))
		}
	}
	ws.queue = q // the grown queue's storage, for the next use
	return added
}

// posMM is box voxel p's position in mm along the box's axes from its
// first voxel (the frame pleuraLine fits the pleura in).
func (b *boxInfo) posMM(p int) [3]float64 {
	nx, ny := b.n[0], b.n[1]
	sp := b.grid.Spacing
	return [3]float64{float64(p%nx) * sp[0], float64((p/nx)%ny) * sp[1], float64(p/(nx*ny)) * sp[2]}
}

// pleuraPoints returns pleuraLine's pleura points (u, v, h: mm in the
// frame u, v, n at c, the contact's centre, whose in-plane radius is rc
// mm) and how many lie in each quadrant of the plane, among the box
// voxels within reach of c; the frame coordinates advance by a constant
// step along i.
func (ws *Workspace) pleuraPoints(b *boxInfo, c, n, u, v [3]float64, rc float64) (pts [][3]float64, quad [4]int) {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	sp := b.grid.Spacing
	rIn := rc + pleuraGapMM
	rOut := rIn + math.Max(pleuraRingMM, rc)
	reach := math.Hypot(rOut, pleuraSlabMM)
	var lo, hi [3]int
	for a := 0; a < 3; a++ {
		lo[a] = max(0, int(math.Floor((c[a]-reach)/sp[a])))
		hi[a] = min(b.n[a]-1, int(math.Ceil((c[a]+reach)/sp[a])))
	}
	step := [3]float64{u[0] * sp[0], v[0] * sp[0], n[0] * sp[0]}
	for k := lo[2]; k <= hi[2]; k++ {
		for j := lo[1]; j <= hi[1]; j++ {
			d0 := sub([3]float64{float64(lo[0]) * sp[0], float64(j) * sp[1], float64(k) * sp[2]}, c)
			du, dv, h := dot(d0, u)-step[0], dot(d0, v)-step[1], dot(d0, n)-step[2]
			row := nx * (j + ny*k)
			for i := lo[0]; i <= hi[0]; i++ {
				du, dv, h = du+step[0], dv+step[1], h+step[2]
				p := row + i
				if ws.lung[p] == 0 || ws.lab[p] == lBody || math.Abs(h) > pleuraSlabMM {
					continue
				}
				if r2 := du*du + dv*dv; r2 < rIn*rIn || r2 > rOut*rOut {
					continue
				}
				// Pleura facing another way than n (across a narrow
				// recess, the far side of the lung) is not the same
				// surface.
				if d, k := outsideFaces(ws.lung, p, nx, ny, nz); k == 0 || dot(d, n) <= 0.3*math.Sqrt(dot(d, d)) {
					continue
				}
				pts = append(pts, [3]float64{du, dv, h})
				q := 0
				if du < 0 {
					q |= 1
				}
				if dv < 0 {
					q |= 2
				}
				quad[q]++
			}
		}
	}
	return pts, quad
}

// Limits of pleuraLine (mm, voxels, points).
const (
	pleuraMinContact = 4   // contact voxels below which nothing is done
	pleuraGapMM      = 2   // the ring of pleura starts this far beyond the contact
	pleuraRingMM     = 8   // and is at least this wide
	pleuraSlabMM     = 10  // how far along the normal pleura points may lie from the contact
	pleuraMinPoints  = 30  // pleura points needed
	pleuraMaxRMS     = 1.5 // the surface fits them within this (mm)
)

// outsideFaces returns the sum of the unit directions of box voxel p's
// faces to voxels outside the lung mask (face f looks along −axis f/2 when
// f is even, +axis when odd; the box's edge does not count) and how many
// such faces there are.
func outsideFaces(lung []uint8, p, nx, ny, nz int) (d [3]float64, k int) {
	for f, q := range neighbours6(p, nx, ny, nz) {
		if q >= 0 && lung[q] == 0 {
			d[f/2] += float64(2*(f%2) - 1)
			k++
		}
	}
	return d, k
}

// fitHeight fits h = a + b·u + c·v + d·u² + e·u·v + f·v² (a plane, the
// first three terms, when there are under 4 points per coefficient) to
// pts (u, v, h) by least squares and returns the surface and the RMS
// residual (mm).
func fitHeight(pts [][3]float64) (func(u, v float64) float64, float64, bool) {
	k := 6
	if len(pts) < 24 {
		k = 3
	}
	a := mat.NewDense(len(pts), k, nil)
	y := mat.NewVecDense(len(pts), nil)
	for i, p := range pts {
		row := []float64{1, p[0], p[1], p[0] * p[0], p[0] * p[1], p[1] * p[1]}
		for j := 0; j < k; j++ {
			a.Set(i, j, row[j])
		}
		y.SetVec(i, p[2])
	}
	var x mat.VecDense
	if err := x.SolveVec(a, y); err != nil {
		return nil, 0, false
	}
	co := make([]float64, 6)
	for j := 0; j < k; j++ {
		co[j] = x.AtVec(j)
	}
	f := func(u, v float64) float64 {
		return co[0] + co[1]*u + co[2]*v + co[3]*u*u + co[4]*u*v + co[5]*v*v
	}
	var ss float64
	for _, p := range pts {
		r := p[2] - f(p[0], p[1])
		ss += r * r
	}
	return f, math.Sqrt(ss / float64(len(pts))), true
}

// perpendicular returns two unit vectors that with the unit vector n make
// an orthonormal frame.
func perpendicular(n [3]float64) (u, v [3]float64) {
	t := [3]float64{1, 0, 0}
	if math.Abs(n[0]) > 0.8 {
		t = [3]float64{0, 1, 0}
	}
	u = cross(n, t)
	l := math.Sqrt(dot(u, u))
	for a := range u {
		u[a] /= l
	}
	return u, cross(n, u)
}

func dot(a, b [3]float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }

func sub(a, b [3]float64) [3]float64 { return [3]float64{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }

func cross(a, b [3]float64) [3]float64 {
	return [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}
