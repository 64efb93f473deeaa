package risk

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

// Emphysema by CT densitometry.
//
// EmphysemaHU is the density-mask threshold: a lung voxel at or below
// −950 HU on an inspiratory CT counts as emphysematous (LAA-950). COPDGene
// defines "LAA-950I" as the percentage of low-attenuation areas ≤ −950 HU
// (Schroeder JD et al., AJR 2013;201(3):W460-W470, PMC4067052).
//
// EmphysemaPercent is the conventional cut that turns LAA-950 into a
// yes/no: emphysema is present when at least 5 % of the lung volume is at
// or below −950 HU ("QCT emphysema is defined as ≥ 5 % of lung volume
// occupied by low attenuation areas ≤ −950 Hounsfield units": Amaza IP et
// al., Int J Chron Obstruct Pulmon Dis 2021;16:1231-1242,
// doi:10.2147/COPD.S284477, following COPDGene).
//
// PanCan's emphysema was a radiologist's visual yes/no, not LAA-950, and
// the two disagree often (Amaza et al. studied exactly that), so a
// measured value is a stand-in for the covariate the model was fitted on.
// LAA-950 also depends on the scanner, the reconstruction kernel and the
// dose; on a low-dose, sharp-kernel screening CT noise pushes it up.
const (
	EmphysemaHU      = -950
	EmphysemaPercent = 5.0
)

// ErrMask reports an HU volume and lung mask that cannot be paired, or a
// mask with no lung in it.
var ErrMask = errors.New("invalid lung mask")

// LAA950 returns the percentage (0–100) of lung voxels — those whose mask
// value is not zero — whose attenuation is at or below EmphysemaHU. It
// reads each voxel once and allocates nothing. The two volumes must have
// the same dims and as many voxels as their dims say (ErrMask otherwise);
// a mask with no lung voxel is ErrMask too.
func LAA950(hu *volume.Volume[int16], lung *volume.Volume[uint8]) (float64, error) {
	if hu == nil || lung == nil {
		return 0, fmt.Errorf("laa-950: %w: nil volume", ErrMask)
	}
	if hu.Dims != lung.Dims || len(hu.Data) != len(lung.Data) || len(hu.Data) != hu.Len() {
		return 0, fmt.Errorf("laa-950: %w: HU volume %v (%d voxels) and mask %v (%d voxels) differ",
			ErrMask, hu.Dims, len(hu.Data), lung.Dims, len(lung.Data))
	}
	// Counted in parallel chunks; integer sums, so exact.
	var n, low atomic.Int64
	m := lung.Data[:len(hu.Data)]
	par.Chunks(len(hu.Data), 1<<20, func(_, lo, hi int) {
		var cn, cl int64
		for i, v := range hu.Data[lo:hi] {
			if m[lo+i] != 0 {
				cn++
				if v <= EmphysemaHU {
					cl++
				}
			}
		}
		n.Add(cn)
		low.Add(cl)
	})
	if n.Load() == 0 {
		return 0, fmt.Errorf("laa-950: %w: no lung voxels in the mask", ErrMask)
	}
	return 100 * float64(low.Load()) / float64(n.Load()), nil
}

// EmphysemaPresent applies the conventional cut: LAA-950 ≥
// EmphysemaPercent (5 %) is emphysema. laaPercent must be in [0, 100]
// (ErrClinical otherwise).
func EmphysemaPresent(laaPercent float64) (bool, error) {
	if math.IsNaN(laaPercent) || laaPercent < 0 || laaPercent > 100 {
		return false, fmt.Errorf("%w: LAA-950 %v %% (want 0–100)", ErrClinical, laaPercent)
	}
	return laaPercent >= EmphysemaPercent, nil
}
