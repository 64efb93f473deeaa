package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/lungctl/lungctl/internal/dicomio"
	"github.com/lungctl/lungctl/internal/hounsfield"
	"github.com/lungctl/lungctl/internal/volio"
	"github.com/lungctl/lungctl/internal/volume"
)

// AttachSource makes p.Source the scan's acquisition-grid volume where one
// can be had, for pictures at source resolution, and says what it did:
// when p came from a preprocess output (its Source is the 1 mm grid) whose
// sidecar names the original input and that input still exists, the input
// is read again (DICOM series p.SeriesUID, or the file), in HU after the
// one normalisation. Otherwise p.Source stays as it is (the 1 mm volume
// when nothing else is known) and the note says why.
func AttachSource(p *Preprocessed, in string) (note string, err error) {
	if p.Source != nil && p.Source != p.HU {
		return "", nil // already the acquisition grid
	}
	// What cannot be found out below only costs the pictures their source
	// resolution: a note, not an error.
	kind, err := KindOf(in)
	if err != nil {
		return fmt.Sprintf("pictures from the volume as loaded: %v", err), nil
	}
	if kind != NIfTI {
		return "", nil // a DICOM series or a MetaImage: p.Source is its own grid
	}
	side, err := volio.ReadSidecar(sidecarPath(in))
	switch {
	case errors.Is(err, fs.ErrNotExist) || (err == nil && side.Input == ""):
		return "pictures from the 1 mm volume: no sidecar naming the original scan beside " + in, nil
	case err != nil:
		return fmt.Sprintf("pictures from the 1 mm volume: the sidecar naming the original scan cannot be read: %v", err), nil
	}
	if _, err := os.Stat(side.Input); err != nil {
		return fmt.Sprintf("pictures from the 1 mm volume: the original scan %s is not there (%v)", side.Input, err), nil
	}
	src, err := loadSource(side.Input, p.SeriesUID)
	if err != nil {
		return "", fmt.Errorf("source of %s: %w", in, err)
	}
	p.Source = src
	return "", nil
}

// loadSource reads a scan on its acquisition grid in HU (DICOM series uid,
// or a volume file), after hounsfield.Normalize.
func loadSource(in, uid string) (*volume.Volume[int16], error) {
	kind, err := KindOf(in)
	if err != nil {
		return nil, err
	}
	var v *volume.Volume[int16]
	if kind == DICOMDir {
		s, err := dicomio.Load(in, dicomio.Options{SeriesUID: uid})
		if err != nil {
			return nil, err
		}
		v = s.HU
	} else if v, err = volio.ReadHU(in); err != nil {
		return nil, err
	}
	hounsfield.Normalize(v.Data)
	return v, nil
}
