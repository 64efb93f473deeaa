package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/lungctl/lungctl/internal/classify"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/phantom"
	"github.com/lungctl/lungctl/internal/volume"
)

// malignant is the synthetic label rule, phantom.MalignancyOf's: diameter
// ≥ 8 mm and lobulated or spiculated, or diameter ≥ 15 mm and not
// calcified.
func malignant(k phantom.Kind, diameterMM float64) bool {
	_, m := phantom.MalignancyOf(k, diameterMM)
	return m
}

// phantomPatch is internal/phantom.Patch as a patchFunc: the project's
// phantom generator, nodule within ±1 mm of world (0, 0, 0), on
// phantom.PatchGrid (size³ voxels centred on world 0).
func phantomPatch(seed int64, kind phantom.Kind, diameterMM float64, size int, nodule bool) *volume.Volume[int16] {
	return phantom.Patch(seed, kind, diameterMM, size, nodule)
}

// patchFunc renders a size³ patch of 1 mm voxels (HU) of lung parenchyma
// with vessels and, when nodule is true, one nodule of the given kind and
// diameter (mm) centred on (or within ~1 mm of) world (0, 0, 0) mm; equal
// arguments give equal patches. synthPatch and phantomPatch are two.
type patchFunc func(seed int64, kind phantom.Kind, diameterMM float64, size int, nodule bool) *volume.Volume[int16]

// synthPatch is this package's own PatchFunc, used by the tests and as the
// fallback training source: parenchyma at −850 ± 20 HU, two to five vessels
// (+30 HU tubes of 0.6–2.2 mm radius, one through the centre in half of the
// nodule-free patches), a chest wall (+30 HU half-space) for juxtapleural
// nodules and a quarter of the others, and the nodule: a soft-tissue (+20…
// +50 HU) sphere (round, juxtapleural), a sphere with 4–6 broad lobes
// (lobulated), a sphere with 8–14 tapering spikes reaching up to 2 radii
// (spiculated) or a +300…+800 HU sphere (calcified). Edges are partial-volume
// blended over 1 mm; Gaussian noise σ 15 HU is added. The grid is 1 mm,
// axis-aligned, with the centre voxel at world (0, 0, 0).
func synthPatch(seed int64, kind phantom.Kind, diameterMM float64, size int, nodule bool) *volume.Volume[int16] {
	r := rand.New(rand.NewPCG(uint64(seed), 0x73796e7468))
	h := float64(size / 2)
	g := volume.Grid{Dims: [3]int{size, size, size}, Spacing: volume.Vec3{1, 1, 1},
		Origin: volume.Vec3{-h, -h, -h}, Direction: volume.Identity}
	v := volume.New[int16](g)
	f := make([]float32, g.Len()) // HU before rounding
	bg := -850 + 20*r.NormFloat64()
	for i := range f {
		f[i] = float32(bg)
	}
	sc := drawSynthScene(r, kind, diameterMM, h, nodule)
	// blend paints value val with coverage clamp(0.5 − sdf, 0, 1) (sdf in mm).
	blend := func(idx int, sdf, val float64) {
		c := 0.5 - sdf
		if c <= 0 {
			return
		}
		if c > 1 {
			c = 1
		}
		f[idx] += (float32(val) - f[idx]) * float32(c)
	}
	for k := 0; k < size; k++ {
		for j := 0; j < size; j++ {
			for i := 0; i < size; i++ {
				idx := g.Index(i, j, k)
				p := [3]float64{float64(i) - h, float64(j) - h, float64(k) - h}
				for _, t := range sc.tubes {
					q := [3]float64{p[0] - t.p[0], p[1] - t.p[1], p[2] - t.p[2]}
					s := dot3(q, t.d)
					d2 := dot3(q, q) - s*s
					blend(idx, math.Sqrt(math.Max(d2, 0))-t.r, 30)
				}
				if sc.wall {
					blend(idx, sc.wd-dot3(p, sc.wn), 30)
				}
				if sc.rad > 0 {
					blend(idx, sc.noduleSDF(p), sc.nodHU)
				}
			}
		}
	}
	for i := range f {
		x := math.Round(float64(f[i]) + 15*r.NormFloat64())
		v.Data[i] = int16(math.Max(-1024, math.Min(3000, x)))
	}
	return v
}

// synthScene is what synthPatch paints: vessels, the chest wall and the
// nodule's shape.
type synthScene struct {
	kind   phantom.Kind
	rad    float64 // nodule radius (mm); 0 without a nodule
	wall   bool
	wn     [3]float64 // wall normal
	wd     float64    // wall distance from the centre (mm)
	tubes  []synthTube
	lobes  []synthLobe
	spikes []synthSpike
	nodHU  float64
}

type synthTube struct {
	p, d [3]float64
	r    float64
}

type synthLobe struct {
	d [3]float64
	w float64
}

type synthSpike struct {
	d      [3]float64
	length float64
}

// drawSynthScene draws the scene from r. The order of the draws is part of
// the training data's reproducibility: keep it.
func drawSynthScene(r *rand.Rand, kind phantom.Kind, diameterMM, h float64, nodule bool) *synthScene {
	unit := func() [3]float64 {
		for {
			u := [3]float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64()}
			n := math.Sqrt(u[0]*u[0] + u[1]*u[1] + u[2]*u[2])
			if n > 1e-6 {
				return [3]float64{u[0] / n, u[1] / n, u[2] / n}
			}
		}
	}
	sc := &synthScene{kind: kind}
	if nodule {
		sc.rad = diameterMM / 2
	}
	// chest wall
	sc.wall = kind == phantom.Juxtapleural && nodule || r.Float64() < 0.25
	sc.wn = unit()
	if sc.wall {
		switch {
		case kind == phantom.Juxtapleural && nodule:
			sc.wd = 0.75 * sc.rad
		case nodule:
			sc.wd = sc.rad + 2 + 8*r.Float64()
		default:
			sc.wd = 3 + 10*r.Float64()
		}
	}
	nv := 2 + r.IntN(4)
	for t := 0; t < nv; t++ {
		var p [3]float64
		for a := range p {
			p[a] = (2*r.Float64() - 1) * h * 0.8
		}
		sc.tubes = append(sc.tubes, synthTube{p: p, d: unit(), r: 0.6 + 1.6*r.Float64()})
	}
	if !nodule && r.Float64() < 0.5 {
		sc.tubes = append(sc.tubes, synthTube{d: unit(), r: 1 + 2*r.Float64()})
	}
	// nodule shape parameters
	nl := 4 + r.IntN(3)
	for l := 0; l < nl; l++ {
		sc.lobes = append(sc.lobes, synthLobe{d: unit(), w: 0.25 + 0.2*r.Float64()})
	}
	ns := 8 + r.IntN(7)
	for s := 0; s < ns; s++ {
		sc.spikes = append(sc.spikes, synthSpike{d: unit(), length: sc.rad * (0.5 + 0.5*r.Float64())})
	}
	sc.nodHU = 20 + 30*r.Float64()
	if kind == phantom.Calcified {
		sc.nodHU = 300 + 500*r.Float64()
	}
	return sc
}

// noduleSDF is the signed distance (mm) from p to the nodule's surface.
func (sc *synthScene) noduleSDF(p [3]float64) float64 {
	rad := sc.rad
	dist := math.Sqrt(dot3(p, p))
	sdf := dist - rad
	switch sc.kind {
	case phantom.Lobulated:
		if dist > 0 {
			u := [3]float64{p[0] / dist, p[1] / dist, p[2] / dist}
			m := 0.0
			for _, l := range sc.lobes {
				m = math.Max(m, l.w*math.Exp(-4*(1-dot3(u, l.d))))
			}
			sdf = dist - rad*(0.8+m)
		}
	case phantom.Spiculated:
		for _, s := range sc.spikes {
			t := dot3(p, s.d)
			if t <= 0 || t > rad+s.length {
				continue
			}
			d2 := dot3(p, p) - t*t
			sr := 1.0
			if t > rad {
				sr = 1 - 0.7*(t-rad)/s.length
			}
			sdf = math.Min(sdf, math.Sqrt(math.Max(d2, 0))-sr)
		}
	}
	return sdf
}

func dot3(a, b [3]float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }

// phantomExamples renders n synthetic examples with gen on size³ 1 mm
// patches: a fraction negFrac without a nodule (label benign), the rest
// with a nodule of a uniformly drawn kind and a diameter log-uniform in
// [3, 30] mm (calcified ones at most 12 mm) labelled by malignant.
// Everything derives from seed; rendering runs on the par worker budget.
func phantomExamples(gen patchFunc, n int, seed int64, size int, negFrac float64) []example {
	ex := make([]example, n)
	par.For(n, func(_, i int) {
		r := rand.New(rand.NewPCG(uint64(seed), uint64(i)))
		nod := r.Float64() >= negFrac
		kind := phantom.Kinds[r.IntN(len(phantom.Kinds))]
		d := 3 * math.Pow(10, r.Float64())
		if kind == phantom.Calcified {
			d = math.Min(d, 12)
		}
		v := gen(seed*1_000_003+int64(i), kind, d, size, nod)
		e := example{Site: classify.Site{Vol: v}, info: "no nodule"} // patchFunc contract: nodule at world (0, 0, 0)
		if nod {
			e.info = fmt.Sprintf("%s %.1f mm", kind, d)
			e.label = malignant(kind, d)
		}
		ex[i] = e
	})
	return ex
}
