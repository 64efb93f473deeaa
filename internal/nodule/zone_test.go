package nodule

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lungctl/lungctl/internal/volume"
)

func TestZones(t *testing.T) {
	// Two box "lungs": right x −60…−20 mm, z −200…−50; left x 20…60, z
	// −230…−80.
	g := volume.Grid{Dims: [3]int{140, 10, 200}, Spacing: volume.Vec3{1, 1, 1.5}, Origin: volume.Vec3{-70, 0, -260}, Direction: volume.Identity}
	m := volume.New[uint8](g)
	for k := 0; k < g.Dims[2]; k++ {
		for j := 0; j < g.Dims[1]; j++ {
			for i := 0; i < g.Dims[0]; i++ {
				w := g.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
				if (w[0] >= -60 && w[0] <= -20 && w[2] >= -200 && w[2] <= -50) || (w[0] >= 20 && w[0] <= 60 && w[2] >= -230 && w[2] <= -80) {
					m.Set(i, j, k, 1)
				}
			}
		}
	}
	z := LungZones(m)
	if !z.Valid || math.Abs(z.ZMax[0]+50) > 1 || math.Abs(z.ZMin[1]+230) > 1 {
		t.Fatalf("zones %+v", z)
	}
	for _, c := range []struct {
		p  [3]float64
		up bool
	}{
		{[3]float64{-40, 5, -90}, true}, {[3]float64{-40, 5, -110}, false},
		{[3]float64{40, 5, -120}, true}, {[3]float64{40, 5, -135}, false},
	} {
		if got := z.Upper(c.p); got != c.up {
			t.Errorf("%v: upper %v, want %v", c.p, got, c.up)
		}
	}
	if (Zones{}).Upper([3]float64{}) {
		t.Error("empty zones call a point upper")
	}
}

// TestSideExtremesAxial: the axial fast path (each row's first and last
// mask voxel) gives the per-voxel path's extremes, on random masks whose
// rows cross the midline, on an oblique-origin grid of 0.7 mm columns.
func TestSideExtremesAxial(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	g := volume.Grid{Dims: [3]int{37, 9, 23}, Spacing: volume.Vec3{0.7, 1, 1.25}, Origin: volume.Vec3{-13.1, 4, -80.3}, Direction: volume.Identity}
	for trial := 0; trial < 20; trial++ {
		m := volume.New[uint8](g)
		density := r.Float64() * 0.3
		for p := range m.Data {
			if r.Float64() < density {
				m.Data[p] = 1
			}
		}
		if !rowsAlongX(m) {
			t.Fatal("an identity grid's rows do not run along x")
		}
		mid := -13.1 + r.Float64()*0.7*37
		lo1, hi1 := sideExtremes(m, mid, true)
		lo2, hi2 := sideExtremes(m, mid, false)
		if lo1 != lo2 || hi1 != hi2 {
			t.Fatalf("trial %d (density %.2f, midline %.2f): fast %v…%v, per voxel %v…%v", trial, density, mid, lo1, hi1, lo2, hi2)
		}
	}
	// A grid whose x runs backwards takes the per-voxel path.
	g.Direction[0][0] = -1
	if rowsAlongX(volume.New[uint8](g)) {
		t.Error("a mirrored grid's rows taken to run along +x")
	}
}
