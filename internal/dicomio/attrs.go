package dicomio

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/lungctl/lungctl/internal/hounsfield"
	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// The attributes the loader reads from the dicom library's elements:
// identification, pixel module, geometry per frame (functional groups
// included) and rescale, with values that are present but unusable kept
// as such (frameGeom.bad) rather than dropped.

// fill extracts the attributes the loader needs from the top-level elements.
func (h *header) fill(elems []*dicom.Element) {
	var top frameGeom
	var shared []*dicom.Element
	var perFrameItems [][]*dicom.Element
	var gridOffsets []float64
	for _, e := range elems {
		if e == nil || e.Value == nil || h.applyAttr(e) {
			continue
		}
		switch e.Tag {
		case tag.SharedFunctionalGroupsSequence:
			if items := seqItems(e); len(items) > 0 {
				shared = items[0]
			}
		case tag.PerFrameFunctionalGroupsSequence:
			perFrameItems = seqItems(e)
		case tag.Tag{Group: 0x3004, Element: 0x000C}: // GridFrameOffsetVector (RT dose)
			for i := 0; ; i++ {
				f, ok := floatAt(e, i)
				if !ok {
					break
				}
				gridOffsets = append(gridOffsets, f)
			}
		default:
			top.apply(e)
		}
	}
	h.normalizePixelModule()
	h.buildFrames(top, shared, perFrameItems, gridOffsets)
}

// applyAttr records an identification or pixel-module attribute; false
// when e is none of them.
func (h *header) applyAttr(e *dicom.Element) bool {
	switch e.Tag {
	case tag.TransferSyntaxUID:
		h.tsUID = str(e)
	case tag.SOPClassUID:
		h.sopClass = str(e)
	case tag.MediaStorageSOPClassUID:
		if h.sopClass == "" {
			h.sopClass = str(e)
		}
	case tag.SOPInstanceUID:
		h.sopInstance = str(e)
	case tag.SeriesInstanceUID:
		h.seriesUID = str(e)
	case tag.StudyInstanceUID:
		h.studyUID = str(e)
	case tag.PatientID:
		h.patientID = str(e)
	case tag.PatientAge:
		h.patientAge = str(e)
	case tag.PatientSex:
		h.patientSex = str(e)
	case tag.PatientName:
		h.study.patientName = str(e)
	case tag.PatientBirthDate:
		h.study.patientBirthDate = str(e)
	case tag.StudyDate:
		h.study.studyDate = str(e)
	case tag.StudyTime:
		h.study.studyTime = str(e)
	case tag.StudyID:
		h.study.studyID = str(e)
	case tag.AccessionNumber:
		h.study.accessionNumber = str(e)
	case tag.ReferringPhysicianName:
		h.study.referringPhysicianName = str(e)
	case tag.StudyDescription:
		h.study.studyDescription = str(e)
	case tag.FrameOfReferenceUID:
		h.study.frameOfReferenceUID = str(e)
	case tag.PositionReferenceIndicator:
		h.study.positionReferenceIndicator = str(e)
	case tag.Modality:
		h.modality = strings.ToUpper(str(e))
	case tag.SeriesDescription:
		h.description = str(e)
	case tag.Manufacturer:
		h.manufacturer = str(e)
	case tag.ImageType:
		h.imageType = strs(e)
	case tag.Rows:
		h.rows = intv(e, 0)
	case tag.Columns:
		h.cols = intv(e, 0)
	case tag.BitsAllocated:
		h.bitsAllocated = intv(e, 0)
	case tag.BitsStored:
		h.bitsStored = intv(e, 0)
	case tag.HighBit:
		h.highBit = intv(e, -1)
	case tag.PixelRepresentation:
		h.pixelRep = intv(e, 0)
	case tag.SamplesPerPixel:
		h.samplesPerPixel = intv(e, 1)
	case tag.NumberOfFrames:
		if n, ok := floatAt(e, 0); ok && n >= 1 {
			if n > maxFrames {
				h.badFrames = true
			} else {
				h.numFrames = int(n)
			}
		}
	case tag.PhotometricInterpretation:
		h.photometric = strings.ToUpper(str(e))
	case tag.GantryDetectorTilt:
		h.gantryTilt, _ = floatAt(e, 0)
	case tag.SliceThickness:
		h.sliceThickness, _ = floatAt(e, 0)
	case tag.ConvolutionKernel:
		h.convKernel = strings.Join(strs(e), `\`)
	case tag.PixelPaddingValue:
		if v, ok := intOK(e); ok {
			h.padding = &v
		}
	case tag.PixelPaddingRangeLimit:
		if v, ok := intOK(e); ok {
			h.paddingLimit = &v
		}
	default:
		return false
	}
	return true
}

// normalizePixelModule sign-interprets padding values stored through an
// unsigned VR and defaults BitsStored and HighBit.
func (h *header) normalizePixelModule() {
	fix := func(p *int32) {
		if p != nil && h.pixelRep == 1 && h.bitsAllocated == 16 && *p >= 32768 && *p < 65536 {
			*p -= 65536
		}
	}
	fix(h.padding)
	fix(h.paddingLimit)
	if h.bitsStored == 0 {
		h.bitsStored = h.bitsAllocated
	}
	if h.highBit < 0 || h.highBit == 0 && h.bitsStored > 1 {
		h.highBit = h.bitsStored - 1
	}
}

// buildFrames sets each frame's geometry (Enhanced CT/MR functional groups:
// shared first, then per frame; RT dose: GridFrameOffsetVector).
func (h *header) buildFrames(top frameGeom, shared []*dicom.Element, perFrameItems [][]*dicom.Element, gridOffsets []float64) {
	base := top
	for _, e := range shared {
		base.applyGroup(e)
	}
	h.frames = make([]frameGeom, h.numFrames)
	for i := range h.frames {
		h.frames[i] = base
		if i < len(perFrameItems) {
			for _, e := range perFrameItems[i] {
				h.frames[i].applyGroup(e)
			}
		} else if len(gridOffsets) == h.numFrames && base.hasIPP && base.hasIOP {
			// RT dose style: frame i lies GridFrameOffsetVector[i] mm
			// along the normal from ImagePositionPatient.
			n := cross3(base.iop)
			for a := 0; a < 3; a++ {
				h.frames[i].ipp[a] += gridOffsets[i] * n[a]
			}
		}
	}
}

// apply records a top-level geometry or rescale attribute. A value that is
// present but unusable is recorded in g.bad (the first one) instead of
// being treated as absent.
func (g *frameGeom) apply(e *dicom.Element) {
	markBad := func(format string, args ...any) {
		if g.bad == "" {
			g.bad = fmt.Sprintf(format, args...)
		}
	}
	switch e.Tag {
	case tag.ImagePositionPatient:
		if empty(e) {
			return
		}
		if v, ok := floats(e, 3); ok {
			copy(g.ipp[:], v)
			g.hasIPP = true
		} else {
			markBad("ImagePositionPatient [%s] is not three finite numbers (mm)", rawValue(e))
		}
	case tag.ImageOrientationPatient:
		if empty(e) {
			return
		}
		v, ok := floats(e, 6)
		if !ok {
			markBad("ImageOrientationPatient [%s] is not six finite numbers", rawValue(e))
			return
		}
		copy(g.iop[:], v)
		g.hasIOP = true
		r := [3]float64{v[0], v[1], v[2]}
		c := [3]float64{v[3], v[4], v[5]}
		lr, lc, d := math.Sqrt(dot3(r, r)), math.Sqrt(dot3(c, c)), dot3(r, c)
		if math.Abs(lr-1) > iopTolerance || math.Abs(lc-1) > iopTolerance || math.Abs(d) > iopTolerance {
			markBad("ImageOrientationPatient [%s] is not two orthogonal unit vectors (row length %.4f, column length %.4f, their dot product %.4f)", rawValue(e), lr, lc, d)
		}
	case tag.PixelSpacing:
		if empty(e) {
			return
		}
		v, ok := floats(e, 2)
		if !ok {
			markBad("PixelSpacing [%s] is not two finite numbers (mm)", rawValue(e))
			return
		}
		copy(g.spacing[:], v)
		g.hasSpacing = true
		if !(v[0] > 0 && v[1] > 0) {
			markBad("PixelSpacing [%s] mm is not positive", rawValue(e))
		}
	case tag.RescaleSlope:
		if empty(e) {
			return
		}
		g.slope = rawFloat(e)
		g.hasRescale = true
	case tag.RescaleIntercept:
		if empty(e) {
			return
		}
		g.intercept = rawFloat(e)
		if !g.hasRescale {
			g.slope = 1
		}
		g.hasRescale = true
	}
}

// iopTolerance is how far ImageOrientationPatient's row and column may be
// from unit length and from orthogonal (0.01 ≈ 0.6°); the six values are
// often written rounded, never this far off.
const iopTolerance = 0.01

// empty reports an element whose value is absent (zero length or only
// blanks), which DICOM allows for optional attributes.
func empty(e *dicom.Element) bool {
	switch v := e.Value.GetValue().(type) {
	case []string:
		for _, x := range v {
			if strings.Trim(x, " \x00") != "" {
				return false
			}
		}
		return true
	case []float64:
		return len(v) == 0
	case []int:
		return len(v) == 0
	}
	return false
}

// rawValue is an element's value as text, for messages.
func rawValue(e *dicom.Element) string {
	switch v := e.Value.GetValue().(type) {
	case []string:
		return strings.Trim(strings.Join(v, `\`), " \x00")
	case []float64:
		return strings.Trim(fmt.Sprint(v), "[]")
	case []int:
		return strings.Trim(fmt.Sprint(v), "[]")
	}
	return "?"
}

// rawFloat parses value 0 of a DS/FL/FD element without filtering: NaN,
// ±Inf and unparsable text (as NaN) come back so the caller can refuse them.
func rawFloat(e *dicom.Element) float64 {
	switch v := e.Value.GetValue().(type) {
	case []string:
		if len(v) > 0 {
			if f, err := strconv.ParseFloat(strings.Trim(v[0], " \x00"), 64); err == nil {
				return f
			}
		}
	case []float64:
		if len(v) > 0 {
			return v[0]
		}
	case []int:
		if len(v) > 0 {
			return float64(v[0])
		}
	}
	return math.NaN()
}

// applyGroup applies one functional-group macro sequence (plane position,
// orientation, pixel measures, pixel value transformation).
func (g *frameGeom) applyGroup(e *dicom.Element) {
	switch e.Tag {
	case tag.PlanePositionSequence, tag.PlaneOrientationSequence, tag.PixelMeasuresSequence, tag.PixelValueTransformationSequence:
		for _, item := range seqItems(e) {
			for _, s := range item {
				if s != nil && s.Value != nil {
					g.apply(s)
				}
			}
		}
	}
}

func seqItems(e *dicom.Element) [][]*dicom.Element {
	items, ok := e.Value.GetValue().([]*dicom.SequenceItemValue)
	if !ok {
		return nil
	}
	out := make([][]*dicom.Element, 0, len(items))
	for _, it := range items {
		if it == nil {
			continue
		}
		if els, ok := it.GetValue().([]*dicom.Element); ok {
			out = append(out, els)
		}
	}
	return out
}

func strs(e *dicom.Element) []string {
	if v, ok := e.Value.GetValue().([]string); ok {
		return v
	}
	return nil
}

func str(e *dicom.Element) string {
	v := strs(e)
	if len(v) == 0 {
		return ""
	}
	return strings.TrimRight(strings.TrimSpace(strings.Join(v, `\`)), "\x00")
}

// floatAt returns value i of a DS/IS/FL/FD/int element as float64.
func floatAt(e *dicom.Element, i int) (float64, bool) {
	switch v := e.Value.GetValue().(type) {
	case []string:
		if i >= len(v) {
			return 0, false
		}
		f, err := strconv.ParseFloat(strings.Trim(v[i], " \x00"), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, false
		}
		return f, true
	case []float64:
		if i >= len(v) || math.IsNaN(v[i]) || math.IsInf(v[i], 0) {
			return 0, false
		}
		return v[i], true
	case []int:
		if i >= len(v) {
			return 0, false
		}
		return float64(v[i]), true
	}
	return 0, false
}

func floats(e *dicom.Element, n int) ([]float64, bool) {
	out := make([]float64, n)
	for i := range out {
		f, ok := floatAt(e, i)
		if !ok {
			return nil, false
		}
		out[i] = f
	}
	return out, true
}

func intv(e *dicom.Element, def int) int {
	f, ok := floatAt(e, 0)
	if !ok || f < -1<<30 || f > 1<<30 {
		return def
	}
	return int(f)
}

func intOK(e *dicom.Element) (int32, bool) {
	f, ok := floatAt(e, 0)
	if !ok || f < math.MinInt32 || f > math.MaxInt32 {
		return 0, false
	}
	return int32(f), true
}

// rescale returns frame i's Rescale with the file's padding values.
func (h *header) rescale(i int) (hounsfield.Rescale, bool) {
	g := h.frames[i]
	r := hounsfield.Rescale{Slope: 1, Padding: h.padding, PaddingRangeLimit: h.paddingLimit}
	if g.hasRescale {
		r.Slope, r.Intercept = g.slope, g.intercept
	}
	return r, g.hasRescale
}
