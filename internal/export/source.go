package export

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/lungctl/lungctl/internal/dicomio"
)

// SourceRefs returns the DICOM references of the scan at path, the input
// lungctl was given: a DICOM folder (or file) yields dicomio.ReadRefs's
// result for the series opt selects (the one dicomio.Load reads). A NIfTI or
// MetaImage file, or a folder holding no DICOM image series, yields an error
// wrapping ErrNoDICOMSource (and the reason).
func SourceRefs(path string, opt dicomio.Options) (*dicomio.SeriesRefs, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if !st.IsDir() {
		l := strings.ToLower(path)
		for _, ext := range []string{".nii", ".nii.gz", ".mhd", ".mha", ".raw", ".zraw"} {
			if strings.HasSuffix(l, ext) {
				return nil, fmt.Errorf("export: %s: %w: the scan is a %s file, not a DICOM series", path, ErrNoDICOMSource, ext)
			}
		}
	}
	refs, err := dicomio.ReadRefs(path, opt)
	if err != nil {
		if errors.Is(err, dicomio.ErrNoCTSeries) || errors.Is(err, dicomio.ErrNotDICOM) {
			return nil, fmt.Errorf("export: %s: %w: %w", path, ErrNoDICOMSource, err)
		}
		return nil, fmt.Errorf("export: %w", err)
	}
	return refs, nil
}

// checkSource validates the references a DICOM writer was given; with
// geometry it also checks what resampling onto the source slices needs: a
// matrix of at most 65535 pixels a side and 2^26 pixels in all, positive
// finite pixel spacing and unit, orthogonal row and column directions.
func checkSource(path string, src *dicomio.SeriesRefs, geometry bool) error {
	if src == nil || len(src.Slices) == 0 {
		return fmt.Errorf("export: %s: %w", path, ErrNoDICOMSource)
	}
	if src.StudyInstanceUID == "" || src.FrameOfReferenceUID == "" || src.SeriesInstanceUID == "" {
		return fmt.Errorf("export: %s: %w: the source references lack Study, Series or Frame of Reference UID", path, ErrNoDICOMSource)
	}
	for i, sl := range src.Slices {
		if sl.SOPClassUID == "" || sl.SOPInstanceUID == "" {
			return fmt.Errorf("export: %s: %w: source slice %d has no SOP Class or Instance UID", path, ErrNoDICOMSource, i)
		}
	}
	if !geometry {
		return nil
	}
	o := src.Orientation
	dot := o[0]*o[3] + o[1]*o[4] + o[2]*o[5]
	lr, lc := math.Sqrt(o[0]*o[0]+o[1]*o[1]+o[2]*o[2]), math.Sqrt(o[3]*o[3]+o[4]*o[4]+o[5]*o[5])
	switch {
	case src.Rows < 1 || src.Columns < 1 || src.Rows > 65535 || src.Columns > 65535 || src.Rows*src.Columns > 1<<26:
		return fmt.Errorf("export: %s: %w: unusable source matrix %d×%d pixels", path, ErrNoDICOMSource, src.Columns, src.Rows)
	case !(src.PixelSpacing[0] > 0) || !(src.PixelSpacing[1] > 0) || math.IsInf(src.PixelSpacing[0], 0) || math.IsInf(src.PixelSpacing[1], 0):
		return fmt.Errorf("export: %s: %w: unusable source pixel spacing %v mm", path, ErrNoDICOMSource, src.PixelSpacing)
	case !(math.Abs(lr-1) < 1e-3 && math.Abs(lc-1) < 1e-3 && math.Abs(dot) < 1e-3):
		return fmt.Errorf("export: %s: %w: source orientation %v is not two orthogonal unit vectors", path, ErrNoDICOMSource, o)
	}
	for i, sl := range src.Slices {
		for _, x := range sl.Position {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("export: %s: %w: source slice %d at %v mm", path, ErrNoDICOMSource, i, sl.Position)
			}
		}
	}
	return nil
}
