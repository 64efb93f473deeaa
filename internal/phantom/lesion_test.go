package phantom

import (
	"math"
	"testing"

	"github.com/lungctl/lungctl/internal/volume"
)

// fullSpacing is the Full preset's voxel size (mm).
var fullSpacing = vec{0.703125, 0.703125, 2.5}

// defaultAcq is the default acquisition model on a grid with slice spacing
// dz (mm), without noise unless noise > 0.
func defaultAcq(dz, noise float64) acquisition {
	return acquisition{noiseHU: noise, psfSigma: 1.5 * fwhmToSigma, sspSigma: dz * fwhmToSigma, seed: 1}
}

// cropAround is a grid of spacing sp centred near c (LPS mm) reaching r mm
// in every direction.
func cropAround(c vec, r float64, sp vec) volume.Grid {
	var g volume.Grid
	g.Spacing, g.Direction = sp, volume.Identity
	for i := 0; i < 3; i++ {
		n := int(math.Ceil(2*r/sp[i])) + 1
		g.Dims[i] = n
		g.Origin[i] = math.Round((c[i]-r)/sp[i]) * sp[i]
	}
	return g
}

// renderInLung renders lesions over uniform lung (−850 HU) on grid g.
func renderInLung(g volume.Grid, les []*lesion, aq acquisition) *volume.Volume[int16] {
	hu := volume.New[int16](g)
	renderScan(hu, volume.New[uint8](g), &scene{background: parenchymaHU, lesions: les}, aq)
	return hu
}

// meanWhere is the mean HU over voxels whose centre satisfies keep, and
// how many there were.
func meanWhere(v *volume.Volume[int16], keep func(p vec) bool) (float64, int) {
	var s float64
	var n int
	g := v.Grid
	for k := 0; k < g.Dims[2]; k++ {
		for j := 0; j < g.Dims[1]; j++ {
			for i := 0; i < g.Dims[0]; i++ {
				if keep(g.IndexToWorld(vec{float64(i), float64(j), float64(k)})) {
					s += float64(v.At(i, j, k))
					n++
				}
			}
		}
	}
	return s / float64(max(n, 1)), n
}

// deepIn reports whether p lies at least d mm (by the fields' Lipschitz
// bounds) inside region reg of l, away from its other parts.
func deepIn(l *lesion, p vec, d float64, reg int8) bool {
	r, fb := l.regionGrown(p, 0)
	if r != reg || fb > -d*l.body.lip-l.margin {
		return false
	}
	if l.core != nil && math.Abs(l.core.f(p)) < d*l.core.lip {
		return false
	}
	if l.necro != nil && math.Abs(l.necro.f(p)) < d*l.necro.lip {
		return false
	}
	for _, t := range l.air {
		if t.sdf(p[0], p[1], p[2]) < d {
			return false
		}
	}
	return true
}

// TestKindDensities renders each kind alone in lung with the default
// acquisition model (Full voxels, no noise) and measures the mean HU deep
// inside the true solid: it must match the density the lesion was drawn
// with and lie in the kind's documented range; the drawn densities of many
// lesions must cover the documented ranges.
func TestKindDensities(t *testing.T) {
	rng := newRand(5, 0)
	size := map[Kind]float64{Round: 14, Lobulated: 14, Spiculated: 12, Juxtapleural: 14, Calcified: 9, GroundGlass: 18, PartSolid: 30, Mass: 40, Juxtavascular: 14}
	for _, k := range AllKinds {
		l := newLesion(rng, k, size[k])
		l.moveTo(vec{0.3, -0.2, 0.4}, nil)
		for k == PartSolid && (l.core.rmin < 4 || l.core.rmax > 5.5) { // a core to measure inside, a ring of ground glass round it
			l = newLesion(rng, k, size[k])
			l.moveTo(vec{0.3, -0.2, 0.4}, nil)
		}
		g := cropAround(l.c, l.reach+4, fullSpacing)
		v := renderInLung(g, []*lesion{l}, defaultAcq(g.Spacing[2], 0))
		depth := 2.0 // mm inside: beyond the PSF and slice profile's reach
		m, n := meanWhere(v, func(p vec) bool { return deepIn(l, p, depth, regBody) })
		want, lo, hi := l.hu, 15.0, 50.0
		switch {
		case k == Calcified:
			want, lo, hi = l.hu-50, 200, 800
		case l.fill:
			lo, hi = -750, -450
		case k == Mass:
			lo, hi = -100, 60
		case l.edgeDrop != 0:
			want = l.hu - 12 // the +40 → +20 profile averaged over the deep part
		}
		t.Logf("%-12s %4.0f mm: mean %6.1f HU over %5d voxels (drawn %.0f)", k, size[k], m, n, l.hu)
		tol := 15.0
		switch {
		case k == Calcified:
			tol = 60
		case l.fill:
			tol = 25 // ±20–40 % heterogeneity of the fill fraction
		}
		if n < 5 || math.Abs(m-want) > tol || m < lo-15 || m > hi+15 {
			t.Errorf("%s: mean %.1f HU over %d voxels, want %.0f ± %.0f within %g…%g", k, m, n, want, tol, lo, hi)
		}
		if k == PartSolid {
			m, n := meanWhere(v, func(p vec) bool { return deepIn(l, p, 1.5, regCore) })
			t.Logf("%-12s core %.1f mm: mean %6.1f HU over %d voxels (drawn %.0f)", k, 2*l.core.rmin, m, n, l.coreHU)
			if n < 3 || math.Abs(m-l.coreHU) > 40 || m < -140 || m > 100 {
				t.Errorf("part-solid core: mean %.1f HU over %d voxels, drawn %.0f", m, n, l.coreHU)
			}
		}
	}
	// The drawn densities span the documented ranges.
	type rng2 struct{ lo, hi float64 }
	seen := map[Kind]*rng2{}
	cores := &rng2{math.Inf(1), math.Inf(-1)}
	for i := 0; i < 60; i++ {
		for _, k := range []Kind{GroundGlass, PartSolid, Mass, Calcified} {
			l := newLesion(rng, k, size[k])
			r := seen[k]
			if r == nil {
				r = &rng2{math.Inf(1), math.Inf(-1)}
				seen[k] = r
			}
			r.lo, r.hi = min(r.lo, l.hu), max(r.hi, l.hu)
			if k == PartSolid {
				cores.lo, cores.hi = min(cores.lo, l.coreHU), max(cores.hi, l.coreHU)
			}
		}
	}
	for k, want := range map[Kind]rng2{GroundGlass: {-750, -450}, PartSolid: {-750, -450}, Mass: {15, 45}, Calcified: {300, 800}} {
		r := seen[k]
		span := want.hi - want.lo
		if r.lo < want.lo || r.hi > want.hi || r.lo > want.lo+0.1*span || r.hi < want.hi-0.1*span {
			t.Errorf("%s: drawn densities %.0f…%.0f, documented %.0f…%.0f", k, r.lo, r.hi, want.lo, want.hi)
		}
	}
	if cores.lo < -100 || cores.hi > 60 || cores.lo > -84 || cores.hi < 44 {
		t.Errorf("part-solid cores drawn %.0f…%.0f HU, documented −100…+60", cores.lo, cores.hi)
	}
}

// TestPartSolidCores checks in noise-free Full-resolution renderings that
// the voxels denser than half-way between ground glass and core are where
// the core is and add up to the truth's solid diameter.
func TestPartSolidCores(t *testing.T) {
	rng := newRand(8, 0)
	found := 0
	for try := 0; try < 200 && found < 4; try++ {
		l := newLesion(rng, PartSolid, 12+12*rng.Float64())
		if l.coreSpec.r0*2 < 6 || l.coreHU-l.hu < 300 {
			continue // a core small or faint enough to blur away is not measurable this way
		}
		found++
		l.moveTo(vec{}, nil)
		n := l.truth()
		g := cropAround(l.c, l.reach+4, fullSpacing)
		v := renderInLung(g, []*lesion{l}, defaultAcq(g.Spacing[2], 0))
		thr := (l.coreHU + l.hu) / 2
		var cnt int
		var cen vec
		var far float64
		for k := 0; k < g.Dims[2]; k++ {
			for j := 0; j < g.Dims[1]; j++ {
				for i := 0; i < g.Dims[0]; i++ {
					if float64(v.At(i, j, k)) < thr {
						continue
					}
					p := g.IndexToWorld(vec{float64(i), float64(j), float64(k)})
					cnt++
					cen = add(cen, p)
					far = max(far, norm(sub(p, l.core.c)))
				}
			}
		}
		if cnt == 0 {
			t.Errorf("part-solid %.1f mm: no voxel above %.0f HU (core %.1f mm, %.0f HU)", n.DiameterMM, thr, n.SolidDiameterMM, l.coreHU)
			continue
		}
		cen = scale(cen, 1/float64(cnt))
		vol := float64(cnt) * g.Spacing[0] * g.Spacing[1] * g.Spacing[2]
		d := math.Cbrt(6 * vol / math.Pi)
		t.Logf("part-solid %.1f mm: core truth %.2f mm, thresholded %.2f mm, centroid %.2f mm from the core's, eccentricity %.1f mm",
			n.DiameterMM, n.SolidDiameterMM, d, norm(sub(cen, l.core.c)), norm(l.coreOff))
		if math.Abs(d-n.SolidDiameterMM) > 0.15*n.SolidDiameterMM+0.5 {
			t.Errorf("part-solid: thresholded core %.2f mm, truth says %.2f mm", d, n.SolidDiameterMM)
		}
		if e := norm(sub(cen, l.core.c)); e > 1 {
			t.Errorf("part-solid: dense voxels centred %.2f mm from the core", e)
		}
		if far > l.core.rmax+2.5 {
			t.Errorf("part-solid: a dense voxel %.1f mm from the core centre (core radius ≤ %.1f)", far, l.core.rmax)
		}
	}
	if found < 4 {
		t.Fatalf("only %d measurable cores drawn", found)
	}
}

// TestMassesTouchThePleura places masses against the chest wall and the
// mediastinum in Full-size chests, renders the region around each and
// checks that the true solid has voxels next to wall voxels (outside the
// lung mask, soft tissue), on the side its location names.
func TestMassesTouchThePleura(t *testing.T) {
	seen := map[Location]int{}
	for seed := int64(1); seed <= 40 && (seen[LocationJuxtapleural] < 2 || seen[LocationMediastinal] < 2); seed++ {
		p, err := newPlan(Options{Seed: seed, Size: Full, Nodules: 1, Kinds: []Kind{Mass}, NoiseHU: -1})
		if err != nil {
			t.Fatal(err)
		}
		l := p.les[0]
		if l.location == LocationParenchyma || seen[l.location] >= 2 {
			continue
		}
		seen[l.location]++
		n := l.truth()
		// render the chest around the mass at Full resolution
		g := cropAround(l.c, l.bodyReach+6, p.g.Spacing)
		hu, lung := volume.New[int16](g), volume.New[uint8](g)
		renderScan(hu, lung, p.a.scene(p.les), p.o.acquisition(g))
		side := 0
		if l.clip == &p.a.lungs[1] {
			side = 1
		}
		var contact, medial int
		for k := 0; k < g.Dims[2]; k++ {
			for j := 0; j < g.Dims[1]; j++ {
				for i := 0; i < g.Dims[0]; i++ {
					q := g.IndexToWorld(vec{float64(i), float64(j), float64(k)})
					if !l.inside(q) {
						continue
					}
					for _, d := range [][3]int{{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}} {
						a, b, c := i+d[0], j+d[1], k+d[2]
						if !g.In(a, b, c) || lung.At(a, b, c) == 1 || hu.At(a, b, c) < -300 {
							continue
						}
						w := g.IndexToWorld(vec{float64(a), float64(b), float64(c)})
						if l.inside(w) {
							continue
						}
						contact++
						// the pleura's normal there: towards the midline on
						// the mediastinal surface
						if nrm := p.a.lungNormal(side, w); nrm[0]*math.Copysign(1, p.a.cx-l.c[0]) > 0.5 {
							medial++
						}
						break
					}
				}
			}
		}
		t.Logf("seed %d: %s mass %.1f mm (%.1f × %.1f mm): %d solid voxels next to the wall, %d of them on the mediastinal pleura",
			seed, n.Location, n.DiameterMM, n.LongAxisMM, n.ShortAxisMM, contact, medial)
		if contact < 20 {
			t.Errorf("seed %d: %s mass touches the wall at only %d voxels", seed, n.Location, contact)
		}
		if n.Location == LocationMediastinal && medial < contact/2 {
			t.Errorf("seed %d: mediastinal mass: only %d of %d contact voxels on the mediastinal pleura", seed, medial, contact)
		}
		if n.Location == LocationJuxtapleural && medial > contact/2 {
			t.Errorf("seed %d: chest-wall mass: %d of %d contact voxels on the mediastinal pleura", seed, medial, contact)
		}
	}
	if seen[LocationJuxtapleural] < 2 || seen[LocationMediastinal] < 2 {
		t.Errorf("masses seen: %v", seen)
	}
}

// rasterAxes measures, on 2-D rasters of axial planes (step h mm) of the
// body (spicules excluded, clipped), the largest longest-diameter over the
// planes and the longest extent perpendicular to it on that plane.
func rasterAxes(l *lesion, h float64) (long, short float64) {
	in := func(p vec) bool {
		return l.body.f(p) <= 0 && (l.clip == nil || l.clip.sdf(p[0], p[1], p[2]) <= 0)
	}
	r := l.body.rmax + 0.5
	n := int(2*r/h) + 1
	plane := func(z float64) (float64, [2]float64, [][2]float64) {
		var pts [][2]float64 // boundary pixel centres
		inside := make([]bool, n*n)
		for j := 0; j < n; j++ {
			for i := 0; i < n; i++ {
				inside[j*n+i] = in(vec{l.c[0] - r + float64(i)*h, l.c[1] - r + float64(j)*h, z})
			}
		}
		var all [][2]float64
		for j := 0; j < n; j++ {
			for i := 0; i < n; i++ {
				if !inside[j*n+i] {
					continue
				}
				q := [2]float64{l.c[0] - r + float64(i)*h, l.c[1] - r + float64(j)*h}
				all = append(all, q)
				if i == 0 || j == 0 || i == n-1 || j == n-1 || !inside[j*n+i-1] || !inside[j*n+i+1] || !inside[(j-1)*n+i] || !inside[(j+1)*n+i] {
					pts = append(pts, q)
				}
			}
		}
		d, e := longestChord(pts)
		return d + h, e, all // + h: pixel centres lie up to h/2 inside the edge
	}
	bestZ, best := l.c[2], 0.0
	step := max(0.2, r/40)
	for z := l.c[2] - r; z <= l.c[2]+r; z += step {
		if d, _, _ := plane(z); d > best {
			best, bestZ = d, z
		}
	}
	for z := bestZ - step; z <= bestZ+step; z += 0.02 {
		if d, _, _ := plane(z); d > best {
			best, bestZ = d, z
		}
	}
	long, e, all := plane(bestZ)
	// perpendicular extent: bin the pixels along e
	bins := map[int][2]float64{}
	for _, q := range all {
		s := q[0]*e[0] + q[1]*e[1]
		v := -q[0]*e[1] + q[1]*e[0]
		b := int(math.Floor(s / h))
		mm, ok := bins[b]
		if !ok {
			mm = [2]float64{v, v}
		}
		bins[b] = [2]float64{min(mm[0], v), max(mm[1], v)}
	}
	for _, mm := range bins {
		short = max(short, mm[1]-mm[0]+h)
	}
	return long, short
}

// rasterVolume counts the true solid (spicules included) on a grid of
// n points across its reach (mm³).
func rasterVolume(l *lesion, n int) float64 {
	h := 2 * l.reach / float64(n)
	n += 2
	var cnt int
	for k := 0; k < n; k++ {
		for j := 0; j < n; j++ {
			for i := 0; i < n; i++ {
				p := vec{l.c[0] - l.reach + (float64(i)+0.5)*h, l.c[1] - l.reach + (float64(j)+0.5)*h, l.c[2] - l.reach + (float64(k)+0.5)*h}
				if l.inside(p) {
					cnt++
				}
			}
		}
	}
	return float64(cnt) * h * h * h
}

// TestTruthMeasurements compares the truth's volume and axial axes with a
// voxel count and rasters of the noise-free solid at high resolution
// (within 3 %), for every kind, clipped lesions included.
func TestTruthMeasurements(t *testing.T) {
	seeds, res := int64(1), 100
	if !testing.Short() {
		seeds, res = 3, 130
	}
	for seed := int64(1); seed <= seeds; seed++ {
		p, err := newPlan(Options{Seed: seed, Size: Full, Nodules: len(testKinds), Kinds: testKinds})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range p.les {
			n := l.truth()
			vol := rasterVolume(l, res)
			long, short := rasterAxes(l, max(0.02, l.body.rmax/float64(res)))
			t.Logf("seed %d %-12s %-12s %5.1f mm: volume %9.1f / raster %9.1f (%+.2f%%), long %6.2f / %6.2f, short %6.2f / %6.2f",
				seed, n.Kind, n.Location, n.DiameterMM, n.VolumeMM3, vol, 100*(n.VolumeMM3/vol-1), n.LongAxisMM, long, n.ShortAxisMM, short)
			for _, c := range []struct {
				what      string
				got, want float64
			}{{"volume", n.VolumeMM3, vol}, {"long axis", n.LongAxisMM, long}, {"short axis", n.ShortAxisMM, short}} {
				if math.Abs(c.got/c.want-1) > 0.03 {
					t.Errorf("seed %d %s %.1f mm: %s %.2f, raster %.2f", seed, n.Kind, n.DiameterMM, c.what, c.got, c.want)
				}
			}
			// A sphere's axes are its diameter.
			if n.Kind == Round || n.Kind == Calcified {
				if math.Abs(n.LongAxisMM-n.DiameterMM) > 0.01*n.DiameterMM || math.Abs(n.ShortAxisMM-n.DiameterMM) > 0.01*n.DiameterMM {
					t.Errorf("%s sphere %.2f mm: axes %.3f × %.3f", n.Kind, n.DiameterMM, n.LongAxisMM, n.ShortAxisMM)
				}
			}
		}
	}
}

// TestSmallNodulePeak renders 3–6 mm solid nodules alone (no noise) with
// the default model and compares the peak voxel with the expectation from
// the physical model computed independently by Monte Carlo: the nodule's
// density integrated against the pixel box blurred by the Gaussian PSF
// (FWHM 1.5 pixels) in-plane and the Gaussian slice profile (FWHM 2.5 mm)
// along z.
func TestSmallNodulePeak(t *testing.T) {
	rng := newRand(21, 0)
	sp := fullSpacing
	sxy := 1.5 * fwhmToSigma * sp[0]
	sz := sp[2] * fwhmToSigma
	kx := func(x float64) float64 { // pixel box ⊗ Gaussian, per mm
		phi := func(u float64) float64 { return 0.5 * (1 + math.Erf(u/(sxy*math.Sqrt2))) }
		return (phi(x+sp[0]/2) - phi(x-sp[0]/2)) / sp[0]
	}
	kz := func(z float64) float64 { return math.Exp(-z*z/(2*sz*sz)) / (sz * math.Sqrt(2*math.Pi)) }
	for _, d := range []float64{3, 4, 5, 6} {
		l := newLesion(rng, Round, d)
		l.moveTo(vec{rng.Float64() - 0.5, rng.Float64() - 0.5, 2.5 * (rng.Float64() - 0.5)}, nil)
		g := cropAround(vec{}, 8, sp)
		v := renderInLung(g, []*lesion{l}, defaultAcq(sp[2], 0))
		peak, at := math.Inf(-1), vec{}
		for k := 0; k < g.Dims[2]; k++ {
			for j := 0; j < g.Dims[1]; j++ {
				for i := 0; i < g.Dims[0]; i++ {
					if x := float64(v.At(i, j, k)); x > peak {
						peak, at = x, g.IndexToWorld(vec{float64(i), float64(j), float64(k)})
					}
				}
			}
		}
		// expectation at that voxel: ∫_ball (h(p) + 850)·K(at − p) dp
		const m = 400000
		r := d / 2
		var s float64
		mc := newRand(int64(d), 9)
		for n := 0; n < m; n++ {
			p := add(l.c, vec{r * (2*mc.Float64() - 1), r * (2*mc.Float64() - 1), r * (2*mc.Float64() - 1)})
			if !l.inside(p) {
				continue
			}
			_, h := l.value(regBody, p, -1, l.texAt(p))
			s += (h - parenchymaHU) * kx(at[0]-p[0]) * kx(at[1]-p[1]) * kz(at[2]-p[2])
		}
		want := parenchymaHU + s*8*r*r*r/m
		full := 40.0 - parenchymaHU
		t.Logf("%g mm round nodule: peak %.0f HU, model %.0f HU (contrast %.0f%% of the unblurred)", d, peak, want, 100*(peak-parenchymaHU)/full)
		if math.Abs(peak-want) > 0.08*(want-parenchymaHU)+6 {
			t.Errorf("%g mm nodule: peak %.0f HU, the PSF and slice profile predict %.0f", d, peak, want)
		}
		if d == 3 && peak > parenchymaHU+0.8*full {
			t.Errorf("3 mm nodule on 2.5 mm slices peaks at %.0f HU: not blurred", peak)
		}
	}
}

// TestNoise renders uniform lung with the default noise and checks its
// standard deviation, its correlation between neighbours (filtered like a
// reconstruction kernel) and the absence of low-frequency power.
func TestNoise(t *testing.T) {
	g := cropAround(vec{}, 45, fullSpacing)
	v := renderInLung(g, nil, defaultAcq(g.Spacing[2], 20))
	nx, ny := g.Dims[0], g.Dims[1]
	var s, s2, c1 float64
	var n, nc int
	for k := 0; k < g.Dims[2]; k++ {
		for j := 4; j < ny-4; j++ {
			for i := 4; i < nx-4; i++ {
				x := float64(v.At(i, j, k)) - parenchymaHU
				s += x
				s2 += x * x
				n++
				c1 += x * (float64(v.At(i+1, j, k)) - parenchymaHU)
				nc++
			}
		}
	}
	mean := s / float64(n)
	sd := math.Sqrt(s2/float64(n) - mean*mean)
	rho := (c1/float64(nc) - mean*mean) / (sd * sd)
	// The autocovariance summed over lags up to ±10 pixels is the noise
	// power near zero frequency (in units of the variance): about the
	// correlation area (≥ 2 pixels²) for low-pass noise, about 0 for
	// filtered back-projection's ramp-like noise.
	const L = 10
	var area float64
	for dy := -L; dy <= L; dy++ {
		for dx := -L; dx <= L; dx++ {
			var c float64
			var m int
			for k := 0; k < g.Dims[2]; k++ {
				for j := L; j < ny-L; j++ {
					for i := L; i < nx-L; i++ {
						c += (float64(v.At(i, j, k)) - parenchymaHU) * (float64(v.At(i+dx, j+dy, k)) - parenchymaHU)
						m++
					}
				}
			}
			area += c / float64(m) / (sd * sd)
		}
	}
	t.Logf("noise: mean %.2f HU, SD %.2f HU, neighbour correlation %.2f, zero-frequency power %.2f pixels²", mean, sd, rho, area)
	if math.Abs(sd-20) > 2 || math.Abs(mean) > 1 {
		t.Errorf("noise SD %.2f HU (mean %.2f), want 20", sd, mean)
	}
	if rho < 0.2 || rho > 0.8 {
		t.Errorf("neighbour correlation %.2f: not filtered like a reconstruction kernel", rho)
	}
	if math.Abs(area) > 0.3 {
		t.Errorf("autocovariance sums to %.2f pixels²: low-frequency noise power left", area)
	}
}

// TestEdgeEnhance renders a 14 mm round nodule in uniform lung with and
// without a sharp kernel's edge enhancement (amount 2): with it, the
// noise's standard deviation is still the one asked for (with and without
// a PSF before the mask), finer (less
// correlated between neighbours than the standard kernel's), and the
// nodule's edge overshoots: the lung just outside it dips below the lung's
// level and the rim inside rises above the nodule's centre, neither of
// which the standard kernel does. The mean over the nodule and its
// surroundings is the same: an unsharp mask keeps each object's
// attenuation.
func TestEdgeEnhance(t *testing.T) {
	rng := newRand(9, 0)
	l := newLesion(rng, Round, 14)
	l.moveTo(vec{0.3, -0.2, 0.4}, nil)
	g := cropAround(l.c, l.reach+8, fullSpacing)
	ring := func(v *volume.Volume[int16], r0, r1 float64) float64 {
		m, _ := meanWhere(v, func(p vec) bool {
			d := math.Hypot(p[0]-l.c[0], p[1]-l.c[1])
			return math.Abs(p[2]-l.c[2]) < 1.3 && d >= r0 && d < r1
		})
		return m
	}
	for _, a := range []float64{0, 2} {
		aq := defaultAcq(g.Spacing[2], 0)
		aq.edge = a
		v := renderInLung(g, []*lesion{l}, aq)
		centre, rim := ring(v, 0, 3), ring(v, 5.3, 6.3)
		outside, lung := ring(v, 7.5, 8.5), ring(v, 12, 14)
		whole := ring(v, 0, 14)
		t.Logf("edge %.0f: centre %.0f, rim %.0f, just outside %.0f, lung %.0f, mean within 14 mm %.1f HU", a, centre, rim, outside, lung, whole)
		if a == 0 && (rim > centre || outside < lung-1) {
			t.Errorf("standard kernel overshoots: rim %.0f over centre %.0f or %.0f under the lung's %.0f", rim, centre, outside, lung)
		}
		if a > 0 && (rim < centre+30 || outside > lung-30) {
			t.Errorf("edge enhancement %.0f: rim %.0f vs centre %.0f, just outside %.0f vs lung %.0f: no overshoot", a, rim, centre, outside, lung)
		}
		if a > 0 {
			plain := defaultAcq(g.Spacing[2], 0)
			w0 := ring(renderInLung(g, []*lesion{l}, plain), 0, 14)
			if math.Abs(whole-w0) > 3 {
				t.Errorf("edge enhancement changed the mean within 14 mm: %.1f → %.1f HU", w0, whole)
			}
		}
	}
	// Noise: the asked-for SD, finer than the standard kernel's.
	gn := cropAround(vec{}, 45, fullSpacing)
	corr := func(aq acquisition) (sd, rho float64) {
		v := renderInLung(gn, nil, aq)
		nx, ny := gn.Dims[0], gn.Dims[1]
		var s2, c1 float64
		var n int
		for k := 0; k < gn.Dims[2]; k++ {
			for j := 4; j < ny-4; j++ {
				for i := 4; i < nx-5; i++ {
					x := float64(v.At(i, j, k)) - parenchymaHU
					s2 += x * x
					c1 += x * (float64(v.At(i+1, j, k)) - parenchymaHU)
					n++
				}
			}
		}
		return math.Sqrt(s2 / float64(n)), c1 / s2
	}
	sd0, rho0 := corr(defaultAcq(gn.Spacing[2], 20))
	sharp := defaultAcq(gn.Spacing[2], 20)
	sharp.edge = 2
	sd2, rho2 := corr(sharp)
	t.Logf("noise: standard kernel SD %.1f HU, neighbour correlation %.2f; edge 2: SD %.1f, %.2f", sd0, rho0, sd2, rho2)
	if math.Abs(sd2-20) > 2 {
		t.Errorf("edge 2: noise SD %.1f HU, want 20", sd2)
	}
	if !(rho2 < rho0-0.1) {
		t.Errorf("edge 2: neighbour correlation %.2f, not below the standard kernel's %.2f", rho2, rho0)
	}
	// Without a PSF the noise is white before the mask, and still scaled to
	// the asked-for SD after it.
	white := sharp
	white.psfSigma = 0
	if sdw, _ := corr(white); math.Abs(sdw-20) > 2 {
		t.Errorf("edge 2 without a PSF: noise SD %.1f HU, want 20", sdw)
	}
}
