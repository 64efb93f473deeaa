package nn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// ErrNPY reports a .npy file this reader does not accept (not NumPy format,
// not little-endian float32, Fortran order, truncated).
var ErrNPY = errors.New("unsupported or corrupt .npy file")

var (
	npyDescr = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	npyFort  = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	npyShape = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

// ReadNPY reads a NumPy .npy file (format 1.0–3.0) holding little-endian
// float32 ('<f4') data in C order and returns the values and the shape.
func ReadNPY(path string) ([]float32, []int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("nn: %w", err)
	}
	v, s, err := ParseNPY(b)
	if err != nil {
		return nil, nil, fmt.Errorf("nn: %s: %w", path, err)
	}
	return v, s, nil
}

// ParseNPY decodes the bytes of a .npy file; see ReadNPY.
func ParseNPY(b []byte) ([]float32, []int, error) {
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return nil, nil, fmt.Errorf("%w: bad magic", ErrNPY)
	}
	var hl, off int
	switch b[6] {
	case 1:
		hl, off = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < 12 {
			return nil, nil, fmt.Errorf("%w: truncated header", ErrNPY)
		}
		hl, off = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return nil, nil, fmt.Errorf("%w: format version %d", ErrNPY, b[6])
	}
	if hl < 0 || off+hl > len(b) {
		return nil, nil, fmt.Errorf("%w: truncated header", ErrNPY)
	}
	h := string(b[off : off+hl])
	d := npyDescr.FindStringSubmatch(h)
	if d == nil || (d[1] != "<f4" && d[1] != "=f4") {
		return nil, nil, fmt.Errorf("%w: dtype %v, want <f4", ErrNPY, d)
	}
	if f := npyFort.FindStringSubmatch(h); f == nil || f[1] != "False" {
		return nil, nil, fmt.Errorf("%w: Fortran order", ErrNPY)
	}
	sm := npyShape.FindStringSubmatch(h)
	if sm == nil {
		return nil, nil, fmt.Errorf("%w: no shape", ErrNPY)
	}
	var shape []int
	n := 1
	for _, f := range strings.Split(sm[1], ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k, err := strconv.Atoi(f)
		if err != nil || k < 0 {
			return nil, nil, fmt.Errorf("%w: shape %q", ErrNPY, sm[1])
		}
		shape = append(shape, k)
		n *= k
	}
	data := b[off+hl:]
	if len(data) < 4*n {
		return nil, nil, fmt.Errorf("%w: %d data bytes for %d values", ErrNPY, len(data), n)
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return v, shape, nil
}
