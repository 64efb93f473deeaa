package export

import (
	"path/filepath"
	"testing"

	"github.com/lungctl/lungctl/internal/dicomio"
)

// BenchmarkExportLIDC times each export of LIDC-IDRI-0001 (all 133 slices;
// labels on the 1 mm grid, 360×360×331 voxels, two findings) and all four
// together ("All": markups, .nii.gz label map, SEG, SR); "ReadRefs" is the
// header-only read of the source series the DICOM exports need.
func BenchmarkExportLIDC(b *testing.B) {
	c := lidcCase(b, true)
	dir := b.TempDir()
	b.Run("ReadRefs", func(b *testing.B) {
		for b.Loop() {
			if _, err := dicomio.ReadRefsFiles(c.files, dicomio.Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Markups", func(b *testing.B) {
		for b.Loop() {
			if err := WriteMarkups(filepath.Join(dir, "f.mrk.json"), c.findings); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("LabelMap", func(b *testing.B) {
		for b.Loop() {
			if err := WriteLabelMap(filepath.Join(dir, "labels.nii.gz"), c.labels); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SEG", func(b *testing.B) {
		for b.Loop() {
			if _, err := WriteSEG(filepath.Join(dir, "seg.dcm"), c.refs, c.labels, c.findings); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SR", func(b *testing.B) {
		for b.Loop() {
			if _, err := WriteSR(filepath.Join(dir, "sr.dcm"), c.refs, c.findings, SROptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("All", func(b *testing.B) {
		for b.Loop() {
			if err := WriteMarkups(filepath.Join(dir, "f.mrk.json"), c.findings); err != nil {
				b.Fatal(err)
			}
			if err := WriteLabelMap(filepath.Join(dir, "labels.nii.gz"), c.labels); err != nil {
				b.Fatal(err)
			}
			seg, err := WriteSEG(filepath.Join(dir, "seg.dcm"), c.refs, c.labels, c.findings)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := WriteSR(filepath.Join(dir, "sr.dcm"), c.refs, c.findings, SROptions{SEG: seg}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
