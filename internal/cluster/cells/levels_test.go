package cells

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/lungctl/lungctl/internal/cluster/clustertest"
)

// TestNewLevels checks the grouping by scale: distinct values increasing,
// each point's level, the counts, nil scales as one level of 1, and the
// refusals (count, non-positive or infinite values, too many levels).
func TestNewLevels(t *testing.T) {
	lv, err := NewLevels([]float32{4, 1, 2, 1, 4, 4}, 6)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lv.Vals, []float32{1, 2, 4}) || !slices.Equal(lv.Count, []int{2, 1, 3}) {
		t.Fatalf("levels %+v", lv)
	}
	want := []int{2, 0, 1, 0, 2, 2}
	for i, l := range want {
		if lv.Level(i) != l {
			t.Errorf("point %d: level %d, want %d", i, lv.Level(i), l)
		}
	}
	one, err := NewLevels(nil, 5)
	if err != nil || !slices.Equal(one.Vals, []float32{1}) || one.Count[0] != 5 || one.Level(3) != 0 {
		t.Errorf("nil scales: %+v %v", one, err)
	}
	same, err := NewLevels([]float32{2, 2, 2}, 3)
	if err != nil || !slices.Equal(same.Vals, []float32{2}) || same.Of != nil || same.Count[0] != 3 {
		t.Errorf("all 2: %+v %v", same, err)
	}
	many := make([]float32, MaxLevels+1)
	for i := range many {
		many[i] = float32(i + 1)
	}
	for _, bad := range [][]float32{{1, 2}, {1, 0, 2}, {1, float32(math.Inf(1)), 1}, {1, float32(math.NaN()), 1}, {-1, 1, 1}, many} {
		n := 3
		if len(bad) != 2 {
			n = len(bad)
		}
		if _, err := NewLevels(bad, n); !errors.Is(err, ErrLevels) {
			t.Errorf("%v: %v, want ErrLevels", bad, err)
		}
	}
}

// TestPreScale checks that the first m axes are multiplied by the float32
// 1/s of the point's level (the CPU Grid's product) and the others kept,
// and that scale 1 returns the points unchanged.
func TestPreScale(t *testing.T) {
	pts, scale := clustertest.MultiScale(300, 1, 2)
	lv, err := NewLevels(scale, len(scale))
	if err != nil {
		t.Fatal(err)
	}
	pre := lv.PreScale(pts, 5, 3)
	for i, s := range scale {
		inv := 1 / s
		for a := 0; a < 5; a++ {
			w := pts[i*5+a]
			if a < 3 {
				w *= inv
			}
			if pre[i*5+a] != w {
				t.Fatalf("point %d axis %d: %g want %g", i, a, pre[i*5+a], w)
			}
		}
	}
	one, _ := NewLevels(nil, len(scale))
	if p := one.PreScale(pts, 5, 3); &p[0] != &pts[0] {
		t.Error("scale 1 copied the points")
	}
}

// TestLevelGrid checks the per-level cell lists: every point once, in its
// own level's position range, sorted by its level's cells (stable), start
// offsets consistent, level starts padded to the tile size, and with one
// level the plain Layout.Sort.
func TestLevelGrid(t *testing.T) {
	pts, scale := clustertest.MultiScale(2000, 2, 5)
	bw := []float64{4, 4, 4, 200, 0.2}
	pts = clustertest.ScaleBy(pts, bw)
	n := len(scale)
	lv, err := NewLevels(scale, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(lv.Vals) != 4 {
		t.Fatalf("%d levels", len(lv.Vals))
	}
	pre := lv.PreScale(pts, 5, 3)
	for _, pad := range []int{1, 256} {
		g := NewLevelGrid(pre, 5, &lv, 3.003, pad)
		seen := make([]bool, n)
		for l := range lv.Vals {
			L := g.Layouts[l]
			if g.PointBase[l]%pad != 0 {
				t.Fatalf("pad %d: level %d starts at %d", pad, l, g.PointBase[l])
			}
			if got := int(g.Start[g.CellBase[l]+L.Count()]) - int(g.Start[g.CellBase[l]]); got != lv.Count[l] {
				t.Fatalf("level %d: %d points in its cells, want %d", l, got, lv.Count[l])
			}
			for c := 0; c < L.Count(); c++ {
				b, e := g.Start[g.CellBase[l]+c], g.Start[g.CellBase[l]+c+1]
				for k := b; k < e; k++ {
					i := g.Perm[k]
					if i < 0 || seen[i] || lv.Level(int(i)) != l || g.Level(int(k)) != l {
						t.Fatalf("pad %d level %d cell %d position %d: point %d (seen %v)", pad, l, c, k, i, i >= 0 && seen[i])
					}
					seen[i] = true
					if id := L.ID(pre[int(i)*5 : int(i)*5+5]); int(id) != c {
						t.Fatalf("point %d in cell %d, belongs to %d", i, c, id)
					}
					if k > b && g.Perm[k-1] >= i {
						t.Fatalf("cell %d of level %d not in point order", c, l)
					}
				}
			}
			for a := 0; a < 5; a++ {
				for k := g.PointBase[l]; k < g.PointBase[l]+lv.Count[l]; k++ {
					v := float64(pre[int(g.Perm[k])*5+a])
					if v < g.Lo[l][a] || v > g.Hi[l][a] {
						t.Fatalf("level %d axis %d: %g outside its range [%g, %g]", l, a, v, g.Lo[l][a], g.Hi[l][a])
					}
				}
			}
		}
		pads := 0
		for _, i := range g.Perm {
			if i < 0 {
				pads++
			}
		}
		if pads != len(g.Perm)-n || (pad == 1 && pads != 0) || g.PointBase[4] != len(g.Perm) {
			t.Errorf("pad %d: %d padding positions of %d", pad, pads, len(g.Perm))
		}
	}
	// One level: the plain sort.
	one, _ := NewLevels(nil, n)
	g := NewLevelGrid(pts, 5, &one, 3.003, 1)
	lo, hi := Range(pts, 5)
	L := NewLayout(lo, hi, 5, [3]float64{3.003, 3.003, 3.003}, 4*float64(n)+4096)
	perm, start := L.Sort(pts, 5)
	if g.Layouts[0] != L || !slices.Equal(g.Perm, perm) || !slices.Equal(g.Start, start) {
		t.Error("one level: not the plain Layout.Sort")
	}
}

// TestTileCentredPadding checks that padding positions get +Inf norms and
// zero coordinates and stay out of their tile's centre.
func TestTileCentredPadding(t *testing.T) {
	pts := []float32{0, 0, 10, 10, 4, 2}
	perm := []int32{0, 1, -1, -1, 2, -1}
	rel, pn, tc := TileCentred(pts, 2, perm, 4)
	if !slices.Equal(tc, []float32{5, 5, 4, 2}) {
		t.Fatalf("centres %v", tc)
	}
	n := len(perm)
	for k, i := range perm {
		if i < 0 {
			if !math.IsInf(float64(pn[k]), 1) || rel[k] != 0 || rel[n+k] != 0 {
				t.Errorf("padding %d: pn %g rel %g %g", k, pn[k], rel[k], rel[n+k])
			}
		} else if pn[k] != rel[k]*rel[k]+rel[n+k]*rel[n+k] {
			t.Errorf("position %d: pn %g", k, pn[k])
		}
	}
	if rel[0] != -5 || rel[1] != 5 || rel[4] != 0 {
		t.Errorf("rel %v", rel)
	}
}
