package export

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/lungctl/lungctl/internal/dicomio"
	"github.com/lungctl/lungctl/internal/volio"
	"github.com/lungctl/lungctl/internal/volume"
)

// WriteLabelMap writes the label volume (voxel value = Finding.Rank, 0 =
// background) as NIfTI-1 uint8 (.nii, or gzip-compressed when path ends in
// .gz) through volio.WriteNIfTI: the voxel→world map goes into sform and
// qform as RAS mm (volio negates LPS x and y at the file boundary), so
// ITK-SNAP and 3D Slicer overlay it exactly on lungctl's <id>.nii.gz, which
// volio writes on the same grid. The file is written atomically.
func WriteLabelMap(path string, labels *volume.Volume[uint8]) error {
	if labels == nil {
		return fmt.Errorf("export: %s: %w: nil label volume", path, ErrLabels)
	}
	if err := labels.Check(); err != nil {
		return fmt.Errorf("export: %s: %w: %w", path, ErrLabels, err)
	}
	if err := volio.WriteNIfTI(path, labels, volio.NIfTIOptions{Description: "lungctl nodule labels (value = rank)"}); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

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

// checkSource validates the references a DICOM writer was given.
func checkSource(path string, src *dicomio.SeriesRefs) error {
	if src == nil || len(src.Slices) == 0 {
		return fmt.Errorf("export: %s: %w", path, ErrNoDICOMSource)
	}
	if src.StudyInstanceUID == "" || src.FrameOfReferenceUID == "" || src.SeriesInstanceUID == "" {
		return fmt.Errorf("export: %s: %w: the source references lack Study, Series or Frame of Reference UID", path, ErrNoDICOMSource)
	}
	return nil
}
