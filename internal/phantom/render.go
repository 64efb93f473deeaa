package phantom

import (
	"math"

	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

// vec is a world point or direction in LPS mm.
type vec = volume.Vec3

func add(a, b vec) vec           { return vec{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func sub(a, b vec) vec           { return vec{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func scale(a vec, s float64) vec { return vec{a[0] * s, a[1] * s, a[2] * s} }
func dot(a, b vec) float64       { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func norm(a vec) float64         { return math.Sqrt(dot(a, a)) }
func unit(a vec) vec             { return scale(a, 1/norm(a)) }
func cross(a, b vec) vec {
	return vec{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}

// shape is a solid described by an approximate signed distance in mm
// (negative inside); the renderer corrects it by the numerical gradient near
// the surface, so the function only needs to be smooth, not exact.
type shape interface {
	// box returns an axis-aligned world box (mm) that contains the solid.
	box() (lo, hi vec)
	// sdf returns the approximate signed distance of world point p.
	sdf(x, y, z float64) float64
}

// Lung-mask effects of a layer.
const (
	lungNone  = iota // leaves the lung coverage alone (vessels)
	lungSet          // the solid is lung parenchyma
	lungErase        // the solid is not lung (airways, bone)
	lungMax          // the solid is part of the lung mask (nodules)
)

// layer paints one solid with a constant HU or an HU function of position.
type layer struct {
	s    shape
	hu   float32
	huFn func(x, y, z float64) float32
	lung int
	// lip bounds how fast sdf changes along x (mm per mm); 0 means 1.5.
	lip float64
	lo  vec
	hi  vec
}

func newLayer(s shape, hu float32, lung int) layer {
	lo, hi := s.box()
	return layer{s: s, hu: hu, lung: lung, lo: lo, hi: hi}
}

// coverage returns the fraction (0..1) of the voxel box centred at (x,y,z)
// with extents sp (mm) that the solid covers, from the signed distance d at
// the centre; band is the distance beyond which the answer is 0 or 1.
func coverage(s shape, x, y, z, d float64, sp vec, band float64) float64 {
	if d <= -band {
		return 1
	}
	const h = 0.1
	fx0, fx1 := s.sdf(x-h, y, z), s.sdf(x+h, y, z)
	fy0, fy1 := s.sdf(x, y-h, z), s.sdf(x, y+h, z)
	fz0, fz1 := s.sdf(x, y, z-h), s.sdf(x, y, z+h)
	gx, gy, gz := (fx1-fx0)/(2*h), (fy1-fy0)/(2*h), (fz1-fz0)/(2*h)
	gn := math.Sqrt(gx*gx + gy*gy + gz*gz)
	if gn < 1e-9 {
		if d < 0 {
			return 1
		}
		return 0
	}
	// Distance along the normal and the voxel's extent along it: a linear
	// ramp over that extent preserves the solid's volume for a plane.
	dist := d / gn
	w := (math.Abs(gx)*sp[0] + math.Abs(gy)*sp[1] + math.Abs(gz)*sp[2]) / gn
	// On a curved surface the ramp overestimates convex solids by
	// (κ1+κ2)·w²/24 per unit area: shift it by that much, κ1+κ2 being the
	// Laplacian of the (normalised) distance field.
	lap := (fx0 + fx1 + fy0 + fy1 + fz0 + fz1 - 6*d) / (h * h) / gn
	shift := lap * w * w / 24
	shift = max(-w/4, min(w/4, shift))
	dist += shift
	c := 0.5 - dist/w
	if c < 0 {
		return 0
	}
	if c > 1 {
		return 1
	}
	return c
}

// voxelBand is the distance (mm) beyond which a voxel with extents sp is
// entirely inside or outside a surface: half the voxel's largest extent
// along any normal (its diagonal), with a 25 % margin for fields whose
// gradient exceeds 1.
func voxelBand(sp vec) float64 { return 0.625 * norm(sp) }

// sliceBuf is where one slice (nx × ny, x fastest) is painted. In direct
// mode (hu != nil) layers are painted over hu (HU) and lcov (lung
// coverage 0..1). In affine mode (t != nil) the slice's result is kept as
// a map of the background density B, result = t·B + a, so a later pass can
// apply it to any background; tiles (16×16 pixels) record which pixels
// were touched.
type sliceBuf struct {
	nx, ny   int
	tnx      int // tiles per row
	hu, lcov []float32
	t, a     []float32
	tiles    []bool
}

// tileShift is log2 of the tile edge in pixels.
const tileShift = 4

func newAffineBuf(nx, ny int) *sliceBuf {
	b := &sliceBuf{nx: nx, ny: ny, t: make([]float32, nx*ny), a: make([]float32, nx*ny)}
	b.tnx = b.ntx()
	b.tiles = make([]bool, b.tnx*b.nty())
	for i := range b.t {
		b.t[i] = 1
	}
	return b
}

func (b *sliceBuf) ntx() int { return (b.nx + 1<<tileShift - 1) >> tileShift }
func (b *sliceBuf) nty() int { return (b.ny + 1<<tileShift - 1) >> tileShift }

// forTiles calls fn for the pixel range [o, o+n) of every row of every
// touched tile.
func (b *sliceBuf) forTiles(fn func(o, n int)) {
	ntx := b.ntx()
	for ti, on := range b.tiles {
		if !on {
			continue
		}
		tx, ty := ti%ntx, ti/ntx
		x0, y0 := tx<<tileShift, ty<<tileShift
		x1, y1 := min(x0+1<<tileShift, b.nx), min(y0+1<<tileShift, b.ny)
		for y := y0; y < y1; y++ {
			fn(y*b.nx+x0, x1-x0)
		}
	}
}

// reset makes the touched tiles of an affine buffer the identity again.
func (b *sliceBuf) reset() {
	b.forTiles(func(o, n int) {
		for i := o; i < o+n; i++ {
			b.t[i], b.a[i] = 1, 0
		}
	})
	clear(b.tiles)
}

// paint applies coverage c of density h (or, for fill, of a fill
// fraction: B → B + c·h·(softTissueHU − B)) to pixel o.
func (b *sliceBuf) paint(o, i, j int, c, h float32, lung int) {
	if b.hu != nil {
		b.hu[o] += c * (h - b.hu[o])
		switch lung {
		case lungSet:
			b.lcov[o] += c * (1 - b.lcov[o])
		case lungErase:
			b.lcov[o] -= c * b.lcov[o]
		case lungMax:
			b.lcov[o] = max(b.lcov[o], c)
		}
		return
	}
	b.t[o] *= 1 - c
	b.a[o] = b.a[o]*(1-c) + c*h
	b.tiles[(j>>tileShift)*b.tnx+i>>tileShift] = true
}

// apply maps pixel o through β·B + γ.
func (b *sliceBuf) apply(o, i, j int, beta, gamma float32) {
	if b.hu != nil {
		b.hu[o] = beta*b.hu[o] + gamma
		return
	}
	b.t[o] *= beta
	b.a[o] = b.a[o]*beta + gamma
	b.tiles[(j>>tileShift)*b.tnx+i>>tileShift] = true
}

// spanner is a shape that can list the x-intervals of a row that lie
// deeper than margin inside it (given its field's Lipschitz bound lip), so
// they can be filled without evaluating the field.
type spanner interface {
	spans(y, z, margin, lip float64, buf [][2]float64) [][2]float64
}

// zboxer is a shape that can bound the part of itself between two heights
// more tightly than its whole box.
type zboxer interface {
	zbox(z0, z1 float64) (lo, hi vec, ok bool)
}

// zbox bounds the part of a tube between heights z0 and z1 (mm).
func (t *tube) zbox(z0, z1 float64) (lo, hi vec, ok bool) {
	r := max(t.ra, t.rb)
	s0, s1 := 0.0, 1.0
	if dz := t.ab[2]; math.Abs(dz) > 1e-9 {
		a, b := (z0-r-t.a[2])/dz, (z1+r-t.a[2])/dz
		if a > b {
			a, b = b, a
		}
		s0, s1 = max(s0, a), min(s1, b)
		if s0 > s1 {
			return lo, hi, false
		}
	} else if t.a[2] < z0-r || t.a[2] > z1+r {
		return lo, hi, false
	}
	p, q := add(t.a, scale(t.ab, s0)), add(t.a, scale(t.ab, s1))
	for i := 0; i < 3; i++ {
		lo[i] = min(p[i], q[i]) - r
		hi[i] = max(p[i], q[i]) + r
	}
	return lo, hi, true
}

// renderLayers paints the layers onto the slice at height z (LPS mm) of
// g's x-y grid; sp is the voxel's extent (mm) for partial volume.
func renderLayers(g volume.Grid, z float64, sp vec, layers []layer, dst *sliceBuf) {
	nx, ny := dst.nx, dst.ny
	band := voxelBand(sp)
	for li := range layers {
		L := &layers[li]
		if z < L.lo[2]-band || z > L.hi[2]+band {
			continue
		}
		lo, hi := L.lo, L.hi
		if zb, ok := L.s.(zboxer); ok {
			var in bool
			if lo, hi, in = zb.zbox(z-band, z+band); !in {
				continue
			}
		}
		i0 := int(math.Floor((lo[0] - band - g.Origin[0]) / sp[0]))
		i1 := int(math.Ceil((hi[0] + band - g.Origin[0]) / sp[0]))
		j0 := int(math.Floor((lo[1] - band - g.Origin[1]) / sp[1]))
		j1 := int(math.Ceil((hi[1] + band - g.Origin[1]) / sp[1]))
		i0, j0 = max(i0, 0), max(j0, 0)
		i1, j1 = min(i1, nx-1), min(j1, ny-1)
		lip := L.lip
		if lip == 0 {
			lip = 1.5
		}
		spn, _ := L.s.(spanner)
		var spans [][2]float64
		for j := j0; j <= j1; j++ {
			y := g.Origin[1] + float64(j)*sp[1]
			row := j * nx
			if spn != nil {
				spans = spn.spans(y, z, band, lip, spans[:0])
			}
			si := 0
			for i := i0; i <= i1; {
				x := g.Origin[0] + float64(i)*sp[0]
				for si < len(spans) && x > spans[si][1] {
					si++
				}
				if si < len(spans) && x >= spans[si][0] {
					// deep inside: full coverage up to the span's end
					e := min(i1, int(math.Floor((spans[si][1]-g.Origin[0])/sp[0])))
					for ; i <= e; i++ {
						hu := L.hu
						if L.huFn != nil {
							hu = L.huFn(g.Origin[0]+float64(i)*sp[0], y, z)
						}
						dst.paint(row+i, i, j, 1, hu, L.lung)
					}
					si++
					continue
				}
				d := L.s.sdf(x, y, z)
				if d >= band {
					// sphere tracing: the field changes by at most lip per mm
					i += 1 + int((d-band)/(lip*sp[0]))
					continue
				}
				n := 1
				c := float32(1)
				if d <= -band {
					n = 1 + int((-d-band)/(lip*sp[0]))
				} else {
					c = float32(coverage(L.s, x, y, z, d, sp, band))
				}
				for e := min(i+n, i1+1); i < e; i++ {
					if c <= 0 {
						continue
					}
					hu := L.hu
					if L.huFn != nil {
						hu = L.huFn(g.Origin[0]+float64(i)*sp[0], y, z)
					}
					dst.paint(row+i, i, j, c, hu, L.lung)
				}
			}
		}
	}
}

// ssAxis is how many supersamples a voxel extent of e mm gets along one
// axis: about one per 0.35 mm, 2 to 4.
func ssAxis(e float64) int { return max(2, min(4, int(math.Ceil(e/0.35)))) }

// renderLesion paints lesion l onto the slice at height z of g's x-y grid
// (sp: voxel extent, mm). Voxels a boundary may cross are supersampled,
// ssAxis strata per axis inside the voxel, so the partial volume of the analytic solid (body, spicules, core, necrosis,
// air bronchogram, lung clip) is resolved; interior voxels take one sample
// at their centre.
func renderLesion(g volume.Grid, z float64, sp vec, l *lesion, dst *sliceBuf) {
	band := 0.5 * norm(sp)
	if z < l.lo[2]-band || z > l.hi[2]+band {
		return
	}
	nx, ny := dst.nx, dst.ny
	i0 := max(0, int(math.Floor((l.lo[0]-band-g.Origin[0])/sp[0])))
	i1 := min(nx-1, int(math.Ceil((l.hi[0]+band-g.Origin[0])/sp[0])))
	j0 := max(0, int(math.Floor((l.lo[1]-band-g.Origin[1])/sp[1])))
	j1 := min(ny-1, int(math.Ceil((l.hi[1]+band-g.Origin[1])/sp[1])))
	nxy, nz := ssAxis(sp[0]), ssAxis(sp[2])
	// Stratified (jittered) samples: one at a random point of each cell of
	// an nxy × nxy × nz grid, drawn per voxel from a hash of its position,
	// so a small solid's partial volume has no systematic error from a
	// lattice and little random error.
	var cells []vec
	for c := 0; c < nz; c++ {
		for b := 0; b < nxy; b++ {
			for a := 0; a < nxy; a++ {
				cells = append(cells, vec{float64(a), float64(b), float64(c)})
			}
		}
	}
	offs := make([]vec, len(cells))
	jitter := func(p vec) {
		h := latticeHash(0x5eed, int64(math.Round(p[0]*64)), int64(math.Round(p[1]*64)), int64(math.Round(p[2]*64)))
		for n, c := range cells {
			h += 0x9E3779B97F4A7C15 // SplitMix64
			x := h
			x = (x ^ x>>30) * 0xBF58476D1CE4E5B9
			x = (x ^ x>>27) * 0x94D049BB133111EB
			x ^= x >> 31
			offs[n] = vec{
				((c[0]+float64(x&0xfffff)/(1<<20))/float64(nxy) - 0.5) * sp[0],
				((c[1]+float64(x>>20&0xfffff)/(1<<20))/float64(nxy) - 0.5) * sp[1],
				((c[2]+float64(x>>40&0xfffff)/(1<<20))/float64(nz) - 0.5) * sp[2],
			}
		}
	}
	inv := 1 / float64(len(offs))
	for j := j0; j <= j1; j++ {
		y := g.Origin[1] + float64(j)*sp[1]
		row := j * nx
		for i := i0; i <= i1; {
			p := vec{g.Origin[0] + float64(i)*sp[0], y, z}
			st, step := l.classify(p, band)
			switch st {
			case stOut:
				i += 1 + int(step/sp[0])
			case stIn:
				reg, _ := l.regionAt(p)
				for e := min(i+1+int(step/sp[0]), i1+1); i < e; i++ {
					p[0] = g.Origin[0] + float64(i)*sp[0]
					be, ga := l.value(reg, p, math.Inf(-1), l.texAt(p))
					dst.apply(row+i, i, j, float32(be), float32(ga))
				}
			default:
				t := l.texAt(p)
				jitter(p)
				var sb, sg float64
				for _, o := range offs {
					q := add(p, o)
					reg, fb := l.regionAt(q)
					be, ga := l.value(reg, q, fb, t)
					sb += be
					sg += ga
				}
				if sb*inv < 1-1e-7 {
					dst.apply(row+i, i, j, float32(sb*inv), float32(sg*inv))
				}
				i++
			}
		}
	}
}

// renderVolume renders layers and then lesions over a background with the
// simple model Patch uses: each voxel averages the solids over its box,
// then Gaussian white noise (σ = noise HU, stream per slice so the result
// does not depend on the number of workers) is added, values are rounded
// and clamped to [−1024, 3071] HU. With circle set, voxels outside the
// scanner's field-of-view circle become −1000 HU and leave the lung mask.
// lung may be nil. With parallel set the slices share par's worker budget;
// otherwise everything runs on the caller's goroutine.
func renderVolume(hu *volume.Volume[int16], lung *volume.Volume[uint8], background float32, layers []layer, lesions []*lesion, noise float64, seed int64, circle, parallel bool) {
	g := hu.Grid
	nx, ny, nz := g.Dims[0], g.Dims[1], g.Dims[2]
	n := nx * ny
	cx, cy := float64(nx-1)/2, float64(ny-1)/2
	r2 := float64(nx) * float64(nx) / 4
	work := func(dst *sliceBuf, k int) {
		for i := range dst.hu {
			dst.hu[i] = background
			dst.lcov[i] = 0
		}
		z := g.Origin[2] + float64(k)*g.Spacing[2]
		renderLayers(g, z, g.Spacing, layers, dst)
		for _, l := range lesions {
			renderLesion(g, z, g.Spacing, l, dst)
		}
		rng := newRand(seed, 1<<32+uint64(k))
		out := hu.Data[k*n : (k+1)*n]
		var mout []uint8
		if lung != nil {
			mout = lung.Data[k*n : (k+1)*n]
		}
		for j := 0; j < ny; j++ {
			dy := float64(j) - cy
			for i := 0; i < nx; i++ {
				o := j*nx + i
				if circle {
					dx := float64(i) - cx
					if dx*dx+dy*dy > r2 {
						out[o] = -1000
						if mout != nil {
							mout[o] = 0
						}
						continue
					}
				}
				v := float64(dst.hu[o])
				if noise > 0 {
					v += noise * rng.NormFloat64()
				}
				out[o] = clampHU(v)
				if mout != nil {
					mout[o] = 0
					if dst.lcov[o] >= 0.5 {
						mout[o] = 1
					}
				}
			}
		}
	}
	newBuf := func() *sliceBuf {
		return &sliceBuf{nx: nx, ny: ny, hu: make([]float32, n), lcov: make([]float32, n)}
	}
	if !parallel {
		dst := newBuf()
		for k := 0; k < nz; k++ {
			work(dst, k)
		}
		return
	}
	bufs := make([]*sliceBuf, par.Limit())
	par.For(nz, func(w, k int) {
		if bufs[w] == nil {
			bufs[w] = newBuf()
		}
		work(bufs[w], k)
	})
}

// clampHU rounds v to the nearest HU and clamps it to [−1024, 3071].
func clampHU(v float64) int16 {
	v = math.Round(v)
	if v < -1024 {
		return -1024
	}
	if v > 3071 {
		return 3071
	}
	return int16(v)
}

// InScanCircle reports whether pixel (i, j) of an nx×ny slice lies inside the
// scanner's circular field of view (diameter nx pixels, centred on the
// image), where Generate renders anatomy; outside it the scan holds padding.
func InScanCircle(i, j, nx, ny int) bool {
	dx, dy := float64(i)-float64(nx-1)/2, float64(j)-float64(ny-1)/2
	return dx*dx+dy*dy <= float64(nx)*float64(nx)/4
}
