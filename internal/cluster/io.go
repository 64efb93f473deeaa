package cluster

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/lungctl/lungctl/internal/atomicfile"
	"github.com/lungctl/lungctl/internal/npy"

	"github.com/lungctl/lungctl/internal/csvio"
)

// ErrFormat reports a points file that cannot be read as N×D points: not a
// float32 2-D .npy array, or a CSV file that is not all numbers in equal
// columns.
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
	err := atomicfile.Write(path, func(w io.Writer) error {
		return npy.Write(w, points, []int{len(points) / dim, dim})
	})
	if err != nil {
		return fmt.Errorf("cluster: %s: %w", path, err)
	}
	return nil
}

// ReadPointsNPY reads a 2-D little-endian float32 C-order .npy file and
// returns the row-major values and the number of columns. Format errors
// wrap ErrFormat.
func ReadPointsNPY(path string) ([]float32, int, error) {
	v, shape, err := npy.Read(path)
	if errors.Is(err, npy.ErrFormat) {
		return nil, 0, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("cluster: %w", err)
	}
	if len(shape) != 2 || shape[1] < 1 {
		return nil, 0, fmt.Errorf("cluster: %s: %w: want a 2-D shape, got %v", path, ErrFormat, shape)
	}
	if shape[0] < 1 {
		// As an empty points CSV is (ReadPointsCSV).
		return nil, 0, fmt.Errorf("cluster: %s: %w: no points (shape %v)", path, ErrFormat, shape)
	}
	return v, shape[1], nil
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

// ReadPointsCSV reads N×D points from a CSV file: comma-separated numbers,
// one point per line, the same number of columns on every line; a first
// line holding any non-numeric field is taken as a header and skipped. Units
// are whatever the file holds. Errors name the file and line. The points
// held are checked against the memory budget row by row before they are
// kept (csvio's LineLimit.CheckHeld): a file too large for it is refused
// with an error wrapping membudget.ErrTooBig that names the file and line.
func ReadPointsCSV(path string) ([]float32, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("cluster: %w", err)
	}
	defer f.Close()
	lim := csvio.NewLineLimit(bufio.NewReader(f), path)
	r := csv.NewReader(lim)
	r.ReuseRecord = true
	r.TrimLeadingSpace = true
	// The column count is checked below, against the first point rather
	// than a header, with a message that says so.
	r.FieldsPerRecord = -1
	var out []float32
	dim, rows := 0, 0
	for first := true; ; first = false {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			if lim.Err() != nil {
				return nil, 0, fmt.Errorf("cluster: %w: %w", ErrFormat, lim.Err())
			}
			return nil, 0, fmt.Errorf("cluster: %s: %w: %w", path, ErrFormat, err)
		}
		line, _ := r.FieldPos(0)
		if first && !csvAllNumeric(rec) {
			continue
		}
		if dim == 0 {
			dim = len(rec)
		}
		if len(rec) != dim {
			return nil, 0, fmt.Errorf("cluster: %s: line %d: %w: %d columns, want %d", path, line, ErrFormat, len(rec), dim)
		}
		rows++
		if err := lim.CheckHeld(line, rows, uintptr(dim)*4); err != nil { // dim float32s a row
			return nil, 0, fmt.Errorf("cluster: %w", err)
		}
		for _, f := range rec {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 32)
			if err != nil {
				return nil, 0, fmt.Errorf("cluster: %s: line %d: %w: %q is not a number", path, line, ErrFormat, f)
			}
			out = append(out, float32(v))
		}
	}
	if dim == 0 {
		return nil, 0, fmt.Errorf("cluster: %s: %w: no points", path, ErrFormat)
	}
	return out, dim, nil
}

func csvAllNumeric(rec []string) bool {
	for _, f := range rec {
		if _, err := strconv.ParseFloat(strings.TrimSpace(f), 64); err != nil {
			return false
		}
	}
	return true
}
