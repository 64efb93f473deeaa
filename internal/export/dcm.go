package export

import (
	"crypto/rand"
	"fmt"
	"io"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/lungctl/lungctl/internal/atomicfile"
	"github.com/lungctl/lungctl/internal/dicomio"
	"github.com/lungctl/lungctl/internal/volio"
)

// DICOM identifiers of what this package writes.
const (
	// SegmentationStorage is the SOP Class UID of WriteSEG's files.
	SegmentationStorage = "1.2.840.10008.5.1.4.1.1.66.4"
	// Comprehensive3DSRStorage is the SOP Class UID of WriteSR's files.
	Comprehensive3DSRStorage = "1.2.840.10008.5.1.4.1.1.88.34"
	// explicitVRLittleEndian is the transfer syntax of every file.
	explicitVRLittleEndian = "1.2.840.10008.1.2.1"
	// implementationClassUID identifies lungctl's DICOM writer (a fixed
	// 2.25 UUID-derived UID).
	implementationClassUID = "2.25.297259222246364358104495362537442606538"
	// deviceObserverUID identifies lungctl as the SR's device observer.
	deviceObserverUID = "2.25.216996603034864384384492266379169732824"
	// manufacturer is written as Manufacturer and algorithm source.
	manufacturer = "lungctl"
)

// Instance identifies a DICOM object this package wrote.
type Instance struct {
	// Path is the file written.
	Path string
	// SOPClassUID, SOPInstanceUID, SeriesInstanceUID and StudyInstanceUID
	// identify it (the study is the source's).
	SOPClassUID, SOPInstanceUID, SeriesInstanceUID, StudyInstanceUID string
	// Frames is the SEG's number of frames (0 for an SR).
	Frames int
	// EmptySegments lists, for a SEG, the ranks of findings whose label has
	// no pixel on any source slice: their segments are described but have
	// no frame (a nodule smaller than the slice gap can fall between
	// slices).
	EmptySegments []int
	// TrackingUIDs maps a finding's rank to the Tracking UID written for it
	// (the SEG segment's TrackingUID, the SR group's Tracking Unique
	// Identifier); WriteSR reuses a SEG's so both name a finding alike.
	TrackingUIDs map[int]string
}

// Code is a coded concept (PS3.3 Code Sequence Macro): code value, coding
// scheme designator (e.g. "SCT", "DCM") and code meaning.
type Code struct{ Value, Scheme, Meaning string }

// Codes used by the SEG and the SR (PS3.16; SCT = SNOMED CT).
var (
	codeNodule          = Code{"27925004", "SCT", "Nodule"}
	codeMorphAbnormal   = Code{"49755003", "SCT", "Morphologically Abnormal Structure"}
	codeLung            = Code{"39607008", "SCT", "Lung"}
	codeSegmentation    = Code{"113076", "DCM", "Segmentation"}
	codeSourceForImgPro = Code{"121322", "DCM", "Source image for image processing operation"}
)

// AlgorithmFamily is the CID 7162 code WriteSEG records as the family of the
// algorithm that made the segments (Segmentation Algorithm Identification
// Sequence). lungctl's candidates are groups of voxels found by mean-shift
// clustering (internal/detect), hence "Cluster Analysis" by default; a
// caller whose masks come from another method (say a CNN: 123110 DCM
// "Artificial Intelligence") sets it before writing.
var AlgorithmFamily = Code{"123107", "DCM", "Cluster Analysis"}

// version is the software version written into the objects.
func version() string {
	if v := strings.TrimSpace(volio.ToolVersion); v != "" {
		return v
	}
	return "dev"
}

// builder makes elements and remembers the first error, so a dataset can be
// assembled without an error check per element.
type builder struct{ err error }

// el makes an element of t's dictionary VR holding v ([]string, []int,
// []float64, []byte or [][]*dicom.Element for a sequence).
func (b *builder) el(t tag.Tag, v any) *dicom.Element {
	e, err := dicom.NewElement(t, v)
	if err != nil {
		if b.err == nil {
			b.err = fmt.Errorf("element %v: %w", t, err)
		}
		return nil
	}
	return e
}

// s makes a string element (values already valid for its VR).
func (b *builder) s(t tag.Tag, v ...string) *dicom.Element {
	if v == nil {
		v = []string{}
	}
	return b.el(t, v)
}

// i makes an integer element (US, UL, SS, SL, AT).
func (b *builder) i(t tag.Tag, v ...int) *dicom.Element { return b.el(t, v) }

// seq makes a sequence of the given items (each sorted by tag; nil elements
// dropped).
func (b *builder) seq(t tag.Tag, items ...[]*dicom.Element) *dicom.Element {
	out := make([][]*dicom.Element, 0, len(items))
	for _, it := range items {
		out = append(out, item(it...))
	}
	return b.el(t, out)
}

// code makes a code sequence t holding one coded concept.
func (b *builder) code(t tag.Tag, c Code) *dicom.Element { return b.seq(t, b.codeItem(c)) }

// codeItem returns the Code Sequence Macro elements of c.
func (b *builder) codeItem(c Code) []*dicom.Element {
	return []*dicom.Element{
		b.s(tag.CodeValue, c.Value),
		b.s(tag.CodingSchemeDesignator, c.Scheme),
		b.s(tag.CodeMeaning, clip(c.Meaning, 64)),
	}
}

// item returns es without nils, sorted by tag as DICOM requires.
func item(es ...*dicom.Element) []*dicom.Element {
	out := make([]*dicom.Element, 0, len(es))
	for _, e := range es {
		if e != nil {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		ta, tb := out[a].Tag, out[b].Tag
		if ta.Group != tb.Group {
			return ta.Group < tb.Group
		}
		return ta.Element < tb.Element
	})
	return out
}

// newUID returns a fresh UID of the form 2.25.<decimal of a random (version
// 4) UUID>, as PS3.5 B.2 allows.
func newUID() string {
	var u [16]byte
	if _, err := io.ReadFull(rand.Reader, u[:]); err != nil {
		// crypto/rand does not fail on supported platforms; fall back to
		// the clock so a UID is still unique in practice.
		n := time.Now().UnixNano()
		for i := range u {
			u[i] = byte(n >> (8 * (i % 8)))
		}
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // variant RFC 4122
	return "2.25." + new(big.Int).SetBytes(u[:]).String()
}

// formatDS formats v as a DICOM decimal string (at most 16 characters).
func formatDS(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	for p := 10; p >= 0; p-- {
		s := strconv.FormatFloat(v, 'f', p, 64)
		if strings.Contains(s, ".") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		if s == "-0" {
			s = "0"
		}
		if len(s) <= 16 {
			return s
		}
	}
	for p := 9; p >= 1; p-- {
		if s := strconv.FormatFloat(v, 'e', p, 64); len(s) <= 16 {
			return s
		}
	}
	return "0"
}

// clip returns s without control characters and backslashes (the value
// delimiter), cut to at most n characters (not bytes, and never inside a
// UTF-8 sequence).
func clip(s string, n int) string {
	var sb strings.Builder
	k := 0
	for _, r := range s {
		if k == n {
			break
		}
		switch {
		case r == '\\':
			r = '/'
		case r < 0x20 || r == 0x7f || r == utf8.RuneError:
			r = ' '
		}
		sb.WriteRune(r)
		k++
	}
	return strings.TrimSpace(sb.String())
}

// nonASCII reports whether any string value in es (sequences included) has
// a byte outside 7-bit ASCII.
func nonASCII(es []*dicom.Element) bool {
	for _, e := range es {
		if e == nil || e.Value == nil {
			continue
		}
		switch v := e.Value.GetValue().(type) {
		case []string:
			for _, s := range v {
				for i := 0; i < len(s); i++ {
					if s[i] >= 0x80 {
						return true
					}
				}
			}
		case []*dicom.SequenceItemValue:
			for _, it := range v {
				if els, ok := it.GetValue().([]*dicom.Element); ok && nonASCII(els) {
					return true
				}
			}
		}
	}
	return false
}

// commonModules returns the Patient and General Study module elements
// copied from the source (type 2 attributes stay present, empty when the
// source has no value), the SOP Common and equipment elements, and the
// content date and time.
func (b *builder) commonModules(src *dicomio.SeriesRefs, sopClass, sopInstance string, now time.Time) []*dicom.Element {
	date, tm := now.Format("20060102"), now.Format("150405")
	es := []*dicom.Element{
		b.s(tag.SOPClassUID, sopClass),
		b.s(tag.SOPInstanceUID, sopInstance),
		b.s(tag.InstanceCreationDate, date),
		b.s(tag.InstanceCreationTime, tm),
		b.s(tag.ContentDate, date),
		b.s(tag.ContentTime, tm),
		b.s(tag.SeriesDate, date),
		b.s(tag.SeriesTime, tm),
		// Patient module.
		b.s(tag.PatientName, src.PatientName),
		b.s(tag.PatientID, src.PatientID),
		b.s(tag.PatientBirthDate, src.PatientBirthDate),
		b.s(tag.PatientSex, src.PatientSex),
		// General Study module.
		b.s(tag.StudyInstanceUID, src.StudyInstanceUID),
		b.s(tag.StudyDate, src.StudyDate),
		b.s(tag.StudyTime, src.StudyTime),
		b.s(tag.ReferringPhysicianName, src.ReferringPhysicianName),
		b.s(tag.StudyID, src.StudyID),
		b.s(tag.AccessionNumber, src.AccessionNumber),
		// General and Enhanced General Equipment modules.
		b.s(tag.Manufacturer, manufacturer),
		b.s(tag.ManufacturerModelName, manufacturer),
		b.s(tag.DeviceSerialNumber, "1"),
		b.s(tag.SoftwareVersions, clip(version(), 64)),
		b.s(tag.InstanceNumber, "1"),
	}
	if src.StudyDescription != "" {
		es = append(es, b.s(tag.StudyDescription, src.StudyDescription))
	}
	return es
}

// writeDICOM writes the data set es (sorted here) with its file meta
// information, Explicit VR Little Endian, atomically to path.
func writeDICOM(path string, es []*dicom.Element, sopClass, sopInstance string) error {
	var b builder
	if nonASCII(es) {
		es = append(es, b.s(tag.SpecificCharacterSet, "ISO_IR 192"))
	}
	es = append(es,
		b.el(tag.FileMetaInformationVersion, []byte{0, 1}),
		b.s(tag.MediaStorageSOPClassUID, sopClass),
		b.s(tag.MediaStorageSOPInstanceUID, sopInstance),
		b.s(tag.TransferSyntaxUID, explicitVRLittleEndian),
		b.s(tag.ImplementationClassUID, implementationClassUID),
		b.s(tag.ImplementationVersionName, clip("LUNGCTL_"+version(), 16)),
	)
	if b.err != nil {
		return b.err
	}
	ds := dicom.Dataset{Elements: item(es...)}
	return atomicfile.Write(path, func(w io.Writer) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("DICOM writer failure: %v", r)
			}
		}()
		return dicom.Write(w, ds)
	})
}
