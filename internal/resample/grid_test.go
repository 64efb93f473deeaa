package resample

import (
	"math"
	"testing"

	"github.com/lungctl/lungctl/internal/volume"
)

// centreBox is the LPS bounding box of every source voxel centre, from the
// slice definition (independent of the package's plan).
func centreBox(g volume.Grid, pos []volume.Vec3) (lo, hi [3]float64) {
	for a := range lo {
		lo[a], hi[a] = math.Inf(1), math.Inf(-1)
	}
	for _, p := range pos {
		for j := 0; j < g.Dims[1]; j++ {
			for i := 0; i < g.Dims[0]; i++ {
				w := sliceWorld(g, p, i, j)
				for a := 0; a < 3; a++ {
					lo[a], hi[a] = math.Min(lo[a], w[a]), math.Max(hi[a], w[a])
				}
			}
		}
	}
	return lo, hi
}

// checkGridRule asserts the documented rule: identity direction, origin a
// whole multiple of the spacing, the grid covering every source voxel
// centre, and no spare voxel beyond the 0.001-voxel tolerance.
func checkGridRule(t *testing.T, name string, out volume.Grid, g volume.Grid, pos []volume.Vec3, sp volume.Vec3) {
	t.Helper()
	if out.Direction != volume.Identity {
		t.Errorf("%s: direction %v, want identity", name, out.Direction)
	}
	if out.Spacing != sp {
		t.Errorf("%s: spacing %v, want %v", name, out.Spacing, sp)
	}
	lo, hi := centreBox(g, pos)
	for a := 0; a < 3; a++ {
		f := out.Origin[a] / sp[a]
		if math.Abs(f-math.Round(f)) > 1e-9 {
			t.Errorf("%s: origin %v is not a multiple of the spacing on axis %d", name, out.Origin, a)
		}
		first, last := out.Origin[a], out.Origin[a]+float64(out.Dims[a]-1)*sp[a]
		if first > lo[a]+1e-3*sp[a] || last < hi[a]-1e-3*sp[a] {
			t.Errorf("%s: axis %d covers %.4f…%.4f mm, source centres span %.4f…%.4f", name, a, first, last, lo[a], hi[a])
		}
		if first+sp[a] <= lo[a]-1e-3*sp[a] || last-sp[a] >= hi[a]+1e-3*sp[a] {
			t.Errorf("%s: axis %d %.4f…%.4f mm has a spare voxel for %.4f…%.4f", name, a, first, last, lo[a], hi[a])
		}
	}
}

func TestGridRules(t *testing.T) {
	g := volume.Grid{Dims: [3]int{10, 12, 5}, Spacing: volume.Vec3{0.7, 0.7, 2.5}, Origin: volume.Vec3{-100.25, 50.5, -300}, Direction: volume.Identity}
	out, err := OutputGrid(g, nil, volume.Vec3{1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	// x −100.25…−93.95 → −101…−93; y 50.5…58.2 → 50…59; z −300…−290.
	if out.Origin != (volume.Vec3{-101, 50, -300}) || out.Dims != [3]int{9, 10, 11} {
		t.Errorf("origin %v dims %v, want [-101 50 -300] [9 10 11]", out.Origin, out.Dims)
	}
	pos := make([]volume.Vec3, 5)
	for k := range pos {
		pos[k] = g.IndexToWorld(volume.Vec3{0, 0, float64(k)})
	}
	checkGridRule(t, "axial", out, g, pos, volume.Vec3{1, 1, 1})
	// Extents that are exact multiples of the spacing despite rounding.
	g2 := volume.Grid{Dims: [3]int{11, 11, 11}, Spacing: volume.Vec3{0.1, 0.3, 0.7}, Direction: volume.Identity}
	out2, err := OutputGrid(g2, nil, volume.Vec3{0.5, 1, 1.4})
	if err != nil {
		t.Fatal(err)
	}
	if want := [3]int{3, 4, 6}; out2.Dims != want || out2.Origin != (volume.Vec3{}) {
		t.Errorf("dims %v origin %v, want %v at 0 (extents 1, 3, 7 mm)", out2.Dims, out2.Origin, want)
	}
	// Positions a float32 rounding away from a multiple snap to it.
	g3 := g
	g3.Origin = volume.Vec3{float64(float32(-198.1)), -171.70000457763672, -340.00001}
	out3, err := OutputGrid(g3, nil, volume.Vec3{1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if out3.Origin != (volume.Vec3{-199, -172, -340}) {
		t.Errorf("rounded positions: origin %v, want [-199 -172 -340]", out3.Origin)
	}
	// Uneven, sheared and oblique stacks: the bounding box of all centres.
	ga, posA := unevenAxial()
	outA, err := OutputGrid(ga, posA, volume.Vec3{1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	checkGridRule(t, "uneven", outA, ga, posA, volume.Vec3{1, 1, 1})
	gt, posT := tilted(18.5)
	outT, err := OutputGrid(gt, posT, volume.Vec3{0.8, 1, 1.1})
	if err != nil {
		t.Fatal(err)
	}
	checkGridRule(t, "sheared", outT, gt, posT, volume.Vec3{0.8, 1, 1.1})
	go_, posO := oblique()
	outO, err := OutputGrid(go_, posO, volume.Vec3{1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	checkGridRule(t, "oblique", outO, go_, posO, volume.Vec3{1, 1, 1})
}

// oblique is a stack rotated 30° about z and 20° about x, slices along
// its normal.
func oblique() (volume.Grid, []volume.Vec3) {
	a, b := 30*math.Pi/180, 20*math.Pi/180
	u := volume.Vec3{math.Cos(a), math.Sin(a), 0}
	v0 := volume.Vec3{-math.Sin(a), math.Cos(a), 0}
	v := add(scale(v0, math.Cos(b)), scale(volume.Vec3{0, 0, 1}, math.Sin(b)))
	n, _ := unit(cross(u, v))
	pos := make([]volume.Vec3, 7)
	for k := range pos {
		pos[k] = add(volume.Vec3{-12.3, 4.1, 20.7}, scale(n, 1.7*float64(k)))
	}
	return stack(26, 22, 0.8, 0.9, u, v, pos), pos
}

func TestLinearOblique(t *testing.T) {
	g, pos := oblique()
	srcF := fillFloat(g, pos, lin.at)
	outF, err := StackFloat32(srcF, pos, volume.Vec3{0.7, 0.8, 0.9}, -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLinear(t, "float32 oblique", outF, g, pos, lin, 2e-3)
	src := fillInt16(g, pos, lin.at)
	out, err := Stack(src, pos, volume.Vec3{1, 1, 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLinear(t, "int16 oblique", out, g, pos, lin, 1.0+1e-4)
}

// reorder returns the same voxels stored in another order: axes permuted
// by perm (new axis a is old axis perm[a]) and flipped where flip[a]; the
// grid is adjusted so every voxel keeps its world position, as a NIfTI
// writer with another voxel order would store the scan.
func reorder(v *volume.Volume[float32], perm [3]int, flip [3]bool) *volume.Volume[float32] {
	g := v.Grid
	var ng volume.Grid
	for a := 0; a < 3; a++ {
		ng.Dims[a] = g.Dims[perm[a]]
		ng.Spacing[a] = g.Spacing[perm[a]]
		for r := 0; r < 3; r++ {
			ng.Direction[r][a] = g.Direction[r][perm[a]]
			if flip[a] {
				ng.Direction[r][a] = -ng.Direction[r][a]
			}
		}
	}
	var corner volume.Vec3
	for a := 0; a < 3; a++ {
		if flip[a] {
			corner[perm[a]] = float64(g.Dims[perm[a]] - 1)
		}
	}
	ng.Origin = g.IndexToWorld(corner)
	out := volume.New[float32](ng)
	for k := 0; k < ng.Dims[2]; k++ {
		for j := 0; j < ng.Dims[1]; j++ {
			for i := 0; i < ng.Dims[0]; i++ {
				idx := [3]int{i, j, k}
				var old [3]int
				for a := 0; a < 3; a++ {
					x := idx[a]
					if flip[a] {
						x = ng.Dims[a] - 1 - x
					}
					old[perm[a]] = x
				}
				out.Set(i, j, k, v.At(old[0], old[1], old[2]))
			}
		}
	}
	return out
}

// TestVoxelOrderInvariance: one scan stored in any voxel order (flipped
// axes as in dcm2niix's NIfTI, slices stored coronally or sagittally)
// resamples onto the same grid with the same values.
func TestVoxelOrderInvariance(t *testing.T) {
	g := volume.Grid{Dims: [3]int{23, 19, 11}, Spacing: volume.Vec3{0.703125, 0.703125, 2.5}, Origin: volume.Vec3{-8.1, 11.7, -40}, Direction: volume.Identity}
	src := volume.New[float32](g)
	for k := 0; k < g.Dims[2]; k++ {
		for j := 0; j < g.Dims[1]; j++ {
			for i := 0; i < g.Dims[0]; i++ {
				q := g.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
				src.Set(i, j, k, float32(math.Sin(q[0]/3)*100+math.Cos(q[1]/4)*50+q[2]))
			}
		}
	}
	sp := volume.Vec3{1, 1, 1}
	ref, err := StackFloat32(src, nil, sp, -1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		perm [3]int
		flip [3]bool
	}{
		{[3]int{0, 1, 2}, [3]bool{true, true, false}},  // dcm2niix-style x and y flips
		{[3]int{0, 1, 2}, [3]bool{false, false, true}}, // slices descending
		{[3]int{1, 0, 2}, [3]bool{false, true, false}}, // transposed plane
		{[3]int{0, 2, 1}, [3]bool{false, true, false}}, // stored coronally
		{[3]int{2, 1, 0}, [3]bool{true, false, true}},  // stored sagittally
	} {
		re := reorder(src, c.perm, c.flip)
		out, err := StackFloat32(re, nil, sp, -1000, nil)
		if err != nil {
			t.Fatal(err)
		}
		if out.Grid.Dims != ref.Grid.Dims || out.Grid.Origin != ref.Grid.Origin || out.Direction != volume.Identity {
			t.Fatalf("%+v: grid %v %v, want %v %v", c, out.Dims, out.Origin, ref.Dims, ref.Origin)
		}
		var worst float64
		for i := range ref.Data {
			worst = math.Max(worst, math.Abs(float64(out.Data[i]-ref.Data[i])))
		}
		if worst > 1e-3 {
			t.Errorf("%+v: values differ by up to %g", c, worst)
		} else {
			t.Logf("%+v: same grid, max |Δ| %.2g", c, worst)
		}
	}
}
