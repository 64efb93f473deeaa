package render

import (
	"bytes"
	"errors"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/lungctl/lungctl/internal/volume"
)

func TestParseWindow(t *testing.T) {
	good := []struct {
		in   string
		want Window
	}{
		{"lung", LungWindow},
		{" Lung ", Window{1500, -600}},
		{"mediastinum", Window{350, 40}},
		{"MEDIASTINAL", MediastinumWindow},
		{"400,40", Window{400, 40}},
		{"1500, -600", Window{1500, -600}},
		{"2000.5,300", Window{2000.5, 300}},
	}
	for _, c := range good {
		w, err := ParseWindow(c.in)
		if err != nil || w != c.want {
			t.Errorf("ParseWindow(%q) = %v, %v; want %v", c.in, w, err, c.want)
		}
		if back, err := ParseWindow(w.Flag()); err != nil || back != w {
			t.Errorf("ParseWindow(%q.Flag() = %q) = %v, %v", c.in, w.Flag(), back, err)
		}
	}
	for _, in := range []string{"", "bone", "400", "400,", ",40", "0,40", "-400,40", "NaN,0", "400,NaN",
		"Inf,0", "400,Inf", "1e6,0", "400,40,1", "a,b", "lung,", "\x00"} {
		if w, err := ParseWindow(in); !errors.Is(err, ErrBadWindow) {
			t.Errorf("ParseWindow(%q) = %v, %v; want ErrBadWindow", in, w, err)
		}
	}
	if s := LungWindow.String(); s != "W 1500 L -600" {
		t.Errorf("LungWindow.String() = %q", s)
	}
	if n := MediastinumWindow.Name(); n != "mediastinum" {
		t.Errorf("MediastinumWindow.Name() = %q", n)
	}
	if f := (Window{400, 40}).Flag(); f != "400,40" {
		t.Errorf("Flag = %q", f)
	}
}

func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{"lung", "400,40", "1e5,-1e5", "x,y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWindow(s)
		if err != nil {
			return
		}
		if !(w.Width > 0) || math.IsInf(w.Width, 0) || math.IsNaN(w.Level) || math.IsInf(w.Level, 0) {
			t.Fatalf("ParseWindow(%q) accepted %v", s, w)
		}
	})
}

// TestPlaneOrientation checks each view against the radiological
// convention on an isotropic, an anisotropic flipped and a sheared
// (gantry-tilt) grid: a ball placed at a known offset from the centre must
// appear at that offset / PixelMM in the view's image axes.
func TestPlaneOrientation(t *testing.T) {
	tilt := 20 * math.Pi / 180
	grids := map[string]volume.Grid{
		"iso": {Dims: [3]int{80, 80, 80}, Spacing: volume.Vec3{1, 1, 1}, Origin: volume.Vec3{-40, -40, -40}, Direction: volume.Identity},
		"aniso": {Dims: [3]int{120, 120, 36}, Spacing: volume.Vec3{0.7, 0.7, 2.5}, Origin: volume.Vec3{42, -42, -45},
			Direction: [3][3]float64{{-1, 0, 0}, {0, 1, 0}, {0, 0, 1}}},
		// Slice axis leans in y by the tilt: column 2 = (0, sin, cos).
		"sheared": {Dims: [3]int{110, 110, 50}, Spacing: volume.Vec3{0.75, 0.75, 1.6}, Origin: volume.Vec3{-41, -50, -40},
			Direction: [3][3]float64{{1, 0, 0}, {0, 1, math.Sin(tilt)}, {0, 0, math.Cos(tilt)}}},
	}
	centre := volume.Vec3{1, 2, 0}
	off := volume.Vec3{-5, 4, 3} // patient right, posterior, head
	for name, g := range grids {
		v := phantom(g, ball{volume.Vec3{centre[0] + off[0], centre[1] + off[1], centre[2] + off[2]}, 8, 100})
		for _, pl := range AllPlanes {
			img, p, err := PlaneImage(v, centre, pl, PlaneOptions{FOVMM: 50, Title: name + " " + pl.String(), RingDiameterMM: 30})
			if err != nil {
				t.Fatalf("%s %s: %v", name, pl, err)
			}
			if d := os.Getenv("RENDER_PNG_DIR"); d != "" {
				if err := writePNG(filepath.Join(d, "plane-"+name+"-"+pl.String()+".png"), img); err != nil {
					t.Fatal(err)
				}
			}
			wantPix := FinestSpacing(g) / math.Ceil(256/(50/FinestSpacing(g)))
			if math.Abs(p.PixelMM-wantPix) > 1e-12 {
				t.Errorf("%s %s: pixel %g mm, want %g (finest spacing / whole zoom)", name, pl, p.PixelMM, wantPix)
			}
			if p.Rect.Dx() < 256 || p.Rect.Dx() != p.Rect.Dy() || p.Rect.Min.Y != lineHeight+4 {
				t.Errorf("%s %s: view rect %v", name, pl, p.Rect)
			}
			var dx, dy float64
			switch pl {
			case Axial:
				dx, dy = off[0], off[1]
			case Coronal:
				dx, dy = off[0], -off[2]
			case Sagittal:
				dx, dy = off[1], -off[2]
			}
			half := float64(p.Rect.Dx()-1) / 2
			cx, cy := float64(p.Rect.Min.X)+half, float64(p.Rect.Min.Y)+half
			if px, py := p.Pixel(centre); math.Abs(px-cx) > 1e-9 || math.Abs(py-cy) > 1e-9 {
				t.Errorf("%s %s: centre maps to (%v,%v), want (%v,%v)", name, pl, px, py, cx, cy)
			}
			x, y, n := brightCentroid(img, p.Rect)
			tol := 0.6 / p.PixelMM // 0.6 mm
			if n < 100 || math.Abs(x-cx-dx/p.PixelMM) > tol || math.Abs(y-cy-dy/p.PixelMM) > tol {
				t.Errorf("%s %s: ball at (%.1f, %.1f) px from the centre (%d px), want (%.1f, %.1f)",
					name, pl, x-cx, y-cy, n, dx/p.PixelMM, dy/p.PixelMM)
			}
			// The ring: radius (30/2 + 3) mm around the centre, clear of the ball.
			r := 18 / p.PixelMM
			if !isCircle(img, int(math.Round(cx+r)), int(math.Round(cy))) && !isCircle(img, int(math.Round(cx+r))-1, int(math.Round(cy))) {
				t.Errorf("%s %s: no ring pixel %.1f px right of the centre", name, pl, r)
			}
		}
	}
}

// TestPlaneSourceResolution renders a 0.7 mm grid whose columns alternate
// between lung and soft tissue (a 1.4 mm period): at the automatic pixel
// size the axial view must resolve every stripe, which a 1 mm display
// grid could not.
func TestPlaneSourceResolution(t *testing.T) {
	g := volume.Grid{Dims: [3]int{100, 100, 10}, Spacing: volume.Vec3{0.7, 0.7, 2}, Origin: volume.Vec3{-35, -35, -10}, Direction: volume.Identity}
	v := volume.New[int16](g)
	for k := 0; k < g.Dims[2]; k++ {
		for j := 0; j < g.Dims[1]; j++ {
			for i := 0; i < g.Dims[0]; i++ {
				hu := int16(-850)
				if i%2 == 0 {
					hu = 100
				}
				v.Set(i, j, k, hu)
			}
		}
	}
	img, p, err := PlaneImage(v, volume.Vec3{0, 0, 0}, Axial, PlaneOptions{FOVMM: 42})
	if err != nil {
		t.Fatal(err)
	}
	if p.PixelMM > 0.7/2 {
		t.Fatalf("pixel %g mm: coarser than half the source spacing", p.PixelMM)
	}
	row := p.Rect.Min.Y + p.Rect.Dy()/2
	peaks := 0
	for x := p.Rect.Min.X + 1; x < p.Rect.Max.X-1; x++ {
		a, b, c := img.RGBAAt(x-1, row).R, img.RGBAAt(x, row).R, img.RGBAAt(x+1, row).R
		if b > a && b >= c && b > 150 {
			peaks++
		}
	}
	if want := 42 / 1.4; math.Abs(float64(peaks)-want) > 2 {
		t.Errorf("%d bright stripes across the view, want about %.0f", peaks, want)
	}
	// Explicit pixel size is obeyed, and the mediastinal window shows
	// soft tissue grey and lung black.
	img, p, err = PlaneImage(v, volume.Vec3{0, 0, 0}, Axial, PlaneOptions{FOVMM: 42, PixelMM: 0.35, Window: MediastinumWindow})
	if err != nil || p.PixelMM != 0.35 || p.Rect.Dx() != 121 || p.Rect.Min.Y != 0 {
		t.Fatalf("explicit pixel: %v %+v", err, p)
	}
	if c := img.RGBAAt(p.Rect.Min.X+60, p.Rect.Min.Y+60); c.R != 171 {
		// world x = 0 is index 50: soft tissue; (100−(40−175))/350·255 = 171.
		t.Errorf("soft tissue in the mediastinal window: %v, want grey 171", c)
	}
	if c := img.RGBAAt(p.Rect.Min.X+62, p.Rect.Min.Y+60); c.R != 0 {
		t.Errorf("lung in the mediastinal window: %v, want black", c)
	}
}

func TestPlanePNGAndErrors(t *testing.T) {
	g := volume.Grid{Dims: [3]int{20, 20, 20}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	v := phantom(g)
	b, p, err := PlanePNG(v, volume.Vec3{10, 10, 10}, Coronal, PlaneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	im, err := png.Decode(bytes.NewReader(b))
	if err != nil || im.Bounds() != p.Rect || p.Name != "coronal" {
		t.Fatalf("decode: %v %v vs %v", err, im.Bounds(), p.Rect)
	}
	if _, _, err := PlaneImage(&volume.Volume[int16]{}, volume.Vec3{}, Axial, PlaneOptions{}); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty volume: %v", err)
	}
	if _, _, err := PlaneImage(nil, volume.Vec3{}, Axial, PlaneOptions{}); !errors.Is(err, ErrEmpty) {
		t.Errorf("nil volume: %v", err)
	}
	bad := []struct {
		c   volume.Vec3
		pl  Plane
		opt PlaneOptions
	}{
		{volume.Vec3{math.NaN(), 0, 0}, Axial, PlaneOptions{}},
		{volume.Vec3{0, math.Inf(-1), 0}, Axial, PlaneOptions{}},
		{volume.Vec3{}, Plane(7), PlaneOptions{}},
		{volume.Vec3{}, Axial, PlaneOptions{PixelMM: 1e-4}},
		{volume.Vec3{}, Axial, PlaneOptions{FOVMM: 5, PixelMM: 1}},
	}
	for i, c := range bad {
		if _, _, err := PlaneImage(v, c.c, c.pl, c.opt); err == nil {
			t.Errorf("case %d: accepted", i)
		}
	}
	if s := Plane(7).String(); s != "plane(7)" {
		t.Errorf("Plane(7) = %q", s)
	}
}

// TestRingMarginMM pins the one margin default that snapshots, overviews
// and plane views share: 0 and NaN are 3 mm, negative is none.
func TestRingMarginMM(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{{0, 3}, {math.NaN(), 3}, {-2, 0}, {1.5, 1.5}} {
		if got := ringMarginMM(c.in); got != c.want {
			t.Errorf("ringMarginMM(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if got := (SnapshotOptions{MarginMM: -1}).withDefaults().MarginMM; got != 0 {
		t.Errorf("SnapshotOptions{MarginMM: -1} margin %v, want 0", got)
	}
}
