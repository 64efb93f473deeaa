package segment

import (
	"testing"

	"github.com/lungctl/lungctl/internal/volume"
)

// TestRemoveDomes draws the top of a diaphragm's dome (soft tissue rising
// from below the lung into a lung mask that took it in, as per-slice hole
// filling does), a 16 mm nodule resting on the dome's apex and a free
// nodule. Step 7 must take the dome out of the mask and leave both
// nodules in it, also when the mass step (6) has left its marks on the
// dome's voxels.
func TestRemoveDomes(t *testing.T) {
	const n, nz, base = 120, 80, 10  // the mask starts at slice base
	dome := func(i, j int) float64 { // the dome's top slice over column (i, j)
		x, y := float64(i-60), float64(j-60)
		return 40 - (x*x+y*y)/120
	}
	onNodule := volume.Vec3{60, 60, 47}
	free := volume.Vec3{25, 95, 60}
	hu, mask, s := domeScene(n, nz, base, func(x volume.Vec3) bool {
		return x[2] <= dome(int(x[0]), int(x[1])) || dist(x, onNodule) <= 8 || dist(x, free) <= 5
	}, func(i, j, k int) bool { return float64(k) <= dome(i, j) }) // what the mass step leaves behind
	removed := s.removeDomes(hu, mask)
	var domeIn, domeAll int
	for k := base; k < nz; k++ {
		for j := 0; j < n; j++ {
			for i := 0; i < n; i++ {
				x := volume.Vec3{float64(i), float64(j), float64(k)}
				if float64(k) <= dome(i, j) && dist(x, onNodule) > 12 {
					domeAll++
					if mask.At(i, j, k) != 0 {
						domeIn++
					}
				}
			}
		}
	}
	if domeAll == 0 || float64(domeIn) > 0.02*float64(domeAll) {
		t.Errorf("dome: %d of %d voxels left in the mask (removed %d)", domeIn, domeAll, removed)
	}
	for name, c := range map[string]volume.Vec3{"nodule on the dome": {60, 60, 50}, "free nodule": free} {
		in, all := 0, 0
		for dk := -3; dk <= 3; dk++ {
			for dj := -3; dj <= 3; dj++ {
				for di := -3; di <= 3; di++ {
					all++
					if mask.At(int(c[0])+di, int(c[1])+dj, int(c[2])+dk) != 0 {
						in++
					}
				}
			}
		}
		if in != all {
			t.Errorf("%s: %d of %d voxels at its centre left the mask", name, all-in, all)
		}
	}
	for p, c := range s.cls {
		if c == cDome {
			t.Fatalf("voxel %d still marked cDome", p)
		}
	}
}

// TestRemoveDomeTouchedByVessels: the same dome, wider, now touched by a
// tree of 6 mm vessels that criss-cross the lung above it: one piece of
// dense mask voxels whose bottom faces lie mostly over lung, so that the
// dome test fails on the piece as a whole. Its thick part is the dome
// (splitDome): the dome goes, the vessels and the nodule resting on the
// dome's apex stay.
func TestRemoveDomeTouchedByVessels(t *testing.T) {
	// The scene fills 120 × 120 voxels of a wider volume: a dome and its
	// vessels take a fraction of a scan (splitDome's domeSplitMaxShare).
	const n, nz, base = 256, 80, 10
	dome := func(i, j int) float64 {
		x, y := float64(i-60), float64(j-60)
		return 40 - (x*x+y*y)/90
	}
	onNodule := volume.Vec3{60, 60, 47}
	var tubes [][2]volume.Vec3
	for _, z := range []float64{55, 68} {
		for _, y := range []float64{20, 40, 80, 100} {
			tubes = append(tubes, [2]volume.Vec3{{5, y, z}, {115, y, z}})
		}
		for _, x := range []float64{30, 90} {
			tubes = append(tubes, [2]volume.Vec3{{x, 5, z}, {x, 115, z}})
		}
	}
	// Down onto the dome's flanks, and between the two layers.
	tubes = append(tubes, [2]volume.Vec3{{30, 40, 55}, {38, 45, 25}}, [2]volume.Vec3{{90, 80, 55}, {82, 75, 25}},
		[2]volume.Vec3{{30, 20, 55}, {30, 20, 68}}, [2]volume.Vec3{{90, 100, 55}, {90, 100, 68}})
	vessel := func(x volume.Vec3) bool {
		if x[0] > 120 || x[1] > 120 {
			return false
		}
		for _, tb := range tubes {
			if segDist(x, tb[0], tb[1]) <= 3 {
				return true
			}
		}
		return false
	}
	hu, mask, s := domeScene(n, nz, base, func(x volume.Vec3) bool {
		return x[2] <= dome(int(x[0]), int(x[1])) || dist(x, onNodule) <= 8 || int(x[2]) >= base && vessel(x)
	}, nil)
	removed := s.removeDomes(hu, mask)
	// The dome's rim, where it is thinner than the opening's diameter,
	// is no thick part and stays: a ring of a few mm at the lung's base.
	thin := func(i, j int) bool { return dome(i, j)-base < 2*domeThinMM+2 }
	var domeIn, domeAll, rimIn, vesIn, vesAll int
	for k := base; k < nz; k++ {
		for j := 0; j < n; j++ {
			for i := 0; i < n; i++ {
				x := volume.Vec3{float64(i), float64(j), float64(k)}
				switch {
				case float64(k) <= dome(i, j) && dist(x, onNodule) > 12 && !vessel(x):
					domeAll++
					if mask.At(i, j, k) != 0 {
						if thin(i, j) {
							rimIn++
						} else {
							domeIn++
						}
					}
				case k >= 50 && vessel(x):
					vesAll++
					if mask.At(i, j, k) != 0 {
						vesIn++
					}
				}
			}
		}
	}
	t.Logf("removed %d voxels; dome left %d of %d, and %d of its thin rim; vessels kept %d of %d", removed, domeIn, domeAll, rimIn, vesIn, vesAll)
	if domeAll == 0 || float64(domeIn) > 0.01*float64(domeAll) || float64(rimIn) > 0.1*float64(domeAll) {
		t.Errorf("dome: %d of %d voxels left in the mask, and %d of its thin rim", domeIn, domeAll, rimIn)
	}
	if vesIn != vesAll {
		t.Errorf("vessels above the dome: %d of %d voxels left the mask", vesAll-vesIn, vesAll)
	}
	if mask.At(60, 60, 50) == 0 {
		t.Error("the nodule resting on the dome left the mask")
	}
}

// domeScene renders an n × n × nz scene on a 1 mm grid: soft tissue
// (40 HU) where dense says (x: voxel coordinates) and lung (−850 HU)
// elsewhere; slices from base up are the lung mask, and below it all is
// body. Mask voxels that mark says (nil: none) carry the mass step's
// mark (cSeen) in the returned Segmenter.
func domeScene(n, nz, base int, dense func(x volume.Vec3) bool, mark func(i, j, k int) bool) (*volume.Volume[int16], *volume.Volume[uint8], *Segmenter) {
	g := volume.Grid{Dims: [3]int{n, n, nz}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	hu := volume.New[int16](g)
	mask := volume.New[uint8](g)
	s := &Segmenter{cls: make([]uint8, hu.Len())}
	for k := 0; k < nz; k++ {
		for j := 0; j < n; j++ {
			for i := 0; i < n; i++ {
				p := hu.Index(i, j, k)
				hu.Data[p] = -850
				if k < base || dense(volume.Vec3{float64(i), float64(j), float64(k)}) {
					hu.Data[p] = 40
				}
				if k >= base {
					mask.Data[p] = 1
					if mark != nil && mark(i, j, k) {
						s.cls[p] = cSeen
					}
				}
			}
		}
	}
	return hu, mask, s
}
