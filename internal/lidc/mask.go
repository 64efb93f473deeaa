package lidc

import (
	"sort"

	"github.com/lungctl/lungctl/internal/volume"
)

// Mask is a 0/1 uint8 box on the source series' voxel grid.
type Mask struct {
	// Origin is the voxel index (i, j, k) on the source grid of Data[0].
	Origin [3]int
	// Dims is the box size in voxels along i, j, k; all zero for an empty mask.
	Dims [3]int
	// Data holds Dims[0]·Dims[1]·Dims[2] voxels, i fastest, 1 inside.
	Data []uint8
}

func newMask(lo, hi [3]int) Mask {
	m := Mask{Origin: lo}
	for a := 0; a < 3; a++ {
		m.Dims[a] = hi[a] - lo[a] + 1
	}
	m.Data = make([]uint8, m.Dims[0]*m.Dims[1]*m.Dims[2])
	return m
}

// At reports voxel (i, j, k) of the source grid (false outside the box).
func (m *Mask) At(i, j, k int) bool {
	i, j, k = i-m.Origin[0], j-m.Origin[1], k-m.Origin[2]
	if i < 0 || j < 0 || k < 0 || i >= m.Dims[0] || j >= m.Dims[1] || k >= m.Dims[2] {
		return false
	}
	return m.Data[i+m.Dims[0]*(j+m.Dims[1]*k)] != 0
}

// Count is the number of voxels set.
func (m *Mask) Count() int {
	n := 0
	for _, v := range m.Data {
		if v != 0 {
			n++
		}
	}
	return n
}

// Grid returns the box's own grid given the source grid: same spacing and
// direction, origin at voxel Origin of src (LPS mm). With uneven slice
// positions it is the uniform approximation src itself makes.
func (m *Mask) Grid(src volume.Grid) volume.Grid {
	g := src
	g.Dims = m.Dims
	g.Origin = src.IndexToWorld(volume.Vec3{float64(m.Origin[0]), float64(m.Origin[1]), float64(m.Origin[2])})
	return g
}

// Volume returns the mask as a volume on Grid(src), sharing Data.
func (m *Mask) Volume(src volume.Grid) *volume.Volume[uint8] {
	return &volume.Volume[uint8]{Grid: m.Grid(src), Data: m.Data}
}

// Crop returns the mask cut to the bounding box of its set voxels (a
// zero-size Mask when none is set).
func (m *Mask) Crop() Mask {
	return m.cropTo(m.bounds())
}

// bounds returns the box (relative to m's) of the set voxels; set is false
// when none is.
func (m *Mask) bounds() (lo, hi [3]int, set bool) {
	lo = [3]int{m.Dims[0], m.Dims[1], m.Dims[2]}
	hi = [3]int{-1, -1, -1}
	for k := 0; k < m.Dims[2]; k++ {
		for j := 0; j < m.Dims[1]; j++ {
			row := m.Data[m.Dims[0]*(j+m.Dims[1]*k):][:m.Dims[0]]
			for i, v := range row {
				if v != 0 {
					lo = [3]int{min(lo[0], i), min(lo[1], j), min(lo[2], k)}
					hi = [3]int{max(hi[0], i), max(hi[1], j), max(hi[2], k)}
				}
			}
		}
	}
	return lo, hi, hi[0] >= 0
}

// cropTo copies the box lo..hi (from bounds) of m into a new mask.
func (m *Mask) cropTo(lo, hi [3]int, set bool) Mask {
	if !set {
		return Mask{Origin: m.Origin}
	}
	c := newMask([3]int{m.Origin[0] + lo[0], m.Origin[1] + lo[1], m.Origin[2] + lo[2]},
		[3]int{m.Origin[0] + hi[0], m.Origin[1] + hi[1], m.Origin[2] + hi[2]})
	for k := 0; k < c.Dims[2]; k++ {
		for j := 0; j < c.Dims[1]; j++ {
			src := m.Data[lo[0]+m.Dims[0]*(j+lo[1]+m.Dims[1]*(k+lo[2])):][:c.Dims[0]]
			copy(c.Data[c.Dims[0]*(j+c.Dims[1]*k):], src)
		}
	}
	return c
}

// FillRule selects how a contour's own outline pixels count.
type FillRule int

const (
	// OutlineOutside is pylidc's default (boolean_mask with
	// include_contour_points=False) and the LIDC instruction that the
	// outline is drawn on the first pixels outside the nodule: a pixel is
	// in the nodule when its centre is strictly inside an inclusion contour
	// (even–odd rule) and it is not on that contour's outline.
	OutlineOutside FillRule = iota
	// OutlineInside counts an inclusion contour's outline pixels as inside
	// too. (pylidc's include_contour_points=True leaves them to
	// matplotlib's boundary test, which keeps some and drops others; this
	// rule keeps them all.)
	OutlineInside
)

// fillSlice sets, in the 2-D plane `plane` (w×h pixels, box origin ox, oy),
// the pixels of one slice from its inclusion and exclusion contours:
//
//	plane = ⋃ inclusion (inside ∖ outline)   [OutlineOutside]
//	plane = ⋃ inclusion (inside ∪ outline)   [OutlineInside]
//	then  plane ∖= ⋃ exclusion (inside ∪ outline)
//
// "inside" is the even–odd rule applied to pixel centres (integer points);
// "outline" is every integer point on the closed polyline through the
// contour's points (for LIDC's 8-connected outlines exactly the points
// themselves; where an outline skips pixels, the skipped points on the
// segment as well). Whatever the boundary convention of the inside test,
// the result is the same, because every boundary point is outline. pylidc
// differs only where an outline skips pixels (its matplotlib test then
// decides those points), and when two inclusion contours of one slice
// overlap (pylidc clears each contour's points in file order; this rule is
// order-free).
func fillSlice(plane, tmp []uint8, w, h, ox, oy int, incl, excl [][]Point, rule FillRule) {
	for _, c := range incl {
		clear(tmp)
		insidePoly(tmp, w, h, ox, oy, c)
		if rule == OutlineOutside {
			outline(tmp, w, h, ox, oy, c, 0)
		} else {
			outline(tmp, w, h, ox, oy, c, 1)
		}
		for n, v := range tmp {
			plane[n] |= v
		}
	}
	for _, c := range excl {
		clear(tmp)
		insidePoly(tmp, w, h, ox, oy, c)
		outline(tmp, w, h, ox, oy, c, 1)
		for n, v := range tmp {
			if v != 0 {
				plane[n] = 0
			}
		}
	}
}

// insidePoly sets to 1 the pixels of the w×h box (origin ox, oy) whose
// centres are inside the closed polygon c by the even–odd rule. Rows are
// scanned in order with the list of the edges that cross the current row
// (half-open in y); pixel x of a row is inside when an odd number of the
// row's crossings x_c have ⌈x_c⌉ ≤ x, which the sorted pairs of crossings
// [⌈x_m⌉, ⌈x_m+1⌉) express too, counted here without sorting. The cost is
// the sum of the edges' row spans plus the box's pixels, and the memory a
// few words per edge and per column, whatever the rows spanned.
func insidePoly(dst []uint8, w, h, ox, oy int, c []Point) {
	n := len(c)
	if n < 3 {
		return
	}
	type edge struct {
		ylo, yhi int
		p, q     Point
	}
	edges := make([]edge, 0, n)
	for e := 0; e < n; e++ {
		p, q := c[e], c[(e+1)%n]
		if p.Y != q.Y {
			edges = append(edges, edge{min(p.Y, q.Y), max(p.Y, q.Y), p, q})
		}
	}
	if len(edges) == 0 {
		return
	}
	sort.SliceStable(edges, func(a, b int) bool { return edges[a].ylo < edges[b].ylo })
	active := make([]edge, 0, len(edges))
	flip := make([]uint8, w) // per column, the parity of crossings rounding up to it
	next := 0
	for y := max(oy, edges[0].ylo); y < oy+h; y++ {
		for next < len(edges) && edges[next].ylo <= y {
			active = append(active, edges[next])
			next++
		}
		// Rows y with (p.Y > y) != (q.Y > y): ylo ≤ y < yhi.
		kept := active[:0]
		for _, e := range active {
			if e.yhi > y {
				kept = append(kept, e)
			}
		}
		active = kept
		if len(active) == 0 && next == len(edges) {
			break
		}
		var in uint8 // parity of the crossings left of the box
		for _, e := range active {
			p, q := e.p, e.q
			x := ceilInt(float64(p.X) + float64(y-p.Y)*float64(q.X-p.X)/float64(q.Y-p.Y))
			switch {
			case x <= ox:
				in ^= 1
			case x < ox+w:
				flip[x-ox] ^= 1
			}
		}
		row := dst[(y-oy)*w:][:w]
		for i := range row {
			in ^= flip[i]
			flip[i] = 0
			row[i] |= in
		}
	}
}

func ceilInt(x float64) int {
	i := int(x)
	if float64(i) < x {
		i++
	}
	return i
}

// outline sets to v every integer point of the w×h box on the closed
// polyline through c.
func outline(dst []uint8, w, h, ox, oy int, c []Point, v uint8) {
	n := len(c)
	set := func(x, y int) {
		if x >= ox && y >= oy && x < ox+w && y < oy+h {
			dst[(y-oy)*w+x-ox] = v
		}
	}
	if n == 1 {
		set(c[0].X, c[0].Y)
	}
	for e := 0; e < n && n > 1; e++ {
		p, q := c[e], c[(e+1)%n]
		dx, dy := q.X-p.X, q.Y-p.Y
		g := gcd(abs(dx), abs(dy))
		if g == 0 {
			set(p.X, p.Y)
			continue
		}
		sx, sy := dx/g, dy/g
		for t := 0; t <= g; t++ {
			set(p.X+t*sx, p.Y+t*sy)
		}
	}
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func abs(a int) int {
	if a < 0 {
		return -a
	}
	return a
}
