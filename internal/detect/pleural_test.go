package detect

import (
	"math"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/nodule"
	"github.com/lungctl/lungctl/internal/phantom"
	"github.com/lungctl/lungctl/internal/volume"
)

// cover is the share of a voxel at distance d (voxels) from a shape's
// axis or centre that a shape of radius r covers: a one-voxel ramp.
func cover(d, r float64) float64 { return math.Min(1, math.Max(0, r-d+0.5)) }

// wallScene is a 1 mm lung (−850 HU, 15 HU noise) whose mask is the half
// x ≥ 20 (voxel index; but for a 2-voxel border), beside a chest wall of
// 40 HU, with on the wall, at voxel indices:
//   - a 6 mm solid ball centred on the wall's face at (20, 15, 15), the
//     half in the lung in the mask (as segment's closing takes it in);
//   - a vessel (2 mm, +880 HU) from the wall at (20, 45, 45) running 25 mm
//     into the lung along x;
//   - a fleck of tissue one voxel thick on the wall, 12 × 12 mm, at x = 20,
//     y 30–41, z 10–21, and a small one, 6 × 6 mm, at y 30–35, z 40–45;
//   - a faint 6 mm ball (+500 HU over the lung, peak −350 HU) on the wall
//     at (20, 15, 45).
func wallScene() (*volume.Volume[int16], *volume.Volume[uint8]) {
	return scene60(15, 7, func(p [3]float64) float64 {
		i, j, k := p[0], p[1], p[2]
		v := -850.0
		if i < 20 {
			v = 40
		}
		v = math.Max(v, -850+890*cover(dist3(p, [3]float64{20, 15, 15}), 3))
		v = math.Max(v, -850+500*cover(dist3(p, [3]float64{20, 15, 45}), 3))
		if i >= 20 && i <= 45 {
			v = math.Max(v, -850+1730*cover(math.Hypot(j-45, k-45), 1))
		}
		if i == 20 && j >= 30 && (j <= 41 && k >= 10 && k <= 21 || j <= 35 && k >= 40 && k <= 45) {
			v = 40
		}
		return v
	}, func(i, _, _ int) bool { return i >= 20 })
}

// TestPleuralBumps: of the wall scene's five pieces of tissue the dense
// ball on the wall and the small fleck are bumps: the vessel and the large
// fleck reach too far from their centroids, and the faint ball stays under
// bumpPeakHU. (The small fleck is flat: TestAddBumps.)
func TestPleuralBumps(t *testing.T) {
	hu, m := wallScene()
	ws := &Workspace{crop: hu}
	bumps := ws.pleuralBumps(m)
	// The half-ball's centroid lies 3/8 of its radius off the wall.
	want := [3]float64(hu.IndexToWorld(volume.Vec3{21.1, 15, 15}))
	fleck := [3]float64(hu.IndexToWorld(volume.Vec3{20, 32.5, 42.5}))
	if len(bumps) != 2 || dist3(bumps[0].World, want) > 1 || dist3(bumps[1].World, fleck) > 1 {
		for _, b := range bumps {
			t.Logf("bump at %.1f: %d voxels, radius %.1f mm, peak %.0f HU", b.World, b.Voxels, b.RadiusMM, b.PeakHU)
		}
		t.Fatalf("%d bumps, want 2, at %.1f and %.1f", len(bumps), want, fleck)
	}
	// Half of a 6 mm ball is 57 mm³ (radius 2.4 mm).
	if b := bumps[0]; b.RadiusMM < 2 || b.RadiusMM > 2.8 || b.PeakHU < 0 {
		t.Errorf("bump: radius %.2f mm, peak %.0f HU", b.RadiusMM, b.PeakHU)
	}
}

// TestAddBumps: the look adds the ball on the wall as a candidate of its
// own, measured, round in the pleura's mirror, scored by the second stage
// with the look's isoScore as its first stage, and
// nothing else of the wall scene (the small fleck, a bump, is flat in the
// mirror too); nothing with --min-diameter over the ball's; a candidate already holding it is raised
// instead of doubled.
func TestAddBumps(t *testing.T) {
	hu, m := wallScene()
	inLung := func(i, j, k int) bool { return m.At(i, j, k) != 0 }
	opt := Defaults
	opt.Nodule = nodule.Options{SourceSpacingMM: [3]float64{0.7, 0.7, 1}}
	ws := &Workspace{crop: hu}
	cs, meas, feats, err := ws.addIsolated(hu, m, inLung, nil, nil, nil, opt)
	if err != nil {
		t.Fatal(err)
	}
	ball := [3]float64(hu.IndexToWorld(volume.Vec3{20, 15, 15}))
	if len(cs) != 1 {
		for _, c := range cs {
			t.Logf("candidate at %.1f, score %.3f", c.World, c.DetectScore)
		}
		t.Fatalf("%d candidates, want 1", len(cs))
	}
	if d := dist3(cs[0].World, ball); d > 2 || meas[0] == nil || feats[0].Stage1 != isoScore(feats[0].Isolated) ||
		cs[0].DetectScore != FinalScore(feats[0]) || cs[0].DetectScore < 0.5 {
		t.Errorf("candidate %.1f mm from the ball, measured %v, score %.3f (second stage %.3f, first stage %.3f, isoScore %.3f)",
			d, meas[0] != nil, cs[0].DetectScore, FinalScore(feats[0]), feats[0].Stage1, isoScore(feats[0].Isolated))
	}
	if b := meas[0].BlobRatio; b < bumpMinBlob {
		t.Errorf("mirrored roundness %.2f", b)
	}
	// A lesion under --min-diameter is no candidate.
	big := opt
	big.MinDiameterMM = meas[0].MeanDiameterMM + 0.5
	if cs, _, _, err := (&Workspace{crop: hu}).addIsolated(hu, m, inLung, nil, nil, nil, big); err != nil || len(cs) != 0 {
		t.Errorf("--min-diameter %.1f: %d candidates (%v), want none", big.MinDiameterMM, len(cs), err)
	}
	// Held by a kept candidate: raised, not added.
	low := cs[0]
	low.DetectScore, low.Probability = 0.1, 0.1
	cs2, _, _, err := ws.addIsolated(hu, m, inLung, []candidate.Candidate{low}, []*nodule.Result{meas[0]}, []Features{feats[0]}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs2) != 1 || cs2[0].DetectScore != cs[0].DetectScore {
		t.Errorf("held bump: %d candidates, score %.3f, want 1 at %.3f", len(cs2), cs2[0].DetectScore, cs[0].DetectScore)
	}
}

// TestPhantomJuxtapleuralBump runs the detector on phantom 317 of the
// 3.5–7 mm set (seeds 301–320, LUNGCTL_PHANTOM_SMALL's kinds): its 5.2 mm
// juxtapleural nodule, on which no cluster formed at any rank, is a bump
// and among the default candidates.
func TestPhantomJuxtapleuralBump(t *testing.T) {
	t.Setenv("LUNGCTL_PHANTOM_SMALL", "round,lobulated,spiculated,juxtapleural,calcified")
	p := preparePhantom(t, 317)
	nd := phantomNodule(t, p, phantom.Juxtapleural, 0, math.Inf(1), "phantom 317 of the small set has no juxtapleural nodule")
	checkLookFinds(t, p, nd)
}
