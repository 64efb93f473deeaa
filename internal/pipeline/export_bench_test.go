package pipeline

import (
	"path/filepath"
	"testing"
)

// BenchmarkExportsLIDC times what run --export adds to a scan of
// LIDC-IDRI-0001: WriteExports (the Slicer markups, the label map, the
// source references read again, the DICOM SEG and SR), on the scan's
// detected candidates.
func BenchmarkExportsLIDC(b *testing.B) {
	dir := needShared(b, "lidc-idri-0001")
	p, err := Preprocess(dir, PreprocessOptions{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	cs, dr, err := Detect(p, (&Worker{}).Opt.Detect, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := Score(p, cs, ScoreOptions{}); err != nil {
		b.Fatal(err)
	}
	out := b.TempDir()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ex, err := WriteExports(p, cs, dr.Nodules, out)
		if err != nil || len(ex.Files) != 4 {
			b.Fatalf("%v %v", err, ex.Files)
		}
	}

}

// BenchmarkReportLIDC times what run --report adds to a scan of
// LIDC-IDRI-0001: the overview, 60 plane pictures from the DICOM stack and
// the page.
func BenchmarkReportLIDC(b *testing.B) {
	dir := needShared(b, "lidc-idri-0001")
	p, err := Preprocess(dir, PreprocessOptions{KeepSource: true}, nil)
	if err != nil {
		b.Fatal(err)
	}
	cs, _, err := Detect(p, (&Worker{}).Opt.Detect, nil)
	if err != nil {
		b.Fatal(err)
	}
	s, err := Score(p, cs, ScoreOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var rec ScanRecord
	rec.setScored(s)
	path := filepath.Join(b.TempDir(), "r.html")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := WriteReport(path, ReportInput{Rec: rec, Cands: cs, HU: p.HU, Lung: p.Lung, Source: p.Source}); err != nil {
			b.Fatal(err)
		}
	}
}
