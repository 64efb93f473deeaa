package resample

import (
	"errors"
	"math"
	"testing"

	"github.com/lungctl/lungctl/internal/volume"
)

// linear is the test function f(q) = g·q + c of LPS world mm.
type linear struct {
	g volume.Vec3
	c float64
}

func (f linear) at(q volume.Vec3) float64 { return dot(f.g, q) + f.c }

// stack builds a source volume whose slice k has origin pos[k], in-plane
// directions u, v and spacing s0, s1, filled with val(world point).
func stack(nx, ny int, s0, s1 float64, u, v volume.Vec3, pos []volume.Vec3) volume.Grid {
	n, _ := unit(cross(u, v))
	var d [3][3]float64
	for r := 0; r < 3; r++ {
		d[r][0], d[r][1], d[r][2] = u[r], v[r], n[r]
	}
	step := 1.0
	if len(pos) > 1 {
		step = math.Abs(dot(sub(pos[len(pos)-1], pos[0]), n)) / float64(len(pos)-1)
	}
	return volume.Grid{Dims: [3]int{nx, ny, len(pos)}, Spacing: volume.Vec3{s0, s1, step}, Origin: pos[0], Direction: d}
}

// sliceWorld is slice k's voxel (i, j) in world mm, straight from the
// definition P_k + i·s0·u + j·s1·v.
func sliceWorld(g volume.Grid, p volume.Vec3, i, j int) volume.Vec3 {
	u := volume.Vec3{g.Direction[0][0], g.Direction[1][0], g.Direction[2][0]}
	v := volume.Vec3{g.Direction[0][1], g.Direction[1][1], g.Direction[2][1]}
	return add(p, add(scale(u, float64(i)*g.Spacing[0]), scale(v, float64(j)*g.Spacing[1])))
}

func fillInt16(g volume.Grid, pos []volume.Vec3, f func(volume.Vec3) float64) *volume.Volume[int16] {
	vol := volume.New[int16](g)
	for k := range pos {
		for j := 0; j < g.Dims[1]; j++ {
			for i := 0; i < g.Dims[0]; i++ {
				vol.Set(i, j, k, int16(math.Round(f(sliceWorld(g, pos[k], i, j)))))
			}
		}
	}
	return vol
}

func fillFloat(g volume.Grid, pos []volume.Vec3, f func(volume.Vec3) float64) *volume.Volume[float32] {
	vol := volume.New[float32](g)
	for k := range pos {
		for j := 0; j < g.Dims[1]; j++ {
			for i := 0; i < g.Dims[0]; i++ {
				vol.Set(i, j, k, float32(f(sliceWorld(g, pos[k], i, j))))
			}
		}
	}
	return vol
}

// interior reports whether world point q lies strictly inside the stack:
// between the first and last slice along the normal and, projected along
// the normal, inside every slice's pixel-centre rectangle. It solves the
// 3×3 system for each slice independently of the package's dual basis.
func interior(g volume.Grid, pos []volume.Vec3, q volume.Vec3, margin float64) bool {
	var sMin, sMax = math.Inf(1), math.Inf(-1)
	for _, p := range pos {
		sg := g
		sg.Origin = p
		sg.Spacing[2] = 1
		idx := sg.WorldToIndex(q)
		if idx[0] < margin || idx[1] < margin || idx[0] > float64(g.Dims[0]-1)-margin || idx[1] > float64(g.Dims[1]-1)-margin {
			return false
		}
		// idx[2] = −(signed distance of q beyond slice k along n).
		s := -idx[2]
		sMin, sMax = math.Min(sMin, s), math.Max(sMax, s)
	}
	return sMin <= -margin && sMax >= margin
}

type checkResult struct {
	n, bad int
	worst  float64
}

func checkLinear[T int16 | float32](t *testing.T, name string, out *volume.Volume[T], g volume.Grid, pos []volume.Vec3, f linear, tol float64) {
	t.Helper()
	var r checkResult
	for k := 0; k < out.Dims[2]; k++ {
		for j := 0; j < out.Dims[1]; j++ {
			for i := 0; i < out.Dims[0]; i++ {
				q := out.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
				if !interior(g, pos, q, 1e-3) {
					continue
				}
				r.n++
				d := math.Abs(float64(out.At(i, j, k)) - f.at(q))
				if d > r.worst {
					r.worst = d
				}
				if d > tol {
					if r.bad < 5 {
						t.Errorf("%s: voxel (%d,%d,%d) at %v: got %v, want %.3f", name, i, j, k, q, out.At(i, j, k), f.at(q))
					}
					r.bad++
				}
			}
		}
	}
	if r.n < out.Len()/10 {
		t.Fatalf("%s: only %d of %d output voxels are interior; test geometry too small", name, r.n, out.Len())
	}
	t.Logf("%s: %d interior voxels checked, worst error %.4g", name, r.n, r.worst)
}

func unevenAxial() (volume.Grid, []volume.Vec3) {
	zs := []float64{-300, -297.5, -296, -292.5, -292, -288, -286.9, -282.5}
	pos := make([]volume.Vec3, len(zs))
	for k, z := range zs {
		pos[k] = volume.Vec3{-120.3, 40.7, z}
	}
	return stack(24, 20, 0.703125, 0.8, volume.Vec3{1, 0, 0}, volume.Vec3{0, 1, 0}, pos), pos
}

func tilted(deg float64) (volume.Grid, []volume.Vec3) {
	th := deg * math.Pi / 180
	u := volume.Vec3{1, 0, 0}
	v := volume.Vec3{0, math.Cos(th), math.Sin(th)}
	// Slices advance along z (table motion), not along the tilted normal:
	// the stack is sheared. Gaps are uneven.
	zs := []float64{10, 13, 14.5, 19, 21, 22.2, 27, 30, 31}
	pos := make([]volume.Vec3, len(zs))
	for k, z := range zs {
		pos[k] = volume.Vec3{-20, -15, z}
	}
	return stack(30, 40, 0.9, 0.6, u, v, pos), pos
}

var lin = linear{g: volume.Vec3{3.1, -2.2, 7.3}, c: 120}

func TestLinearAxialUneven(t *testing.T) {
	g, pos := unevenAxial()
	src := fillInt16(g, pos, lin.at)
	out, err := Stack(src, pos, volume.Vec3{1, 1, 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLinear(t, "int16", out, g, pos, lin, 1.0+1e-4)
	srcF := fillFloat(g, pos, lin.at)
	outF, err := StackFloat32(srcF, pos, volume.Vec3{0.9, 1.3, 0.7}, -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLinear(t, "float32", outF, g, pos, lin, 2e-3)
}

func TestLinearTilted(t *testing.T) {
	g, pos := tilted(18.5)
	src := fillInt16(g, pos, lin.at)
	out, err := Stack(src, pos, volume.Vec3{1, 1, 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLinear(t, "int16 tilted", out, g, pos, lin, 1.0+1e-4)
	srcF := fillFloat(g, pos, lin.at)
	outF, err := StackFloat32(srcF, pos, volume.Vec3{0.8, 1, 1.1}, -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLinear(t, "float32 tilted", outF, g, pos, lin, 2e-3)
	if out.Direction != volume.Identity || outF.Direction != volume.Identity {
		t.Fatalf("directions %v, %v, want the LPS axes", out.Direction, outF.Direction)
	}
}

// A skewed (non-orthogonal) in-plane frame exercises the general path.
func TestLinearSkewed(t *testing.T) {
	u := volume.Vec3{1, 0, 0}
	v, _ := unit(volume.Vec3{0.15, 1, 0.05})
	zs := []float64{0, 2, 3, 6, 8, 9.5}
	pos := make([]volume.Vec3, len(zs))
	for k, z := range zs {
		pos[k] = volume.Vec3{1, 2, z}
	}
	g := stack(20, 22, 0.7, 0.75, u, v, pos)
	srcF := fillFloat(g, pos, lin.at)
	outF, err := StackFloat32(srcF, pos, volume.Vec3{0.6, 0.6, 0.8}, -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLinear(t, "float32 skewed", outF, g, pos, lin, 2e-3)
}

func TestWorldPreservedOnSampleCentres(t *testing.T) {
	// Output spacing equal to the source's: output voxels coincide with
	// source voxels, values must be copied exactly.
	g := volume.Grid{Dims: [3]int{9, 7, 6}, Spacing: volume.Vec3{0.5, 0.5, 2}, Origin: volume.Vec3{3, -4, 10}, Direction: volume.Identity}
	src := volume.New[int16](g)
	for i := range src.Data {
		src.Data[i] = int16(i*37%2001 - 1000)
	}
	out, err := Stack(src, nil, g.Spacing, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.Dims != g.Dims || out.Origin != g.Origin {
		t.Fatalf("grid %v %v, want %v %v", out.Dims, out.Origin, g.Dims, g.Origin)
	}
	for i := range src.Data {
		if out.Data[i] != src.Data[i] {
			t.Fatalf("voxel %d: %d, want %d", i, out.Data[i], src.Data[i])
		}
	}
}

func TestTinySources(t *testing.T) {
	for _, dims := range [][3]int{{1, 1, 1}, {1, 5, 3}, {4, 1, 2}, {3, 3, 1}} {
		g := volume.Grid{Dims: dims, Spacing: volume.Vec3{0.7, 0.7, 2.5}, Origin: volume.Vec3{1, 2, 3}, Direction: volume.Identity}
		src := volume.New[int16](g)
		for i := range src.Data {
			src.Data[i] = 123
		}
		out, err := Stack(src, nil, volume.Vec3{1, 1, 1}, nil)
		if err != nil {
			t.Fatalf("%v: %v", dims, err)
		}
		if out.Origin != g.Origin || out.Data[0] != 123 {
			t.Errorf("%v: origin %v first voxel %d, want %v and 123", dims, out.Origin, out.Data[0], g.Origin)
		}
		for _, v := range out.Data {
			if v != 123 && v != AirHU {
				t.Fatalf("%v: value %d", dims, v)
			}
		}
	}
}

func TestConstantAndOutside(t *testing.T) {
	g, pos := tilted(12)
	src := fillInt16(g, pos, func(volume.Vec3) float64 { return 37 })
	out, err := Stack(src, pos, volume.Vec3{0.7, 0.9, 1.2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var in, outside int
	for k := 0; k < out.Dims[2]; k++ {
		for j := 0; j < out.Dims[1]; j++ {
			for i := 0; i < out.Dims[0]; i++ {
				q := out.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
				v := out.At(i, j, k)
				if interior(g, pos, q, 1e-3) {
					in++
					if v != 37 {
						t.Fatalf("interior voxel (%d,%d,%d) = %d, want 37", i, j, k, v)
					}
				} else {
					// At the sheared edges an output point may lie inside one
					// bracketing slice and outside the other: a blend with air.
					if v < AirHU || v > 37 {
						t.Fatalf("edge voxel (%d,%d,%d) = %d, want within [%d, 37]", i, j, k, v, AirHU)
					}
					if v == AirHU {
						outside++
					}
				}
			}
		}
	}
	if in == 0 || outside == 0 {
		t.Fatalf("interior %d, outside %d: geometry does not test both", in, outside)
	}
	// An axial stack: inside the source voxels' extent (half a voxel
	// beyond the outermost centres) every voxel is the constant, outside
	// it air.
	gA, posA := unevenAxial()
	outA, _ := Stack(fillInt16(gA, posA, func(volume.Vec3) float64 { return 5 }), posA, volume.Vec3{1, 1, 1}, nil)
	lo, hi := centreBox(gA, posA)
	half := volume.Vec3{gA.Spacing[0] / 2, gA.Spacing[1] / 2, (posA[1][2] - posA[0][2]) / 2}
	halfHi := volume.Vec3{half[0], half[1], (posA[len(posA)-1][2] - posA[len(posA)-2][2]) / 2}
	var n5, nAir int
	for k := 0; k < outA.Dims[2]; k++ {
		for j := 0; j < outA.Dims[1]; j++ {
			for i := 0; i < outA.Dims[0]; i++ {
				q := outA.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
				in := true
				for a := 0; a < 3; a++ {
					in = in && q[a] >= lo[a]-half[a]-1e-6 && q[a] <= hi[a]+halfHi[a]+1e-6
				}
				want := int16(AirHU)
				if in {
					want = 5
					n5++
				} else {
					nAir++
				}
				if v := outA.At(i, j, k); v != want {
					t.Fatalf("axial constant volume: voxel (%d,%d,%d) at %v = %d, want %d", i, j, k, q, v, want)
				}
			}
		}
	}
	if n5 == 0 || nAir == 0 {
		t.Fatalf("%d inside, %d outside: test has no power", n5, nAir)
	}
}

func TestBlobKeepsWorldPosition(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    volume.Grid
		pos  []volume.Vec3
	}{
		{"axial", func() volume.Grid { g, _ := unevenAxial(); return g }(), func() []volume.Vec3 { _, p := unevenAxial(); return p }()},
		{"tilted", func() volume.Grid { g, _ := tilted(18.5); return g }(), func() []volume.Vec3 { _, p := tilted(18.5); return p }()},
	} {
		// Blob centre in the middle of the stack.
		mid := sliceWorld(tc.g, tc.pos[len(tc.pos)/2], tc.g.Dims[0]/2, tc.g.Dims[1]/2)
		c := add(mid, volume.Vec3{0.31, -0.27, 0.4})
		const sigma = 2.0
		blob := func(q volume.Vec3) float64 {
			d := sub(q, c)
			return 1000 * math.Exp(-dot(d, d)/(2*sigma*sigma))
		}
		src := fillFloat(tc.g, tc.pos, blob)
		out, err := StackFloat32(src, tc.pos, volume.Vec3{0.5, 0.5, 0.5}, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		var sw float64
		var cw volume.Vec3
		for k := 0; k < out.Dims[2]; k++ {
			for j := 0; j < out.Dims[1]; j++ {
				for i := 0; i < out.Dims[0]; i++ {
					w := float64(out.At(i, j, k))
					if w < 20 {
						continue
					}
					q := out.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
					sw += w
					cw = add(cw, scale(q, w))
				}
			}
		}
		got := scale(cw, 1/sw)
		if d := math.Sqrt(dot(sub(got, c), sub(got, c))); d > 0.3 {
			t.Errorf("%s: blob centroid %v, want %v (off by %.3f mm)", tc.name, got, c, d)
		}
	}
}

func TestMaskNearest(t *testing.T) {
	g := volume.Grid{Dims: [3]int{20, 18, 9}, Spacing: volume.Vec3{0.7, 0.75, 2.5}, Origin: volume.Vec3{-5, 7, -50}, Direction: volume.Identity}
	src := volume.New[uint8](g)
	for i := range src.Data {
		src.Data[i] = uint8(i * 7 % 5)
	}
	out, err := Mask(src, nil, volume.Vec3{1, 1, 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for k := 0; k < out.Dims[2]; k++ {
		for j := 0; j < out.Dims[1]; j++ {
			for i := 0; i < out.Dims[0]; i++ {
				idx := g.WorldToIndex(out.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)}))
				tie := false
				var n [3]int
				inside := true
				for a := 0; a < 3; a++ {
					if f := idx[a] - math.Floor(idx[a]); math.Abs(f-0.5) < 1e-6 {
						tie = true
					}
					n[a] = int(math.Round(idx[a]))
					inside = inside && n[a] >= 0 && n[a] < g.Dims[a]
				}
				if tie {
					continue
				}
				checked++
				if !inside {
					if got := out.At(i, j, k); got != 0 {
						t.Fatalf("(%d,%d,%d) outside the source: %d, want 0", i, j, k, got)
					}
					continue
				}
				if got, want := out.At(i, j, k), src.At(n[0], n[1], n[2]); got != want {
					t.Fatalf("(%d,%d,%d): %d, want nearest %v = %d", i, j, k, got, n, want)
				}
			}
		}
	}
	if checked < out.Len()/2 {
		t.Fatalf("only %d voxels checked", checked)
	}
}

func TestReuseDst(t *testing.T) {
	g, pos := unevenAxial()
	src := fillInt16(g, pos, lin.at)
	fresh, err := Stack(src, pos, volume.Vec3{1, 1, 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := volume.New[int16](volume.Grid{Dims: [3]int{100, 100, 10}})
	for i := range buf.Data {
		buf.Data[i] = 1234
	}
	got, err := Stack(src, pos, volume.Vec3{1, 1, 1}, buf)
	if err != nil {
		t.Fatal(err)
	}
	if got != buf || &got.Data[0] != &buf.Data[0] {
		t.Fatal("dst with enough capacity was not reused")
	}
	if got.Grid != fresh.Grid || len(got.Data) != len(fresh.Data) {
		t.Fatalf("reused grid %v, want %v", got.Grid, fresh.Grid)
	}
	for i := range fresh.Data {
		if got.Data[i] != fresh.Data[i] {
			t.Fatalf("voxel %d differs: %d vs %d", i, got.Data[i], fresh.Data[i])
		}
	}
}

func TestErrors(t *testing.T) {
	g, pos := unevenAxial()
	src := fillInt16(g, pos, lin.at)
	if _, err := Stack(src, pos[:3], volume.Vec3{1, 1, 1}, nil); !errors.Is(err, ErrPositions) {
		t.Errorf("short positions: err = %v, want ErrPositions", err)
	}
	dup := append([]volume.Vec3(nil), pos...)
	dup[2] = dup[1]
	if _, err := Stack(src, dup, volume.Vec3{1, 1, 1}, nil); !errors.Is(err, ErrPositions) {
		t.Errorf("duplicate positions: err = %v, want ErrPositions", err)
	}
	nan := append([]volume.Vec3(nil), pos...)
	nan[0][2] = math.NaN()
	if _, err := Stack(src, nan, volume.Vec3{1, 1, 1}, nil); !errors.Is(err, ErrPositions) {
		t.Errorf("NaN position: err = %v, want ErrPositions", err)
	}
	for _, sp := range []volume.Vec3{{0, 1, 1}, {1, -1, 1}, {1, 1, math.NaN()}, {1e-4, 1e-4, 1e-4}} {
		if _, err := Stack(src, pos, sp, nil); !errors.Is(err, volume.ErrGeometry) {
			t.Errorf("spacing %v: err = %v, want ErrGeometry", sp, err)
		}
	}
	if _, err := Stack(nil, nil, volume.Vec3{1, 1, 1}, nil); err == nil {
		t.Error("nil source accepted")
	}
	bad := volume.New[int16](volume.Grid{Dims: [3]int{2, 2, 2}, Spacing: volume.Vec3{1, 1, 1}})
	if _, err := Stack(bad, nil, volume.Vec3{1, 1, 1}, nil); !errors.Is(err, volume.ErrGeometry) {
		t.Errorf("zero direction: err = %v, want ErrGeometry", err)
	}
	// Descending slice positions (direction column 2 opposite to u×v) are
	// sorted, not refused.
	rev := make([]volume.Vec3, len(pos))
	srcR := volume.New[int16](g)
	nxy := g.Dims[0] * g.Dims[1]
	for k := range pos {
		rev[k] = pos[len(pos)-1-k]
		copy(srcR.Data[k*nxy:(k+1)*nxy], src.Data[(len(pos)-1-k)*nxy:])
	}
	a, err := Stack(src, pos, volume.Vec3{1, 1, 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Stack(srcR, rev, volume.Vec3{1, 1, 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Grid != b.Grid {
		t.Fatalf("reversed stack grid %v, want %v", b.Grid, a.Grid)
	}
	for i := range a.Data {
		if a.Data[i] != b.Data[i] {
			t.Fatalf("reversed stack differs at %d", i)
		}
	}
}

// BenchmarkStackLIDC resamples a 512×512×133 stack of 0.703125×0.703125×2.5
// mm (the LIDC-IDRI-0001 geometry) to 1 mm, reusing the output buffer.
func BenchmarkStackLIDC(b *testing.B) {
	g := volume.Grid{Dims: [3]int{512, 512, 133}, Spacing: volume.Vec3{0.703125, 0.703125, 2.5}, Origin: volume.Vec3{-166, -171.7, -340}, Direction: volume.Identity}
	src := volume.New[int16](g)
	for i := range src.Data {
		src.Data[i] = int16(i%1777 - 1000)
	}
	dst, err := Stack(src, nil, volume.Vec3{1, 1, 1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(dst.Data) * 2))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Stack(src, nil, volume.Vec3{1, 1, 1}, dst); err != nil {
			b.Fatal(err)
		}
	}
}
