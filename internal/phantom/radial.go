package phantom

import (
	"math"
	"math/rand/v2"
)

// radialSpec describes a star-shaped solid about its centre by its radius
// in every direction u (unit vector):
//
//	R(u) = r0 · (1 + Σ amps[i]·exp(−(1 − u·bumps[i])/width)) · (1 + rough·texture(u·roughFreq))
//
// (mm): a sphere, broad lobes (bumps) and a fine irregular margin (rough).
type radialSpec struct {
	r0        float64 // mm
	bumps     []vec
	amps      []float64
	width     float64 // angular width of the lobes (1 − cos), 0 means 0.25
	rough     float64 // relative amplitude of the fine irregularity
	roughFreq float64 // lattice cells per unit of direction
	roughSeed uint64
}

// lobe is the lobe factor in unit direction u.
func (s *radialSpec) lobe(u vec) float64 {
	w := s.width
	if w == 0 {
		w = 0.25
	}
	f := 1.0
	for i, b := range s.bumps {
		f += s.amps[i] * math.Exp(-(1-dot(u, b))/w)
	}
	return f
}

// R is the radius (mm) in unit direction u.
func (s *radialSpec) R(u vec) float64 {
	r := s.r0 * s.lobe(u)
	if s.rough != 0 {
		f := s.roughFreq
		n := valueNoise(s.roughSeed, u[0]*f+11.1, u[1]*f-7.3, u[2]*f+3.9) / valueNoiseSD
		// keep the margin irregular but bounded
		n = max(-2.5, min(2.5, n))
		r *= 1 + s.rough*n
	}
	return r
}

// randomLobes adds n lobes of relative amplitude lo…hi in random directions.
func (s *radialSpec) randomLobes(rng *rand.Rand, n int, lo, hi float64) {
	for i := 0; i < n; i++ {
		s.bumps = append(s.bumps, randomUnit(rng))
		s.amps = append(s.amps, lo+(hi-lo)*rng.Float64())
	}
}

// cubeN is the number of samples along each edge of a cube-map face.
const cubeN = 48

// radial is a star-shaped solid tabulated for fast evaluation: R(u) on the
// six faces of a cube (cubeN × cubeN samples each, bilinear in between), so
// the solid that is rendered and the one that is measured are the same
// function. World coordinates are LPS mm.
type radial struct {
	c    vec       // centre, LPS mm
	tab  []float32 // 6 faces × cubeN², R in mm
	rmin float64   // smallest and largest tabulated R, mm
	rmax float64
	lip  float64 // bound on |∇f| away from the centre
}

// cubeDir is the unit direction of sample (a, b) on face f (0..5: +x, −x,
// +y, −y, +z, −z); a, b ∈ [−1, 1] are the other two coordinates divided by
// the face's.
func cubeDir(f int, a, b float64) vec {
	s := 1.0
	if f&1 == 1 {
		s = -1
	}
	var v vec
	switch f >> 1 {
	case 0:
		v = vec{s, a, b}
	case 1:
		v = vec{a, s, b}
	default:
		v = vec{a, b, s}
	}
	return unit(v)
}

// newRadial tabulates spec about centre c.
func newRadial(spec *radialSpec, c vec) *radial {
	r := &radial{c: c, tab: make([]float32, 6*cubeN*cubeN), rmin: math.Inf(1)}
	step := 2.0 / float64(cubeN-1)
	slope := 0.0
	var prev vec
	for f := 0; f < 6; f++ {
		for j := 0; j < cubeN; j++ {
			for i := 0; i < cubeN; i++ {
				u := cubeDir(f, -1+float64(i)*step, -1+float64(j)*step)
				v := spec.R(u)
				r.tab[(f*cubeN+j)*cubeN+i] = float32(v)
				r.rmin = min(r.rmin, v)
				r.rmax = max(r.rmax, v)
				if i > 0 {
					w := float64(r.tab[(f*cubeN+j)*cubeN+i-1])
					ang := norm(sub(u, prev)) // chord ≈ angle
					slope = max(slope, math.Abs(v-w)/ang)
				}
				prev = u
			}
		}
	}
	// |∇(ρ − R(u))| = √(1 + |∇R|²/ρ²) with ρ ≈ R near the surface.
	g := slope / max(r.rmin, 1e-6)
	r.lip = 1.05 * math.Sqrt(1+g*g)
	return r
}

// movedTo returns the same solid centred at c (sharing the table).
func (r *radial) movedTo(c vec) *radial {
	m := *r
	m.c = c
	return &m
}

// scaled multiplies every radius by f in place.
func (r *radial) scaled(f float64) {
	for i, v := range r.tab {
		r.tab[i] = float32(float64(v) * f)
	}
	r.rmin *= f
	r.rmax *= f
}

// at returns the tabulated R (mm) in unit direction u.
func (r *radial) at(u vec) float64 {
	ax, ay, az := math.Abs(u[0]), math.Abs(u[1]), math.Abs(u[2])
	var f int
	var a, b, m float64
	switch {
	case ax >= ay && ax >= az:
		f, a, b, m = 0, u[1], u[2], ax
		if u[0] < 0 {
			f = 1
		}
	case ay >= az:
		f, a, b, m = 2, u[0], u[2], ay
		if u[1] < 0 {
			f = 3
		}
	default:
		f, a, b, m = 4, u[0], u[1], az
		if u[2] < 0 {
			f = 5
		}
	}
	const h = float64(cubeN-1) / 2
	x := (a/m + 1) * h
	y := (b/m + 1) * h
	i, j := int(x), int(y)
	if i >= cubeN-1 {
		i = cubeN - 2
	}
	if j >= cubeN-1 {
		j = cubeN - 2
	}
	tx, ty := x-float64(i), y-float64(j)
	o := (f*cubeN+j)*cubeN + i
	t := r.tab
	v0 := float64(t[o]) + tx*float64(t[o+1]-t[o])
	v1 := float64(t[o+cubeN]) + tx*float64(t[o+cubeN+1]-t[o+cubeN])
	return v0 + ty*(v1-v0)
}

// f is the solid's field at world point p: ρ − R(u), negative inside (mm;
// not a true distance, see lip).
func (r *radial) f(p vec) float64 {
	d := vec{p[0] - r.c[0], p[1] - r.c[1], p[2] - r.c[2]}
	rho := math.Sqrt(d[0]*d[0] + d[1]*d[1] + d[2]*d[2])
	if rho < 1e-9 {
		return -r.rmin
	}
	return rho - r.at(vec{d[0] / rho, d[1] / rho, d[2] / rho})
}

// volume returns the solid's volume (mm³) by quadrature over directions.
func (r *radial) volume() float64 {
	var v float64
	forSphere(func(u vec, w float64) {
		R := r.at(u)
		v += w * R * R * R / 3
	})
	return v
}

// Quadrature grid over the sphere: sphereNT polar rings at midpoints,
// sphereNP azimuths.
const (
	sphereNT = 120
	sphereNP = 240
)

// forSphere calls fn for every direction of the quadrature grid with its
// solid-angle weight (they sum to 4π).
func forSphere(fn func(u vec, w float64)) {
	dt, dp := math.Pi/sphereNT, 2*math.Pi/sphereNP
	for i := 0; i < sphereNT; i++ {
		th := (float64(i) + 0.5) * dt
		st, ct := math.Sincos(th)
		w := st * dt * dp
		for j := 0; j < sphereNP; j++ {
			sp, cp := math.Sincos(float64(j) * dp)
			fn(vec{st * cp, st * sp, ct}, w)
		}
	}
}
