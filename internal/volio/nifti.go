// Package volio reads and writes volume files: NIfTI-1 (.nii, .nii.gz),
// ITK MetaImage (.mhd with .raw/.zraw, .mha) and the provenance sidecar JSON
// that accompanies every preprocessed volume.
//
// In memory every volume is a volume.Volume in DICOM/ITK LPS world
// millimetres. NIfTI stores RAS millimetres; the conversion (negating the x and
// y world components) happens only inside this package, when a header is
// encoded or decoded. MetaImage stores LPS, like ITK, so it is not converted.
//
// Every file is written through internal/atomicfile (temporary file in the
// same folder, renamed when complete).
package volio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/lungctl/lungctl/internal/atomicfile"
	"github.com/lungctl/lungctl/internal/volume"
)

// Sentinel errors a caller may act on; returned errors wrap them and name the
// file.
var (
	// ErrFormat reports a file that is not a valid file of the format its
	// name claims, or whose header is corrupt or inconsistent.
	ErrFormat = errors.New("invalid or corrupt volume file")
	// ErrUnsupported reports a valid file that uses a feature volio does not
	// handle (NIfTI-2, a .hdr/.img pair, a 4-D series, an unknown datatype,
	// a multi-file MetaImage, ...).
	ErrUnsupported = errors.New("unsupported volume file feature")
	// ErrTruncated reports a file that ends before the voxel data its header
	// announces.
	ErrTruncated = errors.New("file shorter than its header announces")
)

// NIfTI-1 datatype codes (nifti1.h DT_*).
const (
	dtUint8   = 2
	dtInt16   = 4
	dtInt32   = 8
	dtFloat32 = 16
	dtFloat64 = 64
	dtInt8    = 256
	dtUint16  = 512
	dtUint32  = 768
	dtInt64   = 1024
	dtUint64  = 1280
)

const (
	niiHeaderSize = 348
	niiVoxOffset  = 352 // header + 4-byte extension flag
	// maxDeflateRatio bounds how much a DEFLATE stream can expand (about
	// 1032:1); used to reject a gzip file whose header announces more data
	// than its compressed size can possibly hold, before allocating.
	maxDeflateRatio = 1040
	// maxVoxels caps a volume at 2^31 voxels (a 2048×2048×512 CT is 2^31).
	maxVoxels = 1 << 31
)

// DefaultGzipLevel is the DEFLATE level WriteNIfTI uses for .nii.gz when
// NIfTIOptions.GzipLevel is 0: klauspost/compress level 1, compressed in
// parallel 1 MiB blocks. Measured on LIDC-IDRI-0001 resampled to 1 mm
// (360×360×331 int16, 85.8 MB; TestMeasureGzip, CPU seconds): this 0.52–0.65 s
// for ratio 2.04; Go's compress/gzip level 1 1.1 s (2.03), its default level 6
// 2.6–3.1 s (2.18); klauspost level 6 1.2–1.4 s (2.13), level 9 6.3 s (2.17).
// Higher levels cost 2–10× the time for files 4–7 % smaller.
const DefaultGzipLevel = 1

// NIfTIOptions tunes WriteNIfTI.
type NIfTIOptions struct {
	// Description goes into the header's descrip field (at most 79 bytes
	// are kept).
	Description string
	// GzipLevel is the DEFLATE level 1 (fastest) … 9 (smallest) for .nii.gz;
	// 0 means DefaultGzipLevel; -2 is Huffman-only. Ignored for .nii.
	GzipLevel int
	// Workers caps the blocks compressed at once for .nii.gz; 0 means as
	// many as internal/par's worker budget allows.
	Workers int
}

// niiHeader is the part of a NIfTI-1 header volio uses.
type niiHeader struct {
	order     binary.ByteOrder
	dims      [3]int
	datatype  int16
	bitpix    int16
	voxOffset int64
	slope     float64
	inter     float64
	grid      volume.Grid
}

func (h *niiHeader) elemSize() int {
	switch h.datatype {
	case dtUint8, dtInt8:
		return 1
	case dtInt16, dtUint16:
		return 2
	case dtInt32, dtUint32, dtFloat32:
		return 4
	case dtFloat64, dtInt64, dtUint64:
		return 8
	}
	return 0
}

func (h *niiHeader) scaled() bool {
	return h.slope != 0 && !(h.slope == 1 && h.inter == 0)
}

// dataBytes is the size in bytes of the voxel data the header announces.
func (h *niiHeader) dataBytes() int64 {
	return int64(h.dims[0]) * int64(h.dims[1]) * int64(h.dims[2]) * int64(h.elemSize())
}

// parseNIfTIHeader decodes and validates the first 348 bytes of a NIfTI-1
// file.
func parseNIfTIHeader(b []byte) (niiHeader, error) {
	var h niiHeader
	if len(b) < niiHeaderSize {
		return h, fmt.Errorf("%w: %d-byte header, want %d", ErrTruncated, len(b), niiHeaderSize)
	}
	switch {
	case binary.LittleEndian.Uint32(b[0:]) == niiHeaderSize:
		h.order = binary.LittleEndian
	case binary.BigEndian.Uint32(b[0:]) == niiHeaderSize:
		h.order = binary.BigEndian
	case binary.LittleEndian.Uint32(b[0:]) == 540 || binary.BigEndian.Uint32(b[0:]) == 540:
		return h, fmt.Errorf("%w: NIfTI-2 header (sizeof_hdr 540); only NIfTI-1 is read", ErrUnsupported)
	default:
		return h, fmt.Errorf("%w: sizeof_hdr is not 348 in either byte order: not a NIfTI-1 file", ErrFormat)
	}
	o := h.order
	i16 := func(off int) int16 { return int16(o.Uint16(b[off:])) }
	f32 := func(off int) float64 { return float64(math.Float32frombits(o.Uint32(b[off:]))) }

	magic := string(b[344:348])
	switch magic {
	case "n+1\x00":
	case "ni1\x00":
		return h, fmt.Errorf("%w: NIfTI-1 .hdr/.img pair (magic ni1); convert to a single .nii", ErrUnsupported)
	default:
		return h, fmt.Errorf("%w: magic %q, want \"n+1\"", ErrFormat, strings.TrimRight(magic, "\x00"))
	}

	var dim [8]int
	for i := range dim {
		dim[i] = int(i16(40 + 2*i))
	}
	switch {
	case dim[0] == 3:
	case dim[0] == 4 && dim[4] == 1:
	default:
		return h, fmt.Errorf("%w: dim[0]=%d (dims %v); only 3-D volumes (or 4-D with one time point) are read",
			ErrUnsupported, dim[0], dim[1:])
	}
	nvox := int64(1)
	for a := 0; a < 3; a++ {
		if dim[a+1] <= 0 {
			return h, fmt.Errorf("%w: dim[%d]=%d", ErrFormat, a+1, dim[a+1])
		}
		h.dims[a] = dim[a+1]
		nvox *= int64(dim[a+1])
	}
	if nvox > maxVoxels {
		return h, fmt.Errorf("%w: %d voxels exceeds the %d-voxel limit", ErrUnsupported, nvox, int64(maxVoxels))
	}

	h.datatype = i16(70)
	h.bitpix = i16(72)
	if h.elemSize() == 0 {
		return h, fmt.Errorf("%w: datatype code %d", ErrUnsupported, h.datatype)
	}
	if int(h.bitpix) != 8*h.elemSize() {
		return h, fmt.Errorf("%w: bitpix %d does not match datatype %d", ErrFormat, h.bitpix, h.datatype)
	}

	vo := f32(108)
	if !(vo >= niiHeaderSize) || vo > 1<<30 || vo != math.Trunc(vo) {
		return h, fmt.Errorf("%w: vox_offset %v", ErrFormat, vo)
	}
	h.voxOffset = int64(vo)

	h.slope, h.inter = f32(112), f32(116)
	if math.IsNaN(h.slope) || math.IsInf(h.slope, 0) {
		h.slope = 0 // NIfTI: unusable slope means no scaling
	}
	if math.IsNaN(h.inter) || math.IsInf(h.inter, 0) {
		h.inter = 0
	}

	ras := niiAffine(b, o)
	g, err := rasToGrid(ras, h.dims)
	if err != nil {
		return h, err
	}
	h.grid = g
	return h, nil
}

// niiAffine is the header's voxel (i,j,k) → RAS mm affine, by NIfTI's
// precedence: sform, then qform, then pixdim alone.
func niiAffine(b []byte, o binary.ByteOrder) [3][4]float64 {
	i16 := func(off int) int16 { return int16(o.Uint16(b[off:])) }
	f32 := func(off int) float64 { return float64(math.Float32frombits(o.Uint32(b[off:]))) }
	var pixdim [8]float64
	for i := range pixdim {
		pixdim[i] = f32(76 + 4*i)
	}
	qcode, scode := i16(252), i16(254)

	var ras [3][4]float64
	switch {
	case scode > 0:
		for r := 0; r < 3; r++ {
			for c := 0; c < 4; c++ {
				ras[r][c] = f32(280 + 16*r + 4*c)
			}
		}
	case qcode > 0:
		qfac := 1.0
		if pixdim[0] < 0 {
			qfac = -1
		}
		rot := quaternToMatrix(f32(256), f32(260), f32(264))
		sp := [3]float64{pixdim[1], pixdim[2], pixdim[3] * qfac}
		for r := 0; r < 3; r++ {
			for c := 0; c < 3; c++ {
				ras[r][c] = rot[r][c] * sp[c]
			}
		}
		ras[0][3], ras[1][3], ras[2][3] = f32(268), f32(272), f32(276)
	default: // method 1: pixdim only
		for a := 0; a < 3; a++ {
			ras[a][a] = pixdim[a+1]
		}
	}
	return ras
}

// rasToGrid turns a NIfTI voxel→RAS affine into an LPS Grid: the x and y rows
// are negated, spacing is the column norm and direction the unit column.
func rasToGrid(ras [3][4]float64, dims [3]int) (volume.Grid, error) {
	g := volume.Grid{Dims: dims}
	for r := 0; r < 3; r++ {
		s := 1.0
		if r < 2 {
			s = -1
		}
		for c := 0; c < 4; c++ {
			ras[r][c] *= s
		}
		g.Origin[r] = ras[r][3]
	}
	for c := 0; c < 3; c++ {
		n := math.Sqrt(ras[0][c]*ras[0][c] + ras[1][c]*ras[1][c] + ras[2][c]*ras[2][c])
		if !(n > 0) || math.IsInf(n, 0) {
			return g, fmt.Errorf("%w: affine column %d has zero or non-finite length", ErrFormat, c)
		}
		g.Spacing[c] = n
		for r := 0; r < 3; r++ {
			g.Direction[r][c] = ras[r][c] / n
		}
	}
	if err := g.Validate(); err != nil {
		return g, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return g, nil
}

// gridToRAS is the voxel → RAS mm affine (3 rows) of an LPS grid.
func gridToRAS(g volume.Grid) [3][4]float64 {
	a := g.Affine()
	var m [3][4]float64
	for r := 0; r < 3; r++ {
		s := 1.0
		if r < 2 {
			s = -1
		}
		for c := 0; c < 4; c++ {
			m[r][c] = s * a[r][c]
		}
	}
	return m
}

// quaternToMatrix is the rotation matrix of the unit quaternion (a,b,c,d)
// with a = sqrt(1-b²-c²-d²) (nifti1.h, method 2).
func quaternToMatrix(b, c, d float64) [3][3]float64 {
	a := 1 - (b*b + c*c + d*d)
	if a <= 0 { // 180° rotation (or rounding past it): renormalise (b,c,d), a = 0
		n := math.Sqrt(b*b + c*c + d*d)
		if n > 0 {
			b, c, d = b/n, c/n, d/n
		}
		a = 0
	} else {
		a = math.Sqrt(a)
	}
	return [3][3]float64{
		{a*a + b*b - c*c - d*d, 2 * (b*c - a*d), 2 * (b*d + a*c)},
		{2 * (b*c + a*d), a*a + c*c - b*b - d*d, 2 * (c*d - a*b)},
		{2 * (b*d - a*c), 2 * (c*d + a*b), a*a + d*d - c*c - b*b},
	}
}

// matrixToQuatern returns the quaternion (b,c,d) and qfac of an orthonormal
// matrix r (columns = unit axes); qfac = -1 when r is left-handed, in which
// case the rotation is that of r with its third column negated.
func matrixToQuatern(r [3][3]float64) (b, c, d, qfac float64) {
	qfac = 1
	det := r[0][0]*(r[1][1]*r[2][2]-r[1][2]*r[2][1]) -
		r[0][1]*(r[1][0]*r[2][2]-r[1][2]*r[2][0]) +
		r[0][2]*(r[1][0]*r[2][1]-r[1][1]*r[2][0])
	if det < 0 {
		qfac = -1
		for i := 0; i < 3; i++ {
			r[i][2] = -r[i][2]
		}
	}
	var a float64
	tr := r[0][0] + r[1][1] + r[2][2] + 1
	if tr > 0.5 {
		a = 0.5 * math.Sqrt(tr)
		b = 0.25 * (r[2][1] - r[1][2]) / a
		c = 0.25 * (r[0][2] - r[2][0]) / a
		d = 0.25 * (r[1][0] - r[0][1]) / a
	} else {
		xd := 1 + r[0][0] - (r[1][1] + r[2][2])
		yd := 1 + r[1][1] - (r[0][0] + r[2][2])
		zd := 1 + r[2][2] - (r[0][0] + r[1][1])
		switch {
		case xd > 1:
			b = 0.5 * math.Sqrt(xd)
			c = 0.25 * (r[0][1] + r[1][0]) / b
			d = 0.25 * (r[0][2] + r[2][0]) / b
			a = 0.25 * (r[2][1] - r[1][2]) / b
		case yd > 1:
			c = 0.5 * math.Sqrt(yd)
			b = 0.25 * (r[0][1] + r[1][0]) / c
			d = 0.25 * (r[1][2] + r[2][1]) / c
			a = 0.25 * (r[0][2] - r[2][0]) / c
		default:
			d = 0.5 * math.Sqrt(zd)
			b = 0.25 * (r[0][2] + r[2][0]) / d
			c = 0.25 * (r[1][2] + r[2][1]) / d
			a = 0.25 * (r[1][0] - r[0][1]) / d
		}
		if a < 0 {
			b, c, d = -b, -c, -d
		}
	}
	return b, c, d, qfac
}

// isOrthogonal reports whether the direction columns are mutually
// perpendicular (within 1e-4), i.e. a qform can represent the grid.
func isOrthogonal(d [3][3]float64) bool {
	for a := 0; a < 3; a++ {
		for b := a + 1; b < 3; b++ {
			if math.Abs(d[0][a]*d[0][b]+d[1][a]*d[1][b]+d[2][a]*d[2][b]) > 1e-4 {
				return false
			}
		}
	}
	return true
}

// encodeNIfTIHeader builds the 352-byte little-endian header + empty
// extension flag for grid g and datatype dt. sform and qform both encode
// the grid (code 1, scanner anatomical); a sheared grid gets sform only
// (qform_code 0) because a quaternion cannot represent shear.
func encodeNIfTIHeader(g volume.Grid, dt int16, bitpix int16, descrip string) []byte {
	b := make([]byte, niiVoxOffset)
	o := binary.LittleEndian
	p16 := func(off int, v int16) { o.PutUint16(b[off:], uint16(v)) }
	pf := func(off int, v float64) { o.PutUint32(b[off:], math.Float32bits(float32(v))) }
	o.PutUint32(b[0:], niiHeaderSize)
	b[38] = 'r'
	p16(40, 3)
	for a := 0; a < 3; a++ {
		p16(42+2*a, int16(g.Dims[a]))
	}
	for i := 4; i < 8; i++ {
		p16(40+2*i, 1)
	}
	p16(70, dt)
	p16(72, bitpix)
	pf(76, 1) // qfac, overwritten below
	for a := 0; a < 3; a++ {
		pf(80+4*a, g.Spacing[a])
	}
	pf(92, 0)
	pf(108, niiVoxOffset)
	pf(112, 1) // scl_slope: data are the values themselves
	pf(116, 0)
	b[123] = 2 // xyzt_units: NIFTI_UNITS_MM
	if len(descrip) > 79 {
		descrip = descrip[:79]
	}
	copy(b[148:228], descrip)

	ras := gridToRAS(g)
	p16(254, 1) // sform_code NIFTI_XFORM_SCANNER_ANAT
	for r := 0; r < 3; r++ {
		for c := 0; c < 4; c++ {
			pf(280+16*r+4*c, ras[r][c])
		}
	}
	if isOrthogonal(g.Direction) {
		var rot [3][3]float64
		for r := 0; r < 3; r++ {
			s := 1.0
			if r < 2 {
				s = -1
			}
			for c := 0; c < 3; c++ {
				rot[r][c] = s * g.Direction[r][c]
			}
		}
		qb, qc, qd, qfac := matrixToQuatern(rot)
		p16(252, 1)
		pf(76, qfac)
		pf(256, qb)
		pf(260, qc)
		pf(264, qd)
		pf(268, ras[0][3])
		pf(272, ras[1][3])
		pf(276, ras[2][3])
	}
	copy(b[344:], "n+1\x00")
	return b
}

// datatypeOf returns the NIfTI datatype for a volume element type.
func datatypeOf[T volume.Voxel]() (int16, int16) {
	var z T
	switch any(z).(type) {
	case uint8:
		return dtUint8, 8
	case int16:
		return dtInt16, 16
	case float32:
		return dtFloat32, 32
	}
	// Named types with these underlying types: decide by size and float-ness.
	switch sizeOf[T]() {
	case 1:
		return dtUint8, 8
	case 2:
		return dtInt16, 16
	}
	return dtFloat32, 32
}

// MaxNIfTIDim is the most voxels NIfTI-1 stores along an axis (its dim[]
// fields are int16).
const MaxNIfTIDim = math.MaxInt16

// CheckNIfTIDims returns an error wrapping ErrUnsupported when a grid of
// dims cannot be stored in NIfTI-1 (an axis over MaxNIfTIDim voxels), so
// that a caller can refuse it before it computes the volume.
func CheckNIfTIDims(dims [3]int) error {
	for a := 0; a < 3; a++ {
		if dims[a] > MaxNIfTIDim {
			return fmt.Errorf("%w: dimension %d > %d cannot be stored in NIfTI-1", ErrUnsupported, dims[a], MaxNIfTIDim)
		}
	}
	return nil
}

// WriteNIfTI writes v to path as NIfTI-1 (single file, vox_offset 352,
// little endian), gzip-compressed when path ends in ".gz". uint8 volumes are
// written as DT_UINT8, int16 as DT_INT16 (HU), float32 as DT_FLOAT32; the
// voxel→world map goes into both sform and qform (code 1, RAS mm: LPS x and y
// negated; pixdim = spacing in mm), or into the sform alone (qform_code 0) for
// a sheared grid. The file is written atomically.
func WriteNIfTI[T volume.Voxel](path string, v *volume.Volume[T], opt NIfTIOptions) error {
	if v == nil {
		return fmt.Errorf("volio: %s: nil volume", path)
	}
	if err := v.Check(); err != nil {
		return fmt.Errorf("volio: %s: %w", path, err)
	}
	if err := CheckNIfTIDims(v.Dims); err != nil {
		return fmt.Errorf("volio: %s: %w", path, err)
	}
	dt, bitpix := datatypeOf[T]()
	hdr := encodeNIfTIHeader(v.Grid, dt, bitpix, opt.Description)
	data := leBytes(v.Data)
	gz := strings.HasSuffix(strings.ToLower(path), ".gz")
	err := atomicfile.Write(path, func(w io.Writer) error {
		if gz {
			lvl := opt.GzipLevel
			if lvl == 0 {
				lvl = DefaultGzipLevel
			}
			return writeGzipParallel(w, [][]byte{hdr, data}, lvl, opt.Workers)
		}
		if _, err := w.Write(hdr); err != nil {
			return err
		}
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return fmt.Errorf("volio: %w", err)
	}
	return nil
}
