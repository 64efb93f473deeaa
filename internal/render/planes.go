package render

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"

	"github.com/lungctl/lungctl/internal/volume"
)

// Plane is one of the three orthogonal views, oriented as the package
// comment says (radiological convention).
type Plane int

// The three views.
const (
	Axial Plane = iota
	Coronal
	Sagittal
)

// AllPlanes lists the views in the order reports show them.
var AllPlanes = []Plane{Axial, Coronal, Sagittal}

// String is the view's name: "axial", "coronal" or "sagittal".
func (p Plane) String() string {
	switch p {
	case Axial:
		return "axial"
	case Coronal:
		return "coronal"
	case Sagittal:
		return "sagittal"
	}
	return fmt.Sprintf("plane(%d)", int(p))
}

// axes returns the LPS unit vectors along image +column and +row.
func (p Plane) axes() (right, down volume.Vec3, ok bool) {
	switch p {
	case Axial:
		return axialRight, axialDown, true
	case Coronal:
		return coronalRight, coronalDown, true
	case Sagittal:
		return sagittalRight, sagittalDown, true
	}
	return right, down, false
}

// PlaneOptions control PlaneImage. Zero values mean the defaults.
type PlaneOptions struct {
	// FOVMM is the side in mm of the square view (default 60).
	FOVMM float64
	// PixelMM is the display pixel size in mm. 0 (the default) makes it
	// follow the source grid: its finest voxel spacing divided by the
	// smallest whole zoom (1 … 8) that makes the view at least MinPixels
	// wide, so a 0.7 mm DICOM stack shows its own detail (0.7/3 ≈ 0.23 mm
	// pixels for a 60 mm view) and a 1 mm resampled volume shows 1 mm
	// detail, never a fixed look.
	PixelMM float64
	// MinPixels is the smallest view side in pixels the automatic PixelMM
	// aims for (default 256).
	MinPixels int
	// Window maps HU to grey (default LungWindow, W 1500 L −600 HU).
	Window Window
	// RingDiameterMM, when > 0, draws a ring around the centre of radius
	// RingDiameterMM/2 + RingMarginMM (mm), e.g. the finding's diameter,
	// so the ring clears the lesion's margin instead of covering it.
	RingDiameterMM float64
	// RingMarginMM is the ring's clearance in mm (0: 3 mm; negative: none).
	RingMarginMM float64
	// Title, when not empty, is drawn in a text line above the view.
	Title string
}

// maxPlanePixels caps a view's side so a tiny PixelMM cannot ask for an
// enormous image.
const maxPlanePixels = 4097

// FinestSpacing is the smallest of the grid's three voxel spacings (mm).
func FinestSpacing(g volume.Grid) float64 {
	return math.Min(g.Spacing[0], math.Min(g.Spacing[1], g.Spacing[2]))
}

// planePixelMM is the display pixel size PlaneImage uses (see
// PlaneOptions.PixelMM).
func planePixelMM(g volume.Grid, o PlaneOptions) float64 {
	if o.PixelMM > 0 {
		return o.PixelMM
	}
	fine := FinestSpacing(g)
	zoom := math.Ceil(float64(o.MinPixels) / (o.FOVMM / fine))
	return fine / math.Max(1, math.Min(8, zoom))
}

// PlaneImage renders one view (plane) of hu through the LPS world point
// centre (mm): a square FOVMM wide, sampled trilinearly from hu's own grid
// (any spacing, any direction matrix, sheared included) at PixelMM per
// pixel, windowed, with orientation letters, a 10 mm scale bar, the
// optional ring around the centre and the optional title line. The centre
// sits on the middle pixel. Where the view leaves the volume it is black.
// The returned Panel maps world points to the image's pixels.
func PlaneImage(hu *volume.Volume[int16], centre volume.Vec3, plane Plane, opt PlaneOptions) (*image.RGBA, Panel, error) {
	s, err := newSampler(hu)
	if err != nil {
		return nil, Panel{}, err
	}
	right, down, ok := plane.axes()
	if !ok {
		return nil, Panel{}, fmt.Errorf("render: unknown plane %d", int(plane))
	}
	for _, x := range centre {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, Panel{}, fmt.Errorf("render: view centre %v mm is not finite", centre)
		}
	}
	if !(opt.FOVMM > 0) || math.IsInf(opt.FOVMM, 0) {
		opt.FOVMM = 60
	}
	if opt.MinPixels <= 0 {
		opt.MinPixels = 256
	}
	opt.Window = opt.Window.orDefault()
	opt.RingMarginMM = ringMarginMM(opt.RingMarginMM)
	pix := planePixelMM(hu.Grid, opt)
	halfF := math.Round(opt.FOVMM / pix / 2)
	if !(halfF >= 8) || halfF > (maxPlanePixels-1)/2 {
		return nil, Panel{}, fmt.Errorf("render: view of %g mm at %g mm/pixel is %.0f pixels wide (want 17 … %d)", opt.FOVMM, pix, 2*halfF+1, maxPlanePixels)
	}
	half := int(halfF)
	n := 2*half + 1
	header := 0
	if opt.Title != "" {
		header = lineHeight + 4
	}
	img := image.NewRGBA(image.Rect(0, 0, n, header+n))
	fill(img, img.Rect, color.RGBA{24, 24, 24, 255})
	if opt.Title != "" {
		text(img, 2, 14, opt.Title, color.RGBA{235, 235, 235, 255})
	}
	p := Panel{Name: plane.String(), Rect: image.Rect(0, header, n, header+n), Right: right, Down: down, PixelMM: pix}
	for k := 0; k < 3; k++ {
		p.World0[k] = centre[k] - float64(half)*pix*(right[k]+down[k])
	}
	slicePanel(img, s, p, opt.Window)
	if d := opt.RingDiameterMM; d > 0 && !math.IsInf(d, 0) {
		cx, cy := p.Pixel(centre)
		circle(img, p.Rect, cx, cy, (d/2+opt.RingMarginMM)/pix, CircleColor)
	}
	unnamed := p
	unnamed.Name = "" // the title line, if any, names the view
	decorate(img, unnamed)
	return img, p, nil
}

// PlanePNG is PlaneImage encoded as PNG bytes (for embedding, e.g. in an
// HTML report).
func PlanePNG(hu *volume.Volume[int16], centre volume.Vec3, plane Plane, opt PlaneOptions) ([]byte, Panel, error) {
	img, p, err := PlaneImage(hu, centre, plane, opt)
	if err != nil {
		return nil, Panel{}, err
	}
	b, err := EncodePNG(img)
	return b, p, err
}

// EncodePNG encodes img as PNG bytes (default compression: embedded
// images are kept small).
func EncodePNG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.DefaultCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("render: encode PNG: %w", err)
	}
	return buf.Bytes(), nil
}
