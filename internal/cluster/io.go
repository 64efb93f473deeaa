package cluster

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

	"github.com/lungctl/lungctl/internal/atomicfile"
)

// ErrFormat reports a points file that is not a float32 N×D .npy array.
var ErrFormat = errors.New("cluster: unsupported points file")

// EqualScale returns a copy of the N×dim points with axis a multiplied by
// common/bandwidth[a], so that one isotropic bandwidth `common` in the
// result equals the per-axis bandwidths in the input. Use it before
// exporting points for tools with a single bandwidth (scikit-learn
// MeanShift, /work/shared/peers/meanshift_sklearn.py --points); with
// common = bandwidth[0] the spatial axes stay in mm.
func EqualScale(points []float32, dim int, bandwidth []float64, common float64) []float32 {
	out := make([]float32, len(points))
	for i := range points {
		a := i % dim
		out[i] = float32(float64(points[i]) * common / bandwidth[a])
	}
	return out
}

// WritePointsNPY writes N×dim float32 points as a NumPy .npy file (format
// 1.0, '<f4', C order), atomically.
func WritePointsNPY(path string, points []float32, dim int) error {
	if dim < 1 || len(points)%dim != 0 {
		return fmt.Errorf("cluster: %s: %w: %d values for dim %d", path, ErrInput, len(points), dim)
	}
	err := atomicfile.Write(path, func(w io.Writer) error { return writeNPY(w, points, dim) })
	if err != nil {
		return fmt.Errorf("cluster: %s: %w", path, err)
	}
	return nil
}

func writeNPY(w io.Writer, points []float32, dim int) error {
	hdr := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", len(points)/dim, dim)
	// magic(6) + version(2) + len(2) + header + '\n' padded to 64 bytes.
	total := 10 + len(hdr) + 1
	pad := (64 - total%64) % 64
	hdr += strings.Repeat(" ", pad) + "\n"
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString("\x93NUMPY\x01\x00")
	var l [2]byte
	binary.LittleEndian.PutUint16(l[:], uint16(len(hdr)))
	bw.Write(l[:])
	bw.WriteString(hdr)
	var b [4]byte
	for _, x := range points {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
		bw.Write(b[:])
	}
	return bw.Flush()
}

var npyShape = regexp.MustCompile(`'shape':\s*\((\d+),\s*(\d+)\s*\)`)

// ReadPointsNPY reads a 2-D little-endian float32 C-order .npy file and
// returns the row-major values and the number of columns.
func ReadPointsNPY(path string) ([]float32, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("cluster: %w", err)
	}
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return nil, 0, fmt.Errorf("cluster: %s: %w: no NPY magic", path, ErrFormat)
	}
	var hl, off int
	switch b[6] {
	case 1:
		hl, off = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < 12 {
			return nil, 0, fmt.Errorf("cluster: %s: %w: truncated header", path, ErrFormat)
		}
		hl, off = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return nil, 0, fmt.Errorf("cluster: %s: %w: NPY version %d", path, ErrFormat, b[6])
	}
	if off+hl > len(b) {
		return nil, 0, fmt.Errorf("cluster: %s: %w: truncated header", path, ErrFormat)
	}
	h := string(b[off : off+hl])
	if !strings.Contains(h, "'<f4'") || strings.Contains(h, "'fortran_order': True") {
		return nil, 0, fmt.Errorf("cluster: %s: %w: want '<f4' C order, header %q", path, ErrFormat, strings.TrimSpace(h))
	}
	m := npyShape.FindStringSubmatch(h)
	if m == nil {
		return nil, 0, fmt.Errorf("cluster: %s: %w: want a 2-D shape, header %q", path, ErrFormat, strings.TrimSpace(h))
	}
	rows, _ := strconv.Atoi(m[1])
	cols, _ := strconv.Atoi(m[2])
	data := b[off+hl:]
	if cols < 1 || len(data) != 4*rows*cols {
		return nil, 0, fmt.Errorf("cluster: %s: %w: %d data bytes for shape (%d, %d)", path, ErrFormat, len(data), rows, cols)
	}
	out := make([]float32, rows*cols)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return out, cols, nil
}

// WritePointsCSV writes N×dim points as CSV with the given header (one name
// per column; nil writes no header), atomically. Values use the shortest
// float32 representation.
func WritePointsCSV(path string, points []float32, dim int, header []string) error {
	if dim < 1 || len(points)%dim != 0 || (header != nil && len(header) != dim) {
		return fmt.Errorf("cluster: %s: %w: %d values, %d header names for dim %d", path, ErrInput, len(points), len(header), dim)
	}
	err := atomicfile.Write(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		if header != nil {
			bw.WriteString(strings.Join(header, ",") + "\n")
		}
		buf := make([]byte, 0, 32)
		for i, x := range points {
			buf = strconv.AppendFloat(buf[:0], float64(x), 'g', -1, 32)
			if (i+1)%dim == 0 {
				buf = append(buf, '\n')
			} else {
				buf = append(buf, ',')
			}
			bw.Write(buf)
		}
		return bw.Flush()
	})
	if err != nil {
		return fmt.Errorf("cluster: %s: %w", path, err)
	}
	return nil
}

// AdjustedRand returns the adjusted Rand index (Hubert & Arabie) between
// two labelings of the same points: 1 for identical partitions (up to
// renaming), about 0 for independent ones. Labels are arbitrary ints (e.g.
// −1 for noise is just another label). When both partitions are trivial in
// the same way (the index's denominator is 0) it returns 1. It returns NaN
// when the lengths differ.
func AdjustedRand(a, b []int) float64 {
	if len(a) != len(b) {
		return math.NaN()
	}
	n := len(a)
	if n < 2 {
		return 1
	}
	type pair struct{ x, y int }
	nij := map[pair]int{}
	ai := map[int]int{}
	bj := map[int]int{}
	for i := range a {
		nij[pair{a[i], b[i]}]++
		ai[a[i]]++
		bj[b[i]]++
	}
	c2 := func(k int) float64 { return float64(k) * float64(k-1) / 2 }
	var sij, sa, sb float64
	for _, v := range nij {
		sij += c2(v)
	}
	for _, v := range ai {
		sa += c2(v)
	}
	for _, v := range bj {
		sb += c2(v)
	}
	exp := sa * sb / c2(n)
	max := (sa + sb) / 2
	if max == exp {
		return 1
	}
	return (sij - exp) / (max - exp)
}
