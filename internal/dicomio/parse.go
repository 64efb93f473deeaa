package dicomio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/safefile"
	"github.com/suyashkumar/dicom"
)

// frameGeom is the geometry and rescale of one frame (one slice) of a file.
type frameGeom struct {
	ipp        [3]float64
	iop        [6]float64
	spacing    [2]float64 // PixelSpacing: row spacing (between rows), column spacing (mm)
	hasIPP     bool
	hasIOP     bool
	hasSpacing bool
	slope      float64
	intercept  float64
	hasRescale bool
	// bad names the first geometry or rescale attribute that is present
	// but unusable (NaN, non-orthogonal orientation, non-positive
	// spacing, ...), "" when all are usable; the loader refuses the slice
	// with it instead of treating the attribute as absent.
	bad string
}

// header is what one file's parse yields: identification, pixel format,
// geometry per frame and, when requested, the undecoded pixel data.
type header struct {
	path                                 string
	tsUID                                string
	sopClass, sopInstance                string
	seriesUID, studyUID, patientID       string
	modality, description, manufacturer  string
	patientAge, patientSex               string
	study                                studyAttrs // what derived objects copy (ReadRefs)
	imageType                            []string
	rows, cols                           int
	bitsAllocated, bitsStored, highBit   int
	pixelRep, samplesPerPixel, numFrames int
	photometric                          string
	gantryTilt                           float64 // GantryDetectorTilt, degrees
	sliceThickness                       float64 // mm, 0 when absent
	convKernel                           string  // ConvolutionKernel, values joined by a backslash
	padding, paddingLimit                *int32
	frames                               []frameGeom // len == numFrames
	hasPixelData                         bool
	badFrames                            bool // NumberOfFrames beyond maxFrames
	// Pixel data are left in the file: value offset, value length (-1 =
	// undefined, i.e. encapsulated), file size; data is the whole file (or
	// the inflated data set) when it was parsed from memory.
	pixOff, pixVL, size int64
	data                []byte
	bigEndian           bool
	// deflated: the data set (pixel data included) is a DEFLATE stream
	// starting at byte deflateStart of the file (or of data); pixOff and
	// pixVL then count bytes of the inflated stream, and the pixel data
	// are inflated again when decoded (nothing inflated is kept).
	deflated     bool
	deflateStart int64
	// frags caches the encapsulated fragment table (see fragments).
	fragsOnce sync.Once
	frags     []fragRef
	fragsErr  error
}

// isLocalizer reports whether ImageType marks the image as a scout/localizer.
func (h *header) isLocalizer() bool {
	for _, s := range h.imageType {
		if strings.EqualFold(strings.TrimSpace(s), "LOCALIZER") {
			return true
		}
	}
	return false
}

// headerPrefix is how much of a file is read first; the header of a CT
// slice nearly always ends well before it.
const headerPrefix = 32 << 10

// MaxHeaderBytes bounds the data elements read before the pixel data (or,
// for a file without pixel data, the whole data set), inflated or not.
// Real headers are kilobytes (vendor private blocks a few megabytes at
// most); a larger one is refused as ErrCorrupt (and checked against the
// memory budget before it is read).
const MaxHeaderBytes = 16 << 20

// errNeedMore means the header did not end inside the bytes given.
var errNeedMore = errors.New("header continues past the prefix")

// readHeaderFile parses one file's header. It reads a prefix into *scratch
// (reused between calls) and more, growing eightfold up to MaxHeaderBytes,
// only when the header is longer. A deflated data set is inflated as a
// stream until its pixel data start. The pixel data are not read: the
// header records their offset for the frame reader. A FIFO, device or
// socket is refused without being read (safefile.Open).
func readHeaderFile(path string, scratch *[]byte) (*header, error) {
	f, err := safefile.Open(path)
	if err != nil {
		if errors.Is(err, safefile.ErrNotRegular) {
			return nil, fmt.Errorf("dicomio: %w: %w", err, ErrNotDICOM)
		}
		return nil, fmt.Errorf("dicomio: %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("dicomio: %s: %w", path, err)
	}
	size := st.Size()
	n := min(size, headerPrefix)
	for {
		if int64(cap(*scratch)) < n {
			if err := membudget.Check("dicomio: "+path+": header", uint64(n)); err != nil {
				return nil, err
			}
			*scratch = make([]byte, n)
		}
		buf := (*scratch)[:n]
		if _, err := f.ReadAt(buf, 0); err != nil && !(errors.Is(err, io.EOF)) {
			return nil, fmt.Errorf("dicomio: %s: %w", path, err)
		}
		h, err := parseHeader(path, buf, size, false, f)
		if errors.Is(err, errNeedMore) && n < size {
			if n >= MaxHeaderBytes {
				return nil, fmt.Errorf("dicomio: %s: %w: header (the elements before the pixel data) longer than %d MiB", path, ErrCorrupt, MaxHeaderBytes>>20)
			}
			n = min(size, 8*n, MaxHeaderBytes)
			continue
		}
		if errors.Is(err, errNeedMore) {
			return nil, fmt.Errorf("dicomio: %s: %w: file ends inside the header", path, ErrCorrupt)
		}
		return h, err
	}
}

// parseBytes parses a whole DICOM file held in memory and keeps a reference
// to data so the frame reader needs no file (used for .zip entries, the
// fuzz target and tests).
func parseBytes(path string, data []byte) (*header, error) {
	return parseHeader(path, data, int64(len(data)), true, nil)
}

// maxFrames bounds NumberOfFrames (larger values are treated as corrupt).
const maxFrames = 1 << 16

// parseHeader parses the header of one DICOM file from data, the file's
// first len(data) of size bytes. It returns errNeedMore when data is a
// prefix too short for the header. Errors name path and wrap ErrNotDICOM,
// ErrCorrupt or ErrUnsupportedTransferSyntax where they apply. It never
// panics: a panic in the underlying parser becomes an ErrCorrupt error.
//
// The file meta group is read here (only its transfer syntax matters); the
// data set is walked to the top-level PixelData element and only the
// elements before it are decoded by the dicom library, with the transfer
// syntax set explicitly (so files without meta header or without a
// transfer syntax parse too). A deflated data set is inflated first.
func parseHeader(path string, data []byte, size int64, keep bool, src io.ReaderAt) (h *header, err error) {
	defer func() {
		if r := recover(); r != nil {
			h = nil
			err = fmt.Errorf("dicomio: %s: %w: parser failure: %v", path, ErrCorrupt, r)
		}
	}()
	whole := int64(len(data)) >= size
	hasMagic := len(data) >= 132 && string(data[128:132]) == "DICM"
	if !hasMagic && !looksLikeRawDataset(data) {
		return nil, fmt.Errorf("dicomio: %s: %w: no DICM magic and no recognisable data set", path, ErrNotDICOM)
	}
	ts := fileSyntax(data, hasMagic)
	if ts != "" && !isKnownSyntax(ts) {
		return nil, fmt.Errorf("dicomio: %s: %w: %s (%s)", path, ErrUnsupportedTransferSyntax, ts, TransferSyntaxName(ts))
	}
	start, err := metaEnd(data, hasMagic)
	if err != nil {
		if !whole {
			return nil, errNeedMore
		}
		return nil, fmt.Errorf("dicomio: %s: %w: file meta information: %w", path, ErrCorrupt, err)
	}
	ds, base := data[start:], int64(start)
	if ts == tsDeflateLE {
		r := src
		if whole || r == nil {
			r = bytes.NewReader(data)
		}
		h, err := parseDeflated(path, r, int64(start), size)
		if err != nil {
			return nil, err
		}
		if keep {
			h.data = data
		}
		return h, nil
	}
	ts, implicit, bo := datasetEncoding(ts, ds)
	h, err = parseDataset(path, ds, base, whole, implicit, bo)
	if err != nil {
		return nil, err
	}
	h.tsUID = ts
	h.size = size
	h.bigEndian = bo == binary.BigEndian
	if keep {
		h.data = data
	}
	if !hasMagic && h.sopClass == "" && h.rows == 0 && h.seriesUID == "" {
		return nil, fmt.Errorf("dicomio: %s: %w: no DICOM attributes found", path, ErrNotDICOM)
	}
	return h, nil
}

// datasetEncoding returns the data set's encoding for transfer syntax ts;
// with none recorded (ts "") it is inferred from the first element, and the
// inferred syntax is returned.
func datasetEncoding(ts string, ds []byte) (string, bool, binary.ByteOrder) {
	implicit, bo := ts == tsImplicitLE, binary.ByteOrder(binary.LittleEndian)
	if ts == tsExplicitBE {
		bo = binary.BigEndian
	}
	if ts == "" {
		implicit = looksImplicit(ds)
		if !implicit && len(ds) >= 2 && ds[0] == 0 && ds[1] != 0 {
			bo = binary.BigEndian
		}
		switch {
		case implicit:
			ts = tsImplicitLE
		case bo == binary.BigEndian:
			ts = tsExplicitBE
		default:
			ts = tsExplicitLE
		}
	}
	return ts, implicit, bo
}

// parseDataset walks ds (at file offset base) to the top-level pixel data
// and parses the elements before it; errNeedMore when ds is a prefix (not
// whole) that ends first.
func parseDataset(path string, ds []byte, base int64, whole, implicit bool, bo binary.ByteOrder) (*header, error) {
	var h *header
	var err error
	off, hdr, vl, found, werr := findPixelData(ds, 0, implicit, bo)
	if werr != nil && !whole {
		return nil, errNeedMore
	}
	if werr == nil && !found && !whole {
		return nil, errNeedMore
	}
	if werr == nil && found {
		if err := checkNesting(ds[:off], implicit, bo); err != nil {
			return nil, fmt.Errorf("dicomio: %s: %w", path, err)
		}
		h, err = libParse(path, ds[:off], implicit, bo)
		if err != nil {
			return nil, err
		}
		h.hasPixelData = true
		h.pixOff, h.pixVL = base+int64(off+hdr), int64(vl)
		if vl == undefinedLen {
			h.pixVL = -1
		}
	} else {
		// Whole file. A walk that failed means a malformed or truncated
		// file; without pixel data the (validated) elements are parsed
		// for the header alone.
		if werr != nil {
			return nil, fmt.Errorf("dicomio: %s: %w: %w", path, ErrCorrupt, werr)
		}
		if err := checkNesting(ds, implicit, bo); err != nil {
			return nil, fmt.Errorf("dicomio: %s: %w", path, err)
		}
		h, err = libParse(path, ds, implicit, bo)
		if err != nil {
			return nil, err
		}
	}
	return h, nil
}

// libParse runs the dicom library over ds, data-set elements (no preamble,
// meta group or top-level pixel data) in the given encoding whose lengths
// the walker has already validated, and extracts the header. A synthetic
// file meta group naming the encoding is put in front, so the library
// neither guesses the syntax (its guessing allocates the garbage lengths it
// tries, ~0.7 MB a file) nor fails on files without meta information.
func libParse(path string, ds []byte, implicit bool, bo binary.ByteOrder) (*header, error) {
	elems, err := parseElements(path, ds, implicit, bo)
	if err != nil {
		return nil, err
	}
	h := &header{path: path, numFrames: 1, samplesPerPixel: 1}
	h.fill(elems)
	return h, nil
}

// parseElements decodes data-set bytes with the dicom library, a synthetic
// file meta group naming their encoding in front.
func parseElements(path string, ds []byte, implicit bool, bo binary.ByteOrder) ([]*dicom.Element, error) {
	meta := syntheticMeta[0]
	switch {
	case implicit:
		meta = syntheticMeta[1]
	case bo == binary.BigEndian:
		meta = syntheticMeta[2]
	}
	in := io.MultiReader(bytes.NewReader(meta), bytes.NewReader(ds))
	p, err := dicom.NewParser(in, int64(len(meta)+len(ds)), nil, dicom.AllowUnknownSpecificCharacterSet(), dicom.SkipPixelData())
	if err != nil {
		return nil, fmt.Errorf("dicomio: %s: %w: cannot start parser: %w", path, ErrCorrupt, err)
	}
	if p == nil {
		return nil, fmt.Errorf("dicomio: %s: %w: cannot start parser", path, ErrCorrupt)
	}
	var elems []*dicom.Element
	for {
		e, err := p.Next()
		if err != nil {
			if errors.Is(err, dicom.ErrorEndOfDICOM) || errors.Is(err, io.EOF) {
				return elems, nil
			}
			return nil, fmt.Errorf("dicomio: %s: %w: %w", path, ErrCorrupt, err)
		}
		elems = append(elems, e)
	}
}

// syntheticMeta holds preamble + "DICM" + a file meta group whose
// TransferSyntaxUID is Explicit VR LE, Implicit VR LE, Explicit VR BE.
var syntheticMeta = [3][]byte{makeMeta(tsExplicitLE), makeMeta(tsImplicitLE), makeMeta(tsExplicitBE)}

func makeMeta(uid string) []byte {
	if len(uid)%2 == 1 {
		uid += "\x00"
	}
	le := binary.LittleEndian
	ts := le.AppendUint16(le.AppendUint16(nil, 0x0002), 0x0010)
	ts = append(ts, 'U', 'I')
	ts = le.AppendUint16(ts, uint16(len(uid)))
	ts = append(ts, uid...)
	gl := le.AppendUint16(le.AppendUint16(nil, 0x0002), 0x0000)
	gl = append(gl, 'U', 'L')
	gl = le.AppendUint16(gl, 4)
	gl = le.AppendUint32(gl, uint32(len(ts)))
	out := make([]byte, 128, 128+4+len(gl)+len(ts))
	out = append(out, "DICM"...)
	out = append(out, gl...)
	return append(out, ts...)
}

// fileSyntax returns the transfer syntax UID that data's file meta group
// names, after the 128-byte preamble and magic when hasMagic; "" when none.
func fileSyntax(data []byte, hasMagic bool) string {
	if hasMagic {
		return peekTransferSyntax(data, 132)
	}
	return peekTransferSyntax(data, 0)
}

// peekTransferSyntax finds (0002,0010) in the explicit-VR-LE meta group that
// follows the preamble, without a full parse; "" when not found.
func peekTransferSyntax(data []byte, p int) string {
	for p+8 <= len(data) {
		group := uint16(data[p]) | uint16(data[p+1])<<8
		elem := uint16(data[p+2]) | uint16(data[p+3])<<8
		if group != 2 {
			return ""
		}
		vr := string(data[p+4 : p+6])
		var l, hdr int
		switch vr {
		case "OB", "OW", "OF", "SQ", "UT", "UN", "OD", "OL", "OV", "UC", "UR", "SV", "UV":
			if p+12 > len(data) {
				return ""
			}
			l = int(uint32(data[p+8]) | uint32(data[p+9])<<8 | uint32(data[p+10])<<16 | uint32(data[p+11])<<24)
			hdr = 12
		default:
			l = int(uint16(data[p+6]) | uint16(data[p+7])<<8)
			hdr = 8
		}
		if l < 0 || p+hdr+l > len(data) {
			return ""
		}
		if elem == 0x0010 {
			return strings.TrimRight(string(data[p+hdr:p+hdr+l]), " \x00")
		}
		p += hdr + l
	}
	return ""
}

// isKnownSyntax reports whether uid is a transfer syntax the parser can walk
// (every standard syntax except the deflate variants it does not support).
func isKnownSyntax(uid string) bool {
	if _, ok := transferSyntaxNames[uid]; !ok {
		return false
	}
	switch uid {
	case "1.2.840.10008.1.2.4.95", "1.2.840.10008.1.2.6.1", "1.2.840.10008.1.2.6.2":
		return false
	}
	return true
}

// looksLikeRawDataset reports whether data starts like a data set without a
// preamble: a group 0x0002 or 0x0008 tag in the first element.
func looksLikeRawDataset(data []byte) bool {
	if len(data) < 8 {
		return false
	}
	g := uint16(data[0]) | uint16(data[1])<<8
	return g == 0x0002 || g == 0x0008
}

// looksImplicit guesses, for a file without meta header, whether the first
// element is implicit VR (no two upper-case letters at bytes 4..5).
func looksImplicit(data []byte) bool {
	if len(data) < 6 {
		return true
	}
	a, b := data[4], data[5]
	return !(a >= 'A' && a <= 'Z' && b >= 'A' && b <= 'Z')
}
