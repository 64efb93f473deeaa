package phantom

import (
	"math"
	"math/rand/v2"

	"github.com/lungctl/lungctl/internal/volume"
)

// scar is a linear scar or band of plate atelectasis: a thin plate with
// rounded edges (half length hl along u, half height hh along v, half
// thickness ht across w = u × v, mm) centred at c, clipped to its lung so
// that one end meets the pleura. It is not a lesion and not in the truth.
type scar struct {
	c          vec
	u, v, w    vec
	hl, hh, ht float64
	hu         float64
	lung       *lungShape
}

func (s *scar) box() (lo, hi vec) {
	for i := 0; i < 3; i++ {
		e := math.Abs(s.u[i])*s.hl + math.Abs(s.v[i])*s.hh + s.ht
		lo[i], hi[i] = s.c[i]-e, s.c[i]+e
	}
	return lo, hi
}

func (s *scar) sdf(x, y, z float64) float64 {
	d := vec{x - s.c[0], y - s.c[1], z - s.c[2]}
	a := max(math.Abs(dot(d, s.u))-s.hl, 0)
	b := max(math.Abs(dot(d, s.v))-s.hh, 0)
	c := dot(d, s.w)
	return max(math.Sqrt(a*a+b*b+c*c)-s.ht, s.lung.sdf(x, y, z))
}

// dependent is the gravity-dependent density of the supine lungs: in the
// dorsal depth[s] mm of lung s the density rises smoothly (smoothstep)
// from −850 HU to hu[s] HU at the posterior pleura. Not a lesion.
type dependent struct {
	lungs [2]lungShape
	hu    [2]float64 // HU at the posterior pleura
	depth [2]float64 // mm
}

// apply adds the dependent density to a slice at height z painted in
// direct mode with only the lungs so far (lcov is their coverage).
func (d *dependent) apply(g volume.Grid, z float64, dst *sliceBuf) {
	nx, ny := dst.nx, dst.ny
	sp := g.Spacing
	for s := range d.lungs {
		l := &d.lungs[s]
		if z < l.zBase-sp[2] || z > l.zTop+sp[2] {
			continue
		}
		sc := l.scaleAt(z)
		delta := float32(d.hu[s] - parenchymaHU)
		D := d.depth[s]
		for i := 0; i < nx; i++ {
			x := g.Origin[0] + float64(i)*sp[0]
			ux := (x - l.lx) / (l.la * sc)
			if ux <= -1 || ux >= 1 {
				continue
			}
			yPost := l.ly + l.lb*sc*math.Sqrt(1-ux*ux)
			j0 := max(0, int(math.Floor((yPost-D-sp[1]-g.Origin[1])/sp[1])))
			j1 := min(ny-1, int(math.Ceil((yPost+2*sp[1]-g.Origin[1])/sp[1])))
			for j := j0; j <= j1; j++ {
				o := j*nx + i
				if dst.lcov[o] == 0 {
					continue
				}
				y := g.Origin[1] + float64(j)*sp[1]
				f := 1 - smoothstep(0, D, yPost-y)
				dst.hu[o] += dst.lcov[o] * delta * float32(f)
			}
		}
	}
}

// addConfounders draws the gravity-dependent density of each lung (dorsal
// 10–30 mm rising to −800…−650 HU) and 2–4 scars.
func (a *anatomy) addConfounders(rng *rand.Rand) {
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	a.dep = &dependent{lungs: a.lungs}
	for s := range a.lungs {
		a.dep.hu[s] = u(-800, -650)
		a.dep.depth[s] = u(10, 30)
	}
	n := 2 + rng.IntN(3)
	for try := 0; try < 400 && len(a.scars) < n; try++ {
		s := rng.IntN(2)
		l := &a.lungs[s]
		// lower 60 % of the lung, towards the lateral or posterior wall
		z := l.zBase + l.dome + (l.zTop-l.zBase-l.dome)*u(0.02, 0.5)
		ang := u(-0.4, 1.9) // 0 lateral … π/2 posterior
		lat := math.Copysign(1, l.lx-a.cx)
		dir := vec{lat * math.Cos(ang), math.Sin(ang), 0}
		p := vec{l.lx, l.ly, z}
		// walk out to the pleura along dir
		lo, hi := 0.0, 200.0
		for hi-lo > 0.05 {
			m := (lo + hi) / 2
			q := add(p, scale(dir, m))
			if l.sdf(q[0], q[1], q[2]) < 0 {
				lo = m
			} else {
				hi = m
			}
		}
		pw := add(p, scale(dir, lo))
		n := a.lungNormal(s, pw)
		if math.Abs(n[2]) > 0.5 {
			continue
		}
		in := unit(rotate(scale(n, -1), vec{0, 0, 1}, u(-0.5, 0.5)))
		v := unit(rotate(vec{0, 0, 1}, perpendicularTo(vec{0, 0, 1}), u(-0.35, 0.35)))
		v = unit(sub(v, scale(in, dot(v, in))))
		w := cross(in, v)
		hl := u(8, 20)
		sc := scar{u: in, v: v, w: w, hl: hl, hh: u(3, 10), ht: u(0.6, 1.4), hu: u(-100, 20), lung: l}
		sc.c = add(pw, scale(in, hl-1))
		inner := add(sc.c, scale(in, hl))
		if a.lungDist(inner) > -3 || a.lungDist(sc.c) > -1 {
			continue
		}
		ok := true
		for _, t := range a.airWalls {
			if t.sdf(sc.c[0], sc.c[1], sc.c[2]) < hl+5 {
				ok = false
			}
		}
		for _, o := range a.scars {
			if norm(sub(o.c, sc.c)) < o.hl+hl+5 {
				ok = false
			}
		}
		if ok {
			a.scars = append(a.scars, sc)
		}
	}
}

// scene splits the patient and its lesions into the render passes (see
// scene). Painting order within each pass: later solids cover earlier
// ones.
func (a *anatomy) scene(les []*lesion) *scene {
	sc := &scene{background: -1000, dep: a.dep, lesions: les}
	sc.base = []layer{
		newLayer(a.table, 200, lungNone),
		newLayer(a.body, 40, lungNone),
		newLayer(a.fat, -100, lungNone),
		newLayer(a.muscle, 40, lungNone),
	}
	for s := range a.lungs {
		l := newLayer(a.lungs[s], parenchymaHU, lungSet)
		l.lip = 4 // the diaphragm dome steepens the field along x
		sc.lungs = append(sc.lungs, l)
	}
	for _, t := range a.ribs.tubes() {
		sc.coarse = append(sc.coarse, newLayer(t, 700, lungErase))
	}
	sp := newLayer(a.spine, 350, lungErase)
	z0, pitch := a.spineZ0, a.discPitch
	sp.huFn = func(x, y, z float64) float32 {
		m := math.Mod(z-z0, pitch)
		if m < 0 {
			m += pitch
		}
		if m < 6 {
			return 80
		}
		return 350
	}
	sc.coarse = append(sc.coarse, sp)
	for _, t := range a.airWalls {
		sc.coarse = append(sc.coarse, newLayer(t, 40, lungErase))
	}
	for _, t := range a.airways {
		sc.coarse = append(sc.coarse, newLayer(t, -1000, lungErase))
	}
	for _, t := range a.vessels {
		sc.fine = append(sc.fine, newLayer(t, 40, lungNone))
	}
	for _, t := range a.bronchiWalls {
		sc.fine = append(sc.fine, newLayer(t, 40, lungNone))
	}
	for _, t := range a.bronchi {
		sc.fine = append(sc.fine, newLayer(t, -1000, lungNone))
	}
	for i := range a.scars {
		l := newLayer(&a.scars[i], float32(a.scars[i].hu), lungNone)
		l.lip = 4 // the lung clip
		sc.fine = append(sc.fine, l)
	}
	return sc
}
