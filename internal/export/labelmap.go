package export

import (
	"fmt"

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
