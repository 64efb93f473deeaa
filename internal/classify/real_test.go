package classify

import (
	"os"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/dicomio"
	"github.com/lungctl/lungctl/internal/shareddata"
)

// TestScoreRealLIDCNodule loads the real LIDC-IDRI-0001 CT (0.70 × 0.70 ×
// 2.5 mm, not resampled: Score samples the 1 mm patch itself) and scores the
// LUNA16 nodule (23 mm, juxtapleural, readers' malignancy 5/5/5/4) against 24
// points on a grid through the same slab (lung, chest wall, mediastinum,
// bone). The phantom-trained default model must rank the nodule first with
// p ≥ 0.9 and every other point below 0.5 — which also fails if the world →
// voxel mapping or the patch axes were wrong.
func TestScoreRealLIDCNodule(t *testing.T) {
	dir := shareddata.Path("lidc-idri-0001", "LIDC-IDRI-0001")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared data not found: %v", err)
	}
	if testing.Short() {
		t.Skip("loads a 133-slice CT")
	}
	s, err := dicomio.Load(dir, dicomio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	cs := []candidate.Candidate{{World: [3]float64{56.20840547, 86.34341278, -115.8675792}}}
	for _, x := range []float64{-120, -90, -60, 60, 90, 110} {
		for _, y := range []float64{-60, -20, 20, 60} {
			cs = append(cs, candidate.Candidate{World: [3]float64{x, y, -115}})
		}
	}
	ps, err := Score(s.HU, cs, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("nodule p = %.4f", ps[0])
	if ps[0] < 0.9 {
		t.Errorf("LIDC-IDRI-0001 nodule scored %.4f, want ≥ 0.9", ps[0])
	}
	for i, p := range ps[1:] {
		if p >= 0.5 {
			t.Errorf("non-nodule point %v scored %.4f, want < 0.5", cs[i+1].World, p)
		}
	}
}
