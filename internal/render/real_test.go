package render

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/pyref"
	"github.com/lungctl/lungctl/internal/shareddata"
	"github.com/lungctl/lungctl/internal/volume"
)

// TestRealLIDCNodule renders the LUNA16 nodule of LIDC-IDRI-0001 from the
// 16-slice subset, read by pydicom (independent of this project's DICOM
// code), and checks that the nodule's solid tissue fills the middle of the
// circle in all three views while the circle itself lies mostly on lung.
func TestRealLIDCNodule(t *testing.T) {
	dir := shareddata.Path("lidc-idri-0001", "LIDC-IDRI-0001",
		"1.3.6.1.4.1.14519.5.2.1.6279.6001.298806137288633453246975630178",
		"1.3.6.1.4.1.14519.5.2.1.6279.6001.179049373636438705059720603192")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("real LIDC data not present at %s: %v", dir, err)
	}
	if testing.Short() {
		t.Skip("slow: reads 16 DICOM slices with pydicom")
	}
	py := pyref.Python(t, "pydicom", "numpy")
	tmp := t.TempDir()
	args := []string{filepath.Join("testdata", "dicom_to_raw.py"), filepath.Join(tmp, "vol")}
	for _, f := range []string{"000053", "000058", "000082", "000071", "000123", "000080", "000061", "000041",
		"000003", "000104", "000030", "000025", "000077", "000096", "000111", "000046"} {
		args = append(args, filepath.Join(dir, f+".dcm"))
	}
	if out, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Fatalf("pydicom helper: %v %s", err, out)
	}
	var geo struct {
		Dims    [3]int
		Spacing volume.Vec3
		Origin  volume.Vec3
		IOP     []float64
	}
	b, err := os.ReadFile(filepath.Join(tmp, "vol.json"))
	if err != nil || json.Unmarshal(b, &geo) != nil {
		t.Fatalf("geometry: %v %s", err, b)
	}
	if len(geo.IOP) != 6 || geo.IOP[0] != 1 || geo.IOP[4] != 1 {
		t.Fatalf("unexpected orientation %v", geo.IOP)
	}
	g := volume.Grid{Dims: geo.Dims, Spacing: geo.Spacing, Origin: geo.Origin, Direction: volume.Identity}
	raw, err := os.ReadFile(filepath.Join(tmp, "vol.raw"))
	if err != nil || len(raw) != 2*g.Len() {
		t.Fatalf("raw: %v, %d bytes for %v", err, len(raw), g.Dims)
	}
	v := volume.New[int16](g)
	for i := range v.Data {
		v.Data[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	c := candidate.Candidate{SeriesUID: "1.3.6.1.4.1.14519.5.2.1.6279.6001.179049373636438705059720603192",
		World: [3]float64{56.20840547, 86.34341278, -115.8675792}, DiameterMM: 23.35064438, Probability: 1, Malignancy: math.NaN()}
	img, panels, err := SnapshotImage(v, c, SnapshotOptions{Title: "LIDC-IDRI-0001, LUNA16 nodule"})
	if err != nil {
		t.Fatal(err)
	}
	if err := writePNG(filepath.Join(outDir(t), "lidc0001_nodule.png"), img); err != nil {
		t.Fatal(err)
	}
	for _, p := range panels {
		cx, cy := p.Pixel(c.World)
		var in, inBright, ring, ringDark int
		rIn := 0.25 * c.DiameterMM / p.PixelMM
		rRing := (c.DiameterMM/2 + 3) / p.PixelMM
		for py := p.Rect.Min.Y; py < p.Rect.Max.Y; py++ {
			for px := p.Rect.Min.X; px < p.Rect.Max.X; px++ {
				col := img.RGBAAt(px, py)
				if col.R != col.G {
					continue // circle or text
				}
				d := math.Hypot(float64(px)-cx, float64(py)-cy)
				// Grey 180 is −291 HU: soft tissue above, lung below.
				if d < rIn {
					in++
					if col.R > 180 {
						inBright++
					}
				}
				if math.Abs(d-rRing) < 3 {
					ring++
					if col.R < 180 {
						ringDark++
					}
				}
			}
		}
		t.Logf("%s: %.2f of the central disc is soft tissue, %.2f of the circle's path is lung", p.Name,
			float64(inBright)/float64(in), float64(ringDark)/float64(ring))
		if float64(inBright) < 0.9*float64(in) {
			t.Errorf("%s: nodule not at the centre: only %d of %d central pixels are soft tissue", p.Name, inBright, in)
		}
	}
}
