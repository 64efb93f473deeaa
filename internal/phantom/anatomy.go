package phantom

import (
	"math"
	"math/rand/v2"

	"github.com/lungctl/lungctl/internal/volume"
)

// anatomy is the patient: every solid except the nodules, in LPS mm.
type anatomy struct {
	g                  volume.Grid
	zMin, zMax         float64
	cx, cy             float64 // body centre
	body, fat, muscle  ellipseCyl
	table              arcPlate
	ribs               ribCage
	spine              ellipseCyl
	spineZ0, discPitch float64
	lungs              [2]lungShape // 0 right (−x), 1 left (+x)
	airWalls, airways  []*tube      // trachea + main bronchi: walls, lumens
	vessels            []*tube
	// segmental bronchi beside the thicker arteries: walls and lumens
	bronchiWalls, bronchi []*tube
	// confounders: linear scars / plate atelectasis, gravity-dependent
	// density (nil when off)
	scars []scar
	dep   *dependent
}

// newAnatomy draws a patient that fits grid g.
func newAnatomy(g volume.Grid, rng *rand.Rand) *anatomy {
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	a := &anatomy{g: g}
	a.zMin = g.Origin[2]
	a.zMax = g.Origin[2] + float64(g.Dims[2]-1)*g.Spacing[2]
	fov := float64(g.Dims[0]) * g.Spacing[0]
	ic := g.IndexToWorld(volume.Vec3{float64(g.Dims[0]-1) / 2, float64(g.Dims[1]-1) / 2, 0})
	// Body: ellipse scaled to the field of view, a little anterior of the
	// image centre so the table fits below (posterior, +y).
	ba := fov * u(0.40, 0.44)
	bb := ba * u(0.68, 0.76)
	a.cx = ic[0] + u(-4, 4)
	a.cy = ic[1] - fov*0.06 + u(-3, 3)
	zlo, zhi := a.zMin-50, a.zMax+50
	a.body = ellipseCyl{a.cx, a.cy, ba, bb, zlo, zhi}
	skin := 2.0
	fatT := u(8, 18)
	a.fat = ellipseCyl{a.cx, a.cy, ba - skin, bb - skin, zlo, zhi}
	a.muscle = ellipseCyl{a.cx, a.cy, ba - skin - fatT, bb - skin - fatT, zlo, zhi}
	// Table: plate 8 mm thick whose centre line lies 12–20 mm below the back.
	tr := 320.0
	top := a.cy + bb + u(12, 20)
	a.table = arcPlate{cx: a.cx, cy: top + 4 - tr, r: tr, t: 8, w: ba * 0.8, z0: zlo, z1: zhi}

	// Thoracic cavity inside the chest-wall muscle (≈ 12 mm thick).
	ia, ib := a.muscle.a-12, a.muscle.b-12
	L := a.zMax - a.zMin
	zBase := a.zMin + L*u(0.06, 0.10)
	zTop := a.zMax - L*u(0.05, 0.08)
	dome := (zTop - zBase) * u(0.10, 0.16)
	for s := 0; s < 2; s++ {
		sgn := float64(2*s - 1) // −1 right lung (−x), +1 left
		la := ia * u(0.38, 0.41)
		if s == 1 {
			la *= u(0.88, 0.94) // the heart takes room on the left
		}
		a.lungs[s] = lungShape{
			lx: a.cx + sgn*(ia*0.92-la), ly: a.cy + ib*u(0.0, 0.06),
			la: la, lb: ib * u(0.80, 0.86),
			zBase: zBase, zTop: zTop, dome: dome,
		}
	}
	// Ribs just outside the lungs.
	pitch := u(24, 28)
	nr := int((zTop-zBase)/pitch) + 1
	a.ribs = ribCage{cx: a.cx, cy: a.cy, ra: ia + 8, rb: ib + 8, zTop: zTop + 5, pitch: pitch, n: nr, hw: 3, hh: 5}
	// Vertebral column behind the mediastinum, discs every ≈ 28 mm.
	sr := u(14, 17)
	sy := a.cy + ib - sr + 2
	a.spine = ellipseCyl{a.cx, sy, sr, sr * 0.9, zlo, zhi}
	a.spineZ0, a.discPitch = u(0, 28), u(26, 30)

	// Trachea from above the scan to the carina, then main bronchi to the
	// hila. Walls are soft tissue, lumens air.
	ty := a.cy + ib*0.25
	carina := vec{a.cx + u(-3, 3), ty + 4, zTop - (zTop-zBase)*u(0.28, 0.34)}
	tt := vec{a.cx + u(-3, 3), ty, a.zMax + 40}
	trR := u(8, 10)
	a.addAirway(tt, carina, trR, trR*0.95, 2)
	for s := 0; s < 2; s++ {
		l := a.lungs[s]
		med := math.Copysign(1, a.cx-l.lx) // towards the midline
		h := vec{l.lx + med*0.55*l.la, l.ly + u(-5, 5), carina[2] - (zTop-zBase)*u(0.08, 0.12)}
		r := trR * u(0.62, 0.72)
		a.addAirway(carina, h, r, r*0.85, 1.5)
		a.growVessels(rng, s, h)
	}
	return a
}

func (a *anatomy) addAirway(p, q vec, ra, rb, wall float64) {
	a.airWalls = append(a.airWalls, newTube(p, q, ra+wall, rb+wall))
	a.airways = append(a.airways, newTube(p, q, ra, rb))
}

// lungDist returns the distance (mm, negative inside) of p from the nearest
// lung surface, corrected by the gradient of the lung shapes' field.
func (a *anatomy) lungDist(p vec) float64 {
	best := math.Inf(1)
	for s := range a.lungs {
		l := a.lungs[s]
		d := l.sdf(p[0], p[1], p[2])
		const h = 0.05
		gx := (l.sdf(p[0]+h, p[1], p[2]) - l.sdf(p[0]-h, p[1], p[2])) / (2 * h)
		gy := (l.sdf(p[0], p[1]+h, p[2]) - l.sdf(p[0], p[1]-h, p[2])) / (2 * h)
		gz := (l.sdf(p[0], p[1], p[2]+h) - l.sdf(p[0], p[1], p[2]-h)) / (2 * h)
		if gn := math.Sqrt(gx*gx + gy*gy + gz*gz); gn > 1e-6 {
			d /= gn
		}
		best = min(best, d)
	}
	return best
}

// lungNormal is the outward unit normal of lung s's surface field at p.
func (a *anatomy) lungNormal(s int, p vec) vec {
	l := a.lungs[s]
	const h = 0.05
	g := vec{
		l.sdf(p[0]+h, p[1], p[2]) - l.sdf(p[0]-h, p[1], p[2]),
		l.sdf(p[0], p[1]+h, p[2]) - l.sdf(p[0], p[1]-h, p[2]),
		l.sdf(p[0], p[1], p[2]+h) - l.sdf(p[0], p[1], p[2]-h),
	}
	if n := norm(g); n > 0 {
		return scale(g, 1/n)
	}
	return vec{0, 0, 1}
}

// growVessels grows lung s's vascular tree from hilum h: 6 trunks of radius
// ≈ 4.5 mm branching in two until the radius falls below 0.5 mm; branches
// that would leave the lung bend away from the pleura or stop.
func (a *anatomy) growVessels(rng *rand.Rand, s int, h vec) {
	l := a.lungs[s]
	lat := math.Copysign(1, l.lx-a.cx)
	dirs := []vec{{0.3 * lat, 0, 1}, {0.3 * lat, 0.1, -1}, {lat, -0.8, -0.2}, {lat, 0.7, -0.2}, {lat, 0, 0.5}, {0.5 * lat, 0.3, -0.7}}
	const maxSeg = 3000
	count := 0
	var grow func(p, d vec, r float64, depth int)
	grow = func(p, d vec, r float64, depth int) {
		if count >= maxSeg || r < 0.5 || depth > 14 {
			return
		}
		length := 5*r + 8 + 8*rng.Float64()
		e := add(p, scale(d, length))
		ok := false
		for att := 0; att < 4; att++ {
			e = add(p, scale(d, length))
			if a.lungDist(e) <= -r-1 {
				ok = true
				break
			}
			// bend away from the pleura and shorten
			n := a.lungNormal(s, e)
			d = unit(sub(d, scale(n, max(dot(d, n), 0)+0.4)))
			length *= 0.75
		}
		if !ok {
			return
		}
		rb := r * 0.93
		a.vessels = append(a.vessels, newTube(p, e, r, rb))
		count++
		ax := perpendicular(rng, d)
		if depth >= 1 && depth <= 4 && r >= 1.8 {
			// a bronchus runs beside the artery (bronchovascular bundle):
			// lumen 0.6 r, wall 0.2 r + 0.3 mm, kept inside the lung
			lr := 0.6 * r
			off := scale(ax, r+lr+0.2*r+0.8)
			p2, e2 := add(p, off), add(e, off)
			if a.lungDist(p2) < -(lr+2) && a.lungDist(e2) < -(lr+2) {
				wall := 0.2*r + 0.3
				a.bronchiWalls = append(a.bronchiWalls, newTube(p2, e2, lr+wall, 0.9*(lr+wall)))
				a.bronchi = append(a.bronchi, newTube(p2, e2, lr, 0.9*lr))
			}
		}
		r1 := rb * (0.78 + 0.12*rng.Float64())
		r2 := rb * (0.64 + 0.14*rng.Float64())
		d1 := unit(rotate(d, ax, (18+20*rng.Float64())*math.Pi/180))
		d2 := unit(rotate(d, ax, -(25+25*rng.Float64())*math.Pi/180))
		grow(e, d1, r1, depth+1)
		grow(e, d2, r2, depth+1)
	}
	for _, d := range dirs {
		d = unit(add(unit(d), scale(randomUnit(rng), 0.25)))
		grow(h, d, 4+1.2*rng.Float64(), 0)
	}
}
