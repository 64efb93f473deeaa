package features

import (
	"math"
	"testing"

	"github.com/lungctl/lungctl/internal/volume"
)

// grid1mm is an n³ 1 mm grid centred on the world origin.
func grid1mm(n int) volume.Grid {
	o := -float64(n-1) / 2
	return volume.Grid{Dims: [3]int{n, n, n}, Spacing: volume.Vec3{1, 1, 1},
		Origin: volume.Vec3{o, o, o}, Direction: volume.Identity}
}

// antialias returns the fraction of a voxel inside a surface at signed
// distance sd (mm, positive inside), a linear ramp over one voxel.
func antialias(sd float64) float64 { return math.Min(1, math.Max(0, sd+0.5)) }

// shape fills an int16 volume with −850 HU background and +50 HU inside the
// region whose signed distance (mm, positive inside) sdf gives.
func shape(n int, sdf func(x, y, z float64) float64) *volume.Volume[int16] {
	v := volume.New[int16](grid1mm(n))
	for k := 0; k < n; k++ {
		for j := 0; j < n; j++ {
			for i := 0; i < n; i++ {
				w := v.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
				v.Set(i, j, k, int16(math.Round(-850+900*antialias(sdf(w[0], w[1], w[2])))))
			}
		}
	}
	return v
}

func TestBallCurvature(t *testing.T) {
	for _, r := range []float64{5, 8} {
		n := 40
		v := shape(n, func(x, y, z float64) float64 { return r - math.Sqrt(x*x+y*y+z*z) })
		s, err := Smooth(nil, v, 2.0)
		if err != nil {
			t.Fatal(err)
		}
		var count int
		var worstSI, worstH, worstK float64 = 1, 0, 0
		for k := 0; k < n; k++ {
			for j := 0; j < n; j++ {
				for i := 0; i < n; i++ {
					w := s.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
					d := math.Sqrt(w[0]*w[0] + w[1]*w[1] + w[2]*w[2])
					if d < r-1.5 || d > r+1.5 {
						continue
					}
					c := At(s, i, j, k)
					count++
					worstSI = math.Min(worstSI, c.SI)
					// By symmetry the iso-surface through the voxel is the
					// sphere of radius d: H = 1/d, K = 1/d².
					worstH = math.Max(worstH, math.Abs(c.H*d-1))
					worstK = math.Max(worstK, math.Abs(c.K*d*d-1))
				}
			}
		}
		t.Logf("r=%g: %d surface voxels, min SI %.3f, max rel err H %.3f K %.3f", r, count, worstSI, worstH, worstK)
		if count < 100 {
			t.Fatalf("only %d surface voxels", count)
		}
		if worstSI < 0.9 {
			t.Errorf("r=%g: ball shape index down to %.3f, want ≥ 0.9", r, worstSI)
		}
		// Central differences on a 1 mm grid, sigma 2 mm, voxelised edge: < 10 % (H).
		if worstH > 0.1 || worstK > 0.2 {
			t.Errorf("r=%g: H rel err %.3f (want ≤ 0.1), K rel err %.3f (want ≤ 0.2)", r, worstH, worstK)
		}
	}
}

func TestCylinderPlaneSaddle(t *testing.T) {
	n := 40
	// Bright cylinder of radius 4 mm along z.
	cyl := shape(n, func(x, y, z float64) float64 { return 4 - math.Sqrt(x*x+y*y) })
	s, err := Smooth(nil, cyl, 2.0)
	if err != nil {
		t.Fatal(err)
	}
	var sum, cnt float64
	for _, p := range [][3]int{{20 + 4, 20, 20}, {20, 20 - 3, 10}, {20 - 4, 20 + 1, 30}, {20 + 3, 20 + 3, 15}} {
		c := At(s, p[0], p[1], p[2])
		w := s.IndexToWorld(volume.Vec3{float64(p[0]), float64(p[1]), float64(p[2])})
		rho := math.Hypot(w[0], w[1])
		if math.Abs(c.SI-0.75) > 0.03 {
			t.Errorf("cylinder at %v: SI %.3f, want 0.75±0.03", p, c.SI)
		}
		if math.Abs(c.K1*rho-1) > 0.1 || math.Abs(c.K2)*rho > 0.05 {
			t.Errorf("cylinder at %v (rho %.2f): k1 %.4f k2 %.4f, want %.4f and 0", p, rho, c.K1, c.K2, 1/rho)
		}
		sum += c.SI
		cnt++
	}
	t.Logf("cylinder mean SI %.3f", sum/cnt)

	// A bright half-space: flat iso-surfaces, curvedness 0.
	plane := shape(n, func(x, y, z float64) float64 { return 0.3*x + 0.5*y - 0.81*z + 1 })
	s, err = Smooth(s, plane, 2.0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][3]int{{20, 20, 20}, {15, 22, 19}, {25, 18, 21}} {
		c := At(s, p[0], p[1], p[2])
		if c.GradMag < 50 {
			t.Fatalf("plane at %v: gradient %.1f HU/mm too small to be near the edge", p, c.GradMag)
		}
		if c.C > 0.01 {
			t.Errorf("plane at %v: curvedness %.4f 1/mm, want ≈ 0", p, c.C)
		}
	}

	// A saddle: F = 100·(z − (x² − y²)/(2R)); at the origin k1 = −k2 = 1/R,
	// H = 0, K = −1/R², SI = 0.5. Quadratics survive smoothing unchanged.
	R := 10.0
	sad := volume.New[float32](grid1mm(11))
	for k := 0; k < 11; k++ {
		for j := 0; j < 11; j++ {
			for i := 0; i < 11; i++ {
				w := sad.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
				sad.Set(i, j, k, float32(100*(w[2]-(w[0]*w[0]-w[1]*w[1])/(2*R))))
			}
		}
	}
	c := At(sad, 5, 5, 5)
	if math.Abs(c.SI-0.5) > 1e-3 || math.Abs(c.H) > 1e-4 || math.Abs(c.K*R*R+1) > 1e-3 {
		t.Errorf("saddle: SI %.4f H %.5f K·R² %.4f, want 0.5, 0, −1", c.SI, c.H, c.K*R*R)
	}
	if math.Abs(c.C*R-1) > 1e-3 {
		t.Errorf("saddle: curvedness·R %.4f, want 1", c.C*R)
	}
}

func TestShapeIndexValues(t *testing.T) {
	cases := []struct{ k1, k2, want float64 }{
		{1, 1, 1}, {1, 0, 0.75}, {1, -1, 0.5}, {0, 0, 0.5}, {0, -1, 0.25}, {-1, -1, 0}, {0.5, 0.5, 1},
	}
	for _, c := range cases {
		if got := ShapeIndex(c.k1, c.k2); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("ShapeIndex(%g,%g) = %g want %g", c.k1, c.k2, got, c.want)
		}
	}
}

func TestSmoothPreservesAndErrors(t *testing.T) {
	// A constant volume stays constant; a linear ramp stays linear away from
	// the edges; total mass is preserved in the interior.
	v := volume.New[int16](grid1mm(20))
	for i := range v.Data {
		v.Data[i] = 123
	}
	s, err := Smooth(nil, v, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range s.Data {
		if math.Abs(float64(x)-123) > 1e-3 {
			t.Fatalf("constant not preserved: %g", x)
		}
	}
	for k := 0; k < 20; k++ {
		for j := 0; j < 20; j++ {
			for i := 0; i < 20; i++ {
				v.Set(i, j, k, int16(3*i-2*j+k))
			}
		}
	}
	if _, err := Smooth(s, v, 2.0); err != nil {
		t.Fatal(err)
	}
	if got, want := s.At(10, 9, 8), float32(3*10-2*9+8); math.Abs(float64(got-want)) > 1e-3 {
		t.Errorf("ramp at centre %g want %g", got, want)
	}
	// Anisotropic spacing: a linear ramp in z mm stays linear.
	if _, err := Smooth(nil, v, 0); err == nil {
		t.Error("sigma 0 accepted")
	}
	if _, err := Smooth(nil, &volume.Volume[int16]{}, 1); err == nil {
		t.Error("empty volume accepted")
	}
	if err := ShapeIndexAt(s, []int32{-1}, make([]float32, 1), nil); err == nil {
		t.Error("bad index accepted")
	}
}

func TestShapeIndexAtMatchesAt(t *testing.T) {
	v := shape(24, func(x, y, z float64) float64 { return 6 - math.Sqrt(x*x+2*y*y+z*z) })
	s, _ := Smooth(nil, v, 1)
	idx := []int32{}
	for p := 0; p < s.Len(); p += 37 {
		idx = append(idx, int32(p))
	}
	si := make([]float32, len(idx))
	cv := make([]float32, len(idx))
	if err := ShapeIndexAt(s, idx, si, cv); err != nil {
		t.Fatal(err)
	}
	for q, p := range idx {
		i, j, k := int(p)%24, (int(p)/24)%24, int(p)/(24*24)
		c := At(s, i, j, k)
		if si[q] != float32(c.SI) || cv[q] != float32(c.C) {
			t.Fatalf("voxel %d: %g/%g vs %g/%g", p, si[q], cv[q], c.SI, c.C)
		}
	}
}

func BenchmarkFeatures(b *testing.B) {
	// A 256×256×200 1 mm volume (a cropped chest): smoothing plus shape
	// index at 200k voxels.
	g := volume.Grid{Dims: [3]int{256, 256, 200}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	v := volume.New[int16](g)
	for p := range v.Data {
		v.Data[p] = int16((p*7919)%1500 - 1000)
	}
	idx := make([]int32, 200000)
	for q := range idx {
		idx[q] = int32((q * 64997) % len(v.Data))
	}
	si := make([]float32, len(idx))
	cv := make([]float32, len(idx))
	var s *volume.Volume[float32]
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		var err error
		if s, err = Smooth(s, v, 1); err != nil {
			b.Fatal(err)
		}
		if err := ShapeIndexAt(s, idx, si, cv); err != nil {
			b.Fatal(err)
		}
	}
}

func TestEigen3AndBrightBlob(t *testing.T) {
	for _, c := range []struct {
		h    [6]float64
		want [3]float64
	}{
		{[6]float64{2, 3, 5, 0, 0, 0}, [3]float64{2, 3, 5}},
		{[6]float64{2, 2, 3, 1, 0, 0}, [3]float64{1, 3, 3}},                 // [[2,1,0],[1,2,0],[0,0,3]]
		{[6]float64{4, 4, 4, 1, 1, 1}, [3]float64{3, 3, 6}},                 // 3I + ones
		{[6]float64{-1, -2, 0, 0.5, 0, 0}, [3]float64{-2.2071, -0.7929, 0}}, // rounded below
	} {
		got := Eigen3(c.h)
		for i := range got {
			if math.Abs(got[i]-c.want[i]) > 1e-3 {
				t.Errorf("Eigen3(%v) = %v, want %v", c.h, got, c.want)
				break
			}
		}
	}
	if !BrightBlob([6]float64{-3, -2.5, -2, 0, 0, 0}, 0.25) {
		t.Error("ball-like Hessian not a blob")
	}
	if BrightBlob([6]float64{-3, -3, -0.1, 0, 0, 0}, 0.25) {
		t.Error("tube-like Hessian called a blob")
	}
	if BrightBlob([6]float64{-3, -3, 0.5, 0, 0, 0}, 0.25) {
		t.Error("saddle called a blob")
	}
}
