package csvio

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Reader reads a CSV file whose first line is a header, giving each row's
// cells by column name. Header names are trimmed of spaces and of a UTF-8
// byte-order mark; rows may be shorter or longer than the header (a missing
// cell reads as empty); blank lines are skipped; a name given to two columns
// is an error. A line longer than
// MaxLineBytes, or a record whose quoted cells run over more than
// MaxRecordBytes, is an error wrapping ErrTooLong that names the file and the
// line, found before the line is held in memory (see LineLimit).
type Reader struct {
	cr   *csv.Reader
	lim  *LineLimit
	name string
	head []string
	col  map[string]int
	// perRow is Hold's bytes a row (0: rows are not counted); rows the
	// rows Next has returned since.
	perRow uintptr
	rows   int
}

// Hold tells r that its caller keeps every row it reads, each taking
// perRow bytes (its struct or map entry) besides the text of its cells.
// From then on Next refuses a row that would take what is held past the
// memory budget, with an error wrapping membudget.ErrTooBig that names the
// file and line (see LineLimit.CheckHeld).
func (r *Reader) Hold(perRow uintptr) { r.perRow = perRow }

// NewReader reads the header from r; name (usually the file's path) starts
// every error message. r is read through a LineLimit.
func NewReader(r io.Reader, name string) (*Reader, error) {
	lim := NewLineLimit(r, name)
	cr := csv.NewReader(lim)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		if lim.Err() != nil {
			return nil, lim.Err() // names the file and line already
		}
		return nil, fmt.Errorf("%s: read header: %w", name, err)
	}
	rd := &Reader{cr: cr, lim: lim, name: name, head: make([]string, len(head)), col: make(map[string]int, len(head))}
	for i, h := range head {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		h = Unescape(strings.TrimSpace(h))
		rd.head[i] = h
		if j, dup := rd.col[h]; dup && h != "" {
			// Which of the two a reader took would be a guess.
			return nil, fmt.Errorf("%s: line 1: column %q appears twice (columns %d and %d)", name, h, j+1, i+1)
		} else if !dup {
			rd.col[h] = i
		}
	}
	return rd, nil
}

// Header returns the column names in file order.
func (r *Reader) Header() []string { return r.head }

// Has reports whether the header names col.
func (r *Reader) Has(col string) bool {
	_, ok := r.col[col]
	return ok
}

// Require returns an error wrapping ErrMissingColumn naming the first of
// cols the header lacks.
func (r *Reader) Require(cols ...string) error {
	for _, c := range cols {
		if !r.Has(c) {
			return fmt.Errorf("%s: %w %q (have %s)", r.name, ErrMissingColumn, c, strings.Join(r.head, ","))
		}
	}
	return nil
}

// Next returns the next non-blank row, or io.EOF after the last.
func (r *Reader) Next() (Row, error) {
	for {
		rec, err := r.cr.Read()
		if err == io.EOF {
			return Row{}, io.EOF
		}
		if err != nil {
			if r.lim.Err() != nil {
				return Row{}, r.lim.Err() // names the file and line already
			}
			return Row{}, fmt.Errorf("%s: %w", r.name, err)
		}
		line, _ := r.cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if r.perRow > 0 {
			r.rows++
			if err := r.lim.CheckHeld(line, r.rows, r.perRow); err != nil {
				return Row{}, err
			}
		}
		return Row{r: r, rec: rec, Line: line}, nil
	}
}

// Row is one record of a Reader.
type Row struct {
	r   *Reader
	rec []string
	// Line is the 1-based line the row starts on.
	Line int
}

// Get returns the cell of column col, trimmed of spaces and unescaped (""
// when the column or the cell is missing).
func (w Row) Get(col string) string {
	i, ok := w.r.col[col]
	if !ok || i >= len(w.rec) {
		return ""
	}
	return Unescape(strings.TrimSpace(w.rec[i]))
}

// Errorf returns an error naming the file and the row's line.
func (w Row) Errorf(format string, a ...any) error {
	return fmt.Errorf("%s: line %d: %w", w.r.name, w.Line, fmt.Errorf(format, a...))
}

// Float parses column col as a number; an empty or missing cell gives def.
// The error names the file, line and column and wraps strconv's.
func (w Row) Float(col string, def float64) (float64, error) {
	s := w.Get(col)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: line %d: column %s: %w", w.r.name, w.Line, col, err)
	}
	return v, nil
}

// World reads the LUNA16 coordinate columns coordX, coordY, coordZ (LPS mm
// in every table lungctl reads or writes) as finite numbers.
func (w Row) World() ([3]float64, error) {
	var p [3]float64
	for a, col := range [3]string{"coordX", "coordY", "coordZ"} {
		v, err := w.Finite(col)
		if err != nil {
			return p, err
		}
		p[a] = v
	}
	return p, nil
}

// Finite is Float for a required finite number (no default, no NaN or Inf).
func (w Row) Finite(col string) (float64, error) {
	v, err := w.Float(col, math.NaN())
	if err != nil {
		return 0, err
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%s: line %d: column %s: want a finite number, got %q", w.r.name, w.Line, col, w.Get(col))
	}
	return v, nil
}
