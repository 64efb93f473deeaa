package lidc

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/lungctl/lungctl/internal/unionfind"
	"github.com/lungctl/lungctl/internal/volume"
)

// ClusterOptions tunes how Analyze groups readers' annotations into
// physical nodules; zero fields take the defaults.
//
// The rule is pylidc's Scan.cluster_annotations with its default 'min'
// metric, measured in LPS mm: two annotations are adjacent when the
// smallest distance between a contour point of one and a contour point of
// the other is at most TolMM, and a physical nodule is a connected
// component of that adjacency. While a component holds two annotations of
// the same reading session (one reader cannot mark one nodule twice),
// TolMM is multiplied by Factor and the grouping redone, until TolMM drops
// below MinTolMM (then Analyze warns and keeps the groups). pylidc instead
// shrinks while a group has more than four annotations, and measures its
// distance in pixel/slice index units.
type ClusterOptions struct {
	// TolMM is the adjacency distance in mm; 0 means the source grid's
	// slice spacing (pylidc's default tol is the slice thickness), so
	// contours on neighbouring slices that overlap in-plane are adjacent.
	TolMM float64
	// Factor is the shrink factor in (0, 1); 0 means 0.9.
	Factor float64
	// MinTolMM ends the shrinking; 0 means 0.1 mm.
	MinTolMM float64
}

// cluster groups anns (see ClusterOptions). sliceMM is the default TolMM.
// Groups are lists of indices into anns, each sorted, the groups ordered
// by the mean z of their annotations' centroids (then mean x, y). ok is
// false when some group still holds two annotations of one session. It
// fails (ErrTooLarge) only when the grouping would cost more than
// maxClusterWork point comparisons, which needs contours packed far more
// densely than any CT pixel grid allows.
func cluster(anns []Annotation, sliceMM float64, opt ClusterOptions) (groups [][]int, ok bool, err error) {
	groups, ok, _, err = clusterWork(anns, sliceMM, opt, maxClusterWork)
	return groups, ok, err
}

// maxClusterWork bounds the point comparisons, cell look-ups and unions of
// one grouping (see clusterer.work); real LIDC files need under 10^7.
const maxClusterWork = 1 << 31

// clusterWork is cluster with the work bound given; it also returns the
// work done, for tests.
func clusterWork(anns []Annotation, sliceMM float64, opt ClusterOptions, maxWork int64) (groups [][]int, ok bool, work int64, err error) {
	n := len(anns)
	if n == 0 {
		return nil, true, 0, nil
	}
	tol := opt.TolMM
	if !(tol > 0) {
		tol = sliceMM
	}
	factor := opt.Factor
	if !(factor > 0 && factor < 1) {
		factor = 0.9
	}
	minTol := opt.MinTolMM
	if !(minTol > 0) {
		minTol = 0.1
	}
	c := newClusterer(anns, tol, maxWork)
	for {
		if groups, err = c.components(tol); err != nil {
			return nil, false, c.work, err
		}
		ok = true
		for _, g := range groups {
			seen := map[int]bool{}
			for _, a := range g {
				if seen[anns[a].Session] {
					ok = false
				}
				seen[anns[a].Session] = true
			}
		}
		if ok || tol*factor < minTol {
			break
		}
		tol *= factor
	}
	key := func(g []int) volume.Vec3 {
		var c volume.Vec3
		for _, a := range g {
			for r := 0; r < 3; r++ {
				c[r] += anns[a].Centroid[r] / float64(len(g))
			}
		}
		return c
	}
	sort.SliceStable(groups, func(a, b int) bool {
		ka, kb := key(groups[a]), key(groups[b])
		for _, r := range []int{2, 0, 1} {
			if ka[r] != kb[r] {
				return ka[r] < kb[r]
			}
		}
		return false
	})
	return groups, ok, c.work, nil
}

// clusterer finds, for a tolerance t, the connected components of the
// annotations where two are adjacent when a contour point of one lies
// within t (mm) of a contour point of the other.
//
// All annotations' points go into one table of distinct positions, each
// with the annotations it belongs to. For each t the positions are sorted
// into cubes of side just under t/√3, so any two positions in one cube are
// within t: a cube's annotations are united without comparing points.
// Positions within t lie in cubes at most two apart along each axis; a pair
// of such cubes is compared point by point only while their annotations
// are still apart, and only until the first pair within t. The work is
// thus about linear in the number of points for contours on a CT pixel
// grid, whatever the number of annotations, instead of all pairs of
// annotations times their points.
//
// Adjacency is decided exactly as comparing every pair of points would:
// squared distance (a·a+b·b+c·c of the coordinate differences) at most the
// first tolerance squared, and its square root at most t.
type clusterer struct {
	n      int
	pos    []volume.Vec3 // distinct contour positions, LPS mm
	off    []int32       // annotations of pos[i]: ann[off[i]:off[i+1]]
	ann    []int32
	tol0sq float64
	uf     *unionfind.UF
	ents   []cubeEntry // positions sorted by cube
	first  []int32     // cube c holds ents[first[c]:first[c+1]]
	work   int64
	max    int64
}

// cubeEntry is a position and the index (z, y, x) of its cube.
type cubeEntry struct {
	key [3]int64
	pos int32
}

func newClusterer(anns []Annotation, tol0 float64, maxWork int64) *clusterer {
	c := &clusterer{n: len(anns), tol0sq: tol0 * tol0, uf: unionfind.New(len(anns)), max: maxWork}
	total := 0
	for i := range anns {
		total += len(anns[i].pts)
	}
	idx := make(map[volume.Vec3]int32, total)
	at := make([]int32, 0, total) // position index of each (annotation, point)
	count := make([]int32, 0, total)
	for i := range anns {
		for _, p := range anns[i].pts {
			j, seen := idx[p]
			if !seen {
				j = int32(len(c.pos))
				idx[p] = j
				c.pos = append(c.pos, p)
				count = append(count, 0)
			}
			count[j]++
			at = append(at, j)
		}
	}
	c.off = make([]int32, len(c.pos)+1)
	for j, k := range count {
		c.off[j+1] = c.off[j] + k
	}
	c.ann = make([]int32, total)
	fill := append([]int32(nil), c.off[:len(c.pos)]...)
	m := 0
	for i := range anns {
		for range anns[i].pts {
			j := at[m]
			c.ann[fill[j]] = int32(i)
			fill[j]++
			m++
		}
	}
	return c
}

// adjacent is the adjacency rule on a squared point distance.
func (c *clusterer) adjacent(d2, t float64) bool {
	return d2 <= c.tol0sq && math.Sqrt(d2) <= t
}

func (c *clusterer) dist2(i, j int32) float64 {
	p, q := c.pos[i], c.pos[j]
	a, b, d := p[0]-q[0], p[1]-q[1], p[2]-q[2]
	return a*a + b*b + d*d
}

// charge counts w units of work and fails past the bound.
func (c *clusterer) charge(w int) error {
	if c.work += int64(w); c.work > c.max {
		return fmt.Errorf("%w: grouping the nodules needs over %d point comparisons", ErrTooLarge, c.max)
	}
	return nil
}

// components returns the components for tolerance t, each sorted, in order
// of their smallest member.
func (c *clusterer) components(t float64) ([][]int, error) {
	c.uf.Reset(c.n)
	if c.adjacent(0, t) {
		if err := c.unite(t); err != nil {
			return nil, err
		}
	} // else no two points are adjacent, not even equal ones
	idx := make([]int, c.n)
	var out [][]int
	for i := 0; i < c.n; i++ {
		r := int(c.uf.Find(int32(i)))
		if r == i {
			idx[i] = len(out)
			out = append(out, nil)
		}
		out[idx[r]] = append(out[idx[r]], i)
	}
	return out, nil
}

// unite unites the annotations adjacent at t (given that equal points are).
func (c *clusterer) unite(t float64) error {
	// Every annotation of one position is adjacent to the others.
	if err := c.charge(len(c.ann)); err != nil {
		return err
	}
	for j := range c.pos {
		for _, a := range c.ann[c.off[j]+1 : c.off[j+1]] {
			c.uf.Union(c.ann[c.off[j]], a)
		}
	}
	side := t / math.Sqrt(3) * (1 - 1e-6)
	exact := side > 0 // cube indices that tell near positions apart
	for _, p := range c.pos {
		for r := 0; r < 3; r++ {
			if !(math.Abs(p[r]/side) < 1<<50) {
				exact = false
			}
		}
	}
	if !exact {
		// A tolerance so small against the coordinates that cube
		// indices lose precision: compare every pair of positions.
		return c.allPairs(t)
	}
	if err := c.charge(len(c.pos)); err != nil {
		return err
	}
	c.bucket(side)
	// One cube's positions are pairwise within t (its diagonal is under t).
	for k := 0; k+1 < len(c.first); k++ {
		r := c.rep(k)
		for _, e := range c.ents[c.first[k]+1 : c.first[k+1]] {
			c.uf.Union(r, c.ann[c.off[e.pos]])
		}
	}
	// The cubes after each cube within two along every axis, in 13 runs of
	// consecutive cubes (same z and y, x from −2 to 2): each run's start
	// only moves forward as the cubes are visited in order.
	type run struct{ dz, dy, dx0 int64 }
	runs := []run{{0, 0, 1}, {0, 1, -2}, {0, 2, -2}}
	for dz := int64(1); dz <= 2; dz++ {
		for dy := int64(-2); dy <= 2; dy++ {
			runs = append(runs, run{dz, dy, -2})
		}
	}
	at := make([]int, len(runs)) // per run, the cube its search starts at
	ncube := len(c.first) - 1
	for k := 0; k < ncube; k++ {
		key := c.ents[c.first[k]].key
		for ri, rn := range runs {
			lo := [3]int64{key[0] + rn.dz, key[1] + rn.dy, key[2] + rn.dx0}
			for at[ri] < ncube && less(c.ents[c.first[at[ri]]].key, lo) {
				at[ri]++
			}
			if err := c.charge(1); err != nil {
				return err
			}
			for o := at[ri]; o < ncube; o++ {
				ok := c.ents[c.first[o]].key
				if ok[0] != lo[0] || ok[1] != lo[1] || ok[2] > key[2]+2 {
					break
				}
				if err := c.link(k, o, t); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// less orders cube indices (z, then y, then x).
func less(a, b [3]int64) bool {
	if a[0] != b[0] {
		return a[0] < b[0]
	}
	if a[1] != b[1] {
		return a[1] < b[1]
	}
	return a[2] < b[2]
}

// rep is an annotation of cube k.
func (c *clusterer) rep(k int) int32 { return c.ann[c.off[c.ents[c.first[k]].pos]] }

// link unites the annotations of cubes k and o (each already one
// component) when a position of one is adjacent to a position of the other.
func (c *clusterer) link(k, o int, t float64) error {
	if c.uf.Find(c.rep(k)) == c.uf.Find(c.rep(o)) {
		return nil
	}
	a, b := c.ents[c.first[k]:c.first[k+1]], c.ents[c.first[o]:c.first[o+1]]
	for _, i := range a {
		if err := c.charge(len(b)); err != nil {
			return err
		}
		for _, j := range b {
			if c.adjacent(c.dist2(i.pos, j.pos), t) {
				c.uf.Union(c.rep(k), c.rep(o))
				return nil
			}
		}
	}
	return nil
}

// allPairs unites the annotations of every two adjacent positions.
func (c *clusterer) allPairs(t float64) error {
	for i := range c.pos {
		if err := c.charge(len(c.pos) - i - 1); err != nil {
			return err
		}
		ai := c.ann[c.off[i]]
		for j := i + 1; j < len(c.pos); j++ {
			aj := c.ann[c.off[j]]
			if c.uf.Find(ai) != c.uf.Find(aj) && c.adjacent(c.dist2(int32(i), int32(j)), t) {
				c.uf.Union(ai, aj)
			}
		}
	}
	return nil
}

// bucket sorts the positions into cubes of the given side: c.ents in cube
// order, c.first the start of each cube and, last, len(c.ents).
func (c *clusterer) bucket(side float64) {
	c.ents = c.ents[:0]
	for j, p := range c.pos {
		k := [3]int64{int64(math.Floor(p[2] / side)), int64(math.Floor(p[1] / side)), int64(math.Floor(p[0] / side))}
		c.ents = append(c.ents, cubeEntry{key: k, pos: int32(j)})
	}
	slices.SortFunc(c.ents, func(a, b cubeEntry) int {
		for r := 0; r < 3; r++ {
			if a.key[r] != b.key[r] {
				return cmp.Compare(a.key[r], b.key[r])
			}
		}
		return 0
	})
	c.first = c.first[:0]
	for i, e := range c.ents {
		if i == 0 || e.key != c.ents[i-1].key {
			c.first = append(c.first, int32(i))
		}
	}
	c.first = append(c.first, int32(len(c.ents)))
}
