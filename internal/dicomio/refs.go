package dicomio

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/warn"
	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/lungctl/lungctl/internal/volume"
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
	refs.Warnings = append(refs.Warnings, warn.Strings(append(append(listed, skipped...), warns...))...)
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

// fillStudy copies the patient and study attributes the derived objects
// repeat from h's header; a missing FrameOfReferenceUID is an error.
func (refs *SeriesRefs) fillStudy(h *header) error {
	path := h.path
	elems, err := headerElements(h)
	if err != nil {
		return err
	}
	for _, e := range elems {
		if e == nil || e.Value == nil {
			continue
		}
		var dst *string
		switch e.Tag {
		case tag.PatientName:
			dst = &refs.PatientName
		case tag.PatientBirthDate:
			dst = &refs.PatientBirthDate
		case tag.PatientSex:
			dst = &refs.PatientSex
		case tag.StudyDate:
			dst = &refs.StudyDate
		case tag.StudyTime:
			dst = &refs.StudyTime
		case tag.StudyID:
			dst = &refs.StudyID
		case tag.AccessionNumber:
			dst = &refs.AccessionNumber
		case tag.ReferringPhysicianName:
			dst = &refs.ReferringPhysicianName
		case tag.StudyDescription:
			dst = &refs.StudyDescription
		case tag.FrameOfReferenceUID:
			dst = &refs.FrameOfReferenceUID
		case tag.PositionReferenceIndicator:
			dst = &refs.PositionReferenceIndicator
		}
		if dst != nil {
			*dst = str(e)
		}
	}
	if refs.FrameOfReferenceUID == "" {
		return fmt.Errorf("dicomio: %s: %w: no FrameOfReferenceUID: positions cannot be referenced", path, ErrInconsistentGeometry)
	}
	return nil
}

// headerElements returns the top-level elements of h's file that precede
// its pixel data, decoded by the dicom library with the file's transfer
// syntax set explicitly (as libParse does). A file held in memory (a .zip
// entry, h.data) is read from there; otherwise it reads a prefix of the file
// first and the whole file only when the header is longer or the data set
// deflated. It never panics.
func headerElements(h *header) (elems []*dicom.Element, err error) {
	path := h.path
	defer func() {
		if r := recover(); r != nil {
			elems, err = nil, fmt.Errorf("dicomio: %s: %w: parser failure: %v", path, ErrCorrupt, r)
		}
	}()
	if h.data != nil {
		ds, implicit, bo, err := headerDataset(path, h.data, true)
		if err != nil {
			return nil, err
		}
		return parseElements(path, ds, implicit, bo)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dicomio: %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("dicomio: %s: %w", path, err)
	}
	size := st.Size()
	for n := min(size, 2*headerPrefix); ; n = size {
		if err := membudget.Check("dicomio: "+path+": header", uint64(n)); err != nil {
			return nil, err
		}
		data := make([]byte, n)
		if _, err := f.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("dicomio: %s: %w", path, err)
		}
		ds, implicit, bo, err := headerDataset(path, data, n == size)
		if errors.Is(err, errNeedMore) && n < size {
			continue
		}
		if err != nil {
			return nil, err
		}
		return parseElements(path, ds, implicit, bo)
	}
}

// headerDataset returns the data-set bytes of data (a file's first bytes,
// whole when whole) that precede the top-level pixel data, and their
// encoding; errNeedMore when data ends first.
func headerDataset(path string, data []byte, whole bool) (ds []byte, implicit bool, bo binary.ByteOrder, err error) {
	hasMagic := len(data) >= 132 && string(data[128:132]) == "DICM"
	ts := fileSyntax(data, hasMagic)
	start, err := metaEnd(data, hasMagic)
	if err != nil {
		if !whole {
			return nil, false, nil, errNeedMore
		}
		return nil, false, nil, fmt.Errorf("dicomio: %s: %w: file meta information: %w", path, ErrCorrupt, err)
	}
	ds = data[start:]
	if ts == tsDeflateLE {
		if !whole {
			return nil, false, nil, errNeedMore
		}
		ds, err = io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(ds)), MaxHeaderBytes))
		if err != nil {
			return nil, false, nil, fmt.Errorf("dicomio: %s: %w: inflating deflated data set: %w", path, ErrCorrupt, err)
		}
	}
	_, implicit, bo = datasetEncoding(ts, ds)
	off, _, _, found, werr := findPixelData(ds, 0, implicit, bo)
	switch {
	case werr != nil && !whole, werr == nil && !found && !whole:
		return nil, false, nil, errNeedMore
	case werr != nil:
		return nil, false, nil, fmt.Errorf("dicomio: %s: %w: %w", path, ErrCorrupt, werr)
	case found:
		ds = ds[:off]
	}
	return ds, implicit, bo, nil
}

// Normal returns the unit slice normal in LPS: the row direction × the
// column direction of Orientation.
func (r *SeriesRefs) Normal() volume.Vec3 {
	n := cross3(r.Orientation)
	return volume.Vec3(unit(n))
}
