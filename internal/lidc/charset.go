package lidc

import (
	"io"
	"strings"
)

// charsetReader is the XML decoders' CharsetReader. LIDC files are UTF-8
// or ASCII; a file declaring ISO-8859-1 (Latin-1) or windows-1252 is
// transcoded byte by byte to UTF-8, so that a name with an accented letter
// reads instead of failing as invalid UTF-8. Other labels are read as UTF-8,
// as before (the values read are ASCII digits and UIDs).
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "iso_8859-1:1987", "latin1", "latin-1", "l1", "cp819", "ibm819", "iso-ir-100", "csisolatin1":
		return &latin1Reader{r: in}, nil
	case "windows-1252", "cp1252", "x-cp1252":
		return &latin1Reader{r: in, cp1252: true}, nil
	}
	return in, nil
}

// cp1252 holds windows-1252's characters for bytes 0x80–0x9F (0 where it
// has none, read as the Latin-1 control character).
var cp1252 = [32]rune{
	0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
	0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
}

// latin1Reader turns ISO-8859-1 bytes (each the code point of its value)
// or windows-1252 ones into UTF-8.
type latin1Reader struct {
	r      io.Reader
	cp1252 bool
	buf    [4096]byte
	pend   []byte // encoded bytes that did not fit the last Read
	held   error  // the source's error, returned once pend is out
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	n := copy(p, l.pend)
	l.pend = l.pend[n:]
	if len(l.pend) > 0 {
		return n, nil
	}
	if l.held != nil {
		if n > 0 {
			return n, nil
		}
		return 0, l.held
	}
	if n == len(p) {
		return n, nil
	}
	// Each byte becomes at most 3 (windows-1252's € is 3 bytes long).
	want := min(max((len(p)-n)/3, 1), len(l.buf))
	m, err := l.r.Read(l.buf[:want])
	var enc [4]byte
	for _, b := range l.buf[:m] {
		r := rune(b)
		if l.cp1252 && b >= 0x80 && b < 0xA0 && cp1252[b-0x80] != 0 {
			r = cp1252[b-0x80]
		}
		e := enc[:0]
		switch {
		case r < 0x80:
			e = append(e, byte(r))
		case r < 0x800:
			e = append(e, 0xC0|byte(r>>6), 0x80|byte(r&0x3F))
		default:
			e = append(e, 0xE0|byte(r>>12), 0x80|byte(r>>6&0x3F), 0x80|byte(r&0x3F))
		}
		c := copy(p[n:], e)
		n += c
		l.pend = append(l.pend, e[c:]...)
	}
	if err != nil && len(l.pend) > 0 {
		l.held, err = err, nil
	}
	return n, err
}
