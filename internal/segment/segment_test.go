package segment

import (
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/lungctl/lungctl/internal/edt"
	"github.com/lungctl/lungctl/internal/volume"
)

// chest is a synthetic 1 mm chest: its HU volume and the shapes it was
// drawn from, for checking the mask against.
type chest struct {
	hu *volume.Volume[int16]
	// lung ellipsoids: centre and semi-axes (voxel = mm)
	lungC, lungR [2]volume.Vec3
	juxta        volume.Vec3 // juxtapleural nodule centre
	juxtaR       float64
	inner        volume.Vec3 // nodule inside the lung
	innerR       float64
	tracheaC     [2]float64 // (x, y) of the trachea axis
	tracheaR     float64
	tracheaLow   float64 // z of the carina
	bronchi      [2][2]volume.Vec3
	bronchusR    float64
	gas          volume.Vec3 // bowel gas sphere
	gasR         float64
}

func inEllipsoid(p, c, r volume.Vec3) float64 {
	var s float64
	for a := 0; a < 3; a++ {
		d := (p[a] - c[a]) / r[a]
		s += d * d
	}
	return s
}

func dist(a, b volume.Vec3) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}

// segDist is the distance from p to segment ab.
func segDist(p, a, b volume.Vec3) float64 {
	var ab, ap volume.Vec3
	for i := 0; i < 3; i++ {
		ab[i], ap[i] = b[i]-a[i], p[i]-a[i]
	}
	t := (ab[0]*ap[0] + ab[1]*ap[1] + ab[2]*ap[2]) / (ab[0]*ab[0] + ab[1]*ab[1] + ab[2]*ab[2])
	t = math.Max(0, math.Min(1, t))
	return dist(p, volume.Vec3{a[0] + t*ab[0], a[1] + t*ab[1], a[2] + t*ab[2]})
}

// makeChest draws: outside air −1000; a body elliptic cylinder +40 HU; a
// table under it with a hollow air channel; two lung ellipsoids −850 HU with
// ±30 HU noise and vessels; a trachea (−1000) that leaves the top of the
// volume and splits into two bronchi entering the lungs; a nodule inside a
// lung; a juxtapleural nodule on the posterior wall; bowel gas.
func makeChest(dir float64) *chest {
	nx, ny, nz := 200, 170, 140
	g := volume.Grid{Dims: [3]int{nx, ny, nz}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	if dir < 0 {
		g.Direction[2][2] = -1
		g.Origin[2] = float64(nz - 1)
	}
	c := &chest{
		hu:         volume.New[int16](g),
		lungC:      [2]volume.Vec3{{58, 80, 70}, {142, 80, 70}},
		lungR:      [2]volume.Vec3{{30, 45, 55}, {30, 45, 55}},
		juxta:      volume.Vec3{33, 85, 65},
		juxtaR:     9,
		inner:      volume.Vec3{150, 70, 60},
		innerR:     5,
		tracheaC:   [2]float64{100, 70},
		tracheaR:   8,
		tracheaLow: 112,
		bronchusR:  5,
		gas:        volume.Vec3{100, 125, 20},
		gasR:       12,
	}
	c.bronchi = [2][2]volume.Vec3{{{100, 70, 112}, {70, 80, 92}}, {{100, 70, 112}, {130, 80, 92}}}
	for k := 0; k < nz; k++ {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				// world z of voxel k
				p := g.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
				x, y, z := p[0], p[1], p[2]
				v := -1000.0
				bx, by := (x-100)/85, (y-80)/65
				if bx*bx+by*by <= 1 {
					v = 40
				}
				if y >= 150 && y <= 158 && x >= 15 && x <= 185 {
					v = 200
					if y >= 152 && y <= 155 && x >= 25 && x <= 175 {
						v = -1000
					}
				}
				for l := 0; l < 2; l++ {
					if inEllipsoid(p, c.lungC[l], c.lungR[l]) <= 1 {
						h := uint32(i*73856093) ^ uint32(j*19349663) ^ uint32(k*83492791)
						v = -850 + float64(h%61) - 30
						// vessels along z
						vx := c.lungC[l][0] + 8
						if (x-vx)*(x-vx)+(y-75)*(y-75) <= 4 {
							v = 40
						}
					}
				}
				if dist(p, c.inner) <= c.innerR || dist(p, c.juxta) <= c.juxtaR {
					v = 0
				}
				if z >= c.tracheaLow && (x-c.tracheaC[0])*(x-c.tracheaC[0])+(y-c.tracheaC[1])*(y-c.tracheaC[1]) <= c.tracheaR*c.tracheaR {
					v = -1000
				}
				for _, b := range c.bronchi {
					if z > 85 && z < 120 && segDist(p, b[0], b[1]) <= c.bronchusR {
						v = -1000
					}
				}
				if dist(p, c.gas) <= c.gasR {
					v = -1000
				}
				c.hu.Set(i, j, k, int16(v))
			}
		}
	}
	return c
}

var (
	chestMu    sync.Mutex
	chestCache = map[float64]*chest{}
)

// cachedChest returns a private copy of makeChest(dir), drawing it once.
func cachedChest(dir float64) *chest {
	chestMu.Lock()
	defer chestMu.Unlock()
	c, ok := chestCache[dir]
	if !ok {
		c = makeChest(dir)
		chestCache[dir] = c
	}
	cp := *c
	cp.hu = &volume.Volume[int16]{Grid: c.hu.Grid, Data: append([]int16(nil), c.hu.Data...)}
	return &cp
}

func TestSyntheticChest(t *testing.T) {
	dirs := []float64{1, -1}
	if testing.Short() {
		dirs = dirs[:1]
	}
	for _, dir := range dirs {
		c := cachedChest(dir)
		var s Segmenter
		m, st, err := s.Lungs(c.hu, Options{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("dir %+.0f: %+v", dir, st)
		if !st.TracheaFound {
			t.Errorf("trachea not found")
		}
		g := m.Grid
		var lungIn, lungTotal, juxIn, juxTotal, innerIn, innerTotal int
		var lungVol float64
		for k := 0; k < g.Dims[2]; k++ {
			for j := 0; j < g.Dims[1]; j++ {
				for i := 0; i < g.Dims[0]; i++ {
					p := g.IndexToWorld(volume.Vec3{float64(i), float64(j), float64(k)})
					v := m.At(i, j, k)
					inLung := inEllipsoid(p, c.lungC[0], c.lungR[0]) <= 1 || inEllipsoid(p, c.lungC[1], c.lungR[1]) <= 1
					if inLung {
						lungVol++
					}
					nearAirway := p[2] > 80 && p[2] < 125 && (segDist(p, c.bronchi[0][0], c.bronchi[0][1]) <= c.bronchusR+4 ||
						segDist(p, c.bronchi[1][0], c.bronchi[1][1]) <= c.bronchusR+4)
					deep := inEllipsoid(p, c.lungC[0], volume.Vec3{27, 42, 52}) <= 1 || inEllipsoid(p, c.lungC[1], volume.Vec3{27, 42, 52}) <= 1
					if deep && !nearAirway {
						lungTotal++
						lungIn += int(v)
					}
					if dist(p, c.juxta) <= c.juxtaR && inLung {
						juxTotal++
						juxIn += int(v)
					}
					if dist(p, c.inner) <= c.innerR {
						innerTotal++
						innerIn += int(v)
					}
					// Trachea above the carina, outside air, bowel gas, the
					// table channel and the mediastinum are never lung.
					tx, ty := p[0]-c.tracheaC[0], p[1]-c.tracheaC[1]
					switch {
					case p[2] >= c.tracheaLow+2 && tx*tx+ty*ty <= (c.tracheaR+1)*(c.tracheaR+1):
						if v != 0 {
							t.Fatalf("trachea voxel %v in mask", p)
						}
					case c.hu.At(i, j, k) == -1000 && !nearAirway && p[2] < c.tracheaLow:
						if v != 0 {
							t.Fatalf("air voxel %v (outside, gas or table) in mask", p)
						}
					case p[0] > 94 && p[0] < 106 && p[2] < 100:
						if v != 0 {
							t.Fatalf("mediastinum voxel %v in mask", p)
						}
					}
				}
			}
		}
		if float64(lungIn) < 0.995*float64(lungTotal) {
			t.Errorf("lung interior: %d of %d voxels in mask", lungIn, lungTotal)
		}
		// A closing approximates the missing pleura across the nodule's base by
		// an arc of the closing radius, so a thin cap at the base may stay out.
		if float64(juxIn) < 0.8*float64(juxTotal) {
			t.Errorf("juxtapleural nodule: %d of %d voxels inside the lung contour in mask", juxIn, juxTotal)
		}
		t.Logf("juxtapleural nodule: %d of %d voxels inside the lung contour in mask", juxIn, juxTotal)
		if cv := m.At(int(c.juxta[0]), int(c.juxta[1]), int(math.Round(g.WorldToIndex(c.juxta)[2]))); cv != 1 {
			t.Errorf("juxtapleural nodule centre not in mask")
		}
		if innerIn != innerTotal {
			t.Errorf("inner nodule: %d of %d voxels in mask", innerIn, innerTotal)
		}
		// Mask volume close to the drawn lungs (closing adds a little at the
		// juxtapleural nodule; the airway removal takes a little).
		if r := st.VolumeML / (lungVol / 1000); r < 0.97 || r > 1.05 {
			t.Errorf("mask volume %.1f mL vs drawn lungs %.1f mL", st.VolumeML, lungVol/1000)
		}
		if len(st.ComponentsML) != 2 {
			t.Errorf("kept %d components, want 2", len(st.ComponentsML))
		}
		// Reuse: a second call with the same segmenter and dst gives the same mask.
		m2, _, err := s.Lungs(c.hu, Options{}, m)
		if err != nil || m2 != m {
			t.Fatalf("reuse: %v, same dst %v", err, m2 == m)
		}
	}
}

// TestTouchingLungs checks the midline split when the lungs form one
// component: the mediastinum between them stays out of the mask.
func TestTouchingLungs(t *testing.T) {
	c := cachedChest(1)
	g := c.hu.Grid
	// Join the lungs by an air bridge in front (anterior junction).
	for k := 40; k < 100; k++ {
		for j := 36; j < 42; j++ {
			for i := 60; i < 141; i++ {
				c.hu.Set(i, j, k, -850)
			}
		}
	}
	m, st, err := new(Segmenter).Lungs(c.hu, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.ComponentsML) != 1 {
		t.Fatalf("kept %d components, want the joined lungs as 1", len(st.ComponentsML))
	}
	// The mediastinum behind the bridge is more than a closing radius from
	// either lung's side but would be enclosed by a joint closing.
	for k := 50; k < 90; k++ {
		for j := 60; j < 100; j++ {
			for i := 97; i < 104; i++ {
				if m.At(i, j, k) != 0 {
					t.Fatalf("mediastinum voxel (%d,%d,%d) in mask", i, j, k)
				}
			}
		}
	}
	_ = g
}

func TestErrors(t *testing.T) {
	if _, err := Lungs(nil, Options{}); err == nil {
		t.Error("nil volume accepted")
	}
	g := volume.Grid{Dims: [3]int{40, 40, 20}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	soft := volume.New[int16](g)
	for i := range soft.Data {
		soft.Data[i] = 40
	}
	if _, err := Lungs(soft, Options{}); !errors.Is(err, ErrNoLungs) {
		t.Errorf("no air: err = %v, want ErrNoLungs", err)
	}
	cor := soft.Grid
	cor.Direction = [3][3]float64{{1, 0, 0}, {0, 0, 1}, {0, 1, 0}}
	if _, err := Lungs(&volume.Volume[int16]{Grid: cor, Data: soft.Data}, Options{}); !errors.Is(err, ErrOrientation) {
		t.Errorf("coronal: err = %v, want ErrOrientation", err)
	}
	// Tiny volumes never panic: all outside air, or an air pocket far below
	// a lung's volume.
	for _, dims := range [][3]int{{1, 1, 1}, {3, 3, 1}, {5, 5, 2}, {7, 6, 3}} {
		tg := volume.Grid{Dims: dims, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
		for _, fill := range []int16{-1000, 40} {
			v := volume.New[int16](tg)
			for i := range v.Data {
				v.Data[i] = fill
			}
			if dims[0] > 2 && dims[1] > 2 {
				v.Set(dims[0]/2, dims[1]/2, 0, -900)
			}
			if _, err := Lungs(v, Options{}); !errors.Is(err, ErrNoLungs) {
				t.Errorf("tiny %v fill %d: err = %v, want ErrNoLungs", dims, fill, err)
			}
		}
	}
	bad := &volume.Volume[int16]{Grid: g, Data: soft.Data[:10]}
	if _, err := Lungs(bad, Options{}); !errors.Is(err, volume.ErrGeometry) {
		t.Errorf("short data: err = %v, want ErrGeometry", err)
	}
}

// TestEDT checks the distance transform against brute force.
func TestEDT(t *testing.T) {
	w, h := 37, 29
	f := make([]float32, w*h)
	var feats [][2]int
	for p := range f {
		f[p] = inf
		if (p*7919)%97 == 0 {
			f[p] = 0
			feats = append(feats, [2]int{p % w, p / w})
		}
	}
	cl := &closer{}
	cl.ensure(w, h)
	sx, sy := float32(0.8), float32(1.3)
	edt.Transform2(f, w, h, sx, sy, &cl.ew)
	for p := range f {
		i, j := p%w, p/w
		best := math.Inf(1)
		for _, q := range feats {
			dx, dy := float64(i-q[0])*float64(sx), float64(j-q[1])*float64(sy)
			best = math.Min(best, dx*dx+dy*dy)
		}
		if math.Abs(float64(f[p])-best) > 1e-3*best+1e-4 {
			t.Fatalf("pixel (%d,%d): %v, want %v", i, j, f[p], best)
		}
	}
}
