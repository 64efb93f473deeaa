package eval

import (
	"math"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/lidc"
	"github.com/lungctl/lungctl/internal/volume"
)

// square is the closed outline of [x0,x1]×[y0,y1] through every pixel on
// it, as LIDC draws outlines; with pylidc's fill rule its inside is
// (x0,x1)×(y0,y1).
func square(x0, y0, x1, y1 int) []lidc.Point {
	var c []lidc.Point
	for x := x0; x < x1; x++ {
		c = append(c, lidc.Point{X: x, Y: y0})
	}
	for y := y0; y < y1; y++ {
		c = append(c, lidc.Point{X: x1, Y: y})
	}
	for x := x1; x > x0; x-- {
		c = append(c, lidc.Point{X: x, Y: y1})
	}
	for y := y1; y >= y0; y-- {
		c = append(c, lidc.Point{X: x0, Y: y})
	}
	return c
}

// synthSeries: 64×64 pixels of 0.5 mm, 6 slices 2 mm apart from z −130
// (origin (10, 20, −130), axial), two readers:
//
//	A: square 10–20 px on z −130, −128, −126 by both readers: consensus
//	   9×9×3 = 243 voxels of 0.5 mm³ = 121.5 mm³, centroid (17.5, 27.5,
//	   −128); texture 5 (solid); malignancy 4 and 5 (median 4.5).
//	B: square 40–48 px on z −130, −128 by both: 7×7×2 = 98 voxels = 49
//	   mm³, centroid (32, 42, −129); texture 1 (non-solid); malignancy 1, 2.
//	a nodule < 3 mm at pixel (5, 50) of z −130 and a non-nodule at (55, 5).
func synthSeries(t *testing.T) *LIDCSeries {
	t.Helper()
	g := lidc.Geometry{Grid: volume.Grid{Dims: [3]int{64, 64, 6}, Spacing: volume.Vec3{0.5, 0.5, 2},
		Origin: volume.Vec3{10, 20, -130}, Direction: volume.Identity}}
	roi := func(z float64, p []lidc.Point) lidc.ROI {
		return lidc.ROI{Z: z, HasZ: true, Inclusion: true, Points: p}
	}
	reader := func(id string, malA, malB int) lidc.Session {
		ra := lidc.Ratings{3, 1, 6, 3, 3, 3, 3, 5, malA}
		rb := lidc.Ratings{3, 1, 6, 3, 3, 3, 3, 1, malB}
		s := lidc.Session{ReaderID: id, Nodules: []lidc.ReaderNodule{
			{ID: "A", Ratings: ra, ROIs: []lidc.ROI{roi(-130, square(10, 10, 20, 20)), roi(-128, square(10, 10, 20, 20)), roi(-126, square(10, 10, 20, 20))}},
			{ID: "B", Ratings: rb, ROIs: []lidc.ROI{roi(-130, square(40, 40, 48, 48)), roi(-128, square(40, 40, 48, 48))}},
		}}
		if id == "r1" {
			s.Nodules = append(s.Nodules, lidc.ReaderNodule{ID: "small", ROIs: []lidc.ROI{roi(-130, []lidc.Point{{X: 5, Y: 50}})}})
			s.NonNodules = []lidc.NonNodule{{ID: "non", Z: -130, HasZ: true, Point: lidc.Point{X: 55, Y: 5}, HasPoint: true}}
		}
		return s
	}
	m := &lidc.Message{File: "synth.xml", SeriesUID: "SYN", Sessions: []lidc.Session{reader("r1", 4, 1), reader("r2", 5, 2)}}
	res, err := lidc.Analyze(m, g, lidc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Nodules) != 2 || len(res.Small) != 1 || len(res.NonNodules) != 1 {
		t.Fatalf("synthetic analysis: %d nodules, %d small, %d non-nodules; %q", len(res.Nodules), len(res.Small), len(res.NonNodules), res.Warnings)
	}
	return &LIDCSeries{Dir: "synth", UID: "SYN", XML: "synth.xml", Sessions: 2, Geometry: g, Analysis: res}
}

func measuredCand(s string, w [3]float64, p float64, typ string, l, sh, v, mal, brock, cnn float64) candidate.Candidate {
	nan := math.NaN()
	return candidate.Candidate{SeriesUID: s, World: w, Probability: p, Type: typ, LongAxisMM: l, ShortAxisMM: sh,
		MeanDiameterMM: (l + sh) / 2, VolumeMM3: v, Malignancy: mal, Brock: brock, CNN: cnn, SolidDiameterMM: nan,
		Spiculation: nan, DiameterMM: nan, MeanHU: nan, MeanSI: nan, Compactness: nan, DetectScore: nan}
}

// TestLIDCSynthetic checks every number of the synthetic case against
// values worked out by hand (the Dice by an independent count: analytic
// membership of each consensus voxel centre's nearest label voxel).
func TestLIDCSynthetic(t *testing.T) {
	s := synthSeries(t)
	A, B := s.Analysis.Nodules[1], s.Analysis.Nodules[0] // ordered by z: B (−129) first
	if A.Voxels != 243 || B.Voxels != 98 || math.Abs(A.VolumeMM3-121.5) > 1e-9 || A.Centroid != [3]float64{17.5, 27.5, -128} ||
		B.Centroid != [3]float64{32, 42, -129} {
		t.Fatalf("consensus A %d %v %v, B %d %v", A.Voxels, A.VolumeMM3, A.Centroid, B.Voxels, B.Centroid)
	}
	nan := math.NaN()
	small := s.Analysis.Small[0].Position
	cs := []candidate.Candidate{
		measuredCand("SYN", [3]float64{17.5, 27.5, -127.5}, .9, "solid", 7, 6, 130, .8, .6, .7),  // A, rank 1
		measuredCand("SYN", [3]float64{-50, -50, -50}, .7, "solid", 5, 5, 60, .1, .1, .1),        // FP, rank 2
		measuredCand("SYN", [3]float64{32.5, 42, -129}, .6, "part-solid", 5, 4, 45, .3, .4, .8),  // B, rank 3
		measuredCand("SYN", small, .5, "", nan, nan, nan, nan, nan, nan),                         // on the small nodule: ignored
		measuredCand("OTHER", [3]float64{17.5, 27.5, -128}, .99, "solid", 7, 6, 130, .1, .1, .1), // other series
	}
	// Label map on a 1 mm grid: label 1 = a ball of radius 3 mm about A's
	// centroid; label 3 = the box x 30…34, y 40…44, z −130…−128 (mm).
	lg := volume.Grid{Dims: [3]int{60, 70, 30}, Spacing: volume.Vec3{1, 1, 1}, Origin: volume.Vec3{0, 0, -140}, Direction: volume.Identity}
	labels := volume.New[uint8](lg)
	inBall := func(x, y, z float64) bool {
		return (x-17.5)*(x-17.5)+(y-27.5)*(y-27.5)+(z+128)*(z+128) <= 9
	}
	inBox := func(x, y, z float64) bool { return x >= 30 && x <= 34 && y >= 40 && y <= 44 && z >= -130 && z <= -128 }
	nBall, nBox := 0, 0
	for k := 0; k < 30; k++ {
		for j := 0; j < 70; j++ {
			for i := 0; i < 60; i++ {
				x, y, z := float64(i), float64(j), float64(k)-140
				switch {
				case inBall(x, y, z):
					labels.Set(i, j, k, 1)
					nBall++
				case inBox(x, y, z):
					labels.Set(i, j, k, 3)
					nBox++
				}
			}
		}
	}
	// Independent intersection: consensus voxel centres (pixel 11…19 or
	// 41…47 of the listed slices), nearest 1 mm voxel centre, membership.
	both := func(lo, hi int, zs []float64, in func(x, y, z float64) bool) int {
		n := 0
		for _, z := range zs {
			for j := lo; j <= hi; j++ {
				for i := lo; i <= hi; i++ {
					x, y := math.Floor(10+0.5*float64(i)+0.5), math.Floor(20+0.5*float64(j)+0.5)
					if in(x, y, math.Floor(z+0.5)) {
						n++
					}
				}
			}
		}
		return n
	}
	bothA := both(11, 19, []float64{-130, -128, -126}, inBall)
	bothB := both(41, 47, []float64{-130, -128}, inBox)
	// Our sizes in source voxels (0.5 mm³): twice the 1 mm voxel counts.
	diceA := 2 * float64(bothA) / (2*float64(nBall) + 243)
	diceB := 2 * float64(bothB) / (2*float64(nBox) + 98)

	// Both nodules are rated spiculation 3 by both readers (spiculated at
	// the default median ≥ 3): A's 0.9 agrees, B's 0.2 does not.
	cs[0].Spiculation, cs[2].Spiculation = 0.9, 0.2
	r, err := EvaluateLIDC(s, cs, labels, LIDCOptions{Name: "synth", LabelsFile: "labels.nii.gz"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", r.Summary())
	if r.Candidates != 4 || r.CandidatesOther != 1 || r.Detected != 2 || r.FalsePositives != 1 || r.IgnoredMarks != 1 ||
		r.Small != 1 || r.NonNodules != 1 || r.FROC == nil || r.FROC.Nodules != 2 {
		t.Fatalf("counts: %+v", r)
	}
	b, a := r.Nodules[0], r.Nodules[1]
	if !a.Detected || a.Rank != 1 || a.Candidate != 0 || a.Probability != .9 || math.Abs(a.DistanceMM-0.5) > 1e-12 ||
		!b.Detected || b.Rank != 3 || b.Candidate != 2 || math.Abs(b.DistanceMM-0.5) > 1e-12 {
		t.Errorf("hits: %+v\n%+v", a, b)
	}
	eqA := math.Cbrt(6 * 121.5 / math.Pi)
	readA := 10 * math.Sqrt2 * 0.5 // the square's diagonal, 10 px of 0.5 mm
	checks := []struct {
		name      string
		got, want float64
	}{
		{"A equiv", a.EquivDiameterMM, eqA}, {"A readers", a.ReadersDiameterMM, readA},
		{"A diam err equiv", float64(a.DiameterErrEquivMM), 6.5 - eqA}, {"A rel equiv", float64(a.DiameterRelEquiv), (6.5 - eqA) / eqA},
		{"A diam err readers", float64(a.DiameterErrReadMM), 6.5 - readA}, {"A rel readers", float64(a.DiameterRelRead), (6.5 - readA) / readA},
		{"A volume err", float64(a.VolumeErrMM3), 130 - 121.5}, {"A volume rel", float64(a.VolumeRel), 8.5 / 121.5},
		{"B volume rel", float64(b.VolumeRel), (45 - 49.0) / 49}, {"B median malignancy", float64(b.MedianMalignancy), 1.5},
		{"A Dice", float64(a.Dice), diceA}, {"B Dice", float64(b.Dice), diceB}, {"mean Dice", float64(r.MeanDice), (diceA + diceB) / 2},
		{"A ours", float64(a.DiceOurs), 2 * float64(nBall)},
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if a.DiceBoth != bothA || b.DiceBoth != bothB || bothA == 0 || bothB == 0 {
		t.Errorf("intersections %d %d, want %d %d", a.DiceBoth, b.DiceBoth, bothA, bothB)
	}
	if a.TypeAgrees == nil || !*a.TypeAgrees || b.TypeAgrees == nil || *b.TypeAgrees || a.Texture != "solid" || b.Texture != "non-solid" ||
		r.TypeCompared != 2 || r.TypeAgree != 1 {
		t.Errorf("types: %v %v %s %s", a.TypeAgrees, b.TypeAgrees, a.Texture, b.Texture)
	}
	if float64(a.MedianSpiculation) != 3 || float64(a.HitSpiculation) != 0.9 || a.SpiculationAgrees == nil || !*a.SpiculationAgrees ||
		float64(b.HitSpiculation) != 0.2 || b.SpiculationAgrees == nil || *b.SpiculationAgrees ||
		r.SpiculationCompared != 2 || r.SpiculationAgree != 1 || r.SpiculationAUC.Note != "n/a (one class)" {
		t.Errorf("spiculation: %+v %+v; %d of %d, AUC %+v", a, b, r.SpiculationAgree, r.SpiculationCompared, r.SpiculationAUC)
	}
	// Malignant: A (median 4.5) only. malignancy .8 > .3 → 1; brock .6 >
	// .4 → 1; cnn .7 < .8 → 0.
	want := map[string]float64{"malignancy": 1, "brock": 1, "cnn": 0}
	for _, m := range r.MalignancyAUC {
		if m.Positives != 1 || m.Negatives != 1 || !nearF(m.AUC, want[m.Column]) {
			t.Errorf("AUC %+v, want %v", m, want[m.Column])
		}
	}
	sum := r.Summary()
	for _, w := range []string{"hit by candidate rank 1", "type solid vs solid: agree", "type part-solid vs non-solid: disagree",
		"malignancy AUC (readers' median rating ≥ 3 malignant, < 3 benign; detected nodules): malignancy 1.000; brock 1.000; cnn 0.000;",
		"1 of other series ignored", "spiculation 0.90 vs readers' median rating 3.0: agree",
		"spiculation 0.20 vs readers' median rating 3.0: disagree",
		"spiculation agreement 1 of 2 (readers' median rating ≥ 3 spiculated, score ≥ 0.5 flagged)"} {
		if !strings.Contains(sum, w) {
			t.Errorf("summary lacks %q", w)
		}
	}

	// Only A found, threshold 5: one class of one → n/a; no labels → Dice
	// null; B missed.
	r, err = EvaluateLIDC(s, cs[:2], nil, LIDCOptions{MalignantFrom: 5})
	if err != nil {
		t.Fatal(err)
	}
	if r.Detected != 1 || r.Nodules[0].Detected || r.Nodules[1].Malignant || !math.IsNaN(float64(r.Nodules[1].Dice)) ||
		r.MalignancyAUC[0].Note != "n/a (one class)" || !strings.Contains(r.Summary(), "malignancy n/a (one class)") {
		t.Errorf("one class: %+v", r)
	}
	// Candidates named after a file, not the series: taken as this
	// series' with a note.
	renamed := append([]candidate.Candidate(nil), cs[:3]...)
	for i := range renamed {
		renamed[i].SeriesUID = "lidc-idri-0001"
	}
	r, err = EvaluateLIDC(s, renamed, nil, LIDCOptions{})
	if err != nil || r.Detected != 2 || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], `"lidc-idri-0001"`) {
		t.Errorf("renamed: %v %+v", err, r)
	}
}

func TestRanks(t *testing.T) {
	cs := []candidate.Candidate{{SeriesUID: "a", Probability: .5}, {SeriesUID: "b", Probability: .9}, {SeriesUID: "a", Probability: .7},
		{SeriesUID: "a", Probability: .5}, {SeriesUID: "b", Probability: .1}}
	if got := Ranks(cs); len(got) != 5 || got[0] != 2 || got[1] != 1 || got[2] != 1 || got[3] != 3 || got[4] != 2 {
		t.Errorf("ranks %v, want [2 1 1 3 2]", got)
	}
}
