package pipeline

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lungctl/lungctl/internal/dicomio"
	"github.com/lungctl/lungctl/internal/phantom"
)

// phantomSeries writes one small phantom patient as DICOM and returns its
// folder.
func phantomSeries(t *testing.T) string {
	t.Helper()
	c, err := phantom.Generate(phantom.Options{Seed: 3, Size: phantom.Small})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), c.PatientID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := phantom.WriteDICOM(dir, c); err != nil {
		t.Fatal(err)
	}
	return dir
}

func dicomioOptions() dicomio.Options { return dicomio.Options{} }
