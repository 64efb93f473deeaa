package nodule

import (
	"math"
	"testing"
)

// TestMirroredBlobRatio: a dome on the chest wall (the lung-side half of a
// 7 mm ball centred on the pleura) is a disc to the plain blob ratio and
// a ball in the pleura's mirror (0.39 without it); a ball that only
// touches the wall keeps its own ratio.
func TestMirroredBlobRatio(t *testing.T) {
	dome := segmentScene(t, scene{n: 40, wallX: 6, density: ball(6, 0, 0, 3.5, 900)}, [3]float64{4.5, 0, 0}, 7)
	t.Logf("dome: blob ratio %.2f, wall contact %.2f", dome.BlobRatio, dome.WallContact)
	if dome.WallContact < mirrorMinContact || dome.BlobRatio < 0.6 {
		t.Errorf("dome on the wall: blob ratio %.2f (wall contact %.2f), want ≥ 0.6", dome.BlobRatio, dome.WallContact)
	}
	touch := segmentScene(t, scene{n: 50, wallX: 10, density: ball(4.5, 0, 0, 5.5, 900)}, [3]float64{4, 0, 0}, 11)
	t.Logf("ball touching the wall: blob ratio %.2f, wall contact %.2f", touch.BlobRatio, touch.WallContact)
	if touch.BlobRatio < 0.8 || math.IsNaN(touch.BlobRatio) {
		t.Errorf("ball touching the wall: blob ratio %.2f, want ≥ 0.8", touch.BlobRatio)
	}
}
