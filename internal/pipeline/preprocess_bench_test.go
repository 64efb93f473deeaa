package pipeline

import "testing"

// BenchmarkPreprocessLIDC runs Preprocess on the LIDC-IDRI-0001 DICOM folder
// (load, HU, 1 mm resampling, lung mask) with one reused Workspace, the
// steady state of a batch run.
func BenchmarkPreprocessLIDC(b *testing.B) {
	dir := needShared(b, "lidc-idri-0001")
	var ws Workspace
	if _, err := Preprocess(dir, PreprocessOptions{}, &ws); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Preprocess(dir, PreprocessOptions{}, &ws); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPreprocessLIDCOneShot is Preprocess without a Workspace, as the
// preprocess command runs it.
func BenchmarkPreprocessLIDCOneShot(b *testing.B) {
	dir := needShared(b, "lidc-idri-0001")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Preprocess(dir, PreprocessOptions{}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
