package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/lungctl/lungctl/internal/atomicfile"
)

// MarkupsSchema is the "@schema" WriteMarkups writes: the identifier 3D
// Slicer itself writes (Slicer accepts any markups-schema-v1.x.y.json).
const MarkupsSchema = "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#"

// markupsFile, markup, controlPoint and display are the subset of Slicer's
// markups JSON (schema v1.0.3) that WriteMarkups writes.
type markupsFile struct {
	Schema  string   `json:"@schema"`
	Markups []markup `json:"markups"`
}

type markup struct {
	Type                       string         `json:"type"`
	Name                       string         `json:"name"`
	CoordinateSystem           string         `json:"coordinateSystem"`
	CoordinateUnits            string         `json:"coordinateUnits"`
	Locked                     bool           `json:"locked"`
	FixedNumberOfControlPoints bool           `json:"fixedNumberOfControlPoints"`
	LabelFormat                string         `json:"labelFormat"`
	ControlPoints              []controlPoint `json:"controlPoints"`
	Measurements               []any          `json:"measurements"`
	Display                    display        `json:"display"`
}

type controlPoint struct {
	ID               string     `json:"id"`
	Label            string     `json:"label"`
	Description      string     `json:"description"`
	AssociatedNodeID string     `json:"associatedNodeID"`
	Position         [3]float64 `json:"position"`
	Orientation      [9]float64 `json:"orientation"`
	Selected         bool       `json:"selected"`
	Locked           bool       `json:"locked"`
	Visibility       bool       `json:"visibility"`
	PositionStatus   string     `json:"positionStatus"`
}

type display struct {
	Visibility            bool       `json:"visibility"`
	Opacity               float64    `json:"opacity"`
	Color                 [3]float64 `json:"color"`
	SelectedColor         [3]float64 `json:"selectedColor"`
	PointLabelsVisibility bool       `json:"pointLabelsVisibility"`
	TextScale             float64    `json:"textScale"`
	GlyphType             string     `json:"glyphType"`
	GlyphScale            float64    `json:"glyphScale"`
}

// lpsIdentity is the identity orientation (in RAS) written in LPS, as
// Slicer writes it for points in an LPS file.
var lpsIdentity = [9]float64{-1, 0, 0, 0, -1, 0, 0, 0, 1}

// WriteMarkups writes findings as a 3D Slicer markups point list
// ("Fiducial" markup, "coordinateSystem": "LPS", "coordinateUnits": "mm"):
// one control point per finding, in the given order, at CentreLPS (LPS world
// mm), labelled with the finding's label, its description the finding's
// Summary (measurements in mm and mm³, type, Lung-RADS, scores). The points
// are locked so a click does not move them. The file (conventionally
// <id>.mrk.json) is written atomically. Slicer loads it with File > Add
// Data; positions land on the same anatomy as the source DICOM series or
// lungctl's <id>.nii.gz, since both are placed in the same patient space.
func WriteMarkups(path string, findings []Finding) error {
	if _, err := checkFindings(findings); err != nil {
		return fmt.Errorf("export: %s: %w", path, err)
	}
	m := markup{
		Type:             "Fiducial",
		Name:             "lungctl findings",
		CoordinateSystem: "LPS",
		CoordinateUnits:  "mm",
		Locked:           true,
		LabelFormat:      "%N-%d",
		ControlPoints:    make([]controlPoint, 0, len(findings)),
		Measurements:     []any{},
		Display: display{Visibility: true, Opacity: 1, Color: [3]float64{1, 0.5, 0}, SelectedColor: [3]float64{1, 0.2, 0.1},
			PointLabelsVisibility: true, TextScale: 3, GlyphType: "Sphere3D", GlyphScale: 3},
	}
	for _, f := range findings {
		m.ControlPoints = append(m.ControlPoints, controlPoint{
			ID:             strconv.Itoa(f.Rank),
			Label:          f.label(),
			Description:    f.Summary(),
			Position:       f.CentreLPS,
			Orientation:    lpsIdentity,
			Selected:       true,
			Locked:         true,
			Visibility:     true,
			PositionStatus: "defined",
		})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(markupsFile{Schema: MarkupsSchema, Markups: []markup{m}}); err != nil {
		return fmt.Errorf("export: %s: %w", path, err)
	}
	if err := atomicfile.WriteBytes(path, buf.Bytes()); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}
