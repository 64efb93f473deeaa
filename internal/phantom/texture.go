package phantom

import "math"

// latticeHash mixes a seed and integer lattice coordinates into 64
// pseudo-random bits (SplitMix64's finaliser).
func latticeHash(seed uint64, i, j, k int64) uint64 {
	h := seed ^ uint64(i)*0x9E3779B97F4A7C15 ^ uint64(j)*0xC2B2AE3D27D4EB4F ^ uint64(k)*0x165667B19E3779F9
	h ^= h >> 30
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 27
	h *= 0x94D049BB133111EB
	h ^= h >> 31
	return h
}

// latticeValue is the random value in [−1, 1] at a lattice point.
func latticeValue(seed uint64, i, j, k int64) float64 {
	return float64(latticeHash(seed, i, j, k)>>11)/(1<<52) - 1
}

// valueNoise is smooth value noise at (x, y, z), in lattice units: values
// drawn in [−1, 1] at integer points, blended with the quintic smoothstep
// (continuous value, gradient and curvature). Its mean is 0 and its standard
// deviation ≈ valueNoiseSD.
func valueNoise(seed uint64, x, y, z float64) float64 {
	fx, fy, fz := math.Floor(x), math.Floor(y), math.Floor(z)
	i, j, k := int64(fx), int64(fy), int64(fz)
	tx, ty, tz := quintic(x-fx), quintic(y-fy), quintic(z-fz)
	c000 := latticeValue(seed, i, j, k)
	c100 := latticeValue(seed, i+1, j, k)
	c010 := latticeValue(seed, i, j+1, k)
	c110 := latticeValue(seed, i+1, j+1, k)
	c001 := latticeValue(seed, i, j, k+1)
	c101 := latticeValue(seed, i+1, j, k+1)
	c011 := latticeValue(seed, i, j+1, k+1)
	c111 := latticeValue(seed, i+1, j+1, k+1)
	a := c000 + tx*(c100-c000)
	b := c010 + tx*(c110-c010)
	c := c001 + tx*(c101-c001)
	d := c011 + tx*(c111-c011)
	e := a + ty*(b-a)
	f := c + ty*(d-c)
	return e + tz*(f-e)
}

// valueNoiseSD is the standard deviation of valueNoise over space
// (measured by TestTextureStatistics).
const valueNoiseSD = 0.40

func quintic(t float64) float64 { return t * t * t * (t*(t*6-15) + 10) }

// texture is a smooth, zero-mean random field of about unit standard
// deviation in world mm: two octaves of value noise with a lattice of
// scale mm (the correlation length) and scale/2.
type texture struct {
	seed  uint64
	scale float64 // mm
}

// at returns the field at world point p (mm).
func (t texture) at(p vec) float64 {
	if t.scale <= 0 {
		return 0
	}
	s := 1 / t.scale
	v := 0.8*valueNoise(t.seed, p[0]*s, p[1]*s, p[2]*s) +
		0.6*valueNoise(t.seed^0x5bd1e995, p[0]*2*s+17.3, p[1]*2*s-4.1, p[2]*2*s+9.7)
	return v / valueNoiseSD
}

// smoothstep is 0 below a, 1 above b and the cubic Hermite ramp between.
func smoothstep(a, b, x float64) float64 {
	if x <= a {
		return 0
	}
	if x >= b {
		return 1
	}
	t := (x - a) / (b - a)
	return t * t * (3 - 2*t)
}
