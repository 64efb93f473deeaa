package dicomio

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReadRefsZip: ReadRefs of a .zip gives the references of the folder
// it was made from, the study attributes (read from the first slice's
// header) included.
func TestReadRefsZip(t *testing.T) {
	src := t.TempDir()
	files := writeSeries(t, src, "s", "P", "1.7.3", 4, 4, 4, func(int) []elem {
		return []elem{text(0x0020, 0x0052, "UI", "1.2.3.9"), text(0x0008, 0x0020, "DA", "20240102")}
	})
	var entries [][2]string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, [2]string{"d/" + filepath.Base(f), string(b)})
	}
	z := filepath.Join(t.TempDir(), "scan.zip")
	zipOf(t, z, entries)
	ref, err := ReadRefs(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadRefs(z, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got.FrameOfReferenceUID != "1.2.3.9" || got.StudyDate != "20240102" || got.FrameOfReferenceUID != ref.FrameOfReferenceUID {
		t.Errorf("zip refs: frame of reference %q, study date %q; folder: %q", got.FrameOfReferenceUID, got.StudyDate, ref.FrameOfReferenceUID)
	}
	if len(got.Slices) != 4 || len(ref.Slices) != 4 {
		t.Fatalf("slices: zip %d, folder %d", len(got.Slices), len(ref.Slices))
	}
	for i := range got.Slices {
		if got.Slices[i].SOPInstanceUID != ref.Slices[i].SOPInstanceUID || got.Slices[i].Position != ref.Slices[i].Position {
			t.Errorf("slice %d: zip %+v, folder %+v", i, got.Slices[i], ref.Slices[i])
		}
	}
}
