package phantom

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

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
// seed 0 and the default mix: 4–7 lesions of every kind, each scan with a
// mass at probability 0.4, the realistic acquisition model and the
// confounders. Lengths are mm, densities HU.
type Options struct {
	// Seed makes the phantom: same options and seed, same scan.
	Seed int64
	// Size is the grid preset (Small or Full).
	Size Size
	// Nodules is how many lesions (nodules and masses) to place: 0 means
	// a random 4–7, a negative value means none.
	Nodules int
	// Kinds, when not empty, fixes the kinds: lesion n has Kinds[n %
	// len(Kinds)]. When empty, the default mix: at most one mass (see
	// MassProbability), the others drawn with weights round 0.20,
	// lobulated 0.11, spiculated 0.10, juxtapleural 0.11, calcified 0.10,
	// ground glass 0.20, part-solid 0.18.
	Kinds []Kind
	// MinDiameterMM and MaxDiameterMM bound the nominal diameters of
	// nodules (every kind but Mass) in mm: default 3 and 30, at most 60;
	// diameters are drawn log-uniformly. Calcified nodules are capped at
	// 10 mm; lobulated and spiculated ones raised to at least 6 mm; ground
	// glass is drawn from 5 mm up and part-solid from 8 mm up (raised to
	// that when MaxDiameterMM is smaller). A lesion with no room at its drawn
	// size is shrunk by 20 % steps (not below the minimum, nor below 5 mm
	// for ground glass and 8 mm for part-solid) before Generate gives up.
	MinDiameterMM, MaxDiameterMM float64
	// MassMinDiameterMM and MassMaxDiameterMM bound the diameters of
	// masses in mm: default 30 and 80, 20 ≤ min ≤ max ≤ 100.
	MassMinDiameterMM, MassMaxDiameterMM float64
	// MassProbability is, in the default mix, the probability that a scan
	// has one mass: 0 means 0.4, a negative value means never; at most 1.
	MassProbability float64
	// NoiseHU is the standard deviation in HU of the image noise after
	// filtering (as measured in a uniform region): 0 means the default
	// 20, a negative value means no noise; at most 500. The noise is white
	// Gaussian noise minus its 7×7-pixel mean (no power at zero frequency,
	// like filtered back-projection), then blurred by the PSF with the
	// image, so it is spatially correlated like a reconstruction kernel's;
	// with the PSF off it is white.
	NoiseHU float64
	// PSFFWHMPixels is the full width at half maximum, in pixels, of the
	// Gaussian in-plane point-spread function applied after each pixel
	// has averaged the object over its area: 0 means the default 1.5, a
	// negative value means none; at most 10.
	PSFFWHMPixels float64
	// SliceProfileFWHMMM is the full width at half maximum, in mm, of the
	// Gaussian slice sensitivity profile of fine structures (vessels,
	// bronchi, scars, lesions), which are rendered on sub-slices no
	// thicker than a pixel (nor 1 mm) and combined with it: 0 means the
	// slice spacing (2.5 mm for both presets), a negative value means a
	// box as thick as the slice spacing; at most 20. Larger solids (lungs,
	// ribs, spine, body, airways) always get the box.
	SliceProfileFWHMMM float64
	// SliceSpacingMM is the slice spacing (and nominal slice thickness)
	// in mm: 0 means the preset's 2.5 mm; otherwise 0.625 to 5 (the
	// reconstructions scanners offer, from thin-slice screening to
	// legacy 5 mm). The scan keeps the preset's extent along z, in
	// proportionally more or fewer slices.
	SliceSpacingMM float64
	// EdgeEnhance is the reconstruction kernel's edge enhancement, as
	// sharp ("lung", "bone") kernels have: after the PSF each slice
	// becomes x + EdgeEnhance·(x − G x), G a Gaussian of one pixel's σ
	// (an unsharp mask), so that edges overshoot and undershoot and small
	// dense objects peak higher; the noise keeps the standard deviation
	// NoiseHU, now with more of its power at high frequencies. 0 means
	// none (a standard kernel); 1 is about a lung kernel, 2 a bone
	// kernel; at most 3.
	EdgeEnhance float64
	// NoConfounders leaves out the gravity-dependent density and the scars
	// (see the package comment).
	NoConfounders bool
}

// defaults returns o with every zero value replaced by its default, or an
// error wrapping ErrOptions.
func (o Options) defaults() (Options, error) {
	for _, f := range []struct {
		name string
		v    float64
	}{{"min diameter", o.MinDiameterMM}, {"max diameter", o.MaxDiameterMM},
		{"mass min diameter", o.MassMinDiameterMM}, {"mass max diameter", o.MassMaxDiameterMM},
		{"mass probability", o.MassProbability}, {"noise", o.NoiseHU},
		{"PSF FWHM", o.PSFFWHMPixels}, {"slice profile FWHM", o.SliceProfileFWHMMM}, {"slice spacing", o.SliceSpacingMM},
		{"edge enhancement", o.EdgeEnhance}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return o, fmt.Errorf("%w: %s is %v", ErrOptions, f.name, f.v)
		}
	}
	if o.Size != Small && o.Size != Full {
		return o, fmt.Errorf("%w: size %d", ErrOptions, int(o.Size))
	}
	for _, k := range o.Kinds {
		if !k.Valid() {
			return o, fmt.Errorf("%w: unknown nodule kind %q", ErrOptions, k)
		}
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.MinDiameterMM, 3)
	def(&o.MaxDiameterMM, 30)
	def(&o.MassMinDiameterMM, 30)
	def(&o.MassMaxDiameterMM, 80)
	def(&o.MassProbability, 0.4)
	def(&o.NoiseHU, 20)
	def(&o.PSFFWHMPixels, 1.5)
	def(&o.SliceSpacingMM, presetSliceMM)
	if o.SliceSpacingMM < minSliceMM || o.SliceSpacingMM > maxSliceMM {
		return o, fmt.Errorf("%w: slice spacing %g mm outside %g–%g mm", ErrOptions, o.SliceSpacingMM, minSliceMM, maxSliceMM)
	}
	if !(o.MinDiameterMM > 0) || !(o.MaxDiameterMM >= o.MinDiameterMM) || o.MaxDiameterMM > 60 {
		return o, fmt.Errorf("%w: diameter range %g–%g mm", ErrOptions, o.MinDiameterMM, o.MaxDiameterMM)
	}
	if !(o.MassMinDiameterMM >= 20) || !(o.MassMaxDiameterMM >= o.MassMinDiameterMM) || o.MassMaxDiameterMM > 100 {
		return o, fmt.Errorf("%w: mass diameter range %g–%g mm", ErrOptions, o.MassMinDiameterMM, o.MassMaxDiameterMM)
	}
	if o.MassProbability > 1 {
		return o, fmt.Errorf("%w: mass probability %g > 1", ErrOptions, o.MassProbability)
	}
	if o.EdgeEnhance < 0 || o.EdgeEnhance > maxEdgeEnhance {
		return o, fmt.Errorf("%w: edge enhancement %g outside 0–%g", ErrOptions, o.EdgeEnhance, float64(maxEdgeEnhance))
	}
	if o.NoiseHU > 500 || o.PSFFWHMPixels > 10 || o.SliceProfileFWHMMM > 20 {
		return o, fmt.Errorf("%w: noise %g HU, PSF %g pixels or slice profile %g mm too large", ErrOptions,
			o.NoiseHU, o.PSFFWHMPixels, o.SliceProfileFWHMMM)
	}
	return o, nil
}

// Validate reports whether Generate accepts o (an error wrapping
// ErrOptions if not), without generating anything: callers such as the CLI
// check their flags with it before any work.
func (o Options) Validate() error {
	_, err := o.defaults()
	return err
}

// Chest is a generated scan and its truth.
type Chest struct {
	// HU is the scan in Hounsfield units on its acquisition grid: identity
	// direction (axial slices, x = patient left, y = posterior), slices
	// ordered by increasing z, voxel (0,0,0) centre at Origin (LPS mm).
	// Voxels outside the scanner's circular field of view are −1000.
	HU *volume.Volume[int16]
	// Lung is the true lung mask on the same grid: 1 where lung parenchyma
	// (with the vessels, segmental bronchi, scars and lesions inside it)
	// covers at least half the voxel; trachea, main bronchi, chest wall and
	// everything else 0. Lesions are clipped to the lung, so a mass
	// against the chest wall is inside the mask.
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
// kind, impossible diameter range, a value out of range or not a number).
var ErrOptions = errors.New("phantom: invalid options")

// ErrNoRoom reports that a lesion could not be placed in the lungs without
// overlapping vessels, airways or other lesions (too many or too large
// lesions for the grid).
var ErrNoRoom = errors.New("phantom: no room for nodule")

// bytesPerVoxel is what generating and writing a phantom holds per voxel
// at its peak: the int16 scan and the lung mask, and the renderer's and
// the DICOM writer's buffers (measured: 752 MB for 512×512×632 voxels at
// 0.625 mm slices, 4.5 bytes a voxel).
const bytesPerVoxel = 5

// presetSliceMM is both presets' slice spacing (mm); minSliceMM and
// maxSliceMM bound Options.SliceSpacingMM.
const (
	presetSliceMM = 2.5
	minSliceMM    = 0.625
	maxSliceMM    = 5.0
)

// grid returns the acquisition grid for a preset with slices dz mm apart
// (the preset's z extent: its slice count times 2.5 mm, rounded to whole
// slices); rng draws the slice count and the table/patient offsets.
func gridFor(s Size, dz float64, rng *rand.Rand) (volume.Grid, error) {
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
	if !(dz >= minSliceMM && dz <= maxSliceMM) {
		return volume.Grid{}, fmt.Errorf("%w: slice spacing %g mm", ErrOptions, dz)
	}
	extent := float64(nz) * presetSliceMM
	fov := float64(n) * px
	// Real scanners put the image centre near the table centre, with a few
	// mm of offset, and z negative (table coordinates).
	ox := -fov/2 + px/2 + (rng.Float64()*10 - 5)
	oy := -fov/2 + px/2 + (rng.Float64()*10 - 5)
	oz := -(extent + 10 + rng.Float64()*40)
	oz = math.Round(oz*2) / 2
	nz = max(1, int(math.Round(extent/dz)))
	return volume.Grid{
		Dims:      [3]int{n, n, nz},
		Spacing:   volume.Vec3{px, px, dz},
		Origin:    volume.Vec3{ox, oy, oz},
		Direction: volume.Identity,
	}, nil
}

// newRand returns the PCG generator for a seed and a stream name, so that
// independent parts of a phantom draw from independent streams.
func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream^0x9e3779b97f4a7c15))
}

// Generate builds a synthetic chest CT with lesions. It returns ErrOptions
// for invalid options and ErrNoRoom when the lesions do not fit.
func Generate(opt Options) (*Chest, error) {
	p, err := newPlan(opt)
	if err != nil {
		return nil, err
	}
	g := p.g
	what := fmt.Sprintf("a %d×%d×%d scan", g.Dims[0], g.Dims[1], g.Dims[2])
	if err := membudget.Check(what, membudget.Mul(int64(g.Len()), bytesPerVoxel)); err != nil {
		return nil, fmt.Errorf("phantom: %w", err)
	}
	c := &Chest{
		HU:                  volume.New[int16](g),
		Lung:                volume.New[uint8](g),
		Seed:                p.o.Seed,
		PatientID:           fmt.Sprintf("PHANTOM-%d", p.o.Seed),
		StudyUID:            makeUID(p.o.Seed, "study", 0),
		SeriesUID:           makeUID(p.o.Seed, "series", 0),
		FrameOfReferenceUID: makeUID(p.o.Seed, "frame", 0),
		Nodules:             p.truth(),
	}
	renderScan(c.HU, c.Lung, p.a.scene(p.les), p.o.acquisition(g))
	return c, nil
}

// plan is a patient with its lesions placed, not yet rendered.
type plan struct {
	o   Options // with defaults
	g   volume.Grid
	a   *anatomy
	les []*lesion
}

// newPlan draws the grid, the anatomy, the confounders and the lesions.
func newPlan(opt Options) (*plan, error) {
	o, err := opt.defaults()
	if err != nil {
		return nil, err
	}
	rng := newRand(o.Seed, 1)
	g, err := gridFor(o.Size, o.SliceSpacingMM, rng)
	if err != nil {
		return nil, err
	}
	a := newAnatomy(g, rng)
	if !o.NoConfounders {
		a.addConfounders(newRand(o.Seed, 2))
	}
	// The mix (kinds and drawn diameters) has its own stream, so that it
	// does not change when the anatomy draws more or fewer numbers.
	mixRng := newRand(o.Seed, 4)
	kinds := o.mix(mixRng)
	diams := make([]float64, len(kinds))
	for n, k := range kinds {
		diams[n] = o.diameter(mixRng, k)
	}
	var les []*lesion
	for n, k := range kinds {
		d := diams[n]
		floor := o.MinDiameterMM
		switch k {
		case GroundGlass:
			floor = max(floor, 5)
		case PartSolid:
			floor = max(floor, 8)
		case Mass:
			floor = o.MassMinDiameterMM
		}
		l, err := a.placeLesion(rng, k, d, les)
		// A lesion that does not fit is shrunk (by 20 % at a time, not
		// below its minimum diameter) before giving up.
		for err != nil && d*0.8 >= floor {
			d = math.Round(d*80) / 100
			l, err = a.placeLesion(rng, k, d, les)
		}
		if err != nil {
			return nil, fmt.Errorf("lesion %d (%s, %.1f mm): %w", n, k, d, err)
		}
		les = append(les, l)
	}
	return &plan{o: o, g: g, a: a, les: les}, nil
}

// truth measures every lesion (in parallel) and returns the truth in
// placement order.
func (p *plan) truth() []Nodule {
	ns := make([]Nodule, len(p.les))
	par.For(len(ns), func(_, i int) { ns[i] = p.les[i].truth() })
	return ns
}

// maxEdgeEnhance is the largest Options.EdgeEnhance: beyond a bone
// kernel's.
const maxEdgeEnhance = 3

// fwhmToSigma converts a Gaussian's full width at half maximum to σ.
const fwhmToSigma = 1 / 2.3548200450309493

// acquisition returns the scanner model of (defaulted) options o on grid g.
func (o Options) acquisition(g volume.Grid) acquisition {
	aq := acquisition{seed: o.Seed, circle: true, edge: o.EdgeEnhance}
	if o.NoiseHU > 0 {
		aq.noiseHU = o.NoiseHU
	}
	if o.PSFFWHMPixels > 0 {
		aq.psfSigma = o.PSFFWHMPixels * fwhmToSigma
	}
	switch ssp := o.SliceProfileFWHMMM; {
	case ssp == 0:
		aq.sspSigma = g.Spacing[2] * fwhmToSigma
	case ssp > 0:
		aq.sspSigma = ssp * fwhmToSigma
	}
	return aq
}

// mix returns the kinds of the lesions to place, in placement order.
func (o Options) mix(rng *rand.Rand) []Kind {
	count := o.Nodules
	if count == 0 {
		count = 4 + rng.IntN(4)
	}
	if count < 0 {
		return nil
	}
	ks := make([]Kind, 0, count)
	if len(o.Kinds) > 0 {
		for n := 0; n < count; n++ {
			ks = append(ks, o.Kinds[n%len(o.Kinds)])
		}
		return ks
	}
	if o.MassProbability > 0 && rng.Float64() < o.MassProbability {
		ks = append(ks, Mass)
	}
	for len(ks) < count {
		ks = append(ks, randomKind(rng))
	}
	return ks
}

// diameter draws the nominal diameter (mm, rounded to 0.01) of a lesion of
// kind k (see Options).
func (o Options) diameter(rng *rand.Rand, k Kind) float64 {
	lo, hi := o.MinDiameterMM, o.MaxDiameterMM
	switch k {
	case Mass:
		lo, hi = o.MassMinDiameterMM, o.MassMaxDiameterMM
	case GroundGlass:
		lo = min(max(lo, 5), hi)
	case PartSolid:
		lo = min(max(lo, 8), hi)
	}
	d := math.Exp(math.Log(lo) + rng.Float64()*(math.Log(hi)-math.Log(lo)))
	switch k {
	case Calcified:
		d = math.Min(d, 10)
	case Lobulated, Spiculated:
		d = math.Max(d, 6)
	case GroundGlass:
		d = math.Max(d, 5)
	case PartSolid:
		d = math.Max(d, 8)
	}
	return math.Round(d*100) / 100
}

// randomKind draws a kind of the default mix other than Mass.
func randomKind(rng *rand.Rand) Kind {
	x := rng.Float64()
	switch {
	case x < 0.20:
		return Round
	case x < 0.31:
		return Lobulated
	case x < 0.41:
		return Spiculated
	case x < 0.52:
		return Juxtapleural
	case x < 0.62:
		return Calcified
	case x < 0.82:
		return GroundGlass
	default:
		return PartSolid
	}
}

// truth measures a placed lesion and returns its Nodule (lengths rounded
// to 0.1 µm and volumes to 0.001 mm³, so the truth CSV holds them exactly).
func (l *lesion) truth() Nodule {
	tr := l.measure()
	r4 := func(x float64) float64 { return math.Round(x*1e4) / 1e4 }
	n := Nodule{
		World:       vec{r4(tr.centroid[0]), r4(tr.centroid[1]), r4(tr.centroid[2])},
		DiameterMM:  l.diam,
		Kind:        l.kind,
		Type:        TypeOf(l.kind),
		LongAxisMM:  r4(tr.long),
		ShortAxisMM: r4(tr.short),
		VolumeMM3:   math.Round(tr.volume*1e3) / 1e3,
		Spiculated:  l.spiculated,
		Location:    l.location,
	}
	switch n.Type {
	case TypeNonSolid:
	case TypePartSolid:
		n.SolidDiameterMM = r4(math.Cbrt(6 * tr.solidVolume / math.Pi))
	default:
		n.SolidDiameterMM = n.DiameterMM
	}
	n.Malignancy, n.Malignant = MalignancyOfSolid(n.Kind, n.DiameterMM, n.SolidDiameterMM)
	return n
}
