// Package warn is the one type for the non-fatal findings a reader or stage
// records in a scan's provenance (skipped files, slice gaps, gantry tilt,
// substituted values, ...). A caller that treats some findings differently
// (folds the routine ones in a log, fails on others) switches on Code, never
// on the message text.
package warn

import (
	"encoding/json"
	"fmt"
	"slices"
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
	// OtherSeries: the input holds image series besides the one loaded
	// (another reconstruction, a localizer series, another study); one
	// warning per series, naming it, its modality, orientation and slices.
	OtherSeries Code = "other_series"
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
	// Saturated: voxels beyond the int16 range (−32768…32767 HU) after
	// rescale were clamped to it (at most 1 % of the volume; more is
	// refused); the message gives the count.
	Saturated Code = "saturated"
)

// Warning is one non-fatal finding: what kind (Code), which file it concerns
// ("" when it is about the whole scan) and a sentence for people.
type Warning struct {
	Code    Code   `json:"code"`
	File    string `json:"file,omitempty"`
	Message string `json:"message"`
	// Count is the number of findings a warning Fold made stands for (0
	// for one).
	Count int `json:"count,omitempty"`
}

// N is the number of findings w stands for: Count, or 1.
func (w Warning) N() int { return max(w.Count, 1) }

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

// FoldAfter is the most warnings of one code Fold leaves apart; FoldNames
// is how many more files a folded warning names after its first.
const (
	FoldAfter = 8
	FoldNames = 3
)

// Fold returns ws with the warnings of each code that occurs more than
// FoldAfter times (a folder of 100,000 files that are not DICOM) replaced
// (warnings without a code are left as they are),
// where the first of them stood, by one warning: the first's code, file
// and message, Count the number of findings, and the message going on with
// how many there are and the next FoldNames files. The other warnings keep
// their order. What a scan records thus stays a few KiB, whatever the
// input. ws itself is returned when nothing folds.
func Fold(ws []Warning) []Warning {
	entries := map[Code]int{}
	fold := false
	for _, w := range ws {
		if w.Code == "" {
			continue // uncoded warnings are each their own finding
		}
		if entries[w.Code]++; entries[w.Code] > FoldAfter {
			fold = true
		}
	}
	if !fold {
		return ws
	}
	type acc struct {
		at    int // index of the folded warning in out
		n     int
		names []string
	}
	folded := map[Code]*acc{}
	var out []Warning
	for _, w := range ws {
		if w.Code == "" || entries[w.Code] <= FoldAfter {
			out = append(out, w)
			continue
		}
		a := folded[w.Code]
		if a == nil {
			folded[w.Code] = &acc{at: len(out), n: w.N()}
			out = append(out, w)
			continue
		}
		a.n += w.N()
		if w.File != "" && w.File != out[a.at].File && len(a.names) < FoldNames && !slices.Contains(a.names, w.File) {
			a.names = append(a.names, w.File)
		}
	}
	for code, a := range folded {
		w := &out[a.at]
		w.Message += fmt.Sprintf(" (%d %s warnings in all", a.n, code)
		if len(a.names) > 0 {
			w.Message += "; the next: " + strings.Join(a.names, ", ")
		}
		w.Message += ")"
		w.Count = a.n
	}
	return out
}
