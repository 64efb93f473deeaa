// Package clustertest makes the synthetic point sets that the mean-shift
// tests and benchmarks of package cluster and its backends share (units:
// x, y, z in mm, HU, shape index).
package clustertest

import (
	"math"
	"math/rand"
)

// Blobs returns n 5-D points around k well-separated centres (spatial
// spread sd mm, HU spread 40, SI spread 0.03) and their true labels.
func Blobs(rng *rand.Rand, n, k int, sd float64) ([]float32, []int, [][5]float64) {
	centres := make([][5]float64, k)
	for c := range centres {
		centres[c] = [5]float64{float64(c%3) * 40, float64(c/3) * 40, float64(c%2) * 30, -200 + 50*float64(c), 0.9}
	}
	pts := make([]float32, 0, 5*n)
	lab := make([]int, n)
	for i := 0; i < n; i++ {
		c := i % k
		lab[i] = c
		z := centres[c]
		pts = append(pts, float32(z[0]+sd*rng.NormFloat64()), float32(z[1]+sd*rng.NormFloat64()),
			float32(z[2]+sd*rng.NormFloat64()), float32(z[3]+40*rng.NormFloat64()), float32(z[4]+0.03*rng.NormFloat64()))
	}
	return pts, lab, centres
}

// LungLike returns n 5-D points (x, y, z mm, HU, SI) resembling candidate
// voxels in a lung at realistic density (at most one point per mm³, like
// 1 mm voxels, ~25 mm³ of box per point): ~20 % fill round nodules (radius
// 2–8 mm, HU ≈ −50, SI ≈ 0.9), ~70 % fill vessel segments (radius
// 0.8–2.5 mm, length 30–80 mm, HU ≈ −200, SI ≈ 0.75), ~10 % are scattered
// background (any HU in −500…100, any SI).
func LungLike(n int, seed int64) []float32 {
	rng := rand.New(rand.NewSource(seed))
	side := math.Cbrt(25 * float64(n))
	pts := make([]float32, 0, 5*n)
	add := func(x, y, z, hu, si float64) {
		if len(pts) < 5*n {
			pts = append(pts, float32(x), float32(y), float32(z), float32(hu), float32(si))
		}
	}
	for len(pts) < 5*n {
		u := rng.Float64()
		c := [3]float64{rng.Float64() * side, rng.Float64() * side, rng.Float64() * side}
		switch {
		case u < 0.03: // a nodule: uniform in a ball, ~1 point per mm³
			r := 2 + 6*rng.Float64()
			hu := -50 + 80*rng.NormFloat64()
			for k := int(4.19 * r * r * r); k > 0; {
				x, y, z := (2*rng.Float64()-1)*r, (2*rng.Float64()-1)*r, (2*rng.Float64()-1)*r
				if x*x+y*y+z*z > r*r {
					continue
				}
				add(c[0]+x, c[1]+y, c[2]+z, hu+40*rng.NormFloat64(), 0.9+0.05*rng.NormFloat64())
				k--
			}
		case u < 0.5: // a vessel segment: uniform in a cylinder
			r := 0.8 + 1.7*rng.Float64()
			l := 30 + 50*rng.Float64()
			var d [3]float64
			var nd float64
			for a := range d {
				d[a] = rng.NormFloat64()
				nd += d[a] * d[a]
			}
			nd = math.Sqrt(nd)
			for a := range d {
				d[a] /= nd
			}
			for k := int(math.Pi * r * r * l); k > 0; k-- {
				t := l * rng.Float64()
				var o [3]float64
				for {
					for a := range o {
						o[a] = (2*rng.Float64() - 1) * r
					}
					dot := o[0]*d[0] + o[1]*d[1] + o[2]*d[2]
					for a := range o {
						o[a] -= dot * d[a]
					}
					if o[0]*o[0]+o[1]*o[1]+o[2]*o[2] <= r*r {
						break
					}
				}
				add(c[0]+t*d[0]+o[0], c[1]+t*d[1]+o[1], c[2]+t*d[2]+o[2], -200+100*rng.NormFloat64(), 0.75+0.06*rng.NormFloat64())
			}
		default: // background
			for k := 0; k < 30; k++ {
				add(rng.Float64()*side, rng.Float64()*side, rng.Float64()*side, -500+600*rng.Float64(), rng.Float64())
			}
		}
	}
	return pts
}

// ToInt converts labels to ints (for AdjustedRand).
func ToInt(l []int32) []int {
	o := make([]int, len(l))
	for i, v := range l {
		o[i] = int(v)
	}
	return o
}

// Uniform returns n points uniform in [0, side)^dim.
func Uniform(rng *rand.Rand, n, dim int, side float64) []float32 {
	p := make([]float32, n*dim)
	for i := range p {
		p[i] = float32(rng.Float64() * side)
	}
	return p
}

// ScaleBy divides the row-major points by the per-axis bandwidth bw (what
// cluster.MeanShift hands the backends: scaled units).
func ScaleBy(points []float32, bw []float64) []float32 {
	dim := len(bw)
	out := make([]float32, len(points))
	for i := range points {
		out[i] = float32(float64(points[i]) / bw[i%dim])
	}
	return out
}

// MultiScale returns lung-like points as a Gaussian-pyramid detector would
// emit them, with their bandwidth scales: n points of LungLike(n, seed) at
// scale 1 (the 1 mm level), then for each coarser level s = 2, 4, 8 (mm),
// perLevel big blobs of radius 3·s mm filled with points on an s-mm grid
// (about 113 points each; HU ≈ 0 ± 50, SI ≈ 0.9 ± 0.03) at random places
// in the same box, each point at scale s.
func MultiScale(n, perLevel int, seed int64) (pts, scale []float32) {
	pts = LungLike(n, seed)
	scale = make([]float32, n)
	for i := range scale {
		scale[i] = 1
	}
	rng := rand.New(rand.NewSource(seed + 1000))
	side := math.Cbrt(25 * float64(n))
	for _, s := range []float64{2, 4, 8} {
		for b := 0; b < perLevel; b++ {
			c := [3]float64{rng.Float64() * side, rng.Float64() * side, rng.Float64() * side}
			hu := 50 * rng.NormFloat64()
			r := 3 * s
			for i := -3; i <= 3; i++ {
				for j := -3; j <= 3; j++ {
					for k := -3; k <= 3; k++ {
						x, y, z := float64(i)*s, float64(j)*s, float64(k)*s
						if x*x+y*y+z*z > r*r {
							continue
						}
						pts = append(pts, float32(c[0]+x), float32(c[1]+y), float32(c[2]+z),
							float32(hu+20*rng.NormFloat64()), float32(0.9+0.03*rng.NormFloat64()))
						scale = append(scale, float32(s))
					}
				}
			}
		}
	}
	return pts, scale
}
