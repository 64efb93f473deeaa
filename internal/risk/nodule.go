package risk

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNodule reports nodule measurements or a nodule type that cannot be
// scored: a NaN, infinite, zero or negative size, a solid component larger
// than the nodule, an unknown type.
var ErrNodule = errors.New("invalid nodule")

// NoduleType is a nodule's attenuation class as Brock and Lung-RADS use it.
// The zero value is TypeUnknown, which both reject.
type NoduleType int8

// Nodule types.
const (
	TypeUnknown NoduleType = iota
	// Solid: soft-tissue attenuation throughout.
	Solid
	// PartSolid: ground glass with a solid component (Lung-RADS measures
	// both the whole nodule and the solid component).
	PartSolid
	// NonSolid: pure ground glass (GGN/GGO).
	NonSolid
	// Calcified: a benign calcification pattern (complete, central, popcorn,
	// concentric rings) or fat; Lung-RADS category 1. The PanCan model was
	// not fitted on these, so Brock refuses them (ErrCalcified).
	Calcified
	// Juxtapleural: a solid nodule attached to the pleura or a fissure
	// (perifissural) with smooth margins and an oval, lentiform or
	// triangular shape — the Lung-RADS v2022 benign-morphology description.
	// A juxtapleural nodule without those features is Solid.
	Juxtapleural
)

var typeNames = [...]string{
	TypeUnknown:  "unknown",
	Solid:        "solid",
	PartSolid:    "part-solid",
	NonSolid:     "non-solid",
	Calcified:    "calcified",
	Juxtapleural: "juxtapleural",
}

// String returns the canonical name ParseNoduleType accepts.
func (t NoduleType) String() string {
	if t >= 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("NoduleType(%d)", int8(t))
}

// ParseNoduleType reads a nodule type name, ignoring case, spaces, '-' and
// '_': solid; part-solid (also "partsolid", "mixed"); non-solid
// (also "nonsolid", "ggn", "ggo", "ground-glass"); calcified (also
// "benign"); juxtapleural (also "perifissural"). Anything else is ErrNodule.
func ParseNoduleType(s string) (NoduleType, error) {
	k := strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.ToLower(strings.TrimSpace(s)))
	switch k {
	case "solid":
		return Solid, nil
	case "partsolid", "mixed":
		return PartSolid, nil
	case "nonsolid", "ggn", "ggo", "groundglass":
		return NonSolid, nil
	case "calcified", "benign":
		return Calcified, nil
	case "juxtapleural", "perifissural":
		return Juxtapleural, nil
	}
	return TypeUnknown, fmt.Errorf("%w: type %q: want solid, part-solid, non-solid, calcified or juxtapleural", ErrNodule, s)
}
