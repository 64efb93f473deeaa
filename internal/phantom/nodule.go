package phantom

import (
	"math"
	"math/rand/v2"
)

// nodule is a nodule being rendered: its truth and its solid.
type nodule struct {
	c    vec // LPS centre, mm
	diam float64
	kind Kind
	r    float64 // nominal radius, mm
	// lobulated: bump directions and amplitudes, base radius r0
	bumps []vec
	amps  []float64
	r0    float64
	// spiculated
	spikes []*tube
	// calcified: HU at the centre
	huCore float64
	reach  float64 // radius of a sphere about c that holds the solid
}

// newNodule builds the solid of a nodule of kind k and diameter d (mm) at c.
func newNodule(rng *rand.Rand, c vec, k Kind, d float64) nodule {
	n := nodule{c: c, diam: d, kind: k, r: d / 2, reach: d / 2}
	switch k {
	case Lobulated:
		nb := 4 + rng.IntN(3)
		for i := 0; i < nb; i++ {
			n.bumps = append(n.bumps, randomUnit(rng))
			n.amps = append(n.amps, 0.12+0.18*rng.Float64())
		}
		// scale so the volume is that of a sphere of radius r:
		// V = (1/3)∮R(u)³dΩ, averaged over a Fibonacci sphere.
		const m = 600
		var mean float64
		for i := 0; i < m; i++ {
			u := fibonacci(i, m)
			f := n.lobe(u)
			mean += f * f * f
		}
		mean /= m
		n.r0 = n.r / math.Cbrt(mean)
		maxf := 1.0
		for _, a := range n.amps {
			maxf += a
		}
		n.reach = n.r0 * maxf
	case Spiculated:
		ns := 6 + rng.IntN(7)
		for i := 0; i < ns; i++ {
			u := randomUnit(rng)
			length := n.r * (1.4 + 0.8*rng.Float64())
			rb := 0.25 + 0.15*rng.Float64()
			ra := math.Min(0.8+0.5*rng.Float64(), 0.3*n.r)
			t := newTube(add(c, scale(u, 0.7*n.r)), add(c, scale(u, length)), ra, rb)
			n.spikes = append(n.spikes, t)
			n.reach = math.Max(n.reach, length+rb)
		}
	case Calcified:
		n.huCore = 300 + 500*rng.Float64()
	}
	return n
}

// lobe is the radius factor of a lobulated nodule in unit direction u.
func (n *nodule) lobe(u vec) float64 {
	f := 1.0
	for i, b := range n.bumps {
		f += n.amps[i] * math.Exp(-(1-dot(u, b))/0.25)
	}
	return f
}

func (n *nodule) box() (lo, hi vec) {
	r := n.reach
	return vec{n.c[0] - r, n.c[1] - r, n.c[2] - r}, vec{n.c[0] + r, n.c[1] + r, n.c[2] + r}
}

func (n *nodule) sdf(x, y, z float64) float64 {
	p := vec{x - n.c[0], y - n.c[1], z - n.c[2]}
	rho := norm(p)
	switch n.kind {
	case Lobulated:
		if rho < 1e-9 {
			return -n.r0
		}
		return rho - n.r0*n.lobe(scale(p, 1/rho))
	case Spiculated:
		d := rho - n.r
		for _, t := range n.spikes {
			d = math.Min(d, t.sdf(x, y, z))
		}
		return d
	}
	return rho - n.r
}

// hu is the nodule's density at a point: soft tissue +40 HU at the centre
// falling to +20 at the edge (+30 in spikes); calcified: the core value
// falling by 100 HU to the edge.
func (n *nodule) hu(x, y, z float64) float32 {
	p := vec{x - n.c[0], y - n.c[1], z - n.c[2]}
	f := math.Min(dot(p, p)/(n.r*n.r), 1)
	if n.kind == Calcified {
		return float32(n.huCore - 100*f)
	}
	return float32(40 - 20*f)
}

// randomUnit draws a direction uniformly on the sphere.
func randomUnit(rng *rand.Rand) vec {
	z := 2*rng.Float64() - 1
	a := 2 * math.Pi * rng.Float64()
	s := math.Sqrt(1 - z*z)
	return vec{s * math.Cos(a), s * math.Sin(a), z}
}

// fibonacci is point i of m nearly uniform points on the unit sphere.
func fibonacci(i, m int) vec {
	z := 1 - (2*float64(i)+1)/float64(m)
	a := float64(i) * math.Pi * (3 - math.Sqrt(5))
	s := math.Sqrt(1 - z*z)
	return vec{s * math.Cos(a), s * math.Sin(a), z}
}

// rotate turns v by angle a (radians) about unit axis k (Rodrigues).
func rotate(v, k vec, a float64) vec {
	c, s := math.Cos(a), math.Sin(a)
	return add(add(scale(v, c), scale(cross(k, v), s)), scale(k, dot(k, v)*(1-c)))
}

// perpendicular returns a random unit vector perpendicular to unit v.
func perpendicular(rng *rand.Rand, v vec) vec {
	for {
		u := cross(v, randomUnit(rng))
		if n := norm(u); n > 1e-3 {
			return scale(u, 1/n)
		}
	}
}
