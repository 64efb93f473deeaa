package segment

import (
	"math"

	"github.com/lungctl/lungctl/internal/volume"
)

// blob is a 2-D connected region within one slice.
type blob struct {
	pix            []int32 // slice offsets
	area           float64 // mm²
	ci             float64 // centroid i (voxel)
	i0, i1, j0, j1 int
}

// grow2D collects the 4-connected region of pixels satisfying ok (in slice
// c, nx×ny) that contains seed, relabelling them to class to; ok must be
// false for class to.
func grow2D(c []uint8, ok func(p int) bool, nx, ny int, seed int, to uint8, buf []int32) []int32 {
	pix := buf[:0]
	c[seed] = to
	pix = append(pix, int32(seed))
	for h := 0; h < len(pix); h++ {
		p := int(pix[h])
		i, j := p%nx, p/nx
		for _, q := range [4]int{p - 1, p + 1, p - nx, p + nx} {
			switch {
			case q == p-1 && i == 0, q == p+1 && i == nx-1, q == p-nx && j == 0, q == p+nx && j == ny-1:
				continue
			}
			if ok(q) {
				c[q] = to
				pix = append(pix, int32(q))
			}
		}
	}
	return pix
}

func describe(pix []int32, nx int, pixArea float64) blob {
	b := blob{pix: pix, i0: math.MaxInt, j0: math.MaxInt, i1: -1, j1: -1}
	var si float64
	for _, p := range pix {
		i, j := int(p)%nx, int(p)/nx
		si += float64(i)
		b.i0, b.i1 = min(b.i0, i), max(b.i1, i)
		b.j0, b.j1 = min(b.j0, j), max(b.j1, j)
	}
	b.area = float64(len(pix)) * pixArea
	b.ci = si / float64(len(pix))
	return b
}

// airway finds and removes the trachea and main bronchi (see the package
// comment), marking them cAirway.
func (s *Segmenter) airway(hu *volume.Volume[int16], opt Options, st *Stats) {
	down := -1 // k step towards the feet
	if hu.Direction[2][2] < 0 {
		down = 1
	}
	seedK, seed := s.tracheaSeed(hu, opt, down)
	if seedK < 0 {
		return
	}
	st.TracheaFound = true
	st.TracheaSeedSlice = seedK
	lumen := s.followAirway(hu, opt, st, seedK, seed, down)
	removed := s.widenAirway(hu, opt, lumen)
	pixArea := hu.Spacing[0] * hu.Spacing[1]
	st.AirwayML = float64(removed) * pixArea * hu.Spacing[2] / 1000
}

// tracheaSeed looks for the trachea in the top 40 % of the slices, from
// the head down (down is the k step towards the feet): the first slice with
// body holding a roundish air region of trachea size near the body's
// midline. It returns that slice and the region's offsets in it, or -1.
func (s *Segmenter) tracheaSeed(hu *volume.Volume[int16], opt Options, down int) (int, []int32) {
	nx, ny, nz := hu.Dims[0], hu.Dims[1], hu.Dims[2]
	nxy := nx * ny
	sx, sy := hu.Spacing[0], hu.Spacing[1]
	pixArea := sx * sy
	top := nz - 1
	if down == 1 {
		top = 0
	}
	const (
		minSeedMM2 = 40.0
		maxSeedMM2 = 800.0
		maxBoxMM   = 40.0
		midlineMM  = 30.0
	)
	searchSlices := max(1, int(0.4*float64(nz)))
	for n := 0; n < searchSlices; n++ {
		k := top + n*down
		if s.nbody[k] < 1000 {
			continue
		}
		h := hu.Data[k*nxy : (k+1)*nxy]
		c := s.cls[k*nxy : (k+1)*nxy]
		ok := func(p int) bool { return c[p] == cAir && h[p] < opt.AirwayHU }
		var best *blob
		var touched [][]int32
		for p := range c {
			if !ok(p) {
				continue
			}
			pix := grow2D(c, ok, nx, ny, p, cTemp, nil)
			touched = append(touched, pix)
			b := describe(pix, nx, pixArea)
			w, hgt := float64(b.i1-b.i0+1)*sx, float64(b.j1-b.j0+1)*sy
			if b.area < minSeedMM2 || b.area > maxSeedMM2 || w > maxBoxMM || hgt > maxBoxMM ||
				b.area < 0.4*w*hgt || math.Abs(b.ci-s.cx[k])*sx > midlineMM {
				continue
			}
			if best == nil || b.area > best.area {
				bb := b
				best = &bb
			}
		}
		for _, pix := range touched {
			for _, p := range pix {
				c[p] = cAir
			}
		}
		if best != nil {
			return k, best.pix
		}
	}
	return -1, nil
}

// followAirway marks the seed region cAirway and follows the lumen from it
// slice by slice: towards the feet (down) to BronchusDepthMM below the
// carina (where it splits; st.CarinaSlice), towards the head to its end. A
// region that grows too much from one slice to the next is a leak into the
// lung and is not followed. It returns the lumen's offsets (global index)
// per slice.
func (s *Segmenter) followAirway(hu *volume.Volume[int16], opt Options, st *Stats, seedK int, seed []int32, down int) [][]int32 {
	nx, ny, nz := hu.Dims[0], hu.Dims[1], hu.Dims[2]
	nxy := nx * ny
	pixArea := hu.Spacing[0] * hu.Spacing[1]
	sz := hu.Spacing[2]
	const maxBlobMM2 = 700.0
	var lumen [][]int32 // per slice offsets (global index) of lumen pixels
	mark := func(k int, pix []int32) {
		c := s.cls[k*nxy : (k+1)*nxy]
		g := make([]int32, len(pix))
		for i, p := range pix {
			c[p] = cAirway
			g[i] = p + int32(k*nxy)
		}
		lumen = append(lumen, g)
	}
	mark(seedK, seed)
	// follow walks from slice k0 in direction dir, starting from region prev.
	follow := func(prev []int32, dir int, limitDepth bool) {
		carina := -1
		prevArea := float64(len(prev)) * pixArea
		for k := seedK + dir; k >= 0 && k < nz && len(prev) > 0; k += dir {
			if limitDepth && carina >= 0 && float64(abs(k-carina))*sz > opt.BronchusDepthMM {
				break
			}
			h := hu.Data[k*nxy : (k+1)*nxy]
			c := s.cls[k*nxy : (k+1)*nxy]
			ok := func(p int) bool { return c[p] == cAir && h[p] < opt.AirwayHU }
			var cur []int32
			var leaks [][]int32
			nBig := 0
			for _, p := range prev {
				if !ok(int(p)) {
					continue
				}
				pix := grow2D(c, ok, nx, ny, int(p), cTemp, nil)
				a := float64(len(pix)) * pixArea
				if a > maxBlobMM2 || a > 2*prevArea+50 {
					for _, q := range pix {
						c[q] = cLeak
					}
					leaks = append(leaks, pix)
					continue
				}
				if a >= 15 {
					nBig++
				}
				cur = append(cur, pix...)
			}
			for _, pix := range leaks {
				for _, q := range pix {
					c[q] = cAir
				}
			}
			if len(cur) == 0 {
				break
			}
			mark(k, cur)
			if limitDepth && carina < 0 && nBig >= 2 {
				carina = k
				st.CarinaSlice = k
			}
			prev = cur
			prevArea = float64(len(cur)) * pixArea
		}
	}
	follow(seed, down, true)
	follow(seed, -down, false)
	return lumen
}

// widenAirway widens the lumen by AirwayMarginMM within the air
// candidates, slice by slice, marking the margin cAirway too; it returns
// how many voxels the airway took in all (lumen and margin).
func (s *Segmenter) widenAirway(hu *volume.Volume[int16], opt Options, lumen [][]int32) int {
	nx, ny := hu.Dims[0], hu.Dims[1]
	nxy := nx * ny
	sx, sy := hu.Spacing[0], hu.Spacing[1]
	rx := int(math.Round(opt.AirwayMarginMM / sx))
	ry := int(math.Round(opt.AirwayMarginMM / sy))
	var offs [][2]int
	for dj := -ry; dj <= ry; dj++ {
		for di := -rx; di <= rx; di++ {
			if math.Pow(float64(di)*sx, 2)+math.Pow(float64(dj)*sy, 2) <= opt.AirwayMarginMM*opt.AirwayMarginMM+1e-9 {
				offs = append(offs, [2]int{di, dj})
			}
		}
	}
	removed := 0
	for _, g := range lumen {
		removed += len(g)
		for _, p := range g {
			k := int(p) / nxy
			q := int(p) - k*nxy
			i, j := q%nx, q/nx
			for _, o := range offs {
				ii, jj := i+o[0], j+o[1]
				if ii < 0 || jj < 0 || ii >= nx || jj >= ny {
					continue
				}
				r := k*nxy + jj*nx + ii
				if s.cls[r] == cAir {
					s.cls[r] = cAirway
					removed++
				}
			}
		}
	}
	return removed
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
