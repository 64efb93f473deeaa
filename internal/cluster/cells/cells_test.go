package cells

import (
	"math"
	"slices"
	"testing"

	"github.com/lungctl/lungctl/internal/cluster/clustertest"
	"github.com/lungctl/lungctl/internal/par"
)

var lungBW = []float64{3, 3, 3, 150, 0.15}

// TestLayoutSort checks the cell list the GPU grid kernels use (cells of
// side Truncate·1.001 on the three spatial axes): points sorted by cell
// with consistent start offsets, every point within the truncation radius
// of a mode inside the 3×3×3 cells around the mode's cell, and the same
// order whatever the worker budget.
func TestLayoutSort(t *testing.T) {
	pts := clustertest.ScaleBy(clustertest.LungLike(5000, 2), lungBW)
	const R = 3.0
	lo, hi := Range(pts, 5)
	c := R * 1.001
	L := NewLayout(lo, hi, 5, [3]float64{c, c, c}, 4*5000+4096)
	if L.SD != 3 || L.Cell[0] != c || L.NC[0] < 3 || L.NC[1] < 3 || L.NC[2] < 3 {
		t.Fatalf("layout %+v", L)
	}
	perm, start := L.Sort(pts, 5)
	ncell := L.Count()
	if len(start) != ncell+1 || start[0] != 0 || int(start[ncell]) != len(perm) {
		t.Fatalf("start: %d values, ends %d..%d for %d points", len(start), start[0], start[ncell], len(perm))
	}
	seen := make([]bool, len(perm))
	for cl := 0; cl < ncell; cl++ {
		for k := start[cl]; k < start[cl+1]; k++ {
			i := perm[k]
			if seen[i] {
				t.Fatalf("point %d twice", i)
			}
			seen[i] = true
			if id := L.ID(pts[int(i)*5 : int(i)*5+5]); int(id) != cl {
				t.Fatalf("point %d sorted into cell %d, belongs to %d", i, cl, id)
			}
			if k > start[cl] && perm[k-1] >= i {
				t.Fatalf("cell %d not in point order (stable sort)", cl)
			}
		}
	}
	for q := 0; q < 200; q++ {
		y := pts[q*25 : q*25+5]
		var yc [3]int
		for a := 0; a < 3; a++ {
			yc[a] = L.Of(float64(y[a]), a)
		}
		for i := 0; i < len(pts)/5; i++ {
			var s float64
			for a := 0; a < 3; a++ {
				d := float64(pts[i*5+a] - y[a])
				s += d * d
			}
			if s >= R*R {
				continue
			}
			id := int(L.ID(pts[i*5 : i*5+5]))
			cc := [3]int{id % L.NC[0], id / L.NC[0] % L.NC[1], id / (L.NC[0] * L.NC[1])}
			for a := 0; a < 3; a++ {
				if cc[a] < yc[a]-1 || cc[a] > yc[a]+1 {
					t.Fatalf("point %d within R of mode %d lies outside the 27 cells", i, q)
				}
			}
		}
	}
	big := clustertest.ScaleBy(clustertest.LungLike(30000, 3), lungBW)
	lo, hi = Range(big, 5)
	L = NewLayout(lo, hi, 5, [3]float64{c, c, c}, 4*30000+4096)
	saved := par.Limit()
	defer par.SetLimit(saved)
	par.SetLimit(1)
	p1, s1 := L.Sort(big, 5)
	par.SetLimit(5)
	p5, s5 := L.Sort(big, 5)
	if !slices.Equal(p1, p5) || !slices.Equal(s1, s5) {
		t.Error("Sort depends on the worker budget")
	}
}

// TestLayoutBounded checks that a tiny cell side (a bandwidth of 1e-9 mm
// gives coordinates of 1e11 scaled units) gives a bounded cell count, not
// an overflow, and that an empty-range axis has one cell.
func TestLayoutBounded(t *testing.T) {
	lo := []float64{-1e11, 0, 5}
	hi := []float64{1e11, 1e11, 5}
	L := NewLayout(lo, hi, 3, [3]float64{1.5, 1.5, 1.5}, 4*10+4096)
	if n := float64(L.NC[0]) * float64(L.NC[1]) * float64(L.NC[2]); n > 4*10+4096 || n < 1 || L.NC[2] != 1 {
		t.Fatalf("layout %+v: %g cells", L, n)
	}
	if c := L.Of(3e11, 0); c != L.NC[0]-1 {
		t.Errorf("outside position in cell %d of %d", c, L.NC[0])
	}
	if c := L.Of(math.Inf(-1), 1); c != 0 {
		t.Errorf("−Inf in cell %d", c)
	}
}

// TestTileCentred checks that relative coordinates plus their tile centre
// give back the points, that the centres are the middle of each tile's
// range, and the norms.
func TestTileCentred(t *testing.T) {
	pts := clustertest.ScaleBy(clustertest.LungLike(1000, 4), lungBW)
	lo, hi := Range(pts, 5)
	L := NewLayout(lo, hi, 5, [3]float64{3, 3, 3}, 8096)
	perm, _ := L.Sort(pts, 5)
	const tile = 256
	rel, pn, tc := TileCentred(pts, 5, perm, tile)
	n := len(perm)
	if len(tc) != 4*5 {
		t.Fatalf("%d tile centre values", len(tc))
	}
	for k := 0; k < n; k++ {
		var s float32
		for a := 0; a < 5; a++ {
			x := pts[int(perm[k])*5+a]
			r := rel[a*n+k]
			if d := math.Abs(float64(r + tc[k/tile*5+a] - x)); d > 1e-5*math.Max(1, math.Abs(float64(x))) {
				t.Fatalf("position %d axis %d: %g + %g ≠ %g", k, a, r, tc[k/tile*5+a], x)
			}
			s += r * r
		}
		if pn[k] != s {
			t.Fatalf("norm %d: %g want %g", k, pn[k], s)
		}
	}
}

// TestQuant checks the box quantiser: boxes of the given side from one box
// below the minimum, keys that differ exactly when a box coordinate does,
// and refusal when an axis would need more boxes than its bits hold.
func TestQuant(t *testing.T) {
	lo, hi := []float64{0, -5}, []float64{10, 5}
	q, ok := NewQuant(lo, hi, 2, 0.1)
	if !ok || q.Bits != 32 || q.Lo[0] != -0.1 || q.Lo[1] != -5.1 {
		t.Fatalf("quantiser %+v %v", q, ok)
	}
	k1 := q.Key([]float32{0.05, 0})
	k2 := q.Key([]float32{0.08, 0.02})
	k3 := q.Key([]float32{0.15, 0})
	if k1 != k2 || k1 == k3 || k3-k1 != 1<<32 {
		t.Errorf("keys %x %x %x", k1, k2, k3)
	}
	if _, ok := NewQuant([]float64{0, 0, 0, 0, 0, 0, 0, 0}, []float64{1e6, 1, 1, 1, 1, 1, 1, 1}, 8, 0.1); ok {
		t.Error("1e7 boxes in 8 bits accepted")
	}
	if _, ok := NewQuant(make([]float64, 9), make([]float64, 9), 9, 0.1); ok {
		t.Error("dim 9 accepted")
	}
}

// TestRounds checks the round sizes of the path-assisted search.
func TestRounds(t *testing.T) {
	got := Rounds(600)
	want := [][2]int{{0, 64}, {64, 128}, {128, 256}, {256, 512}, {512, 600}}
	if !slices.Equal(got, want) {
		t.Errorf("rounds %v want %v", got, want)
	}
}

// BenchmarkHostPrep times the host-side preparation of the grid backends
// at N = 1e6 lung-like points: the points' range, the sort by cell, the
// tile-centred copy of the GPU brute-force variant and the seed order.
func BenchmarkHostPrep(b *testing.B) {
	pts := clustertest.ScaleBy(clustertest.LungLike(1000000, 1), lungBW)
	lo, hi := Range(pts, 5)
	c := 3 * 1.001
	L := NewLayout(lo, hi, 5, [3]float64{c, c, c}, 4*1e6+4096)
	perm, _ := L.Sort(pts, 5)
	b.Run("range", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			Range(pts, 5)
		}
	})
	b.Run("sort", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			L.Sort(pts, 5)
		}
	})
	b.Run("tiles", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			TileCentred(pts, 5, perm, 256)
		}
	})
	b.Run("seedorder", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			SeedOrder(1000000)
		}
	})
}
