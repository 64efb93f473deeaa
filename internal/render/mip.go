package render

import (
	"image"
	"image/color"
	"math"

	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

// noVoxel marks a projected column with no (masked-in) voxel.
const noVoxel = math.MinInt32

// axisMIPs projects a volume on an identity-direction grid along y and z
// in one pass in memory order: cor[k*nx+i] is the maximum over j and
// ax[j*nx+i] the maximum over k of the voxels with msk ≠ 0 (all voxels
// when msk is nil), noVoxel where there is none. It is what mipPanel
// computes ray by ray on such a grid, several times faster.
func axisMIPs(v *volume.Volume[int16], msk []uint8) (cor, ax []int32) {
	nx, ny, nz := v.Dims[0], v.Dims[1], v.Dims[2]
	cor = make([]int32, nx*nz)
	for i := range cor {
		cor[i] = noVoxel
	}
	parts := make([][]int32, par.Limit())
	par.Chunks(nz, 1, func(w, lo, hi int) {
		if parts[w] == nil {
			parts[w] = make([]int32, nx*ny)
			for i := range parts[w] {
				parts[w][i] = noVoxel
			}
		}
		axw := parts[w]
		for k := lo; k < hi; k++ {
			crow := cor[k*nx : (k+1)*nx]
			for j := 0; j < ny; j++ {
				o := (k*ny + j) * nx
				row := v.Data[o : o+nx]
				arow := axw[j*nx : (j+1)*nx]
				for i, hu := range row {
					if msk != nil && msk[o+i] == 0 {
						continue
					}
					h := int32(hu)
					crow[i] = max(crow[i], h)
					arow[i] = max(arow[i], h)
				}
			}
		}
	})
	for _, p := range parts {
		if p == nil {
			continue
		}
		if ax == nil {
			ax = p
			continue
		}
		for i, h := range p {
			ax[i] = max(ax[i], h)
		}
	}
	return cor, ax
}

// projPanel fills p.Rect from a projection made by axisMIPs: each pixel
// reads the column nearest its centre (index axes a and b of the volume,
// ia the faster one in proj), as mipPanel's rays would.
func projPanel(img *image.RGBA, s *sampler, proj []int32, p Panel, ia, ib int, w Window) {
	base := s.index(p.World0)
	dc := s.step(volume.Vec3{p.Right[0] * p.PixelMM, p.Right[1] * p.PixelMM, p.Right[2] * p.PixelMM})
	dr := s.step(volume.Vec3{p.Down[0] * p.PixelMM, p.Down[1] * p.PixelMM, p.Down[2] * p.PixelMM})
	na, nb := s.v.Dims[ia], s.v.Dims[ib]
	parallelRows(p.Rect.Dy(), func(y int) {
		for x := 0; x < p.Rect.Dx(); x++ {
			a := int(math.Floor(base[ia] + float64(x)*dc[ia] + float64(y)*dr[ia] + 0.5))
			b := int(math.Floor(base[ib] + float64(x)*dc[ib] + float64(y)*dr[ib] + 0.5))
			hu := float64(OutsideHU)
			if a >= 0 && b >= 0 && a < na && b < nb {
				if v := proj[b*na+a]; v != noVoxel {
					hu = float64(v)
				}
			}
			g := w.gray(hu)
			img.SetRGBA(p.Rect.Min.X+x, p.Rect.Min.Y+y, color.RGBA{g, g, g, 255})
		}
	})
}
