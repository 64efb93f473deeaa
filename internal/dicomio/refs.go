package dicomio

import (
	"fmt"
	"math"
	"sort"

	"github.com/lungctl/lungctl/internal/volume"
	"github.com/lungctl/lungctl/internal/warn"
)

// SourceSlice is one image of a source series as a derived object (a DICOM
// SEG or SR) references it.
type SourceSlice struct {
	// Path is the file the image is in.
	Path string
	// SOPClassUID and SOPInstanceUID identify the instance.
	SOPClassUID, SOPInstanceUID string
	// Frame is the 1-based frame number inside a multi-frame instance
	// (Enhanced CT), 0 for a single-frame instance.
	Frame int
	// Position is ImagePositionPatient: the LPS world position in mm of the
	// centre of the first transmitted pixel (row 0, column 0).
	Position volume.Vec3
}

// SeriesRefs is what a derived object needs to know about its source
// series: the identifiers that put it in the same study and frame of
// reference, the patient and study module attributes it copies, and the
// geometry and identity of every slice. Strings are as stored in the source
// (trailing padding removed); attributes absent from the source are "".
type SeriesRefs struct {
	StudyInstanceUID, SeriesInstanceUID, FrameOfReferenceUID string
	// Modality of the source series (e.g. CT).
	Modality string
	// Patient module.
	PatientName, PatientID, PatientBirthDate, PatientSex string
	// General Study module.
	StudyDate, StudyTime, StudyID, AccessionNumber, ReferringPhysicianName, StudyDescription string
	// PositionReferenceIndicator of the Frame of Reference module.
	PositionReferenceIndicator string
	// Rows and Columns are the image matrix size in pixels.
	Rows, Columns int
	// PixelSpacing is the source's PixelSpacing in mm: [0] is the distance
	// between rows (along the column direction), [1] between columns (along
	// the row direction).
	PixelSpacing [2]float64
	// Orientation is ImageOrientationPatient: the LPS unit direction of a
	// row (increasing column index) followed by that of a column
	// (increasing row index).
	Orientation [6]float64
	// SliceThickness in mm, 0 when the source does not record it.
	SliceThickness float64
	// Slices are the images of the series (localizers and off-plane images
	// excluded, as Load does), in ascending position along the slice normal
	// (row direction × column direction); one per position.
	Slices []SourceSlice
	// Warnings lists what was odd but not fatal (dropped images, duplicate
	// positions).
	Warnings []string
}

// ReadRefs reads the headers (never the pixel data) of the series under dir
// (recursively; dir may also be a single file) that Load would choose with
// opt, and returns its references. Errors wrap ErrNotDICOM, ErrNoCTSeries,
// ErrSeriesNotFound, ErrInconsistentGeometry or ErrCorrupt and name the file
// or folder.
func ReadRefs(dir string, opt Options) (*SeriesRefs, error) {
	in, warns, release, err := inputs(dir)
	if err != nil {
		return nil, err
	}
	defer release()
	if len(in) == 0 {
		return nil, fmt.Errorf("dicomio: %s: %w: folder has no files", dir, ErrNoCTSeries)
	}
	return readRefs(dir, in, warns, opt)
}

// ReadRefsFiles is ReadRefs over an explicit list of files.
func ReadRefsFiles(files []string, opt Options) (*SeriesRefs, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("dicomio: %w: no files given", ErrNoCTSeries)
	}
	in := make([]inputFile, len(files))
	for i, f := range files {
		in[i] = inputFile{path: f}
	}
	return readRefs(files[0], in, nil, opt)
}

func readRefs(where string, in []inputFile, listed []warn.Warning, opt Options) (*SeriesRefs, error) {
	hs, errs := parseAll(in)
	m, skipped, bad, notDICOM := group(in, hs, errs)
	s, err := choose(where, m, bad, notDICOM, opt)
	if err != nil {
		return nil, err
	}
	sl, warns := s.stackable()
	if len(sl) == 0 {
		return nil, fmt.Errorf("dicomio: series %s: %w: only localizers", s.info.UID, ErrNoCTSeries)
	}
	first := sl[0]
	for _, r := range sl {
		if r.h.rows != first.h.rows || r.h.cols != first.h.cols {
			return nil, fmt.Errorf("dicomio: %s: %w: %d×%d pixels, %s has %d×%d", r.h.path, ErrInconsistentGeometry, r.h.cols, r.h.rows, first.h.path, first.h.cols, first.h.rows)
		}
		if !r.g.hasIPP || !r.g.hasIOP || !r.g.hasSpacing {
			return nil, fmt.Errorf("dicomio: %s: %w: a derived object needs ImagePositionPatient, ImageOrientationPatient and PixelSpacing", r.h.path, ErrInconsistentGeometry)
		}
		if math.Abs(r.g.spacing[0]-first.g.spacing[0]) > 1e-4 || math.Abs(r.g.spacing[1]-first.g.spacing[1]) > 1e-4 {
			return nil, fmt.Errorf("dicomio: %s: %w: pixel spacing %v mm, %s has %v mm", r.h.path, ErrInconsistentGeometry, r.g.spacing, first.h.path, first.g.spacing)
		}
		for c := 0; c < 6; c++ {
			if math.Abs(r.g.iop[c]-first.g.iop[c]) > 1e-3 {
				return nil, fmt.Errorf("dicomio: %s: %w: ImageOrientationPatient %v, %s has %v", r.h.path, ErrInconsistentGeometry, r.g.iop, first.h.path, first.g.iop)
			}
		}
	}
	sort.SliceStable(sl, func(i, j int) bool { return sl[i].pos < sl[j].pos })
	refs := &SeriesRefs{
		StudyInstanceUID:  s.info.StudyUID,
		SeriesInstanceUID: s.info.UID,
		Modality:          s.info.Modality,
		PatientID:         first.h.patientID,
		Rows:              first.h.rows,
		Columns:           first.h.cols,
		PixelSpacing:      first.g.spacing,
		Orientation:       first.g.iop,
		SliceThickness:    first.h.sliceThickness,
	}
	refs.Warnings = append(refs.Warnings, warn.Strings(warn.Fold(append(append(listed, skipped...), warns...)))...)
	lastPos := math.Inf(-1)
	for _, r := range sl {
		if r.pos-lastPos < 0.01 {
			refs.Warnings = append(refs.Warnings, fmt.Sprintf("duplicate slice position %.3f mm: %s not referenced, %s is", r.pos, r.h.path, refs.Slices[len(refs.Slices)-1].Path))
			continue
		}
		lastPos = r.pos
		frame := 0
		if r.h.numFrames > 1 {
			frame = r.frame + 1
		}
		refs.Slices = append(refs.Slices, SourceSlice{Path: r.h.path, SOPClassUID: r.h.sopClass,
			SOPInstanceUID: r.h.sopInstance, Frame: frame, Position: volume.Vec3(r.g.ipp)})
	}
	for _, sl := range refs.Slices {
		if sl.SOPInstanceUID == "" || sl.SOPClassUID == "" {
			return nil, fmt.Errorf("dicomio: %s: %w: no SOPClassUID or SOPInstanceUID to reference", sl.Path, ErrCorrupt)
		}
	}
	if refs.StudyInstanceUID == "" || refs.SeriesInstanceUID == "" {
		return nil, fmt.Errorf("dicomio: %s: %w: no StudyInstanceUID or SeriesInstanceUID", first.h.path, ErrCorrupt)
	}
	if err := refs.fillStudy(first.h); err != nil {
		return nil, err
	}
	return refs, nil
}

// studyAttrs are the patient, study and frame-of-reference attributes a
// derived object repeats from its source, recorded while the header is
// parsed so ReadRefs need not read a file again.
type studyAttrs struct {
	patientName, patientBirthDate                   string
	studyDate, studyTime, studyID, accessionNumber  string
	referringPhysicianName, studyDescription        string
	frameOfReferenceUID, positionReferenceIndicator string
}

// fillStudy copies the patient and study attributes the derived objects
// repeat from h's header; a missing FrameOfReferenceUID is an error.
func (refs *SeriesRefs) fillStudy(h *header) error {
	st := h.study
	refs.PatientName, refs.PatientBirthDate, refs.PatientSex = st.patientName, st.patientBirthDate, h.patientSex
	refs.StudyDate, refs.StudyTime, refs.StudyID = st.studyDate, st.studyTime, st.studyID
	refs.AccessionNumber, refs.ReferringPhysicianName, refs.StudyDescription = st.accessionNumber, st.referringPhysicianName, st.studyDescription
	refs.FrameOfReferenceUID, refs.PositionReferenceIndicator = st.frameOfReferenceUID, st.positionReferenceIndicator
	if refs.FrameOfReferenceUID == "" {
		return fmt.Errorf("dicomio: %s: %w: no FrameOfReferenceUID: positions cannot be referenced", h.path, ErrInconsistentGeometry)
	}
	return nil
}

// Normal returns the unit slice normal in LPS: the row direction × the
// column direction of Orientation.
func (r *SeriesRefs) Normal() volume.Vec3 {
	n := cross3(r.Orientation)
	return volume.Vec3(unit(n))
}
