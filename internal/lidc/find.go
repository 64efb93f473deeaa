package lidc

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/lungctl/lungctl/internal/safefile"
)

// FindXML returns the LIDC XML beside a DICOM series: among the *.xml
// files directly in dir (any letter case, not recursive), those whose root
// element is LidcReadMessage and whose ResponseHeader SeriesInstanceUid
// equals seriesUID. A file without a SeriesInstanceUid matches too, but
// only when no file matches by UID; seriesUID "" accepts any UID. Files
// that cannot be read or are not XML are ignored.
//
// Errors: ErrNoXML when nothing matches, ErrAmbiguousXML (naming the
// files) when several match equally well, or the error listing dir; all
// name dir.
func FindXML(dir, seriesUID string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("lidc: %w", err)
	}
	var byUID, noUID []string
	for _, e := range ents {
		if e.IsDir() || !strings.EqualFold(filepath.Ext(e.Name()), ".xml") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		root, uid, ok := peekXML(p)
		if !ok || !strings.EqualFold(root, "LidcReadMessage") {
			continue
		}
		switch {
		case uid == "":
			noUID = append(noUID, p)
		case seriesUID == "" || uid == seriesUID:
			byUID = append(byUID, p)
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
	return "", fmt.Errorf("lidc: %s: %w for %s", dir, ErrNoXML, what)
}

// peekXML reads the root element name and ResponseHeader's
// SeriesInstanceUid of the XML file at path (the first MiB at most). A
// FIFO, device or socket named *.xml is skipped without blocking.
func peekXML(path string) (root, seriesUID string, ok bool) {
	f, err := safefile.Open(path)
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	root, seriesUID = peekHeader(f)
	return root, seriesUID, root != ""
}
