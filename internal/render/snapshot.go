package render

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

// SnapshotOptions control Snapshot. Zero values mean the defaults.
type SnapshotOptions struct {
	// FOVMM is the side in mm of each square view (default 80).
	FOVMM float64
	// PixelMM is the display pixel size in mm. 0 (the default) follows the
	// volume's grid as PlaneOptions does, aiming at 320 pixels per view:
	// 0.25 mm (321 px per 80 mm view) on a 1 mm grid, 0.7/3 ≈ 0.23 mm on a
	// 0.7 mm DICOM stack, so a source-grid volume shows its own detail.
	PixelMM float64
	// Window maps HU to grey (default LungWindow, W 1500 L −600).
	Window Window
	// MarginMM is added to the candidate's radius for the circle (0: the
	// default 3 mm; negative: none): circle radius = DiameterMM/2 + MarginMM.
	MarginMM float64
	// DefaultDiameterMM is used when the candidate has no diameter (NaN or
	// ≤ 0, as in a plain LUNA16 submission); default 10 mm.
	DefaultDiameterMM float64
	// Title is an optional first text line (e.g. "rank 3 of 12").
	Title string
}

func (o SnapshotOptions) withDefaults() SnapshotOptions {
	if !(o.FOVMM > 0) {
		o.FOVMM = 80
	}
	o.Window = o.Window.orDefault()
	o.MarginMM = ringMarginMM(o.MarginMM)
	if !(o.DefaultDiameterMM > 0) {
		o.DefaultDiameterMM = 10
	}
	return o
}

// ringMarginMM is a circle's clearance (mm) beyond a finding's radius as
// SnapshotOptions.MarginMM and PlaneOptions.RingMarginMM read it: 0 or NaN
// means the default 3 mm, a negative value none.
func ringMarginMM(m float64) float64 {
	switch {
	case m == 0 || math.IsNaN(m):
		return 3
	case m < 0:
		return 0
	}
	return m
}

func diameter(c candidate.Candidate, def float64) float64 {
	if d := c.DiameterMM; d > 0 && !math.IsInf(d, 0) {
		return d
	}
	return def
}

// Display axes (LPS unit vectors along image +column, +row) of the three
// views; see the package comment.
var (
	axialRight, axialDown       = volume.Vec3{1, 0, 0}, volume.Vec3{0, 1, 0}
	coronalRight, coronalDown   = volume.Vec3{1, 0, 0}, volume.Vec3{0, 0, -1}
	sagittalRight, sagittalDown = volume.Vec3{0, 1, 0}, volume.Vec3{0, 0, -1}
)

const (
	gap        = 4  // pixels between views
	lineHeight = 16 // text line height in pixels
)

// snapshotMinPixels is the view side the automatic snapshot pixel size aims
// for (see SnapshotOptions.PixelMM).
const snapshotMinPixels = 320

// SnapshotImage renders the axial, coronal and sagittal slices through the
// candidate centre c.World (LPS mm), side by side, each FOVMM wide around
// it, sampled trilinearly from hu's own grid (the acquisition grid or the
// 1 mm resample, whichever is given), with the candidate circled and text
// lines (title, score, diameter, world position, and the measurements and
// risk scores when the candidate has them) above. It returns the image and
// the three panels.
func SnapshotImage(hu *volume.Volume[int16], c candidate.Candidate, opt SnapshotOptions) (*image.RGBA, []Panel, error) {
	s, err := newSampler(hu)
	if err != nil {
		return nil, nil, err
	}
	for _, x := range c.World {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, nil, fmt.Errorf("render: candidate position %v is not finite", c.World)
		}
	}
	opt = opt.withDefaults()
	if !(opt.PixelMM > 0) {
		opt.PixelMM = planePixelMM(hu.Grid, PlaneOptions{FOVMM: opt.FOVMM, MinPixels: snapshotMinPixels})
	}
	half := int(math.Round(opt.FOVMM / opt.PixelMM / 2))
	if half < 8 || half > 4096 {
		return nil, nil, fmt.Errorf("render: view of %g mm at %g mm/pixel is %d pixels wide (want 17 … 8193)", opt.FOVMM, opt.PixelMM, 2*half+1)
	}
	n := 2*half + 1 // odd: the candidate sits on the centre pixel
	var lines []string
	if opt.Title != "" {
		lines = append(lines, opt.Title)
	}
	dia := diameter(c, opt.DefaultDiameterMM)
	dtxt := fmt.Sprintf("diameter %.1f mm", c.DiameterMM)
	if dia != c.DiameterMM {
		dtxt = fmt.Sprintf("diameter unknown (circle for %.0f mm)", dia)
	}
	if c.SeriesUID != "" {
		lines = append(lines, c.SeriesUID)
	}
	lines = append(lines, fmt.Sprintf("score %.4f  %s  LPS (%.1f, %.1f, %.1f) mm", c.Probability, dtxt, c.World[0], c.World[1], c.World[2]))
	if !math.IsNaN(c.Malignancy) && c.Malignancy != 0 {
		lines[len(lines)-1] += fmt.Sprintf("  malignancy %.3f", c.Malignancy)
	}
	if m := measuredLine(c); m != "" {
		lines = append(lines, m)
	}
	header := lineHeight*(len(lines)+1) + 4 // + the views' names
	W := 3*n + 4*gap
	H := header + n + gap
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	fill(img, img.Rect, color.RGBA{24, 24, 24, 255})
	for i, l := range lines {
		text(img, gap, 13+lineHeight*i, l, color.RGBA{235, 235, 235, 255})
	}
	axes := []struct {
		name        string
		right, down volume.Vec3
	}{{"axial", axialRight, axialDown}, {"coronal", coronalRight, coronalDown}, {"sagittal", sagittalRight, sagittalDown}}
	var panels []Panel
	r := (dia/2 + opt.MarginMM) / opt.PixelMM
	for i, a := range axes {
		x0 := gap + i*(n+gap)
		p := Panel{Name: a.name, Rect: image.Rect(x0, header, x0+n, header+n), Right: a.right, Down: a.down, PixelMM: opt.PixelMM}
		for k := 0; k < 3; k++ {
			p.World0[k] = c.World[k] - float64(half)*opt.PixelMM*(a.right[k]+a.down[k])
		}
		slicePanel(img, s, p, opt.Window)
		cx, cy := p.Pixel(c.World)
		circle(img, p.Rect, cx, cy, r, CircleColor)
		decorate(img, p)
		panels = append(panels, p)
	}
	return img, panels, nil
}

// measuredLine describes a measured candidate: type, axes (mm), Lung-RADS
// and the Brock and CNN probabilities; "" when it was not measured.
func measuredLine(c candidate.Candidate) string {
	if c.Type == "" {
		return ""
	}
	s := fmt.Sprintf("%s  %.1f x %.1f mm", c.Type, c.LongAxisMM, c.ShortAxisMM)
	if c.LungRADS != "" {
		s += "  Lung-RADS " + c.LungRADS
	}
	if !math.IsNaN(c.Brock) {
		s += fmt.Sprintf("  Brock %.3f", c.Brock)
	}
	if !math.IsNaN(c.CNN) {
		s += fmt.Sprintf("  CNN %.3f", c.CNN)
	}
	return s
}

// slicePanel fills p.Rect with the planar slice of s through p (trilinear,
// windowed), in parallel over rows.
func slicePanel(img *image.RGBA, s *sampler, p Panel, w Window) {
	base := s.index(p.World0)
	dc := s.step(volume.Vec3{p.Right[0] * p.PixelMM, p.Right[1] * p.PixelMM, p.Right[2] * p.PixelMM})
	dr := s.step(volume.Vec3{p.Down[0] * p.PixelMM, p.Down[1] * p.PixelMM, p.Down[2] * p.PixelMM})
	rows := p.Rect.Dy()
	parallelRows(rows, func(y int) {
		for x := 0; x < p.Rect.Dx(); x++ {
			var idx volume.Vec3
			for k := 0; k < 3; k++ {
				idx[k] = base[k] + float64(x)*dc[k] + float64(y)*dr[k]
			}
			g := w.gray(s.trilinear(idx))
			img.SetRGBA(p.Rect.Min.X+x, p.Rect.Min.Y+y, color.RGBA{g, g, g, 255})
		}
	})
}

// parallelRows runs f(y) for y in [0, rows) in contiguous chunks under
// par's worker budget.
func parallelRows(rows int, f func(y int)) {
	par.Chunks(rows, 8, func(_, lo, hi int) {
		for y := lo; y < hi; y++ {
			f(y)
		}
	})
}

// Snapshot writes SnapshotImage's picture of candidate c to path as PNG
// (atomic).
func Snapshot(hu *volume.Volume[int16], c candidate.Candidate, path string, opt SnapshotOptions) error {
	img, _, err := SnapshotImage(hu, c, opt)
	if err != nil {
		return fmt.Errorf("render: snapshot %s: %w", path, err)
	}
	return writePNG(path, img)
}
