package pipeline

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/volume"
)

// TestCheckInside: centres within half a voxel of the volume pass; one
// beyond it, or not finite, is refused naming its place and the extent.
func TestCheckInside(t *testing.T) {
	g := volume.Grid{Dims: [3]int{10, 20, 30}, Spacing: volume.Vec3{1, 1, 2}, Origin: volume.Vec3{-5, 100, -300}, Direction: volume.Identity}
	p := &Preprocessed{ID: "scan", HU: volume.New[int16](g)}
	in := []candidate.Candidate{{World: [3]float64{-5.4, 100, -300}}, {World: [3]float64{4.4, 119.4, -242.1}}}
	if err := CheckInside(p, in); err != nil {
		t.Fatalf("inside: %v", err)
	}
	for _, w := range [][3]float64{{5000, 5000, 5000}, {-5.6, 110, -280}, {0, 110, -240}, {math.NaN(), 110, -280}, {1e308, 110, -280}} {
		cs := append(append([]candidate.Candidate(nil), in...), candidate.Candidate{World: w})
		err := CheckInside(p, cs)
		if !errors.Is(err, ErrOffScan) || !strings.Contains(err.Error(), "candidate 3 of scan scan") || !strings.Contains(err.Error(), "z -301.0…-241.0 mm") {
			t.Errorf("%v: %v", w, err)
		}
	}
}
