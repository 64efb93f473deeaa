package phantom

import (
	"math"
	"math/rand/v2"
)

// Densities (HU) of the materials lesions are made of.
const (
	// softTissueHU is the density a ground-glass opacity tends to as it
	// fills the air spaces: a fill fraction α turns parenchyma of density
	// B into B + α·(softTissueHU − B).
	softTissueHU = 40
	// parenchymaHU is the density of aerated lung the ground-glass
	// densities are quoted against (α = (μ − parenchymaHU)/(softTissueHU − parenchymaHU)).
	parenchymaHU = -850
	// bronchogramHU is the air inside an air bronchogram.
	bronchogramHU = -980
)

// Regions of a lesion a sample point can fall in.
const (
	regOut   int8 = iota // outside the lesion
	regBody              // the body (solid tissue, or ground glass)
	regSpike             // a spicule outside the body
	regCore              // the solid core of a part-solid lesion
	regNecro             // the necrotic centre of a mass
	regAir               // an air bronchogram inside a mass
)

// spikeSpec is a spicule relative to the lesion centre: a tapered capsule
// from a (radius ra) to b (radius rb), mm.
type spikeSpec struct {
	a, b   vec
	ra, rb float64
}

// lesion is a nodule or mass being placed and rendered: a star-shaped body
// (radial), optional spicules, a solid core (part-solid), a necrotic centre
// and air bronchograms (mass), clipped to its lung. Coordinates are LPS mm.
type lesion struct {
	kind Kind
	diam float64 // nominal diameter (mm): the volume-equivalent diameter of the unclipped body
	c    vec     // body centre

	spec   radialSpec
	body   *radial
	spikes []spikeSpec
	tubes  []*tube // spikes placed at c
	tboxes [][2]vec
	clip   *lungShape // the lung the lesion lies in (nil: unclipped)

	// Density. Solid bodies: hu + edgeDrop·min(ρ²/r², 1) + texAmp·t HU,
	// clamped to [huMin, huMax]; r = diam/2 and t the texture. Ground
	// glass (fill): a fill fraction α = alpha0·(1 + texAmp·t) tapering
	// over the soft margin ±margin mm about the surface.
	fill           bool
	hu, edgeDrop   float64
	huMin, huMax   float64
	spikeHU        float64
	texAmp         float64
	tex            texture
	alpha0, margin float64

	coreSpec radialSpec // part-solid core, relative to c + coreOff
	coreOff  vec
	core     *radial
	coreHU   float64
	coreTex  float64

	necroSpec radialSpec // mass: necrotic centre
	necroOff  vec
	necro     *radial
	necroHU   float64

	airSpec []spikeSpec // mass: air bronchogram
	air     []*tube

	spiculated bool
	location   Location
	bodyReach  float64 // radius about c holding the body
	reach      float64 // radius about c holding everything
	lo, hi     vec
}

// newLesion draws the shape and density of a lesion of kind k and nominal
// diameter d (mm), centred at the origin until moveTo places it.
func newLesion(rng *rand.Rand, k Kind, d float64) *lesion {
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	r := d / 2
	l := &lesion{kind: k, diam: d, huMin: -1000, huMax: 3000, location: LocationParenchyma}
	l.spec.r0 = r
	// Solid nodules: +40 HU at the centre, +20 at the edge, ±4 HU texture.
	l.hu, l.edgeDrop, l.spikeHU, l.texAmp = 40, -20, 20, 4
	l.tex = texture{seed: rng.Uint64(), scale: 2.5}
	switch k {
	case Lobulated:
		l.spec.randomLobes(rng, 4+rng.IntN(3), 0.12, 0.30)
		l.normalise(d)
	case Spiculated:
		l.spiculated = true
		ns := 6 + rng.IntN(7)
		for i := 0; i < ns; i++ {
			v := randomUnit(rng)
			length := r * u(1.4, 2.2)
			rb := u(0.25, 0.4)
			ra := min(u(0.8, 1.3), 0.3*r)
			l.spikes = append(l.spikes, spikeSpec{a: scale(v, 0.7*r), b: scale(v, length), ra: ra, rb: rb})
		}
	case Juxtapleural:
		l.location = LocationJuxtapleural
	case Calcified:
		l.hu, l.edgeDrop, l.texAmp = u(300, 800), -100, 0
	case GroundGlass, PartSolid:
		l.groundGlass(rng, d)
		if k == PartSolid {
			l.solidCore(rng, d)
		}
	case Mass:
		l.mass(rng, d)
	}
	if l.body == nil {
		l.body = newRadial(&l.spec, vec{})
	}
	return l
}

// normalise scales the body so that its volume is that of a sphere of
// diameter d.
func (l *lesion) normalise(d float64) {
	l.body = newRadial(&l.spec, vec{})
	want := math.Pi / 6 * d * d * d
	f := math.Cbrt(want / l.body.volume())
	l.spec.r0 *= f
	l.body.scaled(f) // R is proportional to r0
}

// groundGlass makes a non-solid body: soft irregular margins, plateau
// density −750…−450 HU, internal heterogeneity.
func (l *lesion) groundGlass(rng *rand.Rand, d float64) {
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	l.spec.randomLobes(rng, 3+rng.IntN(4), 0.05, 0.25)
	l.spec.rough, l.spec.roughFreq, l.spec.roughSeed = u(0.05, 0.10), u(2.5, 4), rng.Uint64()
	l.normalise(d)
	l.fill = true
	l.hu = u(-750, -450)
	l.alpha0 = (l.hu - parenchymaHU) / (softTissueHU - parenchymaHU)
	l.texAmp = u(0.2, 0.4)
	l.tex = texture{seed: rng.Uint64(), scale: u(1.5, 3)}
	l.margin = max(0.5, min(1.5, 0.08*d))
}

// solidCore adds a part-solid lesion's core: 2–15 mm (at most 0.6 of the
// lesion), −100…+60 HU, central or eccentric, inside the ground glass by at
// least the soft margin.
func (l *lesion) solidCore(rng *rand.Rand, d float64) {
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	hi := min(15, 0.6*d)
	dc := math.Exp(u(math.Log(2), math.Log(hi)))
	l.coreSpec.r0 = dc / 2
	l.coreSpec.randomLobes(rng, 2+rng.IntN(3), 0.05, 0.2)
	l.coreSpec.rough, l.coreSpec.roughFreq, l.coreSpec.roughSeed = 0.03, 3, rng.Uint64()
	core := newRadial(&l.coreSpec, vec{})
	room := l.body.rmin - l.margin - 0.3
	if core.rmax > room {
		f := room / core.rmax
		l.coreSpec.r0 *= f
		core.scaled(f)
	}
	l.core = core
	off := 0.0
	if free := room - core.rmax; free > 0 {
		if rng.Float64() < 0.6 { // eccentric
			off = free * u(0.5, 1)
		} else {
			off = free * u(0, 0.3)
		}
	}
	l.coreOff = scale(randomUnit(rng), off)
	l.coreHU = u(-100, 60)
	l.coreTex = 8
}

// mass makes a 30–80 mm mass: lobulated and/or spiculated (12–28
// spicules), soft tissue
// +15…+45 HU with ±12…22 HU heterogeneity (clamped to −100…+60), sometimes
// a necrotic centre (−30…+10 HU) and an air bronchogram.
func (l *lesion) mass(rng *rand.Rand, d float64) {
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	lob := rng.Float64() < 0.75
	l.spiculated = rng.Float64() < 0.55
	if !lob && !l.spiculated {
		lob = true
	}
	if lob {
		l.spec.width = u(0.25, 0.35)
		l.spec.randomLobes(rng, 4+rng.IntN(5), 0.10, 0.30)
	}
	l.spec.rough, l.spec.roughFreq, l.spec.roughSeed = u(0.01, 0.025), u(3, 5), rng.Uint64()
	l.normalise(d)
	R := d / 2
	l.hu, l.edgeDrop, l.texAmp = u(15, 45), 0, u(12, 22)
	l.huMin, l.huMax = -100, 60
	l.spikeHU = l.hu - 10
	l.tex = texture{seed: rng.Uint64(), scale: u(3, 6)}
	if l.spiculated {
		ns := 12 + rng.IntN(17)
		for i := 0; i < ns; i++ {
			v := randomUnit(rng)
			rs := l.body.at(v)
			length := min(25, R*u(0.3, 0.8))
			l.spikes = append(l.spikes, spikeSpec{a: scale(v, 0.8*rs), b: scale(v, rs+length), ra: u(0.6, 1.4), rb: u(0.25, 0.4)})
		}
	}
	if rng.Float64() < 0.4 {
		l.necroSpec.r0 = R * u(0.25, 0.45)
		l.necroSpec.randomLobes(rng, 3, 0.1, 0.3)
		l.necroSpec.rough, l.necroSpec.roughFreq, l.necroSpec.roughSeed = 0.08, 3, rng.Uint64()
		n := newRadial(&l.necroSpec, vec{})
		room := l.body.rmin - 3
		if n.rmax > room {
			f := room / n.rmax
			l.necroSpec.r0 *= f
			n.scaled(f)
		}
		l.necro = n
		l.necroOff = scale(randomUnit(rng), max(0, min(0.15*R, room-n.rmax)))
		l.necroHU = u(-30, 10)
	}
	if rng.Float64() < 0.35 {
		e := randomUnit(rng)
		start := scale(e, 0.95*l.body.at(e))
		end := scale(randomUnit(rng), 0.2*R)
		ra := u(1.0, 1.6)
		l.airSpec = append(l.airSpec, spikeSpec{a: start, b: end, ra: ra, rb: 0.7 * ra})
		mid := scale(add(start, end), 0.5)
		br := add(mid, scale(perpendicular(rng, unit(sub(end, start))), 0.3*R))
		l.airSpec = append(l.airSpec, spikeSpec{a: mid, b: br, ra: 0.8 * ra, rb: 0.5 * ra})
	}
}

// moveTo places the lesion's centre at c (LPS mm) and builds its parts
// there; clip is the lung it must stay inside (nil for none).
func (l *lesion) moveTo(c vec, clip *lungShape) {
	l.c, l.clip = c, clip
	l.body = l.body.movedTo(c)
	l.bodyReach = l.body.rmax + l.margin
	l.reach = l.bodyReach
	l.tubes, l.tboxes = nil, nil
	for _, s := range l.spikes {
		t := newTube(add(c, s.a), add(c, s.b), s.ra, s.rb)
		l.tubes = append(l.tubes, t)
		lo, hi := t.box()
		l.tboxes = append(l.tboxes, [2]vec{lo, hi})
		l.reach = max(l.reach, norm(s.b)+s.rb)
	}
	if l.core != nil {
		l.core = l.core.movedTo(add(c, l.coreOff))
	}
	if l.necro != nil {
		l.necro = l.necro.movedTo(add(c, l.necroOff))
	}
	l.air = nil
	for _, s := range l.airSpec {
		l.air = append(l.air, newTube(add(c, s.a), add(c, s.b), s.ra, s.rb))
	}
	r := l.reach
	l.lo = vec{c[0] - r, c[1] - r, c[2] - r}
	l.hi = vec{c[0] + r, c[1] + r, c[2] + r}
}

// clipLip bounds |∇| of a lung's field (see anatomy.layers).
const clipLip = 4

// clipGrow is how far (in units of the lung's field, ≈ mm) a clipped lesion
// is painted beyond the pleura into the chest wall or mediastinum. The
// partial-volume voxels at the pleura then hold lesion and wall, both soft
// tissue, instead of a thin line of lung between them; the truth (inside,
// measure) still ends at the pleura.
const clipGrow = 1.5

// boxDist is the distance from p to the box [lo, hi] (0 inside).
func boxDist(p, lo, hi vec) float64 {
	var s float64
	for i := 0; i < 3; i++ {
		d := max(lo[i]-p[i], p[i]-hi[i])
		if d > 0 {
			s += d * d
		}
	}
	return math.Sqrt(s)
}

// Voxel states for classify.
const (
	stOut  = iota // the whole voxel is outside
	stIn          // the whole voxel is in one region, away from boundaries
	stEdge        // a boundary may cross the voxel: supersample
)

// classify tells how a voxel centred at p with half-diagonal band (mm)
// relates to the lesion, and for stOut and stIn how far (mm) beyond band
// that remains true, so the caller can skip ahead.
func (l *lesion) classify(p vec, band float64) (state int, step float64) {
	b := l.body
	fb := b.f(p)
	out := (fb - l.margin) / b.lip // ≥ 0: lower bound of the distance to the body's extent
	if out > 0 {
		for i, t := range l.tubes {
			bd := boxDist(p, l.tboxes[i][0], l.tboxes[i][1])
			if bd >= out {
				continue
			}
			out = min(out, max(bd, t.sdf(p[0], p[1], p[2])))
		}
	}
	var cl float64
	if l.clip != nil {
		cl = (l.clip.sdf(p[0], p[1], p[2]) - clipGrow) / clipLip
	}
	if out > 0 || cl > 0 {
		d := max(out, cl)
		if d > band {
			return stOut, d - band
		}
		return stEdge, 0
	}
	// inside: the nearest boundary is the body's (or the end of the soft
	// margin), the lung's, or an internal one
	in := (-l.margin - fb) / b.lip
	if l.clip != nil {
		in = min(in, -cl)
	}
	if l.core != nil {
		in = min(in, math.Abs(l.core.f(p))/l.core.lip)
	}
	if l.necro != nil {
		in = min(in, math.Abs(l.necro.f(p))/l.necro.lip)
	}
	for _, t := range l.air {
		in = min(in, math.Abs(t.sdf(p[0], p[1], p[2])))
	}
	if in > band {
		return stIn, in - band
	}
	return stEdge, 0
}

// regionAt returns the region of point p and the body field there, as
// rendered (the clip grown by clipGrow).
func (l *lesion) regionAt(p vec) (int8, float64) { return l.regionGrown(p, clipGrow) }

// regionGrown is regionAt with the lung clip grown by grow.
func (l *lesion) regionGrown(p vec, grow float64) (int8, float64) {
	fb := l.body.f(p)
	reg := regOut
	if fb <= l.margin {
		reg = regBody
	} else {
		for i, t := range l.tubes {
			bx := &l.tboxes[i]
			if p[0] < bx[0][0] || p[0] > bx[1][0] || p[1] < bx[0][1] || p[1] > bx[1][1] || p[2] < bx[0][2] || p[2] > bx[1][2] {
				continue
			}
			if t.sdf(p[0], p[1], p[2]) <= 0 {
				reg = regSpike
				break
			}
		}
		if reg == regOut {
			return regOut, fb
		}
	}
	if l.clip != nil && l.clip.sdf(p[0], p[1], p[2]) > grow {
		return regOut, fb
	}
	if reg == regSpike {
		return reg, fb
	}
	if l.core != nil && l.core.f(p) <= 0 {
		return regCore, fb
	}
	if l.necro != nil && l.necro.f(p) <= 0 {
		return regNecro, fb
	}
	for _, t := range l.air {
		if t.sdf(p[0], p[1], p[2]) <= 0 {
			return regAir, fb
		}
	}
	return regBody, fb
}

// value is the sample at p in region reg as an affine map of the
// background density B: β·B + γ. fb is the body field at p (only the
// ground-glass margin uses it) and t the texture at the voxel.
func (l *lesion) value(reg int8, p vec, fb, t float64) (beta, gamma float64) {
	switch reg {
	case regOut:
		return 1, 0
	case regSpike:
		return 0, l.spikeHU
	case regCore:
		return 0, l.coreHU + l.coreTex*t
	case regNecro:
		return 0, l.necroHU + 4*t
	case regAir:
		return 0, bronchogramHU
	}
	if l.fill {
		a := l.alpha0 * (1 + l.texAmp*t)
		if fb > -l.margin {
			a *= 1 - smoothstep(-l.margin, l.margin, fb)
		}
		a = max(0, min(1, a))
		return 1 - a, a * softTissueHU
	}
	v := l.hu + l.texAmp*t
	if l.edgeDrop != 0 {
		dx, dy, dz := p[0]-l.c[0], p[1]-l.c[1], p[2]-l.c[2]
		r := l.diam / 2
		v += l.edgeDrop * min((dx*dx+dy*dy+dz*dz)/(r*r), 1)
	}
	return 0, max(l.huMin, min(l.huMax, v))
}

// texAt is the texture value at p (0 when the lesion has none).
func (l *lesion) texAt(p vec) float64 {
	if l.texAmp == 0 && l.coreTex == 0 && l.necro == nil {
		return 0
	}
	return l.tex.at(p)
}

// inside reports whether p lies in the lesion's true solid: the body
// (field ≤ 0, so not the outer half of a ground-glass margin) or a
// spicule, inside the clip lung.
func (l *lesion) inside(p vec) bool {
	reg, fb := l.regionGrown(p, 0)
	if reg == regOut {
		return false
	}
	return reg != regBody || fb <= 0 || l.margin == 0
}
