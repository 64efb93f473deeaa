package lidc

import (
	"math"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/volume"
)

// testGeom: 512×512 pixels of 0.5 mm, three uneven slices at z −150,
// −125, −123 mm (Positions given; the Grid's own z step is 2 mm).
func testGeom() Geometry {
	return Geometry{
		Grid: volume.Grid{
			Dims:      [3]int{512, 512, 3},
			Spacing:   volume.Vec3{0.5, 0.5, 2},
			Origin:    volume.Vec3{-100, -50, -127},
			Direction: volume.Identity,
		},
		Positions: []volume.Vec3{{-100, -50, -150}, {-100, -50, -125}, {-100, -50, -123}},
	}
}

func TestAnalyzeSmallXML(t *testing.T) {
	m, err := Parse(strings.NewReader(smallXML), "small.xml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rule   FillRule
		voxels int
	}{
		// Square 10..20: 9×9 pixels strictly inside; the hole triangle
		// (14,14),(16,14),(16,16) has 6 outline points and none inside.
		{OutlineOutside, 81 - 6},
		// With its outline the square has 11×11 pixels.
		{OutlineInside, 121 - 6},
	} {
		res, err := Analyze(m, testGeom(), Options{Rule: c.rule})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Annotations) != 1 || len(res.Nodules) != 1 || len(res.Small) != 1 || len(res.NonNodules) != 0 {
			t.Fatalf("rule %d: %+v", c.rule, res)
		}
		a := res.Annotations[0]
		if a.Voxels != c.voxels || math.Abs(a.VolumeMM3-float64(c.voxels)*0.5) > 1e-9 {
			t.Errorf("rule %d: %d voxels, %.3f mm³; want %d", c.rule, a.Voxels, a.VolumeMM3, c.voxels)
		}
		if a.Mask.At(15, 15, 1) || !a.Mask.At(12, 12, 1) || a.Mask.At(12, 12, 0) {
			t.Errorf("rule %d: hole or slice wrong", c.rule)
		}
		if a.Mask.At(10, 15, 1) != (c.rule == OutlineInside) {
			t.Errorf("rule %d: outline pixel (10,15) = %v", c.rule, a.Mask.At(10, 15, 1))
		}
		if math.Abs(a.DiameterMM-10*math.Sqrt2*0.5) > 1e-9 {
			t.Errorf("diameter %.4f mm", a.DiameterMM)
		}
		want := volume.Vec3{-100 + 0.5*106.0/7, -50 + 0.5*104.0/7, -125}
		for r := 0; r < 3; r++ {
			if math.Abs(a.Centroid[r]-want[r]) > 1e-9 {
				t.Errorf("centroid %v, want %v", a.Centroid, want)
			}
		}
		if a.ZMin != -125 || a.ZMax != -125 || a.Contours != 2 || a.Mask.Origin != [3]int{10, 10, 1} || a.Mask.Dims != [3]int{11, 11, 1} {
			t.Errorf("z %v..%v, %d contours, box %v+%v", a.ZMin, a.ZMax, a.Contours, a.Mask.Origin, a.Mask.Dims)
		}
		// One reader: the consensus is the reader's mask, cropped.
		nd := res.Nodules[0]
		if nd.Voxels != a.Voxels || nd.NumReaders != 1 || nd.Texture != Solid || nd.Calcified || nd.MedianRatings[Malignancy] != 5 {
			t.Errorf("nodule %+v", nd)
		}
		if s := res.Small[0]; s.Slice != 0 || s.Position != (volume.Vec3{-100 + 0.5*187, -50 + 0.5*166, -150}) || s.ID != "Nodule 002" {
			t.Errorf("small %+v", s)
		}
		// The non-nodule at z −185 lies on no slice.
		if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "_Non-nodule 001") {
			t.Errorf("warnings %q", res.Warnings)
		}
	}
}
