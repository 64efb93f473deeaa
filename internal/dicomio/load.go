// Package dicomio finds, groups, sorts and decodes DICOM CT series into a
// Hounsfield-unit volume placed in LPS world millimetres.
//
// Policies (also in the README):
//   - Input is a folder (files found recursively, any name, with or without
//     .dcm; symbolic links to files and folders are followed, loops
//     detected; FIFOs, devices and sockets are skipped unopened), a .zip of
//     such files (see readZip for its limits) or a single file. Files that
//     are not DICOM are skipped and listed in Warnings.
//   - Every size a file announces (pixels, frames, inflated data, the
//     series' volume) is checked against internal/membudget before it is
//     allocated; sequences nested deeper than MaxSequenceDepth are refused.
//   - Slices are sorted by ImagePositionPatient projected on the slice
//     normal (row × column of ImageOrientationPatient), never by file name
//     or InstanceNumber.
//   - Files of one SeriesInstanceUID that belong to different patients or
//     studies are refused (ErrMixedSeries), never interleaved.
//   - Duplicate positions (closer than 0.01 mm along the normal): when the
//     pixel data are byte-identical one copy is kept and a warning added;
//     when they differ the load fails with ErrDuplicateSlice naming both
//     files (two acquisitions mixed in one series cannot be told apart).
//   - Missing slices (a gap over 1.5× the median step) and uneven spacing
//     (steps differing by more than 0.01 mm) are warnings; Positions keep
//     the true slice positions for the resampler.
//   - Gantry tilt: positions offset off the normal are kept as they are;
//     Grid.Direction column 2 is the unit vector from the first to the last
//     position (not orthogonal to the slice plane) and a warning names the
//     tilt in degrees.
//   - Localizers (ImageType LOCALIZER) and slices whose plane differs by more
//     than 10° from the majority are dropped with a warning; smaller
//     differences in orientation, pixel spacing or matrix size are
//     ErrInconsistentGeometry. An orientation, position or pixel spacing
//     that is present but unusable (NaN, non-orthogonal, not positive) is
//     ErrInconsistentGeometry naming the attribute and its value.
//   - HU follow hounsfield.ToHU per slice (step 1 of that package's rule):
//     padding voxels hold hounsfield.PaddingHU and values below −1100 HU
//     are kept until hounsfield.Normalize (step 2), which the preprocess
//     path applies to every input kind. A RescaleSlope of 0, NaN or ±Inf or
//     a NaN intercept is refused (hounsfield.ErrBadRescale).
package dicomio

import (
	"errors"
	"fmt"
	"sort"

	"github.com/lungctl/lungctl/internal/volume"
	"github.com/lungctl/lungctl/internal/warn"
)

// Sentinel errors a caller may act on; every returned error wraps one of
// them (or an I/O error, membudget.ErrTooBig or hounsfield.ErrBadRescale)
// and names the file.
var (
	// ErrNotDICOM marks a file that is not DICOM (skipped during a folder load).
	ErrNotDICOM = errors.New("not a DICOM file")
	// ErrNoCTSeries means no loadable CT image series was found.
	ErrNoCTSeries = errors.New("no CT image series found")
	// ErrSeriesNotFound means Options.SeriesUID matched no series.
	ErrSeriesNotFound = errors.New("series not found")
	// ErrUnsupportedTransferSyntax names a transfer syntax whose pixel data
	// this package does not decode (JPEG baseline/extended, JPEG 2000, ...);
	// the message says how to decompress the files first.
	ErrUnsupportedTransferSyntax = errors.New("unsupported transfer syntax")
	// ErrUnsupportedPixelFormat is a pixel module this package does not
	// decode (colour, 1-bit, ...).
	ErrUnsupportedPixelFormat = errors.New("unsupported pixel format")
	// ErrCorrupt marks a malformed or truncated file, or one whose claims
	// (frames, sizes, nesting) its bytes cannot hold.
	ErrCorrupt = errors.New("corrupt DICOM file")
	// ErrInconsistentGeometry means the slices of a series disagree on
	// orientation, pixel spacing or matrix size, lack positions, or carry
	// an unusable orientation, position or spacing.
	ErrInconsistentGeometry = errors.New("inconsistent series geometry")
	// ErrDuplicateSlice means two slices share a position but differ in pixels.
	ErrDuplicateSlice = errors.New("duplicate slice position with different pixel data")
	// ErrMixedSeries means one SeriesInstanceUID holds files of different
	// patients or studies (a UID collision or a mis-sorted export).
	ErrMixedSeries = errors.New("one series UID holds files of different patients or studies")
)

// SeriesInfo describes one image series found in a folder.
type SeriesInfo struct {
	UID          string // SeriesInstanceUID
	PatientID    string
	StudyUID     string // StudyInstanceUID
	Modality     string // e.g. CT
	Description  string // SeriesDescription
	Manufacturer string
	// PatientAge (0010,1010) and PatientSex (0010,0040) as the first file
	// of the series records them (DICOM AS, e.g. "062Y", and CS "M", "F",
	// "O"); empty when absent. Parse them with risk.ParsePatientAge and
	// risk.ParsePatientSex.
	PatientAge, PatientSex string
	// NumSlices is the number of image slices (frames) that would be
	// stacked: localizers and off-plane images excluded.
	NumSlices int
	// Rows, Cols are the in-plane matrix size in pixels.
	Rows, Cols int
	// Orientation is "axial", "coronal", "sagittal" or "oblique" (from the
	// slice normal), "" when the images carry no orientation.
	Orientation string
	// TransferSyntax is the transfer syntax UID of the first file.
	TransferSyntax string
	// SliceThickness (0018,0050) in mm as the first file records it, 0
	// when absent: the width of each slice's profile, which may exceed the
	// spacing between slices (overlapping reconstruction).
	SliceThickness float64
	// ConvolutionKernel (0018,1210) as the first file records it, its
	// values joined by a backslash (e.g. "STANDARD", "B70f", "LUNG"); empty
	// when absent. The names are the vendor's own: a provenance note, not
	// a measurement (internal/psf reads the kernel's blur from the scan).
	ConvolutionKernel string
	// Files lists the series' files (all of them, localizers included), sorted by path.
	Files []string
}

// Options selects what Load loads.
type Options struct {
	// SeriesUID picks a series by SeriesInstanceUID (any modality); "" picks
	// the axial CT series with the most slices (any CT series when none is
	// axial).
	SeriesUID string
	// AllowNonCT lets Load pick and decode non-CT image series (values are
	// then modality-rescaled values, not HU). Off by default; the CLI does
	// not offer it (--series UID loads a named series of any modality).
	AllowNonCT bool
	// Reuse, when non-nil and its Data has capacity for the series, receives
	// the HU voxels (its Grid is overwritten) and is returned as Scan.HU, so
	// batch loads need not touch fresh memory for every scan.
	Reuse *volume.Volume[int16]
}

// Scan is a loaded series.
type Scan struct {
	// HU is the slice stack in HU (hounsfield.ToHU: padding holds
	// hounsfield.PaddingHU until hounsfield.Normalize), slices in ascending
	// position along the slice normal. Grid.Direction column 0 = IOP row
	// direction, column 1 = IOP column direction, column 2 = unit vector
	// from the first to the last slice position (not orthogonal under
	// gantry tilt); Spacing[0] = column spacing, Spacing[1] = row spacing
	// (mm), Spacing[2] = mean slice step (mm); Origin = Positions[0].
	HU *volume.Volume[int16]
	// Positions[k] is slice k's ImagePositionPatient in LPS mm.
	Positions []volume.Vec3
	// Info describes the loaded series.
	Info SeriesInfo
	// Warnings lists what was odd but not fatal (skipped files, gaps, tilt,
	// ...), each with a code.
	Warnings []warn.Warning
}

// ScanDir lists the image series under path (a folder, recursively, a .zip
// or one file; headers only), largest first. Files that are not DICOM or
// cannot be parsed are ignored. (The agreed name Scan is taken by the Scan
// type, hence ScanDir.)
func ScanDir(path string) ([]SeriesInfo, error) {
	in, _, release, err := inputs(path)
	if err != nil {
		return nil, err
	}
	defer release()
	hs, errs := parseAll(in)
	m, _, _, _ := group(in, hs, errs)
	out := make([]SeriesInfo, 0, len(m))
	for _, s := range m {
		out = append(out, s.info)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].NumSlices != out[j].NumSlices {
			return out[i].NumSlices > out[j].NumSlices
		}
		return out[i].UID < out[j].UID
	})
	return out, nil
}

// Load reads the series under path (a folder, recursively; a .zip of DICOM
// files; or a single file) chosen by opt and returns its HU volume; see the
// package comment for the policies.
func Load(path string, opt Options) (*Scan, error) {
	in, warns, release, err := inputs(path)
	if err != nil {
		return nil, err
	}
	defer release()
	if len(in) == 0 {
		return nil, fmt.Errorf("dicomio: %s: %w: no files (%d skipped)", path, ErrNoCTSeries, len(warns))
	}
	return load(path, in, warns, opt)
}

// LoadFiles is Load over an explicit list of files (a single file is a
// one-slice series).
func LoadFiles(files []string, opt Options) (*Scan, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("dicomio: %w: no files given", ErrNoCTSeries)
	}
	in := make([]inputFile, len(files))
	for i, f := range files {
		in[i] = inputFile{path: f}
	}
	return load(files[0], in, nil, opt)
}

func load(where string, in []inputFile, warns []warn.Warning, opt Options) (*Scan, error) {
	hs, errs := parseAll(in)
	m, skipped, bad, notDICOM := group(in, hs, errs)
	s, err := choose(where, m, bad, notDICOM, opt)
	if err != nil {
		return nil, err
	}
	sc, err := s.assemble(where, opt.Reuse)
	if err != nil {
		return nil, err
	}
	all := append(warns, skipped...)
	sc.Warnings = append(all, sc.Warnings...)
	for _, e := range bad {
		sc.Warnings = append(sc.Warnings, warn.New(warn.Unreadable, fileOf(e), "unreadable file ignored: "+e.Error()))
	}
	if opt.SeriesUID == "" {
		sc.Warnings = append(sc.Warnings, otherSeries(m, s)...)
	}
	// One warning per skipped file would make the provenance grow with the
	// folder (13.9 MB for 100,000 files, more than its readers take).
	sc.Warnings = warn.Fold(sc.Warnings)
	return sc, nil
}

// otherSeries names each image series of m but the chosen one, largest
// first (then by UID), so that a folder holding two reconstructions, or a
// CT and a radiograph, says which was not loaded and how to load it.
func otherSeries(m map[string]*series, chosen *series) []warn.Warning {
	var others []*series
	for _, o := range m {
		if o != chosen {
			others = append(others, o)
		}
	}
	sort.Slice(others, func(i, j int) bool {
		if a, b := others[i].info.NumSlices, others[j].info.NumSlices; a != b {
			return a > b
		}
		return others[i].info.UID < others[j].info.UID
	})
	ws := make([]warn.Warning, 0, len(others))
	for _, o := range others {
		kind := o.info.Modality
		if kind == "" {
			kind = "modality unknown"
		}
		if o.info.Orientation != "" {
			kind += " " + o.info.Orientation
		}
		file := ""
		if len(o.info.Files) > 0 {
			file = o.info.Files[0]
		}
		// The kernel tells a standard from a lung-kernel reconstruction
		// of the same slices.
		if o.info.ConvolutionKernel != "" {
			kind += ", kernel " + o.info.ConvolutionKernel
		}
		chosenKernel := ""
		if chosen.info.ConvolutionKernel != "" {
			chosenKernel = ", kernel " + chosen.info.ConvolutionKernel
		}
		why := "the axial CT series with the most slices"
		if chosen.info.Orientation != "axial" {
			why = "no series being axial, the CT series with the most slices"
		}
		ws = append(ws, warn.New(warn.OtherSeries, file, fmt.Sprintf(
			"series %s (%s, %d slices) not loaded: the %s series %s (%d slices%s) was, %s; --series %s loads this one",
			o.info.UID, kind, o.info.NumSlices, chosen.info.Modality, chosen.info.UID, chosen.info.NumSlices, chosenKernel, why, o.info.UID)))
	}
	return ws
}

// fileErr remembers which file an error is about.
type fileErr struct {
	file string
	err  error
}

func (e *fileErr) Error() string { return e.err.Error() }
func (e *fileErr) Unwrap() error { return e.err }

func fileOf(err error) string {
	var fe *fileErr
	if errors.As(err, &fe) {
		return fe.file
	}
	return ""
}

// series is the files of one SeriesInstanceUID after parsing.
type series struct {
	info    SeriesInfo
	headers []*header
}

// group collects parsed headers by series. Files that failed to parse are
// returned in skipped (as warnings) when not DICOM, in bad otherwise.
func group(in []inputFile, hs []*header, errs []error) (m map[string]*series, skipped []warn.Warning, bad, notDICOM []error) {
	m = map[string]*series{}
	for i, h := range hs {
		if errs[i] != nil {
			if errors.Is(errs[i], ErrNotDICOM) {
				skipped = append(skipped, warn.New(warn.SkippedNotDICOM, in[i].path, "skipped non-DICOM file "+in[i].path))
				notDICOM = append(notDICOM, errs[i])
			} else {
				bad = append(bad, &fileErr{in[i].path, errs[i]})
			}
			continue
		}
		if !h.hasPixelData || h.rows == 0 {
			skipped = append(skipped, warn.New(warn.SkippedNoPixels, h.path, fmt.Sprintf("skipped %s: DICOM without image pixel data", h.path)))
			notDICOM = append(notDICOM, fmt.Errorf("dicomio: %s: DICOM without image pixel data (%s)", h.path, h.sopClass))
			continue
		}
		s := m[h.seriesUID]
		if s == nil {
			s = &series{info: SeriesInfo{UID: h.seriesUID, PatientID: h.patientID, StudyUID: h.studyUID,
				Modality: h.modality, Description: h.description, Manufacturer: h.manufacturer,
				PatientAge: h.patientAge, PatientSex: h.patientSex, Rows: h.rows, Cols: h.cols, TransferSyntax: h.tsUID,
				SliceThickness: h.sliceThickness, ConvolutionKernel: h.convKernel}}
			m[h.seriesUID] = s
		}
		s.headers = append(s.headers, h)
		s.info.Files = append(s.info.Files, h.path)
	}
	for _, s := range m {
		sl, _ := s.stackable()
		s.info.NumSlices = len(sl)
		if len(sl) > 0 {
			s.info.Orientation = orientationName(sl[0].normal)
		}
	}
	return m, skipped, bad, notDICOM
}

// choose picks the series to load.
func choose(where string, m map[string]*series, bad, notDICOM []error, opt Options) (*series, error) {
	if opt.SeriesUID != "" {
		if s := m[opt.SeriesUID]; s != nil {
			return s, nil
		}
		return nil, fmt.Errorf("dicomio: %s: %w: %s", where, ErrSeriesNotFound, opt.SeriesUID)
	}
	var best *series
	score := func(s *series) int {
		n := s.info.NumSlices
		if s.info.Orientation == "axial" {
			n += 1 << 24 // axial-ish series first
		}
		return n
	}
	for _, s := range m {
		if s.info.Modality != "CT" && !opt.AllowNonCT || s.info.NumSlices == 0 {
			continue
		}
		if best == nil || score(s) > score(best) || score(s) == score(best) && s.info.UID < best.info.UID {
			best = s
		}
	}
	if best != nil {
		return best, nil
	}
	if len(bad) > 0 {
		// Nothing loadable, and some DICOM files failed: report the first.
		return nil, fmt.Errorf("%w (and %w)", bad[0], ErrNoCTSeries)
	}
	uids := make([]string, 0, len(m))
	for uid := range m {
		uids = append(uids, uid)
	}
	sort.Strings(uids)
	for _, uid := range uids {
		s := m[uid]
		if s.info.NumSlices == 0 {
			return nil, fmt.Errorf("dicomio: %s: %w: series %s has only localizers", s.info.Files[0], ErrNoCTSeries, s.info.UID)
		}
		if s.info.Modality != "CT" {
			return nil, fmt.Errorf("dicomio: %s: %w: series %s is %s, not CT; lungctl measures CT in Hounsfield units only (--series UID loads a named series anyway; `lungctl series %s` lists the series)",
				s.info.Files[0], ErrNoCTSeries, s.info.UID, orUnknown(s.info.Modality), where)
		}
	}
	if len(notDICOM) > 0 {
		return nil, fmt.Errorf("dicomio: %s: %w: %w", where, ErrNoCTSeries, notDICOM[0])
	}
	return nil, fmt.Errorf("dicomio: %s: %w", where, ErrNoCTSeries)
}

func orUnknown(modality string) string {
	if modality == "" {
		return "of unknown modality"
	}
	return modality
}
