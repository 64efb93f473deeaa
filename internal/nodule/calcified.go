package nodule

import (
	"math"

	"github.com/lungctl/lungctl/internal/volume"
)

// calcifiedEdge returns a calcified lesion res measured again at its own
// edge, when it is calcified to that edge; nil otherwise (res stands).
//
// The threshold caps the core's density at soft tissue (CoreCapHU), so
// that a nodule with a calcified centre is measured at its soft-tissue
// edge. A lesion calcified to its edge (a granuloma) is then cut at a
// third or so of its contrast instead of half, beyond its edge by what
// the blur spreads: σ·Φ⁻¹(1 − f) for a blurred step cut at fraction f of
// its contrast, 0.5–0.7 mm on the phantoms' granulomas of 300–800 HU
// (seeds 401–420), which read up to 15 % wide in diameter.
//
// Which of the two a calcified lesion is, its radial profile tells
// (profileShape, about the seed): from the core's density to the lung, a
// granuloma's edge is one blurred step, whose spread from the 75 % to the
// 50 % crossing of the core's contrast is the blur's; a nodule with a
// calcified centre crosses 75 % at the calcification's edge and 50 % at
// its soft tissue's, millimetres further out. Within softEdgeFactor times
// the blur (the soft-edge test's bound on a single step), the lesion is
// segmented again with the threshold halfway to its own core, and that
// measurement is returned when it is still calcified. Small lesions
// (pvSmall), whose blurred peak understates their density, are left to
// the partial-volume model.
func (ws *Workspace) calcifiedEdge(b *boxInfo, hu *volume.Volume[int16], lung *volume.Volume[uint8], res *Result, opt Options, bl blur) *Result {
	if res.Type != Calcified || b.coreCap != CoreCapHU || pvSmall(res.PVAttenuation) || !(res.CoreHU > CoreCapHU) {
		return nil
	}
	c := res.CoreHU - res.BackgroundHU
	_, sigma, ok := ws.profileShape(b, eqDiameter(res.VolumeMM3)/2+6, res.BackgroundHU, c)
	if !ok || !bl.oneStep(sigma) {
		return nil
	}
	o := opt
	o.coreCap = math.Inf(1)
	r2, err := segmentAt(hu, lung, res.Centre, res.MeanDiameterMM, o, ws, bl)
	if err != nil || r2.Type != Calcified {
		return nil
	}
	return r2
}
