package pipeline

import (
	"errors"
	"fmt"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/volume"
)

// ErrOffScan reports a candidate whose centre lies outside the scan.
var ErrOffScan = errors.New("lies outside the scan's volume")

// CheckInside returns an error wrapping ErrOffScan for the first candidate
// of cs whose centre (LPS mm) is not finite or lies more than half a voxel
// outside p's HU volume, naming the candidate (its place in cs, 1-based)
// and the volume's extent. Such a row belongs to another scan or another
// coordinate frame (voxel indices, RAS): scored, it read the upper zone
// and Brock from a position no lesion can have, and a snapshot of it is a
// blank picture.
func CheckInside(p *Preprocessed, cs []candidate.Candidate) error {
	for i, c := range cs {
		if !p.HU.Covers(volume.Vec3(c.World)) {
			return fmt.Errorf("candidate %d of scan %s at LPS (%.4g, %.4g, %.4g) mm %w (%s)",
				i+1, p.ID, c.World[0], c.World[1], c.World[2], ErrOffScan, p.HU.ExtentText())
		}
	}
	return nil
}
