package pipeline

import (
	"errors"
	"fmt"
	"math"

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
	g := p.HU.Grid
	for i, c := range cs {
		ix := g.WorldToIndex(volume.Vec3(c.World))
		ok := true
		for a := 0; a < 3; a++ {
			if !(ix[a] >= -0.5 && ix[a] <= float64(g.Dims[a])-0.5) || math.IsNaN(c.World[a]) {
				ok = false
			}
		}
		if !ok {
			lo := g.IndexToWorld(volume.Vec3{-0.5, -0.5, -0.5})
			hi := g.IndexToWorld(volume.Vec3{float64(g.Dims[0]) - 0.5, float64(g.Dims[1]) - 0.5, float64(g.Dims[2]) - 0.5})
			return fmt.Errorf("candidate %d of scan %s at LPS (%.4g, %.4g, %.4g) mm %w (x %.1f…%.1f, y %.1f…%.1f, z %.1f…%.1f mm)",
				i+1, p.ID, c.World[0], c.World[1], c.World[2], ErrOffScan,
				math.Min(lo[0], hi[0]), math.Max(lo[0], hi[0]), math.Min(lo[1], hi[1]), math.Max(lo[1], hi[1]), math.Min(lo[2], hi[2]), math.Max(lo[2], hi[2]))
		}
	}
	return nil
}
