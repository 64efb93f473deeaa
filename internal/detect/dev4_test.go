package detect

import (
	"fmt"
	"os"
	"testing"

	"github.com/lungctl/lungctl/internal/volio"
)

// TestDevDumpPhantom writes a cached phantom's HU and mask as NIfTI
// (LUNGCTL_DUMP=seed:dir), a tuning aid.
func TestDevDumpPhantom(t *testing.T) {
	spec := os.Getenv("LUNGCTL_DUMP")
	if spec == "" {
		t.Skip("tuning aid")
	}
	var seed int64
	var dir string
	fmt.Sscanf(spec, "%d:%s", &seed, &dir)
	p := preparePhantom(t, seed)
	if err := volio.WriteNIfTI(dir+"/hu.nii.gz", p.HU, volio.NIfTIOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := volio.WriteNIfTI(dir+"/lung.nii.gz", p.Lung, volio.NIfTIOptions{}); err != nil {
		t.Fatal(err)
	}
}
