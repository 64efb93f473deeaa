package phantom

import "math"

// lesionTruth is what measure reports about a placed lesion.
type lesionTruth struct {
	centroid    vec     // centroid of the (clipped) body, LPS mm
	volume      float64 // mm³: body (clipped to the lung) plus spicules outside it
	long, short float64 // mm: Lung-RADS axial diameters of the body
	solidVolume float64 // mm³ of the part-solid core (0 for other kinds)
}

// reff is the body's radius in direction u once clipped to the lung: the
// first point along the ray from the centre where the lung ends, if that
// comes before the body's own surface.
func (l *lesion) reff(u vec) float64 {
	R := l.body.at(u)
	if l.clip == nil {
		return R
	}
	out := func(t float64) bool {
		p := add(l.c, scale(u, t))
		return l.clip.sdf(p[0], p[1], p[2]) > 0
	}
	if !out(R) {
		return R
	}
	lo, hi := 0.0, R
	for hi-lo > 1e-4 {
		m := (lo + hi) / 2
		if out(m) {
			hi = m
		} else {
			lo = m
		}
	}
	return (lo + hi) / 2
}

// measure computes the lesion's truth: the volume and centroid of the
// clipped body by quadrature over directions (plus the spicules' volume
// outside the body by integration along their axes), and the axial long
// and short axes of the body as Lung-RADS defines them (spicules
// excluded): on the axial plane where the longest in-plane diameter is
// largest, that diameter, and the longest extent perpendicular to it.
func (l *lesion) measure() lesionTruth {
	var tr lesionTruth
	dt, dp := math.Pi/sphereNT, 2*math.Pi/sphereNP
	// surface points on a latitude/longitude grid, poles included:
	// pts[j][i] is azimuth j, polar ring i (0 = north pole).
	pts := make([][]vec, sphereNP)
	var vol float64
	var mom vec
	north := l.reff(vec{0, 0, 1})
	south := l.reff(vec{0, 0, -1})
	for j := 0; j < sphereNP; j++ {
		sp, cp := math.Sincos(float64(j) * dp)
		ring := make([]vec, sphereNT+2)
		ring[0] = add(l.c, vec{0, 0, north})
		ring[sphereNT+1] = add(l.c, vec{0, 0, -south})
		for i := 0; i < sphereNT; i++ {
			st, ct := math.Sincos((float64(i) + 0.5) * dt)
			u := vec{st * cp, st * sp, ct}
			R := l.reff(u)
			w := st * dt * dp
			vol += w * R * R * R / 3
			mom = add(mom, scale(u, w*R*R*R*R/4))
			ring[i+1] = add(l.c, scale(u, R))
		}
		pts[j] = ring
	}
	tr.volume = vol
	tr.centroid = add(l.c, scale(mom, 1/vol))
	tr.volume += l.spikeVolume()
	if l.core != nil {
		tr.solidVolume = l.core.volume()
	}
	tr.long, tr.short = axialAxes(pts, l.c[2]-south, l.c[2]+north)
	return tr
}

// spikeVolume integrates each spicule's cross-section along its axis where
// it lies outside the body and inside the lung (mm³), plus its tip cap.
func (l *lesion) spikeVolume() float64 {
	var v float64
	const steps = 96
	for _, t := range l.tubes {
		length := math.Sqrt(t.l2)
		ax := unit(t.ab)
		e1 := perpendicularTo(ax)
		e2 := cross(ax, e1)
		for s := 0; s < steps; s++ {
			f := (float64(s) + 0.5) / steps
			r := t.ra + f*(t.rb-t.ra)
			c := add(t.a, scale(t.ab, f))
			// fraction of the disc outside the body and inside the lung: 8
			// points on each of three rings at the area medians of three
			// equal-area annuli
			in := 0
			for _, rr := range [3]float64{0.408 * r, 0.707 * r, 0.913 * r} {
				for k := 0; k < 8; k++ {
					a := math.Pi / 4 * (float64(k) + rr/r)
					p := add(c, add(scale(e1, rr*math.Cos(a)), scale(e2, rr*math.Sin(a))))
					if l.body.f(p) > 0 && (l.clip == nil || l.clip.sdf(p[0], p[1], p[2]) <= 0) {
						in++
					}
				}
			}
			v += math.Pi * r * r * length / steps * float64(in) / 24
		}
		tip := t.b
		if l.body.f(tip) > 0 && (l.clip == nil || l.clip.sdf(tip[0], tip[1], tip[2]) <= 0) {
			v += 2.0 / 3 * math.Pi * t.rb * t.rb * t.rb
		}
	}
	return v
}

// perpendicularTo returns a unit vector perpendicular to unit v.
func perpendicularTo(v vec) vec {
	a := vec{1, 0, 0}
	if math.Abs(v[0]) > 0.6 {
		a = vec{0, 1, 0}
	}
	return unit(cross(v, a))
}

// section returns the boundary of the axial section at height z of the
// surface sampled in pts: one point per azimuth (the outermost crossing
// of that meridian with the plane), in azimuth order.
func section(pts [][]vec, z float64) [][2]float64 {
	var out [][2]float64
	cx, cy := pts[0][0][0], pts[0][0][1]
	for _, ring := range pts {
		best, bd := [2]float64{}, -1.0
		for i := 0; i+1 < len(ring); i++ {
			a, b := ring[i], ring[i+1]
			da, db := a[2]-z, b[2]-z
			if (da > 0) == (db > 0) || da == db {
				continue
			}
			f := da / (da - db)
			x, y := a[0]+f*(b[0]-a[0]), a[1]+f*(b[1]-a[1])
			if d := (x-cx)*(x-cx) + (y-cy)*(y-cy); d > bd {
				best, bd = [2]float64{x, y}, d
			}
		}
		if bd >= 0 {
			out = append(out, best)
		}
	}
	return out
}

// longestChord returns the largest distance between two points of q and
// the unit direction of that chord.
func longestChord(q [][2]float64) (float64, [2]float64) {
	best, dir := 0.0, [2]float64{1, 0}
	for i := range q {
		for j := i + 1; j < len(q); j++ {
			dx, dy := q[j][0]-q[i][0], q[j][1]-q[i][1]
			if d := dx*dx + dy*dy; d > best {
				best, dir = d, [2]float64{dx, dy}
			}
		}
	}
	d := math.Sqrt(best)
	if d > 0 {
		dir = [2]float64{dir[0] / d, dir[1] / d}
	}
	return d, dir
}

// perpExtent returns the longest extent of polygon q along lines
// perpendicular to unit direction e: for each such line, the distance
// between its outermost crossings with the polygon's edges.
func perpExtent(q [][2]float64, e [2]float64) float64 {
	n := len(q)
	if n < 3 {
		return 0
	}
	v := [2]float64{-e[1], e[0]}
	s := make([]float64, n) // coordinate along e
	t := make([]float64, n) // along v
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, p := range q {
		s[i] = p[0]*e[0] + p[1]*e[1]
		t[i] = p[0]*v[0] + p[1]*v[1]
		lo, hi = min(lo, s[i]), max(hi, s[i])
	}
	best := 0.0
	const lines = 400
	for k := 1; k < lines; k++ {
		x := lo + (hi-lo)*float64(k)/lines
		mn, mx := math.Inf(1), math.Inf(-1)
		for i := 0; i < n; i++ {
			j := (i + 1) % n
			if (s[i] > x) == (s[j] > x) {
				continue
			}
			y := t[i] + (x-s[i])/(s[j]-s[i])*(t[j]-t[i])
			mn, mx = min(mn, y), max(mx, y)
		}
		if mx > mn {
			best = max(best, mx-mn)
		}
	}
	return best
}

// axialAxes finds the axial plane between z0 and z1 where the section's
// longest diameter is largest (0.2 mm steps, then 0.01 mm around the best)
// and returns that diameter and the longest extent perpendicular to it.
func axialAxes(pts [][]vec, z0, z1 float64) (long, short float64) {
	bestZ, best := z0, -1.0
	scan := func(a, b, step float64) {
		for z := a; z <= b; z += step {
			if z <= z0 || z >= z1 {
				continue
			}
			if d, _ := longestChord(section(pts, z)); d > best {
				best, bestZ = d, z
			}
		}
	}
	scan(z0+0.1, z1, 0.2)
	scan(bestZ-0.2, bestZ+0.2, 0.01)
	q := section(pts, bestZ)
	long, e := longestChord(q)
	return long, perpExtent(q, e)
}
