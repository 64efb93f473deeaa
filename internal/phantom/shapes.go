package phantom

import "math"

// ellipseCyl is an elliptic cylinder along z: centre (cx, cy), semi-axes a
// (x) and b (y) in mm, between z0 and z1.
type ellipseCyl struct{ cx, cy, a, b, z0, z1 float64 }

func (e ellipseCyl) box() (lo, hi vec) {
	return vec{e.cx - e.a, e.cy - e.b, e.z0}, vec{e.cx + e.a, e.cy + e.b, e.z1}
}

func (e ellipseCyl) sdf(x, y, z float64) float64 {
	dx, dy := (x-e.cx)/e.a, (y-e.cy)/e.b
	d := (math.Sqrt(dx*dx+dy*dy) - 1) * math.Min(e.a, e.b)
	return math.Max(d, math.Max(e.z0-z, z-e.z1))
}

// arcPlate is the scanner table: a curved plate, part of a cylinder along z of
// radius r about (cx, cy), thickness t, limited to |x−cx| ≤ w.
type arcPlate struct{ cx, cy, r, t, w, z0, z1 float64 }

func (p arcPlate) box() (lo, hi vec) {
	top := p.cy + math.Sqrt(p.r*p.r-p.w*p.w) - p.t
	return vec{p.cx - p.w, top, p.z0}, vec{p.cx + p.w, p.cy + p.r + p.t, p.z1}
}

func (p arcPlate) sdf(x, y, z float64) float64 {
	dx, dy := x-p.cx, y-p.cy
	d := math.Abs(math.Sqrt(dx*dx+dy*dy)-p.r) - p.t/2
	d = math.Max(d, math.Abs(dx)-p.w)
	if dy < 0 {
		d = math.Max(d, -dy)
	}
	return math.Max(d, math.Max(p.z0-z, z-p.z1))
}

// tube is a tapered capsule from a (radius ra) to b (radius rb), mm.
type tube struct {
	a, b   vec
	ra, rb float64
	ab     vec
	l2     float64
}

func newTube(a, b vec, ra, rb float64) *tube {
	ab := sub(b, a)
	return &tube{a: a, b: b, ra: ra, rb: rb, ab: ab, l2: dot(ab, ab)}
}

func (t *tube) box() (lo, hi vec) {
	r := math.Max(t.ra, t.rb)
	for i := 0; i < 3; i++ {
		lo[i] = math.Min(t.a[i], t.b[i]) - r
		hi[i] = math.Max(t.a[i], t.b[i]) + r
	}
	return lo, hi
}

// dist returns the signed distance of p and the parameter (0..1) of its
// nearest point along the axis.
func (t *tube) dist(x, y, z float64) (float64, float64) {
	px, py, pz := x-t.a[0], y-t.a[1], z-t.a[2]
	s := 0.0
	if t.l2 > 0 {
		s = (px*t.ab[0] + py*t.ab[1] + pz*t.ab[2]) / t.l2
		s = math.Max(0, math.Min(1, s))
	}
	dx, dy, dz := px-s*t.ab[0], py-s*t.ab[1], pz-s*t.ab[2]
	return math.Sqrt(dx*dx+dy*dy+dz*dz) - (t.ra + s*(t.rb-t.ra)), s
}

func (t *tube) sdf(x, y, z float64) float64 { d, _ := t.dist(x, y, z); return d }

// lungShape is one lung: an elliptic cross-section centred (lx, ly) with
// semi-axes la, lb (mm) that narrows towards a rounded apex at zTop, on a
// domed diaphragm rising dome mm above zBase at the centre.
type lungShape struct{ lx, ly, la, lb, zBase, zTop, dome float64 }

func (l lungShape) box() (lo, hi vec) {
	return vec{l.lx - l.la, l.ly - l.lb, l.zBase}, vec{l.lx + l.la, l.ly + l.lb, l.zTop}
}

// scaleAt is the cross-section scale at height z: 1 at the base, shrinking
// slightly upwards and like a paraboloid over the top 30 %.
func (l lungShape) scaleAt(z float64) float64 {
	t := (z - l.zBase) / (l.zTop - l.zBase)
	s := (1 - 0.15*math.Max(t, 0)) * math.Min(1, math.Sqrt(math.Max(1-t, 0)/0.3))
	return math.Max(s, 0.01)
}

func (l lungShape) sdf(x, y, z float64) float64 {
	s := l.scaleAt(z)
	dx, dy := (x-l.lx)/(l.la*s), (y-l.ly)/(l.lb*s)
	d := (math.Sqrt(dx*dx+dy*dy) - 1) * math.Min(l.la, l.lb) * s
	ux, uy := (x-l.lx)/l.la, (y-l.ly)/l.lb
	zb := l.zBase + l.dome*math.Max(0, 1-ux*ux-uy*uy)
	return math.Max(d, math.Max(zb-z, z-l.zTop))
}

// ribCage is the set of ribs of both sides: bony tubes (half-width hw, half
// height hh, mm) following an ellipse (cx, cy, ra, rb) from beside the spine
// round to the front, falling by 1.2 pitch from back to front; rib k's
// posterior end is at zTop − k·pitch.
type ribCage struct {
	cx, cy, ra, rb float64
	zTop, pitch    float64
	n              int
	hw, hh         float64
}

const (
	ribPhiMin = 0.3
	ribPhiMax = math.Pi - 0.5
)

func (r ribCage) box() (lo, hi vec) {
	m := r.hw + 2
	return vec{r.cx - r.ra - m, r.cy - r.rb - m, r.zTop - float64(r.n)*r.pitch - 1.2*r.pitch - r.hh},
		vec{r.cx + r.ra + m, r.cy + r.rb + m, r.zTop + r.hh}
}

func (r ribCage) sdf(x, y, z float64) float64 {
	dxn, dyn := math.Abs(x-r.cx)/r.ra, (y-r.cy)/r.rb
	rho := math.Sqrt(dxn*dxn + dyn*dyn)
	rl := math.Min(r.ra, r.rb)
	dr := (rho - 1) * rl
	if math.Abs(dr) > 3*r.hw+5 {
		return math.Abs(dr) - r.hw
	}
	phi := math.Atan2(dxn, dyn) // 0 posterior, π/2 lateral, π anterior
	// local radius of the ellipse at this angle, for the radial distance
	rl = math.Hypot(r.ra*math.Sin(phi), r.rb*math.Cos(phi))
	dr = (rho - 1) * rl
	drop := 1.2 * r.pitch * phi / math.Pi
	k := math.Round((r.zTop - drop - z) / r.pitch)
	k = math.Max(0, math.Min(float64(r.n-1), k))
	dz := z - (r.zTop - k*r.pitch - drop)
	d := (math.Sqrt((dr/r.hw)*(dr/r.hw)+(dz/r.hh)*(dz/r.hh)) - 1) * r.hw
	dphi := math.Max(ribPhiMin-phi, phi-ribPhiMax) * rl
	return math.Max(d, dphi)
}

// halfSpace is the solid {p : n·p ≥ off} (n unit), clipped to a box.
type halfSpace struct {
	n      vec
	off    float64
	lo, hi vec
}

func (h halfSpace) box() (lo, hi vec) { return h.lo, h.hi }

func (h halfSpace) sdf(x, y, z float64) float64 {
	return h.off - (h.n[0]*x + h.n[1]*y + h.n[2]*z)
}
