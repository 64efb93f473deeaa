package lidc

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/volume"
)

// axialGeom: 64×64 pixels of 0.5 mm, 4 slices 2.5 mm apart from z −130.
func axialGeom() Geometry {
	return Geometry{Grid: volume.Grid{
		Dims:      [3]int{64, 64, 4},
		Spacing:   volume.Vec3{0.5, 0.5, 2.5},
		Origin:    volume.Vec3{10, 20, -130},
		Direction: volume.Identity,
	}}
}

// square is the closed outline of the axis-aligned square [x0,x1]×[y0,y1]
// through every pixel on it, as LIDC draws outlines.
func square(x0, y0, x1, y1 int) []Point {
	var c []Point
	for x := x0; x < x1; x++ {
		c = append(c, Point{x, y0})
	}
	for y := y0; y < y1; y++ {
		c = append(c, Point{x1, y})
	}
	for x := x1; x > x0; x-- {
		c = append(c, Point{x, y1})
	}
	for y := y1; y >= y0; y-- {
		c = append(c, Point{x0, y})
	}
	return c
}

func roiAt(z float64, pts []Point) ROI { return ROI{Z: z, HasZ: true, Inclusion: true, Points: pts} }

func nodule(id string, r Ratings, rois ...ROI) ReaderNodule {
	return ReaderNodule{ID: id, Ratings: r, ROIs: rois}
}

// TestAnalyzeHostile: ROIs Analyze cannot place are skipped with a warning
// naming them; marks left empty are dropped; nothing panics.
func TestAnalyzeHostile(t *testing.T) {
	full := Ratings{3, 1, 6, 3, 3, 3, 3, 5, 3}
	m := &Message{File: "h.xml", Sessions: []Session{{ReaderID: "r", Nodules: []ReaderNodule{
		nodule("between slices", full, roiAt(-128.75, square(5, 5, 9, 9))),
		nodule("absent z", full, ROI{Inclusion: true, Points: square(5, 5, 9, 9)}),
		nodule("far z", full, roiAt(1e6, square(5, 5, 9, 9))),
		nodule("negative coord", full, roiAt(-130, square(-3, 5, 9, 9))),
		nodule("huge coord", full, roiAt(-130, []Point{{5, 5}, {MaxCoord, 5}, {5, 9}})),
		nodule("partly bad", full, roiAt(-130, square(5, 5, 9, 9)), roiAt(-131, square(5, 5, 9, 9))),
		nodule("two points", full, roiAt(-127.5, []Point{{1, 1}, {4, 5}})),
		nodule("figure eight", full, roiAt(-125, []Point{{0, 0}, {10, 10}, {10, 0}, {0, 10}, {0, 0}})),
		nodule("small off image", Ratings{}, roiAt(-130, []Point{{99, 1}})),
	}, NonNodules: []NonNodule{{ID: "no locus", Z: -130, HasZ: true}}}}}
	res, err := Analyze(m, axialGeom(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*Annotation{}
	for i := range res.Annotations {
		got[res.Annotations[i].NoduleID] = &res.Annotations[i]
	}
	for _, id := range []string{"between slices", "absent z", "far z", "negative coord", "huge coord"} {
		if got[id] != nil {
			t.Errorf("%q was placed", id)
		}
	}
	if a := got["partly bad"]; a == nil || a.Contours != 1 || a.Voxels != 9 {
		t.Errorf("partly bad: %+v", a)
	}
	if a := got["two points"]; a == nil || a.Voxels != 0 || math.Abs(a.DiameterMM-2.5) > 1e-9 || a.MaskCentroid != a.Centroid {
		t.Errorf("two points: %+v", a)
	}
	// Even–odd: the two triangles of the bow tie are inside, the crossing
	// point (5,5) is on the outline. Each triangle has 16 inside points
	// off the outline (brute-force count below agrees).
	if a := got["figure eight"]; a == nil || a.Voxels != bruteCount(t, []Point{{0, 0}, {10, 10}, {10, 0}, {0, 10}, {0, 0}}) || a.Mask.At(5, 5, 2) {
		t.Errorf("figure eight: %+v", a)
	}
	want := []string{"between slices", "absent z", "far z", "negative coord", "huge coord", "roi 2", "small off image", "no locus"}
	all := strings.Join(res.Warnings, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("no warning mentions %q:\n%s", w, all)
		}
	}
	if !strings.Contains(all, "matches no slice") || !strings.Contains(all, "no imageZposition") || !strings.Contains(all, "outside the 64×64 image") {
		t.Errorf("warnings do not say why:\n%s", all)
	}
}

// TestAnalyzeBounds: too many nodules, or masks too large in all, fail
// with ErrTooLarge before any mask is allocated.
func TestAnalyzeBounds(t *testing.T) {
	full := Ratings{3, 1, 6, 3, 3, 3, 3, 5, 3}
	var many []ReaderNodule
	for i := 0; i <= MaxAnnotations; i++ {
		many = append(many, nodule(fmt.Sprint(i), full, roiAt(-130, square(1, 1, 3, 3))))
	}
	m := &Message{File: "many.xml", Sessions: []Session{{Nodules: many}}}
	if _, err := Analyze(m, axialGeom(), Options{}); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "many.xml") {
		t.Errorf("many nodules: %v", err)
	}
	// Eight nodules spanning a 512×512×133 series corner to corner:
	// 8 × 35 M voxels > MaxMaskVoxels.
	g := Geometry{Grid: volume.Grid{Dims: [3]int{512, 512, 133}, Spacing: volume.Vec3{0.7, 0.7, 2.5}, Direction: volume.Identity}}
	var big []ReaderNodule
	for i := 0; i < 8; i++ {
		big = append(big, nodule(fmt.Sprint(i), full, roiAt(0, []Point{{0, 0}, {511, 0}, {0, 511}}), roiAt(330, []Point{{511, 511}, {510, 511}})))
	}
	m = &Message{File: "big.xml", Sessions: []Session{{Nodules: big}}}
	if _, err := Analyze(m, g, Options{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("big masks: %v", err)
	}
}

func TestGeometryErrors(t *testing.T) {
	m := &Message{File: "g.xml"}
	for name, g := range map[string]Geometry{
		"zero grid":      {},
		"positions":      {Grid: axialGeom().Grid, Positions: make([]volume.Vec3, 3)},
		"sop uids":       {Grid: axialGeom().Grid, SOPUIDs: []string{"1"}},
		"same z":         {Grid: axialGeom().Grid, Positions: make([]volume.Vec3, 4)},
		"NaN position":   {Grid: axialGeom().Grid, Positions: []volume.Vec3{{}, {0, 0, 1}, {0, 0, 2}, {0, 0, math.NaN()}}},
		"coronal series": {Grid: volume.Grid{Dims: [3]int{8, 8, 3}, Spacing: volume.Vec3{1, 1, 1}, Direction: [3][3]float64{{1, 0, 0}, {0, 0, 1}, {0, 1, 0}}}},
	} {
		_, err := Analyze(m, g, Options{})
		if !errors.Is(err, ErrGeometry) || !strings.Contains(err.Error(), "g.xml") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// bruteCount counts, by exact integer arithmetic, the points of [0,64)²
// strictly inside the closed polygon c (even–odd) and not on its outline.
func bruteCount(t *testing.T, c []Point) int {
	n := 0
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			if in, on := bruteInside(c, x, y); in && !on {
				n++
			}
		}
	}
	return n
}

// bruteInside: on is whether (x, y) lies on a segment of the closed
// polyline; in is the even–odd test by crossings of the ray to +x
// (meaningful when !on).
func bruteInside(c []Point, x, y int) (in, on bool) {
	n := len(c)
	for e := 0; e < n; e++ {
		p, q := c[e], c[(e+1)%n]
		cross := (q.X-p.X)*(y-p.Y) - (q.Y-p.Y)*(x-p.X)
		if cross == 0 && min(p.X, q.X) <= x && x <= max(p.X, q.X) && min(p.Y, q.Y) <= y && y <= max(p.Y, q.Y) {
			on = true
		}
		if (p.Y > y) != (q.Y > y) {
			// x < crossing abscissa, compared without division.
			lhs := (x - p.X) * (q.Y - p.Y)
			rhs := (y - p.Y) * (q.X - p.X)
			if (q.Y > p.Y && lhs < rhs) || (q.Y < p.Y && lhs > rhs) {
				in = !in
			}
		}
	}
	return in, on
}

// TestFillMatchesBruteForce: random polygons (lattice vertices, long
// edges, self-intersections) filled by fillSlice against the exact brute
// force, for both rules and with an exclusion polygon.
func TestFillMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const w = 64
	for it := 0; it < 300; it++ {
		poly := func() []Point {
			c := make([]Point, 3+rng.IntN(8))
			for i := range c {
				c[i] = Point{rng.IntN(w), rng.IntN(w)}
			}
			return c
		}
		inc, exc := poly(), poly()
		rule := FillRule(it % 2)
		plane, tmp := make([]uint8, w*w), make([]uint8, w*w)
		fillSlice(plane, tmp, w, w, 0, 0, [][]Point{inc}, [][]Point{exc}, rule)
		for y := 0; y < w; y++ {
			for x := 0; x < w; x++ {
				in, on := bruteInside(inc, x, y)
				want := (in && !on) || (on && rule == OutlineInside)
				if ein, eon := bruteInside(exc, x, y); ein || eon {
					want = false
				}
				if got := plane[y*w+x] != 0; got != want {
					t.Fatalf("iteration %d rule %d: pixel (%d,%d) = %v, want %v\ninclusion %v\nexclusion %v", it, rule, x, y, got, want, inc, exc)
				}
			}
		}
	}
}

// sq is one reader's square nodule: outline [x0, x0+sz]² on slice k.
type sq struct {
	id         string
	k          int
	x0, y0, sz int
	r          Ratings
}

// analyzeSquares runs Analyze on readers[s] = the squares of session s.
func analyzeSquares(t *testing.T, readers ...[]sq) *Result {
	t.Helper()
	m := &Message{File: "c.xml"}
	for s, nods := range readers {
		sess := Session{ReaderID: fmt.Sprint("reader", s)}
		for _, n := range nods {
			z := -130 + 2.5*float64(n.k)
			sess.Nodules = append(sess.Nodules, nodule(n.id, n.r, roiAt(z, square(n.x0, n.y0, n.x0+n.sz, n.y0+n.sz))))
		}
		m.Sessions = append(m.Sessions, sess)
	}
	res, err := Analyze(m, axialGeom(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// groupIDs lists each physical nodule's annotation IDs.
func groupIDs(res *Result) string {
	var g []string
	for _, nd := range res.Nodules {
		var ids []string
		for _, rm := range nd.Readers {
			ids = append(ids, res.Annotations[rm.Annotation].NoduleID)
		}
		g = append(g, strings.Join(ids, "+"))
	}
	return strings.Join(g, " ")
}

func TestCluster(t *testing.T) {
	// Reader 0 marks a and far f; reader 1 marks b over a on the next
	// slice (2.5 mm away: adjacent) and c one slice further than that
	// from f (5 mm: not adjacent).
	res := analyzeSquares(t,
		[]sq{{id: "a", k: 1, x0: 5, y0: 5, sz: 10}, {id: "f", k: 0, x0: 40, y0: 40, sz: 8}},
		[]sq{{id: "b", k: 2, x0: 6, y0: 6, sz: 10}, {id: "c", k: 2, x0: 40, y0: 40, sz: 8}},
	)
	if g := groupIDs(res); g != "f a+b c" || len(res.Warnings) != 0 {
		t.Errorf("groups %q, warnings %q", g, res.Warnings)
	}
	// Reader 0's two nodules 1.5 mm apart (3 pixels) join through the
	// 2.5 mm tolerance, and reader 1's covers the first: the tolerance
	// shrinks (2.5, 2.25, …, 1.48 mm) until reader 0's two separate.
	res = analyzeSquares(t,
		[]sq{{id: "a1", k: 1, x0: 5, y0: 5, sz: 10}, {id: "a2", k: 1, x0: 18, y0: 5, sz: 10}},
		[]sq{{id: "b", k: 1, x0: 5, y0: 5, sz: 10}},
	)
	if g := groupIDs(res); g != "a1+b a2" || len(res.Warnings) != 0 {
		t.Errorf("groups %q, warnings %q", g, res.Warnings)
	}
	// Reader 0 marks the same place twice: cannot be split; warned.
	res = analyzeSquares(t,
		[]sq{{id: "a1", k: 1, x0: 5, y0: 5, sz: 10}, {id: "a2", k: 1, x0: 5, y0: 5, sz: 10}},
		[]sq{{id: "b", k: 1, x0: 5, y0: 5, sz: 10}},
	)
	if g := groupIDs(res); g != "a1+a2+b" || len(res.Warnings) != 1 || res.Nodules[0].NumReaders != 2 {
		t.Errorf("groups %q, warnings %q", g, res.Warnings)
	}
}

func TestConsensus(t *testing.T) {
	r := func(tex, calc int) Ratings { return Ratings{Texture: tex, Calcification: calc, Malignancy: 2} }
	// Three readers, squares shifted by 2 pixels in x: interiors x 6..14,
	// 8..16, 10..18, y 6..14. ≥ 50 % of 3 means ≥ 2 readers: x 8..16.
	res := analyzeSquares(t,
		[]sq{{id: "a", k: 1, x0: 5, y0: 5, sz: 10, r: r(1, 6)}},
		[]sq{{id: "b", k: 1, x0: 7, y0: 5, sz: 10, r: r(3, 3)}},
		[]sq{{id: "c", k: 1, x0: 9, y0: 5, sz: 10, r: r(5, 6)}},
	)
	if len(res.Nodules) != 1 {
		t.Fatalf("groups %q", groupIDs(res))
	}
	nd := res.Nodules[0]
	wantV := 9 * 9 * 0.5 * 0.5 * 2.5
	if nd.Voxels != 81 || math.Abs(nd.VolumeMM3-wantV) > 1e-9 || nd.Mask.Origin != [3]int{8, 6, 1} || nd.Mask.Dims != [3]int{9, 9, 1} {
		t.Errorf("consensus %d voxels %.2f mm³ box %v+%v", nd.Voxels, nd.VolumeMM3, nd.Mask.Origin, nd.Mask.Dims)
	}
	if math.Abs(nd.EquivDiameterMM-math.Cbrt(6*wantV/math.Pi)) > 1e-9 {
		t.Errorf("equivalent diameter %.3f", nd.EquivDiameterMM)
	}
	if want := (volume.Vec3{10 + 0.5*12, 20 + 0.5*10, -127.5}); dist(nd.Centroid, want) > 1e-9 {
		t.Errorf("centroid %v, want %v", nd.Centroid, want)
	}
	if nd.Texture != PartSolid || nd.MedianRatings[Texture] != 3 || nd.MeanRatings[Texture] != 3 || nd.Calcified {
		t.Errorf("texture %v (median %.1f), calcified %v", nd.Texture, nd.MedianRatings[Texture], nd.Calcified)
	}
	if !math.IsNaN(nd.MeanRatings[Subtlety]) || !math.IsNaN(nd.MedianRatings[Subtlety]) || nd.MedianRatings[Malignancy] != 2 {
		t.Errorf("absent ratings: %v %v", nd.MeanRatings, nd.MedianRatings)
	}
	if d := 10 * math.Sqrt2 * 0.5; math.Abs(nd.MeanDiameterMM-d) > 1e-9 || nd.NumReaders != 3 {
		t.Errorf("mean diameter %.3f, %d readers", nd.MeanDiameterMM, nd.NumReaders)
	}
	// Two readers of three call it calcified: calcified. Of two, one: ≥ half.
	for _, c := range []struct {
		calc []int
		want bool
	}{{[]int{3, 3, 6}, true}, {[]int{6, 3}, true}, {[]int{6, 6, 1}, false}, {[]int{0, 0}, false}} {
		var readers [][]sq
		for _, v := range c.calc {
			readers = append(readers, []sq{{id: "n", k: 1, x0: 5, y0: 5, sz: 10, r: r(5, v)}})
		}
		if got := analyzeSquares(t, readers...).Nodules[0].Calcified; got != c.want {
			t.Errorf("calcification %v: calcified %v", c.calc, got)
		}
	}
	for x, want := range map[float64]TextureClass{0: TextureUnknown, 1: NonSolid, 2: NonSolid, 2.5: PartSolid, 4: PartSolid, 4.5: Solid, 5: Solid, 6: TextureUnknown, math.NaN(): TextureUnknown} {
		if got := TextureOf(x); got != want {
			t.Errorf("TextureOf(%v) = %v, want %v", x, got, want)
		}
	}
}

func TestMaskHelpers(t *testing.T) {
	m := newMask([3]int{2, 3, 4}, [3]int{5, 6, 7})
	if m.Crop().Dims != [3]int{} || m.Count() != 0 {
		t.Fatal("empty mask")
	}
	m.Data[1+4*(2+4*3)] = 1 // voxel (3, 5, 7)
	c := m.Crop()
	if c.Origin != [3]int{3, 5, 7} || c.Dims != [3]int{1, 1, 1} || !c.At(3, 5, 7) || c.At(3, 5, 6) || c.Count() != 1 {
		t.Fatalf("crop %+v", c)
	}
	g := axialGeom().Grid
	v := c.Volume(g)
	if v.Check() != nil || v.Origin != (volume.Vec3{10 + 1.5, 20 + 2.5, -130 + 17.5}) || v.At(0, 0, 0) != 1 {
		t.Fatalf("volume %+v", v.Grid)
	}
}

// TestMaxChord: the hull-based largest distance equals the brute-force
// pairwise maximum, on a grid with unequal row and column spacing.
func TestMaxChord(t *testing.T) {
	g := axialGeom()
	g.Grid.Spacing[1] = 0.8
	q, err := g.prepare()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for it := 0; it < 200; it++ {
		pts := make([]Point, 1+rng.IntN(30))
		for i := range pts {
			pts[i] = Point{rng.IntN(20), rng.IntN(20)}
			if it%3 == 0 {
				pts[i].Y = 7 // collinear
			}
		}
		var want float64
		for i := range pts {
			for j := range pts {
				dx, dy := 0.5*float64(pts[i].X-pts[j].X), 0.8*float64(pts[i].Y-pts[j].Y)
				want = max(want, math.Hypot(dx, dy))
			}
		}
		if got := q.maxChord(pts); math.Abs(got-want) > 1e-9 {
			t.Fatalf("%v: maxChord %.6f, brute force %.6f", pts, got, want)
		}
	}
}
