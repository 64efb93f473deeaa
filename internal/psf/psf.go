// Package psf reads a CT scan's in-plane blur from the scan itself: the
// spread of the step from the air around the patient into the skin, where
// nothing but the scanner and its reconstruction kernel blurs a sharp
// edge. The acquisition's spacing and slice thickness give the rest of the
// blur model (internal/nodule); the kernel is in no header that every
// vendor fills the same way, and a soft kernel blurs twice as far as a
// sharp one.
package psf

import (
	"math"
	"slices"

	"github.com/lungctl/lungctl/internal/volume"
)

// Edge thresholds (HU): the air beside the body, the tissue inside its
// skin, and the level the edge is found at.
const (
	airMaxHU, airMinHU       = -900, -1050
	tissueMinHU, tissueMaxHU = -250, 150
	edgeHU                   = -500
	// flatAirHU, flatTissueHU: the spread (max − min, HU) the plateaus on
	// either side of an edge may have; a fold of clothing, the table or a
	// lung under thin skin makes them uneven.
	flatAirHU, flatTissueHU = 80, 150
)

// EdgeSigma returns the in-plane Gaussian σ (mm) of the body's air–skin
// edge in the HU volume hu (k along the head–foot axis), and how many
// edges it was read from; ok is false under minEdges. Each edge is the
// first voxel at or above edgeHU from either end of a row (x) in the middle
// third of the rows and the middle half of the slices, where the body's
// outline runs across the row, with a flat air plateau before it and a
// flat tissue plateau after it; its 25 %–75 % rise is 1.349 σ. An edge the
// row crosses obliquely reads wider, never narrower, so the σ is the
// edges' 25th percentile, not their median.
func EdgeSigma(hu *volume.Volume[int16]) (sigma float64, n int, ok bool) {
	nx, ny, nz := hu.Dims[0], hu.Dims[1], hu.Dims[2]
	if nx < 16 || ny < 3 || nz < 1 {
		return 0, 0, false
	}
	var widths []float64
	row := make([]float64, nx)
	for k := nz / 4; k < max(nz/4+1, 3*nz/4); k += 3 {
		for j := ny / 3; j < 2*ny/3; j += 2 {
			base := (k*ny + j) * nx
			for i := range row {
				row[i] = float64(hu.Data[base+i])
			}
			for side := 0; side < 2; side++ {
				if w, found := edgeWidth(row); found {
					widths = append(widths, w*hu.Spacing[0])
				}
				slices.Reverse(row)
			}
		}
	}
	if len(widths) < minEdges {
		return 0, len(widths), false
	}
	slices.Sort(widths)
	return widths[len(widths)/4] / 1.349, len(widths), true
}

// minEdges is the fewest edges EdgeSigma reads a σ from.
const minEdges = 100

// edgeWidth returns the 25 %–75 % rise (voxels) of the first edge of row
// (from its start): 6 voxels of flat air before it, 4 of flat tissue
// after; found is false when there is none such.
func edgeWidth(row []float64) (w float64, found bool) {
	e := slices.IndexFunc(row, func(v float64) bool { return v >= edgeHU })
	if e < 6 || e+7 > len(row) {
		return 0, false
	}
	seg := row[e-6 : e+7]
	air, tissue := seg[:3], seg[len(seg)-4:]
	a, t := median(air), median(tissue)
	if !(a > airMinHU && a < airMaxHU && t > tissueMinHU && t < tissueMaxHU) ||
		slices.Max(air)-slices.Min(air) > flatAirHU || slices.Max(tissue)-slices.Min(tissue) > flatTissueHU {
		return 0, false
	}
	c1, ok1 := crossing(seg, a+0.25*(t-a))
	c2, ok2 := crossing(seg, a+0.75*(t-a))
	if !ok1 || !ok2 || c2 < c1 {
		return 0, false
	}
	return c2 - c1, true
}

// crossing is the first position (voxels, linear between samples) where
// seg rises through level.
func crossing(seg []float64, level float64) (float64, bool) {
	for i := 0; i+1 < len(seg); i++ {
		if seg[i] <= level && level < seg[i+1] {
			return float64(i) + (level-seg[i])/(seg[i+1]-seg[i]), true
		}
	}
	return 0, false
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Kernel reads the scanner's in-plane point spread σ (mm) from the HU
// volume hu (on the grid the scan was resampled to from acquisition pixels
// of px mm; px ≤ 0 or NaN: hu's own spacing): EdgeSigma, then KernelSigma.
// ok is false when no edge could be read.
func Kernel(hu *volume.Volume[int16], px float64) (sigma float64, ok bool) {
	s, _, ok := EdgeSigma(hu)
	if !ok {
		return 0, false
	}
	if !(px > 0) {
		px = hu.Spacing[0]
	}
	return KernelSigma(s, px), true
}

// KernelSigma returns the scanner's in-plane point spread σ (mm) that an
// edge σ (EdgeSigma, on a grid resampled from the acquisition's pixel
// spacing px mm) leaves once the pixel's own width (px²/12) and the
// linear interpolation onto the grid (px²/6) are taken off; 0 when they
// explain it all.
func KernelSigma(edgeSigma, px float64) float64 {
	return math.Sqrt(math.Max(0, edgeSigma*edgeSigma-px*px/12-px*px/6))
}
