package detect

import (
	"math"
	"slices"

	"github.com/lungctl/lungctl/internal/features"
	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

// pointSet holds the 5-D points of one scan with their per-point scale.
type pointSet struct {
	// pts is N×5 row-major: x, y, z (LPS mm), smoothed HU, shape index.
	pts []float32
	// weight[q] is the number of 1 mm voxels point q stands for (1 for a
	// level-0 point, up to 8^L for a level-L point).
	weight []float32
	// scale[q] = 2^level: the point's spatial bandwidth multiplier.
	scale []float32
	// level[q] is the pyramid level the point was selected at.
	level []uint8
	// raw[q] is the mean raw HU of the voxels the point stands for.
	raw []float32
	// resp[q] is the scale-normalised blob response (HU) at the selected scale.
	resp []float32
}

func (p *pointSet) reset() {
	p.pts, p.weight, p.scale, p.level, p.raw, p.resp = p.pts[:0], p.weight[:0], p.scale[:0], p.level[:0], p.raw[:0], p.resp[:0]
}

func (p *pointSet) add(x volume.Vec3, hu, si, w, raw, resp, scale float32, level int) {
	p.pts = append(p.pts, float32(x[0]), float32(x[1]), float32(x[2]), hu, si)
	p.weight = append(p.weight, w)
	p.scale = append(p.scale, scale)
	p.level = append(p.level, uint8(level))
	p.raw = append(p.raw, raw)
	p.resp = append(p.resp, resp)
}

func (p *pointSet) n() int { return len(p.weight) }

// coarseCell accumulates the level-0 voxels that selected a coarser level
// and fall into one of its voxels.
type coarseCell struct {
	n          int
	sx, sy, sz float64 // sum of voxel indices (level-0 crop index)
	sm, raw    float64 // sums of level-0 smoothed HU and of raw HU
}

// selectPoints makes the detector's points from the level-0 voxels of the
// crop that lie in the lung mask and are denser than HUMin after level-0
// smoothing (Workspace.pyr must hold the crop's pyramid):
//
//   - each such voxel takes the pyramid level whose scale-normalised blob
//     response −σ²∇²F is largest at its position (Lindeberg's scale
//     selection: a ball of radius r answers most at σ ≈ r/√3, so the inside
//     of a 60 mm mass selects a coarse level while a vessel or a 4 mm
//     nodule beside it selects a fine one); a voxel whose best response is
//     below MinResponse HU is dropped;
//   - voxels that select level 0 become one point each if they look like
//     part of a blob at level 0 (blobShape: shape index at least SIMin, or
//     a blob's top);
//   - voxels that select level L ≥ 1 are pooled per level-L voxel; the pool
//     becomes one point at the mean position of its voxels, weighted by
//     their number, if that level-L voxel looks like part of a blob. A 60
//     mm mass thus gives a few hundred points on the 4–8 mm grid instead
//     of 10⁵ 1 mm points.
//
// A point's HU coordinate is the mean level-0 smoothed HU of its voxels, its
// spatial bandwidth is 2^L times the base one.
func (ws *Workspace) selectPoints(lungCrop func(i, j, k int) bool, opt Options) {
	ws.coarseResponses()
	// Per z-slab results, merged in order so the point order does not
	// depend on the worker count.
	slabs := make([]pointSlab, ws.crop.Dims[2])
	par.For(len(slabs), func(_, k int) {
		ws.selectSlab(&slabs[k], k, lungCrop, opt)
	})
	ps := &ws.points
	ps.reset()
	cells := mergeSlabs(ps, slabs, len(ws.pyr.Levels))
	ws.addCoarsePoints(cells, opt)
}

// coarseResponses computes the blob-response maps of the coarse pyramid
// levels (small) into ws.resp, sampled trilinearly at the level-0 voxels by
// selectSlab.
func (ws *Workspace) coarseResponses() {
	pyr := &ws.pyr
	nl := len(pyr.Levels)
	for len(ws.resp) < nl {
		ws.resp = append(ws.resp, nil)
	}
	for L := 1; L < nl; L++ {
		ws.resp[L] = features.BlobMap(ws.resp[L], pyr.Levels[L], pyr.Sigma[L])
	}
}

// pointSlab is what selectSlab finds in one z-slice of the crop: its
// level-0 points, and per coarse level the pooled voxels by level-L voxel.
type pointSlab struct {
	fine  pointSet
	cells []map[int32]*coarseCell
}

// selectSlab selects the points of z-slice k of the crop into sl (see
// selectPoints): each voxel's best level, level-0 points directly, coarser
// voxels pooled per level-L voxel.
func (ws *Workspace) selectSlab(sl *pointSlab, k int, lungCrop func(i, j, k int) bool, opt Options) {
	crop := ws.crop
	pyr := &ws.pyr
	nl := len(pyr.Levels)
	s0 := pyr.Levels[0]
	nx, ny := crop.Dims[0], crop.Dims[1]
	huMin := float32(opt.HUMin)
	sl.cells = make([]map[int32]*coarseCell, nl)
	for j := 0; j < ny; j++ {
		for i := 0; i < nx; i++ {
			p := i + nx*(j+ny*k)
			if s0.Data[p] <= huMin || !lungCrop(i, j, k) {
				continue
			}
			best, bestL := features.BlobResponse(s0, pyr.Sigma[0], i, j, k), 0
			for L := 1; L < nl; L++ {
				f := float64(int(1) << L)
				idx := volume.Vec3{(float64(i) - (f-1)/2) / f, (float64(j) - (f-1)/2) / f, (float64(k) - (f-1)/2) / f}
				if r := ws.resp[L].Trilinear(idx, 0); r > best {
					best, bestL = r, L
				}
			}
			if best < opt.MinResponse {
				continue
			}
			if bestL == 0 {
				si, ok := blobShape(s0, i, j, k, opt.SIMin)
				if !ok {
					continue
				}
				w := crop.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
				sl.fine.add(w, s0.Data[p], float32(si), 1, float32(crop.Data[p]), float32(best), 1, 0)
				continue
			}
			lv := pyr.Levels[bestL]
			ci, cj, ck := i>>bestL, j>>bestL, k>>bestL
			key := int32(ci + lv.Dims[0]*(cj+lv.Dims[1]*ck))
			m := sl.cells[bestL]
			if m == nil {
				m = map[int32]*coarseCell{}
				sl.cells[bestL] = m
			}
			cc := m[key]
			if cc == nil {
				cc = &coarseCell{}
				m[key] = cc
			}
			cc.n++
			cc.sx += float64(i)
			cc.sy += float64(j)
			cc.sz += float64(k)
			cc.sm += float64(s0.Data[p])
			cc.raw += float64(crop.Data[p])
		}
	}
}

// mergeSlabs appends the slabs' level-0 points to ps in slab order and
// returns their pooled coarse voxels merged per level (sums added in slab
// order, so the result does not depend on the worker count).
func mergeSlabs(ps *pointSet, slabs []pointSlab, nl int) []map[int32]*coarseCell {
	cells := make([]map[int32]*coarseCell, nl)
	for k := range slabs {
		f := &slabs[k].fine
		ps.pts = append(ps.pts, f.pts...)
		ps.weight = append(ps.weight, f.weight...)
		ps.scale = append(ps.scale, f.scale...)
		ps.level = append(ps.level, f.level...)
		ps.raw = append(ps.raw, f.raw...)
		ps.resp = append(ps.resp, f.resp...)
		for L, m := range slabs[k].cells {
			if m == nil {
				continue
			}
			if cells[L] == nil {
				cells[L] = map[int32]*coarseCell{}
			}
			for key, c := range m {
				t := cells[L][key]
				if t == nil {
					t = &coarseCell{}
					cells[L][key] = t
				}
				t.n += c.n
				t.sx += c.sx
				t.sy += c.sy
				t.sz += c.sz
				t.sm += c.sm
				t.raw += c.raw
			}
		}
	}
	return cells
}

// addCoarsePoints appends one point per pooled level-L voxel that looks
// like part of a blob at level L, in level and voxel order: at the mean
// position of its voxels, weighted by their number.
func (ws *Workspace) addCoarsePoints(cells []map[int32]*coarseCell, opt Options) {
	crop := ws.crop
	pyr := &ws.pyr
	ps := &ws.points
	for L := 1; L < len(pyr.Levels); L++ {
		lv := pyr.Levels[L]
		keys := make([]int32, 0, len(cells[L]))
		for key := range cells[L] {
			keys = append(keys, key)
		}
		slices.Sort(keys)
		for _, key := range keys {
			c := cells[L][key]
			ci := int(key) % lv.Dims[0]
			cj := (int(key) / lv.Dims[0]) % lv.Dims[1]
			ck := int(key) / (lv.Dims[0] * lv.Dims[1])
			si, ok := blobShape(lv, ci, cj, ck, opt.SIMin)
			if !ok {
				continue
			}
			f := float64(c.n)
			w := crop.IndexToWorld(volume.Vec3{c.sx / f, c.sy / f, c.sz / f})
			resp := ws.resp[L].Data[key]
			ps.add(w, float32(c.sm/f), float32(si), float32(c.n), float32(c.raw/f), resp, float32(levelScale(pyr.Sigma, L, opt)), L)
		}
	}
}

// blobShape decides whether voxel (i, j, k) of a smoothed level looks like
// part of a bright blob and returns its shape index: the iso-surface's
// shape index when that is at least siMin; otherwise, where the gradient
// (and so the shape index) fades — the top of a blob at its own scale — a
// Hessian that is negative definite with comparable curvatures
// (features.BrightBlob, weakest ≥ BlobRatio of the strongest) counts as a
// cap, shape index 1.
func blobShape(s *volume.Volume[float32], i, j, k int, siMin float64) (float64, bool) {
	g, h := features.Derivatives(s, i, j, k)
	c := features.FromDerivatives(g, h[0], h[1], h[2], h[3], h[4], h[5])
	if c.SI >= siMin {
		return c.SI, true
	}
	if features.BrightBlob(h, BlobRatio) {
		return 1, true
	}
	return c.SI, false
}

// BlobRatio is the least ratio of the weakest to the strongest Hessian
// curvature for a blob top (a tube's is near 0, a ball's 1).
const BlobRatio = 0.25

// levelScale is the spatial bandwidth multiplier of a level-L point: the
// bandwidth grows with the level's σ as BandwidthPerSigma·σ_L, never below
// the base bandwidth. A blob selected at σ has a radius of about √3·σ, so
// its points lie within about 1.7 σ of its centre: a bandwidth of 1.2 σ
// gathers them into one mode, while a wider one would let a big coarse
// structure (the diaphragm's dome, a hilum) draw in a nodule beside it.
func levelScale(sigma []float64, L int, opt Options) float64 {
	return math.Max(1, BandwidthPerSigma*sigma[L]/opt.Bandwidth[0])
}

// BandwidthPerSigma relates a coarse point's spatial bandwidth to its
// level's smoothing σ (see levelScale).
const BandwidthPerSigma = 1.2
