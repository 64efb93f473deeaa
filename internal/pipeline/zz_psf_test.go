package pipeline

import (
	"fmt"
	"os"
	"testing"

	"github.com/lungctl/lungctl/internal/psf"
)

func TestZZPSF(t *testing.T) {
	for _, d := range []string{"/work/shared/data/lidc-idri-0001", "/tmp/me/nz/soft1/SOFT1.nii.gz", "/tmp/me/s401/ph/PHANTOM-401", "/tmp/me/s501/ph/PHANTOM-501", "/tmp/me/spsf2/ph/PHANTOM-701", "/tmp/me/nz2/pre/Lung_Dx-A0002.nii.gz"} {
		if _, err := os.Stat(d); err != nil {
			continue
		}
		p, err := Preprocess(d, PreprocessOptions{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, n, ok := psf.EdgeSigma(p.HU)
		fmt.Println(d, s, n, ok, p.AcquisitionSpacing, psf.KernelSigma(s, p.AcquisitionSpacing[0]))
	}
}
