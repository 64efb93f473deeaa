// Package phantom generates synthetic chest CT scans with known nodules: a
// volume in Hounsfield units on a realistic acquisition grid (LPS world mm),
// the nodule truth (LPS centre, diameter, shape, malignancy), a DICOM writer
// that produces a real CT series from it, a LUNA16-style truth CSV, and small
// 1 mm patches for CNN training.
//
// Everything is deterministic per seed: the same Options give the same
// voxels, the same UIDs and the same DICOM bytes.
//
// Anatomy (HU before noise): air −1000 outside the body; a curved table plate
// (+200) under the patient, separated from the body by an air gap; the body
// (skin and muscle +40, a subcutaneous fat layer −100); ribs (+700 bony tubes,
// intermittent along z); a vertebral column (+350 with +80 discs); two lungs
// (−850, left smaller, rounded apex, domed diaphragm); a trachea (air, −1000,
// with a +40 wall) entering from the top and splitting into two main bronchi,
// and thinner segmental bronchi (air with a soft-tissue wall) beside the
// larger arteries inside the lungs;
// pulmonary vessels as trees of tapering tubes (+40, radius ≈5 mm at the hila
// down to < 1 mm); nodules; Gaussian noise (σ = Options.NoiseHU, default 20).
// Edges are partial-volume anti-aliased: each voxel takes the fraction of
// its box an object covers, estimated from the object's signed distance and
// the voxel's extent along the surface normal. Outside the scanner's circular
// field of view the volume holds −1000 (what a loader produces from the
// padding value that WriteDICOM stores there).
package phantom

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"

	"github.com/lungctl/lungctl/internal/volume"
)

// Kind is the shape class of a synthetic nodule.
type Kind string

// The nodule kinds Generate and Patch can render.
const (
	// Round is a smooth sphere of soft tissue (+40 HU at the centre, +20 at
	// the edge).
	Round Kind = "round"
	// Lobulated is a soft-tissue nodule whose radius varies smoothly with
	// direction (a few broad bumps); its volume equals that of a sphere of
	// the nominal diameter.
	Lobulated Kind = "lobulated"
	// Spiculated is a soft-tissue sphere of the nominal diameter with thin
	// tapering spikes (radius ≈1 mm to 0.3 mm) radiating up to ≈2 radii.
	Spiculated Kind = "spiculated"
	// Juxtapleural is a smooth soft-tissue nodule whose centre lies inside the
	// lung at a quarter of its radius from the pleura, so it merges with the
	// chest wall.
	Juxtapleural Kind = "juxtapleural"
	// Calcified is a small dense sphere (+300…+800 HU), always benign.
	Calcified Kind = "calcified"
)

// Kinds lists every Kind in a fixed order.
var Kinds = []Kind{Round, Lobulated, Spiculated, Juxtapleural, Calcified}

// Valid reports whether k is one of the kinds in Kinds.
func (k Kind) Valid() bool {
	for _, x := range Kinds {
		if k == x {
			return true
		}
	}
	return false
}

// Nodule is one synthetic nodule's truth.
type Nodule struct {
	// World is the nodule centre in LPS world mm.
	World volume.Vec3
	// DiameterMM is the nominal diameter in mm: the sphere diameter for round,
	// juxtapleural, calcified and the core of spiculated nodules, the
	// volume-equivalent sphere diameter for lobulated ones.
	DiameterMM float64
	// Kind is the shape class.
	Kind Kind
	// Malignancy is an LIDC-style rating 1..5 from MalignancyOf.
	Malignancy int
	// Malignant is Malignancy ≥ 4 (see MalignancyOf for the rule).
	Malignant bool
}

// MalignancyOf returns the LIDC-style malignancy rating (1..5) and the
// malignant label for a nodule of the given kind and diameter (mm). The rule:
//
//   - calcified: 1, benign, whatever the size;
//   - smooth (round, juxtapleural): < 4 mm → 1, < 8 mm → 2, < 15 mm → 3,
//     < 22 mm → 4, else 5;
//   - lobulated: < 8 mm → 3, < 15 mm → 4, else 5;
//   - spiculated: < 8 mm → 3, else 5.
//
// Malignant is rating ≥ 4, which is the same as: diameter ≥ 8 mm and
// lobulated or spiculated, or diameter ≥ 15 mm and not calcified.
func MalignancyOf(k Kind, diameterMM float64) (rating int, malignant bool) {
	d := diameterMM
	switch k {
	case Calcified:
		rating = 1
	case Lobulated:
		switch {
		case d < 8:
			rating = 3
		case d < 15:
			rating = 4
		default:
			rating = 5
		}
	case Spiculated:
		if d < 8 {
			rating = 3
		} else {
			rating = 5
		}
	default:
		switch {
		case d < 4:
			rating = 1
		case d < 8:
			rating = 2
		case d < 15:
			rating = 3
		case d < 22:
			rating = 4
		default:
			rating = 5
		}
	}
	return rating, rating >= 4
}

// Size selects the acquisition grid of a generated scan.
type Size int

const (
	// Small is a fast test grid: 128×128 pixels of 2.5 mm (320 mm field of
	// view) × 64 slices of 2.5 mm (160 mm). The zero value.
	Small Size = iota
	// Full is a clinical grid like LIDC-IDRI's: 512×512 pixels of 0.703125 mm
	// (360 mm field of view) × 130–159 slices of 2.5 mm (number per seed).
	Full
)

// String names the preset ("small", "full").
func (s Size) String() string {
	switch s {
	case Small:
		return "small"
	case Full:
		return "full"
	}
	return fmt.Sprintf("Size(%d)", int(s))
}

// Options controls Generate. The zero value is a valid Small phantom with
// seed 0, 3–6 nodules of random kinds, 3–30 mm, and 20 HU noise.
type Options struct {
	// Seed makes the phantom: same options and seed, same scan.
	Seed int64
	// Size is the grid preset (Small or Full).
	Size Size
	// Nodules is how many nodules to place: 0 means a random 3–6, a negative
	// value means none.
	Nodules int
	// Kinds, when not empty, fixes the kinds: nodule n has Kinds[n %
	// len(Kinds)]. When empty, kinds are drawn at random (round most often).
	Kinds []Kind
	// MinDiameterMM and MaxDiameterMM bound the nominal diameters in mm
	// (default 3 and 30); diameters are drawn log-uniformly. Calcified
	// nodules are capped at 10 mm, lobulated and spiculated ones raised to
	// at least 6 mm; a nodule with no room at its drawn size is shrunk by
	// 20 % steps (not below the minimum) before Generate gives up.
	MinDiameterMM, MaxDiameterMM float64
	// NoiseHU is the standard deviation of the Gaussian noise in HU: 0
	// means the default 20, a negative value means no noise.
	NoiseHU float64
}

// Chest is a generated scan and its truth.
type Chest struct {
	// HU is the scan in Hounsfield units on its acquisition grid: identity
	// direction (axial slices, x = patient left, y = posterior), slices
	// ordered by increasing z, voxel (0,0,0) centre at Origin (LPS mm).
	// Voxels outside the scanner's circular field of view are −1000.
	HU *volume.Volume[int16]
	// Lung is the true lung mask on the same grid: 1 where lung parenchyma
	// (with the vessels and segmental bronchi inside it) or a nodule covers
	// at least half the voxel; trachea, main bronchi, chest wall and
	// everything else 0.
	Lung *volume.Volume[uint8]
	// Nodules is the truth, in placement order.
	Nodules []Nodule
	// Seed is Options.Seed; WriteDICOM derives UIDs and file order from it.
	Seed int64
	// PatientID, StudyUID, SeriesUID and FrameOfReferenceUID are the DICOM
	// identifiers WriteDICOM writes (UIDs in the 2.25.<decimal> form).
	PatientID, StudyUID, SeriesUID, FrameOfReferenceUID string
}

// ErrOptions reports Options that cannot make a phantom (unknown size or
// kind, impossible diameter range).
var ErrOptions = errors.New("phantom: invalid options")

// ErrNoRoom reports that a nodule could not be placed in the lungs without
// overlapping vessels, airways or other nodules (too many or too large
// nodules for the grid).
var ErrNoRoom = errors.New("phantom: no room for nodule")

// grid returns the acquisition grid for a preset; rng draws the slice count
// and the table/patient offsets.
func gridFor(s Size, rng *rand.Rand) (volume.Grid, error) {
	var n, nz int
	var px float64
	switch s {
	case Small:
		n, nz, px = 128, 64, 2.5
	case Full:
		n, nz, px = 512, 130+rng.IntN(30), 0.703125
	default:
		return volume.Grid{}, fmt.Errorf("%w: size %d", ErrOptions, int(s))
	}
	fov := float64(n) * px
	// Real scanners put the image centre near the table centre, with a few
	// mm of offset, and z negative (table coordinates).
	ox := -fov/2 + px/2 + (rng.Float64()*10 - 5)
	oy := -fov/2 + px/2 + (rng.Float64()*10 - 5)
	oz := -(float64(nz)*2.5 + 10 + rng.Float64()*40)
	oz = math.Round(oz*2) / 2
	return volume.Grid{
		Dims:      [3]int{n, n, nz},
		Spacing:   volume.Vec3{px, px, 2.5},
		Origin:    volume.Vec3{ox, oy, oz},
		Direction: volume.Identity,
	}, nil
}

// newRand returns the PCG generator for a seed and a stream name, so that
// independent parts of a phantom draw from independent streams.
func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream^0x9e3779b97f4a7c15))
}

// Generate builds a synthetic chest CT with nodules. It returns ErrOptions
// for invalid options and ErrNoRoom when the nodules do not fit.
func Generate(opt Options) (*Chest, error) {
	minD, maxD := opt.MinDiameterMM, opt.MaxDiameterMM
	if minD == 0 {
		minD = 3
	}
	if maxD == 0 {
		maxD = 30
	}
	if !(minD > 0) || !(maxD >= minD) || maxD > 60 {
		return nil, fmt.Errorf("%w: diameter range %g–%g mm", ErrOptions, minD, maxD)
	}
	for _, k := range opt.Kinds {
		if !k.Valid() {
			return nil, fmt.Errorf("%w: unknown nodule kind %q", ErrOptions, k)
		}
	}
	noise := opt.NoiseHU
	if noise == 0 {
		noise = 20
	} else if noise < 0 {
		noise = 0
	}
	rng := newRand(opt.Seed, 1)
	g, err := gridFor(opt.Size, rng)
	if err != nil {
		return nil, err
	}
	a := newAnatomy(g, rng)
	count := opt.Nodules
	if count == 0 {
		count = 3 + rng.IntN(4)
	}
	var nods []nodule
	for n := 0; n < count; n++ {
		var k Kind
		if len(opt.Kinds) > 0 {
			k = opt.Kinds[n%len(opt.Kinds)]
		} else {
			k = randomKind(rng)
		}
		d := math.Exp(math.Log(minD) + rng.Float64()*(math.Log(maxD)-math.Log(minD)))
		switch k {
		case Calcified:
			d = math.Min(d, 10)
		case Lobulated, Spiculated:
			d = math.Max(d, 6)
		}
		d = math.Round(d*100) / 100
		nd, err := a.placeNodule(rng, k, d, nods)
		// A nodule that does not fit is shrunk (by 20 % at a time, not
		// below the minimum diameter) before giving up.
		for err != nil && d*0.8 >= minD {
			d = math.Round(d*80) / 100
			nd, err = a.placeNodule(rng, k, d, nods)
		}
		if err != nil {
			return nil, fmt.Errorf("nodule %d (%s, %.1f mm): %w", n, k, d, err)
		}
		nods = append(nods, nd)
	}
	c := &Chest{
		HU:                  volume.New[int16](g),
		Lung:                volume.New[uint8](g),
		Seed:                opt.Seed,
		PatientID:           fmt.Sprintf("PHANTOM-%d", opt.Seed),
		StudyUID:            makeUID(opt.Seed, "study", 0),
		SeriesUID:           makeUID(opt.Seed, "series", 0),
		FrameOfReferenceUID: makeUID(opt.Seed, "frame", 0),
	}
	layers := a.layers(nods)
	renderVolume(c.HU, c.Lung, -1000, layers, noise, opt.Seed, true, runtime.GOMAXPROCS(0))
	for _, nd := range nods {
		r, m := MalignancyOf(nd.kind, nd.diam)
		c.Nodules = append(c.Nodules, Nodule{World: nd.c, DiameterMM: nd.diam, Kind: nd.kind, Malignancy: r, Malignant: m})
	}
	return c, nil
}

func randomKind(rng *rand.Rand) Kind {
	x := rng.Float64()
	switch {
	case x < 0.35:
		return Round
	case x < 0.55:
		return Lobulated
	case x < 0.70:
		return Spiculated
	case x < 0.85:
		return Juxtapleural
	default:
		return Calcified
	}
}
