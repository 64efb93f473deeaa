package volio

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"unsafe"

	"github.com/lungctl/lungctl/internal/volume"
)

// hostLittle reports whether this machine stores integers little endian.
var hostLittle = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

func sizeOf[T volume.Voxel]() int {
	var z T
	return int(unsafe.Sizeof(z))
}

// byteView is the memory of s as bytes (no copy).
func byteView[T volume.Voxel](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*sizeOf[T]())
}

// leBytes returns s encoded little endian: its own memory on a little-endian
// host, a converted copy otherwise.
func leBytes[T volume.Voxel](s []T) []byte {
	b := byteView(s)
	if hostLittle || sizeOf[T]() == 1 {
		return b
	}
	c := make([]byte, len(b))
	copy(c, b)
	swapInPlace(c, sizeOf[T]())
	return c
}

// swapInPlace reverses the byte order of each size-byte element of b.
func swapInPlace(b []byte, size int) {
	switch size {
	case 2:
		for i := 0; i+1 < len(b); i += 2 {
			b[i], b[i+1] = b[i+1], b[i]
		}
	case 4:
		for i := 0; i+3 < len(b); i += 4 {
			b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
		}
	case 8:
		for i := 0; i+7 < len(b); i += 8 {
			b[i], b[i+1], b[i+2], b[i+3], b[i+4], b[i+5], b[i+6], b[i+7] =
				b[i+7], b[i+6], b[i+5], b[i+4], b[i+3], b[i+2], b[i+1], b[i]
		}
	}
}

// nativeDatatype is the file datatype whose samples equal T's in-memory
// representation.
func nativeDatatype(dst any) int16 {
	switch dst.(type) {
	case []uint8:
		return dtUint8
	case []int16:
		return dtInt16
	case []float32:
		return dtFloat32
	}
	return -1
}

// readSamples fills dst with len(dst) samples of datatype dt in byte order
// order read from r, applying value = raw*slope + inter when scaled, and
// converting to dst's element type (integers rounded half away from zero and
// clamped to the type's range). It returns how many values were NaN or
// infinite: int16 stores them as −1000 and uint8 as 0 (the caller refuses a
// HU volume that has any), float32 keeps them; and how many int16 values
// were clamped to the type's range (see hounsfield.Saturation).
func readSamples[T volume.Voxel](r io.Reader, dst []T, dt int16, order binary.ByteOrder, slope, inter float64, scaled bool) (nonFinite, clamped int, err error) {
	es := dtSize(dt)
	if es == 0 {
		return 0, 0, fmt.Errorf("%w: datatype %d", ErrUnsupported, dt)
	}
	if !scaled && nativeDatatype(any(dst)) == dt {
		b := byteView(dst)
		if n, err := io.ReadFull(r, b); err != nil {
			return 0, 0, fmt.Errorf("%w: voxel data: read %d of %d bytes: %w", ErrTruncated, n, len(b), err)
		}
		fileLittle := order == binary.LittleEndian
		if es > 1 && fileLittle != hostLittle {
			swapInPlace(b, es)
		}
		if dt == dtFloat32 {
			for _, x := range any(dst).([]float32) {
				if x != x || math.IsInf(float64(x), 0) {
					nonFinite++
				}
			}
		}
		return nonFinite, 0, nil
	}
	if !scaled {
		slope, inter = 1, 0
	}
	const chunk = 1 << 16 // samples per chunk
	raw := make([]byte, chunk*es)
	vals := make([]float64, chunk)
	total := len(dst) * es
	done := 0
	for off := 0; off < len(dst); off += chunk {
		n := min(chunk, len(dst)-off)
		if m, err := io.ReadFull(r, raw[:n*es]); err != nil {
			return nonFinite, clamped, fmt.Errorf("%w: voxel data: read %d of %d bytes: %w", ErrTruncated, done+m, total, err)
		}
		done += n * es
		decodeRaw(vals[:n], raw[:n*es], dt, order)
		if scaled {
			for i := range vals[:n] {
				vals[i] = vals[i]*slope + inter
			}
		}
		for _, x := range vals[:n] {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				nonFinite++
			}
		}
		clamped += storeValues(dst[off:off+n], vals[:n])
	}
	return nonFinite, clamped, nil
}

func dtSize(dt int16) int {
	h := niiHeader{datatype: dt}
	return h.elemSize()
}

// decodeRaw converts len(out) samples of datatype dt to float64.
func decodeRaw(out []float64, b []byte, dt int16, o binary.ByteOrder) {
	switch dt {
	case dtUint8:
		for i := range out {
			out[i] = float64(b[i])
		}
	case dtInt8:
		for i := range out {
			out[i] = float64(int8(b[i]))
		}
	case dtInt16:
		for i := range out {
			out[i] = float64(int16(o.Uint16(b[2*i:])))
		}
	case dtUint16:
		for i := range out {
			out[i] = float64(o.Uint16(b[2*i:]))
		}
	case dtInt32:
		for i := range out {
			out[i] = float64(int32(o.Uint32(b[4*i:])))
		}
	case dtUint32:
		for i := range out {
			out[i] = float64(o.Uint32(b[4*i:]))
		}
	case dtFloat32:
		for i := range out {
			out[i] = float64(math.Float32frombits(o.Uint32(b[4*i:])))
		}
	case dtFloat64:
		for i := range out {
			out[i] = math.Float64frombits(o.Uint64(b[8*i:]))
		}
	case dtInt64:
		for i := range out {
			out[i] = float64(int64(o.Uint64(b[8*i:])))
		}
	case dtUint64:
		for i := range out {
			out[i] = float64(o.Uint64(b[8*i:]))
		}
	}
}

// storeValues converts float64 values into dst's element type. For int16
// it returns how many values lay beyond the type's range (rounded) and were
// clamped; 0 for the other types.
func storeValues[T volume.Voxel](dst []T, vals []float64) (clamped int) {
	switch d := any(dst).(type) {
	case []int16:
		for i, x := range vals {
			switch {
			case math.IsNaN(x):
				d[i] = -1000
			case x >= math.MaxInt16:
				if math.Round(x) > math.MaxInt16 {
					clamped++
				}
				d[i] = math.MaxInt16
			case x <= math.MinInt16:
				if math.Round(x) < math.MinInt16 {
					clamped++
				}
				d[i] = math.MinInt16
			default:
				d[i] = int16(math.Round(x))
			}
		}
	case []uint8:
		for i, x := range vals {
			switch {
			case math.IsNaN(x), x <= 0:
				d[i] = 0
			case x >= 255:
				d[i] = 255
			default:
				d[i] = uint8(math.Round(x))
			}
		}
	case []float32:
		for i, x := range vals {
			d[i] = float32(x)
		}
	default:
		// Named element types: go through the underlying representation.
		if len(dst) == 0 {
			return 0
		}
		switch sizeOf[T]() {
		case 1:
			return storeValues(unsafe.Slice((*uint8)(unsafe.Pointer(&dst[0])), len(dst)), vals)
		case 2:
			return storeValues(unsafe.Slice((*int16)(unsafe.Pointer(&dst[0])), len(dst)), vals)
		case 4:
			return storeValues(unsafe.Slice((*float32)(unsafe.Pointer(&dst[0])), len(dst)), vals)
		}
	}
	return clamped
}
