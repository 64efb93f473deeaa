// Package segment computes a lung mask from a CT volume in Hounsfield units
// on an (approximately) isotropic axial grid, typically the 1 mm output of
// resample.Stack.
//
// Method (each step chosen for robustness on real scanner data and speed):
//
//  1. Air: voxels below Options.AirHU (−400 HU) are air candidates.
//
//  2. Outside air: in every axial slice, air connected (4-neighbour) to the
//     slice border is outside the body (room air, the padding outside the
//     scan circle, air under the table) and removed. Working per slice keeps
//     a trachea that leaves the top of the volume from joining outside air.
//
//  3. Trachea and main bronchi: the trachea is seeded in the most superior
//     slices as a compact pure-air (< Options.AirwayHU, −900 HU) region near
//     the body's left-right centre, then followed slice by slice downwards
//     through pure air overlapping the previous slice's lumen; a blob that
//     grows too large is a leak into lung and is dropped. Tracking stops
//     Options.BronchusDepthMM below the carina (the first slice where the
//     lumen splits). The lumen, widened by Options.AirwayMarginMM to take
//     the partial-volume wall, is removed from the air candidates; this
//     disconnects the lungs from each other and from the trachea.
//
//  4. Lungs: 6-connected 3-D components of the remaining air; the largest is
//     a lung (or both), and the next largest that holds at least
//     Options.MinLungML and 5% of the largest and whose mean is above −960 HU
//     (parenchyma, not the pure air of bowel gas or a hollow table) is the
//     other lung. Everything else is dropped.
//
//  5. Vessels, nodules and juxtapleural nodules: each lung separately (the
//     two components, or the halves either side of the body's midline when
//     the lungs touch), slice by slice, is closed with a disk of radius
//     Options.ClosingRadiusMM (15 mm) computed from two exact Euclidean
//     distance transforms, and its holes are filled. A nodule attached to the
//     chest wall leaves a bay in the air mask no wider than the nodule; the
//     closing bridges it, so nodules up to about 2×radius across stay inside.
//     Closing each lung on its own keeps the mediastinum and heart out; the
//     result is limited to the body and the airway stays excluded.
//
//  6. Masses against the mediastinum or chest wall (keepMasses): a tumour
//     that has grown into the lung from the mediastinum leaves a bay wider
//     than step 5 bridges. Each lung is therefore also closed with a disk
//     of radius Options.MassClosingRadiusMM (50 mm), on a 4 mm in-plane grid
//     (a sixteenth of the cost; only the closing's far edge, the cut
//     through the mediastinum, is that coarse), and what that closing adds is split
//     into 3-D connected pieces. A piece joins the mask only when it looks
//     like a mass rather than a mediastinal organ: at least half of it soft
//     tissue (≥ −50 HU; fat pads are not) and at least 45 % of its surface
//     against the lung rather than the body (a mass bulging into the lung
//     faces mostly lung; the aorta, the heart and the great vessels sit in
//     the mediastinum and face it on more of their surface), and at most
//     Options.MaxMassML (250 mL). Radius and contact were chosen on
//     LIDC-IDRI-0001 (nothing added), Lung-PET-CT-Dx A0002 (its
//     adenocarcinoma's centre fully inside) and the phantom masses of seeds
//     8, 10, 16, 18 and 20 (45–77 mm against the chest wall or the
//     mediastinum: 60–95 % of a ball of 0.3 diameters at their centre
//     inside; with 30 mm and 53 %, 0–79 %).
//
//  7. The diaphragm's dome (removeDomes): an axial slice through the top
//     of the liver or spleen shows a disc surrounded by lung, and steps 5–6
//     fill it. Dense pieces of the mask whose bottom faces mostly meet dense
//     tissue outside the mask (the dome going on downwards; for what step 6
//     added, only faces with no lung below them in their column: a mass
//     beside the mediastinum has lung below it) are removed: a narrow piece
//     whole, a wide one up to its height map opened by a 30 mm square, so
//     that what stands on the dome narrower than that and at least 0.4
//     times as high as wide (a nodule or a vessel resting on the diaphragm)
//     stays. Nodules and vessels elsewhere sit on lung. Lower-lobe vessels
//     that touch the dome join it in one piece whose bottom lies mostly
//     over lung: a piece of 20 mL or more that fails the test is opened
//     with a ball of 4 mm radius, and each thick part as wide as a dome
//     that passes the test goes (splitDome).
//
// Known limits: the closings are 2-D (axial), so a nodule sitting on the
// diaphragm dome, below the lung rather than beside it, may be only partly
// included; a mass facing the lung on under 60 % of its surface (one that
// has grown mostly into the mediastinum) stays out, and the part of a
// mass deeper in the mediastinum than the larger closing reaches stays out; a scan that starts below the carina has no trachea to remove
// (Stats.TracheaFound is false), which is harmless because the bronchi then
// lie inside the lungs.
package segment

import (
	"errors"
	"fmt"
	"math"

	"github.com/lungctl/lungctl/internal/volume"
)

// Options tunes Lungs. Zero fields take the defaults of DefaultOptions.
type Options struct {
	// AirHU: voxels below this (HU) are air candidates. Default −400.
	AirHU int16
	// AirwayHU: airway lumen voxels are below this (HU). Default −900.
	AirwayHU int16
	// ClosingRadiusMM is the radius (mm) of the per-slice disk closing that
	// brings vessels and juxtapleural nodules into the mask. Default 15.
	ClosingRadiusMM float64
	// MinLungML: a second air component is kept as a lung only when it holds
	// at least this many millilitres. Default 50.
	MinLungML float64
	// BronchusDepthMM: how far (mm) below the carina the main bronchi are
	// removed. Default 30.
	BronchusDepthMM float64
	// AirwayMarginMM widens the removed airway lumen (mm) to take its
	// partial-volume wall. Default 2.
	AirwayMarginMM float64
	// MassClosingRadiusMM is the radius (mm) of the larger per-slice
	// closing that proposes masses against the mediastinum and chest wall
	// (method step 6). Default 30; negative turns step 6 off.
	MassClosingRadiusMM float64
	// MaxMassML is the largest piece (mL) step 6 adds as one mass.
	// Default 250.
	MaxMassML float64
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{AirHU: -400, AirwayHU: -900, ClosingRadiusMM: 15, MinLungML: 50, BronchusDepthMM: 30, AirwayMarginMM: 2,
		MassClosingRadiusMM: 50, MaxMassML: 250}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.AirHU == 0 {
		o.AirHU = d.AirHU
	}
	if o.AirwayHU == 0 {
		o.AirwayHU = d.AirwayHU
	}
	if o.ClosingRadiusMM == 0 {
		o.ClosingRadiusMM = d.ClosingRadiusMM
	}
	if o.MinLungML == 0 {
		o.MinLungML = d.MinLungML
	}
	if o.BronchusDepthMM == 0 {
		o.BronchusDepthMM = d.BronchusDepthMM
	}
	if o.AirwayMarginMM == 0 {
		o.AirwayMarginMM = d.AirwayMarginMM
	}
	if o.MassClosingRadiusMM == 0 {
		o.MassClosingRadiusMM = d.MassClosingRadiusMM
	}
	if o.MaxMassML == 0 {
		o.MaxMassML = d.MaxMassML
	}
	return o
}

// Stats describes one segmentation.
type Stats struct {
	// LungVoxels is the number of mask voxels.
	LungVoxels int
	// VolumeML is the mask volume in millilitres.
	VolumeML float64
	// ComponentsML lists the kept air components' volumes (mL) before
	// closing, largest first (1 or 2 entries; none when no lung was found).
	ComponentsML []float64
	// TracheaFound reports whether a trachea was found and removed;
	// TracheaSeedSlice and CarinaSlice are voxel k indices (−1 if none).
	TracheaFound     bool
	TracheaSeedSlice int
	CarinaSlice      int
	// AirwayML is the volume (mL) removed as trachea and main bronchi,
	// margin included.
	AirwayML float64
	// MassesML lists the pieces (mL) step 6 added as masses against the
	// mediastinum or chest wall, largest first.
	MassesML []float64
	// DomeML is the volume (mL) step 7 removed as the top of the
	// diaphragm's dome.
	DomeML float64
}

// ErrNoLungs reports a volume with no air component large enough to be a
// lung (not a chest CT, or a wrong HU conversion).
var ErrNoLungs = errors.New("segment: no lung found")

// ErrOrientation reports a volume whose k axis is not the patient's
// head-foot axis (Lungs works on axial grids such as resample.Stack's
// output of an axial series).
var ErrOrientation = errors.New("segment: volume is not axial")

// maxPureAirHU: an air component whose mean is below this (HU) is pure air
// (gas, table), not lung parenchyma, when choosing the second lung.
const maxPureAirHU = -960

// classes in Segmenter.cls
const (
	cTissue   = 0
	cAir      = 1
	cOutside  = 2
	cAirway   = 3
	cCand     = 4 // proposed by the mass closing (step 6), not yet judged
	cSeen     = 5 // a cCand voxel already put in a piece
	cTemp     = 6
	cLeak     = 7
	cDome     = 8 // a dense mask voxel already put in a piece by removeDomes
	cDomeMass = 9 // the same, where the mass step had added it
)

// Segmenter holds volume-sized buffers reused across calls; the zero value
// is ready. It is not safe for concurrent use.
type Segmenter struct {
	cls      []uint8
	runs     [][]airRun
	rowStart [][]int32
	parent   []int32
	cx       []float64     // per-slice body centroid (voxel i)
	boxes    [][2]labelBox // per slice: bounding box of lung labels 1 and 2
	cand     [][]int32     // per slice: voxels the mass closing proposed
	nbody    []int
}

// Lungs returns the lung mask (1 = lung) of hu, a volume in HU on an axial
// grid of about 1 mm voxels (voxel k increasing either towards the head or
// the feet), on hu's grid. See the package comment for the method.
func Lungs(hu *volume.Volume[int16], opt Options) (*volume.Volume[uint8], error) {
	var s Segmenter
	m, _, err := s.Lungs(hu, opt, nil)
	return m, err
}

// Lungs is the package-level Lungs reusing s's buffers and dst (when its
// capacity suffices), and also returns Stats.
func (s *Segmenter) Lungs(hu *volume.Volume[int16], opt Options, dst *volume.Volume[uint8]) (*volume.Volume[uint8], Stats, error) {
	st := Stats{TracheaSeedSlice: -1, CarinaSlice: -1}
	if hu == nil {
		return nil, st, fmt.Errorf("segment: %w: nil volume", volume.ErrGeometry)
	}
	if err := hu.Check(); err != nil {
		return nil, st, fmt.Errorf("segment: %w", err)
	}
	if math.Abs(hu.Direction[2][2]) < 0.7 {
		return nil, st, fmt.Errorf("%w: k axis direction %.2f,%.2f,%.2f", ErrOrientation, hu.Direction[0][2], hu.Direction[1][2], hu.Direction[2][2])
	}
	opt = opt.withDefaults()
	n := hu.Len()
	if dst != nil && cap(dst.Data) >= n {
		dst.Data = dst.Data[:n]
		dst.Grid = hu.Grid
	} else {
		dst = volume.New[uint8](hu.Grid)
	}
	if cap(s.cls) < n {
		s.cls = make([]uint8, n)
	}
	s.cls = s.cls[:n]
	nz := hu.Dims[2]
	if cap(s.cx) < nz {
		s.cx, s.nbody = make([]float64, nz), make([]int, nz)
	}
	s.cx, s.nbody = s.cx[:nz], s.nbody[:nz]

	s.classify(hu, opt)
	s.airway(hu, opt, &st)
	if err := s.components(hu, opt, dst, &st); err != nil {
		return nil, st, err
	}
	st.LungVoxels = s.close(hu, opt, dst)
	if opt.MassClosingRadiusMM > 0 {
		st.LungVoxels += s.keepMasses(hu, opt, dst, &st)
	}
	if hu.Direction[2][2] > 0 { // k towards the head, as on lungctl's grids
		n := s.removeDomes(hu, dst)
		st.LungVoxels -= n
		st.DomeML = float64(n) * hu.Spacing[0] * hu.Spacing[1] * hu.Spacing[2] / 1000
	}
	vox := hu.Spacing[0] * hu.Spacing[1] * hu.Spacing[2] / 1000
	st.VolumeML = float64(st.LungVoxels) * vox
	return dst, st, nil
}
