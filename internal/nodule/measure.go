package nodule

import (
	"math"
	"slices"
	"sort"

	"github.com/lungctl/lungctl/internal/features"
	"github.com/lungctl/lungctl/internal/volume"
)

// measure fills res from the labelled box.
func (ws *Workspace) measure(b *boxInfo, hu *volume.Volume[int16], res *Result, opt Options) {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	sp := b.grid.Spacing
	vox := sp[0] * sp[1] * sp[2]
	var nBody int
	var sum [3]float64
	var sumHU float64
	vals := ws.vals[:0]
	b.body = [2]int{b.len(), -1}
	for k := 0; k < nz; k++ {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				p := i + nx*(j+ny*k)
				if ws.lab[p] == lBody {
					b.body = [2]int{min(b.body[0], p), p}
					nBody++
					sum[0] += float64(i)
					sum[1] += float64(j)
					sum[2] += float64(k)
					sumHU += float64(ws.raw[p])
					vals = append(vals, float32(ws.raw[p]))
				}
			}
		}
	}
	ws.vals = vals
	f := float64(nBody)
	cen := volume.Vec3{sum[0] / f, sum[1] / f, sum[2] / f}
	res.Centre = [3]float64(b.grid.IndexToWorld(cen))
	res.VolumeMM3 = f * vox
	res.MeanHU = sumHU / f
	res.LongAxisMM, res.ShortAxisMM = ws.axes(b, lBody)
	res.MeanDiameterMM = (res.LongAxisMM + res.ShortAxisMM) / 2
	p75 := float64(quantile(vals, 0.75))

	// The solid threshold, the solid part's blob test and the densest core
	// all read the body's smoothed HU (the body's voxels do not change
	// while the solid part is labelled and unlabelled): collect it once.
	sm := vals[:0]
	for p := b.body[0]; p <= b.body[1]; p++ {
		if ws.lab[p] == lBody {
			sm = append(sm, ws.sm.Data[p])
		}
	}
	ws.vals = sm
	smMed := float64(quantile(sm, 0.5))

	// Solid component: the largest 6-connected set of body voxels whose
	// smoothed HU exceeds the solid threshold (solidThreshold) and that
	// spans the body or is a blob at its densest point (solidPart).
	res.SolidThresholdHU = solidThreshold(sm, smMed, opt.SolidHU)
	// A vessel running through ground glass is dense but is not its solid
	// component (Lung-RADS): a would-be solid part that does not span the
	// body and whose densest point is a tube, not a bright blob, is passed
	// over for the next largest.
	solid := ws.solidPart(b, float32(res.SolidThresholdHU), func(n int) bool {
		res.SolidVolumeMM3 = float64(n) * vox
		res.SolidLongAxisMM, res.SolidShortAxisMM = ws.axes(b, lSolid)
		res.SolidDiameterMM = (res.SolidLongAxisMM + res.SolidShortAxisMM) / 2
		return spansBody(res) || ws.solidBlobRatio(b, smMed) >= coreBlobMin
	})
	if solid == 0 {
		res.SolidVolumeMM3, res.SolidLongAxisMM, res.SolidShortAxisMM, res.SolidDiameterMM = 0, 0, 0, 0
	} else if bp, pk := ws.densestSolid(); bp >= 0 {
		res.solidAt = [3]float64(b.grid.IndexToWorld(volume.Vec3{float64(bp % nx), float64((bp / nx) % ny), float64(bp / (nx * ny))}))
		res.solidPeakHU = float64(pk)
	}
	ws.unlabelSolid()
	peak, centre := densestCore(b, sm, ws.sm.Data, cen)
	res.WallContact = ws.wallContact(b)
	bl := blurSigma(opt.SourceSpacingMM, opt.SliceThicknessMM, opt.KernelSigmaMM, [3]float64(sp))
	res.blur = bl
	top := float64(quantile(sm, 1))
	res.PVDensityHU, res.PVAttenuation = pvDensity(top, res.BackgroundHU, math.Cbrt(3*res.VolumeMM3/(4*math.Pi)), bl)
	if res.SolidDiameterMM < coreMinMM && res.PVAttenuation >= pvSmallA {
		ws.smallCore(b, res, smMed, top, bl)
	}
	res.Type = classify(res, p75, peak, centre, opt)
	if res.Type == Solid && pvSmall(res.PVAttenuation) {
		// A small lesion's solid part is the whole of it; blurred, only
		// its middle passes the solid threshold.
		res.SolidDiameterMM = math.Max(res.SolidDiameterMM, res.MeanDiameterMM)
		res.SolidLongAxisMM = math.Max(res.SolidLongAxisMM, res.LongAxisMM)
		res.SolidShortAxisMM = math.Max(res.SolidShortAxisMM, res.ShortAxisMM)
	}
	res.Sphericity = ws.sphericity(b, res.VolumeMM3)
	if opt.DeferDescriptors {
		res.pending, res.lungCut = true, slices.Clone(ws.cuts)
	} else {
		ws.describe(b, res, cen, res.VolumeMM3)
	}
	// Judged on its own density: a vessel crossing the lesion, denser than
	// its upper quartile, counts no more than the lesion's own voxels.
	res.BlobRatio = ws.blobRatio(b, cen, math.Cbrt(3*res.VolumeMM3/(4*math.Pi))/math.Sqrt(3), res.BackgroundHU, p75)
	// A juxtapleural nodule is judged as the ball it would be were the
	// pleura a mirror.
	if m, ok := ws.mirroredBlobRatio(b, cen, res, p75); ok {
		res.BlobRatio = math.Max(res.BlobRatio, m)
	} else if res.WallContact < mirrorMinContact && res.MeanDiameterMM >= frameMinMM && ws.continuedShare(b) < frameMaxContinued {
		// An ovoid lesion in the lung that closes by itself is judged as
		// round as its own shape allows (see frameMinMM).
		res.BlobRatio = math.Max(res.BlobRatio, ws.frameBlobRatio(b, cen, res.BackgroundHU, p75))
	}
	res.CapCut = ws.capCut(b)
	// A solid nodule's volume from the HU excess blur conserves (the
	// features above keep the voxel count, on which they were fitted).
	switch {
	case res.Type == Solid && pvSmall(res.PVAttenuation):
		res.VolumeMM3 = ws.smallVolume(b, res, bl, top)
	case (res.Type == Solid || res.Type == Calcified && b.coreCap != CoreCapHU) && res.MeanDiameterMM < maxMassVolumeMM:
		// So does a lesion calcified to its edge (calcifiedEdge).
		res.VolumeMM3 = ws.massVolume(b, res, bl)
	}
	res.Mask = make([]uint8, b.len())
	for p, l := range ws.lab {
		if l == lBody {
			res.Mask[p] = 1
		}
	}
}

// solidThreshold is the HU above which the body is solid: SolidHU (−300),
// unless the body is a ground-glass plateau with a denser core, where a small
// core, blurred by the scanner, never reaches −300 HU: when the body's
// smoothed peak (99th percentile) stands at least 200 HU above its median
// (the plateau) and above −500 HU, the core's edge is the half-maximum
// between plateau and peak, if that is below SolidHU. A solid nodule's peak
// and median are close, so it keeps SolidHU. vals holds the body's smoothed
// HU, med their median.
func solidThreshold(vals []float32, med, solidHU float64) float64 {
	if len(vals) < 8 {
		return solidHU
	}
	peak := float64(quantile(vals, 0.99))
	if peak-med < 200 || peak < -500 {
		return solidHU
	}
	return math.Min(solidHU, (med+peak)/2)
}

// coreMinMM is the smallest solid component, in mm across, that makes a
// lesion part-solid rather than non-solid; a ball of it is also the core
// whose density decides a small calcified lesion (see classify).
const coreMinMM = 2

// densestCore returns the smoothed HU that the body's densest coreMinMM
// ball of voxels reaches (its k-th highest smoothed voxel, k that ball's
// voxel count) and the smoothed HU at the body's centroid cen (box voxel
// index). vals holds the body's smoothed HU, sm the smoothed box.
func densestCore(b *boxInfo, vals, sm []float32, cen volume.Vec3) (peak, centre float64) {
	sp := b.grid.Spacing
	k := int(math.Ceil(math.Pi / 6 * coreMinMM * coreMinMM * coreMinMM / (sp[0] * sp[1] * sp[2])))
	peak = float64(quantile(vals, 1-float64(k)/float64(len(vals))))
	var idx [3]int
	for a := range idx {
		idx[a] = min(max(int(math.Round(cen[a])), 0), b.n[a]-1)
	}
	centre = float64(sm[idx[0]+b.n[0]*(idx[1]+b.n[1]*idx[2])])
	return peak, centre
}

// spansBody reports whether r's solid component spans its body, up to the
// partial-volume rim a blurred edge leaves: solid mean diameter at least
// 0.8 of the body's, or within 2.5 mm of it, and the same of their
// equivalent-volume diameters. The axial axes alone take a thin solid
// sheet for a span: a vessel that ground glass abuts, of which the body
// holds a curved slab along the contact (24 × 16 mm across but 6 % of a
// 17 mm ground-glass lesion's volume), would make the lesion solid.
func spansBody(r *Result) bool {
	return spans(r.SolidDiameterMM, r.MeanDiameterMM) && spans(eqDiameter(r.SolidVolumeMM3), eqDiameter(r.VolumeMM3))
}

// spans reports whether a solid part of diameter solid (mm) spans a body of
// diameter body (mm), up to the partial-volume rim: at least 0.8 of it, or
// within 2.5 mm of it.
func spans(solid, body float64) bool { return solid >= 0.8*body || solid >= body-2.5 }

// eqDiameter is the diameter (mm) of the ball of volume v (mm³).
func eqDiameter(v float64) float64 { return math.Cbrt(6 * v / math.Pi) }

// solidBlobRatio is blobRatio at the solid component's densest voxel
// (smoothed), at σ 1 mm (a 2–4 mm core's own scale), against the body's
// median smoothed HU med (the ground glass around it).
func (ws *Workspace) solidBlobRatio(b *boxInfo, med float64) float64 {
	bp, _ := ws.densestSolid()
	if bp < 0 {
		return 0
	}
	nx, ny := b.n[0], b.n[1]
	c := volume.Vec3{float64(bp % nx), float64((bp / nx) % ny), float64(bp / (nx * ny))}
	return ws.blobRatio(b, c, 1, med, math.Inf(1))
}

// densestSolid returns the index and smoothed HU of the densest voxel
// labelled lSolid (the smallest index among equals), or −1 when none is.
// The labelled voxels are those solidPart listed in ws.solid: a scan of
// the whole box for them, on every set solidPart offers, took about 6 %
// of the segmentations' CPU on LIDC-IDRI-0001.
func (ws *Workspace) densestSolid() (int, float32) {
	best, bp := float32(-1e9), -1
	for _, q := range ws.solid {
		p := int(q)
		if v := ws.sm.Data[p]; ws.lab[p] == lSolid && (v > best || v == best && p < bp) {
			best, bp = v, p
		}
	}
	return bp, best
}

// unlabelSolid returns the solid component's voxels to the body.
func (ws *Workspace) unlabelSolid() {
	for _, p := range ws.solid {
		if ws.lab[p] == lSolid {
			ws.lab[p] = lBody
		}
	}
	ws.solid = ws.solid[:0]
}

// coreBlobMin is the least blob ratio (weakest over strongest curvature,
// see blobRatio) at a solid part's densest point for it to be a core: a
// vessel through ground glass is a tube there (0.1–0.3 on the phantoms),
// a core a bright blob (0.5–0.9, also when 2.5 mm slices stretch it).
const coreBlobMin = 0.4

// lSolid marks body voxels of the solid component while measuring it.
const lSolid = 5

// maxSolidTries is how many connected sets above the solid threshold,
// largest first, solidPart offers before it gives up.
const maxSolidTries = 4

// solidPart labels lSolid the largest 6-connected set of body voxels above
// solidHU (smoothed) that accept takes (accept reads the labelled set) and
// returns its size, or 0 with nothing labelled when accept takes none of
// the maxSolidTries largest sets. A vessel running through ground glass may
// be the largest such set while the lesion's solid core is a smaller one:
// the largest alone would hide the core.
func (ws *Workspace) solidPart(b *boxInfo, solidHU float32, accept func(n int) bool) int {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	const cand, done = 6, 7
	// Only the body's voxels are looked at (b.body spans them).
	first, last := b.body[0], b.body[1]
	for p := first; p <= last; p++ {
		if ws.lab[p] == lBody && ws.sm.Data[p] > solidHU {
			ws.lab[p] = cand
		}
	}
	type comp struct{ start, size int }
	var comps []comp
	q := ws.queue[:0]
	for s := first; s <= last; s++ {
		if ws.lab[s] != cand {
			continue
		}
		q = append(q[:0], int32(s))
		ws.lab[s] = done
		for h := 0; h < len(q); h++ {
			p := int(q[h])
			for _, np := range neighbours6(p, nx, ny, nz) {
				if np >= 0 && ws.lab[np] == cand {
					ws.lab[np] = done
					q = append(q, int32(np))
				}
			}
		}
		comps = append(comps, comp{s, len(q)})
	}
	for p := first; p <= last; p++ {
		if ws.lab[p] == done {
			ws.lab[p] = lBody
		}
	}
	// Largest first; equal sizes in scan order (the sort is stable).
	sort.SliceStable(comps, func(a, c int) bool { return comps[a].size > comps[c].size })
	for t, c := range comps {
		if t == maxSolidTries {
			break
		}
		q = append(q[:0], int32(c.start))
		ws.lab[c.start] = lSolid
		for h := 0; h < len(q); h++ {
			p := int(q[h])
			for _, np := range neighbours6(p, nx, ny, nz) {
				if np >= 0 && ws.lab[np] == lBody && ws.sm.Data[np] > solidHU {
					ws.lab[np] = lSolid
					q = append(q, int32(np))
				}
			}
		}
		ws.solid = append(ws.solid[:0], q...)
		if accept(c.size) {
			ws.queue = q
			return c.size
		}
		for _, p := range q {
			ws.lab[p] = lBody
		}
		ws.solid = ws.solid[:0]
	}
	ws.queue = q
	return 0
}

func neighbours6(p, nx, ny, nz int) [6]int {
	i, j, k := p%nx, (p/nx)%ny, p/(nx*ny)
	out := [6]int{-1, -1, -1, -1, -1, -1}
	if i > 0 {
		out[0] = p - 1
	}
	if i < nx-1 {
		out[1] = p + 1
	}
	if j > 0 {
		out[2] = p - nx
	}
	if j < ny-1 {
		out[3] = p + nx
	}
	if k > 0 {
		out[4] = p - nx*ny
	}
	if k < nz-1 {
		out[5] = p + nx*ny
	}
	return out
}

// neighbours26 returns the box indices of p's 26 neighbours (dk, dj, di
// each from −1 to 1, in that nesting, p itself left out), −1 for one
// outside the box.
func neighbours26(p, nx, ny, nz int) [26]int {
	i, j, k := p%nx, (p/nx)%ny, p/(nx*ny)
	var out [26]int
	n := 0
	for dk := -1; dk <= 1; dk++ {
		for dj := -1; dj <= 1; dj++ {
			for di := -1; di <= 1; di++ {
				if di == 0 && dj == 0 && dk == 0 {
					continue
				}
				out[n] = -1
				if a, c, e := i+di, j+dj, k+dk; a >= 0 && c >= 0 && e >= 0 && a < nx && c < ny && e < nz {
					out[n] = a + nx*(c+ny*e)
				}
				n++
			}
		}
	}
	return out
}

// classify decides the density class from the body and its solid part:
//   - calcified: the body's 75th-percentile HU exceeds CalcifiedHU
//     (diffuse calcification), or its densest coreMinMM core does and so
//     does its centre (central calcification; a small calcified nodule's
//     blurred rim, a partial-volume skirt, pulls its percentiles down, its
//     core and centre much less; an eccentric fleck in a soft-tissue nodule
//     does not count); short of the partial-volume model's small
//     lesions, core and centre read as the model corrects them (their
//     contrast over A, pvMinA… below, a few per cent more: a 10 mm
//     granuloma of phantom seeds 1151–1160 peaks at 161 HU on 5 mm
//     slices, A 0.92, 238 HU corrected),
//     unless the lesion lies against the wall (pvWallMax);
//   - a small lesion (partial-volume attenuation pvMinA ≤ A < pvSmallA,
//     about 3–6 mm at 2.5 mm slices) is typed by its partial-volume
//     density PVDensityHU instead, which its blurred peak understates:
//     calcified above CalcifiedHU (unless it lies against the wall, see
//     pvWallMax), solid above SolidHU, non-solid otherwise (a solid core
//     inside a lesion this small cannot be told from it; Lung-RADS treats
//     part-solid lesions under 6 mm as it treats non-solid ones);
//   - non-solid: no solid component at least 2 mm across;
//   - solid: the solid component spans the body, up to the partial-volume
//     rim a blurred edge leaves (solid mean diameter ≥ 0.8 of the body's,
//     or within 2.5 mm of it, and the same of their equivalent-volume
//     diameters: spansBody);
//   - part-solid otherwise.
func classify(r *Result, p75, corePeak, centre float64, opt Options) Type {
	small := pvSmall(r.PVAttenuation)
	switch {
	case p75 > opt.CalcifiedHU, corePeak > opt.CalcifiedHU && centre > opt.CalcifiedHU:
		return Calcified
	case !small && r.PVAttenuation >= pvSmallA && r.PVAttenuation < 1 && r.WallContact < pvWallMax &&
		pvCorrected(corePeak, r) > opt.CalcifiedHU && pvCorrected(centre, r) > opt.CalcifiedHU:
		return Calcified
	case small && r.PVDensityHU > opt.CalcifiedHU && r.WallContact < pvWallMax:
		return Calcified
	case small && r.PVDensityHU > opt.SolidHU:
		return Solid
	case small:
		return NonSolid
	case r.SolidDiameterMM < coreMinMM:
		return NonSolid
	case spansBody(r):
		return Solid
	default:
		return PartSolid
	}
}

// axes returns the Lung-RADS long and short axes (mm) of the voxels
// labelled label over the axial slices of the box: on each slice the
// longest distance between two member pixels (centre to centre, plus the
// pixel's extent along that direction), and the width perpendicular to it;
// the slice with the longest long axis wins. The convex hull of a slice's
// pixels is that of each row's first and last pixel, so only those are
// gathered.
func (ws *Workspace) axes(b *boxInfo, label uint8) (long, short float64) {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	sx, sy := b.grid.Spacing[0], b.grid.Spacing[1]
	pts := ws.hullPts[:0]
	for k := 0; k < nz; k++ {
		pts = pts[:0]
		for j := 0; j < ny; j++ {
			row := ws.lab[nx*(j+ny*k) : nx*(j+ny*k+1)]
			first := slices.Index(row, label)
			if first < 0 {
				continue
			}
			last := first
			for i := nx - 1; i > first; i-- {
				if row[i] == label {
					last = i
					break
				}
			}
			pts = append(pts, [2]float64{float64(first) * sx, float64(j) * sy})
			if last != first {
				pts = append(pts, [2]float64{float64(last) * sx, float64(j) * sy})
			}
		}
		if len(pts) == 0 {
			continue
		}
		h := hull(pts)
		l, u := 0.0, [2]float64{1, 0}
		for a := 0; a < len(h); a++ {
			for c := a + 1; c < len(h); c++ {
				dx, dy := h[c][0]-h[a][0], h[c][1]-h[a][1]
				if d := math.Hypot(dx, dy); d > l {
					l, u = d, [2]float64{dx / d, dy / d}
				}
			}
		}
		l += math.Abs(u[0])*sx + math.Abs(u[1])*sy
		if l <= long {
			continue
		}
		v := [2]float64{-u[1], u[0]}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, p := range h {
			t := p[0]*v[0] + p[1]*v[1]
			lo, hi = math.Min(lo, t), math.Max(hi, t)
		}
		long, short = l, hi-lo+math.Abs(v[0])*sx+math.Abs(v[1])*sy
	}
	ws.hullPts = pts
	return long, short
}

// hull returns the convex hull of pts (Andrew's monotone chain).
func hull(pts [][2]float64) [][2]float64 {
	if len(pts) < 3 {
		return append([][2]float64(nil), pts...)
	}
	p := append([][2]float64(nil), pts...)
	sort.Slice(p, func(a, b int) bool {
		if p[a][0] != p[b][0] {
			return p[a][0] < p[b][0]
		}
		return p[a][1] < p[b][1]
	})
	cross := func(o, a, b [2]float64) float64 {
		return (a[0]-o[0])*(b[1]-o[1]) - (a[1]-o[1])*(b[0]-o[0])
	}
	var h [][2]float64
	for _, q := range p {
		for len(h) >= 2 && cross(h[len(h)-2], h[len(h)-1], q) <= 0 {
			h = h[:len(h)-1]
		}
		h = append(h, q)
	}
	lower := len(h) + 1
	for i := len(p) - 2; i >= 0; i-- {
		q := p[i]
		for len(h) >= lower && cross(h[len(h)-2], h[len(h)-1], q) <= 0 {
			h = h[:len(h)-1]
		}
		h = append(h, q)
	}
	return h[:len(h)-1]
}

// sphericity is π^⅓(6V)^⅔/A with the body's surface area A estimated from
// its exposed voxel faces divided by 1.5 (the mean ratio of a digital
// surface's face area to the true area over orientations).
func (ws *Workspace) sphericity(b *boxInfo, vol float64) float64 {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	sp := b.grid.Spacing
	fa := [3]float64{sp[1] * sp[2], sp[0] * sp[2], sp[0] * sp[1]}
	var area float64
	for k := 0; k < nz; k++ {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				p := i + nx*(j+ny*k)
				if ws.lab[p] != lBody {
					continue
				}
				nb := neighbours6(p, nx, ny, nz)
				for d, np := range nb {
					if np < 0 || ws.lab[np] != lBody {
						area += fa[d/2]
					}
				}
			}
		}
	}
	if area == 0 {
		return 0
	}
	return math.Min(1, math.Cbrt(math.Pi)*math.Pow(6*vol, 2.0/3)/(area/1.5))
}

// blobRatio is how round the intensity is at the box index cen at the
// lesion's own scale σ (mm; r/√3 for a ball of radius r, at least 1 mm):
// the weakest over the strongest curvature of the Gaussian-smoothed
// intensity's Hessian there, 0 when it is not a bright top (a tube scores
// near 0, a vessel's bend or fork 0.2–0.5, a ball 1). Voxels outside the
// lung mask count as surrounding lung (bg HU), so a mass against the
// mediastinum is judged on its own shape, not on the organ beside it
// (while ws.mirror is set, those beyond its plane count as their mirror
// image: mirroredBlobRatio); and
// HU above clip count as clip, so a vessel crossing a ground-glass lesion
// (at soft-tissue density, far above the lesion's own) does not turn its
// centre into a tube (phantom seeds 106 and 117: 0.48 and 0.44 unclipped,
// 0.54 and 0.57 clipped at the body's upper quartile). The
// Hessian is the convolution with the Gaussian's second derivatives
// evaluated at the one point, over the voxels within 3σ (every σ/3 for
// large σ).
func (ws *Workspace) blobRatio(b *boxInfo, cen volume.Vec3, sigma, bg, clip float64) float64 {
	sigma = math.Max(sigma, 1)
	nx, ny := b.n[0], b.n[1]
	sp := b.grid.Spacing
	lo, hi, st := b.kernelWindow(cen, sigma, sigma)
	s2 := sigma * sigma
	var h [6]float64 // xx yy zz xy xz yz
	for k := lo[2]; k <= hi[2]; k += st {
		dz := (float64(k) - cen[2]) * sp[2]
		for j := lo[1]; j <= hi[1]; j += st {
			dy := (float64(j) - cen[1]) * sp[1]
			for i := lo[0]; i <= hi[0]; i += st {
				dx := (float64(i) - cen[0]) * sp[0]
				r2 := dx*dx + dy*dy + dz*dz
				if r2 > 9*s2 {
					continue
				}
				p := i + nx*(j+ny*k)
				v := 0.0
				if ws.lung[p] != 0 {
					v = math.Min(float64(ws.raw[p]), clip) - bg
				} else if ws.mirror != nil {
					v = ws.mirrored(b, i, j, k, clip, bg)
				}
				g := v * math.Exp(-r2/(2*s2)) / (s2 * s2)
				h[0] += g * (dx*dx - s2)
				h[1] += g * (dy*dy - s2)
				h[2] += g * (dz*dz - s2)
				h[3] += g * dx * dy
				h[4] += g * dx * dz
				h[5] += g * dy * dz
			}
		}
	}
	return hessianRoundness(h)
}

// kernelWindow returns the box index range (inclusive, per axis, clipped
// to the box) within 3·sigmaMax mm of the box index cen, and the step
// (voxels) at which a Gaussian kernel whose narrowest σ is sigmaMin (mm)
// is sampled there: the kernel is smooth at its own scale, so sampling it
// every σ/3 (a Riemann sum) keeps a 60 mm mass's Hessian to thousands of
// terms.
func (b *boxInfo) kernelWindow(cen volume.Vec3, sigmaMax, sigmaMin float64) (lo, hi [3]int, st int) {
	sp := b.grid.Spacing
	for a := 0; a < 3; a++ {
		r := 3 * sigmaMax / sp[a]
		lo[a] = max(0, int(math.Floor(cen[a]-r)))
		hi[a] = min(b.n[a]-1, int(math.Ceil(cen[a]+r)))
	}
	return lo, hi, max(1, int(sigmaMin/(3*math.Max(sp[0], math.Max(sp[1], sp[2])))))
}

// hessianRoundness is the weakest over the strongest curvature of the
// Hessian h (xx yy zz xy xz yz) at a bright top, 0 where it is none.
func hessianRoundness(h [6]float64) float64 {
	ev := features.Eigen3(h)
	if ev[2] >= 0 {
		return 0
	}
	return ev[2] / ev[0]
}

// surfaceShare is the share of the body's surface (voxel faces between a
// body voxel and one that is not) whose outer voxel np counts (hit); a face
// on the box's edge counts as edge says (see edgeFace).
func (ws *Workspace) surfaceShare(b *boxInfo, edge edgeFace, hit func(np int) bool) float64 {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	var n, all int
	for p, l := range ws.lab {
		if l != lBody {
			continue
		}
		for _, np := range neighbours6(p, nx, ny, nz) {
			switch {
			case np < 0:
				all++
				if edge == edgeHits {
					n++
				}
			case ws.lab[np] == lBody:
			default:
				all++
				if hit(np) {
					n++
				}
			}
		}
	}
	if all == 0 {
		return 0
	}
	return float64(n) / float64(all)
}

// edgeFace says how surfaceShare counts a face on the box's edge: as a face
// that does not count, or as one that does.
type edgeFace int

const (
	edgeMisses edgeFace = iota
	edgeHits
)

// wallContact is the share of the body's surface (voxel faces) that faces
// voxels outside the lung mask rather than lung: 0 for a nodule surrounded by
// lung, about a third for one sitting on the pleura, a half and more for a
// piece of the mediastinum or diaphragm that the mask's closing took in.
// The box's edge is not evidence either way.
func (ws *Workspace) wallContact(b *boxInfo) float64 {
	return ws.surfaceShare(b, edgeMisses, func(np int) bool { return ws.lung[np] == 0 })
}

// capCut is the share of the body's surface (voxel faces) where the region
// was cut by its cap: the neighbour lies beyond the cap's reach yet is dense
// enough and in the lung, so the region would have grown on (the box's edge
// cut it too). A lesion lies inside its cap (about 0); a vessel tree or a
// hilum that the cap truncated shows a large cut however round the
// truncated piece looks.
func (ws *Workspace) capCut(b *boxInfo) float64 {
	nx, ny := b.n[0], b.n[1]
	return ws.surfaceShare(b, edgeHits, func(np int) bool {
		i, j, k := np%nx, (np/nx)%ny, np/(nx*ny)
		return ws.lung[np] != 0 && ws.sm.Data[np] > b.thresh && b.distMM(i, j, k) > b.cap
	})
}

// bbox returns the voxel bounding box of the labels l, widened by margin
// voxels and clipped to the box.
func (ws *Workspace) bbox(b *boxInfo, l uint8, margin int) (lo, hi [3]int) {
	nx, ny, nz := b.n[0], b.n[1], b.n[2]
	lo = [3]int{nx, ny, nz}
	hi = [3]int{-1, -1, -1}
	for p, v := range ws.lab {
		if v != l {
			continue
		}
		i, j, k := p%nx, (p/nx)%ny, p/(nx*ny)
		lo = [3]int{min(lo[0], i), min(lo[1], j), min(lo[2], k)}
		hi = [3]int{max(hi[0], i), max(hi[1], j), max(hi[2], k)}
	}
	for a := 0; a < 3; a++ {
		lo[a] = max(0, lo[a]-margin)
		hi[a] = min(b.n[a]-1, hi[a]+margin)
	}
	return lo, hi
}
