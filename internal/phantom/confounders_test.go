package phantom

import (
	"math"
	"sort"
	"testing"

	"github.com/lungctl/lungctl/internal/volume"
)

// renderCrop renders plan p on grid g (a part of its own grid) without
// noise; a nil plan's confounders are taken out first.
func renderCrop(p *plan, g volume.Grid) (*volume.Volume[int16], *volume.Volume[uint8]) {
	hu, lung := volume.New[int16](g), volume.New[uint8](g)
	aq := p.o.acquisition(g)
	aq.circle, aq.noiseHU = false, 0
	renderScan(hu, lung, p.a.scene(p.les), aq)
	return hu, lung
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	sort.Float64s(x)
	return x[len(x)/2]
}

// TestConfounders checks, on Full-resolution crops of a phantom, that the
// gravity-dependent density and the scars are there (against the same seed
// without confounders), that they are not in the truth, and that the
// vessel trees bifurcate.
func TestConfounders(t *testing.T) {
	const seed = 7
	opt := Options{Seed: seed, Size: Full}
	p, err := newPlan(opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.NoConfounders = true
	bare, err := newPlan(opt)
	if err != nil {
		t.Fatal(err)
	}
	a := p.a
	if a.dep == nil || len(a.scars) < 2 || len(a.scars) > 4 || bare.a.dep != nil || len(bare.a.scars) != 0 {
		t.Fatalf("confounders: dependent %v, %d scars", a.dep != nil, len(a.scars))
	}
	if len(p.les) != len(bare.les) {
		t.Errorf("confounders changed the lesions: %d vs %d", len(p.les), len(bare.les))
	}
	// Dependent density: 4 slices half-way up the lungs.
	l0 := a.lungs[0]
	zMid := l0.zBase + l0.dome + (l0.zTop-l0.zBase-l0.dome)*0.45
	g := p.g
	k0 := int(math.Round((zMid - g.Origin[2]) / g.Spacing[2]))
	g.Origin[2] += float64(k0) * g.Spacing[2]
	g.Dims[2] = 4
	hu, lung := renderCrop(p, g)
	hub, _ := renderCrop(bare, g)
	for s := range a.lungs {
		l := a.lungs[s]
		var dorsal, dorsalBare, deep, deepBare []float64
		for k := 0; k < g.Dims[2]; k++ {
			for j := 0; j < g.Dims[1]; j++ {
				for i := 0; i < g.Dims[0]; i++ {
					q := g.IndexToWorld(vec{float64(i), float64(j), float64(k)})
					if lung.At(i, j, k) == 0 || l.sdf(q[0], q[1], q[2]) > -2 {
						continue
					}
					sc := l.scaleAt(q[2])
					ux := (q[0] - l.lx) / (l.la * sc)
					if math.Abs(ux) > 0.6 {
						continue
					}
					depth := l.ly + l.lb*sc*math.Sqrt(1-ux*ux) - q[1]
					switch {
					case depth < 5:
						dorsal = append(dorsal, float64(hu.At(i, j, k)))
						dorsalBare = append(dorsalBare, float64(hub.At(i, j, k)))
					case depth > 40:
						deep = append(deep, float64(hu.At(i, j, k)))
						deepBare = append(deepBare, float64(hub.At(i, j, k)))
					}
				}
			}
		}
		n, nd := len(dorsal), len(deep)
		// the dependent density alone: the difference from the same voxels
		// without confounders (vessels are the same in both)
		lift := make([]float64, n)
		for i := range lift {
			lift[i] = dorsal[i] - dorsalBare[i]
		}
		deepLift := make([]float64, nd)
		for i := range deepLift {
			deepLift[i] = deep[i] - deepBare[i]
		}
		d, db, dp := median(dorsal), median(dorsalBare), median(deep)
		dl, dpl := median(lift), median(deepLift)
		t.Logf("lung %d: dorsal %.0f HU (%d voxels; %.0f without confounders: +%.0f), deep %.0f HU (%d; %+.0f); drawn %.0f HU at the pleura over %.0f mm",
			s, d, n, db, dl, dp, nd, dpl, a.dep.hu[s], a.dep.depth[s])
		if n < 50 || nd < 50 {
			t.Fatalf("lung %d: too few voxels sampled (%d, %d)", s, n, nd)
		}
		// 2–5 mm deep the density has fallen a little from the pleura's.
		if dl < 30 || d > a.dep.hu[s]+15 || math.Abs(db-parenchymaHU) > 20 || math.Abs(dpl) > 2 {
			t.Errorf("lung %d: dorsal %.0f HU (+%.0f from the confounder), deep %+.0f from it, dorsal without confounders %.0f HU", s, d, dl, dpl, db)
		}
	}
	// Scars: denser than lung at their centre, gone without confounders,
	// no lesion there.
	for i, sc := range a.scars {
		cg := cropAround(sc.c, 6, g.Spacing)
		h, m := renderCrop(p, cg)
		hb, _ := renderCrop(bare, cg)
		idx := cg.WorldToIndex(sc.c)
		ii, jj, kk := int(math.Round(idx[0])), int(math.Round(idx[1])), int(math.Round(idx[2]))
		v, vb := h.At(ii, jj, kk), hb.At(ii, jj, kk)
		t.Logf("scar %d (%.1f × %.1f × %.1f mm, %.0f HU): %d HU at its centre, %d HU without confounders", i, 2*sc.hl, 2*sc.hh, 2*sc.ht, sc.hu, v, vb)
		if m.At(ii, jj, kk) != 1 || v < -600 || vb > v-150 {
			t.Errorf("scar %d at %v: %d HU (lung %d), %d HU without confounders", i, sc.c, v, m.At(ii, jj, kk), vb)
		}
		for _, l := range p.les {
			if norm(sub(l.c, sc.c)) < l.bodyReach+sc.hl {
				t.Errorf("scar %d lies in lesion %s at %v", i, l.kind, l.c)
			}
		}
	}
	// Bifurcations: segment ends where two segments start.
	starts := map[vec]int{}
	for _, v := range a.vessels {
		starts[v.a]++
	}
	forks := 0
	for _, v := range a.vessels {
		if starts[v.b] >= 2 {
			forks++
		}
	}
	t.Logf("%d vessel segments, %d bifurcations", len(a.vessels), forks)
	if forks < 50 || forks < len(a.vessels)/4 {
		t.Errorf("%d bifurcations among %d vessel segments", forks, len(a.vessels))
	}
}

// TestTextureStatistics checks that the texture is zero-mean with about
// unit standard deviation and smooth on its scale, and that valueNoiseSD is
// right.
func TestTextureStatistics(t *testing.T) {
	tex := texture{seed: 42, scale: 2}
	rng := newRand(3, 3)
	var s, s2, vs, vs2, d2 float64
	const n = 200000
	for i := 0; i < n; i++ {
		p := vec{rng.Float64() * 500, rng.Float64() * 500, rng.Float64() * 500}
		x := tex.at(p)
		s += x
		s2 += x * x
		y := tex.at(add(p, vec{0.1, 0, 0}))
		d2 += (x - y) * (x - y)
		v := valueNoise(7, p[0], p[1], p[2])
		vs += v
		vs2 += v * v
	}
	mean, sd := s/n, math.Sqrt(s2/n-(s/n)*(s/n))
	vsd := math.Sqrt(vs2/n - (vs/n)*(vs/n))
	step := math.Sqrt(d2 / n)
	t.Logf("texture: mean %.3f SD %.3f, change over 0.1 mm %.3f; value noise SD %.3f", mean, sd, step, vsd)
	if math.Abs(mean) > 0.05 || math.Abs(sd-1) > 0.1 || math.Abs(vsd-valueNoiseSD) > 0.02 || step > 0.2 {
		t.Errorf("texture: mean %.3f SD %.3f step %.3f, value noise SD %.3f (constant %.2f)", mean, sd, step, vsd, valueNoiseSD)
	}
}
