package volio

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/lungctl/lungctl/internal/atomicfile"
	"github.com/lungctl/lungctl/internal/volume"
	"github.com/lungctl/lungctl/internal/warn"
)

// ToolVersion is the version string WriteSidecar records when
// Sidecar.ToolVersion is empty; the build may set it with -ldflags -X.
var ToolVersion = "dev"

// Sidecar is the provenance record written next to each preprocessed volume
// as <id>.json. Geometry is LPS world mm (spacing and origin in mm,
// direction as columns, like volume.Grid).
type Sidecar struct {
	// Tool is the program that wrote the volume ("lungctl").
	Tool string `json:"tool"`
	// ToolVersion is the program's version (ToolVersion when left empty).
	ToolVersion string `json:"tool_version"`
	// Input is the path of the DICOM folder or file the volume came from.
	Input string `json:"input"`
	// Output is the path of the volume this sidecar describes.
	Output string `json:"output,omitempty"`
	// SeriesUID, StudyUID, PatientID, Modality, Manufacturer and
	// Description are copied from the DICOM series (empty when unknown).
	SeriesUID    string `json:"series_uid"`
	StudyUID     string `json:"study_uid,omitempty"`
	PatientID    string `json:"patient_id,omitempty"`
	Modality     string `json:"modality,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Description  string `json:"description,omitempty"`
	// Original* describe the acquisition grid before resampling: voxel
	// counts, spacing (mm), origin (LPS mm) and direction columns.
	OriginalDims      [3]int        `json:"original_dims"`
	OriginalSpacing   volume.Vec3   `json:"original_spacing_mm"`
	OriginalOrigin    volume.Vec3   `json:"original_origin_lps_mm"`
	OriginalDirection [3][3]float64 `json:"original_direction"`
	// AcquisitionSpacing (mm, the scanner grid's column, row, slice order)
	// and AcquisitionSliceThicknessMM (the DICOM SliceThickness, 0 when
	// unknown) describe the scan as the scanner made it: the Original*
	// grid for a scan read from its source, and carried unchanged when a
	// preprocess output is preprocessed again (whose Original* grid is then
	// the 1 mm one). They set the blur small lesions are corrected for.
	AcquisitionSpacing          volume.Vec3 `json:"acquisition_spacing_mm,omitempty"`
	AcquisitionSliceThicknessMM float64     `json:"acquisition_slice_thickness_mm,omitempty"`
	// Output* describe the written volume's grid.
	OutputDims      [3]int        `json:"output_dims"`
	OutputSpacing   volume.Vec3   `json:"output_spacing_mm"`
	OutputOrigin    volume.Vec3   `json:"output_origin_lps_mm"`
	OutputDirection [3][3]float64 `json:"output_direction"`
	// Warnings lists every geometry or decoding warning raised on the way,
	// each with a stable code (internal/warn). Sidecars written before
	// warnings had codes (plain strings) read as warnings without a code.
	Warnings []warn.Warning `json:"warnings"`
	// Time is when the volume was written (RFC 3339, UTC; set by
	// WriteSidecar when zero).
	Time time.Time `json:"time"`
	// Extra holds stage-specific key/value notes (timings, options).
	Extra map[string]string `json:"extra,omitempty"`
}

// SetOriginal fills the Original* fields from grid g.
func (s *Sidecar) SetOriginal(g volume.Grid) {
	s.OriginalDims, s.OriginalSpacing, s.OriginalOrigin, s.OriginalDirection = g.Dims, g.Spacing, g.Origin, g.Direction
}

// SetOutput fills the Output* fields from grid g.
func (s *Sidecar) SetOutput(g volume.Grid) {
	s.OutputDims, s.OutputSpacing, s.OutputOrigin, s.OutputDirection = g.Dims, g.Spacing, g.Origin, g.Direction
}

// WriteSidecar writes s as indented JSON to path atomically, filling
// ToolVersion and Time (now, UTC, whole seconds) when they are empty.
func WriteSidecar(path string, s Sidecar) error {
	if s.ToolVersion == "" {
		s.ToolVersion = ToolVersion
	}
	if s.Time.IsZero() {
		s.Time = time.Now().UTC().Truncate(time.Second)
	}
	if s.Warnings == nil {
		s.Warnings = []warn.Warning{}
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("volio: %s: %w", path, err)
	}
	b = append(b, '\n')
	if err := atomicfile.WriteBytes(path, b); err != nil {
		return fmt.Errorf("volio: %w", err)
	}
	return nil
}

// ReadSidecar reads a sidecar JSON written by WriteSidecar.
func ReadSidecar(path string) (Sidecar, error) {
	var s Sidecar
	b, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("volio: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("volio: %s: %w: %w", path, ErrFormat, err)
	}
	return s, nil
}
