package render

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/lungctl/lungctl/internal/candidate"
	"github.com/lungctl/lungctl/internal/volume"
)

// OverviewOptions control Overview. Zero values mean the defaults.
type OverviewOptions struct {
	// PixelMM is the display pixel size in mm (default 1).
	PixelMM float64
	// Window maps HU to grey (default LungWindow).
	Window Window
	// TopK is how many candidates (highest Probability first, or the
	// first ones when Ordered) are marked and listed (default 10;
	// negative: all).
	TopK int
	// Ordered takes the candidates in the order given (e.g. by
	// malignancy) instead of sorting them by Probability.
	Ordered bool
	// Numbers, when set with Ordered, is the number drawn beside and
	// listed for each candidate (e.g. its detection rank, the label other
	// files give it); default: its position, 1 first.
	Numbers []int
	// MarginMM and DefaultDiameterMM size the circles as in
	// SnapshotOptions (defaults 3 mm and 10 mm).
	MarginMM          float64
	DefaultDiameterMM float64
	// Title is an optional first text line (e.g. the series UID).
	Title string
}

// OverviewImage renders a coronal and an axial maximum-intensity
// projection of hu over the volume's whole world extent (coronal: along LPS
// y, head up; axial: along LPS z, anterior up; patient's right on the image
// left in both). When mask is non-nil only voxels with mask ≠ 0 (the lungs)
// take part, so vessels and nodules stand out instead of ribs; rays that
// meet no mask voxel are black. The TopK candidates by Probability are
// circled (radius DiameterMM/2 + MarginMM) and numbered by rank, and listed
// under the projections. mask must share hu's grid (ErrGridMismatch).
func OverviewImage(hu *volume.Volume[int16], mask *volume.Volume[uint8], cs []candidate.Candidate, opt OverviewOptions) (*image.RGBA, []Panel, error) {
	s, err := newSampler(hu)
	if err != nil {
		return nil, nil, err
	}
	if mask != nil {
		if err := sameGrid(hu.Grid, mask.Grid); err != nil {
			return nil, nil, err
		}
		if len(mask.Data) != len(hu.Data) {
			return nil, nil, fmt.Errorf("%w: %d mask voxels for %d", ErrGridMismatch, len(mask.Data), len(hu.Data))
		}
	}
	if !(opt.PixelMM > 0) {
		opt.PixelMM = 1
	}
	opt.Window = opt.Window.orDefault()
	sopt := SnapshotOptions{MarginMM: opt.MarginMM, DefaultDiameterMM: opt.DefaultDiameterMM}.withDefaults()
	if opt.TopK == 0 {
		opt.TopK = 10
	}
	top := append([]candidate.Candidate(nil), cs...)
	if !opt.Ordered {
		candidate.SortByProbability(top)
	}
	if opt.TopK > 0 && len(top) > opt.TopK {
		top = top[:opt.TopK]
	}

	lo, hi := worldBounds(hu.Grid)
	pix := opt.PixelMM
	npx := func(a int) int { return max(1, int(math.Ceil((hi[a]-lo[a])/pix))) }
	nx, ny, nz := npx(0), npx(1), npx(2)
	if nx*max(ny, nz) > 1<<24 {
		return nil, nil, fmt.Errorf("render: overview of %.0f×%.0f×%.0f mm at %g mm/pixel is too large", hi[0]-lo[0], hi[1]-lo[1], hi[2]-lo[2], pix)
	}
	mid := func(a int) float64 { return (lo[a] + hi[a]) / 2 }

	W := max(3*gap+2*nx, 560) // room for the text lines
	// A long title (a DICOM series UID and a note) is wrapped to the
	// image's width rather than cut off at its edge.
	var lines []string
	if opt.Title != "" {
		lines = wrapText(opt.Title, W-2*gap)
	}
	what := "MIP"
	if mask != nil {
		what = "MIP within the lung mask"
	}
	lines = append(lines, wrapText(fmt.Sprintf("%s, %d candidates, top %d marked", what, len(cs), len(top)), W-2*gap)...)
	header := lineHeight*(len(lines)+1) + 4 // + the views' names
	footer := lineHeight*len(top) + 4

	cor := Panel{Name: "coronal MIP", Rect: image.Rect(gap, header, gap+nx, header+nz), Right: coronalRight, Down: coronalDown, PixelMM: pix,
		World0: volume.Vec3{lo[0] + pix/2, mid(1), hi[2] - pix/2}}
	ax := Panel{Name: "axial MIP", Rect: image.Rect(2*gap+nx, header, 2*gap+2*nx, header+ny), Right: axialRight, Down: axialDown, PixelMM: pix,
		World0: volume.Vec3{lo[0] + pix/2, lo[1] + pix/2, mid(2)}}
	H := header + max(ny, nz) + gap + footer
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	fill(img, img.Rect, color.RGBA{24, 24, 24, 255})
	for i, l := range lines {
		text(img, gap, 13+lineHeight*i, l, color.RGBA{235, 235, 235, 255})
	}
	var msk []uint8
	if mask != nil {
		msk = mask.Data
	}
	// Depth: coronal projects along +y over [lo1, hi1], axial along +z.
	// Nearest-neighbour steps of the smallest spacing visit every voxel of
	// an axis-aligned grid; oblique grids get half steps so none is skipped.
	step := math.Min(hu.Spacing[0], math.Min(hu.Spacing[1], hu.Spacing[2]))
	if !axisAligned(hu.Direction) {
		step /= 2
	}
	if hu.Direction == volume.Identity && !slowMIP {
		pc, pa := axisMIPs(hu, msk)
		projPanel(img, s, pc, cor, 0, 2, opt.Window)
		projPanel(img, s, pa, ax, 0, 1, opt.Window)
	} else {
		mipPanel(img, s, msk, cor, volume.Vec3{0, 1, 0}, lo[1], hi[1], step, opt.Window)
		mipPanel(img, s, msk, ax, volume.Vec3{0, 0, 1}, lo[2], hi[2], step, opt.Window)
	}

	marks := overviewMarks{top: top, opt: opt, sopt: sopt}
	for _, p := range []Panel{cor, ax} {
		decorate(img, p)
		marks.draw(img, p)
	}
	marks.list(img, header+max(ny, nz)+gap)
	return img, []Panel{cor, ax}, nil
}

// slowMIP forces the ray-by-ray projection (for the tests that compare the
// two).
var slowMIP = false

// overviewMarks draws the overview's candidates: circles and numbers on
// each projection, and the list under them.
type overviewMarks struct {
	top  []candidate.Candidate
	opt  OverviewOptions
	sopt SnapshotOptions
}

// num is the number shown for the candidate at position rank.
func (m overviewMarks) num(rank int) int {
	if m.opt.Ordered && rank < len(m.opt.Numbers) {
		return m.opt.Numbers[rank]
	}
	return rank + 1
}

// draw circles and numbers the candidates on panel p.
func (m overviewMarks) draw(img *image.RGBA, p Panel) {
	for rank, c := range m.top {
		x, y := p.Pixel(c.World)
		r := (diameter(c, m.sopt.DefaultDiameterMM)/2 + m.sopt.MarginMM) / p.PixelMM
		circle(img, p.Rect, x, y, r, CircleColor)
		lx, ly := int(math.Round(x+0.72*r+2)), int(math.Round(y-0.72*r))
		if (image.Point{lx, ly}).In(p.Rect) {
			text(img, lx, ly, fmt.Sprint(m.num(rank)), TextColor)
		}
	}
}

// list writes one line per candidate from pixel row y0 down: number,
// detection score, diameter (mm), LPS position (mm), malignancy.
func (m overviewMarks) list(img *image.RGBA, y0 int) {
	for rank, c := range m.top {
		d := "?"
		if c.DiameterMM > 0 {
			d = fmt.Sprintf("%.1f", c.DiameterMM)
		}
		l := fmt.Sprintf("%2d  score %.4f  diameter %s mm  LPS (%.1f, %.1f, %.1f)",
			m.num(rank), c.Probability, d, c.World[0], c.World[1], c.World[2])
		if !math.IsNaN(c.Malignancy) {
			l += fmt.Sprintf("  malignancy %.3f", c.Malignancy)
		}
		text(img, gap, y0+13+lineHeight*rank, l, TextColor)
	}
}

// mipPanel fills p.Rect with the maximum along world direction dir (unit,
// LPS) of the nearest-neighbour samples taken every step mm from depth lo
// to hi (world coordinate along dir), counting only voxels inside the
// volume and, when msk is non-nil, with msk ≠ 0.
func mipPanel(img *image.RGBA, s *sampler, msk []uint8, p Panel, dir volume.Vec3, lo, hi, step float64, w Window) {
	// World point of pixel (0,0) at depth lo.
	start := p.World0
	depth0 := dot(start, dir)
	for k := 0; k < 3; k++ {
		start[k] += (lo + step/2 - depth0) * dir[k]
	}
	base := s.index(start)
	dc := s.step(volume.Vec3{p.Right[0] * p.PixelMM, p.Right[1] * p.PixelMM, p.Right[2] * p.PixelMM})
	dr := s.step(volume.Vec3{p.Down[0] * p.PixelMM, p.Down[1] * p.PixelMM, p.Down[2] * p.PixelMM})
	dd := s.step(volume.Vec3{dir[0] * step, dir[1] * step, dir[2] * step})
	nsteps := int(math.Ceil((hi - lo) / step))
	data := s.v.Data
	nx, ny, nz := s.v.Dims[0], s.v.Dims[1], s.v.Dims[2]
	parallelRows(p.Rect.Dy(), func(y int) {
		for x := 0; x < p.Rect.Dx(); x++ {
			var idx volume.Vec3
			for k := 0; k < 3; k++ {
				idx[k] = base[k] + float64(x)*dc[k] + float64(y)*dr[k]
			}
			best := int16(math.MinInt16)
			found := false
			for t := 0; t < nsteps; t++ {
				i := int(math.Floor(idx[0] + 0.5))
				j := int(math.Floor(idx[1] + 0.5))
				k := int(math.Floor(idx[2] + 0.5))
				idx[0] += dd[0]
				idx[1] += dd[1]
				idx[2] += dd[2]
				if i < 0 || j < 0 || k < 0 || i >= nx || j >= ny || k >= nz {
					continue
				}
				o := i + nx*(j+ny*k)
				if msk != nil && msk[o] == 0 {
					continue
				}
				if v := data[o]; !found || v > best {
					best, found = v, true
				}
			}
			hu := float64(OutsideHU)
			if found {
				hu = float64(best)
			}
			g := w.gray(hu)
			img.SetRGBA(p.Rect.Min.X+x, p.Rect.Min.Y+y, color.RGBA{g, g, g, 255})
		}
	})
}

// worldBounds returns the LPS bounding box (mm) of the volume's voxels,
// edges included.
func worldBounds(g volume.Grid) (lo, hi volume.Vec3) {
	for a := 0; a < 3; a++ {
		lo[a], hi[a] = math.Inf(1), math.Inf(-1)
	}
	for c := 0; c < 8; c++ {
		idx := volume.Vec3{-0.5, -0.5, -0.5}
		for a := 0; a < 3; a++ {
			if c&(1<<a) != 0 {
				idx[a] = float64(g.Dims[a]) - 0.5
			}
		}
		w := g.IndexToWorld(idx)
		for a := 0; a < 3; a++ {
			lo[a] = math.Min(lo[a], w[a])
			hi[a] = math.Max(hi[a], w[a])
		}
	}
	return lo, hi
}

func sameGrid(a, b volume.Grid) error {
	if a.Dims != b.Dims {
		return fmt.Errorf("%w: dims %v vs %v", ErrGridMismatch, a.Dims, b.Dims)
	}
	for r := 0; r < 3; r++ {
		if math.Abs(a.Origin[r]-b.Origin[r]) > 1e-3 || math.Abs(a.Spacing[r]-b.Spacing[r]) > 1e-4 {
			return fmt.Errorf("%w: origin %v / %v mm, spacing %v / %v mm", ErrGridMismatch, a.Origin, b.Origin, a.Spacing, b.Spacing)
		}
		for c := 0; c < 3; c++ {
			if math.Abs(a.Direction[r][c]-b.Direction[r][c]) > 1e-4 {
				return fmt.Errorf("%w: direction differs", ErrGridMismatch)
			}
		}
	}
	return nil
}

// Overview writes OverviewImage's picture to path as PNG (atomic).
func Overview(hu *volume.Volume[int16], mask *volume.Volume[uint8], cs []candidate.Candidate, path string, opt OverviewOptions) error {
	img, _, err := OverviewImage(hu, mask, cs, opt)
	if err != nil {
		return fmt.Errorf("render: overview %s: %w", path, err)
	}
	return writePNG(path, img)
}

// axisAligned reports whether every grid axis runs along ± one LPS axis.
func axisAligned(d [3][3]float64) bool {
	for c := 0; c < 3; c++ {
		n := 0
		for r := 0; r < 3; r++ {
			if math.Abs(d[r][c]) > 1e-6 {
				n++
			}
		}
		if n != 1 {
			return false
		}
	}
	return true
}
