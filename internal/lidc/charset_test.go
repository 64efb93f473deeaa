package lidc

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// TestParseLatin1: a file declaring ISO-8859-1 (or windows-1252) whose
// reader name holds é (byte 0xE9; € is 0x80 in windows-1252) parses, the
// name transcoded to UTF-8, also when read a byte at a time; as UTF-8 the
// byte is still refused.
func TestParseLatin1(t *testing.T) {
	doc := func(enc, name string) string {
		return `<?xml version="1.0" encoding="` + enc + `"?><LidcReadMessage><ResponseHeader><SeriesInstanceUid>1.2</SeriesInstanceUid></ResponseHeader>` +
			`<readingSession><servicingRadiologistID>` + name + `</servicingRadiologistID></readingSession></LidcReadMessage>`
	}
	for _, c := range []struct{ enc, raw, want string }{
		{"ISO-8859-1", "Ren\xe9 \xe0 l'\xd8", "René à l'Ø"},
		{"latin1", "\xe9t\xe9", "été"},
		{"windows-1252", "\x80 5 \xe9", "€ 5 é"},
	} {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = strings.NewReader(doc(c.enc, c.raw))
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			m, err := Parse(r, "l.xml")
			if err != nil || len(m.Sessions) != 1 || m.Sessions[0].ReaderID != c.want {
				t.Errorf("%s (one byte a read %v): %+v %v, want reader %q", c.enc, oneByte, m, err, c.want)
			}
		}
	}
	if _, err := Parse(strings.NewReader(doc("UTF-8", "Ren\xe9")), "u.xml"); !errors.Is(err, ErrMalformed) {
		t.Errorf("a Latin-1 byte in a UTF-8 file: %v", err)
	}
}

// TestFindXMLSaysWhatItPassedOver: when no XML matches, the error names
// each .xml file passed over and why.
func TestFindXMLSaysWhatItPassedOver(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"junk.xml":  "\x00\x01 not xml",
		"other.xml": `<IdriReadMessage/>`,
		"b.xml":     `<LidcReadMessage><ResponseHeader><SeriesInstanceUid>2.2</SeriesInstanceUid></ResponseHeader></LidcReadMessage>`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := FindXML(dir, "1.1")
	if !errors.Is(err, ErrNoXML) {
		t.Fatalf("%v", err)
	}
	for _, want := range []string{dir, `"b.xml" (series 2.2)`, `"junk.xml" (not XML: `, `"other.xml" (root element IdriReadMessage, not LidcReadMessage)`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
