package lidc

import (
	"fmt"
	"math"
	"sort"

	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/volume"
)

// Options tunes Analyze. The zero value follows pylidc wherever this
// package can (each field says where it differs).
type Options struct {
	// Rule is the contour filling rule (default OutlineOutside, pylidc's).
	Rule FillRule
	// RequireRatings, when set, treats a contoured nodule as ≥ 3 mm only
	// when all nine ratings are present, as pylidc's database does; by
	// default contours alone decide (ReaderNodule.Large).
	RequireRatings bool
	// ConsensusLevel is the fraction of a nodule's readers that must mark a
	// voxel for the consensus mask; 0 means 0.5 (pylidc's clevel).
	ConsensusLevel float64
	// Cluster tunes how readers' annotations are grouped.
	Cluster ClusterOptions
}

// Annotation is one reader's nodule ≥ 3 mm placed on the source series.
type Annotation struct {
	Session  int    // index into Message.Sessions
	Reader   string // the session's servicingRadiologistID
	NoduleID string
	Ratings  Ratings
	// Mask is the filled nodule (see FillRule) on the box spanning the
	// used contours' points and slices.
	Mask Mask
	// Voxels is the number of mask voxels; VolumeMM3 is Voxels times the
	// source grid's voxel volume (mm³).
	Voxels    int
	VolumeMM3 float64
	// DiameterMM is pylidc's diameter: the largest distance (mm) between
	// two points of one contour, over all used contours (in-plane).
	DiameterMM float64
	// Centroid is pylidc's centroid: the mean of all used contour points,
	// LPS mm.
	Centroid volume.Vec3
	// MaskCentroid is the mean of the mask voxels' centres, LPS mm (equal
	// to Centroid when the mask is empty).
	MaskCentroid volume.Vec3
	// ZMin, ZMax are the lowest and highest LPS z (mm) of the slices of the
	// used contours.
	ZMin, ZMax float64
	// Contours is the number of ROIs used (two or more points, placed on
	// a slice, inside the image).
	Contours int

	pts []volume.Vec3 // distinct used contour points, LPS mm
}

// Mark is a nodule < 3 mm or a non-nodule: one point.
type Mark struct {
	Session int
	Reader  string
	ID      string
	// Position is the marked pixel's centre, LPS mm.
	Position volume.Vec3
	// Slice is the source grid slice index k.
	Slice int
}

// Result is what Analyze finds in one XML.
type Result struct {
	// Annotations are the readers' nodules ≥ 3 mm, in file order.
	Annotations []Annotation
	// Nodules are the physical nodules ≥ 3 mm (groups of Annotations),
	// ordered by increasing z of the readers' mean centroid.
	Nodules []Nodule
	// Small are the nodules < 3 mm, NonNodules the non-nodules, in file order.
	Small      []Mark
	NonNodules []Mark
	// Warnings lists what was skipped and why: ROIs on no slice of the
	// series or with points outside the image, marks with no usable ROI,
	// clusters that could not be split.
	Warnings []string
}

// Analyze places every reader's marks of m on the series g describes,
// builds each nodule ≥ 3 mm's mask and measurements, groups readers'
// nodules into physical nodules (see ClusterOptions) and computes their
// consensus (see Nodule).
//
// Per ROI: contours of fewer than two points inside a nodule ≥ 3 mm are
// stray marks and ignored (as pylidc does). An ROI is placed on the slice
// whose SOP UID it names (when g lists SOP UIDs) or else whose z is within
// g's tolerance of its imageZposition; an ROI placed on no slice, or with a
// point outside the slice's columns × rows, is skipped with a warning, and
// a mark left with nothing usable is dropped with a warning. Analyze fails
// only for an unusable Geometry (ErrGeometry) or a file beyond
// MaxAnnotations or MaxMaskVoxels, or whose contours are packed so densely
// that grouping them would take over 2^31 point comparisons (ErrTooLarge),
// or whose masks exceed the memory budget (membudget.ErrTooBig): the
// readers' mask boxes together, then each consensus' box (3 bytes a voxel
// while it is counted) with the consensus masks already kept, are reserved
// before they are allocated and held until Analyze returns.
func Analyze(m *Message, g Geometry, opt Options) (*Result, error) {
	q, err := g.prepare()
	if err != nil {
		return nil, fmt.Errorf("lidc: %s: %w", m.File, err)
	}
	var held []func()
	defer func() {
		for _, release := range held {
			release()
		}
	}()
	reserve := func(bytes uint64, format string, a ...any) (func(), error) {
		release, err := membudget.Reserve(fmt.Sprintf("lidc: %s: ", m.File)+fmt.Sprintf(format, a...), bytes)
		if err != nil {
			return nil, err
		}
		held = append(held, release)
		return release, nil
	}
	res := &Result{}
	warn := func(format string, a ...any) {
		res.Warnings = append(res.Warnings, fmt.Sprintf(format, a...))
	}
	todo, boxVoxels, planeVoxels, err := q.gather(m, opt, res, warn)
	if err != nil {
		return nil, err
	}
	// The masks, and one slice's scratch plane (both a byte a voxel).
	if _, err := reserve(uint64(boxVoxels+planeVoxels), "masks of %d readers' nodules (%d voxels)", len(todo), boxVoxels); err != nil {
		return nil, err
	}
	for _, p := range todo {
		a := q.annotate(p.used, opt.Rule)
		a.Session, a.Reader, a.NoduleID, a.Ratings = p.session, m.Sessions[p.session].ReaderID, p.nod.ID, p.nod.Ratings
		res.Annotations = append(res.Annotations, a)
	}
	groups, ok, err := cluster(res.Annotations, q.g.Grid.Spacing[2], opt.Cluster)
	if err != nil {
		return nil, fmt.Errorf("lidc: %s: %w", m.File, err)
	}
	if !ok {
		warn("clustering could not separate every reader's nodules (a group holds two nodules of one reader)")
	}
	level := opt.ConsensusLevel
	if level <= 0 {
		level = 0.5
	}
	for n, grp := range groups {
		nd, err := q.consensus(res.Annotations, grp, level, func(bytes uint64, what string) (func(), error) {
			return reserve(bytes, "consensus of nodule %d: %s", n+1, what)
		})
		if err != nil {
			return nil, err
		}
		res.Nodules = append(res.Nodules, nd)
	}
	return res, nil
}

// pending is a reader's nodule of 3 mm or more whose contours are placed on
// the series, waiting for its mask.
type pending struct {
	session int
	nod     *ReaderNodule
	used    []placed
}

// gather places every reader's nodule of m on the series (those under
// 3 mm, and non-nodules, go to res as marks; what cannot be placed is
// warned about) and returns the nodules of 3 mm or more with the voxels
// their mask boxes will take together and the largest slice plane: all
// are placed before any mask exists, so that the bounds hold first.
func (q *geom) gather(m *Message, opt Options, res *Result, warn func(string, ...any)) (todo []pending, boxVoxels, planeVoxels int, err error) {
	nx, ny := q.g.Grid.Dims[0], q.g.Grid.Dims[1]
	inImage := func(p Point) bool { return p.X >= 0 && p.Y >= 0 && p.X < nx && p.Y < ny }
	for si := range m.Sessions {
		s := &m.Sessions[si]
		who := fmt.Sprintf("session %d (reader %q)", si+1, s.ReaderID)
		for ni := range s.Nodules {
			n := &s.Nodules[ni]
			if !n.Large() || (opt.RequireRatings && !n.Ratings.Complete()) {
				mk, ok := q.placeMark(n.ROIs)
				if !ok {
					warn("%s nodule %q: no point placed on the series; skipped", who, n.ID)
					continue
				}
				mk.Session, mk.Reader, mk.ID = si, s.ReaderID, n.ID
				res.Small = append(res.Small, mk)
				continue
			}
			var used []placed
			for ri, r := range n.ROIs {
				if len(r.Points) < 2 {
					continue
				}
				k, ok, why := q.slice(r.Z, r.HasZ, r.SOPUID)
				if !ok {
					warn("%s nodule %q roi %d: %s; skipped", who, n.ID, ri+1, why)
					continue
				}
				bad := -1
				for pi, p := range r.Points {
					if !inImage(p) {
						bad = pi
						break
					}
				}
				if bad >= 0 {
					warn("%s nodule %q roi %d: point (%d, %d) outside the %d×%d image; skipped", who, n.ID, ri+1, r.Points[bad].X, r.Points[bad].Y, nx, ny)
					continue
				}
				used = append(used, placed{roi: &n.ROIs[ri], k: k})
			}
			if len(used) == 0 {
				warn("%s nodule %q: no usable contour; skipped", who, n.ID)
				continue
			}
			if len(todo) >= MaxAnnotations {
				return nil, 0, 0, fmt.Errorf("lidc: %s: %w: over %d nodules ≥ 3 mm", m.File, ErrTooLarge, MaxAnnotations)
			}
			box, plane := boxSize(used)
			if boxVoxels += box; boxVoxels > MaxMaskVoxels {
				return nil, 0, 0, fmt.Errorf("lidc: %s: %w: nodule masks over %d voxels", m.File, ErrTooLarge, MaxMaskVoxels)
			}
			planeVoxels = max(planeVoxels, plane)
			todo = append(todo, pending{session: si, nod: n, used: used})
		}
		for _, nn := range s.NonNodules {
			if !nn.HasPoint || !inImage(nn.Point) {
				warn("%s non-nodule %q: no locus inside the image; skipped", who, nn.ID)
				continue
			}
			mk, ok := q.placeMark([]ROI{{Z: nn.Z, HasZ: nn.HasZ, SOPUID: nn.SOPUID, Points: []Point{nn.Point}}})
			if !ok {
				warn("%s non-nodule %q: not placed on any slice; skipped", who, nn.ID)
				continue
			}
			mk.Session, mk.Reader, mk.ID = si, s.ReaderID, nn.ID
			res.NonNodules = append(res.NonNodules, mk)
		}
	}
	return todo, boxVoxels, planeVoxels, nil
}

type placed struct {
	roi *ROI
	k   int
}

// boxSize is the number of voxels of the box spanning the placed ROIs, and
// of one of its slices.
func boxSize(used []placed) (box, plane int) {
	lo := [3]int{math.MaxInt, math.MaxInt, math.MaxInt}
	hi := [3]int{math.MinInt, math.MinInt, math.MinInt}
	for _, u := range used {
		for _, p := range u.roi.Points {
			lo = [3]int{min(lo[0], p.X), min(lo[1], p.Y), min(lo[2], u.k)}
			hi = [3]int{max(hi[0], p.X), max(hi[1], p.Y), max(hi[2], u.k)}
		}
	}
	plane = (hi[0] - lo[0] + 1) * (hi[1] - lo[1] + 1)
	return plane * (hi[2] - lo[2] + 1), plane
}

// placeMark places a point mark: the mean of the points of the first ROI
// that lands on a slice with all its points inside the image (LIDC's
// nodules < 3 mm have one point).
func (q *geom) placeMark(rois []ROI) (Mark, bool) {
next:
	for _, r := range rois {
		if len(r.Points) == 0 {
			continue
		}
		var sx, sy float64
		for _, p := range r.Points {
			if p.X < 0 || p.Y < 0 || p.X >= q.g.Grid.Dims[0] || p.Y >= q.g.Grid.Dims[1] {
				continue next
			}
			sx, sy = sx+float64(p.X), sy+float64(p.Y)
		}
		if k, ok, _ := q.slice(r.Z, r.HasZ, r.SOPUID); ok {
			n := float64(len(r.Points))
			return Mark{Position: q.world(k, sx/n, sy/n), Slice: k}, true
		}
	}
	return Mark{}, false
}

// annotate builds one reader's mask and measurements from its placed ROIs.
func (q *geom) annotate(used []placed, rule FillRule) Annotation {
	lo := [3]int{math.MaxInt, math.MaxInt, math.MaxInt}
	hi := [3]int{math.MinInt, math.MinInt, math.MinInt}
	var a Annotation
	a.ZMin, a.ZMax = math.Inf(1), math.Inf(-1)
	var sum volume.Vec3
	npts := 0
	seen := map[[3]int]bool{}
	for _, u := range used {
		for _, p := range u.roi.Points {
			lo = [3]int{min(lo[0], p.X), min(lo[1], p.Y), min(lo[2], u.k)}
			hi = [3]int{max(hi[0], p.X), max(hi[1], p.Y), max(hi[2], u.k)}
			w := q.world(u.k, float64(p.X), float64(p.Y))
			for r := 0; r < 3; r++ {
				sum[r] += w[r]
			}
			npts++
			if key := [3]int{p.X, p.Y, u.k}; !seen[key] {
				seen[key] = true
				a.pts = append(a.pts, w)
			}
		}
		z := q.pos[u.k][2]
		a.ZMin, a.ZMax = min(a.ZMin, z), max(a.ZMax, z)
		a.DiameterMM = max(a.DiameterMM, q.maxChord(u.roi.Points))
	}
	a.Contours = len(used)
	for r := 0; r < 3; r++ {
		a.Centroid[r] = sum[r] / float64(npts)
	}

	a.Mask = newMask(lo, hi)
	w, h := a.Mask.Dims[0], a.Mask.Dims[1]
	tmp := make([]uint8, w*h)
	sort.SliceStable(used, func(i, j int) bool { return used[i].k < used[j].k })
	for i := 0; i < len(used); {
		k := used[i].k
		var incl, excl [][]Point
		for ; i < len(used) && used[i].k == k; i++ {
			if used[i].roi.Inclusion {
				incl = append(incl, used[i].roi.Points)
			} else {
				excl = append(excl, used[i].roi.Points)
			}
		}
		plane := a.Mask.Data[(k-lo[2])*w*h:][:w*h]
		fillSlice(plane, tmp, w, h, lo[0], lo[1], incl, excl, rule)
	}
	a.Voxels = a.Mask.Count()
	a.VolumeMM3 = float64(a.Voxels) * q.voxel
	a.MaskCentroid = q.maskCentroid(&a.Mask)
	if a.Voxels == 0 {
		a.MaskCentroid = a.Centroid
	}
	return a
}

// maskCentroid is the mean LPS position (mm) of the set voxels' centres
// (NaN for an empty mask).
func (q *geom) maskCentroid(m *Mask) volume.Vec3 {
	var sum volume.Vec3
	n := 0
	for k := 0; k < m.Dims[2]; k++ {
		var si, sj float64
		nk := 0
		for j := 0; j < m.Dims[1]; j++ {
			row := m.Data[m.Dims[0]*(j+m.Dims[1]*k):][:m.Dims[0]]
			for i, v := range row {
				if v != 0 {
					si += float64(i + m.Origin[0])
					sj += float64(j + m.Origin[1])
					nk++
				}
			}
		}
		if nk == 0 {
			continue
		}
		// world() is affine in (i, j) on a slice: the sum of positions is
		// nk·world at the mean (i, j).
		w := q.world(k+m.Origin[2], si/float64(nk), sj/float64(nk))
		for r := 0; r < 3; r++ {
			sum[r] += w[r] * float64(nk)
		}
		n += nk
	}
	for r := 0; r < 3; r++ {
		sum[r] /= float64(n)
	}
	return sum
}

// maxChord is the largest distance (mm) between two of the points, all on
// one slice: the farthest pair lies on the convex hull (an affine map keeps
// hulls), so only hull vertices are compared.
func (q *geom) maxChord(pts []Point) float64 {
	h := hull(pts)
	best := 0.0
	for i := range h {
		for j := i + 1; j < len(h); j++ {
			dx, dy := float64(h[j].X-h[i].X), float64(h[j].Y-h[i].Y)
			var d2 float64
			for r := 0; r < 3; r++ {
				c := dx*q.colDir[r] + dy*q.rowDir[r]
				d2 += c * c
			}
			best = max(best, d2)
		}
	}
	return math.Sqrt(best)
}

// hull returns the convex hull vertices of pts (monotone chain; collinear
// points dropped; all distinct points when fewer than three).
func hull(pts []Point) []Point {
	p := append([]Point(nil), pts...)
	sort.Slice(p, func(i, j int) bool {
		if p[i].X != p[j].X {
			return p[i].X < p[j].X
		}
		return p[i].Y < p[j].Y
	})
	u := p[:0]
	for i, v := range p {
		if i == 0 || v != p[i-1] {
			u = append(u, v)
		}
	}
	p = u
	if len(p) < 3 {
		return p
	}
	cross := func(o, a, b Point) int {
		return (a.X-o.X)*(b.Y-o.Y) - (a.Y-o.Y)*(b.X-o.X)
	}
	h := make([]Point, 0, 2*len(p))
	for _, v := range p {
		for len(h) >= 2 && cross(h[len(h)-2], h[len(h)-1], v) <= 0 {
			h = h[:len(h)-1]
		}
		h = append(h, v)
	}
	t := len(h) + 1
	for i := len(p) - 2; i >= 0; i-- {
		v := p[i]
		for len(h) >= t && cross(h[len(h)-2], h[len(h)-1], v) <= 0 {
			h = h[:len(h)-1]
		}
		h = append(h, v)
	}
	return h[:len(h)-1]
}
