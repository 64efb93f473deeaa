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
	d := (math.Sqrt(dx*dx+dy*dy) - 1) * min(e.a, e.b)
	return max(d, max(e.z0-z, z-e.z1))
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
	d = max(d, math.Abs(dx)-p.w)
	if dy < 0 {
		d = max(d, -dy)
	}
	return max(d, max(p.z0-z, z-p.z1))
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
	r := max(t.ra, t.rb)
	for i := 0; i < 3; i++ {
		lo[i] = min(t.a[i], t.b[i]) - r
		hi[i] = max(t.a[i], t.b[i]) + r
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
		s = max(0, min(1, s))
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
	s := (1 - 0.15*max(t, 0)) * min(1, math.Sqrt(max(1-t, 0)/0.3))
	return max(s, 0.01)
}

func (l lungShape) sdf(x, y, z float64) float64 {
	s := l.scaleAt(z)
	dx, dy := (x-l.lx)/(l.la*s), (y-l.ly)/(l.lb*s)
	d := (math.Sqrt(dx*dx+dy*dy) - 1) * min(l.la, l.lb) * s
	ux, uy := (x-l.lx)/l.la, (y-l.ly)/l.lb
	zb := l.zBase + l.dome*max(0, 1-ux*ux-uy*uy)
	return max(d, max(zb-z, z-l.zTop))
}

// spans appends to buf the x-intervals (mm) of row (y, z) whose points lie
// deeper than margin mm inside the lung (by its field's Lipschitz bound
// lip): the cross-section's ellipse shrunk by margin, minus the part under
// the diaphragm's dome raised by margin.
func (l lungShape) spans(y, z, margin, lip float64, buf [][2]float64) [][2]float64 {
	m := margin * lip
	if z > l.zTop-m || z < l.zBase+m {
		return buf
	}
	s := l.scaleAt(z)
	// ellipse: (dx/(la s))² + (dy/(lb s))² ≤ (1 − m/(min(la,lb) s))²
	k := 1 - m/(min(l.la, l.lb)*s)
	if k <= 0 {
		return buf
	}
	uy := (y - l.ly) / (l.lb * s)
	q := k*k - uy*uy
	if q <= 0 {
		return buf
	}
	half := l.la * s * math.Sqrt(q)
	x0, x1 := l.lx-half, l.lx+half
	// dome: z − m ≥ zBase + dome·(1 − ux² − uy²) with u unscaled
	vy := (y - l.ly) / l.lb
	need := 1 - vy*vy - (z-m-l.zBase)/l.dome
	if need <= 0 {
		return append(buf, [2]float64{x0, x1})
	}
	hole := l.la * math.Sqrt(need)
	if a := l.lx - hole; a > x0 {
		buf = append(buf, [2]float64{x0, min(a, x1)})
	}
	if b := l.lx + hole; b < x1 {
		buf = append(buf, [2]float64{max(b, x0), x1})
	}
	return buf
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
	rl := min(r.ra, r.rb)
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
	k = max(0, min(float64(r.n-1), k))
	dz := z - (r.zTop - k*r.pitch - drop)
	d := (math.Sqrt((dr/r.hw)*(dr/r.hw)+(dz/r.hh)*(dz/r.hh)) - 1) * r.hw
	dphi := max(ribPhiMin-phi, phi-ribPhiMax) * rl
	return max(d, dphi)
}

// tubes approximates the rib cage by capsules for rendering: each rib, on
// each side, is a polyline of 0.1 rad steps along its ellipse, drawn as two
// capsules of radius hw offset by ±(hh − hw) in z, whose union has the
// rib's hw × hh cross-section with rounded ends.
func (r ribCage) tubes() []*tube {
	var ts []*tube
	dz := r.hh - r.hw
	steps := int(math.Ceil((ribPhiMax - ribPhiMin) / 0.1))
	at := func(k int, side, phi, off float64) vec {
		return vec{r.cx + side*r.ra*math.Sin(phi), r.cy + r.rb*math.Cos(phi),
			r.zTop - float64(k)*r.pitch - 1.2*r.pitch*phi/math.Pi + off}
	}
	for k := 0; k < r.n; k++ {
		for _, side := range []float64{-1, 1} {
			for s := 0; s < steps; s++ {
				p0 := ribPhiMin + (ribPhiMax-ribPhiMin)*float64(s)/float64(steps)
				p1 := ribPhiMin + (ribPhiMax-ribPhiMin)*float64(s+1)/float64(steps)
				for _, off := range []float64{-dz, dz} {
					ts = append(ts, newTube(at(k, side, p0, off), at(k, side, p1, off), r.hw, r.hw))
				}
			}
		}
	}
	return ts
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
