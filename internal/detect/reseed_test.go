package detect

import (
	"math"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/nodule"
	"github.com/lungctl/lungctl/internal/volume"
)

// TestReseed: a cluster whose mean lies on a vessel beside a nodule is
// measured at its strongest blob point instead; a cluster whose blob point
// is its mean is left alone; a part-solid lesion keeps its place against
// its own solid core.
func TestReseed(t *testing.T) {
	hu, m, nod, diam := synthLung(t)
	ws := &Workspace{nws: []*nodule.Workspace{{}}}
	ws.pyr.Sigma = []float64{1.5, 3, 6, 12, 24}
	f := Features{Stage1: 0.5, MeanSI: 0.8, ClusterDiamMM: 8, Level: 1}
	onVessel := [3]float64{25, 30, -160} // the x-axis vessel, 14 mm from the 6 mm nodule
	first, err := nodule.Segment(hu, m, onVessel, 8, nodule.Options{}, ws.nws[0])
	if err != nil {
		t.Fatalf("segment on the vessel: %v", err)
	}
	st := clusterStats{blobAt: nod[1], blobLevel: 0}
	got := ws.reseed(hu, m, 0, f, onVessel, first, st, Options{})
	if got == nil || dist3(got.Centre, nod[1]) > 1 || math.Abs(got.MeanDiameterMM-diam[1]) > 1.5 {
		t.Fatalf("reseeded lesion %+v, want the %.0f mm nodule at %v", got, diam[1], nod[1])
	}
	t.Logf("on the vessel: score %.3f, %.1f mm; at the blob point: score %.3f, %.1f mm sphericity %.2f",
		FinalScore(withLesion(f, onVessel, first)), first.MeanDiameterMM,
		FinalScore(withLesion(f, onVessel, got)), got.MeanDiameterMM, got.Sphericity)
	// Nothing segmented at the mean: the blob point's lesion.
	if got := ws.reseed(hu, m, 0, f, onVessel, nil, st, Options{}); got == nil || dist3(got.Centre, nod[1]) > 1 {
		t.Errorf("no first lesion: got %+v", got)
	}
	// The blob point within 2 mm of the mean: no second segmentation.
	near := clusterStats{blobAt: [3]float64{nod[0][0] + 1, nod[0][1], nod[0][2]}}
	r0, err := nodule.Segment(hu, m, nod[0], diam[0], nodule.Options{}, ws.nws[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := ws.reseed(hu, m, 0, f, nod[0], r0, near, Options{}); got != r0 {
		t.Errorf("blob point 1 mm away: the lesion was replaced")
	}

	// A 16 mm ground-glass ball (−450 HU) with a 6 mm solid core 3 mm
	// off its centre: measured at its centre it is part-solid and encloses
	// the core that its strongest blob point finds.
	g := volume.Grid{Dims: [3]int{48, 48, 48}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	ps, lung := volume.New[int16](g), volume.New[uint8](g)
	centre, core := [3]float64{24, 24, 24}, [3]float64{27, 24, 24}
	for k := 0; k < 48; k++ {
		for j := 0; j < 48; j++ {
			for i := 0; i < 48; i++ {
				p := [3]float64{float64(i), float64(j), float64(k)}
				v := -850.0
				v += 400 * math.Min(1, math.Max(0, 8-dist3(p, centre)+0.5))
				v += 490 * math.Min(1, math.Max(0, 3-dist3(p, core)+0.5))
				ps.Set(i, j, k, int16(v))
				lung.Set(i, j, k, 1)
			}
		}
	}
	outer, err := nodule.Segment(ps, lung, centre, 16, nodule.Options{}, ws.nws[0])
	if err != nil || outer.Type != nodule.PartSolid {
		t.Fatalf("the part-solid ball measured at its centre: %+v, %v", outer, err)
	}
	fp := Features{Stage1: 0.6, MeanSI: 0.9, ClusterDiamMM: 14, Level: 2}
	if s := FinalScore(withLesion(fp, centre, outer)); s < 0.5 {
		t.Fatalf("the part-solid ball scores %.3f, the guard needs 0.5", s)
	}
	got = ws.reseed(ps, lung, 0, fp, centre, outer, clusterStats{blobAt: core}, Options{})
	if got.Type != nodule.PartSolid || !got.Contains(centre) || !got.Contains(core) || got.VolumeMM3 < 0.8*outer.VolumeMM3 {
		t.Errorf("part-solid ball: reported as %s %.1f mm (%.0f mm³) at %v, want the whole lesion (%.0f mm³)",
			got.Type, got.MeanDiameterMM, got.VolumeMM3, got.Centre, outer.VolumeMM3)
	}
	// The choice itself: a core that the part-solid lesion encloses
	// replaces it only when the lesion scores under 0.5.
	coreOnly := &nodule.Result{Type: nodule.Solid, Centre: core, VolumeMM3: 113}
	beside := &nodule.Result{Type: nodule.Solid, Centre: [3]float64{40, 40, 40}, VolumeMM3: 113}
	for _, c := range []struct {
		name   string
		r2     *nodule.Result
		s1, s2 float64
		want   bool
	}{
		{"core scores higher, lesion ≥ 0.5", coreOnly, 0.6, 0.9, true},
		{"core scores higher, lesion < 0.5", coreOnly, 0.3, 0.9, false},
		{"core scores lower", coreOnly, 0.3, 0.2, true},
		{"another body scores higher", beside, 0.6, 0.9, false},
	} {
		if got := keepFirst(outer, c.r2, c.s1, c.s2); got != c.want {
			t.Errorf("keepFirst, %s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestBlobLook: candidates after the Stage1 best are segmented at their
// fine-scale blob point only, and dropped when that is coarse or finds
// nothing.
func TestBlobLook(t *testing.T) {
	hu, m, nod, diam := synthLung(t)
	ws := &Workspace{}
	ws.pyr.Sigma = []float64{1.5, 3, 6, 12, 24}
	mk := func(w [3]float64) candidate.Candidate {
		return candidate.Candidate{World: w, DiameterMM: 10, MeanSI: 0.85, DetectScore: 0.3, Compactness: 0.5}
	}
	onVessel := [3]float64{25, 30, -160}
	cs := []candidate.Candidate{mk(nod[0]), mk(onVessel), mk(onVessel), mk([3]float64{0, -40, -100})}
	st := []clusterStats{
		{blobAt: nod[0], level: 1, blobLevel: 1},
		{blobAt: nod[1], level: 1, blobLevel: 0},         // the 6 mm nodule beside the vessel
		{blobAt: nod[2], level: 3, blobLevel: 3},         // coarse: not looked at
		{blobAt: [3]float64{0, -40, -100}, blobLevel: 0}, // empty lung: nothing to segment
	}
	opt := Options{Stage1: 1, BlobLook: 3}.withDefaults()
	out, meas, _ := ws.refine(hu, m, cs, st, opt)
	if len(out) != 2 {
		for i := range out {
			t.Logf("%d: %+v", i, out[i].World)
		}
		t.Fatalf("%d candidates, want 2 (the first and the blob point's nodule)", len(out))
	}
	found := false
	for i, c := range out {
		if dist3(c.World, nod[1]) < 1 && meas[i] != nil && math.Abs(meas[i].MeanDiameterMM-diam[1]) < 1.5 {
			found = true
		}
		if dist3(c.World, nod[2]) < 3 {
			t.Errorf("the coarse blob point's nodule was looked at")
		}
	}
	if !found {
		t.Errorf("the 6 mm nodule at %v was not measured from the blob point: %+v", nod[1], out)
	}
}

// TestReseedOwn: a pool whose centre and blob point lie on a vessel (the
// vessel clusters it pooled answered more) is measured at its better-ranked
// cluster's own blob point too, on both second-stage paths, and the
// nodule there wins: on the main path (centre and blob point segmented
// first) and on the blob-look path, where only the blob point is, even
// when the pool's centre lies within 2 mm of the nodule.
func TestReseedOwn(t *testing.T) {
	hu, m, nod, diam := synthLung(t)
	ws := &Workspace{}
	ws.pyr.Sigma = []float64{1.5, 3, 6, 12, 24}
	onVessel := [3]float64{25, 30, -160}
	near := [3]float64{nod[1][0] + 1, nod[1][1], nod[1][2]}
	for _, tc := range []struct {
		name   string
		centre [3]float64
		opt    Options
	}{
		{"main path", onVessel, Options{}.withDefaults()},
		{"blob-look path", near, Options{Stage1: 1, BlobLook: 1}.withDefaults()},
	} {
		cs := []candidate.Candidate{
			{World: [3]float64{0, -40, -100}, DiameterMM: 10, MeanSI: 0.85, DetectScore: 0.9, Compactness: 0.5}, // empty lung
			{World: tc.centre, DiameterMM: 20, MeanSI: 0.85, DetectScore: 0.5, Compactness: 0.5},
		}
		st := []clusterStats{
			{blobAt: [3]float64{0, -40, -100}, level: 1, blobLevel: 0},
			{blobAt: onVessel, level: 3, blobLevel: 0, ownAt: nod[1], ownLevel: 1, hasOwn: true},
		}
		out, meas, _ := ws.refine(hu, m, cs, st, tc.opt)
		found := false
		for i, c := range out {
			if dist3(c.World, nod[1]) < 1.5 && meas[i] != nil && math.Abs(meas[i].MeanDiameterMM-diam[1]) < 1.5 {
				found = true
			}
		}
		if !found {
			for i, c := range out {
				if meas[i] != nil {
					t.Logf("%s: %.1f %s %.1f mm", tc.name, c.World, meas[i].Type, meas[i].MeanDiameterMM)
				}
			}
			t.Errorf("%s: the %.0f mm nodule at its own blob point %v was not measured", tc.name, diam[1], nod[1])
		}
	}
}
