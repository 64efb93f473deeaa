// Package classify scores nodule candidates for malignancy with a small 3-D
// CNN (parameters in package nn, run as the gorgonia graph of package
// gorgop): versioned model files with their model cards and an
// embedded default model, patch extraction around candidates, batch
// inference (Score) and the patient-level noisy-OR. Training and its data
// (phantom patches, LUNA16 tables) live in package classify/train.
package classify

import (
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

// Norm is the HU window and scaling applied to patches before the network:
// HU values are clipped to [MinHU, MaxHU] and mapped linearly to [0, 1]
// (MinHU → 0, MaxHU → 1). Samples outside the volume read as OutsideHU.
type Norm struct {
	MinHU     float64 `json:"min_hu"`
	MaxHU     float64 `json:"max_hu"`
	OutsideHU float64 `json:"outside_hu"`
}

// DefaultNorm is the window every shipped model uses: [−1000, 400] HU → [0, 1],
// air (−1000 HU) outside the volume.
var DefaultNorm = Norm{MinHU: -1000, MaxHU: 400, OutsideHU: -1000}

// PatchSpec says how a patch is sampled: Size³ samples SpacingMM apart, on
// axes parallel to the volume's i, j, k axes, centred so that sample
// (Size/2, Size/2, Size/2) lies on the candidate centre.
type PatchSpec struct {
	Size      int     `json:"size_voxels"`
	SpacingMM float64 `json:"spacing_mm"`
	Norm      Norm    `json:"norm"`
}

// DefaultPatchSpec is 32³ samples 1 mm apart (a 32 mm cube) with DefaultNorm.
var DefaultPatchSpec = PatchSpec{Size: 32, SpacingMM: 1, Norm: DefaultNorm}

// Augment is one rigid transform of a patch's sampling grid, used in
// training: flips of each patch axis, a rotation by Rot90·90° in the axial
// (i, j) plane and a shift of the centre in mm along the patch axes.
type Augment struct {
	Flip    [3]bool
	Rot90   int
	ShiftMM [3]float64
}

// Site is one place to cut a patch: an HU volume (any spacing; often a
// small crop) and the LPS world point (mm) the patch is centred on.
type Site struct {
	Vol   *volume.Volume[int16]
	World volume.Vec3
}

// ExtractPatches fills dst (len(sites)·Size³ values) with the patches of
// sites, augmented by augs[i] when augs is non-nil, on the par worker budget.
func ExtractPatches(sites []Site, spec PatchSpec, augs []Augment, dst []float32) {
	n := spec.Size * spec.Size * spec.Size
	par.For(len(sites), func(_, i int) {
		var a *Augment
		if augs != nil {
			a = &augs[i]
		}
		ExtractPatch(sites[i].Vol, sites[i].World, spec, a, dst[i*n:(i+1)*n])
	})
}

// ExtractPatch samples the patch around world (LPS mm) from hu by trilinear
// interpolation into dst (Size³ values, [k][j][i] with i fastest, the
// network's [D][H][W]), normalised by spec.Norm. aug may be nil. The patch
// axes follow the volume's direction columns, so for a 1 mm volume whose
// centre falls on a voxel the samples are the voxels themselves.
func ExtractPatch(hu *volume.Volume[int16], world volume.Vec3, spec PatchSpec, aug *Augment, dst []float32) {
	n := spec.Size
	g := hu.Grid
	// continuous index of the centre and index steps per mm along each axis
	c := g.WorldToIndex(world)
	var step [3]float64
	for a := 0; a < 3; a++ {
		step[a] = spec.SpacingMM / g.Spacing[a]
	}
	// an axis-aligned displacement in mm along volume axis a moves the
	// index by d/Spacing[a] along a only (the direction columns are the
	// patch axes), which also holds for sheared grids.
	if aug != nil {
		for a := 0; a < 3; a++ {
			c[a] += aug.ShiftMM[a] / g.Spacing[a]
		}
	}
	lo := float64(spec.Norm.MinHU)
	scale := 1 / (spec.Norm.MaxHU - spec.Norm.MinHU)
	outside := spec.Norm.OutsideHU
	h := float64(n / 2)
	p := 0
	for k := 0; k < n; k++ {
		for j := 0; j < n; j++ {
			for i := 0; i < n; i++ {
				o := [3]float64{float64(i) - h, float64(j) - h, float64(k) - h}
				if aug != nil {
					for a := 0; a < 3; a++ {
						if aug.Flip[a] {
							o[a] = -o[a]
						}
					}
					for r := 0; r < aug.Rot90&3; r++ {
						o[0], o[1] = -o[1], o[0]
					}
				}
				v := hu.Trilinear(volume.Vec3{c[0] + o[0]*step[0], c[1] + o[1]*step[1], c[2] + o[2]*step[2]}, outside)
				t := (v - lo) * scale
				if t < 0 {
					t = 0
				} else if t > 1 {
					t = 1
				}
				dst[p] = float32(t)
				p++
			}
		}
	}
}
