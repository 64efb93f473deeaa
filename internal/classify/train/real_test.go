package train

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/classify"
	"github.com/lungctl/lungctl/internal/classify/nn"
	"github.com/lungctl/lungctl/internal/dicomio"
	"github.com/lungctl/lungctl/internal/shareddata"
	"github.com/lungctl/lungctl/internal/volio"
	"github.com/lungctl/lungctl/internal/volume"
)

// lidcUID is LIDC-IDRI-0001's CT series, the one LUNA16 lists.
const lidcUID = "1.3.6.1.4.1.14519.5.2.1.6279.6001.179049373636438705059720603192"

// lungPoints returns up to n points of aerated lung (mean HU of the 3³
// voxels around them in (−920, −700): parenchyma, not the −1000 HU air
// outside the body) on a 15 mm grid over the central body, at least 40 mm
// from avoid.
func lungPoints(v *volume.Volume[int16], avoid volume.Vec3, n int) []volume.Vec3 {
	var out []volume.Vec3
	for z := -200.0; z <= -60 && len(out) < n; z += 15 {
		for y := -40.0; y <= 80 && len(out) < n; y += 15 {
			for x := -140.0; x <= 140 && len(out) < n; x += 15 {
				w := volume.Vec3{x, y, z}
				if math.Hypot(math.Hypot(x-avoid[0], y-avoid[1]), z-avoid[2]) < 40 {
					continue
				}
				c := v.WorldToIndex(w)
				var sum, cnt float64
				for dk := -1; dk <= 1; dk++ {
					for dj := -1; dj <= 1; dj++ {
						for di := -1; di <= 1; di++ {
							i, j, k := int(math.Round(c[0]))+di, int(math.Round(c[1]))+dj, int(math.Round(c[2]))+dk
							if v.In(i, j, k) {
								sum += float64(v.At(i, j, k))
								cnt++
							}
						}
					}
				}
				if cnt == 27 && sum/cnt > -920 && sum/cnt < -700 {
					out = append(out, w)
				}
			}
		}
	}
	return out
}

// TestRunLUNARealMetaImage runs the LUNA16 training path end to end on a
// real MetaImage: LIDC-IDRI-0001's DICOM series converted to
// <seriesuid>.mhd by plastimatch (as LUNA16 ships its scans, in a subset
// folder), the real LUNA16 annotations-with-malignancy table (one nodule,
// readers' ratings 5/5/5/4) and a candidates table of class-0 lung points
// far from it. The .mhd must put the nodule where the DICOM series does
// (same patch), training must write a model whose card says domain
// "patients" with the right counts per class, and the file must load and
// score.
func TestRunLUNARealMetaImage(t *testing.T) {
	if testing.Short() {
		t.Skip("converts a 133-slice CT with plastimatch and trains (~1 min)")
	}
	series := shareddata.Dir(t, "lidc-idri-0001", "LIDC-IDRI-0001",
		"1.3.6.1.4.1.14519.5.2.1.6279.6001.298806137288633453246975630178", lidcUID)
	ann := shareddata.Dir(t, "lidc-idri-0001", "truth_luna16_annotations_with_malignancy.csv")
	pl, err := exec.LookPath("plastimatch")
	if err != nil {
		t.Skip("plastimatch not installed (Debian: apt-get install plastimatch): ", err)
	}
	dir := t.TempDir()
	mhd := filepath.Join(dir, "luna16", "subset0", lidcUID+".mhd")
	if err := os.MkdirAll(filepath.Dir(mhd), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(pl, "convert", "--input", series, "--output-img", mhd).CombinedOutput(); err != nil {
		t.Fatalf("plastimatch convert: %v\n%s", err, out)
	}
	v, err := volio.ReadHU(mhd)
	if err != nil {
		t.Fatal(err)
	}
	nodule := volume.Vec3{56.20840547, 86.34341278, -115.8675792}
	// the MetaImage and the DICOM series must agree on where the nodule is
	s, err := dicomio.Load(series, dicomio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := make([]float32, 32*32*32), make([]float32, 32*32*32)
	classify.ExtractPatch(v, nodule, classify.DefaultPatchSpec, nil, a)
	classify.ExtractPatch(s.HU, nodule, classify.DefaultPatchSpec, nil, b)
	var worst float64
	for i := range a {
		worst = max(worst, math.Abs(float64(a[i]-b[i])))
	}
	if worst > 2.0/1400 {
		t.Fatalf("nodule patch from the .mhd differs from the DICOM one by up to %.1f HU", worst*1400)
	}
	negs := lungPoints(v, nodule, 12)
	if len(negs) < 10 {
		t.Fatalf("found only %d lung points for class-0 candidates", len(negs))
	}
	var cand strings.Builder
	cand.WriteString("seriesuid,coordX,coordY,coordZ,class\n")
	fmt.Fprintf(&cand, "%s,%.2f,%.2f,%.2f,1\n", lidcUID, nodule[0], nodule[1], nodule[2]) // class 1: not a negative
	for _, w := range negs {
		fmt.Fprintf(&cand, "%s,%.1f,%.1f,%.1f,0\n", lidcUID, w[0], w[1], w[2])
	}
	candPath := filepath.Join(dir, "candidates.csv")
	writeFile(t, candPath, cand.String())
	out := filepath.Join(dir, "luna.lcnn")
	res, err := Run(context.Background(), Config{Out: out, Source: classify.SourceLUNA16, Seed: 3, Epochs: 2,
		Arch: nn.Arch{Size: 32, Channels: []int{2, 4}}, BatchSize: 4, Version: "test",
		LUNA: LUNAOptions{Annotations: ann, Candidates: candPath, VolumeDir: filepath.Join(dir, "luna16"), NegativesPerScan: -1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("warnings: %q; epochs %+v", res.Warnings, res.Epochs)
	m, err := classify.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Card()
	wantTrain := classify.ClassCounts{Malignant: 1, Benign: len(negs) - 2}
	wantHeld := classify.ClassCounts{Malignant: 0, Benign: 2}
	if c.Domain != classify.DomainPatients || c.Data.Source != classify.SourceLUNA16 || c.Data.Scans != 1 ||
		c.Data.Train != wantTrain || c.Data.HeldOut != wantHeld || len(c.Data.Tables) != 2 ||
		c.Data.Tables[0].Rows != 1 || c.Data.Tables[1].Rows != len(negs) || c.Metrics.Epochs != 2 ||
		!math.IsNaN(c.Metrics.HeldOutAUC) || !(c.Metrics.HeldOutLoss > 0) || c.LungctlVersion != "test" {
		t.Fatalf("card %+v, want domain patients, train %+v, held out %+v", c, wantTrain, wantHeld)
	}
	if m.SHA256() != res.Model.SHA256() {
		t.Fatalf("loaded sha256 %s, trained %s", m.SHA256(), res.Model.SHA256())
	}
	cs := []candidate.Candidate{{World: [3]float64(nodule)}, {World: [3]float64(negs[0])}}
	ps, err := classify.Score(v, cs, m)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		if !(p > 0 && p < 1) {
			t.Fatalf("score %d = %g", i, p)
		}
	}
	t.Logf("card: %+v; nodule p = %.4f, lung point p = %.4f", c, ps[0], ps[1])
}
