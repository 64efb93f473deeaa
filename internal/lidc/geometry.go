package lidc

import (
	"fmt"
	"math"
	"sort"

	"github.com/lungctl/lungctl/internal/volume"
)

// Geometry describes the source CT series the XML was drawn on. Build it
// from the series as loaded by dicomio: Grid = Scan.HU.Grid, Positions =
// Scan.Positions.
type Geometry struct {
	// Grid is the source series' voxel grid: i = pixel column (xCoord),
	// j = pixel row (yCoord), k = slice index in the stacking order;
	// Spacing in mm, Origin and Direction in LPS.
	Grid volume.Grid
	// Positions, when not nil, holds each slice's ImagePositionPatient (LPS
	// mm), len = Grid.Dims[2]; world points are then placed from the true
	// slice positions (uneven or tilted stacks). Nil: positions come from
	// Grid.IndexToWorld.
	Positions []volume.Vec3
	// SOPUIDs, when not nil, holds each slice's SOPInstanceUID, len =
	// Grid.Dims[2]; an ROI whose imageSOP_UID is listed goes to that slice
	// whatever its imageZposition says; other ROIs are placed by z.
	SOPUIDs []string
	// ZTolerance is how far (mm) an imageZposition may lie from a slice's z
	// and still match it; 0 means a quarter of the smallest z step between
	// neighbouring slices (0.01 mm for a single slice).
	ZTolerance float64
}

// geom is a validated Geometry with its derived tables.
type geom struct {
	g      Geometry
	pos    []volume.Vec3 // per slice, LPS mm
	zs     []float64     // slice z, sorted ascending
	zk     []int         // slice index of zs[n]
	tol    float64
	sop    map[string]int
	colDir volume.Vec3 // world step (mm) of one pixel along xCoord
	rowDir volume.Vec3 // world step (mm) of one pixel along yCoord
	voxel  float64     // voxel volume, mm³
}

// prepare validates g and builds the lookup tables. It fails (ErrGeometry)
// for an invalid grid, Positions or SOPUIDs of the wrong length, or slices
// whose z values coincide (z cannot then tell them apart).
func (g *Geometry) prepare() (*geom, error) {
	if err := g.Grid.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrGeometry, err)
	}
	nk := g.Grid.Dims[2]
	if g.Positions != nil && len(g.Positions) != nk {
		return nil, fmt.Errorf("%w: %d positions for %d slices", ErrGeometry, len(g.Positions), nk)
	}
	if g.SOPUIDs != nil && len(g.SOPUIDs) != nk {
		return nil, fmt.Errorf("%w: %d SOP UIDs for %d slices", ErrGeometry, len(g.SOPUIDs), nk)
	}
	q := &geom{g: *g, pos: make([]volume.Vec3, nk), zs: make([]float64, nk), zk: make([]int, nk)}
	for k := 0; k < nk; k++ {
		if g.Positions != nil {
			q.pos[k] = g.Positions[k]
		} else {
			q.pos[k] = g.Grid.IndexToWorld(volume.Vec3{0, 0, float64(k)})
		}
		for a := 0; a < 3; a++ {
			if math.IsNaN(q.pos[k][a]) || math.IsInf(q.pos[k][a], 0) {
				return nil, fmt.Errorf("%w: slice %d position %v", ErrGeometry, k, q.pos[k])
			}
		}
		q.zk[k] = k
	}
	sort.Slice(q.zk, func(a, b int) bool { return q.pos[q.zk[a]][2] < q.pos[q.zk[b]][2] })
	minStep := math.Inf(1)
	for n, k := range q.zk {
		q.zs[n] = q.pos[k][2]
		if n > 0 {
			minStep = min(minStep, q.zs[n]-q.zs[n-1])
		}
	}
	if nk > 1 && !(minStep > 1e-6) {
		return nil, fmt.Errorf("%w: two slices share z (step %.6g mm); imageZposition cannot tell them apart", ErrGeometry, minStep)
	}
	switch {
	case g.ZTolerance > 0:
		q.tol = min(g.ZTolerance, 0.49*minStep)
	case nk > 1:
		q.tol = 0.25 * minStep
	default:
		q.tol = 0.01
	}
	if g.SOPUIDs != nil {
		q.sop = make(map[string]int, nk)
		for k, u := range g.SOPUIDs {
			if u != "" {
				q.sop[u] = k
			}
		}
	}
	d, s := g.Grid.Direction, g.Grid.Spacing
	for r := 0; r < 3; r++ {
		q.colDir[r] = d[r][0] * s[0]
		q.rowDir[r] = d[r][1] * s[1]
	}
	q.voxel = math.Abs(det3(d)) * s[0] * s[1] * s[2]
	return q, nil
}

// slice returns the slice index for an ROI's imageZposition and SOP UID:
// the listed SOP UID when Geometry.SOPUIDs has it, otherwise the slice
// whose z is nearest to z when within the tolerance. ok is false when
// neither places it; why says so.
func (q *geom) slice(z float64, hasZ bool, sop string) (k int, ok bool, why string) {
	if sop != "" && q.sop != nil {
		if k, ok := q.sop[sop]; ok {
			return k, true, ""
		}
	}
	if !hasZ {
		return 0, false, "no imageZposition"
	}
	n := sort.SearchFloat64s(q.zs, z)
	best, bd := -1, math.Inf(1)
	for _, c := range []int{n - 1, n} {
		if c >= 0 && c < len(q.zs) {
			if d := math.Abs(q.zs[c] - z); d < bd {
				best, bd = c, d
			}
		}
	}
	if best < 0 || bd > q.tol {
		return 0, false, fmt.Sprintf("imageZposition %.4g mm matches no slice (nearest %.4g mm away, tolerance %.3g mm)", z, bd, q.tol)
	}
	return q.zk[best], true, ""
}

// world maps pixel (x, y) of slice k to LPS mm.
func (q *geom) world(k int, x, y float64) volume.Vec3 {
	p := q.pos[k]
	for r := 0; r < 3; r++ {
		p[r] += x*q.colDir[r] + y*q.rowDir[r]
	}
	return p
}

func det3(m [3][3]float64) float64 {
	return m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) -
		m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) +
		m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
}
