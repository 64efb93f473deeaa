// Package render draws the pictures people look at: a three-view snapshot of
// one candidate and a per-scan maximum-intensity-projection overview with the
// candidates marked. Every PNG is written atomically.
//
// Display conventions (radiological, as PACS viewers show CT):
//   - Axial: seen from the patient's feet. The patient's RIGHT is on the
//     image LEFT: image +column = LPS +x (towards the patient's left),
//     image +row = LPS +y (posterior), so anterior is up.
//   - Coronal: seen from the front. Image +column = LPS +x (patient's right
//     on the image left), image +row = LPS −z (head up).
//   - Sagittal: seen from the patient's left side. Image +column = LPS +y
//     (anterior on the image left, posterior right), image +row = LPS −z
//     (head up).
//
// Each view carries orientation letters at its edges (R/L, A/P, S/I) and a
// 10 mm scale bar. Views are resampled (trilinear) on a square display grid
// in world mm, so any voxel spacing and any direction matrix (oblique or
// sheared grids) are shown with correct proportions.
package render

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/lungctl/lungctl/internal/atomicfile"
	"github.com/lungctl/lungctl/internal/volume"
)

// Window maps Hounsfield units to grey: Level−Width/2 is black,
// Level+Width/2 white (HU).
type Window struct {
	Width, Level float64
}

// LungWindow is the usual lung window, W 1500 L −600 HU.
var LungWindow = Window{Width: 1500, Level: -600}

// CircleColor is the colour of the circles drawn around candidates (no grey
// pixel of the CT image has it, since R ≠ G).
var CircleColor = color.RGBA{255, 48, 48, 255}

// TextColor is the colour of the labels.
var TextColor = color.RGBA{255, 220, 0, 255}

// OutsideHU is the value shown where a view leaves the volume (black in
// any usual window).
const OutsideHU = -3024

// ErrGridMismatch is returned when a mask's grid differs from the volume's.
var ErrGridMismatch = errors.New("render: mask grid differs from the volume grid")

// ErrEmpty is returned for a volume without voxels or an invalid grid.
var ErrEmpty = errors.New("render: empty or invalid volume")

// Panel describes one view inside a rendered image, so callers (and tests)
// can map world points to image pixels.
type Panel struct {
	// Name is "axial", "coronal" or "sagittal" (suffixed " MIP" in
	// overviews).
	Name string
	// Rect is the view's pixel rectangle in the image.
	Rect image.Rectangle
	// World0 is the LPS world point (mm) at the centre of pixel Rect.Min
	// (for a projection, its coordinate along the projection axis is the
	// centre of the projected range).
	World0 volume.Vec3
	// Right and Down are the LPS unit vectors along image +column and +row.
	Right, Down volume.Vec3
	// PixelMM is the pixel size in mm.
	PixelMM float64
}

// Pixel returns the continuous image coordinates (x = column, y = row, in
// pixels of the whole image, integer values at pixel centres) of world
// point w projected on the panel's plane.
func (p Panel) Pixel(w volume.Vec3) (x, y float64) {
	d := volume.Vec3{w[0] - p.World0[0], w[1] - p.World0[1], w[2] - p.World0[2]}
	x = float64(p.Rect.Min.X) + dot(d, p.Right)/p.PixelMM
	y = float64(p.Rect.Min.Y) + dot(d, p.Down)/p.PixelMM
	return x, y
}

func dot(a, b volume.Vec3) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }

// gray converts HU to an 8-bit grey level through w.
func (w Window) gray(hu float64) uint8 {
	lo := w.Level - w.Width/2
	g := (hu - lo) / w.Width * 255
	switch {
	case !(g > 0):
		return 0
	case g >= 255:
		return 255
	}
	return uint8(g + 0.5)
}

func (w Window) orDefault() Window {
	if !(w.Width > 0) {
		return LungWindow
	}
	return w
}

// sampler reads a volume at world points by trilinear interpolation.
type sampler struct {
	v   *volume.Volume[int16]
	inv [3][3]float64 // world offset → continuous index
}

func newSampler(v *volume.Volume[int16]) (*sampler, error) {
	if v == nil || v.Check() != nil {
		if v == nil {
			return nil, ErrEmpty
		}
		return nil, fmt.Errorf("%w: %w", ErrEmpty, v.Check())
	}
	s := &sampler{v: v}
	m := volume.Inverse3(v.Direction)
	for r := 0; r < 3; r++ {
		for c := 0; c < 3; c++ {
			s.inv[r][c] = m[r][c] / v.Spacing[r]
		}
	}
	return s, nil
}

// index maps a world point to a continuous voxel index.
func (s *sampler) index(w volume.Vec3) volume.Vec3 {
	d := volume.Vec3{w[0] - s.v.Origin[0], w[1] - s.v.Origin[1], w[2] - s.v.Origin[2]}
	var idx volume.Vec3
	for r := 0; r < 3; r++ {
		idx[r] = s.inv[r][0]*d[0] + s.inv[r][1]*d[1] + s.inv[r][2]*d[2]
	}
	return idx
}

// step maps a world direction (mm) to an index increment.
func (s *sampler) step(d volume.Vec3) volume.Vec3 {
	var idx volume.Vec3
	for r := 0; r < 3; r++ {
		idx[r] = s.inv[r][0]*d[0] + s.inv[r][1]*d[1] + s.inv[r][2]*d[2]
	}
	return idx
}

// trilinear samples at a continuous index (volume.Trilinear; outside the
// volume it reads OutsideHU).
func (s *sampler) trilinear(idx volume.Vec3) float64 { return s.v.Trilinear(idx, OutsideHU) }

// canvas helpers -----------------------------------------------------------

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// circle draws a ring of radius r pixels (about 1.5 px thick) centred on the
// continuous pixel position (cx, cy), clipped to clip.
func circle(img *image.RGBA, clip image.Rectangle, cx, cy, r float64, c color.RGBA) {
	clip = clip.Intersect(img.Rect)
	x0, x1 := int(math.Floor(cx-r-2)), int(math.Ceil(cx+r+2))
	y0, y1 := int(math.Floor(cy-r-2)), int(math.Ceil(cy+r+2))
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			if !(image.Point{x, y}).In(clip) {
				continue
			}
			d := math.Hypot(float64(x)-cx, float64(y)-cy)
			if math.Abs(d-r) <= 0.75 {
				img.SetRGBA(x, y, c)
			}
		}
	}
}

// text draws s with its baseline-left at (x, y), with a 1-px black shadow.
func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, o := range []struct {
		dx, dy int
		c      color.RGBA
	}{{1, 1, color.RGBA{0, 0, 0, 255}}, {0, 0, c}} {
		d := font.Drawer{Dst: img, Src: image.NewUniform(o.c), Face: basicfont.Face7x13,
			Dot: fixed.P(x+o.dx, y+o.dy)}
		d.DrawString(s)
	}
}

func textWidth(s string) int { return 7 * len(s) }

// wrapText splits s into lines of at most width pixels (textWidth), at
// spaces where it can; a word wider than a line (a DICOM UID in a narrow
// image) is cut into pieces of the line's width.
func wrapText(s string, width int) []string {
	n := max(1, width/textWidth("x"))
	var lines []string
	cur := ""
	for _, w := range strings.Fields(s) {
		for len(w) > n {
			if cur != "" {
				lines = append(lines, cur)
				cur = ""
			}
			lines, w = append(lines, w[:n]), w[n:]
		}
		switch {
		case cur == "":
			cur = w
		case len(cur)+1+len(w) <= n:
			cur += " " + w
		default:
			lines = append(lines, cur)
			cur = w
		}
	}
	if cur != "" || len(lines) == 0 {
		lines = append(lines, cur)
	}
	return lines
}

// orientationLetter names the patient direction of LPS vector v.
func orientationLetter(v volume.Vec3) string {
	a, best := 0, 0.0
	for i := 0; i < 3; i++ {
		if math.Abs(v[i]) > math.Abs(best) {
			a, best = i, v[i]
		}
	}
	pos := [3]string{"L", "P", "S"}
	neg := [3]string{"R", "A", "I"}
	if best > 0 {
		return pos[a]
	}
	return neg[a]
}

// decorate draws the panel's name (in the text line above the view),
// orientation letters and a 10 mm scale bar.
func decorate(img *image.RGBA, p Panel) {
	r := p.Rect
	text(img, r.Min.X, r.Min.Y-4, p.Name, color.RGBA{235, 235, 235, 255}) // in the line above the view
	neg := func(v volume.Vec3) volume.Vec3 { return volume.Vec3{-v[0], -v[1], -v[2]} }
	midY := (r.Min.Y + r.Max.Y) / 2
	midX := (r.Min.X + r.Max.X) / 2
	text(img, r.Min.X+3, midY+5, orientationLetter(neg(p.Right)), TextColor)
	text(img, r.Max.X-10, midY+5, orientationLetter(p.Right), TextColor)
	text(img, midX-3, r.Min.Y+12, orientationLetter(neg(p.Down)), TextColor)
	text(img, midX-3, r.Max.Y-4, orientationLetter(p.Down), TextColor)
	bar := int(math.Round(10 / p.PixelMM))
	if bar < r.Dx()/2 {
		y := r.Max.Y - 6
		fill(img, image.Rect(r.Max.X-8-bar, y, r.Max.X-8, y+2), TextColor)
		text(img, r.Max.X-8-textWidth("10 mm"), y-3, "10 mm", TextColor)
	}
}

func writePNG(path string, img image.Image) error {
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := atomicfile.Write(path, func(w io.Writer) error { return enc.Encode(w, img) }); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	return nil
}
