package features

import (
	"fmt"
	"math"

	"github.com/lungctl/lungctl/internal/volume"
)

// Pyramid is a Gaussian scale space stored as a pyramid, so that coarse
// scales cost little: level 0 is the HU volume smoothed with Sigma[0] mm on
// its own grid; level L+1 takes the means of 2×2×2 blocks of level L (the
// last block of an odd axis repeats its edge voxel) and smooths them further
// so that, in total, Sigma[L+1] = 2·Sigma[L]. Level L therefore has about
// 1/8^L of level 0's voxels, and the whole pyramid about 8/7 of one level.
//
// Grids: level L+1's voxel (i, j, k) stands for level L's block (2i…2i+1,
// 2j…2j+1, 2k…2k+1); its centre is that block's centre, so Origin(L+1) is
// level L's continuous index (½, ½, ½) in world mm and Spacing(L+1) =
// 2·Spacing(L). All levels share the direction of the source grid. World
// positions (LPS mm) are comparable across levels through each level's Grid.
//
// Smoothing arithmetic, per axis with level spacing g: a 2-sample block mean
// is a kernel of two deltas ±g/2 apart, variance g²/4, so the extra Gaussian
// has σ² = (2σ)² − σ² − g²/4 = 3σ² − g²/4.
type Pyramid struct {
	// Levels[L] is the smoothed HU (float32) on level L's grid.
	Levels []*volume.Volume[float32]
	// Sigma[L] is level L's total Gaussian standard deviation in mm (the
	// largest over the three axes when the source spacing is anisotropic).
	Sigma []float64
}

// BuildPyramid fills p (reusing its buffers when they are large enough) with
// up to levels levels of src, starting at sigma0 mm; it stops early when a
// level would have fewer than 4 voxels along some axis. Level 0 is the same
// volume Smooth(src, sigma0) returns.
func BuildPyramid(p *Pyramid, src *volume.Volume[int16], sigma0 float64, levels int) error {
	if levels < 1 {
		return fmt.Errorf("features: pyramid: %d levels", levels)
	}
	var reuse *volume.Volume[float32]
	if len(p.Levels) > 0 {
		reuse = p.Levels[0]
	}
	l0, err := Smooth(reuse, src, sigma0)
	if err != nil {
		return fmt.Errorf("features: pyramid: %w", err)
	}
	old := p.Levels
	p.Levels = append(p.Levels[:0], l0)
	p.Sigma = append(p.Sigma[:0], sigma0)
	sig := [3]float64{sigma0, sigma0, sigma0}
	for L := 1; L < levels; L++ {
		prev := p.Levels[L-1]
		var d [3]int
		for a := 0; a < 3; a++ {
			d[a] = (prev.Dims[a] + 1) / 2
		}
		if d[0] < 4 || d[1] < 4 || d[2] < 4 {
			break
		}
		var buf *volume.Volume[float32]
		if L < len(old) {
			buf = old[L]
		}
		next := down2(buf, prev, d)
		var extra [3]float64
		for a := 0; a < 3; a++ {
			g := prev.Spacing[a]
			extra[a] = math.Sqrt(3*sig[a]*sig[a] - g*g/4)
			sig[a] *= 2
		}
		if _, err := smooth(next, next, extra); err != nil {
			return fmt.Errorf("features: pyramid level %d: %w", L, err)
		}
		p.Levels = append(p.Levels, next)
		p.Sigma = append(p.Sigma, math.Max(sig[0], math.Max(sig[1], sig[2])))
	}
	return nil
}

// down2 returns the 2×2×2 block means of v on a grid of dims d (reusing dst
// when it has room).
func down2(dst, v *volume.Volume[float32], d [3]int) *volume.Volume[float32] {
	g := v.Grid
	g.Dims = d
	g.Origin = v.IndexToWorld(volume.Vec3{0.5, 0.5, 0.5})
	for a := 0; a < 3; a++ {
		g.Spacing[a] *= 2
	}
	dst = reuseOrNew(dst, g)
	nx, ny, nz := v.Dims[0], v.Dims[1], v.Dims[2]
	parallelFor(d[2], func(lo, hi int) {
		for k := lo; k < hi; k++ {
			k0, k1 := 2*k, min(2*k+1, nz-1)
			for j := 0; j < d[1]; j++ {
				j0, j1 := 2*j, min(2*j+1, ny-1)
				r00 := v.Data[(k0*ny+j0)*nx:][:nx]
				r01 := v.Data[(k0*ny+j1)*nx:][:nx]
				r10 := v.Data[(k1*ny+j0)*nx:][:nx]
				r11 := v.Data[(k1*ny+j1)*nx:][:nx]
				out := dst.Data[(k*d[1]+j)*d[0]:][:d[0]]
				for i := range out {
					i0, i1 := 2*i, min(2*i+1, nx-1)
					out[i] = 0.125 * (r00[i0] + r00[i1] + r01[i0] + r01[i1] + r10[i0] + r10[i1] + r11[i0] + r11[i1])
				}
			}
		}
	})
	return dst
}

// BlobResponse is the scale-normalised Laplacian-of-Gaussian response
// −σ²·∇²F in HU at integer voxel (i, j, k) of a level smoothed with σ mm:
// positive at bright blobs, largest over σ at σ ≈ r/√3 for a ball of radius
// r (Lindeberg's scale selection), where it reaches about 0.7 of the ball's
// contrast.
func BlobResponse(s *volume.Volume[float32], sigma float64, i, j, k int) float64 {
	return -sigma * sigma * Laplacian(s, i, j, k)
}

// BlobMap fills dst (reused when it has room) with BlobResponse at every
// voxel of the level s smoothed with sigma mm.
func BlobMap(dst *volume.Volume[float32], s *volume.Volume[float32], sigma float64) *volume.Volume[float32] {
	dst = reuseOrNew(dst, s.Grid)
	nx, ny := s.Dims[0], s.Dims[1]
	parallelFor(s.Dims[2], func(lo, hi int) {
		for k := lo; k < hi; k++ {
			for j := 0; j < ny; j++ {
				for i := 0; i < nx; i++ {
					dst.Data[i+nx*(j+ny*k)] = float32(BlobResponse(s, sigma, i, j, k))
				}
			}
		}
	})
	return dst
}
