package lidc

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/lungctl/lungctl/internal/safefile"
)

// FindXML returns the LIDC XML beside a DICOM series: among the *.xml
// files directly in dir (any letter case, not recursive), those whose root
// element is LidcReadMessage and whose ResponseHeader SeriesInstanceUid
// equals seriesUID. A file without a SeriesInstanceUid matches too, but
// only when no file matches by UID; seriesUID "" accepts any UID. Files
// that cannot be read or are not XML are passed over.
//
// Errors: ErrNoXML when nothing matches, listing the .xml files passed over
// and why (not readable, not XML, another root element, another series;
// the first maxSkipNotes by name), ErrAmbiguousXML (naming the files) when
// several match equally well, or the error listing dir; all name dir.
func FindXML(dir, seriesUID string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("lidc: %w", err)
	}
	var byUID, noUID, skipped []string
	for _, e := range ents {
		if e.IsDir() || !strings.EqualFold(filepath.Ext(e.Name()), ".xml") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		root, uid, why := peekXML(p)
		switch {
		case why != "":
		case !strings.EqualFold(root, "LidcReadMessage"):
			why = fmt.Sprintf("root element %s, not LidcReadMessage", root)
		case uid == "":
			noUID = append(noUID, p)
		case seriesUID == "" || uid == seriesUID:
			byUID = append(byUID, p)
		default:
			why = "series " + uid
		}
		if why != "" {
			skipped = append(skipped, fmt.Sprintf("%q (%s)", e.Name(), clip(why, 160)))
		}
	}
	for _, c := range [][]string{byUID, noUID} {
		switch len(c) {
		case 0:
			continue
		case 1:
			return c[0], nil
		default:
			sort.Strings(c)
			return "", fmt.Errorf("lidc: %s: %w: %s", dir, ErrAmbiguousXML, strings.Join(c, ", "))
		}
	}
	what := "series " + seriesUID
	if seriesUID == "" {
		what = "any series"
	}
	if len(skipped) == 0 {
		return "", fmt.Errorf("lidc: %s: %w for %s (no .xml file there)", dir, ErrNoXML, what)
	}
	more := ""
	if len(skipped) > maxSkipNotes {
		more = fmt.Sprintf("; and %d more", len(skipped)-maxSkipNotes)
		skipped = skipped[:maxSkipNotes]
	}
	return "", fmt.Errorf("lidc: %s: %w for %s; passed over: %s%s", dir, ErrNoXML, what, strings.Join(skipped, "; "), more)
}

// maxSkipNotes bounds the files passed over that FindXML's error lists.
const maxSkipNotes = 8

// clip shortens s to at most n bytes (on a rune boundary), marking a cut
// with "…".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// peekXML reads the root element name and ResponseHeader's
// SeriesInstanceUid of the XML file at path (the first MiB at most). A
// FIFO, device or socket named *.xml is skipped without blocking. why says
// why the file is unusable ("" when a root element was read).
func peekXML(path string) (root, seriesUID, why string) {
	f, err := safefile.Open(path)
	if err != nil {
		return "", "", "not readable: " + err.Error()
	}
	defer f.Close()
	root, seriesUID, err = peekHeader(f)
	if root == "" {
		return "", "", fmt.Sprintf("not XML: %v", err)
	}
	return root, seriesUID, ""
}
