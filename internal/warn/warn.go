// Package warn is the one type for the non-fatal findings a reader or stage
// records in a scan's provenance (skipped files, slice gaps, gantry tilt,
// substituted values, ...). A caller that treats some findings differently
// (folds the routine ones in a log, fails on others) switches on Code, never
// on the message text.
package warn

import (
	"encoding/json"
	"strings"
)

// Code names a kind of warning. Codes are stable identifiers: they appear in
// the provenance JSON and callers compare them.
type Code string

// The codes lungctl's readers emit.
const (
	// SkippedNotDICOM: a file under a DICOM folder is not DICOM (notes,
	// CSV, XML beside the images) and was skipped.
	SkippedNotDICOM Code = "skipped_not_dicom"
	// SkippedNoPixels: a DICOM file without image pixel data (report,
	// structured report, presentation state) was skipped.
	SkippedNoPixels Code = "skipped_no_pixels"
	// SkippedNotRegular: a FIFO, device or socket under a DICOM folder was
	// skipped without being opened.
	SkippedNotRegular Code = "skipped_not_regular"
	// SkippedLink: a symbolic link that is broken or loops back to a folder
	// already walked was skipped.
	SkippedLink Code = "skipped_link"
	// Unreadable: a DICOM file of the folder could not be parsed and was
	// ignored (another series was loaded).
	Unreadable Code = "unreadable"
	// DroppedLocalizer: a localizer (scout) image was left out.
	DroppedLocalizer Code = "dropped_localizer"
	// DroppedOffPlane: an image whose orientation differs from the series'
	// majority was left out.
	DroppedOffPlane Code = "dropped_off_plane"
	// DuplicateSlice: two identical slices at one position; one was kept.
	DuplicateSlice Code = "duplicate_slice"
	// SliceGap: a gap over 1.5× the median slice step (missing slices?).
	SliceGap Code = "slice_gap"
	// UnevenSpacing: slice steps differ; the true positions are used.
	UnevenSpacing Code = "uneven_spacing"
	// GantryTilt: slice positions run off the slice normal; resampling
	// corrects the shear.
	GantryTilt Code = "gantry_tilt"
	// Assumed: a missing attribute was replaced by a documented default
	// (no PixelSpacing → 1 mm, no rescale → slope 1 intercept 0, ...).
	Assumed Code = "assumed"
	// ZipEntrySkipped: an entry of a .zip input was not read (a folder, a
	// nested archive, ...).
	ZipEntrySkipped Code = "zip_entry_skipped"
	// Padding: voxels below −1100 HU or equal to the padding value were set
	// to air (−1000 HU); the message gives the count.
	Padding Code = "padding"
)

// Warning is one non-fatal finding: what kind (Code), which file it concerns
// ("" when it is about the whole scan) and a sentence for people.
type Warning struct {
	Code    Code   `json:"code"`
	File    string `json:"file,omitempty"`
	Message string `json:"message"`
}

// String is the message, prefixed with the file when the message does not
// already name it.
func (w Warning) String() string {
	if w.File != "" && !strings.Contains(w.Message, w.File) {
		return w.File + ": " + w.Message
	}
	return w.Message
}

// New returns a Warning.
func New(code Code, file, message string) Warning {
	return Warning{Code: code, File: file, Message: message}
}

// UnmarshalJSON also accepts a plain string (the provenance format before
// warnings had codes), read as a warning without a code.
func (w *Warning) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*w = Warning{Message: s}
		return nil
	}
	type plain Warning
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*w = Warning(p)
	return nil
}

// Strings returns each warning's String, for logs and records that keep
// plain text.
func Strings(ws []Warning) []string {
	if ws == nil {
		return nil
	}
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.String()
	}
	return out
}
