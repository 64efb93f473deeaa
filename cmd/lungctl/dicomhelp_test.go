package main

// Helpers for the export tests: compare DICOM objects up to the UIDs and
// times each write makes new, and validate them with dciodvfy.

import (
	"crypto/sha256"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
)

// dicomFingerprint lists a DICOM file's elements, nested ones included, as
// text lines, with what each write makes anew taken out: dates and times
// are blanked, and every UID but the DICOM standard's (1.2.840.10008.*)
// and those in keep (the source series' UIDs) is renamed by order of first
// appearance, and group lengths are left out: a new UID's decimal digits
// vary (2.25.<random 122 bits>, 37 digits in about 3 % of them), and the
// file meta group's length with them. Two writes of the same findings give
// the same fingerprint.
func dicomFingerprint(t *testing.T, path string, keep map[string]bool) string {
	t.Helper()
	ds, err := dicom.ParseFile(path, nil, dicom.SkipPixelData())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	renamed := map[string]string{}
	var b strings.Builder
	var walk func(es []*dicom.Element, depth int)
	walk = func(es []*dicom.Element, depth int) {
		for _, e := range es {
			if e.Tag.Element == 0x0000 {
				continue // a group length: see above
			}
			fmt.Fprintf(&b, "%s%v %s ", strings.Repeat(" ", depth), e.Tag, e.RawValueRepresentation)
			switch v := e.Value.GetValue().(type) {
			case []*dicom.SequenceItemValue:
				b.WriteString("\n")
				for _, it := range v {
					walk(it.GetValue().([]*dicom.Element), depth+1)
				}
				continue
			case []string:
				switch e.RawValueRepresentation {
				case "DA", "TM", "DT":
					v = nil
				case "UI":
					for i, u := range v {
						u = strings.TrimRight(u, "\x00 ")
						if strings.HasPrefix(u, "1.2.840.10008.") || keep[u] {
							continue
						}
						if renamed[u] == "" {
							renamed[u] = fmt.Sprintf("uid#%d", len(renamed)+1)
						}
						v[i] = renamed[u]
					}
				}
				fmt.Fprint(&b, v)
			case []byte:
				fmt.Fprintf(&b, "%x", sha256.Sum256(v))
			default:
				fmt.Fprint(&b, v)
			}
			b.WriteString("\n")
		}
	}
	walk(ds.Elements, 0)
	return b.String()
}

// dciodvfy validates a DICOM file with dciodvfy (dicom3tools) when it is
// installed and fails the test on any error it reports (warnings pass).
func dciodvfy(t *testing.T, path string) {
	t.Helper()
	exe, err := exec.LookPath("dciodvfy")
	if err != nil {
		t.Logf("dciodvfy not installed: %s not validated", filepath.Base(path))
		return
	}
	out, _ := exec.Command(exe, path).CombinedOutput()
	var errs []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "Error") {
			errs = append(errs, l)
		}
	}
	if len(errs) > 0 {
		t.Errorf("dciodvfy %s:\n%s", filepath.Base(path), strings.Join(errs, "\n"))
	}
}
