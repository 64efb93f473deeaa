package volio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zlib"

	"github.com/lungctl/lungctl/internal/atomicfile"
	"github.com/lungctl/lungctl/internal/hounsfield"
	"github.com/lungctl/lungctl/internal/safefile"
	"github.com/lungctl/lungctl/internal/volume"
)

// maxMHDHeader bounds the size of a MetaImage text header, in bytes up to
// and including the ElementDataFile line (ITK writes a few hundred). The
// header is read through a limit of one byte more, so a longer one (an
// endless Comment line) is refused after at most that much is read.
const maxMHDHeader = 1 << 16

// mhdHeader is the parsed part of a MetaImage header volio uses.
type mhdHeader struct {
	dims       [3]int
	grid       volume.Grid
	datatype   int16 // NIfTI datatype code of ElementType
	order      binary.ByteOrder
	compressed bool
	headerSize int64  // HeaderSize (-1: data are the last bytes of the file)
	dataFile   string // "LOCAL" or a path relative to the header
	dataOffset int64  // for LOCAL: where the data start in the header file
}

var metTypes = map[string]int16{
	"MET_UCHAR":  dtUint8,
	"MET_CHAR":   dtInt8,
	"MET_SHORT":  dtInt16,
	"MET_USHORT": dtUint16,
	"MET_INT":    dtInt32,
	"MET_UINT":   dtUint32,
	"MET_LONG":   dtInt32, // MetaIO: MET_LONG is 32-bit
	"MET_ULONG":  dtUint32,
	"MET_FLOAT":  dtFloat32,
	"MET_DOUBLE": dtFloat64,
}

func parseFloats(v string, n int) ([]float64, error) {
	f := strings.Fields(v)
	if len(f) != n {
		return nil, fmt.Errorf("want %d numbers, got %q", n, v)
	}
	out := make([]float64, n)
	for i, s := range f {
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("bad number %q", s)
		}
		out[i] = x
	}
	return out, nil
}

func parseBool(v string) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	return v == "true" || v == "1" || v == "yes"
}

// parseMHDHeader reads "Key = Value" lines from r until ElementDataFile
// (always the last header field). TransformMatrix (alias Orientation,
// Rotation) lists the direction matrix axis by axis, as ITK writes it:
// numbers 3c..3c+2 are the LPS components of axis c (so the identity
// 1 0 0 0 1 0 0 0 1 of LUNA16 means axis-aligned LPS). Offset (alias Position,
// Origin) is the LPS world position of voxel (0,0,0) in mm. At most
// maxMHDHeader+1 bytes of r are read (through its own buffer, so r's read
// position afterwards is not the header's end: LOCAL data start at
// dataOffset).
func parseMHDHeader(src io.Reader) (mhdHeader, error) {
	r := bufio.NewReaderSize(io.LimitReader(src, maxMHDHeader+1), 4096)
	h := mhdHeader{order: binary.LittleEndian, grid: volume.Grid{Direction: volume.Identity}}
	h.grid.Spacing = volume.Vec3{1, 1, 1}
	h.datatype = -1
	var read int64
	seen := map[string]bool{}
	for {
		line, err := r.ReadString('\n')
		read += int64(len(line))
		if read > maxMHDHeader {
			return h, fmt.Errorf("%w: header longer than %d bytes without ElementDataFile", ErrFormat, maxMHDHeader)
		}
		if err != nil && (err != io.EOF || line == "") {
			return h, fmt.Errorf("%w: header ends before ElementDataFile", ErrFormat)
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return h, fmt.Errorf("%w: header line %q is not 'Key = Value'", ErrFormat, line)
		}
		key = strings.ToLower(strings.TrimSpace(key))
		val = strings.TrimSpace(val)
		seen[key] = true
		if key == "elementdatafile" {
			return h, h.dataFileAt(val, read)
		}
		if perr := h.set(key, val, seen); perr != nil {
			if isSentinel(perr) {
				return h, perr
			}
			return h, fmt.Errorf("%w: %w", ErrFormat, perr)
		}
	}
}

// set records one header field other than ElementDataFile; seen holds the
// keys read so far (ElementSpacing wins over ElementSize). Its error is
// wrapped in ErrFormat unless it is a sentinel already.
func (h *mhdHeader) set(key, val string, seen map[string]bool) error {
	var perr error
	switch key {
	case "objecttype":
		if !strings.EqualFold(val, "Image") {
			perr = fmt.Errorf("%w: ObjectType %q, want Image", ErrUnsupported, val)
		}
	case "ndims":
		if val != "3" {
			perr = fmt.Errorf("%w: NDims %s; only 3-D images are read", ErrUnsupported, val)
		}
	case "dimsize":
		var d []float64
		if d, perr = parseFloats(val, 3); perr == nil {
			n := int64(1)
			for a := 0; a < 3; a++ {
				if d[a] < 1 || d[a] > 1<<20 || d[a] != math.Trunc(d[a]) {
					perr = fmt.Errorf("DimSize %q", val)
					break
				}
				h.dims[a] = int(d[a])
				n *= int64(d[a])
			}
			if perr == nil && n > maxVoxels {
				perr = fmt.Errorf("%w: %d voxels exceeds the %d-voxel limit", ErrUnsupported, n, int64(maxVoxels))
			}
		}
	case "elementspacing", "elementsize":
		if key == "elementsize" && seen["elementspacing"] {
			break
		}
		var s []float64
		if s, perr = parseFloats(val, 3); perr == nil {
			copy(h.grid.Spacing[:], s)
		}
	case "offset", "position", "origin":
		var s []float64
		if s, perr = parseFloats(val, 3); perr == nil {
			copy(h.grid.Origin[:], s)
		}
	case "transformmatrix", "orientation", "rotation":
		var s []float64
		if s, perr = parseFloats(val, 9); perr == nil {
			for c := 0; c < 3; c++ {
				for rr := 0; rr < 3; rr++ {
					h.grid.Direction[rr][c] = s[3*c+rr]
				}
			}
		}
	case "elementtype":
		dt, ok := metTypes[strings.ToUpper(val)]
		if !ok {
			perr = fmt.Errorf("%w: ElementType %q", ErrUnsupported, val)
		}
		h.datatype = dt
	case "elementbyteordermsb", "binarydatabyteordermsb":
		if parseBool(val) {
			h.order = binary.BigEndian
		} else {
			h.order = binary.LittleEndian
		}
	case "compresseddata":
		h.compressed = parseBool(val)
	case "binarydata":
		if !parseBool(val) {
			perr = fmt.Errorf("%w: BinaryData = False (ASCII voxel data)", ErrUnsupported)
		}
	case "elementnumberofchannels":
		if val != "1" {
			perr = fmt.Errorf("%w: ElementNumberOfChannels %s", ErrUnsupported, val)
		}
	case "headersize":
		x, err := strconv.ParseInt(val, 10, 64)
		if err != nil || x < -1 {
			perr = fmt.Errorf("HeaderSize %q", val)
		}
		h.headerSize = x
	}
	return perr
}

// dataFileAt records ElementDataFile (the last field; the data starts at
// offset read for LOCAL) and checks that the header is complete.
func (h *mhdHeader) dataFileAt(val string, read int64) error {
	if val == "" || strings.EqualFold(val, "LIST") || strings.ContainsAny(val, " %") {
		return fmt.Errorf("%w: ElementDataFile %q (only LOCAL or one file is read)", ErrUnsupported, val)
	}
	h.dataFile = val
	h.dataOffset = read
	if h.datatype < 0 {
		return fmt.Errorf("%w: no ElementType", ErrFormat)
	}
	if h.dims[0] == 0 {
		return fmt.Errorf("%w: no DimSize", ErrFormat)
	}
	h.grid.Dims = h.dims
	if err := h.grid.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return nil
}

func isSentinel(err error) bool {
	return errors.Is(err, ErrFormat) || errors.Is(err, ErrUnsupported) || errors.Is(err, ErrTruncated)
}

func readMHDFile[T volume.Voxel](path string, alloc func(volume.Grid) []T) (clamped int, err error) {
	f, err := safefile.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	h, err := parseMHDHeader(f)
	if err != nil {
		return 0, err
	}
	var df *os.File
	if strings.EqualFold(h.dataFile, "LOCAL") {
		df = f
		if _, err := f.Seek(h.dataOffset, io.SeekStart); err != nil {
			return 0, err
		}
	} else {
		// The data file must lie beside the header: no absolute path, no
		// "..", no link leading out, and a regular file (not a FIFO or a
		// device, which would hang or never end).
		df, err = safefile.OpenBeside(path, h.dataFile)
		if err != nil {
			return 0, fmt.Errorf("ElementDataFile: %w", err)
		}
		defer df.Close()
	}
	st, err := df.Stat()
	if err != nil {
		return 0, err
	}
	avail := st.Size()
	if df == f {
		avail -= h.dataOffset
	}
	nbytes := int64(h.grid.Len()) * int64(dtSize(h.datatype))
	// The voxels are budget-checked before anything is skipped or read.
	if err := checkAlloc[T](h.grid); err != nil {
		return 0, err
	}
	switch {
	case h.compressed:
		if h.headerSize > 0 {
			if h.headerSize > avail {
				return 0, fmt.Errorf("%w: data file %s: HeaderSize %d of %d bytes", ErrTruncated, df.Name(), h.headerSize, avail)
			}
			if _, err := df.Seek(h.headerSize, io.SeekCurrent); err != nil {
				return 0, err
			}
			avail -= h.headerSize
		}
		if nbytes > avail*maxDeflateRatio+1024 {
			return 0, fmt.Errorf("%w: %d bytes of voxel data cannot come from %d compressed bytes in %s",
				ErrTruncated, nbytes, avail, df.Name())
		}
	default:
		skip := h.headerSize
		if skip == -1 {
			skip = avail - nbytes
		}
		if skip < 0 || skip+nbytes > avail {
			return 0, fmt.Errorf("%w: data file %s holds %d bytes, header announces %d (+%d skipped)",
				ErrTruncated, df.Name(), avail, nbytes, max(skip, 0))
		}
		if skip > 0 {
			// Seek, not read: the file may be a huge sparse one.
			if _, err := df.Seek(skip, io.SeekCurrent); err != nil {
				return 0, err
			}
		}
	}
	// One buffered reader from where the data start (after any seek).
	var src io.Reader = bufio.NewReaderSize(df, 1<<16)
	if h.compressed {
		zr, err := zlib.NewReader(src)
		if err != nil {
			return 0, fmt.Errorf("%w: data file %s: zlib: %w", ErrFormat, df.Name(), err)
		}
		defer zr.Close()
		src = zr
	}
	dst := alloc(h.grid) // budget-checked above
	bad, clamped, err := readSamples(src, dst, h.datatype, h.order, 1, 0, false)
	if err != nil {
		return 0, fmt.Errorf("data file %s: %w", df.Name(), err)
	}
	if h.compressed {
		// Only the stream's end checks its Adler-32: a corrupt stored
		// block inflates without complaint.
		if err := drainZlib(src); err != nil {
			return 0, fmt.Errorf("%w: data file %s: %w", ErrFormat, df.Name(), err)
		}
	}
	if err := nonFiniteErr[T](bad, len(dst)); err != nil {
		return 0, err
	}
	if _, err := hounsfield.Saturation(clamped, len(dst)); err != nil {
		return 0, err
	}
	return clamped, nil
}

// maxZlibTail bounds the inflated bytes drainZlib reads after the voxels.
const maxZlibTail = 1 << 20

// drainZlib reads the zlib stream r to its end, which verifies its
// checksum (errors say "zlib: ..."); a stream going on for more than
// maxZlibTail bytes after the voxels the header announces is an error too.
func drainZlib(r io.Reader) error {
	_, err := io.CopyN(io.Discard, r, maxZlibTail+1)
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return err
	}
	return fmt.Errorf("zlib: the stream goes on for more than %d bytes after the voxels the header announces", maxZlibTail)
}

// MHDOptions tunes WriteMHD.
type MHDOptions struct {
	// Compress writes the voxels zlib-compressed to <base>.zraw
	// (CompressedData = True) instead of raw to <base>.raw.
	Compress bool
}

// WriteMHD writes v as an ITK MetaImage: the text header at path (.mhd) and
// the voxels, little endian, in <base>.raw (or .zraw when opt.Compress) next
// to it. Offset is the LPS world position of voxel (0,0,0) in mm,
// ElementSpacing the spacing in mm, TransformMatrix the direction matrix
// axis by axis (ITK's layout). uint8 → MET_UCHAR, int16 → MET_SHORT,
// float32 → MET_FLOAT. Both files are written atomically, data first.
func WriteMHD[T volume.Voxel](path string, v *volume.Volume[T], opt MHDOptions) error {
	if v == nil {
		return fmt.Errorf("volio: %s: nil volume", path)
	}
	if err := v.Check(); err != nil {
		return fmt.Errorf("volio: %s: %w", path, err)
	}
	base := strings.TrimSuffix(path, filepath.Ext(path))
	ext := ".raw"
	if opt.Compress {
		ext = ".zraw"
	}
	dataPath := base + ext
	data := leBytes(v.Data)
	var csize int64
	err := atomicfile.Write(dataPath, func(w io.Writer) error {
		if !opt.Compress {
			_, err := w.Write(data)
			return err
		}
		cw := &countWriter{w: w}
		zw, err := zlib.NewWriterLevel(cw, zlib.BestSpeed)
		if err != nil {
			return err
		}
		if _, err := zw.Write(data); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		csize = cw.n
		return nil
	})
	if err != nil {
		return fmt.Errorf("volio: %w", err)
	}
	var met string
	switch datatypeOfMust[T]() {
	case dtUint8:
		met = "MET_UCHAR"
	case dtInt16:
		met = "MET_SHORT"
	default:
		met = "MET_FLOAT"
	}
	g := v.Grid
	var b bytes.Buffer
	fmt.Fprintf(&b, "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n")
	fmt.Fprintf(&b, "CompressedData = %s\n", map[bool]string{true: "True", false: "False"}[opt.Compress])
	if opt.Compress {
		fmt.Fprintf(&b, "CompressedDataSize = %d\n", csize)
	}
	fmt.Fprintf(&b, "TransformMatrix =")
	for c := 0; c < 3; c++ {
		for r := 0; r < 3; r++ {
			fmt.Fprintf(&b, " %s", fmtF(g.Direction[r][c]))
		}
	}
	fmt.Fprintf(&b, "\nOffset = %s %s %s\n", fmtF(g.Origin[0]), fmtF(g.Origin[1]), fmtF(g.Origin[2]))
	fmt.Fprintf(&b, "CenterOfRotation = 0 0 0\n")
	fmt.Fprintf(&b, "ElementSpacing = %s %s %s\n", fmtF(g.Spacing[0]), fmtF(g.Spacing[1]), fmtF(g.Spacing[2]))
	fmt.Fprintf(&b, "DimSize = %d %d %d\nElementType = %s\nElementDataFile = %s\n",
		g.Dims[0], g.Dims[1], g.Dims[2], met, filepath.Base(dataPath))
	if err := atomicfile.WriteBytes(path, b.Bytes()); err != nil {
		return fmt.Errorf("volio: %w", err)
	}
	return nil
}

func datatypeOfMust[T volume.Voxel]() int16 {
	dt, _ := datatypeOf[T]()
	return dt
}

func fmtF(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
