package volume

import (
	"math"
	"testing"
)

func near(a, b Vec3, tol float64) bool {
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol {
			return false
		}
	}
	return true
}

func TestIndexWorldRoundTrip(t *testing.T) {
	// An oblique, sheared grid (like an uncorrected gantry tilt) with
	// anisotropic spacing: world(index(p)) must give p back.
	c, s := math.Cos(0.3), math.Sin(0.3)
	g := Grid{
		Dims:      [3]int{10, 20, 30},
		Spacing:   Vec3{0.7, 0.7, 2.5},
		Origin:    Vec3{-150, -170, -340},
		Direction: [3][3]float64{{1, 0, 0}, {0, c, s}, {0, -s, c}},
	}
	g.Direction[0][2] = 0.1 // shear the slice axis
	n := math.Sqrt(0.01 + c*c + s*s)
	for r := 0; r < 3; r++ {
		g.Direction[r][2] /= n
	}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, idx := range []Vec3{{0, 0, 0}, {9, 19, 29}, {3.25, -1.5, 7.75}} {
		w := g.IndexToWorld(idx)
		back := g.WorldToIndex(w)
		if !near(idx, back, 1e-9) {
			t.Errorf("index %v -> world %v -> index %v", idx, w, back)
		}
	}
	if w := g.IndexToWorld(Vec3{}); w != g.Origin {
		t.Errorf("voxel 0 centre at %v, want origin %v", w, g.Origin)
	}
}

func TestIndexToWorldHandChecked(t *testing.T) {
	// LIDC-IDRI-0001-like axial grid: 0.703125 mm pixels, 2.5 mm slices.
	g := Grid{Dims: [3]int{512, 512, 133}, Spacing: Vec3{0.703125, 0.703125, 2.5},
		Origin: Vec3{-166.0, -171.699997, -340.0}, Direction: Identity}
	w := g.IndexToWorld(Vec3{317, 367, 89})
	want := Vec3{-166 + 317*0.703125, -171.699997 + 367*0.703125, -340 + 89*2.5}
	if !near(w, want, 1e-9) {
		t.Fatalf("got %v want %v", w, want)
	}
	a := g.Affine()
	for r := 0; r < 3; r++ {
		got := a[r][0]*317 + a[r][1]*367 + a[r][2]*89 + a[r][3]
		if math.Abs(got-want[r]) > 1e-9 {
			t.Fatalf("affine row %d: %v want %v", r, got, want[r])
		}
	}
}

func TestValidateRejects(t *testing.T) {
	good := Grid{Dims: [3]int{2, 2, 2}, Spacing: Vec3{1, 1, 1}, Direction: Identity}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []Grid{good, good, good, good}
	bad[0].Dims[1] = 0
	bad[1].Spacing[2] = 0
	bad[2].Direction = [3][3]float64{{1, 0, 0}, {1, 0, 0}, {0, 0, 1}}
	bad[3].Origin[0] = math.NaN()
	for i, g := range bad {
		if err := g.Validate(); err == nil {
			t.Errorf("case %d: invalid grid accepted", i)
		}
	}
	v := &Volume[int16]{Grid: good, Data: make([]int16, 7)}
	if v.Check() == nil {
		t.Error("short data accepted")
	}
}

func TestTrilinearLinearFieldAndEdges(t *testing.T) {
	g := Grid{Dims: [3]int{5, 4, 3}, Spacing: Vec3{1, 1, 1}, Direction: Identity}
	v := New[float32](g)
	f := func(i, j, k float64) float64 { return 3*i - 2*j + 5*k + 7 }
	for k := 0; k < 3; k++ {
		for j := 0; j < 4; j++ {
			for i := 0; i < 5; i++ {
				v.Set(i, j, k, float32(f(float64(i), float64(j), float64(k))))
			}
		}
	}
	// Interior points reproduce a linear field exactly.
	for _, p := range []Vec3{{0.25, 0.5, 0.75}, {3.9, 2.1, 1.5}, {4, 3, 2}, {0, 0, 0}} {
		if got, want := v.Trilinear(p, -1000), f(p[0], p[1], p[2]); math.Abs(got-want) > 1e-5 {
			t.Errorf("at %v: %v want %v", p, got, want)
		}
	}
	// Half a voxel beyond the last centre: half outside, half edge voxel.
	if got, want := v.Trilinear(Vec3{4.5, 0, 0}, -1000), 0.5*f(4, 0, 0)+0.5*-1000; math.Abs(got-want) > 1e-5 {
		t.Errorf("edge fade: %v want %v", got, want)
	}
	for _, p := range []Vec3{{-1, 0, 0}, {5, 0, 0}, {0, 0, math.NaN()}} {
		if got := v.Trilinear(p, -1000); got != -1000 {
			t.Errorf("outside %v: %v", p, got)
		}
	}
}

func TestResizeAndReuse(t *testing.T) {
	buf := make([]int16, 3, 10)
	buf[0] = 7
	if r := Resize(buf, 8); len(r) != 8 || &r[0] != &buf[0] || r[0] != 7 {
		t.Errorf("Resize within capacity: len %d, reused %v", len(r), &r[0] == &buf[0])
	}
	if r := Resize(buf, 11); len(r) != 11 || &r[0] == &buf[0] || r[0] != 0 {
		t.Errorf("Resize beyond capacity: len %d, reused %v", len(r), &r[0] == &buf[0])
	}
	if r := Resize[int16](nil, 2); len(r) != 2 {
		t.Errorf("Resize(nil, 2): len %d", len(r))
	}
	g := Grid{Dims: [3]int{2, 2, 2}, Spacing: Vec3{1, 1, 1}, Direction: Identity}
	if v, ok := Reuse[int16](nil, g); ok || v != nil {
		t.Error("Reuse(nil) reused")
	}
	small := New[int16](Grid{Dims: [3]int{1, 1, 1}, Spacing: Vec3{1, 1, 1}, Direction: Identity})
	if v, ok := Reuse(small, g); ok || v != nil || small.Dims != [3]int{1, 1, 1} {
		t.Error("Reuse of a too small volume reused or changed it")
	}
	big := &Volume[int16]{Grid: g, Data: make([]int16, 1, 20)}
	if v, ok := Reuse(big, g); !ok || v != big || len(v.Data) != 8 || v.Grid != g {
		t.Errorf("Reuse of a large enough volume: ok %v, len %d", ok, len(big.Data))
	}
}

// TestCoversAndExtent: a point half a voxel beyond the outermost centres
// is covered, one a little further or with a NaN is not; the extent of a
// grid flipped along x (LPS from RAS) is still lower corner, upper corner.
func TestCoversAndExtent(t *testing.T) {
	g := Grid{Dims: [3]int{10, 20, 5}, Spacing: Vec3{1, 0.5, 2}, Origin: Vec3{0, 0, 0},
		Direction: [3][3]float64{{-1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	for _, c := range []struct {
		w    Vec3
		want bool
	}{{Vec3{0.5, -0.25, -1}, true}, {Vec3{-9.5, 9.75, 9}, true}, {Vec3{-9.6, 0, 0}, false},
		{Vec3{0, 9.8, 0}, false}, {Vec3{0, 0, 9.1}, false}, {Vec3{math.NaN(), 0, 0}, false}} {
		if got := g.Covers(c.w); got != c.want {
			t.Errorf("Covers(%v) = %v", c.w, got)
		}
	}
	lo, hi := g.Extent()
	if lo != (Vec3{-9.5, -0.25, -1}) || hi != (Vec3{0.5, 9.75, 9}) {
		t.Errorf("Extent %v %v", lo, hi)
	}
	if s := g.ExtentText(); s != "x -9.5…0.5, y -0.2…9.8, z -1.0…9.0 mm" {
		t.Errorf("ExtentText %q", s)
	}
}

// TestRowSpan: the first and last non-zero bytes, one when there is one,
// and none in an empty or all-zero row.
func TestRowSpan(t *testing.T) {
	for _, c := range []struct {
		row         []uint8
		first, last int
	}{
		{[]uint8{0, 0, 1, 0, 2, 0}, 2, 4},
		{[]uint8{0, 0, 0, 7}, 3, 3},
		{[]uint8{5}, 0, 0},
		{[]uint8{0, 0, 0}, -1, -1},
		{nil, -1, -1},
	} {
		if f, l := RowSpan(c.row); f != c.first || l != c.last {
			t.Errorf("RowSpan(%v) = %d, %d, want %d, %d", c.row, f, l, c.first, c.last)
		}
	}
}
