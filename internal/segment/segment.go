// Package segment computes a lung mask from a CT volume in Hounsfield units
// on an (approximately) isotropic axial grid, typically the 1 mm output of
// resample.Stack.
//
// Method (each step chosen for robustness on real scanner data and speed):
//
//  1. Air: voxels below Options.AirHU (−400 HU) are air candidates.
//  2. Outside air: in every axial slice, air connected (4-neighbour) to the
//     slice border is outside the body (room air, the padding outside the
//     scan circle, air under the table) and removed. Working per slice keeps
//     a trachea that leaves the top of the volume from joining outside air.
//  3. Trachea and main bronchi: the trachea is seeded in the most superior
//     slices as a compact pure-air (< Options.AirwayHU, −900 HU) region near
//     the body's left-right centre, then followed slice by slice downwards
//     through pure air overlapping the previous slice's lumen; a blob that
//     grows too large is a leak into lung and is dropped. Tracking stops
//     Options.BronchusDepthMM below the carina (the first slice where the
//     lumen splits). The lumen, widened by Options.AirwayMarginMM to take
//     the partial-volume wall, is removed from the air candidates; this
//     disconnects the lungs from each other and from the trachea.
//  4. Lungs: 6-connected 3-D components of the remaining air; the largest is
//     a lung (or both), and the next largest that holds at least
//     Options.MinLungML and 5% of the largest and whose mean is above −960 HU
//     (parenchyma, not the pure air of bowel gas or a hollow table) is the
//     other lung. Everything else is dropped.
//  5. Vessels, nodules and juxtapleural nodules: each lung separately (the
//     two components, or the halves either side of the body's midline when
//     the lungs touch), slice by slice, is closed with a disk of radius
//     Options.ClosingRadiusMM (15 mm) computed from two exact Euclidean
//     distance transforms, and its holes are filled. A nodule attached to the
//     chest wall leaves a bay in the air mask no wider than the nodule; the
//     closing bridges it, so nodules up to about 2×radius across stay inside.
//     Closing each lung on its own keeps the mediastinum and heart out; the
//     result is limited to the body and the airway stays excluded.
//
// Known limits: the closing is 2-D (axial), so a nodule sitting on the
// diaphragm dome, below the lung rather than beside it, may be only partly
// included; a scan that starts below the carina has no trachea to remove
// (Stats.TracheaFound is false), which is harmless because the bronchi then
// lie inside the lungs.
package segment

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/lungctl/lungctl/internal/volume"
)

// Options tunes Lungs. Zero fields take the defaults of DefaultOptions.
type Options struct {
	// AirHU: voxels below this (HU) are air candidates. Default −400.
	AirHU int16
	// AirwayHU: airway lumen voxels are below this (HU). Default −900.
	AirwayHU int16
	// ClosingRadiusMM is the radius (mm) of the per-slice disk closing that
	// brings vessels and juxtapleural nodules into the mask. Default 15.
	ClosingRadiusMM float64
	// MinLungML: a second air component is kept as a lung only when it holds
	// at least this many millilitres. Default 50.
	MinLungML float64
	// BronchusDepthMM: how far (mm) below the carina the main bronchi are
	// removed. Default 30.
	BronchusDepthMM float64
	// AirwayMarginMM widens the removed airway lumen (mm) to take its
	// partial-volume wall. Default 2.
	AirwayMarginMM float64
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{AirHU: -400, AirwayHU: -900, ClosingRadiusMM: 15, MinLungML: 50, BronchusDepthMM: 30, AirwayMarginMM: 2}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.AirHU == 0 {
		o.AirHU = d.AirHU
	}
	if o.AirwayHU == 0 {
		o.AirwayHU = d.AirwayHU
	}
	if o.ClosingRadiusMM == 0 {
		o.ClosingRadiusMM = d.ClosingRadiusMM
	}
	if o.MinLungML == 0 {
		o.MinLungML = d.MinLungML
	}
	if o.BronchusDepthMM == 0 {
		o.BronchusDepthMM = d.BronchusDepthMM
	}
	if o.AirwayMarginMM == 0 {
		o.AirwayMarginMM = d.AirwayMarginMM
	}
	return o
}

// Stats describes one segmentation.
type Stats struct {
	// LungVoxels is the number of mask voxels.
	LungVoxels int
	// VolumeML is the mask volume in millilitres.
	VolumeML float64
	// ComponentsML lists the kept air components' volumes (mL) before
	// closing, largest first (1 or 2 entries; none when no lung was found).
	ComponentsML []float64
	// TracheaFound reports whether a trachea was found and removed;
	// TracheaSeedSlice and CarinaSlice are voxel k indices (−1 if none).
	TracheaFound     bool
	TracheaSeedSlice int
	CarinaSlice      int
	// AirwayML is the volume (mL) removed as trachea and main bronchi,
	// margin included.
	AirwayML float64
}

// ErrNoLungs reports a volume with no air component large enough to be a
// lung (not a chest CT, or a wrong HU conversion).
var ErrNoLungs = errors.New("segment: no lung found")

// ErrOrientation reports a volume whose k axis is not the patient's
// head-foot axis (Lungs works on axial grids such as resample.Stack's
// output of an axial series).
var ErrOrientation = errors.New("segment: volume is not axial")

// maxPureAirHU: an air component whose mean is below this (HU) is pure air
// (gas, table), not lung parenchyma, when choosing the second lung.
const maxPureAirHU = -960

// classes in Segmenter.cls
const (
	cTissue  = 0
	cAir     = 1
	cOutside = 2
	cAirway  = 3
	cTemp    = 6
	cLeak    = 7
)

// Segmenter holds volume-sized buffers reused across calls; the zero value
// is ready. It is not safe for concurrent use.
type Segmenter struct {
	cls      []uint8
	runs     [][]airRun
	rowStart [][]int32
	parent   []int32
	cx       []float64 // per-slice body centroid (voxel i)
	nbody    []int
}

// Lungs returns the lung mask (1 = lung) of hu, a volume in HU on an axial
// grid of about 1 mm voxels (voxel k increasing either towards the head or
// the feet), on hu's grid. See the package comment for the method.
func Lungs(hu *volume.Volume[int16], opt Options) (*volume.Volume[uint8], error) {
	var s Segmenter
	m, _, err := s.Lungs(hu, opt, nil)
	return m, err
}

// Lungs is the package-level Lungs reusing s's buffers and dst (when its
// capacity suffices), and also returns Stats.
func (s *Segmenter) Lungs(hu *volume.Volume[int16], opt Options, dst *volume.Volume[uint8]) (*volume.Volume[uint8], Stats, error) {
	st := Stats{TracheaSeedSlice: -1, CarinaSlice: -1}
	if hu == nil {
		return nil, st, fmt.Errorf("segment: %w: nil volume", volume.ErrGeometry)
	}
	if err := hu.Check(); err != nil {
		return nil, st, fmt.Errorf("segment: %w", err)
	}
	if math.Abs(hu.Direction[2][2]) < 0.7 {
		return nil, st, fmt.Errorf("%w: k axis direction %.2f,%.2f,%.2f", ErrOrientation, hu.Direction[0][2], hu.Direction[1][2], hu.Direction[2][2])
	}
	opt = opt.withDefaults()
	n := hu.Len()
	if dst != nil && cap(dst.Data) >= n {
		dst.Data = dst.Data[:n]
		dst.Grid = hu.Grid
	} else {
		dst = volume.New[uint8](hu.Grid)
	}
	if cap(s.cls) < n {
		s.cls = make([]uint8, n)
	}
	s.cls = s.cls[:n]
	nz := hu.Dims[2]
	if cap(s.cx) < nz {
		s.cx, s.nbody = make([]float64, nz), make([]int, nz)
	}
	s.cx, s.nbody = s.cx[:nz], s.nbody[:nz]

	s.classify(hu, opt)
	s.airway(hu, opt, &st)
	if err := s.components(hu, opt, dst, &st); err != nil {
		return nil, st, err
	}
	st.LungVoxels = s.close(hu, opt, dst)
	vox := hu.Spacing[0] * hu.Spacing[1] * hu.Spacing[2] / 1000
	st.VolumeML = float64(st.LungVoxels) * vox
	return dst, st, nil
}

// parallel runs f(worker, k) for every slice k on all cores.
func parallel(nz int, f func(w, k int)) {
	workers := min(runtime.GOMAXPROCS(0), nz)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= nz {
					return
				}
				f(w, k)
			}
		}()
	}
	wg.Wait()
}

// classify thresholds air and removes, slice by slice, the air connected to
// the slice border (outside the body). It records each slice's body
// centroid.
func (s *Segmenter) classify(hu *volume.Volume[int16], opt Options) {
	nx, ny, nz := hu.Dims[0], hu.Dims[1], hu.Dims[2]
	nxy := nx * ny
	stacks := make([][]int32, runtime.GOMAXPROCS(0))
	parallel(nz, func(w, k int) {
		h := hu.Data[k*nxy : (k+1)*nxy]
		c := s.cls[k*nxy : (k+1)*nxy]
		for p, v := range h {
			if v < opt.AirHU {
				c[p] = cAir
			} else {
				c[p] = cTissue
			}
		}
		stacks[w] = borderFill(c, nx, ny, cAir, cOutside, stacks[w])
		var sum, cnt int
		for j := 0; j < ny; j++ {
			row := c[j*nx : (j+1)*nx]
			for i, v := range row {
				if v != cOutside {
					sum += i
					cnt++
				}
			}
		}
		s.nbody[k] = cnt
		if cnt > 0 {
			s.cx[k] = float64(sum) / float64(cnt)
		} else {
			s.cx[k] = float64(nx-1) / 2
		}
	})
}

// borderFill sets to `to` every pixel of value `from` in the w×h grid m
// (row-major) that is 4-connected to the grid border, by span filling. The
// stack buffer is returned for reuse.
func borderFill(m []uint8, w, h int, from, to uint8, stk []int32) []int32 {
	stk = stk[:0]
	for i := 0; i < w; i++ {
		stk = append(stk, int32(i), int32((h-1)*w+i))
	}
	for j := 1; j < h-1; j++ {
		stk = append(stk, int32(j*w), int32(j*w+w-1))
	}
	for len(stk) > 0 {
		p := int(stk[len(stk)-1])
		stk = stk[:len(stk)-1]
		if m[p] != from {
			continue
		}
		y := p / w
		row := m[y*w : (y+1)*w]
		xl, xr := p-y*w, p-y*w
		for xl > 0 && row[xl-1] == from {
			xl--
		}
		for xr < w-1 && row[xr+1] == from {
			xr++
		}
		for x := xl; x <= xr; x++ {
			row[x] = to
		}
		for _, ny := range [2]int{y - 1, y + 1} {
			if ny < 0 || ny >= h {
				continue
			}
			nr := m[ny*w : (ny+1)*w]
			for x := xl; x <= xr; x++ {
				if nr[x] == from && (x == xl || nr[x-1] != from) {
					stk = append(stk, int32(ny*w+x))
				}
			}
		}
	}
	return stk
}

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
	nx, ny, nz := hu.Dims[0], hu.Dims[1], hu.Dims[2]
	nxy := nx * ny
	sx, sy, sz := hu.Spacing[0], hu.Spacing[1], hu.Spacing[2]
	pixArea := sx * sy
	down := -1 // k step towards the feet
	top := nz - 1
	if hu.Direction[2][2] < 0 {
		down, top = 1, 0
	}
	const (
		minSeedMM2 = 40.0
		maxSeedMM2 = 800.0
		maxBoxMM   = 40.0
		midlineMM  = 30.0
		maxBlobMM2 = 700.0
	)
	searchSlices := max(1, int(0.4*float64(nz)))
	seedK := -1
	var seed []int32
	for n := 0; n < searchSlices && seedK < 0; n++ {
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
			seedK, seed = k, best.pix
		}
	}
	if seedK < 0 {
		return
	}
	st.TracheaFound = true
	st.TracheaSeedSlice = seedK
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
	// Widen the lumen by the margin within air candidates, slice by slice.
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
	st.AirwayML = float64(removed) * pixArea * sz / 1000
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// airRun is a run of air voxels along i in row j of slice k: [i0, i1).
type airRun struct {
	j, i0, i1 int32
	sum       float64 // sum of HU over the run
}

// components labels the 6-connected air components, keeps the lungs and
// writes them into dst as 1 and 2 (one label per component). It works on
// runs along i: runs are extracted per slice in parallel, then joined with a
// union-find across rows and slices.
func (s *Segmenter) components(hu *volume.Volume[int16], opt Options, dst *volume.Volume[uint8], st *Stats) error {
	nx, ny, nz := hu.Dims[0], hu.Dims[1], hu.Dims[2]
	nxy := nx * ny
	if len(s.runs) < nz {
		s.runs = make([][]airRun, nz)
		s.rowStart = make([][]int32, nz)
	}
	parallel(nz, func(_, k int) {
		c := s.cls[k*nxy : (k+1)*nxy]
		h := hu.Data[k*nxy : (k+1)*nxy]
		runs := s.runs[k][:0]
		rs := s.rowStart[k]
		if len(rs) < ny+1 {
			rs = make([]int32, ny+1)
			s.rowStart[k] = rs
		}
		for j := 0; j < ny; j++ {
			rs[j] = int32(len(runs))
			row := c[j*nx : (j+1)*nx]
			hr := h[j*nx : (j+1)*nx]
			for i := 0; i < nx; i++ {
				if row[i] != cAir {
					continue
				}
				i0 := i
				var sum float64
				for i < nx && row[i] == cAir {
					sum += float64(hr[i])
					i++
				}
				runs = append(runs, airRun{int32(j), int32(i0), int32(i), sum})
			}
		}
		rs[ny] = int32(len(runs))
		s.runs[k] = runs
	})
	// Global run numbering and union-find.
	base := make([]int32, nz+1)
	for k := 0; k < nz; k++ {
		base[k+1] = base[k] + int32(len(s.runs[k]))
	}
	total := int(base[nz])
	if cap(s.parent) < total {
		s.parent = make([]int32, total)
	}
	parent := s.parent[:total]
	for r := range parent {
		parent[r] = int32(r)
	}
	find := func(x int32) int32 {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	union := func(a, b int32) {
		ra, rb := find(a), find(b)
		if ra != rb {
			if ra < rb {
				parent[rb] = ra
			} else {
				parent[ra] = rb
			}
		}
	}
	// join unions overlapping runs of two sorted run lists.
	join := func(ra []airRun, oa int32, rb []airRun, ob int32) {
		x, y := 0, 0
		for x < len(ra) && y < len(rb) {
			if ra[x].i0 < rb[y].i1 && rb[y].i0 < ra[x].i1 {
				union(oa+int32(x), ob+int32(y))
			}
			if ra[x].i1 < rb[y].i1 {
				x++
			} else {
				y++
			}
		}
	}
	for k := 0; k < nz; k++ {
		runs, rs := s.runs[k], s.rowStart[k]
		for j := 1; j < ny; j++ {
			join(runs[rs[j]:rs[j+1]], base[k]+rs[j], runs[rs[j-1]:rs[j]], base[k]+rs[j-1])
		}
		if k > 0 {
			prev, ps := s.runs[k-1], s.rowStart[k-1]
			for j := 0; j < ny; j++ {
				join(runs[rs[j]:rs[j+1]], base[k]+rs[j], prev[ps[j]:ps[j+1]], base[k-1]+ps[j])
			}
		}
	}
	type comp struct {
		root int32
		size int
		sum  float64 // sum of HU
	}
	byRoot := map[int32]*comp{}
	var comps []*comp
	for k := 0; k < nz; k++ {
		for x, r := range s.runs[k] {
			g := base[k] + int32(x)
			root := find(g)
			parent[g] = root
			cp := byRoot[root]
			if cp == nil {
				cp = &comp{root: root}
				byRoot[root] = cp
				comps = append(comps, cp)
			}
			cp.size += int(r.i1 - r.i0)
			cp.sum += r.sum
		}
	}
	sort.Slice(comps, func(a, b int) bool { return comps[a].size > comps[b].size })
	vox := hu.Spacing[0] * hu.Spacing[1] * hu.Spacing[2] / 1000
	clear(dst.Data)
	if len(comps) == 0 || float64(comps[0].size)*vox < opt.MinLungML {
		largest := 0.0
		if len(comps) > 0 {
			largest = float64(comps[0].size) * vox
		}
		return fmt.Errorf("%w: largest air component %.1f mL", ErrNoLungs, largest)
	}
	// The second lung: the next largest component that is big enough and
	// is parenchyma, not pure air (bowel gas, air inside the table).
	keep := comps[:1]
	for _, cp := range comps[1:] {
		if float64(cp.size)*vox < opt.MinLungML || cp.size*20 < comps[0].size {
			break
		}
		if cp.sum/float64(cp.size) > maxPureAirHU {
			keep = append(keep[:1:1], cp)
			break
		}
	}
	for _, cp := range keep {
		st.ComponentsML = append(st.ComponentsML, float64(cp.size)*vox)
	}
	single := len(keep) == 1
	r1 := keep[0].root
	r2 := int32(-1)
	if !single {
		r2 = keep[1].root
	}
	parallel(nz, func(_, k int) {
		d := dst.Data[k*nxy : (k+1)*nxy]
		cx := s.cx[k]
		for x, r := range s.runs[k] {
			root := parent[base[k]+int32(x)] // fully compressed above
			var l uint8
			switch root {
			case r1:
				l = 1
			case r2:
				l = 2
			default:
				continue
			}
			row := d[int(r.j)*nx:]
			for i := r.i0; i < r.i1; i++ {
				li := l
				// The lungs touch (or one is missing): split at the body
				// midline so that each side is closed on its own.
				if single && float64(i) > cx {
					li = 2
				}
				row[i] = li
			}
		}
	})
	return nil
}

// closer holds one worker's 2-D buffers for close.
type closer struct {
	f, g  []float32
	m     []uint8
	v     []int32
	z     []float32
	res   []uint8
	stack []int32
}

// close replaces each lung label in dst, slice by slice, by its disk
// closing with holes filled, limited to the body and outside the airway;
// dst ends as a 0/1 mask. It returns the number of mask voxels.
func (s *Segmenter) close(hu *volume.Volume[int16], opt Options, dst *volume.Volume[uint8]) int {
	var count atomic.Int64
	nx, ny, nz := hu.Dims[0], hu.Dims[1], hu.Dims[2]
	nxy := nx * ny
	sx, sy := float32(hu.Spacing[0]), float32(hu.Spacing[1])
	r := opt.ClosingRadiusMM
	r2 := float32(r * r)
	mx := int(math.Ceil(r/hu.Spacing[0])) + 2
	my := int(math.Ceil(r/hu.Spacing[1])) + 2
	workers := make([]*closer, runtime.GOMAXPROCS(0))
	parallel(nz, func(wk, k int) {
		cl := workers[wk]
		if cl == nil {
			cl = &closer{res: make([]uint8, nxy)}
			workers[wk] = cl
		}
		d := dst.Data[k*nxy : (k+1)*nxy]
		c := s.cls[k*nxy : (k+1)*nxy]
		res := cl.res
		clear(res)
		found := false
		for label := uint8(1); label <= 2; label++ {
			i0, i1, j0, j1 := nx, -1, ny, -1
			for j := 0; j < ny; j++ {
				row := d[j*nx : (j+1)*nx]
				for i, v := range row {
					if v == label {
						i0, i1 = min(i0, i), max(i1, i)
						j0, j1 = min(j0, j), max(j1, j)
					}
				}
			}
			if i1 < 0 {
				continue
			}
			found = true
			i0, i1 = max(0, i0-mx), min(nx-1, i1+mx)
			j0, j1 = max(0, j0-my), min(ny-1, j1+my)
			w, h := i1-i0+1, j1-j0+1
			cl.ensure(w, h)
			f := cl.f[:w*h]
			// Dilation: distance to the lung ≤ r.
			for j := 0; j < h; j++ {
				for i := 0; i < w; i++ {
					if d[(j+j0)*nx+i+i0] == label {
						f[j*w+i] = 0
					} else {
						f[j*w+i] = inf
					}
				}
			}
			cl.edt(f, w, h, sx, sy)
			// Erosion of the dilation: distance to its complement > r.
			for p, x := range f {
				if x <= r2 {
					f[p] = inf
				} else {
					f[p] = 0
				}
			}
			cl.edt(f, w, h, sx, sy)
			// Closed set: f > r2. Fill its holes: background reached from
			// the box border stays background.
			m := cl.m[:w*h]
			for p, x := range f {
				if x > r2 {
					m[p] = 1
				} else {
					m[p] = 0
				}
			}
			cl.stack = borderFill(m, w, h, 0, 2, cl.stack)
			for j := 0; j < h; j++ {
				for i := 0; i < w; i++ {
					if m[j*w+i] != 2 {
						res[(j+j0)*nx+i+i0] = 1
					}
				}
			}
		}
		if !found {
			clear(d)
			return
		}
		n := 0
		for p := range d {
			if res[p] == 1 && c[p] != cOutside && c[p] != cAirway {
				d[p] = 1
				n++
			} else {
				d[p] = 0
			}
		}
		count.Add(int64(n))
	})
	return int(count.Load())
}

const inf = float32(1e20)

func (cl *closer) ensure(w, h int) {
	if len(cl.f) < w*h {
		cl.f = make([]float32, w*h)
		cl.g = make([]float32, w*h)
		cl.m = make([]uint8, w*h)
	}
	if n := max(w, h); len(cl.v) < n+1 {
		cl.v = make([]int32, n+1)
		cl.z = make([]float32, n+1)
	}
}

// edt replaces f (0 at feature pixels, inf elsewhere; w×h, row-major) by the
// squared Euclidean distance in mm² to the nearest feature pixel, with pixel
// spacing sx, sy mm (separable lower-envelope algorithm).
func (cl *closer) edt(f []float32, w, h int, sx, sy float32) {
	// Columns: 1-D distance along y by two sweeps.
	for i := 0; i < w; i++ {
		last := -1
		for j := 0; j < h; j++ {
			if f[j*w+i] == 0 {
				last = j
			} else if last >= 0 {
				d := float32(j-last) * sy
				f[j*w+i] = d * d
			}
		}
		last = -1
		for j := h - 1; j >= 0; j-- {
			p := j*w + i
			if f[p] == 0 {
				last = j
			} else if last >= 0 {
				d := float32(last-j) * sy
				if d*d < f[p] {
					f[p] = d * d
				}
			}
		}
	}
	// Rows: lower envelope of parabolas sx²(i−q)² + f[q].
	v, z := cl.v, cl.z
	g := cl.g
	s2 := sx * sx
	for j := 0; j < h; j++ {
		row := f[j*w : (j+1)*w]
		out := g[:w]
		kk := -1
		for q := 0; q < w; q++ {
			if row[q] >= inf {
				continue
			}
			fq := row[q] + s2*float32(q*q)
			for kk >= 0 {
				p := int(v[kk])
				sIsect := (fq - (row[p] + s2*float32(p*p))) / (2 * s2 * float32(q-p))
				if sIsect <= z[kk] {
					kk--
					continue
				}
				kk++
				v[kk] = int32(q)
				z[kk] = sIsect
				break
			}
			if kk < 0 {
				kk = 0
				v[0] = int32(q)
				z[0] = float32(math.Inf(-1))
			}
		}
		if kk < 0 {
			continue // no feature in this row: stays inf
		}
		z[kk+1] = float32(math.Inf(1))
		t := 0
		for q := 0; q < w; q++ {
			for z[t+1] < float32(q) {
				t++
			}
			p := int(v[t])
			dq := float32(q-p) * sx
			out[q] = dq*dq + row[p]
		}
		copy(row, out)
	}
}
