package csvio

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEscapeRoundTrip(t *testing.T) {
	for _, s := range []string{"", "a", "=1+2", "+x", "-x", "@SUM(A1)", "\tx", "\rx", "'", "'=x", "''-x", "'a",
		"=HYPERLINK(\"http://evil\",\"click\")", "plain, with comma", "1.5"} {
		e := Escape(s)
		if needsEscape(s) && !strings.HasPrefix(e, "'") {
			t.Errorf("Escape(%q) = %q: formula not neutralised", s, e)
		}
		if e != "" && strings.TrimLeft(e, "'") != "" && e[0] != '\'' && formulaStart(e[0]) {
			t.Errorf("Escape(%q) = %q starts a formula", s, e)
		}
		if u := Unescape(e); u != s {
			t.Errorf("Unescape(Escape(%q)) = %q", s, u)
		}
	}
	if got := Escape("a\x00b"); got != `a\x00b` {
		t.Errorf("NUL: %q", got)
	}
}

func TestWriterNumericAndText(t *testing.T) {
	var b bytes.Buffer
	w, err := NewWriter(&b, []string{"id", "x"}, "x")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][]string{{"-12.5", "-12.5"}, {"=cmd|' /C calc'!A0", "=1+1"}, {"a,b\"c", ""}, {"nul\x00", "1e-3"}} {
		if err := w.Write(r...); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Write("only one"); !errors.Is(err, ErrRow) {
		t.Errorf("short row: %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "id,x\n'-12.5,-12.5\n'=cmd|' /C calc'!A0,'=1+1\n\"a,b\"\"c\",\n" + `nul\x00` + ",1e-3\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	if bytes.IndexByte(b.Bytes(), 0) >= 0 {
		t.Fatal("NUL byte written")
	}
	// Reading gives back the text cells (NUL aside) and the numbers.
	r, err := NewReader(&b, "mem")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, row.Get("id"))
	}
	if strings.Join(ids, "|") != "-12.5|=cmd|' /C calc'!A0|a,b\"c|"+`nul\x00` {
		t.Errorf("read back %q", ids)
	}
	if _, err := NewWriter(io.Discard, []string{"a"}, "b"); err == nil {
		t.Error("numeric column outside the header accepted")
	}
}

func TestReaderByHeader(t *testing.T) {
	in := "\ufeff b , a ,c\n\n2,1\n4,3,5,6\n\"x\ny\",7\n"
	r, err := NewReader(strings.NewReader(in), "t.csv")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Require("a", "b"); err != nil {
		t.Fatal(err)
	}
	if err := r.Require("z"); !errors.Is(err, ErrMissingColumn) || !strings.Contains(err.Error(), "t.csv") {
		t.Errorf("missing column: %v", err)
	}
	var got []string
	var lines []int
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, row.Get("a")+"/"+row.Get("b")+"/"+row.Get("c"))
		lines = append(lines, row.Line)
	}
	if strings.Join(got, " ") != "1/2/ 3/4/5 7/x\ny/" {
		t.Errorf("rows %q", got)
	}
	if lines[0] != 3 || lines[2] != 5 {
		t.Errorf("lines %v, want 3,4,5", lines)
	}
	r, _ = NewReader(strings.NewReader("v\nabc\n\nNaN\n"), "n.csv")
	row, _ := r.Next()
	if _, err := row.Float("v", 0); err == nil || !strings.Contains(err.Error(), "n.csv: line 2: column v") {
		t.Errorf("bad number: %v", err)
	}
	row, _ = r.Next()
	if _, err := row.Finite("v"); err == nil {
		t.Error("NaN accepted as finite")
	}
	r, _ = NewReader(strings.NewReader("coordX,coordY,coordZ\n-1.5,2,3e1\n1,Inf,2\n"), "w.csv")
	row, _ = r.Next()
	if w, err := row.World(); err != nil || w != [3]float64{-1.5, 2, 30} {
		t.Errorf("World %v %v", w, err)
	}
	row, _ = r.Next()
	if _, err := row.World(); err == nil || !strings.Contains(err.Error(), "w.csv: line 3: column coordY") {
		t.Errorf("infinite coordY: %v", err)
	}
	if _, err := NewReader(strings.NewReader(""), "e.csv"); err == nil || !strings.Contains(err.Error(), "e.csv") {
		t.Errorf("empty file: %v", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.csv")
	if err := WriteFile(p, []string{"id", "cancer"}, []string{"cancer"}, [][]string{{"+1", "0.5"}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "id,cancer\n'+1,0.5\n" {
		t.Errorf("%q", b)
	}
}
