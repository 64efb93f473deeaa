package detect

import (
	"math"
	"math/rand"
	"testing"

	"github.com/lungctl/lungctl/internal/dicomio"
	"github.com/lungctl/lungctl/internal/hounsfield"
	"github.com/lungctl/lungctl/internal/nodule"
	"github.com/lungctl/lungctl/internal/resample"
	"github.com/lungctl/lungctl/internal/segment"
	"github.com/lungctl/lungctl/internal/shareddata"
	"github.com/lungctl/lungctl/internal/volume"
)

// loadLIDC loads LIDC-IDRI-0001, resamples it to 1 mm and segments the lungs.
func loadLIDC(t testing.TB) (*volume.Volume[int16], *volume.Volume[uint8]) {
	return loadScan(t, "lidc-idri-0001")
}

// loadScan loads the shared DICOM series sub (skipping t when it is
// absent), resamples it to 1 mm and segments the lungs.
func loadScan(t testing.TB, sub string) (*volume.Volume[int16], *volume.Volume[uint8]) {
	t.Helper()
	hu, m, _ := loadScanWith(t, sub, nil)
	return hu, m
}

// loadScanWith is loadScan with edit (when not nil) applied to the HU at
// the acquisition's own grid before resampling; it also returns that
// grid's spacing (mm).
func loadScanWith(t testing.TB, sub string, edit func(*volume.Volume[int16])) (*volume.Volume[int16], *volume.Volume[uint8], volume.Vec3) {
	t.Helper()
	return loadScanAt(t, sub, 1, edit)
}

// loadScanAt is loadScanWith on a grid of spacing mm instead of 1 mm.
func loadScanAt(t testing.TB, sub string, spacing float64, edit func(*volume.Volume[int16])) (*volume.Volume[int16], *volume.Volume[uint8], volume.Vec3) {
	t.Helper()
	scan, err := dicomio.Load(shareddata.Dir(t, sub), dicomio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hounsfield.Normalize(scan.HU.Data)
	if edit != nil {
		edit(scan.HU)
	}
	hu, err := resample.Stack(scan.HU, scan.Positions, volume.Vec3{spacing, spacing, spacing}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := segment.Lungs(hu, segment.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return hu, m, scan.HU.Spacing
}

// lidcNodule is the LUNA16 annotation of LIDC-IDRI-0001 (LPS mm, mm).
var lidcNodule, lidcDiameter = [3]float64{56.21, 86.34, -115.87}, 23.35

// TestLIDC0001 runs the whole detector on LIDC-IDRI-0001 (loaded, resampled
// to 1 mm and segmented by the project's own packages) and requires the
// LUNA16 nodule to be hit (centre distance < radius) within the default
// ≤ 10 candidates.
func TestLIDC0001(t *testing.T) {
	if testing.Short() {
		t.Skip("LIDC-IDRI-0001 end to end: skipped with -short")
	}
	hu, m := loadLIDC(t)
	res, err := Run(hu, m, Options{SeriesUID: "LIDC-IDRI-0001"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d points, %d clusters, %d candidates", len(res.Points)/5, res.Clusters, len(res.Candidates))
	hit := -1
	for i, c := range res.Candidates {
		d := dist3(c.World, lidcNodule)
		t.Logf("%d: score %.3f at (%.1f %.1f %.1f) %.1f mm from the nodule, diam %.1f HU %.0f SI %.2f fill %.2f",
			i, c.DetectScore, c.World[0], c.World[1], c.World[2], d, c.DiameterMM, c.MeanHU, c.MeanSI, c.Compactness)
		if hit < 0 && d < lidcDiameter/2 {
			hit = i
		}
	}
	if len(res.Candidates) > 10 {
		t.Errorf("%d candidates at the default operating point, want ≤ 10", len(res.Candidates))
	}
	if hit < 0 {
		t.Fatalf("LUNA16 nodule at %v (%.2f mm) not hit", lidcNodule, lidcDiameter)
	}
	t.Logf("nodule hit at rank %d", hit)
	// The candidate carries its lesion's measurements: the nodule touches
	// the chest wall (nodule.TestLIDC0001AgainstReaders) and is lobulated.
	if c := res.Candidates[hit]; c.Type == "" || c.PleuraDistanceMM > 1 || !(c.Lobulation > 0 && c.Lobulation <= 1) {
		t.Errorf("nodule candidate: type %q, pleura distance %.1f mm (want ≤ 1), lobulation %.3f (want > 0)", c.Type, c.PleuraDistanceMM, c.Lobulation)
	}
	// No candidate is measured as a body smaller than a 2 mm ball: three
	// of this scan's clusters once were (1–2 mm³, "non-solid 1.0 mm").
	for i, c := range res.Candidates {
		if c.Type != "" && c.VolumeMM3 < math.Pi/6*8 {
			t.Errorf("candidate %d measured %s, %.1f mm³: smaller than a 2 mm ball", i, c.Type, c.VolumeMM3)
		}
	}
}

// TestLIDC0001Noisy adds 60 and 90 HU of noise to LIDC-IDRI-0001 at its
// own resolution (0.7 × 0.7 × 2.5 mm, as a low-dose scan's) before the
// 1 mm resampling: the nodule stays first, the looks for free-standing
// lesions and for bumps on the wall add nothing (its readers marked no
// other lesion of 3 mm or more), and the ground-glass look reports
// nothing: what it adds scores under the report threshold (0.45,
// pipeline.ReportThreshold; at 60 HU it puts a non-solid candidate at
// rank 9, scoring 0.00). Without the lung's spread in the free-standing
// look's second level, a faint vessel piece broke off its vessel at 0.55.
func TestLIDC0001Noisy(t *testing.T) {
	if testing.Short() {
		t.Skip("LIDC-IDRI-0001 with noise, end to end: skipped with -short")
	}
	for _, sd := range []float64{60, 90} {
		hu, m, sp := loadScanWith(t, "lidc-idri-0001", func(v *volume.Volume[int16]) {
			rng := rand.New(rand.NewSource(7))
			for i, x := range v.Data {
				v.Data[i] = int16(math.Max(-1024, math.Min(3071, math.Round(float64(x)+sd*rng.NormFloat64()))))
			}
		})
		opt := Options{Nodule: nodule.Options{SourceSpacingMM: [3]float64(sp), SliceThicknessMM: 2.5}}
		res, err := Run(hu, m, opt)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Candidates) == 0 || dist3(res.Candidates[0].World, lidcNodule) > lidcDiameter/2 {
			t.Errorf("noise %.0f HU: the nodule is not the first candidate", sd)
		}
		for r, c := range res.Candidates {
			if dist3(c.World, lidcNodule) <= lidcDiameter/2 {
				continue
			}
			if f := res.Features[r]; f.Isolated > 0 {
				t.Errorf("noise %.0f HU: rank %d at %.1f (score %.2f) from the look, %.0f HU over the lung", sd, r+1, c.World, c.DetectScore, f.Isolated)
			}
			if f := res.Features[r]; f.GroundGlass > 0 && c.DetectScore >= 0.45 {
				t.Errorf("noise %.0f HU: rank %d at %.1f from the ground-glass look scores %.2f (%.0f HU over the lung): reported", sd, r+1, c.World, c.DetectScore, f.GroundGlass)
			}
		}
	}
}

// TestLIDC0001Grid125 runs the detector on LIDC-IDRI-0001 resampled to
// 1.25 mm, the coarsest grid the looks run on: there three pieces of
// pleura pass the pleural look's tests only just (roundness 0.51–0.61,
// sphericity 0.60–0.65). Scored by the second stage they stay under the
// report threshold (pipeline.ReportThreshold, 0.45); with the look's own
// contrast score they were reported at 0.91–0.97. The nodule stays first.
func TestLIDC0001Grid125(t *testing.T) {
	if testing.Short() {
		t.Skip("LIDC-IDRI-0001 at 1.25 mm, end to end: skipped with -short")
	}
	hu, m, sp := loadScanAt(t, "lidc-idri-0001", 1.25, nil)
	opt := Options{Nodule: nodule.Options{SourceSpacingMM: [3]float64(sp), SliceThicknessMM: 2.5}}
	res, err := Run(hu, m, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Candidates) == 0 || dist3(res.Candidates[0].World, lidcNodule) > lidcDiameter/2 {
		t.Fatal("the nodule is not the first candidate")
	}
	looked := 0
	for r, c := range res.Candidates[1:] {
		if f := res.Features[r+1]; f.Isolated > 0 {
			looked++
			if c.DetectScore >= 0.45 {
				t.Errorf("rank %d at %.1f from a look scores %.2f (%.0f HU over the lung): reported", r+2, c.World, c.DetectScore, f.Isolated)
			}
		}
	}
	if looked == 0 {
		t.Error("no look candidate beside the nodule: the grid no longer tests the pleural look's score")
	}
}

// TestA0002Mass runs the detector on the Lung-PET-CT-Dx A0002 scan (Siemens,
// 8 mm slices, an adenocarcinoma of about 50×50×70 mm grown against the
// mediastinum) and requires a candidate within 25 mm of the tumour's centre
// (−62.6, −97.3, 212.0) at rank 3 or better (the real-lesions issue's
// target).
func TestA0002Mass(t *testing.T) {
	if testing.Short() {
		t.Skip("A0002 end to end: skipped with -short")
	}
	hu, m := loadScan(t, "lung-pet-ct-dx-a0002-siemens")
	res, err := Run(hu, m, Options{SeriesUID: "A0002"})
	if err != nil {
		t.Fatal(err)
	}
	centre := [3]float64{-62.6, -97.3, 212.0}
	rank := -1
	for i, c := range res.Candidates {
		d := dist3(c.World, centre)
		t.Logf("%d: score %.3f at (%.1f %.1f %.1f), %.1f mm from the tumour centre, %s %.1f mm", i+1, c.DetectScore,
			c.World[0], c.World[1], c.World[2], d, c.Type, c.MeanDiameterMM)
		if rank < 0 && d < 25 {
			rank = i + 1
		}
	}
	if rank < 1 || rank > 3 {
		t.Fatalf("no candidate within 25 mm of the tumour centre at rank ≤ 3 (rank %d)", rank)
	}
}

// BenchmarkDetectLIDC times Run alone (smoothing, shape index, mean-shift,
// candidates) on the 1 mm LIDC-IDRI-0001 volume with the default options.
func BenchmarkDetectLIDC(b *testing.B) {
	hu, m := loadLIDC(b)
	ws := &Workspace{}
	b.ResetTimer()
	var res *Result
	for i := 0; i < b.N; i++ {
		var err error
		if res, err = Run(hu, m, Options{Work: ws}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(res.Points)/5), "points")
	b.ReportMetric(float64(len(res.Candidates)), "candidates")
}

// BenchmarkGroundGlassLookLIDC times the ground-glass look alone (cell
// image, opening, maxima, the segmentation of its blobs) on the 1 mm
// LIDC-IDRI-0001 volume, after a Run has cropped it.
func BenchmarkGroundGlassLookLIDC(b *testing.B) {
	hu, m := loadLIDC(b)
	ws := &Workspace{}
	if _, err := Run(hu, m, Options{Work: ws}); err != nil {
		b.Fatal(err)
	}
	blobs := len(appendApart(ws.groundGlassBlobs(m)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ws.addGroundGlass(hu, m, nil, nil, nil, Defaults)
	}
	b.ReportMetric(float64(blobs), "blobs")
}
