package csvio

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/testfs"
)

// endless yields head, then body repeated up to 16 MiB in all, counting the
// bytes it gave: a hostile file far over the limits without allocating it.
type endless struct {
	head, body string
	off        int
	given      int64
}

func (e *endless) Read(p []byte) (int, error) {
	if e.off >= 16<<20 {
		return 0, io.EOF
	}
	p = p[:min(len(p), 16<<20-e.off)]
	n := 0
	for n < len(p) {
		if e.off < len(e.head) {
			c := copy(p[n:], e.head[e.off:])
			e.off += c
			n += c
			continue
		}
		c := copy(p[n:], e.body[(e.off-len(e.head))%len(e.body):])
		e.off += c
		n += c
	}
	e.given += int64(n)
	return n, nil
}

// readAll reads every row of r and returns the first error.
func readAll(r *Reader) error {
	for {
		if _, err := r.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// TestReaderRefusesEndlessLine: a row (here one cell, as the 50 MB coordX
// line that was reported as an empty coordinate) that never ends is refused
// as over-long, naming the file and the line, after reading about
// MaxLineBytes of it, not the whole line.
func TestReaderRefusesEndlessLine(t *testing.T) {
	for _, tc := range []struct{ what, head, body, want string }{
		{"row", "seriesuid,coordX\n1.2,3\n", "9", "big.csv: line 3: too long: longer than 1048576 bytes"},
		{"header", "", "h", "big.csv: line 1: too long: longer than 1048576 bytes"},
		{"unterminated quote", "id\n\"", "x,\n", "big.csv: line 2: too long: the record runs over 4194304 bytes"},
	} {
		src := &endless{head: tc.head, body: tc.body}
		r, err := NewReader(src, "big.csv")
		if err == nil {
			err = readAll(r)
		}
		if !errors.Is(err, ErrTooLong) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.what, err, tc.want)
		}
		if limit := int64(MaxRecordBytes + 64<<10); src.given > limit {
			t.Errorf("%s: read %d bytes of the source before refusing it (want at most %d)", tc.what, src.given, limit)
		}
	}
}

// TestReaderLineAtLimit: a line of exactly MaxLineBytes is read; one byte
// more is refused. Multi-line quoted cells count per line.
func TestReaderLineAtLimit(t *testing.T) {
	long := strings.Repeat("a", MaxLineBytes)
	r, err := NewReader(strings.NewReader("id\n"+long+"\n\"x\n"+long[1:]+"\"\n"), "ok.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{MaxLineBytes, MaxLineBytes + 1} {
		row, err := r.Next()
		if err != nil {
			t.Fatalf("row of %d bytes: %v", want, err)
		}
		if len(row.Get("id")) != want {
			t.Fatalf("row of %d bytes: %d bytes, %v", want, len(row.Get("id")), err)
		}
	}
	r, _ = NewReader(strings.NewReader("id\n1\n"+long+"b\n"), "over.csv")
	if err := readAll(r); !errors.Is(err, ErrTooLong) || !strings.Contains(err.Error(), "over.csv: line 3:") {
		t.Errorf("line of MaxLineBytes+1: %v", err)
	}
}

// TestReaderDuplicateColumn: a header naming a column twice is refused
// (reading the first of them was a guess); empty names may repeat.
func TestReaderDuplicateColumn(t *testing.T) {
	if _, err := NewReader(strings.NewReader("seriesuid,coordX,coordY,coordZ,coordX\n"), "c.csv"); err == nil ||
		!strings.Contains(err.Error(), "c.csv") || !strings.Contains(err.Error(), `"coordX" appears twice (columns 2 and 5)`) {
		t.Errorf("duplicate coordX: %v", err)
	}
	if _, err := NewReader(strings.NewReader("a,,b,\n1,2,3,4\n"), "c.csv"); err != nil {
		t.Errorf("repeated empty names: %v", err)
	}
}

// TestReaderHoldRefusesRowsPastTheBudget: a caller that keeps every row
// (Hold) gets an error wrapping membudget.ErrTooBig, naming the file and
// line, once the rows it holds would pass the budget, long before the file
// ends; without Hold the same rows stream on.
func TestReaderHoldRefusesRowsPastTheBudget(t *testing.T) {
	testfs.SetBudget(t, 1<<20)
	src := &endless{head: "seriesuid,coordX\n", body: "x,0\n"}
	r, err := NewReader(src, "rows.csv")
	if err != nil {
		t.Fatal(err)
	}
	r.Hold(240)
	err = readAll(r)
	if !testfs.TooBig(err, "rows.csv: line ", "rows held") {
		t.Fatalf("16 MiB of 4-byte rows held at 240 bytes each under a 1 MiB budget: %v", err)
	}
	if src.given > 64<<10 {
		t.Errorf("read %d bytes before refusing (want the 1 MiB budget's worth of rows, a few KiB)", src.given)
	}
	src = &endless{head: "seriesuid,coordX\n", body: "x,0\n"}
	if r, err = NewReader(src, "stream.csv"); err != nil {
		t.Fatal(err)
	}
	if err := readAll(r); err != nil {
		t.Fatalf("streamed rows: %v", err)
	}
}
