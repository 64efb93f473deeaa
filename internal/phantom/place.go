package phantom

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// placeLesion draws a lesion of kind k and nominal diameter d (mm) and
// finds a place for it:
//
//   - juxtapleural nodules: centre a quarter radius inside the lateral or
//     posterior pleura (not the diaphragm or apex);
//   - masses: against the chest wall (lateral, anterior or posterior
//     pleura), against the mediastinum (medial pleura) or, when they fit,
//     in the parenchyma at least 3 mm from the pleura; a touching mass's
//     centre lies inside the pleura at 0.55–0.85 of the body's smallest
//     radius within 30° of the wall's normal, so it meets the wall over a
//     broad base;
//   - juxtavascular nodules: against a vessel of 1–3 mm radius (atVessel),
//     at least 3 mm clear of the pleura;
//   - every other kind: in the parenchyma at least 3 mm clear of the pleura
//     (spicules may reach it).
//
// Every lesion is clipped to its lung. It must keep clear of the trachea
// and main bronchi, the spine and ribs, thick vessels (ground glass lets
// vessels under 2.5 mm radius through, a part-solid core keeps vessels of
// 1.5 mm and more out, a mass only the hilar trunks, a juxtavascular
// nodule only from its middle), segmental bronchi,
// scars and the other lesions.
func (a *anatomy) placeLesion(rng *rand.Rand, k Kind, d float64, others []*lesion) (*lesion, error) {
	l := newLesion(rng, k, d)
	mode := LocationParenchyma
	if k == Mass {
		switch x := rng.Float64(); {
		case x < 0.45:
			mode = LocationJuxtapleural
		case x < 0.75:
			mode = LocationMediastinal
		}
	}
	const tries = 4000
	for try := 0; try < tries; try++ {
		if k == Mass && try == tries/4 && mode == LocationParenchyma {
			mode = LocationJuxtapleural // a big mass rarely fits inside
		}
		s := rng.IntN(2)
		lu := &a.lungs[s]
		lo, hi := lu.box()
		var p vec
		for i := 0; i < 3; i++ {
			p[i] = lo[i] + (hi[i]-lo[i])*rng.Float64()
		}
		if a.lungDist(p) >= 0 {
			continue
		}
		var ok bool
		switch {
		case k == Juxtapleural:
			p, ok = a.atPleura(s, p, l.bodyReachAt()/4, func(n vec, q vec) bool {
				lat := (q[0] - lu.lx) * (lu.lx - a.cx)
				return !(lat <= 0 && q[1] < lu.ly) // lateral or posterior wall only
			})
			ok = ok && a.insideGrid(p, d/2+2)
		case k == Mass && mode != LocationParenchyma:
			p, ok = a.massAtWall(s, p, l, mode, rng)
		case k == Juxtavascular:
			p, ok = a.atVessel(rng, l.body.rmax)
			ok = ok && a.lungDist(p) <= -(l.bodyReachAt()+3)
		default:
			ok = a.lungDist(p) <= -(l.bodyReachAt() + 3)
		}
		if !ok || !a.clear(p, l, others) {
			continue
		}
		clip := lu
		if a.lungDist(p) < -(l.reachAt() + 2) {
			clip = nil // the lung boundary is out of reach
		}
		l.moveTo(p, clip)
		switch k {
		case Juxtapleural:
			l.location = LocationJuxtapleural
		case Mass:
			l.location = mode
		}
		return l, nil
	}
	return nil, fmt.Errorf("%w after %d tries", ErrNoRoom, tries)
}

// atVessel draws a place for a juxtavascular nodule of body radius r
// (mm): a random vessel of 1–3 mm radius where it is drawn (away from a
// fifth of its length at either end), and the point the vessel's radius
// plus 0.75–1.0 r from its axis in a random direction perpendicular to
// it. ok is false when the vessel drawn is thinner or thicker.
func (a *anatomy) atVessel(rng *rand.Rand, r float64) (vec, bool) {
	if len(a.vessels) == 0 {
		return vec{}, false
	}
	t := a.vessels[rng.IntN(len(a.vessels))]
	s := 0.2 + 0.6*rng.Float64()
	vr := t.ra + s*(t.rb-t.ra)
	if vr < 1 || vr > 3 || t.l2 == 0 {
		return vec{}, false
	}
	axis := add(t.a, scale(t.ab, s))
	u := perpendicular(rng, scale(t.ab, 1/math.Sqrt(t.l2)))
	return add(axis, scale(u, vr+(0.75+0.25*rng.Float64())*r)), true
}

// bodyReachAt is the radius (mm) about the centre that holds the body and
// its soft margin, before the lesion is placed.
func (l *lesion) bodyReachAt() float64 { return l.body.rmax + l.margin }

// atPleura walks p to depth below the pleura of lung s along the surface
// normal; ok is false when the walk does not settle, the normal points up or
// down (diaphragm, apex) or want rejects the place.
func (a *anatomy) atPleura(s int, p vec, depth float64, want func(n, q vec) bool) (vec, bool) {
	for it := 0; it < 8; it++ {
		dd := a.lungDist(p)
		p = sub(p, scale(a.lungNormal(s, p), dd+depth))
	}
	if math.Abs(a.lungDist(p)+depth) > 0.3 {
		return p, false
	}
	n := a.lungNormal(s, p)
	if math.Abs(n[2]) > 0.4 {
		return p, false
	}
	return p, want(n, p)
}

// massAtWall places mass l against the chest wall (mode juxtapleural) or
// the mediastinum (mode mediastinal) of lung s near p: it finds the pleura
// there and puts the centre inside it at 0.55–0.85 of the body's smallest
// radius within 30° of the wall's normal, so the mass meets the wall over
// a broad base; away from that base (more than 73° from the normal) the
// body must stay in the lung.
func (a *anatomy) massAtWall(s int, p vec, l *lesion, mode Location, rng *rand.Rand) (vec, bool) {
	lu := &a.lungs[s]
	med := math.Copysign(1, a.cx-lu.lx) // towards the midline along x
	w, ok := a.atPleura(s, p, 0, func(n, q vec) bool {
		if mode == LocationMediastinal {
			return n[0]*med > 0.7
		}
		return n[0]*med < 0.2
	})
	if !ok {
		return p, false
	}
	n := a.lungNormal(s, w)
	// the body's smallest radius within 30° of the normal, so that the
	// whole cone, not one lobe, reaches the wall: a broad base
	rc := l.body.at(n)
	e1 := perpendicularTo(n)
	e2 := cross(n, e1)
	for i := 1; i <= 3; i++ {
		th := float64(i) * math.Pi / 18
		for j := 0; j < 12; j++ {
			ph := float64(j) * math.Pi / 6
			u := add(scale(n, math.Cos(th)), scale(add(scale(e1, math.Cos(ph)), scale(e2, math.Sin(ph))), math.Sin(th)))
			rc = min(rc, l.body.at(u))
		}
	}
	h := rc * (0.55 + 0.3*rng.Float64())
	c := sub(w, scale(n, h))
	if a.lungDist(c) > -0.5*h || !a.insideGrid(c, 0) {
		return c, false
	}
	// Away from the contact the body must lie in the lung: a mass that the
	// clip would cut on other sides too (wedged into the apex or a recess)
	// fills its part of the lung instead of looking like a mass on the
	// wall.
	const m = 300
	out := 0
	for i := 0; i < m; i++ {
		u := fibonacci(i, m)
		if dot(u, n) < 0.3 && a.lungDist(add(c, scale(u, l.body.at(u)))) > -1 {
			out++
		}
	}
	return c, out <= m/50
}

// insideGrid reports whether the ball (p, r) lies inside the scanned volume.
func (a *anatomy) insideGrid(p vec, r float64) bool {
	idx := a.g.WorldToIndex(p)
	for i := 0; i < 3; i++ {
		m := r / a.g.Spacing[i]
		if idx[i]-m < 0 || idx[i]+m > float64(a.g.Dims[i]-1) {
			return false
		}
	}
	return true
}

// clear checks a candidate centre p for lesion l against airways, spine,
// ribs, vessels, bronchi, scars and the other lesions.
func (a *anatomy) clear(p vec, l *lesion, others []*lesion) bool {
	k := l.kind
	r := l.bodyReachAt()
	reach := r + (l.reachAt()-r)*0.5
	if k == Mass {
		reach = r
	}
	for _, t := range a.airWalls {
		if t.sdf(p[0], p[1], p[2]) < reach+3 {
			return false
		}
	}
	if k != Mass && (a.spine.sdf(p[0], p[1], p[2]) < r+3 || a.ribs.sdf(p[0], p[1], p[2]) < r+1) {
		return false
	}
	core := add(p, l.coreOff)
	var coreR float64
	if l.core != nil {
		coreR = l.core.rmax
	}
	for _, t := range a.vessels {
		d, s := t.dist(p[0], p[1], p[2])
		vr := t.ra + s*(t.rb-t.ra)
		switch k {
		case Mass:
			if vr >= 3.5 && d < 0.5*r {
				return false
			}
		case Juxtavascular:
			// Vessels may meet it (one is placed against it), but none
			// may run through its middle.
			if d < 0.6*r {
				return false
			}
		case GroundGlass, PartSolid:
			if vr >= 2.5 && d < r+1 {
				return false
			}
			if k == PartSolid && vr >= 1.5 && t.sdf(core[0], core[1], core[2]) < coreR+1 {
				return false
			}
		default:
			if vr >= 1.5 && d < r+1 {
				return false
			}
			if d < 0.6*r+0.5 {
				return false
			}
		}
	}
	if k != Mass {
		for _, t := range a.bronchiWalls {
			if t.sdf(p[0], p[1], p[2]) < r+1 {
				return false
			}
		}
	}
	for i := range a.scars {
		if a.scars[i].sdfFree(p) < reach+2 {
			return false
		}
	}
	for _, o := range others {
		or := o.bodyReach + (o.reach-o.bodyReach)*0.5
		if norm(sub(p, o.c)) < reach+or+5 {
			return false
		}
	}
	return true
}

// reachAt is the radius (mm) about the centre that holds the whole lesion
// (spicules included), before it is placed.
func (l *lesion) reachAt() float64 {
	r := l.bodyReachAt()
	for _, s := range l.spikes {
		r = max(r, norm(s.b)+s.rb)
	}
	return r
}

// sdfFree is the scar's field without its lung clip.
func (s *scar) sdfFree(p vec) float64 {
	d := sub(p, s.c)
	a := max(math.Abs(dot(d, s.u))-s.hl, 0)
	b := max(math.Abs(dot(d, s.v))-s.hh, 0)
	c := dot(d, s.w)
	return math.Sqrt(a*a+b*b+c*c) - s.ht
}
