package phantom

import (
	"math"

	"github.com/lungctl/lungctl/internal/par"
	"github.com/lungctl/lungctl/internal/volume"
)

// acquisition is the scanner model renderScan applies (see Options).
type acquisition struct {
	// noiseHU is the standard deviation (HU) of the noise after
	// filtering; 0 means none.
	noiseHU float64
	// psfSigma is the in-plane Gaussian point-spread function's σ in
	// pixels; 0 means none (each pixel is the average over its box).
	psfSigma float64
	// sspSigma is the Gaussian slice sensitivity profile's σ in mm; 0
	// means a box as thick as the slice spacing.
	sspSigma float64
	// edge is the reconstruction kernel's edge enhancement: after the
	// PSF each slice becomes x + edge·(x − G x), G a Gaussian of σ
	// edgeSigmaPx pixels (an unsharp mask); 0 means none.
	edge float64
	// seed selects the noise; circle blanks what lies outside the
	// scanner's circular field of view to −1000 HU.
	seed   int64
	circle bool
}

// noiseBox is the edge (pixels) of the box whose mean is subtracted from
// white noise before the PSF filters it: filtered back-projection leaves no
// noise power at zero frequency, so the noise power spectrum rises from 0
// like a ramp and falls with the PSF's transfer function.
const noiseBox = 7

// scene is a patient ready to render, its solids split by how they are
// rendered: base solids do not change along z within the scan and are
// rendered once; lungs, the dependent-density pass and coarse solids are
// rendered per slice with a box slice profile; fine solids (vessels,
// bronchi, scars) and lesions are rendered on thin sub-slices and combined
// with the slice sensitivity profile over the coarse image.
type scene struct {
	background float32
	base       []layer
	lungs      []layer
	dep        *dependent
	coarse     []layer
	fine       []layer
	lesions    []*lesion
}

// subSlices is the number of sub-slices per slice: the slice spacing cut
// into pieces no thicker than the pixel (nor 1 mm), at least 2.
func subSlices(sp vec) int {
	return max(2, int(math.Ceil(sp[2]/min(sp[0], 1)-1e-9)))
}

// sspWeights returns the weight of each sub-slice j ∈ [−M, m−1+M] (index
// j+M) of a slice of spacing dz cut into m sub-slices: the Gaussian profile
// of σ sigma (mm) integrated over the sub-slice, truncated at 3σ and
// normalised; for sigma ≤ 0 a box of the slice's own m sub-slices.
func sspWeights(dz float64, m int, sigma float64) (w []float64, M int) {
	if sigma <= 0 {
		w = make([]float64, m)
		for j := range w {
			w[j] = 1 / float64(m)
		}
		return w, 0
	}
	dzs := dz / float64(m)
	M = max(0, int(math.Ceil((3*sigma-dz/2)/dzs)))
	phi := func(x float64) float64 { return 0.5 * (1 + math.Erf(x/(sigma*math.Sqrt2))) }
	var sum float64
	for j := -M; j <= m-1+M; j++ {
		a := -dz/2 + float64(j)*dzs
		v := phi(a+dzs) - phi(a)
		w = append(w, v)
		sum += v
	}
	for j := range w {
		w[j] /= sum
	}
	return w, M
}

// gaussKernel is the normalised Gaussian of σ sigma (pixels) sampled at
// integer offsets −r…r, r = ⌈3σ⌉; nil for sigma ≤ 0.
func gaussKernel(sigma float64) []float32 {
	if sigma <= 0 {
		return nil
	}
	r := int(math.Ceil(3 * sigma))
	k := make([]float32, 2*r+1)
	var s float64
	for i := -r; i <= r; i++ {
		s += math.Exp(-float64(i*i) / (2 * sigma * sigma))
	}
	for i := -r; i <= r; i++ {
		k[i+r] = float32(math.Exp(-float64(i*i)/(2*sigma*sigma)) / s)
	}
	return k
}

// edgeSigmaPx is the σ (pixels) of the Gaussian an edge-enhancing kernel's
// unsharp mask subtracts (acquisition.edge): one pixel, so that the
// overshoot lies within a pixel or two of an edge, as a sharp kernel's
// does.
const edgeSigmaPx = 1.0

// edgeNoiseGain is the standard deviation of unit white noise after the
// noise filter of an edge-enhancing acquisition: the box high-pass (when
// the PSF g is not nil), the PSF and the unsharp mask (1+a)δ − a·(u ⊗ u),
// each as a small 2-D kernel, convolved and summed in squares.
func edgeNoiseGain(g, u []float32, a float64) float64 {
	f := [][]float64{{1}}
	if g != nil {
		h := noiseBox / 2
		hp := make([][]float64, noiseBox)
		for y := range hp {
			hp[y] = make([]float64, noiseBox)
			for x := range hp[y] {
				hp[y][x] = -1.0 / (noiseBox * noiseBox)
			}
		}
		hp[h][h]++
		f = conv2(f, hp)
		f = conv2(f, outer(g, g, 1))
	}
	usm := outer(u, u, -a)
	usm[len(u)/2][len(u)/2] += 1 + a
	f = conv2(f, usm)
	var s float64
	for _, row := range f {
		for _, v := range row {
			s += v * v
		}
	}
	return math.Sqrt(s)
}

// outer returns the 2-D kernel c·(a ⊗ b) (rows b, columns a).
func outer(a, b []float32, c float64) [][]float64 {
	k := make([][]float64, len(b))
	for y := range k {
		k[y] = make([]float64, len(a))
		for x := range k[y] {
			k[y][x] = c * float64(a[x]) * float64(b[y])
		}
	}
	return k
}

// conv2 returns the full 2-D convolution of the kernels a and b.
func conv2(a, b [][]float64) [][]float64 {
	ny, nx := len(a)+len(b)-1, len(a[0])+len(b[0])-1
	out := make([][]float64, ny)
	for y := range out {
		out[y] = make([]float64, nx)
	}
	for y, ra := range a {
		for x, va := range ra {
			for v, rb := range b {
				for w, vb := range rb {
					out[y+v][x+w] += va * vb
				}
			}
		}
	}
	return out
}

// noiseGain is the standard deviation of unit white noise after the noise
// filter: the box high-pass and then the PSF kernel g (or nothing when g
// is nil).
func noiseGain(g []float32) float64 {
	if g == nil {
		return 1
	}
	r := len(g) / 2
	h := noiseBox / 2
	n := 2*(r+h) + 1
	var s float64
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			// (g ⊗ g) ⊛ (δ − box) at offset (x, y) from the corner
			var v float64
			for b := -h; b <= h; b++ {
				for a := -h; a <= h; a++ {
					gx, gy := x-(r+h)+a+r, y-(r+h)+b+r
					if gx >= 0 && gx < len(g) && gy >= 0 && gy < len(g) {
						v -= float64(g[gx]) * float64(g[gy]) / (noiseBox * noiseBox)
					}
				}
			}
			gx, gy := x-h, y-h
			if gx >= 0 && gx < len(g) && gy >= 0 && gy < len(g) {
				v += float64(g[gx]) * float64(g[gy])
			}
			s += v * v
		}
	}
	return math.Sqrt(s)
}

// scanWorker holds one worker's buffers.
type scanWorker struct {
	fine   *sliceBuf
	coarse *sliceBuf
	acc    []accum
	img    []float32
	tmp    []float32
	white  []float32
	hp     []float32
}

// accum collects, for one output slice, Σ w·(t − 1) and Σ w·a over the
// sub-slices in its profile, so the slice is coarse·(1 + p) + q.
type accum struct{ p, q []float32 }

// renderScan renders the scene onto hu's grid (identity direction) with
// the acquisition model: coarse solids get the pixel's and the slice's box;
// fine solids and lesions are rendered on m thin sub-slices (subSlices)
// and combined with the slice sensitivity profile; then noise (white,
// high-passed, scaled) is added and the in-plane PSF blurs image and noise
// together, followed by the unsharp mask of an edge-enhancing kernel when
// aq.edge is set; values are rounded and clamped to [−1024, 3071] HU. lung gets
// the lung mask (coverage ≥ ½). Slices are shared among par's workers; the
// result does not depend on how many there are.
func renderScan(hu *volume.Volume[int16], lung *volume.Volume[uint8], sc *scene, aq acquisition) {
	g := hu.Grid
	nx, ny := g.Dims[0], g.Dims[1]
	n := nx * ny
	r := &scanRender{hu: hu, lung: lung, sc: sc, aq: aq, g: g, nx: nx, ny: ny, n: n, dz: g.Spacing[2]}
	r.m = subSlices(g.Spacing)
	r.dzs = r.dz / float64(r.m)
	r.sub = vec{g.Spacing[0], g.Spacing[1], r.dzs}
	r.w, r.M = sspWeights(r.dz, r.m, aq.sspSigma)
	r.K = (r.m-1+2*r.M)/r.m + 1
	r.base = make([]float32, n)
	for i := range r.base {
		r.base[i] = sc.background
	}
	renderLayers(g, g.Origin[2], g.Spacing, sc.base, &sliceBuf{nx: nx, ny: ny, hu: r.base, lcov: make([]float32, n)})
	r.psf = gaussKernel(aq.psfSigma)
	r.noiseScale = aq.noiseHU / noiseGain(r.psf)
	if aq.edge > 0 {
		r.usm = gaussKernel(edgeSigmaPx)
		r.noiseScale = aq.noiseHU / edgeNoiseGain(r.psf, r.usm, aq.edge)
	}
	r.cx, r.cy = float64(nx-1)/2, float64(ny-1)/2
	r.r2 = float64(nx) * float64(nx) / 4

	workers := make([]*scanWorker, par.Limit())
	par.Chunks(g.Dims[2], 4, func(wk, k0, k1 int) {
		if workers[wk] == nil {
			workers[wk] = r.newWorker()
		}
		r.renderSlices(workers[wk], k0, k1)
	})
}

// scanRender is renderScan's shared, read-only state: the scan, the scene,
// the acquisition and what is derived from them.
type scanRender struct {
	hu     *volume.Volume[int16]
	lung   *volume.Volume[uint8]
	sc     *scene
	aq     acquisition
	g      volume.Grid
	nx, ny int
	n      int     // voxels per slice
	dz     float64 // slice spacing (mm)
	m      int     // sub-slices per slice
	dzs    float64 // sub-slice spacing (mm)
	sub    vec     // sub-slice voxel size
	w      []float64
	M      int // sub-slices of the profile beyond a slice's own on each side
	K      int // slices whose accumulators are live at once
	base   []float32
	psf    []float32
	// usm is the unsharp mask's Gaussian (nil without edge enhancement).
	usm []float32
	// noiseScale scales the noise to aq.noiseHU after the PSF and the
	// unsharp mask (high-passed first when there is a PSF).
	noiseScale float64
	cx, cy, r2 float64 // the field-of-view circle
}

func (r *scanRender) newWorker() *scanWorker {
	n := r.n
	st := &scanWorker{
		fine:   newAffineBuf(r.nx, r.ny),
		coarse: &sliceBuf{nx: r.nx, ny: r.ny, hu: make([]float32, n), lcov: make([]float32, n)},
		acc:    make([]accum, r.K),
		img:    make([]float32, n),
		tmp:    make([]float32, n),
		white:  make([]float32, n),
		hp:     make([]float32, n),
	}
	for i := range st.acc {
		st.acc[i] = accum{p: make([]float32, n), q: make([]float32, n)}
	}
	return st
}

// renderSlices renders slices k0…k1−1: every sub-slice that their profiles
// reach, accumulated per slice, each slice finalized once its last
// sub-slice is in.
func (r *scanRender) renderSlices(st *scanWorker, k0, k1 int) {
	g, m, M, sc := r.g, r.m, r.M, r.sc
	last := m - 1 + M // offset of a slice's last sub-slice
	for s := k0*m - M; s <= (k1-1)*m+last; s++ {
		z := g.Origin[2] - r.dz/2 + (float64(s)+0.5)*r.dzs
		renderLayers(g, z, r.sub, sc.fine, st.fine)
		for _, l := range sc.lesions {
			renderLesion(g, z, r.sub, l, st.fine)
		}
		kLo := max(k0, floorDiv(s-last+m-1, m))
		kHi := min(k1-1, floorDiv(s+M, m))
		for k := kLo; k <= kHi; k++ {
			a := &st.acc[k%r.K]
			wj := float32(r.w[s-k*m+M])
			t, q := st.fine.t, st.fine.a
			st.fine.forTiles(func(o, n int) {
				for i := o; i < o+n; i++ {
					a.p[i] += wj * (t[i] - 1)
					a.q[i] += wj * q[i]
				}
			})
		}
		st.fine.reset()
		if k := s - last; k >= 0 && k%m == 0 && k/m >= k0 && k/m < k1 {
			r.finalize(st, k/m)
		}
	}
}

// finalize combines slice k's coarse solids with its accumulated fine
// layers, adds noise, applies the PSF and the edge enhancement's unsharp
// mask (if any) and writes the slice and its mask.
func (r *scanRender) finalize(st *scanWorker, k int) {
	g, sc := r.g, r.sc
	z := g.Origin[2] + float64(k)*r.dz
	c := st.coarse
	copy(c.hu, r.base)
	clear(c.lcov)
	renderLayers(g, z, g.Spacing, sc.lungs, c)
	if sc.dep != nil {
		sc.dep.apply(g, z, c)
	}
	renderLayers(g, z, g.Spacing, sc.coarse, c)
	a := &st.acc[k%r.K]
	img := st.img
	for i := range img {
		img[i] = c.hu[i]*(1+a.p[i]) + a.q[i]
	}
	clear(a.p)
	clear(a.q)
	r.addNoise(st, k)
	if r.psf != nil {
		gaussBlur(img, st.tmp, r.nx, r.ny, r.psf)
	}
	if r.usm != nil {
		// The edge-enhancing kernel: an unsharp mask (st.hp is free once
		// the noise is in).
		copy(st.hp, img)
		gaussBlur(st.hp, st.tmp, r.nx, r.ny, r.usm)
		a := float32(r.aq.edge)
		for i := range img {
			img[i] += a * (img[i] - st.hp[i])
		}
	}
	r.writeSlice(st, k)
}

// addNoise adds slice k's seeded noise to st.img: high-passed and scaled
// when a PSF follows, white otherwise (scaled by noiseScale too when an
// unsharp mask follows, so that the SD after it is aq.noiseHU).
func (r *scanRender) addNoise(st *scanWorker, k int) {
	aq, img := r.aq, st.img
	if aq.noiseHU <= 0 {
		return
	}
	rng := newRand(aq.seed, 1<<32+uint64(k))
	for i := range st.white {
		st.white[i] = float32(rng.NormFloat64())
	}
	if r.psf != nil {
		boxMean(st.white, st.hp, st.tmp, r.nx, r.ny, noiseBox)
		s := float32(r.noiseScale)
		for i := range img {
			img[i] += s * (st.white[i] - st.hp[i])
		}
		return
	}
	s := float32(aq.noiseHU)
	if r.usm != nil {
		s = float32(r.noiseScale)
	}
	for i := range img {
		img[i] += s * st.white[i]
	}
}

// writeSlice rounds and clamps st.img into slice k of the scan (air outside
// a circular field of view) and writes the lung mask (coverage ≥ ½).
func (r *scanRender) writeSlice(st *scanWorker, k int) {
	nx, ny, n := r.nx, r.ny, r.n
	img, c := st.img, st.coarse
	out := r.hu.Data[k*n : (k+1)*n]
	mout := r.lung.Data[k*n : (k+1)*n]
	for j := 0; j < ny; j++ {
		dy := float64(j) - r.cy
		for i := 0; i < nx; i++ {
			o := j*nx + i
			if r.aq.circle {
				dx := float64(i) - r.cx
				if dx*dx+dy*dy > r.r2 {
					out[o], mout[o] = -1000, 0
					continue
				}
			}
			out[o] = clampHU(float64(img[o]))
			mout[o] = 0
			if c.lcov[o] >= 0.5 {
				mout[o] = 1
			}
		}
	}
}

// floorDiv is ⌊a/b⌋ for b > 0.
func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// boxMean writes the b×b mean of src (nx × ny, edges replicated) to dst.
func boxMean(src, dst, tmp []float32, nx, ny, b int) {
	h := b / 2
	inv := 1 / float32(b)
	for j := 0; j < ny; j++ {
		row := src[j*nx : (j+1)*nx]
		var s float32
		for i := -h; i <= h; i++ {
			s += row[min(max(i, 0), nx-1)]
		}
		for i := 0; i < nx; i++ {
			tmp[j*nx+i] = s * inv
			s += row[min(i+h+1, nx-1)] - row[max(i-h, 0)]
		}
	}
	// columns, a row at a time: acc holds the running column sums
	acc := make([]float32, nx)
	for j := -h; j <= h; j++ {
		row := tmp[min(max(j, 0), ny-1)*nx:]
		for i := 0; i < nx; i++ {
			acc[i] += row[i]
		}
	}
	for j := 0; j < ny; j++ {
		out := dst[j*nx : (j+1)*nx]
		add := tmp[min(j+h+1, ny-1)*nx:]
		sub := tmp[max(j-h, 0)*nx:]
		for i := range out {
			out[i] = acc[i] * inv
			acc[i] += add[i] - sub[i]
		}
	}
}

// gaussBlur filters img (nx × ny) with the separable kernel k along x and
// then y, edges replicated; tmp is scratch of the same size.
func gaussBlur(img, tmp []float32, nx, ny int, k []float32) {
	r := len(k) / 2
	for j := 0; j < ny; j++ {
		row := img[j*nx : (j+1)*nx]
		out := tmp[j*nx : (j+1)*nx]
		for i := 0; i < min(r, nx); i++ {
			out[i] = blurAt(row, i, k)
		}
		if len(k) == 5 && nx > 4 {
			k0, k1, k2 := k[0], k[1], k[2]
			for i := 2; i < nx-2; i++ {
				out[i] = k0*(row[i-2]+row[i+2]) + k1*(row[i-1]+row[i+1]) + k2*row[i]
			}
		} else {
			for i := r; i < nx-r; i++ {
				src := row[i-r : i+r+1]
				var s float32
				for t, kv := range k {
					s += kv * src[t]
				}
				out[i] = s
			}
		}
		for i := max(nx-r, r); i < nx; i++ {
			out[i] = blurAt(row, i, k)
		}
	}
	for j := 0; j < ny; j++ {
		out := img[j*nx : (j+1)*nx]
		src := tmp[j*nx : (j+1)*nx]
		kv := k[r]
		for i := range out {
			out[i] = kv * src[i]
		}
		for t := 1; t <= r; t++ {
			a := tmp[min(j+t, ny-1)*nx:][:nx]
			b := tmp[max(j-t, 0)*nx:][:nx]
			kv := k[r+t]
			for i := range out {
				out[i] += kv * (a[i] + b[i])
			}
		}
	}
}

// blurAt is kernel k (symmetric) applied at i of row, edges replicated.
func blurAt(row []float32, i int, k []float32) float32 {
	r := len(k) / 2
	var s float32
	for t := -r; t <= r; t++ {
		s += k[t+r] * row[min(max(i+t, 0), len(row)-1)]
	}
	return s
}
