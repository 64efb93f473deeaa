package csvio

import (
	"errors"
	"fmt"
	"io"

	"github.com/lungctl/lungctl/internal/membudget"
)

// MaxLineBytes bounds one physical line of a CSV file read through csvio,
// in bytes, not counting its "\n" (a "\r" before it counts). encoding/csv
// holds a whole line in memory before it parses it, so without a bound one
// endless line makes the reader buffer all of it (a 400 MB line cost
// 1.7 GB). lungctl's tables have lines of a few hundred bytes (a candidate
// row is under 1 KiB); 1 MiB is a thousand times that and still a small,
// fixed amount of memory.
const MaxLineBytes = 1 << 20

// MaxRecordBytes bounds one record whose quoted cells run over several
// lines (each line still under MaxLineBytes), in bytes counted from the
// start of the record's first line: an unterminated quote would otherwise
// make encoding/csv read the rest of the file into one cell. A record on one
// line is bounded by MaxLineBytes already.
const MaxRecordBytes = 4 << 20

// ErrTooLong reports a line longer than MaxLineBytes or a record longer than
// MaxRecordBytes.
var ErrTooLong = errors.New("too long")

// LineLimit is an io.Reader that passes a CSV file's bytes on until a
// physical line exceeds MaxLineBytes or a record exceeds MaxRecordBytes, and
// from then on fails with an error that wraps ErrTooLong and names the file
// and the line. It stops at the first byte over the limit, so nothing reading
// from it ever holds more than the limit (plus its own buffer) of one line.
// Records are told apart by RFC 4180 quoting (a '"' opens or closes a quoted
// cell, "" inside one counts twice), as csv.Reader without LazyQuotes reads
// them. Put it between a file and a csv.Reader; Reader does so itself.
type LineLimit struct {
	r         io.Reader
	name      string
	line      int   // 1-based number of the line being scanned
	lineBytes int64 // bytes of that line so far, without "\n"
	recLine   int   // line the record being scanned started on
	recBytes  int64 // bytes of that record so far
	inQuote   bool  // inside a quoted cell
	total     int64 // bytes passed on so far
	err       error // the over-long error, once found
	maxLine   int64
	maxRecord int64
}

// NewLineLimit returns a LineLimit reading r; name (usually the file's path)
// starts its error.
func NewLineLimit(r io.Reader, name string) *LineLimit {
	return &LineLimit{r: r, name: name, line: 1, recLine: 1, maxLine: MaxLineBytes, maxRecord: MaxRecordBytes}
}

// Err returns the over-long line's or record's error once Read has found
// one, else nil. A csv.Reader handed a cut line may report a ParseError of
// its own instead, so callers check Err first.
func (l *LineLimit) Err() error { return l.err }

// Read implements io.Reader: it returns the bytes before the first one over
// a limit together with the error.
func (l *LineLimit) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	for i, c := range p[:n] {
		if c == '\n' {
			l.line++
			l.lineBytes = 0
			if !l.inQuote {
				l.recLine, l.recBytes = l.line, 0
				continue
			}
		} else {
			l.lineBytes++
			if c == '"' {
				l.inQuote = !l.inQuote
			}
		}
		l.recBytes++
		switch {
		case l.lineBytes > l.maxLine:
			l.err = fmt.Errorf("%s: line %d: %w: longer than %d bytes", l.name, l.line, ErrTooLong, l.maxLine)
		case l.recBytes > l.maxRecord:
			l.err = fmt.Errorf("%s: line %d: %w: the record runs over %d bytes, to line %d (a quoted cell that never ends?)",
				l.name, l.recLine, ErrTooLong, l.maxRecord, l.line)
		default:
			continue
		}
		l.total += int64(i)
		return i, l.err
	}
	l.total += int64(n)
	return n, err
}

// heldGrowth is how many times their own size the rows a caller appends to
// a slice may take at once: append grows a slice by copying it into a
// larger one, and both are alive while it does.
const heldGrowth = 2

// CheckHeld returns a *membudget.TooBigError (wrapping membudget.ErrTooBig)
// naming the file, line and row count when rows rows, each kept as perRow
// bytes (the caller's struct or map entry), together with the text read so
// far (the cells a row keeps are slices of its line), would exceed the
// memory budget; nil otherwise. Readers that keep every row call it for
// each, so a table of millions of tiny rows (8 bytes of text becoming a
// 240-byte candidate) is refused before it fills memory, not after.
func (l *LineLimit) CheckHeld(line, rows int, perRow uintptr) error {
	need := membudget.Mul(heldGrowth, int64(rows), int64(perRow))
	need += uint64(l.total)
	if need <= membudget.Limit() {
		return nil
	}
	return membudget.Check(fmt.Sprintf("%s: line %d: %d rows held", l.name, line, rows), need)
}
