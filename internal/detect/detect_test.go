package detect

import (
	"errors"
	"github.com/lungctl/lungctl/internal/candidate"
	"math"
	"math/rand"
	"testing"

	"github.com/lungctl/lungctl/internal/cluster"
	"github.com/lungctl/lungctl/internal/volume"
)

// synthLung builds a 1 mm 120×100×90 volume: lung parenchyma (−850 HU with
// 15 HU noise) inside an ellipsoid-free box mask, a soft-tissue wall (+40 HU)
// on the x = 0 side outside the mask, vessels (bright cylinders, +40 HU,
// radius 1.5–2 mm) and solid nodules (+30 HU balls) at known LPS centres.
func synthLung(t testing.TB) (*volume.Volume[int16], *volume.Volume[uint8], [][3]float64, []float64) {
	g := volume.Grid{Dims: [3]int{120, 100, 90}, Spacing: volume.Vec3{1, 1, 1},
		Origin: volume.Vec3{-60, -50, -200}, Direction: volume.Identity}
	hu := volume.New[int16](g)
	m := volume.New[uint8](g)
	nod := [][3]float64{{-20, -10, -170}, {25, 20, -150}, {10, -25, -130}, {-35, 15, -140}}
	diam := []float64{10, 6, 14, 8}
	type cyl struct {
		a, d [3]float64
		r    float64
	}
	vessels := []cyl{
		{[3]float64{0, 0, -200}, [3]float64{0, 0, 1}, 2},
		{[3]float64{-60, 30, -160}, [3]float64{1, 0, 0}, 1.5},
		{[3]float64{0, -50, -180}, [3]float64{0.6, 0.8, 0}, 1.5},
	}
	rng := rand.New(rand.NewSource(1))
	for k := 0; k < g.Dims[2]; k++ {
		for j := 0; j < g.Dims[1]; j++ {
			for i := 0; i < g.Dims[0]; i++ {
				w := g.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
				v := -850.0
				frac := 0.0
				if i < 6 { // chest wall, outside the mask
					frac = 1
				}
				for _, c := range vessels {
					var p [3]float64
					for a := 0; a < 3; a++ {
						p[a] = w[a] - c.a[a]
					}
					dot := p[0]*c.d[0] + p[1]*c.d[1] + p[2]*c.d[2]
					rho := math.Sqrt(math.Max(0, p[0]*p[0]+p[1]*p[1]+p[2]*p[2]-dot*dot))
					frac = math.Max(frac, math.Min(1, math.Max(0, c.r-rho+0.5)))
				}
				for n, c := range nod {
					d := dist3(c, [3]float64(w))
					frac = math.Max(frac, math.Min(1, math.Max(0, diam[n]/2-d+0.5)))
				}
				v += frac*(880+10*rng.NormFloat64()) + 15*rng.NormFloat64()
				hu.Set(i, j, k, int16(math.Round(v)))
				if i >= 6 && j >= 2 && j < 98 && k >= 2 && k < 88 {
					m.Set(i, j, k, 1)
				}
			}
		}
	}
	return hu, m, nod, diam
}

func TestSyntheticNodulesFound(t *testing.T) {
	hu, m, nod, diam := synthLung(t)
	res, err := Run(hu, m, Options{SeriesUID: "synth"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d points, %d clusters, %d candidates", len(res.Points)/5, res.Clusters, len(res.Candidates))
	for i, c := range res.Candidates {
		t.Logf("%d: score %.3f at (%.1f %.1f %.1f) diam %.1f n %d HU %.0f SI %.2f fill %.2f", i, c.DetectScore,
			c.World[0], c.World[1], c.World[2], c.DiameterMM, c.Voxels, c.MeanHU, c.MeanSI, c.Compactness)
	}
	// Every nodule is hit (centre within its radius, at least 2 mm) by one of
	// the top len(nod) candidates; vessels and the wall are not ranked above.
	for n, c := range nod {
		best := math.Inf(1)
		rank := -1
		for r, cand := range res.Candidates {
			if d := dist3(c, cand.World); d < best {
				best, rank = d, r
			}
		}
		if best > math.Max(diam[n]/2, 2) || rank >= len(nod) {
			t.Errorf("nodule %d (%.0f mm at %v): nearest candidate %.1f mm away at rank %d", n, diam[n], c, best, rank)
			continue
		}
		// The candidate carries the measured distance to the mask's edge
		// (the wall's voxels at x ≤ −55 mm, the box's outer voxels at
		// y ≤ −49, y ≥ 48, z ≤ −199, z ≥ −112 mm), from the nodule's surface,
		// up to nodule.PleuraReachMM (15 mm).
		face := math.Min(math.Min(c[0]+55, math.Min(c[1]+49, 48-c[1])), math.Min(c[2]+199, -112-c[2]))
		want := math.Min(face-diam[n]/2-0.5, 15)
		if cand := res.Candidates[rank]; cand.Type == "" || math.Abs(cand.PleuraDistanceMM-want) > 1.5 {
			t.Errorf("nodule %d: type %q, pleura distance %.1f mm, want %.1f", n, cand.Type, cand.PleuraDistanceMM, want)
		}
	}
	for _, c := range res.Candidates {
		if c.SeriesUID != "synth" || !math.IsNaN(c.Malignancy) || c.Probability != c.DetectScore ||
			c.DetectScore < 0 || c.DetectScore > 1 {
			t.Errorf("bad candidate fields %+v", c)
		}
	}
	if len(res.Points) != 5*len(res.Labels) {
		t.Errorf("%d point values but %d labels", len(res.Points), len(res.Labels))
	}
	// The grid backend and brute force give the same candidates here.
	if testing.Short() {
		return
	}
	bf, err := Run(hu, m, Options{Cluster: cluster.Options{Backend: cluster.BruteForce{}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(bf.Candidates) != len(res.Candidates) {
		t.Fatalf("brute force: %d candidates vs %d", len(bf.Candidates), len(res.Candidates))
	}
	for i := range bf.Candidates {
		if d := dist3(bf.Candidates[i].World, res.Candidates[i].World); d > 0.5 {
			t.Errorf("candidate %d: brute force %v vs grid %v", i, bf.Candidates[i].World, res.Candidates[i].World)
		}
	}
}

func TestRunErrorsAndEmpty(t *testing.T) {
	g := volume.Grid{Dims: [3]int{10, 10, 10}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	hu := volume.New[int16](g)
	m := volume.New[uint8](g)
	if _, err := Run(nil, m, Options{}); !errors.Is(err, ErrInput) {
		t.Errorf("nil volume: %v", err)
	}
	g2 := g
	g2.Dims[0] = 11
	if _, err := Run(hu, volume.New[uint8](g2), Options{}); !errors.Is(err, ErrInput) {
		t.Errorf("grid mismatch: %v", err)
	}
	res, err := Run(hu, m, Options{})
	if err != nil || len(res.Candidates) != 0 {
		t.Errorf("empty mask: %v %v", res, err)
	}
}

// TestScore pins the first-stage score's documented shape: recall over
// precision (the second stage decides), so ground glass keeps full density
// credit and only parenchyma-level or tube-like clusters fall to 0.
func TestScore(t *testing.T) {
	base := Defaults
	c := func(si, d, hu, fill float64) float64 {
		return Score(candidateOf(si, d, hu, fill), base.MinDiameterMM, base.MaxDiameterMM)
	}
	if s := c(1, 12, 0, 1); math.Abs(s-1) > 1e-12 {
		t.Errorf("ideal nodule score %g want 1", s)
	}
	if s := c(0.75, 12, 0, 1); s != 0 {
		t.Errorf("tube score %g want 0", s)
	}
	if s := c(0.95, 2, 0, 1); s != 0 {
		t.Errorf("2 mm score %g want 0", s)
	}
	if a, b := c(0.95, 3.5, 0, 1), c(0.95, 10, 0, 1); !(a < b) || math.Abs(a/b-2.0/3) > 1e-9 {
		t.Errorf("3.5 mm (%g) should score 2/3 of 10 mm (%g)", a, b)
	}
	if s := c(0.82, 10, 0, 1); s != 0 || c(0.82, 20, 0, 1) <= 0 {
		t.Errorf("SI 0.82: 10 mm score %g want 0, 20 mm (flattened surface allowed) must score > 0", s)
	}
	if a, b := c(0.95, 10, 0, 0.25), c(0.95, 10, 0, 1); math.Abs(a/b-0.5) > 1e-9 {
		t.Errorf("fill 0.25 should halve the score: %g vs %g", a, b)
	}
	if s := c(0.95, 12, -830, 1); s != 0 {
		t.Errorf("parenchyma-like −830 HU score %g want 0", s)
	}
	if a, b := c(0.95, 12, -650, 1), c(0.95, 12, 0, 1); a != b {
		t.Errorf("ground glass (−650 HU) %g should keep full density credit (%g)", a, b)
	}
	if s := c(0.95, 60, 0, 1); s != c(0.95, 12, 0, 1) {
		t.Errorf("a 60 mm mass scores %g, a 12 mm nodule %g: no size penalty below MaxDiameterMM", s, c(0.95, 12, 0, 1))
	}
}

// TestFinalScore checks the second stage's logistic model against
// scikit-learn's predict_proba for the fitted model, as
// scripts/fit-final-score.py prints it (full-precision coefficients; the Go
// table keeps five digits) and its directions: a
// rounder, more blob-like, larger, stronger candidate scores higher.
func TestFinalScore(t *testing.T) {
	for _, c := range []struct {
		f    Features
		want float64
	}{
		{Features{Stage1: 0.8, MeanSI: 0.92, ClusterDiamMM: 8, Segmented: true, Sphericity: 0.9, BlobRatio: 0.7, MeanDiamMM: 8}, 0.7588108879},
		{Features{Stage1: 0.3, MeanSI: 0.85, ClusterDiamMM: 5, Segmented: true, Sphericity: 0.5, BlobRatio: 0.3, MeanDiamMM: 6, WallContact: 0.3}, 1.33258795e-05},
		// Unsegmented: sphericity, blob ratio and wall contact 0, a 0.5 mm
		// mean diameter.
		{Features{Stage1: 0.5, MeanSI: 0.9, ClusterDiamMM: 6, Sphericity: 0.99, BlobRatio: 0.99, MeanDiamMM: 9, WallContact: 0.5}, 1.029812506e-08},
	} {
		if s := FinalScore(c.f); math.Abs(s-c.want) > 2e-4*c.want {
			t.Errorf("FinalScore(%+v) = %.10f, scikit-learn %.10f", c.f, s, c.want)
		}
	}
	base := Features{Stage1: 0.6, MeanSI: 0.9, ClusterDiamMM: 7, Segmented: true, Sphericity: 0.7, BlobRatio: 0.5, MeanDiamMM: 7}
	s0 := FinalScore(base)
	for name, up := range map[string]func(*Features){
		"stage 1":          func(f *Features) { f.Stage1 = 0.9 },
		"wall contact":     func(f *Features) { f.WallContact = 0.4 },
		"sphericity":       func(f *Features) { f.Sphericity = 0.95 },
		"blob ratio":       func(f *Features) { f.BlobRatio = 0.9 },
		"cluster diameter": func(f *Features) { f.ClusterDiamMM = 14 },
	} {
		f := base
		up(&f)
		if s := FinalScore(f); !(s > s0) {
			t.Errorf("raising %s: %g, not above %g", name, s, s0)
		}
	}
	if s := FinalScore(Features{}); s < 0 || s > 1e-6 {
		t.Errorf("nothing at all scores %g", s)
	}
}

func candidateOf(si, d, hu, fill float64) (c candidate.Candidate) {
	c.MeanSI, c.DiameterMM, c.MeanHU, c.Compactness = si, d, hu, fill
	return c
}

// TestMaskBox: the parallel bounding box, read from each row's ends, is
// the brute-force one on random masks of a few row runs, and an empty
// mask has none.
func TestMaskBox(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	g := volume.Grid{Dims: [3]int{41, 23, 70}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	for trial := 0; trial < 30; trial++ {
		m := volume.New[uint8](g)
		n := r.Intn(6)
		wantLo, wantHi := [3]int{g.Dims[0], g.Dims[1], g.Dims[2]}, [3]int{-1, -1, -1}
		for q := 0; q < n; q++ {
			// A run along the row from c, of 1 to 10 voxels.
			c := [3]int{r.Intn(g.Dims[0]), r.Intn(g.Dims[1]), r.Intn(g.Dims[2])}
			end := min(c[0]+r.Intn(10), g.Dims[0]-1)
			for i := c[0]; i <= end; i++ {
				m.Set(i, c[1], c[2], uint8(1+r.Intn(2)))
			}
			for a := range c {
				wantLo[a], wantHi[a] = min(wantLo[a], c[a]), max(wantHi[a], c[a])
			}
			wantHi[0] = max(wantHi[0], end)
		}
		lo, hi, any := maskBox(m)
		if any != (n > 0) || n > 0 && (lo != wantLo || hi != wantHi) {
			t.Fatalf("trial %d (%d voxels): box %v…%v (any %v), want %v…%v", trial, n, lo, hi, any, wantLo, wantHi)
		}
	}
}
