package pipeline

import (
	"testing"

	"github.com/lungctl/lungctl/internal/nodule"
	"github.com/lungctl/lungctl/internal/volume"
)

// TestLabelMap: each lesion's mask lands at its box's place with its rank;
// the better rank keeps overlapping voxels; a box reaching outside the grid
// is clipped.
func TestLabelMap(t *testing.T) {
	g := volume.Grid{Dims: [3]int{10, 10, 10}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	box := func(o [3]int) *nodule.Result {
		r := &nodule.Result{BoxOrigin: o, Box: volume.Grid{Dims: [3]int{3, 3, 3}, Spacing: g.Spacing, Direction: volume.Identity}}
		r.Mask = make([]uint8, 27)
		for i := range r.Mask {
			r.Mask[i] = 1
		}
		return r
	}
	v, err := LabelMap(g, []*nodule.Result{box([3]int{2, 2, 2}), nil, box([3]int{3, 3, 3}), box([3]int{8, 8, 8})})
	if err != nil {
		t.Fatal(err)
	}
	checks := map[[3]int]uint8{{2, 2, 2}: 1, {4, 4, 4}: 1, {5, 5, 5}: 3, {9, 9, 9}: 4, {1, 1, 1}: 0, {6, 6, 6}: 0}
	for ijk, want := range checks {
		if got := v.At(ijk[0], ijk[1], ijk[2]); got != want {
			t.Errorf("voxel %v: label %d, want %d", ijk, got, want)
		}
	}
	bad := box([3]int{0, 0, 0})
	bad.Box.Spacing = volume.Vec3{2, 2, 2}
	if _, err := LabelMap(g, []*nodule.Result{bad}); err == nil {
		t.Error("a box on another spacing was accepted")
	}
}
