package nodule

import (
	"math"

	"github.com/lungctl/lungctl/internal/volume"
)

// rays is the number of directions sampled for the radial profile.
const rays = 162

// lobulation compares the body's radial profile with its moment ellipsoid
// (the solid ellipsoid with the same second moments): lobulated bodies have
// bumps of a few mm that an ellipsoid does not. It returns the RMS
// difference of the two radii over rays directions from the centroid,
// relative to the mean ellipsoid radius, mapped to [0,1] by x/0.25.
func (ws *Workspace) lobulation(b *boxInfo, cen volume.Vec3) float64 {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	sp := b.grid.Spacing
	var cov [3][3]float64
	var n float64
	for k := 0; k < nz; k++ {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				if ws.lab[i+nx*(j+ny*k)] != lBody {
					continue
				}
				d := [3]float64{(float64(i) - cen[0]) * sp[0], (float64(j) - cen[1]) * sp[1], (float64(k) - cen[2]) * sp[2]}
				for a := 0; a < 3; a++ {
					for c := 0; c < 3; c++ {
						cov[a][c] += d[a] * d[c]
					}
				}
				n++
			}
		}
	}
	if n < 8 {
		return 0
	}
	var m [3][3]float64 // (5Σ)⁻¹
	for a := 0; a < 3; a++ {
		for c := 0; c < 3; c++ {
			cov[a][c] *= 5 / n
		}
	}
	if det := det3(cov); math.Abs(det) < 1e-9 {
		return 0
	}
	m = volume.Inverse3(cov)
	var sum2, sumE float64
	for r := 0; r < rays; r++ {
		u := fibonacci(r, rays)
		q := 0.0
		for a := 0; a < 3; a++ {
			for c := 0; c < 3; c++ {
				q += u[a] * m[a][c] * u[c]
			}
		}
		if q <= 0 {
			continue
		}
		re := 1 / math.Sqrt(q)
		ro := ws.rayExit(b, cen, u, lBody)
		sum2 += (ro - re) * (ro - re)
		sumE += re
	}
	if sumE == 0 {
		return 0
	}
	raw := math.Sqrt(sum2/rays) / (sumE / rays)
	return math.Min(1, raw/0.25)
}

// rayExit marches from the box index cen along the world direction u in
// 0.25 mm steps and returns the distance (mm) at which the ray first leaves
// voxels labelled l.
func (ws *Workspace) rayExit(b *boxInfo, cen volume.Vec3, u [3]float64, l uint8) float64 {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	sp := b.grid.Spacing
	const step = 0.25
	for t := 0.0; ; t += step {
		i := int(math.Round(cen[0] + t*u[0]/sp[0]))
		j := int(math.Round(cen[1] + t*u[1]/sp[1]))
		k := int(math.Round(cen[2] + t*u[2]/sp[2]))
		if i < 0 || j < 0 || k < 0 || i >= nx || j >= ny || k >= nz || ws.lab[i+nx*(j+ny*k)] != l {
			return t
		}
	}
}

// spiculation scores the thin protrusions of the lesion: the margin (what
// the opening cut off and MarginMM gives back) relative to the body, and
// the number of separate protrusions of at least 3 voxels. The score is
// 1 − exp(−P/0.25) for a margin-to-body volume ratio P, so a smooth ball
// scores about 0 and a body with many spicules approaches 1.
func (ws *Workspace) spiculation(b *boxInfo, body, all int) (int, float64) {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	n := b.len()
	const seen = 8
	var count int
	q := ws.queue[:0]
	for s := 0; s < n; s++ {
		if ws.lab[s] != lMarg {
			continue
		}
		q = append(q[:0], int32(s))
		ws.lab[s] = seen
		for h := 0; h < len(q); h++ {
			p := int(q[h])
			i, j, k := p%nx, (p/nx)%ny, p/(nx*ny)
			for dk := -1; dk <= 1; dk++ {
				for dj := -1; dj <= 1; dj++ {
					for di := -1; di <= 1; di++ {
						a, c, e := i+di, j+dj, k+dk
						if a < 0 || c < 0 || e < 0 || a >= nx || c >= ny || e >= nz {
							continue
						}
						np := a + nx*(c+ny*e)
						if ws.lab[np] == lMarg {
							ws.lab[np] = seen
							q = append(q, int32(np))
						}
					}
				}
			}
		}
		if len(q) >= 3 {
			count++
		}
	}
	ws.queue = q
	for p := 0; p < n; p++ {
		if ws.lab[p] == seen {
			ws.lab[p] = lMarg
		}
	}
	if body == 0 {
		return count, 0
	}
	pr := float64(all-body) / float64(body)
	return count, 1 - math.Exp(-pr/0.25)
}

// fibonacci returns the i-th of n nearly uniform unit vectors.
func fibonacci(i, n int) [3]float64 {
	z := 1 - (2*float64(i)+1)/float64(n)
	r := math.Sqrt(math.Max(0, 1-z*z))
	phi := float64(i) * math.Pi * (3 - math.Sqrt(5))
	return [3]float64{r * math.Cos(phi), r * math.Sin(phi), z}
}

func det3(m [3][3]float64) float64 {
	return m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) - m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) +
		m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
}
