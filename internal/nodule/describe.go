package nodule

import (
	"fmt"

	"github.com/lungctl/lungctl/internal/volume"
)

// describe sets the descriptors that Options.DeferDescriptors defers: the
// body's lobulation (about its centroid cen, box index coordinates), its
// spicules (bodyMM3 is the body's voxel volume, before any partial-volume
// estimate replaces VolumeMM3) and its distance to the pleura. ws holds
// the box as measure left it: the labels, the raw HU and the lung mask
// less what the pleural line took out.
func (ws *Workspace) describe(b *boxInfo, res *Result, cen volume.Vec3, bodyMM3 float64) {
	res.Lobulation = ws.lobulation(b, cen)
	res.Protrusions, res.Spiculation = ws.spiculation(b, res, bodyMM3)
	res.PleuraDistanceMM, res.PleuraBeyond = ws.pleura(b)
}

// Describe computes the descriptors a segmentation with
// Options.DeferDescriptors left out (Spiculation, Protrusions, Lobulation,
// PleuraDistanceMM, PleuraBeyond), with the values Segment would have
// given them: from the box of hu and lung (the volumes it was segmented
// in) and the lesion's mask. It does nothing for a result that has them.
// ws may be nil.
func (r *Result) Describe(hu *volume.Volume[int16], lung *volume.Volume[uint8], ws *Workspace) error {
	if !r.pending {
		return nil
	}
	if hu == nil || lung == nil || hu.Dims != lung.Dims || len(hu.Data) != hu.Len() || len(lung.Data) != lung.Len() {
		return fmt.Errorf("%w: HU and lung mask volumes missing or of different sizes", ErrInput)
	}
	for a := 0; a < 3; a++ {
		if r.BoxOrigin[a] < 0 || r.BoxOrigin[a]+r.Box.Dims[a] > hu.Dims[a] {
			return fmt.Errorf("%w: the lesion's box lies outside the volume", ErrInput)
		}
	}
	if len(r.Mask) != r.Box.Len() {
		return fmt.Errorf("%w: the lesion's mask does not fit its box", ErrInput)
	}
	if ws == nil {
		ws = &Workspace{}
	}
	b := &boxInfo{grid: r.Box, n: r.Box.Dims, lo: r.BoxOrigin}
	ws.load(hu, lung, b)
	for _, p := range r.lungCut {
		ws.lung[p] = 0
	}
	// The labels and the centroid as measure had them.
	nx, ny := b.n[0], b.n[1]
	var sum [3]float64
	var n int
	for p, m := range r.Mask {
		if m == 0 {
			ws.lab[p] = lOut
			continue
		}
		ws.lab[p] = lBody
		n++
		sum[0] += float64(p % nx)
		sum[1] += float64((p / nx) % ny)
		sum[2] += float64(p / (nx * ny))
	}
	if n == 0 {
		return fmt.Errorf("%w: empty lesion mask", ErrInput)
	}
	f := float64(n)
	sp := b.grid.Spacing
	ws.describe(b, r, volume.Vec3{sum[0] / f, sum[1] / f, sum[2] / f}, f*(sp[0]*sp[1]*sp[2]))
	r.pending, r.lungCut = false, nil
	return nil
}
