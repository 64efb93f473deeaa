package phantom

import "github.com/lungctl/lungctl/internal/volume"

// Kind is the class of a synthetic lesion.
type Kind string

// The lesion kinds Generate and Patch can render. Solid densities carry a
// smooth texture (correlation length 2.5 mm) of ±4 HU.
const (
	// Round is a smooth sphere of soft tissue (+40 HU at the centre, +20 at
	// the edge).
	Round Kind = "round"
	// Lobulated is a soft-tissue nodule whose radius varies smoothly with
	// direction (4–6 broad lobes of 12–30 %); its volume equals that of a
	// sphere of the nominal diameter.
	Lobulated Kind = "lobulated"
	// Spiculated is a soft-tissue sphere of the nominal diameter with 6–12
	// thin tapering spicules (radius 0.8–1.3 mm, at most 0.3 radii, to
	// 0.25–0.4 mm) radiating to 1.4–2.2 radii.
	Spiculated Kind = "spiculated"
	// Juxtapleural is a smooth soft-tissue nodule whose centre lies inside
	// the lung at a quarter of its radius from the lateral or posterior
	// pleura, clipped to the lung, so it sits on the chest wall.
	Juxtapleural Kind = "juxtapleural"
	// Calcified is a small dense sphere (+300…+800 HU at the centre, 100
	// HU less at the edge), always benign.
	Calcified Kind = "calcified"
	// GroundGlass is a non-solid nodule, 5–30 mm: a body with 3–6 lobes of
	// 5–25 % and an irregular margin (±5–10 % of the radius, 2.5–4 cells
	// per radian), a plateau density μ of −750…−450 HU drawn per nodule,
	// internal heterogeneity (the fill fraction varies by ±20–40 % with a
	// texture of 1.5–3 mm correlation length) and a soft margin: the
	// density ramps (smoothstep) from μ to the surrounding lung over
	// ±(0.08·diameter, 0.5…1.5 mm) about the surface. It fills the air
	// spaces rather than replacing the lung, so vessels (under 2.5 mm
	// radius) that pass through it stay visible: parenchyma of density B
	// becomes B + α·(40 − B) with α = (μ + 850)/890.
	GroundGlass Kind = "groundglass"
	// PartSolid is a ground-glass lesion of 8–30 mm (as GroundGlass) with
	// a solid core of 2–15 mm (at most 0.6 of the lesion's diameter, 2–4
	// lobes of 5–20 %), −100…+60 HU (drawn per lesion, ±8 HU texture),
	// central (40 %) or eccentric (60 %), inside the ground glass and its
	// soft margin; the truth's solid_diameter_mm is the core's.
	PartSolid Kind = "partsolid"
	// Mass is a lesion of 30–80 mm: lobulated (4–8 lobes of 10–30 %) and/or
	// spiculated (12–28 spicules of radius 0.6–1.4 mm tapering to 0.25–0.4
	// mm, reaching 0.3–0.8 radii, at most 25 mm, beyond the surface),
	// soft tissue of +15…+45 HU with a 3–6 mm texture of ±12…22 HU (values
	// kept within −100…+60 HU), with a necrotic centre (−30…+10 HU, 25–45
	// % of the radius) in 40 % and an air bronchogram (a branching air
	// tube of 1–1.6 mm radius) in 35 % of masses. Each mass is drawn to
	// touch the chest wall (45 %) or the mediastinum (30 %), broad-based
	// and clipped to the lung, or to lie in the parenchyma (25 %; against
	// the chest wall when it does not fit there).
	Mass Kind = "mass"
	// Juxtavascular is a smooth soft-tissue nodule (as Round) against a
	// vessel of 1–3 mm radius: its centre lies the vessel's radius plus
	// 0.75–1.0 of its own from the vessel's axis, so the vessel runs along
	// its side, sunk into it by up to a quarter of its radius, as
	// segmental vessels meet nodules on patients' scans (the other kinds
	// keep clear of vessels of 1.5 mm radius and more). Only --kinds
	// draws it; the default mix does not.
	Juxtavascular Kind = "juxtavascular"
)

// Kinds lists the five solid-nodule kinds of the original generator in a
// fixed order: Round, Lobulated, Spiculated, Juxtapleural, Calcified. It is
// kept as it was because other packages (internal/classify's training
// data) draw from it; AllKinds lists every kind.
var Kinds = []Kind{Round, Lobulated, Spiculated, Juxtapleural, Calcified}

// AllKinds lists every Kind in a fixed order: Kinds, then GroundGlass,
// PartSolid, Mass and Juxtavascular.
var AllKinds = []Kind{Round, Lobulated, Spiculated, Juxtapleural, Calcified, GroundGlass, PartSolid, Mass, Juxtavascular}

// Valid reports whether k is one of the kinds in AllKinds.
func (k Kind) Valid() bool {
	for _, x := range AllKinds {
		if k == x {
			return true
		}
	}
	return false
}

// NoduleType is the Lung-RADS attenuation class of a lesion.
type NoduleType string

// The attenuation classes.
const (
	TypeSolid     NoduleType = "solid"
	TypePartSolid NoduleType = "part-solid"
	TypeNonSolid  NoduleType = "non-solid"
	TypeCalcified NoduleType = "calcified"
)

// TypeOf returns the attenuation class of kind k: ground glass is
// non-solid, part-solid is part-solid, calcified is calcified, every other
// kind (masses included) solid.
func TypeOf(k Kind) NoduleType {
	switch k {
	case GroundGlass:
		return TypeNonSolid
	case PartSolid:
		return TypePartSolid
	case Calcified:
		return TypeCalcified
	}
	return TypeSolid
}

// Location is where a lesion lies.
type Location string

// The locations.
const (
	// LocationParenchyma: surrounded by lung (at least 3 mm from the
	// pleura when placed; spicules may reach it).
	LocationParenchyma Location = "parenchyma"
	// LocationJuxtapleural: against the chest wall (costal pleura).
	LocationJuxtapleural Location = "juxtapleural"
	// LocationMediastinal: against the mediastinal pleura.
	LocationMediastinal Location = "mediastinal"
)

// Nodule is one synthetic lesion's truth. Lengths are mm, the position is
// LPS world mm.
type Nodule struct {
	// World is the centroid of the lesion's body (its solid without
	// spicules, clipped to the lung), LPS world mm.
	World volume.Vec3
	// DiameterMM is the nominal diameter in mm: the diameter of the sphere
	// with the volume of the unclipped body (spicules excluded) — for
	// round, juxtapleural, calcified and the body of spiculated nodules
	// the sphere's own diameter.
	DiameterMM float64
	// Kind is the lesion class.
	Kind Kind
	// Malignancy is an LIDC-style rating 1..5 from MalignancyOfSolid.
	Malignancy int
	// Malignant is Malignancy ≥ 4.
	Malignant bool
	// Type is the attenuation class (TypeOf(Kind)).
	Type NoduleType
	// SolidDiameterMM is the diameter of the solid component on the same
	// definition as DiameterMM: DiameterMM for solid and calcified
	// lesions, the core's volume-equivalent diameter for part-solid ones,
	// 0 for non-solid ones.
	SolidDiameterMM float64
	// LongAxisMM and ShortAxisMM are the axial diameters as Lung-RADS
	// measures them, on the true body (spicules excluded, clipped to the
	// lung): the longest in-plane diameter on the axial plane where it is
	// largest, and on that plane the longest extent perpendicular to it
	// (the distance between the outermost boundary crossings of a line
	// perpendicular to the long axis, the largest over such lines).
	LongAxisMM, ShortAxisMM float64
	// VolumeMM3 is the true volume in mm³ of the lesion's solid: the body
	// clipped to the lung (a ground-glass nodule's to its surface, the
	// middle of its soft margin) plus the spicules outside it.
	VolumeMM3 float64
	// Spiculated reports spicules (spiculated nodules, spiculated masses).
	Spiculated bool
	// Location is where the lesion lies.
	Location Location
}

// MalignancyOf returns the LIDC-style malignancy rating (1..5) and the
// malignant label for a lesion of the given kind and nominal diameter
// (mm). It is MalignancyOfSolid with the solid component a part-solid
// lesion would typically have, half its diameter; use MalignancyOfSolid
// when the solid diameter is known.
func MalignancyOf(k Kind, diameterMM float64) (rating int, malignant bool) {
	solid := diameterMM
	switch k {
	case PartSolid:
		solid = diameterMM / 2
	case GroundGlass:
		solid = 0
	}
	return MalignancyOfSolid(k, diameterMM, solid)
}

// MalignancyOfSolid returns the LIDC-style malignancy rating (1..5) and the
// malignant label (rating ≥ 4) for a lesion of the given kind, nominal
// diameter and solid-component diameter (mm). The rule:
//
//   - calcified: 1, benign, whatever the size;
//   - smooth (round, juxtapleural, juxtavascular): < 4 mm → 1, < 8 mm → 2, < 15 mm → 3,
//     < 22 mm → 4, else 5;
//   - lobulated: < 8 mm → 3, < 15 mm → 4, else 5;
//   - spiculated: < 8 mm → 3, else 5;
//   - ground glass (non-solid): < 6 mm → 2, else 3. Pure ground-glass
//     nodules are mostly atypical adenomatous hyperplasia, adenocarcinoma in
//     situ or minimally invasive adenocarcinoma: often neoplastic but
//     indolent (near-100 % disease-specific survival after resection), so
//     Lung-RADS v2022 keeps them at category 2 below 30 mm and Fleischner
//     (2017) only follows those ≥ 6 mm; "indeterminate" (3), not
//     malignant, is the label a classifier should learn;
//   - part-solid: diameter < 6 mm → 2; solid component < 6 mm → 3, 6 to
//     < 8 mm → 4, ≥ 8 mm → 5. The solid component's size is what predicts
//     invasive adenocarcinoma (Lung-RADS v2022: part-solid ≥ 6 mm with a
//     solid component of 6–8 mm is 4A, ≥ 8 mm 4B);
//   - mass (> 30 mm): 5. Most solitary lung masses are lung cancer
//     (Lung-RADS 4B for solid lesions ≥ 15 mm).
func MalignancyOfSolid(k Kind, diameterMM, solidMM float64) (rating int, malignant bool) {
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
	case GroundGlass:
		if d < 6 {
			rating = 2
		} else {
			rating = 3
		}
	case PartSolid:
		switch {
		case d < 6:
			rating = 2
		case solidMM < 6:
			rating = 3
		case solidMM < 8:
			rating = 4
		default:
			rating = 5
		}
	case Mass:
		rating = 5
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
