package render

import (
	"errors"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/volume"
)

// outDir is where test PNGs go; RENDER_PNG_DIR keeps them for a look.
func outDir(t *testing.T) string {
	if d := os.Getenv("RENDER_PNG_DIR"); d != "" {
		return d
	}
	return t.TempDir()
}

// phantom fills a volume on g with −850 HU (lung) and bright balls
// (+100 HU, or hu) of radius r mm at world centres.
type ball struct {
	c  volume.Vec3
	r  float64
	hu int16
}

func phantom(g volume.Grid, balls ...ball) *volume.Volume[int16] {
	v := volume.New[int16](g)
	for k := 0; k < g.Dims[2]; k++ {
		for j := 0; j < g.Dims[1]; j++ {
			for i := 0; i < g.Dims[0]; i++ {
				w := g.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
				val := int16(-850)
				for _, b := range balls {
					d := math.Sqrt((w[0]-b.c[0])*(w[0]-b.c[0]) + (w[1]-b.c[1])*(w[1]-b.c[1]) + (w[2]-b.c[2])*(w[2]-b.c[2]))
					if d <= b.r {
						val = b.hu
					}
				}
				v.Set(i, j, k, val)
			}
		}
	}
	return v
}

// brightCentroid returns the centroid (image pixels) of the grey pixels
// above 200 in r, and their count.
func brightCentroid(img *image.RGBA, r image.Rectangle) (x, y float64, n int) {
	for py := r.Min.Y; py < r.Max.Y; py++ {
		for px := r.Min.X; px < r.Max.X; px++ {
			c := img.RGBAAt(px, py)
			if c.R == c.G && c.G == c.B && c.R > 200 {
				x += float64(px)
				y += float64(py)
				n++
			}
		}
	}
	if n > 0 {
		x /= float64(n)
		y /= float64(n)
	}
	return x, y, n
}

func isCircle(img *image.RGBA, x, y int) bool { return img.RGBAAt(x, y) == CircleColor }

// checkOrientation renders a snapshot of candidate cw with a ball at
// cw+off and checks that the ball's cross-section appears where the
// radiological convention puts it, computed here from the convention
// itself (not from Panel.Pixel): axial col +x row +y, coronal col +x row −z,
// sagittal col +y row −z, candidate on the centre pixel.
func checkOrientation(t *testing.T, v *volume.Volume[int16], cw, off volume.Vec3, tol float64, name string) {
	t.Helper()
	const pix = 0.5
	img, panels, err := SnapshotImage(v, candidate.Candidate{SeriesUID: "1.2.3", World: cw, Probability: 0.875, DiameterMM: 8}, SnapshotOptions{PixelMM: pix, Title: name})
	if err != nil {
		t.Fatal(err)
	}
	if err := writePNG(filepath.Join(outDir(t), name+".png"), img); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]float64{
		"axial":    {off[0] / pix, off[1] / pix},
		"coronal":  {off[0] / pix, -off[2] / pix},
		"sagittal": {off[1] / pix, -off[2] / pix},
	}
	if len(panels) != 3 {
		t.Fatalf("%d panels", len(panels))
	}
	for _, p := range panels {
		half := (p.Rect.Dx() - 1) / 2
		cx, cy := float64(p.Rect.Min.X+half), float64(p.Rect.Min.Y+half)
		// Panel.Pixel must agree with the convention too.
		if px, py := p.Pixel(cw); math.Abs(px-cx) > 1e-9 || math.Abs(py-cy) > 1e-9 {
			t.Errorf("%s %s: candidate maps to (%v,%v), want centre (%v,%v)", name, p.Name, px, py, cx, cy)
		}
		x, y, n := brightCentroid(img, p.Rect)
		w := want[p.Name]
		if n < 50 || math.Abs(x-cx-w[0]) > tol || math.Abs(y-cy-w[1]) > tol {
			t.Errorf("%s %s: ball at offset (%.2f, %.2f) px from the centre (%d px), want (%.2f, %.2f)", name, p.Name, x-cx, y-cy, n, w[0], w[1])
		}
		// The candidate circle: radius (8/2 + 3)/0.5 = 14 px around the centre.
		for a := 0; a < 16; a++ {
			th := float64(a) * math.Pi / 8
			found := false
			for dr := -1.0; dr <= 1; dr += 0.5 {
				px := int(math.Round(cx + (14+dr)*math.Cos(th)))
				py := int(math.Round(cy + (14+dr)*math.Sin(th)))
				found = found || isCircle(img, px, py)
			}
			if !found {
				t.Errorf("%s %s: no circle pixel at angle %d·π/8", name, p.Name, a)
			}
		}
		for py := p.Rect.Min.Y; py < p.Rect.Max.Y; py++ {
			for px := p.Rect.Min.X; px < p.Rect.Max.X; px++ {
				if d := math.Hypot(float64(px)-cx, float64(py)-cy); isCircle(img, px, py) && math.Abs(d-14) > 1 {
					t.Fatalf("%s %s: circle pixel at distance %.2f px, want 14", name, p.Name, d)
				}
			}
		}
	}
}

func TestSnapshotOrientationIsotropic(t *testing.T) {
	g := volume.Grid{Dims: [3]int{100, 100, 100}, Spacing: volume.Vec3{1, 1, 1}, Origin: volume.Vec3{-50, -60, -70}, Direction: volume.Identity}
	cw := volume.Vec3{5, 3, -20}
	off := volume.Vec3{-6, 4, 3} // towards patient right, posterior, head
	v := phantom(g, ball{volume.Vec3{cw[0] + off[0], cw[1] + off[1], cw[2] + off[2]}, 9, 100})
	checkOrientation(t, v, cw, off, 0.3, "iso")
}

// An acquisition-like grid: 0.7 mm pixels, 2.5 mm slices, stored with the
// x axis flipped and slices running feet→head, so index order differs from
// display order: the picture must not change.
func TestSnapshotOrientationAnisotropicFlipped(t *testing.T) {
	g := volume.Grid{Dims: [3]int{140, 140, 40}, Spacing: volume.Vec3{0.7, 0.7, 2.5}, Origin: volume.Vec3{49.7, -49, -100},
		Direction: [3][3]float64{{-1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	cw := volume.Vec3{0.7, 0, -50}
	off := volume.Vec3{4.2, -4.2, -5} // towards patient left, anterior, feet; on voxel centres
	v := phantom(g, ball{volume.Vec3{cw[0] + off[0], cw[1] + off[1], cw[2] + off[2]}, 10, 100})
	checkOrientation(t, v, cw, off, 1.0, "aniso")
}

func TestSnapshotErrorsAndFile(t *testing.T) {
	g := volume.Grid{Dims: [3]int{20, 20, 20}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	v := phantom(g)
	c := candidate.Candidate{World: [3]float64{10, 10, 10}, DiameterMM: math.NaN(), Malignancy: math.NaN()}
	p := filepath.Join(outDir(t), "far.png")
	if err := Snapshot(v, c, p, SnapshotOptions{}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	im, err := png.Decode(f)
	_ = f.Close() // read only
	if err != nil || im.Bounds().Dx() != 3*321+4*gap {
		t.Fatalf("decode: %v %v", err, im.Bounds())
	}
	if err := Snapshot(&volume.Volume[int16]{}, c, p, SnapshotOptions{}); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty volume: %v", err)
	}
	c.World[0] = math.Inf(1)
	if err := Snapshot(v, c, p, SnapshotOptions{}); err == nil {
		t.Error("infinite position accepted")
	}
	if err := Snapshot(v, candidate.Candidate{}, filepath.Join(t.TempDir(), "no", "dir.png"), SnapshotOptions{}); err == nil {
		t.Error("write into a missing folder succeeded")
	}
}

func TestOverview(t *testing.T) {
	g := volume.Grid{Dims: [3]int{120, 100, 80}, Spacing: volume.Vec3{1, 1, 1}, Origin: volume.Vec3{-60, -50, -40}, Direction: volume.Identity}
	nod := volume.Vec3{-20, 10, 5}  // inside the mask
	bone := volume.Vec3{30, -30, 0} // outside the mask, brighter
	v := phantom(g, ball{nod, 5, 100}, ball{bone, 6, 1000})
	mask := volume.New[uint8](g)
	for k := 0; k < g.Dims[2]; k++ {
		for j := 0; j < g.Dims[1]; j++ {
			for i := 0; i < g.Dims[0]; i++ {
				w := g.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
				if math.Abs(w[0]+20) < 25 && math.Abs(w[1]-10) < 25 && math.Abs(w[2]-5) < 25 {
					mask.Set(i, j, k, 1)
				}
			}
		}
	}
	cs := []candidate.Candidate{
		{World: [3]float64(bone), Probability: 0.2, DiameterMM: 12},
		{World: [3]float64(nod), Probability: 0.9, DiameterMM: 10},
	}
	img, panels, err := OverviewImage(v, mask, cs, OverviewOptions{Title: "overview test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := writePNG(filepath.Join(outDir(t), "overview.png"), img); err != nil {
		t.Fatal(err)
	}
	// Expected pixels from the convention: world box x −60.5…59.5,
	// y −50.5…49.5, z −40.5…39.5 at 1 mm/px; coronal col = x+60.5−0.5,
	// row = 39.5−z−0.5; axial col = x+60, row = y+50.
	cor, ax := panels[0], panels[1]
	want := []struct {
		p      Panel
		dx, dy float64
	}{{cor, nod[0] + 60, 39 - nod[2]}, {ax, nod[0] + 60, nod[1] + 50}}
	for _, w := range want {
		x, y, n := brightCentroid(img, w.p.Rect)
		ex, ey := float64(w.p.Rect.Min.X)+w.dx, float64(w.p.Rect.Min.Y)+w.dy
		if n < 40 || math.Abs(x-ex) > 0.3 || math.Abs(y-ey) > 0.3 {
			t.Errorf("%s: bright centroid (%.2f,%.2f) n=%d, want (%.2f,%.2f) and no bone", w.p.Name, x, y, n, ex, ey)
		}
		if px, py := w.p.Pixel(nod); math.Abs(px-ex) > 1e-9 || math.Abs(py-ey) > 1e-9 {
			t.Errorf("%s: Pixel = (%v,%v), want (%v,%v)", w.p.Name, px, py, ex, ey)
		}
		// Rank-1 circle: radius 10/2+3 = 8 px.
		for a := 0; a < 8; a++ {
			th := float64(a) * math.Pi / 4
			found := false
			for dr := -1.0; dr <= 1; dr += 0.5 {
				found = found || isCircle(img, int(math.Round(ex+(8+dr)*math.Cos(th))), int(math.Round(ey+(8+dr)*math.Sin(th))))
			}
			if !found {
				t.Errorf("%s: no circle pixel at angle %d·π/4", w.p.Name, a)
			}
		}
	}
	// Without the mask the bone dominates its own rays.
	img2, panels2, err := OverviewImage(v, nil, cs, OverviewOptions{TopK: 1})
	if err != nil {
		t.Fatal(err)
	}
	bx, by := panels2[1].Pixel(bone)
	if c := img2.RGBAAt(int(bx), int(by)); c.R != 255 || c.G != 255 {
		t.Errorf("unmasked axial MIP at the bone: %v, want white", c)
	}
	if c := img.RGBAAt(int(bx), int(by)); c.R != 0 {
		t.Errorf("masked axial MIP at the bone: %v, want black", c)
	}
	bad := volume.New[uint8](volume.Grid{Dims: [3]int{10, 10, 10}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity})
	if err := Overview(v, bad, cs, filepath.Join(t.TempDir(), "x.png"), OverviewOptions{}); !errors.Is(err, ErrGridMismatch) {
		t.Errorf("mismatched mask: %v", err)
	}
	if err := Overview(v, mask, cs, filepath.Join(outDir(t), "overview2.png"), OverviewOptions{TopK: -1}); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkSnapshot(b *testing.B) {
	g := volume.Grid{Dims: [3]int{256, 256, 256}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	v := volume.New[int16](g)
	c := candidate.Candidate{World: [3]float64{128, 128, 128}, DiameterMM: 10}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := SnapshotImage(v, c, SnapshotOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOverview(b *testing.B) {
	g := volume.Grid{Dims: [3]int{256, 256, 256}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	v := volume.New[int16](g)
	m := volume.New[uint8](g)
	for i := range m.Data {
		m.Data[i] = uint8(i & 1)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := OverviewImage(v, m, nil, OverviewOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWrapText: a report's overview title (a 64-character DICOM UID and a
// note) was cut off at the image's right edge; wrapped, every line fits and
// no character is lost.
func TestWrapText(t *testing.T) {
	uid := "1.3.6.1.4.1.14519.5.2.1.6279.6001.298806137288633453246975630178"
	title := uid + "  (numbers: candidate rank, as in candidates.csv)"
	for _, width := range []int{560, 300, 100, 7, 1} {
		lines := wrapText(title, width)
		for _, l := range lines {
			if textWidth(l) > max(width, textWidth("x")) {
				t.Errorf("width %d: line %q is %d px wide", width, l, textWidth(l))
			}
		}
		joined := strings.ReplaceAll(strings.Join(lines, ""), " ", "")
		if want := strings.ReplaceAll(title, " ", ""); joined != want {
			t.Errorf("width %d: lines %q lose or reorder text", width, lines)
		}
	}
	if got := wrapText("MIP, 10 candidates, top 3 marked", 560); len(got) != 1 {
		t.Errorf("a short line was wrapped: %q", got)
	}
	if got := wrapText("", 560); len(got) != 1 || got[0] != "" {
		t.Errorf("empty text: %q, want one empty line", got)
	}
	// In the overview the wrapped title makes the header taller, and the
	// image no wider.
	g := volume.Grid{Dims: [3]int{40, 40, 30}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	v := phantom(g, ball{volume.Vec3{20, 20, 15}, 4, 100})
	short, _, err := OverviewImage(v, nil, nil, OverviewOptions{Title: "P1"})
	if err != nil {
		t.Fatal(err)
	}
	long, _, err := OverviewImage(v, nil, nil, OverviewOptions{Title: title})
	if err != nil {
		t.Fatal(err)
	}
	if long.Bounds().Dx() != short.Bounds().Dx() || long.Bounds().Dy() <= short.Bounds().Dy() {
		t.Errorf("long title: image %v, short title %v: want the same width and a taller header", long.Bounds(), short.Bounds())
	}
}
