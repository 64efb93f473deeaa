package volio

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lungctl/lungctl/internal/atomicfile"
	"github.com/lungctl/lungctl/internal/jsonstrict"
	"github.com/lungctl/lungctl/internal/safefile"
	"github.com/lungctl/lungctl/internal/textsafe"
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
	// ConvolutionKernel is the DICOM ConvolutionKernel (0018,1210), the
	// vendor's name of the reconstruction kernel (values joined by a
	// backslash), carried like the acquisition spacing; empty when unknown.
	ConvolutionKernel string `json:"convolution_kernel,omitempty"`
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
// ToolVersion and Time (now, UTC, whole seconds) when they are empty and
// folding many warnings of one kind into one (warn.Fold). It refuses
// (ErrFormat, naming path) a sidecar over MaxSidecarBytes, which
// ReadSidecar would not read back.
func WriteSidecar(path string, s Sidecar) error {
	if s.ToolVersion == "" {
		s.ToolVersion = ToolVersion
	}
	if s.Time.IsZero() {
		s.Time = time.Now().UTC().Truncate(time.Second)
	}
	s.Warnings = warn.Fold(s.Warnings)
	if s.Warnings == nil {
		s.Warnings = []warn.Warning{}
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("volio: %s: %w", path, err)
	}
	b = append(b, '\n')
	if len(b) > MaxSidecarBytes {
		return fmt.Errorf("volio: %s: %w: a sidecar of %d bytes, more than ReadSidecar reads (MaxSidecarBytes %d)", path, ErrFormat, len(b), MaxSidecarBytes)
	}
	if err := atomicfile.WriteBytes(path, b); err != nil {
		return fmt.Errorf("volio: %w", err)
	}
	return nil
}

// MaxSidecarBytes bounds the size of a sidecar JSON file ReadSidecar reads,
// in bytes. lungctl writes a few KiB, plus about 300 bytes per warning, of
// which it keeps at most warn.FoldAfter of one kind (the files of a DICOM
// folder that are not DICOM fold into one, warn.Fold); WriteSidecar folds
// them too and refuses to write more. A larger file is refused from its
// size, before it is read, so that a hostile one cannot make lungctl hold
// (and copy into its outputs) hundreds of megabytes.
const MaxSidecarBytes = 4 << 20

// MaxUIDLen is the longest DICOM UID, in characters (PS3.5 §9.1).
const MaxUIDLen = 64

// ReadSidecar reads a sidecar JSON written by WriteSidecar: a regular file of
// at most MaxSidecarBytes. A missing file gives an error wrapping
// fs.ErrNotExist; a file too large or not a sidecar one wrapping ErrFormat.
// Errors name the file. Its values are as the file says: LoadSidecar also
// checks the UIDs, for callers that copy them into outputs.
func ReadSidecar(path string) (Sidecar, error) {
	var s Sidecar
	f, err := safefile.Open(path)
	if err != nil {
		return s, fmt.Errorf("volio: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return s, fmt.Errorf("volio: %w", err)
	}
	tooBig := fmt.Errorf("volio: %s: %w: a sidecar larger than %d bytes (MaxSidecarBytes)", path, ErrFormat, MaxSidecarBytes)
	if st.Size() > MaxSidecarBytes {
		return s, tooBig
	}
	// Through a limit too: the file may grow after the Stat.
	b, err := io.ReadAll(io.LimitReader(f, MaxSidecarBytes+1))
	if err != nil {
		return s, fmt.Errorf("volio: %s: %w", path, err)
	}
	if len(b) > MaxSidecarBytes {
		return s, tooBig
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("volio: %s: %w: %w", path, ErrFormat, err)
	}
	if err := jsonstrict.UniqueKeys(b); err != nil {
		return s, fmt.Errorf("volio: %s: %w: %w", path, ErrFormat, err)
	}
	return s, nil
}

// IsUID reports whether s is a DICOM UID as PS3.5 §9.1 allows: 1 to
// MaxUIDLen characters, each a digit or a dot.
func IsUID(s string) bool {
	if s == "" || len(s) > MaxUIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return true
}

// LoadSidecar reads the sidecar at path of a volume whose scan id is id, for
// a caller that can do without it (it then goes on with what the volume file
// says, its series uid being id). ok reports a sidecar to use.
//
//   - No file at path: ok is false and there is no warning (most volumes
//     have no sidecar).
//   - A file ReadSidecar refuses (over MaxSidecarBytes, not JSON, a folder,
//     ...): ok is false, with a warning naming path and the reason.
//   - A StudyUID that is not a DICOM UID (IsUID) is left out, and a
//     non-empty SeriesUID that is neither a DICOM UID nor id (the series uid
//     lungctl records for a volume that did not come from DICOM is its scan
//     id) is replaced by id, each with a warning naming path and the field,
//     so that no such value reaches an output; ok stays true.
//   - A patient_id, modality, manufacturer or description over
//     MaxTextRunes characters is cut, and one with control or format
//     characters escaped (checkText), each with a warning; ok stays true.
//
// The warnings have code warn.Assumed and quote at most 32 bytes of a bad
// value.
func LoadSidecar(path, id string) (s Sidecar, ok bool, warns []warn.Warning) {
	s, err := ReadSidecar(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Sidecar{}, false, nil
	}
	if err != nil {
		return Sidecar{}, false, []warn.Warning{warn.New(warn.Assumed, path,
			fmt.Sprintf("sidecar not used, the series uid is the file's id %q: %v", id, err))}
	}
	if s.StudyUID != "" && !IsUID(s.StudyUID) {
		warns = append(warns, warn.New(warn.Assumed, path,
			fmt.Sprintf("%s: study_uid %s is not a DICOM UID (1 to %d digits and dots): left out", path, clip(s.StudyUID), MaxUIDLen)))
		s.StudyUID = ""
	}
	if s.SeriesUID != "" && s.SeriesUID != id && !IsUID(s.SeriesUID) {
		warns = append(warns, warn.New(warn.Assumed, path,
			fmt.Sprintf("%s: series_uid %s is not a DICOM UID (1 to %d digits and dots): the file's id %q is used", path, clip(s.SeriesUID), MaxUIDLen, id)))
		s.SeriesUID = id
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"patient_id", &s.PatientID}, {"modality", &s.Modality}, {"manufacturer", &s.Manufacturer}, {"description", &s.Description}} {
		if w, ok := checkText(path, f.name, f.v); !ok {
			warns = append(warns, w)
		}
	}
	return s, true, warns
}

// MaxTextRunes is the most characters of a text field (patient_id,
// modality, manufacturer, description) LoadSidecar keeps: four times
// DICOM's LO (64 characters), for headers that do not keep to it. The
// escapes checkText adds come on top (at most six bytes a character).
const MaxTextRunes = 256

// checkText cuts the text field name (*v) of the sidecar at path to
// MaxTextRunes characters and escapes what a terminal or a log line would
// act on (control and format characters, see textsafe; the JSON decoder
// has already replaced invalid UTF-8), reporting either with a warning; ok
// is true when *v was left as it was.
func checkText(path, name string, v *string) (w warn.Warning, ok bool) {
	var why []string
	if utf8.RuneCountInString(*v) > MaxTextRunes {
		r := []rune(*v)
		*v = string(r[:MaxTextRunes])
		why = append(why, fmt.Sprintf("cut to %d characters", MaxTextRunes))
	}
	if !textsafe.Clean(*v) {
		*v = textsafe.Escape(*v)
		why = append(why, "control or format characters escaped")
	}
	if why == nil {
		return warn.Warning{}, true
	}
	return warn.New(warn.Assumed, path, fmt.Sprintf("%s: %s %s", path, name, strings.Join(why, ", "))), false
}

// clip quotes s for a message, cut to 32 bytes and with its length when
// longer.
func clip(s string) string {
	if len(s) <= 32 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:32], len(s))
}
