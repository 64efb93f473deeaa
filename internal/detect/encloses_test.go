package detect

import (
	"testing"

	"github.com/lungctl/lungctl/internal/nodule"
	"github.com/lungctl/lungctl/internal/volume"
)

// TestEncloses: a part-solid lesion segmented at a lower-ranked candidate
// replaces the kept candidate that is its solid core; nothing else does.
func TestEncloses(t *testing.T) {
	g := volume.Grid{Dims: [3]int{20, 20, 20}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	lesion := func(typ nodule.Type, vol float64, centre [3]float64, r float64) *nodule.Result {
		m := make([]uint8, g.Len())
		for k := 0; k < 20; k++ {
			for j := 0; j < 20; j++ {
				for i := 0; i < 20; i++ {
					if dist3([3]float64{float64(i), float64(j), float64(k)}, centre) <= r {
						m[g.Index(i, j, k)] = 1
					}
				}
			}
		}
		return &nodule.Result{Type: typ, VolumeMM3: vol, Centre: centre, Box: g, Mask: m}
	}
	core := lesion(nodule.Solid, 260, [3]float64{8, 10, 10}, 4)
	cases := []struct {
		name  string
		outer *nodule.Result
		want  bool
	}{
		{"part-solid around the core", lesion(nodule.PartSolid, 990, [3]float64{10, 10, 10}, 7), true},
		{"solid around the core", lesion(nodule.Solid, 990, [3]float64{10, 10, 10}, 7), false},
		{"part-solid not twice the core", lesion(nodule.PartSolid, 400, [3]float64{10, 10, 10}, 7), false},
		{"part-solid beside the core", lesion(nodule.PartSolid, 990, [3]float64{17, 17, 17}, 3), false},
		{"nothing segmented", nil, false},
	}
	for _, c := range cases {
		if got := encloses(c.outer, core); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if k := enclosedKept(cases[0].outer, []*nodule.Result{nil, lesion(nodule.Solid, 50, [3]float64{2, 2, 2}, 1), core}); k != 2 {
		t.Errorf("enclosedKept = %d, want 2", k)
	}
}
