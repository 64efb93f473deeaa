package lidc

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"

	"github.com/lungctl/lungctl/internal/volume"
)

// bruteCluster is the grouping rule of ClusterOptions computed the plain
// way: the smallest distance of every pair of annotations over every pair
// of their points, then components at each tolerance. Groups come ordered
// by their smallest member.
func bruteCluster(anns []Annotation, tol float64, opt ClusterOptions) ([][]int, bool) {
	n := len(anns)
	d := make([][]float64, n)
	for i := range d {
		d[i] = make([]float64, n)
		for j := range d[i] {
			best := math.Inf(1)
			for _, p := range anns[i].pts {
				for _, q := range anns[j].pts {
					a, b, c := p[0]-q[0], p[1]-q[1], p[2]-q[2]
					if d2 := a*a + b*b + c*c; d2 <= tol*tol {
						best = min(best, math.Sqrt(d2))
					}
				}
			}
			d[i][j] = best
		}
	}
	factor, minTol := 0.9, 0.1
	if opt.Factor > 0 {
		factor = opt.Factor
	}
	if opt.MinTolMM > 0 {
		minTol = opt.MinTolMM
	}
	for {
		parent := make([]int, n)
		for i := range parent {
			parent[i] = i
		}
		var find func(int) int
		find = func(i int) int {
			if parent[i] != i {
				parent[i] = find(parent[i])
			}
			return parent[i]
		}
		for i := 0; i < n; i++ {
			for j := i + 1; j < n; j++ {
				if d[i][j] <= tol {
					a, b := find(i), find(j)
					parent[max(a, b)] = min(a, b)
				}
			}
		}
		byRoot := map[int]int{}
		var groups [][]int
		ok := true
		for i := 0; i < n; i++ {
			r := find(i)
			g, seen := byRoot[r]
			if !seen {
				g = len(groups)
				byRoot[r] = g
				groups = append(groups, nil)
			}
			for _, o := range groups[g] {
				if anns[o].Session == anns[i].Session {
					ok = false
				}
			}
			groups[g] = append(groups[g], i)
		}
		if ok || tol*factor < minTol {
			return groups, ok
		}
		tol *= factor
	}
}

// byFirst orders groups by their smallest member.
func byFirst(g [][]int) [][]int {
	g = append([][]int(nil), g...)
	sort.Slice(g, func(a, b int) bool { return g[a][0] < g[b][0] })
	return g
}

// latticeAnn is an annotation of session s whose points are pixels
// (x, y) of slice k on a 0.7 × 0.7 × 2.5 mm grid.
func latticeAnn(s int, pix [][3]int) Annotation {
	a := Annotation{Session: s}
	seen := map[[3]int]bool{}
	for _, p := range pix {
		if seen[p] {
			continue
		}
		seen[p] = true
		w := volume.Vec3{-150 + 0.7*float64(p[0]), -170 + 0.7*float64(p[1]), -300 + 2.5*float64(p[2])}
		a.pts = append(a.pts, w)
		for r := range w {
			a.Centroid[r] += w[r]
		}
	}
	for r := range a.Centroid {
		a.Centroid[r] /= float64(len(a.pts))
	}
	return a
}

// TestClusterMatchesBrute: on random small contours on a pixel grid
// (sharing points, touching, nested, several per reader) the grouping
// equals the plain all-pairs rule, for the default and other tolerances.
func TestClusterMatchesBrute(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 300; trial++ {
		n := 1 + rng.IntN(12)
		anns := make([]Annotation, n)
		for i := range anns {
			cx, cy, ck := rng.IntN(20), rng.IntN(20), rng.IntN(4)
			var pix [][3]int
			for m := 1 + rng.IntN(15); m > 0; m-- {
				pix = append(pix, [3]int{cx + rng.IntN(6), cy + rng.IntN(6), ck + rng.IntN(2)})
			}
			anns[i] = latticeAnn(rng.IntN(4), pix)
		}
		opt := ClusterOptions{}
		tol := 2.5
		switch trial % 3 {
		case 1:
			opt.TolMM, tol = 0.05+5*rng.Float64(), 0
		case 2:
			opt = ClusterOptions{TolMM: 1e-14, MinTolMM: 1e-16} // cube indices past 2^50
		}
		if opt.TolMM > 0 {
			tol = opt.TolMM
		}
		got, ok, _, err := clusterWork(anns, 2.5, opt, maxClusterWork)
		if err != nil {
			t.Fatal(err)
		}
		want, wantOK := bruteCluster(anns, tol, opt)
		if !reflect.DeepEqual(byFirst(got), want) || ok != wantOK {
			t.Fatalf("trial %d: got %v ok=%v, want %v ok=%v", trial, byFirst(got), ok, want, wantOK)
		}
	}
}

// interleaved is the hostile layout of many readers' nodules whose outline
// points alternate pixel by pixel over a w×w patch of one slice, in two
// sessions of per nodules each: every nodule lies within the tolerance of
// every other, and nodule a of one session has the points of nodule a of
// the other.
func interleaved(per, w int) []Annotation {
	var anns []Annotation
	for s := 0; s < 2; s++ {
		for a := 0; a < per; a++ {
			var pix [][3]int
			for p := a; p < w*w; p += per {
				pix = append(pix, [3]int{p % w, p / w, 0})
			}
			anns = append(anns, latticeAnn(s, pix))
		}
	}
	return anns
}

// TestClusterWorkLinear: grouping interleaved nodules costs a bounded
// number of steps per point (under 200; about 90 here). Comparing each
// pair of the 256 nodules point by point, as grouping did before, takes
// over 6·10^7 look-ups here (32,640 pairs × 72 points × 27 cells) and grows
// with the square of the nodule count.
func TestClusterWorkLinear(t *testing.T) {
	anns := interleaved(128, 96)
	points := 0
	for _, a := range anns {
		points += len(a.pts)
	}
	groups, ok, work, err := clusterWork(anns, 2.5, ClusterOptions{}, maxClusterWork)
	if err != nil {
		t.Fatal(err)
	}
	// The tolerance shrinks below the pixel spacing, leaving the pairs of
	// nodules with the same points.
	if !ok || len(groups) != 128 {
		t.Fatalf("%d groups, ok %v; want 128 pairs", len(groups), ok)
	}
	if limit := int64(200 * points); work > limit {
		t.Fatalf("%d points took %d steps, want at most %d", points, work, limit)
	}
	t.Logf("%d points, %d steps", points, work)
}

// TestClusterWorkBound: past the work bound the grouping fails with
// ErrTooLarge instead of running on.
func TestClusterWorkBound(t *testing.T) {
	anns := interleaved(16, 32)
	_, _, work, err := clusterWork(anns, 2.5, ClusterOptions{}, maxClusterWork)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := clusterWork(anns, 2.5, ClusterOptions{}, work-1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("work bound %d: err %v, want ErrTooLarge", work-1, err)
	}
}
