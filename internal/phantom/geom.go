package phantom

import (
	"math"
	"math/rand/v2"
)

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
