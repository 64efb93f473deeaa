package lidc

import (
	"math"
	"sort"

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
// false when some group still holds two annotations of one session.
func cluster(anns []Annotation, sliceMM float64, opt ClusterOptions) (groups [][]int, ok bool) {
	n := len(anns)
	if n == 0 {
		return nil, true
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
	// d[i][j]: smallest point distance, +Inf beyond the first tol (only
	// smaller tolerances are tried after it).
	d := make([][]float64, n)
	for i := range d {
		d[i] = make([]float64, n)
	}
	hashes := make([]pointHash, n)
	for i := range anns {
		hashes[i] = newPointHash(anns[i].pts, tol)
	}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			v := math.Inf(1)
			if boxGap(&anns[i], &anns[j]) <= tol {
				v = hashes[j].minDist(anns[i].pts, tol)
			}
			d[i][j], d[j][i] = v, v
		}
	}
	for {
		groups = components(n, func(i, j int) bool { return d[i][j] <= tol })
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
	return groups, ok
}

// components returns the connected components of the graph on 0..n-1 with
// edges adj, each sorted, in order of their smallest member.
func components(n int, adj func(i, j int) bool) [][]int {
	parent := make([]int, n)
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			if adj(i, j) {
				a, b := find(i), find(j)
				if a != b {
					parent[max(a, b)] = min(a, b)
				}
			}
		}
	}
	idx := map[int]int{}
	var out [][]int
	for i := 0; i < n; i++ {
		r := find(i)
		g, ok := idx[r]
		if !ok {
			g = len(out)
			idx[r] = g
			out = append(out, nil)
		}
		out[g] = append(out[g], i)
	}
	return out
}

// boxGap is the distance (mm) between the two annotations' point boxes.
func boxGap(a, b *Annotation) float64 {
	var s float64
	for r := 0; r < 3; r++ {
		g := max(a.lo[r]-b.hi[r], b.lo[r]-a.hi[r], 0)
		s += g * g
	}
	return math.Sqrt(s)
}

// pointHash buckets points into cubes of side cell (mm) for distance
// queries up to cell.
type pointHash struct {
	cell float64
	pts  []volume.Vec3
	m    map[[3]int64][]int32
}

func newPointHash(pts []volume.Vec3, cell float64) pointHash {
	h := pointHash{cell: cell, pts: pts, m: make(map[[3]int64][]int32)}
	for i, p := range pts {
		k := h.key(p)
		h.m[k] = append(h.m[k], int32(i))
	}
	return h
}

func (h *pointHash) key(p volume.Vec3) [3]int64 {
	return [3]int64{int64(math.Floor(p[0] / h.cell)), int64(math.Floor(p[1] / h.cell)), int64(math.Floor(p[2] / h.cell))}
}

// minDist is the smallest distance from any of pts to the hashed points,
// or +Inf when none is within limit (≤ the cell size).
func (h *pointHash) minDist(pts []volume.Vec3, limit float64) float64 {
	best := limit * limit
	found := false
	for _, p := range pts {
		k := h.key(p)
		for dz := int64(-1); dz <= 1; dz++ {
			for dy := int64(-1); dy <= 1; dy++ {
				for dx := int64(-1); dx <= 1; dx++ {
					for _, i := range h.m[[3]int64{k[0] + dx, k[1] + dy, k[2] + dz}] {
						q := h.pts[i]
						a, b, c := p[0]-q[0], p[1]-q[1], p[2]-q[2]
						if d2 := a*a + b*b + c*c; d2 <= best {
							best, found = d2, true
							if d2 == 0 {
								return 0
							}
						}
					}
				}
			}
		}
	}
	if !found {
		return math.Inf(1)
	}
	return math.Sqrt(best)
}
