package report

import (
	"fmt"

	"github.com/lungctl/lungctl/internal/render"
	"github.com/lungctl/lungctl/internal/volume"
)

// DefaultWindows are the windows FindingImages uses when given none: lung
// (W 1500 L −600 HU), then mediastinum (W 350 L 40 HU).
var DefaultWindows = []render.Window{render.LungWindow, render.MediastinumWindow}

// FindingImages renders the axial, coronal and sagittal planes through
// centre (LPS mm) from hu, once per window (DefaultWindows when none), for
// Finding.Images: window by window, the three planes in a row. Pass the
// SOURCE volume (e.g. the DICOM stack with its own, possibly anisotropic
// or sheared, grid): render.PlaneImage then shows it at its own
// resolution. opt sets the view (FOVMM, PixelMM, ring); its Window and
// Title are set here. diameterMM > 0 rings the finding (radius
// diameter/2 + 3 mm). The captions name the plane, the window and the
// pixel size, e.g. "axial · lung W 1500 L -600 HU · 0.23 mm/px".
func FindingImages(hu *volume.Volume[int16], centre [3]float64, diameterMM float64, opt render.PlaneOptions, windows ...render.Window) ([]Image, error) {
	if len(windows) == 0 {
		windows = DefaultWindows
	}
	opt.RingDiameterMM = diameterMM
	opt.Title = ""
	var out []Image
	for _, w := range windows {
		if !(w.Width > 0) {
			w = render.LungWindow // as render does for the zero Window
		}
		opt.Window = w
		for _, pl := range render.AllPlanes {
			b, p, err := render.PlanePNG(hu, volume.Vec3(centre), pl, opt)
			if err != nil {
				return nil, fmt.Errorf("report: %s view at LPS %v mm: %w", pl, centre, err)
			}
			name := w.Name()
			if name != "" {
				name += " "
			}
			out = append(out, Image{Title: fmt.Sprintf("%s · %s%s HU · %.2f mm/px", pl, name, w, p.PixelMM), PNG: b})
		}
	}
	return out, nil
}
