package render

import (
	"math/rand"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/volume"
)

// TestAxisMIPsMatchRays: on identity-direction grids (isotropic and not,
// with and without a mask) the one-pass projection draws exactly the
// pixels the ray-by-ray projection draws.
func TestAxisMIPsMatchRays(t *testing.T) {
	rnd := rand.New(rand.NewSource(5))
	for _, g := range []volume.Grid{
		{Dims: [3]int{23, 17, 11}, Spacing: volume.Vec3{1, 1, 1}, Origin: volume.Vec3{-11, 4, -300}, Direction: volume.Identity},
		{Dims: [3]int{30, 20, 9}, Spacing: volume.Vec3{0.7, 0.7, 2.5}, Origin: volume.Vec3{3.1, -7.2, 11}, Direction: volume.Identity},
	} {
		v := volume.New[int16](g)
		m := volume.New[uint8](g)
		for i := range v.Data {
			v.Data[i] = int16(rnd.Intn(3000) - 1500)
			m.Data[i] = uint8(rnd.Intn(3) / 2)
		}
		cs := []candidate.Candidate{{World: g.IndexToWorld(volume.Vec3{5, 5, 5}), DiameterMM: 4, Probability: 0.5}}
		for _, mask := range []*volume.Volume[uint8]{nil, m} {
			slowMIP = true
			slow, _, err := OverviewImage(v, mask, cs, OverviewOptions{})
			slowMIP = false
			if err != nil {
				t.Fatal(err)
			}
			fast, _, err := OverviewImage(v, mask, cs, OverviewOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if string(slow.Pix) != string(fast.Pix) {
				t.Errorf("grid %v (mask %v): the one-pass projection differs from the rays", g.Spacing, mask != nil)
			}
		}
	}
}

func BenchmarkAxisMIPs(b *testing.B) {
	g := volume.Grid{Dims: [3]int{360, 360, 330}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	v := volume.New[int16](g)
	m := volume.New[uint8](g)
	for i := range m.Data {
		m.Data[i] = uint8(i & 1)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		axisMIPs(v, m.Data)
	}
}
