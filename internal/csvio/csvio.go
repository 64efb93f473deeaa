// Package csvio is lungctl's one way to read CSV files by header name and to
// write CSV files that spreadsheets open safely.
//
// Writing follows OWASP's CSV-injection guidance: a text cell that starts
// with =, +, -, @, a tab or a carriage return would be run as a formula by
// Excel, LibreOffice or Google Sheets, so it gets a leading apostrophe
// ('=cmd|...). Cells of numeric columns are left alone when they hold a
// number (so -12.5 stays a number a spreadsheet can sum); a numeric column's
// cell that is not a number is treated as text. A text cell made of
// apostrophes followed by one of those characters also gets one more
// apostrophe, so the rule can be undone exactly: Unescape(Escape(s)) == s for
// every s, and the Reader unescapes every cell it returns. NUL bytes, which
// no CSV consumer handles, are written as the four characters \x00 (this one
// change is not undone on reading). Quoting of commas, quotes and line breaks
// is encoding/csv's (RFC 4180).
package csvio

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/lungctl/lungctl/internal/atomicfile"
)

// ErrMissingColumn reports a required column absent from a file's header.
var ErrMissingColumn = errors.New("missing column")

// ErrRow reports a row that does not fit its file's header.
var ErrRow = errors.New("bad row")

// formulaStart reports whether c makes a spreadsheet cell a formula.
func formulaStart(c byte) bool {
	switch c {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}

// needsEscape reports whether s is a text cell Escape changes: it starts
// with a formula character after zero or more apostrophes.
func needsEscape(s string) bool {
	t := strings.TrimLeft(s, "'")
	return t != "" && formulaStart(t[0])
}

// Escape neutralises a text cell for spreadsheets (see the package comment).
func Escape(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", `\x00`)
	}
	if needsEscape(s) {
		return "'" + s
	}
	return s
}

// Unescape undoes Escape's apostrophe.
func Unescape(s string) string {
	if len(s) > 1 && s[0] == '\'' && needsEscape(s[1:]) {
		return s[1:]
	}
	return s
}

// isNumber reports whether s is a cell a numeric column may hold as is: a
// number strconv.ParseFloat accepts (including NaN and ±Inf).
func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil || errors.Is(err, strconv.ErrRange)
}

// Writer writes CSV rows under a header, escaping text cells.
type Writer struct {
	cw      *csv.Writer
	numeric []bool
	buf     []string
}

// NewWriter writes header to w and returns a Writer for its rows. The
// columns named in numeric hold numbers: their cells are written as they are
// when they parse as numbers (and escaped as text otherwise).
func NewWriter(w io.Writer, header []string, numeric ...string) (*Writer, error) {
	cw := &Writer{cw: csv.NewWriter(w), numeric: make([]bool, len(header))}
	for _, n := range numeric {
		found := false
		for i, h := range header {
			if h == n {
				cw.numeric[i], found = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("csvio: numeric column %q is not in the header %v", n, header)
		}
	}
	hs := make([]string, len(header))
	for i, h := range header {
		hs[i] = Escape(h)
	}
	if err := cw.cw.Write(hs); err != nil {
		return nil, err
	}
	return cw, nil
}

// Write writes one row; it must have one cell per header column.
func (w *Writer) Write(rec ...string) error {
	if len(rec) != len(w.numeric) {
		return fmt.Errorf("csvio: %w: %d cells for %d columns", ErrRow, len(rec), len(w.numeric))
	}
	w.buf = w.buf[:0]
	for i, c := range rec {
		if !(w.numeric[i] && (c == "" || isNumber(c))) {
			c = Escape(c)
		}
		w.buf = append(w.buf, c)
	}
	return w.cw.Write(w.buf)
}

// Flush writes any buffered rows and returns the first error of any write.
func (w *Writer) Flush() error {
	w.cw.Flush()
	return w.cw.Error()
}

// WriteFile writes header and rows to path atomically (see atomicfile),
// with the numeric columns named in numeric.
func WriteFile(path string, header, numeric []string, rows [][]string) error {
	return atomicfile.Write(path, func(f io.Writer) error {
		w, err := NewWriter(f, header, numeric...)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := w.Write(r...); err != nil {
				return err
			}
		}
		return w.Flush()
	})
}
