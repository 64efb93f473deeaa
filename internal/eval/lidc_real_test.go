package eval

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/shareddata"
	"github.com/lungctl/lungctl/internal/volio"
	"github.com/lungctl/lungctl/internal/volume"
)

const (
	lidcCase   = "lidc-idri-0001"
	lidcSeries = "LIDC-IDRI-0001/1.3.6.1.4.1.14519.5.2.1.6279.6001.298806137288633453246975630178/1.3.6.1.4.1.14519.5.2.1.6279.6001.179049373636438705059720603192"
	lidcUID    = "1.3.6.1.4.1.14519.5.2.1.6279.6001.179049373636438705059720603192"
)

// LIDCFixture is the real-data case of TestLIDCReal, reused by the CLI
// test through the same construction: one candidate at the consensus
// centroid with plausible measurements, one far false positive, and a
// label map (1 mm grid) holding label 1 = the ball of the consensus'
// equivalent diameter about its centroid.
type lidcFixture struct {
	series *LIDCSeries
	cands  string // candidates CSV
	labels string // label map .nii.gz
	grid   volume.Grid
	centre [3]float64
	radius float64
	nBall  int
}

func newLIDCFixture(t *testing.T, dir string) *lidcFixture {
	t.Helper()
	if testing.Short() {
		t.Skip("real LIDC series load skipped in -short mode")
	}
	s, err := LoadLIDC(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.UID != lidcUID || len(s.Analysis.Nodules) != 1 {
		t.Fatalf("series %s: %d nodules ≥ 3 mm, want 1", s.UID, len(s.Analysis.Nodules))
	}
	nd := s.Analysis.Nodules[0]
	f := &lidcFixture{series: s, centre: nd.Centroid, radius: nd.EquivDiameterMM / 2}
	tmp := t.TempDir()
	f.cands, f.labels = filepath.Join(tmp, "cands.csv"), filepath.Join(tmp, "labels.nii.gz")
	cs := []candidate.Candidate{
		measuredCand(lidcUID, nd.Centroid, 0.9, "solid", 25, 21, 6000, 0.85, 0.6, 0.7),
		measuredCand(lidcUID, [3]float64{-100, 0, -200}, 0.3, "solid", 5, 4, 50, 0.1, 0.05, 0.1),
	}
	cs[0].LungRADS, cs[1].LungRADS = "4B", "2"
	if err := candidate.WriteFile(f.cands, cs); err != nil {
		t.Fatal(err)
	}
	var o volume.Vec3
	for a := 0; a < 3; a++ {
		o[a] = math.Round(nd.Centroid[a]) - 20
	}
	f.grid = volume.Grid{Dims: [3]int{41, 41, 41}, Spacing: volume.Vec3{1, 1, 1}, Origin: o, Direction: volume.Identity}
	lv := volume.New[uint8](f.grid)
	for k := 0; k < 41; k++ {
		for j := 0; j < 41; j++ {
			for i := 0; i < 41; i++ {
				if f.inBall(float64(i), float64(j), float64(k)) {
					lv.Set(i, j, k, 1)
					f.nBall++
				}
			}
		}
	}
	if err := volio.WriteNIfTI(f.labels, lv, volio.NIfTIOptions{}); err != nil {
		t.Fatal(err)
	}
	return f
}

// inBall reports whether label voxel (i, j, k) of the fixture's grid has
// its centre in the ball.
func (f *lidcFixture) inBall(i, j, k float64) bool {
	p := [3]float64{f.grid.Origin[0] + i, f.grid.Origin[1] + j, f.grid.Origin[2] + k}
	return dist2(p, f.centre) <= f.radius*f.radius
}

// TestLIDCReal evaluates the hand-made candidates and label map on
// LIDC-IDRI-0001 (loaded from the case's top folder: the XML is found
// beside the series' files) and checks every reported number against one
// computed here independently.
func TestLIDCReal(t *testing.T) {
	f := newLIDCFixture(t, shareddata.Dir(t, lidcCase))
	s := f.series
	nd := s.Analysis.Nodules[0]
	if filepath.Base(s.XML) != "069.xml" || s.Sessions != 4 {
		t.Errorf("XML %s with %d sessions, want 069.xml with 4", s.XML, s.Sessions)
	}
	r, err := EvaluateLIDCFiles(shareddata.Dir(t, lidcCase), f.cands, f.labels, LIDCOptions{Name: "hand"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", r.Summary())
	n := r.Nodules[0]

	// Independent values. The source voxel volume and the consensus
	// volume from the voxel count; the equivalent diameter from it.
	g := s.Geometry.Grid
	srcVox := g.Spacing[0] * g.Spacing[1] * g.Spacing[2]
	vol := float64(nd.Voxels) * srcVox
	eq := math.Cbrt(6 * vol / math.Pi)
	// The candidate as the CSV holds it (coordinates to 0.001 mm).
	var w [3]float64
	for a := 0; a < 3; a++ {
		w[a] = math.Round(nd.Centroid[a]*1000) / 1000
	}
	d := math.Sqrt(dist2(w, nd.Centroid))
	// Dice: consensus voxel centres placed with the grid's affine (not the
	// slice positions EvaluateLIDC uses), nearest 1 mm voxel, analytic
	// ball membership.
	both := 0
	m := &nd.Mask
	for k := 0; k < m.Dims[2]; k++ {
		for j := 0; j < m.Dims[1]; j++ {
			for i := 0; i < m.Dims[0]; i++ {
				if m.Data[i+m.Dims[0]*(j+m.Dims[1]*k)] == 0 {
					continue
				}
				p := g.IndexToWorld(volume.Vec3{float64(m.Origin[0] + i), float64(m.Origin[1] + j), float64(m.Origin[2] + k)})
				var q [3]float64
				in := true
				for a := 0; a < 3; a++ {
					q[a] = math.Floor(p[a] - f.grid.Origin[a] + 0.5)
					in = in && q[a] >= 0 && q[a] < 41
				}
				if in && f.inBall(q[0], q[1], q[2]) {
					both++
				}
			}
		}
	}
	ours := float64(f.nBall) / srcVox
	dice := 2 * float64(both) / (ours + float64(nd.Voxels))

	checks := []struct {
		name      string
		got, want float64
	}{
		{"consensus volume", n.VolumeMM3, vol}, {"equivalent diameter", n.EquivDiameterMM, eq},
		{"distance", n.DistanceMM, d},
		{"diameter error vs equivalent", float64(n.DiameterErrEquivMM), 23 - eq},
		{"relative", float64(n.DiameterRelEquiv), (23 - eq) / eq},
		{"diameter error vs readers", float64(n.DiameterErrReadMM), 23 - nd.MeanDiameterMM},
		{"volume error", float64(n.VolumeErrMM3), 6000 - vol}, {"volume relative", float64(n.VolumeRel), (6000 - vol) / vol},
		{"ours", float64(n.DiceOurs), ours}, {"Dice", float64(n.Dice), dice},
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-9*math.Max(1, math.Abs(c.want)) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if !n.Detected || n.Rank != 1 || n.Candidate != 0 || n.DiceBoth != both || n.Readers != 4 || n.Texture != "solid" ||
		n.TypeAgrees == nil || !*n.TypeAgrees || float64(n.MedianMalignancy) != 5 || !n.Malignant ||
		float64(n.MedianSpiculation) != 4.5 || n.SpiculationAgrees != nil {
		t.Errorf("nodule: %+v", n)
	}
	// Plausibility: the ball of the equivalent diameter overlaps the
	// consensus well but not perfectly (it is not a sphere).
	if !(dice > 0.6 && dice < 0.98) {
		t.Errorf("Dice %v outside (0.6, 0.98)", dice)
	}
	if r.Detected != 1 || r.FalsePositives != 1 || r.Candidates != 2 {
		t.Errorf("counts: %+v", r)
	}
	for _, a := range r.MalignancyAUC {
		if a.Note != "n/a (one class)" || a.Positives != 1 || a.Negatives != 0 {
			t.Errorf("AUC with one nodule: %+v", a)
		}
	}
	t.Logf("LIDC-IDRI-0001: consensus %d voxels, %.1f mm³, equivalent %.2f mm, readers' mean %.2f mm, centroid %.2f; "+
		"distance %.4f mm; diameter error %+.2f mm (%+.1f %%) vs equivalent, %+.2f mm (%+.1f %%) vs readers; volume %+.0f mm³ (%+.1f %%); "+
		"ball %d voxels = %.1f source voxels, both %d, Dice %.4f",
		nd.Voxels, vol, eq, nd.MeanDiameterMM, nd.Centroid, d, 23-eq, 100*(23-eq)/eq, 23-nd.MeanDiameterMM,
		100*(23-nd.MeanDiameterMM)/nd.MeanDiameterMM, 6000-vol, 100*(6000-vol)/vol, f.nBall, ours, both, dice)

	// The JSON: NaN-free, AUC null with its note.
	p := filepath.Join(t.TempDir(), "lidc.json")
	if err := WriteLIDCJSON(p, r); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	var back LIDCResult
	if err := json.Unmarshal(b, &back); err != nil || back.Nodules[0].Dice != r.Nodules[0].Dice || !math.IsNaN(float64(back.MalignancyAUC[0].AUC)) {
		t.Errorf("JSON round trip: %v", err)
	}

	// The series folder itself works too (the XML lies in it).
	s2, err := LoadLIDC(shareddata.Dir(t, lidcCase, lidcSeries))
	if err != nil || s2.XML != s.XML {
		t.Errorf("series folder: %v %v", err, s2)
	}
}
