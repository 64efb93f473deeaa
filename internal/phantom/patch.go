package phantom

import (
	"math"

	"github.com/lungctl/lungctl/internal/volume"
)

// PatchGrid is the grid of a size³ patch: 1 mm isotropic, identity
// direction, centred on world (0,0,0) mm (for even sizes the centre lies
// between voxels).
func PatchGrid(size int) volume.Grid {
	o := -float64(size-1) / 2
	return volume.Grid{
		Dims:      [3]int{size, size, size},
		Spacing:   volume.Vec3{1, 1, 1},
		Origin:    volume.Vec3{o, o, o},
		Direction: volume.Identity,
	}
}

// Patch renders a size³ patch of lung parenchyma on PatchGrid(size) (HU):
// −850 with 20 HU white noise, zero to three random vessels (+40 HU tubes of
// radius 0.5–3 mm) and sometimes a pleural wall (+40 HU half-space); when
// nodule is true, one lesion of the given kind (any of AllKinds) and
// diameter (mm) with its centre within ±1 mm of the patch centre (a
// juxtapleural one always has a wall a quarter radius beyond it, a
// juxtavascular one a vessel along its side). The
// lesion is drawn as Generate draws it (supersampled partial volume) but
// neither clipped to a lung nor blurred: patches keep the original simple
// acquisition model (1 mm box voxels, white noise). Deterministic per seed. Patch runs on one
// goroutine and is safe for concurrent use: call it from several goroutines
// to use all cores. It returns nil when
// size < 1; an unknown kind renders as Round; diameterMM ≤ 0 means no
// nodule.
func Patch(seed int64, kind Kind, diameterMM float64, size int, nodule bool) *volume.Volume[int16] {
	if size < 1 {
		return nil
	}
	v := volume.New[int16](PatchGrid(size))
	PatchInto(v, seed, kind, diameterMM, nodule)
	return v
}

// PatchInto renders the same patch as Patch into dst, reusing its memory by
// the buffer-reuse rule (package volume);
// dst's grid must be a cube (its size is Dims[0]) and is reset to
// PatchGrid. Nothing happens when dst is nil or smaller than 1 voxel.
func PatchInto(dst *volume.Volume[int16], seed int64, kind Kind, diameterMM float64, nodule bool) {
	if dst == nil || dst.Dims[0] < 1 {
		return
	}
	size := dst.Dims[0]
	dst.Grid = PatchGrid(size)
	dst.Data = volume.Resize(dst.Data, dst.Len())
	if !kind.Valid() {
		kind = Round
	}
	rng := newRand(seed, 3)
	half := float64(size) / 2
	lo, hi := vec{-half - 1, -half - 1, -half - 1}, vec{half + 1, half + 1, half + 1}
	var ls []layer
	hasNod := nodule && diameterMM > 0
	r := diameterMM / 2
	c := vec{rng.Float64()*2 - 1, rng.Float64()*2 - 1, rng.Float64()*2 - 1}
	if !hasNod {
		c = vec{}
		r = 0
	}
	// A pleural wall: always beside a juxtapleural nodule, else sometimes.
	if hasNod && kind == Juxtapleural {
		n := randomUnit(rng)
		ls = append(ls, newLayer(halfSpace{n: n, off: dot(n, c) + r/4, lo: lo, hi: hi}, 40, lungNone))
	} else if rng.Float64() < 0.25 {
		n := randomUnit(rng)
		off := r + 2 + rng.Float64()*half
		ls = append(ls, newLayer(halfSpace{n: n, off: dot(n, c) + off, lo: lo, hi: hi}, 40, lungNone))
	}
	nv := rng.IntN(4)
	for i := 0; i < nv; i++ {
		vr := 0.5 + 2.5*rng.Float64()*rng.Float64()
		d := randomUnit(rng)
		// a line through a random point, kept clear of the nodule core
		// (without a nodule it may cross the centre: a hard negative)
		var p vec
		for try := 0; try < 20 && hasNod; try++ {
			p = vec{(rng.Float64()*2 - 1) * half, (rng.Float64()*2 - 1) * half, (rng.Float64()*2 - 1) * half}
			w := sub(p, c)
			perp := sub(w, scale(d, dot(w, d)))
			if norm(perp) > 0.8*r+vr {
				break
			}
		}
		if !hasNod {
			p = vec{(rng.Float64()*2 - 1) * half, (rng.Float64()*2 - 1) * half, (rng.Float64()*2 - 1) * half}
		}
		l := 2 * float64(size)
		ls = append(ls, newLayer(newTube(sub(p, scale(d, l)), add(p, scale(d, l)), vr, vr*(0.7+0.3*rng.Float64())), 40, lungNone))
	}
	// A vessel along a juxtavascular nodule's side, sunk into it by up to
	// a quarter of its radius (as placeLesion puts it).
	if hasNod && kind == Juxtavascular {
		vr := 1 + 2*rng.Float64()
		d := randomUnit(rng)
		p := add(c, scale(perpendicular(rng, d), vr+(0.75+0.25*rng.Float64())*r))
		l := 2 * float64(size)
		ls = append(ls, newLayer(newTube(sub(p, scale(d, l)), add(p, scale(d, l)), vr, vr), 40, lungNone))
	}
	for i := range ls {
		ls[i].lo = vec{math.Max(ls[i].lo[0], lo[0]), math.Max(ls[i].lo[1], lo[1]), math.Max(ls[i].lo[2], lo[2])}
		ls[i].hi = vec{math.Min(ls[i].hi[0], hi[0]), math.Min(ls[i].hi[1], hi[1]), math.Min(ls[i].hi[2], hi[2])}
	}
	var les []*lesion
	if hasNod {
		l := newLesion(rng, kind, diameterMM)
		l.moveTo(c, nil)
		les = append(les, l)
	}
	renderVolume(dst, nil, -850, ls, les, 20, seed, false, false)
}
