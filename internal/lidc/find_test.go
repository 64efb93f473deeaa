package lidc

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindXML(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	lidcXML := func(uid string) string {
		h := ""
		if uid != "" {
			h = "<SeriesInstanceUid>" + uid + "</SeriesInstanceUid>"
		}
		return `<?xml version="1.0"?><LidcReadMessage xmlns="http://www.nih.gov"><ResponseHeader>` + h + `</ResponseHeader><readingSession/></LidcReadMessage>`
	}
	write("other.xml", `<IdriReadMessage><ResponseHeader><SeriesInstanceUid>1.1</SeriesInstanceUid></ResponseHeader></IdriReadMessage>`)
	write("junk.xml", "\x00\x01 not xml")
	write("notes.txt", lidcXML("1.1"))
	write("b.xml", lidcXML("2.2"))
	if _, err := FindXML(dir, "1.1"); !errors.Is(err, ErrNoXML) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("no match: %v", err)
	}
	none := write("none.xml", lidcXML(""))
	if p, err := FindXML(dir, "1.1"); err != nil || p != none {
		t.Fatalf("UID-less fallback: %q %v", p, err)
	}
	a := write("A.XML", lidcXML("1.1"))
	if p, err := FindXML(dir, "1.1"); err != nil || p != a {
		t.Fatalf("by UID: %q %v", p, err)
	}
	write("c.xml", lidcXML("1.1"))
	if _, err := FindXML(dir, "1.1"); !errors.Is(err, ErrAmbiguousXML) || !strings.Contains(err.Error(), "c.xml") {
		t.Fatalf("ambiguous: %v", err)
	}
	if _, err := FindXML(filepath.Join(dir, "missing"), ""); err == nil {
		t.Fatal("missing dir")
	}
}
