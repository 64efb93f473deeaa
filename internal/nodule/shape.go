package nodule

import (
	"math"

	"github.com/lungctl/lungctl/internal/edt"
	"github.com/lungctl/lungctl/internal/volume"
)

// rays is the number of directions sampled for the radial profile.
const rays = 162

// lobulation compares the body's radial profile with its moment ellipsoid
// (the solid ellipsoid with the same second moments): lobulated bodies have
// bumps of a few mm that an ellipsoid does not. It returns the RMS
// difference of the two radii over rays directions from the centroid,
// relative to the mean ellipsoid radius, mapped to [0,1] by x/0.25; 0 for
// bodies smaller than a 6 mm ball.
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
	// Below about 6 mm a 1 mm grid cannot show bumps: the radial profile
	// is all quantisation.
	if n*sp[0]*sp[1]*sp[2] < math.Pi*6*6*6/6 {
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

// strandLevels are the thresholds, as fractions of the way from the
// surrounding lung to the core, at which strands are looked for: faint
// blurred spicules show only at the lowest, while in a cluttered real
// neighbourhood the lowest joins everything into one blob and the higher
// ones separate the strands.
var strandLevels = [...]float64{0.12, 0.25, 0.4}

// spiculation looks for strands leaving the body: in the shell up to
// res.shell mm beyond it (after the 1.5 mm blurred rim), the lung voxels
// brighter than a threshold form 26-connected strands; a strand reaching
// back to the rim, reaching at least 2.5 mm out but ending inside the shell
// (a vessel that only passes the lesion runs on out of it), and thin (mean
// cross-section ≤ 4π mm², a tube of radius ≤ 2 mm) is a spicule. This is
// done at each of strandLevels (each at least 60 HU above the lung) and
// the level with the most spicules counts; its spicules become the
// lesion's margin (label lMarg), part of the exported mask. Radiologists call a
// nodule spiculated when several strands radiate from it; the score is
// 1 − exp(−N/3) for N spicules (vessels that enter a lesion count too:
// vessel convergence is itself a sign of malignancy).
func (ws *Workspace) spiculation(b *boxInfo, res *Result) (int, float64) {
	n := b.len()
	sp := b.grid.Spacing
	// Distance to the body (mm²).
	ws.dist = grow(ws.dist, n)
	for p := 0; p < n; p++ {
		if ws.lab[p] == lBody {
			ws.dist[p] = 0
		} else {
			ws.dist[p] = edt.Inf
		}
	}
	// Distances matter only within the spicule shell of the body, and for
	// the pleura within PleuraReachMM; nowhere else in the box.
	margin := int(math.Ceil(math.Max(rimMM+res.shell, PleuraReachMM)/math.Min(sp[0], math.Min(sp[1], sp[2])))) + 1
	ws.near[0], ws.near[1] = ws.bbox(b, lBody, margin)
	edt.Transform3Box(ws.dist, b.n[0], b.n[1], b.n[2], ws.near[0], ws.near[1], [3]float64(sp), &ws.edt)
	best, bestLevel := -1, 0.0
	for _, f := range strandLevels {
		c := ws.strands(b, res, f, false)
		if c > best {
			best, bestLevel = c, f
		}
	}
	ws.strands(b, res, bestLevel, true)
	return best, 1 - math.Exp(-float64(best)/3)
}

// rimMM is the blurred rim beyond the body where strands are not looked for.
const rimMM = 1.5

// strands counts the spicules at threshold fraction f (see spiculation);
// with mark, it labels the spicules lMarg.
func (ws *Workspace) strands(b *boxInfo, res *Result, f float64, mark bool) int {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	sp := b.grid.Spacing
	vox := sp[0] * sp[1] * sp[2]
	low := float32(res.BackgroundHU + math.Max(60, f*(math.Min(res.CoreHU, CoreCapHU)-res.BackgroundHU)))
	rim2 := float32(rimMM * rimMM)
	touch2 := float32((rimMM + 0.9) * (rimMM + 0.9))
	shell2 := float32((rimMM + res.shell) * (rimMM + res.shell))
	const cand, seen = 6, 7
	// Only the body's box plus the shell holds distances (ws.near).
	var idx []int32
	lo, hi := ws.near[0], ws.near[1]
	for k := lo[2]; k <= hi[2]; k++ {
		for j := lo[1]; j <= hi[1]; j++ {
			for i := lo[0]; i <= hi[0]; i++ {
				p := i + nx*(j+ny*k)
				if ws.lab[p] == lOut && ws.dist[p] > rim2 && ws.dist[p] <= shell2 && ws.sm.Data[p] > low && ws.lung[p] != 0 {
					ws.lab[p] = cand
					idx = append(idx, int32(p))
				}
			}
		}
	}
	count := 0
	q := ws.queue[:0]
	for _, s32 := range idx {
		s := int(s32)
		if ws.lab[s] != cand {
			continue
		}
		q = append(q[:0], int32(s))
		ws.lab[s] = seen
		attached := false
		reach := float32(0)
		for h := 0; h < len(q); h++ {
			p := int(q[h])
			reach = max(reach, ws.dist[p])
			if ws.dist[p] <= touch2 {
				attached = true
			}
			for _, np := range neighbours26(p, nx, ny, nz) {
				if np >= 0 && ws.lab[np] == cand {
					ws.lab[np] = seen
					q = append(q, int32(np))
				}
			}
		}
		if !attached {
			continue
		}
		ext := math.Sqrt(float64(reach)) - rimMM
		ends := ext < res.shell-1 // a spicule ends; a passing vessel runs out of the shell
		if !ends || ext < 2.5 || float64(len(q))*vox/ext > 4*math.Pi {
			continue
		}
		count++
		if mark {
			for _, p := range q {
				ws.lab[p] = lMarg
			}
		}
	}
	ws.queue = q
	for _, p := range idx {
		if ws.lab[p] == seen || ws.lab[p] == cand {
			ws.lab[p] = lOut
		}
	}
	return count
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
