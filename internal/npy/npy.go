// Package npy reads and writes NumPy .npy files of little-endian float32
// values in C order, the exchange format with the Python peers (exported
// mean-shift points, PyTorch weights and activations).
package npy

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/lungctl/lungctl/internal/membudget"
)

// ErrFormat reports a .npy file this reader does not accept (not NumPy
// format, a header over MaxHeaderBytes or without a key it needs, not
// little-endian float32, Fortran order, wrong length).
var ErrFormat = errors.New("unsupported or corrupt .npy file")

var (
	npyDescr = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	npyFort  = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	npyShape = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

// MaxHeaderBytes bounds the header length a .npy file may declare, in
// bytes. NumPy writes a header of a few hundred bytes (its dict text padded
// to 64; format 2.0 only when that text passes 65535 bytes, for structured
// dtypes this reader refuses anyway), while formats 2.0 and 3.0 can declare
// up to 4 GiB: a larger declared length is refused before anything is read
// or allocated for it.
const MaxHeaderBytes = 1 << 20

// preambleLen is the length of the fixed part of a format 2.0/3.0 file
// (magic, version, 4-byte header length); format 1.0's is 10.
const preambleLen = 12

// Read reads a NumPy .npy file (format 1.0–3.0) holding little-endian
// float32 ('<f4') data in C order and returns the values and the shape.
// Errors name the file; format errors wrap ErrFormat. The magic, version
// and declared header length (at most MaxHeaderBytes) are checked before
// the rest of the file is read, and so is the memory budget
// (internal/membudget: twice the file's size, its bytes and its values;
// the error wraps membudget.ErrTooBig).
func Read(path string) ([]float32, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("npy: %w", err)
	}
	defer f.Close()
	b, err := readChecked(f)
	if err != nil {
		return nil, nil, fmt.Errorf("npy: %s: %w", path, err)
	}
	v, s, err := Parse(b)
	if err != nil {
		return nil, nil, fmt.Errorf("npy: %s: %w", path, err)
	}
	return v, s, nil
}

// readChecked reads all of f (as os.ReadFile does) once its preamble
// passes preamble.
func readChecked(f *os.File) ([]byte, error) {
	pre := make([]byte, preambleLen)
	n, err := io.ReadFull(f, pre)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if _, _, err := preamble(pre[:n]); err != nil {
		return nil, err
	}
	size := int64(n)
	if st, err := f.Stat(); err == nil && st.Size() > size {
		size = st.Size()
	}
	// The file's bytes and the float32 values decoded from them are held
	// at once: both are checked against the memory budget before either
	// is allocated.
	if err := membudget.Check(fmt.Sprintf("a .npy file of %d bytes and its values", size), 2*uint64(size)); err != nil {
		return nil, err
	}
	b := make([]byte, n, size+1) // +1: EOF is seen without growing
	copy(b, pre)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // the file grew
		}
		m, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// preamble checks the magic and the version at the start of b and returns
// the declared header length hl (at most MaxHeaderBytes) and the offset off
// of the header text. It needs the first 10 bytes (12 for format 2.0 and
// 3.0); it does not check that the header is all there.
func preamble(b []byte) (hl, off int, err error) {
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return 0, 0, fmt.Errorf("%w: bad magic", ErrFormat)
	}
	switch b[6] {
	case 1:
		hl, off = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < preambleLen {
			return 0, 0, fmt.Errorf("%w: truncated header", ErrFormat)
		}
		hl, off = int(binary.LittleEndian.Uint32(b[8:12])), preambleLen
	default:
		return 0, 0, fmt.Errorf("%w: format version %d", ErrFormat, b[6])
	}
	if hl > MaxHeaderBytes {
		return 0, 0, fmt.Errorf("%w: header length %d declared, more than MaxHeaderBytes (%d)", ErrFormat, hl, MaxHeaderBytes)
	}
	return hl, off, nil
}

// Parse decodes the bytes of a .npy file; see Read.
func Parse(b []byte) ([]float32, []int, error) {
	hl, off, err := preamble(b)
	if err != nil {
		return nil, nil, err
	}
	if off+hl > len(b) {
		return nil, nil, fmt.Errorf("%w: truncated header", ErrFormat)
	}
	h := string(b[off : off+hl])
	d := npyDescr.FindStringSubmatch(h)
	if d == nil {
		return nil, nil, fmt.Errorf("%w: header has no 'descr' key", ErrFormat)
	}
	if d[1] != "<f4" && d[1] != "=f4" {
		return nil, nil, fmt.Errorf("%w: dtype %q, want '<f4'", ErrFormat, d[1])
	}
	f := npyFort.FindStringSubmatch(h)
	if f == nil {
		return nil, nil, fmt.Errorf("%w: header has no 'fortran_order' key (True or False)", ErrFormat)
	}
	if f[1] != "False" {
		return nil, nil, fmt.Errorf("%w: Fortran order (only C order is read)", ErrFormat)
	}
	sm := npyShape.FindStringSubmatch(h)
	if sm == nil {
		return nil, nil, fmt.Errorf("%w: header has no 'shape' key", ErrFormat)
	}
	data := b[off+hl:]
	shape, n, err := parseShape(sm[1], len(data)/4)
	if err != nil {
		return nil, nil, err
	}
	if len(data) != 4*n {
		return nil, nil, fmt.Errorf("%w: %d data bytes for %d values", ErrFormat, len(data), n)
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return v, shape, nil
}

// maxDims bounds the number of axes of a shape (NumPy's own limit is 64).
const maxDims = 64

// parseShape reads the shape tuple's text and returns the axes and their
// product, refusing a product above limit (the values the data holds)
// before it is computed, so that no shape can overflow or ask for more
// memory than the file provides. An axis of length 0 makes an empty array
// (product 0) whatever the other axes say, as in NumPy.
func parseShape(tuple string, limit int) ([]int, int, error) {
	var shape []int
	empty := false
	for _, f := range strings.Split(tuple, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k, err := strconv.Atoi(f)
		if err != nil || k < 0 {
			return nil, 0, fmt.Errorf("%w: shape %q", ErrFormat, tuple)
		}
		if len(shape) == maxDims {
			return nil, 0, fmt.Errorf("%w: shape %q has more than %d axes", ErrFormat, tuple, maxDims)
		}
		shape = append(shape, k)
		empty = empty || k == 0
	}
	if empty {
		return shape, 0, nil
	}
	n := 1
	for _, k := range shape {
		if n > limit/k {
			return nil, 0, fmt.Errorf("%w: shape %q holds more values than the file's %d", ErrFormat, tuple, limit)
		}
		n *= k
	}
	return shape, n, nil
}

// Write writes data (C order, the product of shape values) as a .npy file
// (format 1.0, '<f4', header padded to 64 bytes) to w.
func Write(w io.Writer, data []float32, shape []int) error {
	n := 1
	dims := make([]string, len(shape))
	for i, k := range shape {
		n *= k
		dims[i] = strconv.Itoa(k)
	}
	if n != len(data) {
		return fmt.Errorf("npy: %d values for shape %v", len(data), shape)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	hdr := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", tuple)
	// magic(6) + version(2) + len(2) + header + '\n' padded to 64 bytes.
	total := 10 + len(hdr) + 1
	hdr += strings.Repeat(" ", (64-total%64)%64) + "\n"
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString("\x93NUMPY\x01\x00")
	var l [2]byte
	binary.LittleEndian.PutUint16(l[:], uint16(len(hdr)))
	bw.Write(l[:])
	bw.WriteString(hdr)
	var b [4]byte
	for _, x := range data {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
		bw.Write(b[:])
	}
	return bw.Flush()
}
