package cuda

// CPU-side reference tests of the host preparation for per-point scales
// (prep.go) and of the kernels' arithmetic on it: emulBrute and emulGrid
// mirror ms_brute2s/ms_fin2 and ms_grid2 (dense and point-parallel paths,
// the latter being ms_search's step) line by line in float32, reading the
// same arrays and the same packed level table the device gets, and their
// exact searches must reproduce the CPU BruteForce reference. These run in
// the plain test suite (no build tag, no cgo, no GPU); they check the
// model and the data layout, not the CUDA code itself, which only
// cuda_test.go (tag lungcuda, on a GPU) runs.

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/lungctl/lungctl/internal/cluster"
	"github.com/lungctl/lungctl/internal/cluster/clustertest"
)

var detectBW = []float64{4, 4, 4, 200, 0.2}

func f32(w uint32) float32 { return math.Float32frombits(w) }

// level is a deviceLevel decoded the way the kernel reads struct Level.
type level struct {
	nc                [3]int
	cellBase          int
	lo, bblo, bbhi    [3]float32
	invCell, inv, cel float32
}

func decode(d deviceLevel) level {
	var L level
	for a := 0; a < 3; a++ {
		L.nc[a] = int(int32(d[lvNC+a]))
		L.lo[a], L.bblo[a], L.bbhi[a] = f32(d[lvLo+a]), f32(d[lvBBLo+a]), f32(d[lvBBHi+a])
	}
	L.cellBase = int(int32(d[lvCellBase]))
	L.invCell, L.inv, L.cel = f32(d[lvInvCell]), f32(d[lvInv]), f32(d[lvCell])
	return L
}

func cellClamp(v, lo, invCell float32, nc int) int {
	return max(0, min(int(math.Floor(float64((v-lo)*invCell))), nc-1))
}

// levelRange mirrors meanshift.cu's levelRange.
func (L *level) levelRange(y []float32, rm float32) (c0, c1 [3]int, ok bool) {
	var gap2 float32
	for a := 0; a < min(3, len(y)); a++ {
		v := y[a]
		g := max(L.bblo[a]-v, v-L.bbhi[a], 0)
		gap2 += g * g
		c0[a] = cellClamp(v-rm, L.lo[a], L.invCell, L.nc[a])
		c1[a] = cellClamp(v+rm, L.lo[a], L.invCell, L.nc[a])
	}
	return c0, c1, gap2 < rm*rm
}

func preScaleY(y []float32, inv float32, m int) []float32 {
	out := make([]float32, len(y))
	for a, v := range y {
		if a < m {
			v *= inv
		}
		out[a] = v
	}
	return out
}

// moveMode mirrors meanshift.cu's moveMode (s: D numerators, den, denS).
func moveMode(y, s []float32, m int, tol2 float32) bool {
	D := len(y)
	if !(s[D] > 0) || (m > 0 && !(s[D+1] > 0)) {
		return false
	}
	invd := 1 / s[D]
	invs := invd
	if m > 0 {
		invs = 1 / s[D+1]
	}
	var step2 float32
	for a := 0; a < D; a++ {
		f := invd
		if a < m {
			f = invs
		}
		sh := s[a] * f
		step2 += sh * sh
		y[a] += sh
	}
	return step2 >= tol2
}

// hit adds a pair's weight to the sums (the kernels' hit branch).
func hit(s []float32, w, inv float32, d []float32, m int) {
	D := len(d)
	wi := w * inv
	s[D] += w
	s[D+1] += wi * inv
	for a, v := range d {
		f := w
		if a < m {
			f = wi
		}
		s[a] += f * v
	}
}

// emulBrute runs the exact search of ms_brute2s + ms_fin2 on the tiles bt.
func emulBrute(bt *bruteTiles, dim, m int, modes []float32, r2, tol2 float32, maxIter int) {
	n := bt.npos
	for q := 0; q < len(modes)/dim; q++ {
		y := modes[q*dim : (q+1)*dim]
		s := make([]float32, dim+2)
		m2 := make([]float32, dim)
		d := make([]float32, dim)
		for it := 0; it < maxIter; it++ {
			clear(s)
			for base := 0; base < n; base += tilePoints {
				t := base / tilePoints
				c := bt.tc[t*dim : (t+1)*dim]
				inv := float32(1)
				if bt.tinv != nil {
					inv = bt.tinv[t]
				}
				var yn float32
				for a := 0; a < dim; a++ {
					ya := y[a]
					if a < m {
						ya *= inv
					}
					yr := ya - c[a]
					m2[a] = -2 * yr
					yn += yr * yr
				}
				thr := r2 - yn
				for k := base; k < min(n, base+tilePoints); k++ {
					d2 := bt.pn[k]
					for a := 0; a < dim; a++ {
						d2 += m2[a] * bt.rel[a*n+k]
					}
					if !(d2 < thr) {
						continue
					}
					w := float32(math.Exp(-0.5 * float64(d2+yn)))
					if bt.wt != nil {
						w *= bt.wt[k]
					}
					for a := range d {
						d[a] = bt.rel[a*n+k] + 0.5*m2[a]
					}
					hit(s, w, inv, d, m)
				}
			}
			if !moveMode(y, s, m, tol2) {
				break
			}
		}
	}
}

// gridData is the device's copy of the grid setup: pre-scaled points in
// position order (struct-of-arrays) and weights.
type gridData struct {
	gs     gridSetup
	pts    []float32 // a*npos + k
	wt     []float32
	npos   int
	levels []level
	key    level
}

func newGridData(points []float32, dim int, ls *levelSetup, cell float64) *gridData {
	gd := &gridData{gs: prepGrid(points, dim, ls, cell)}
	gd.npos = len(gd.gs.g.Perm)
	gd.pts = make([]float32, gd.npos*dim)
	for k, i := range gd.gs.g.Perm {
		for a := 0; a < dim; a++ {
			gd.pts[a*gd.npos+k] = ls.pre[int(i)*dim+a]
		}
	}
	if ls.wt != nil {
		gd.wt = make([]float32, gd.npos)
		for k, i := range gd.gs.g.Perm {
			gd.wt[k] = ls.wt[i]
		}
	}
	for _, d := range gd.gs.levels {
		gd.levels = append(gd.levels, decode(d))
	}
	gd.key = decode(gd.gs.key)
	return gd
}

// sumsDirect mirrors accumLevels (the point-parallel path of ms_grid2 and
// every step of ms_search): direct differences on pre-scaled coordinates.
func (gd *gridData) sumsDirect(y []float32, m int, r2, rm float32) []float32 {
	dim := len(y)
	s := make([]float32, dim+2)
	d := make([]float32, dim)
	for _, L := range gd.levels {
		yl := preScaleY(y, L.inv, m)
		c0, c1, ok := L.levelRange(yl, rm)
		if !ok {
			continue
		}
		for zz := c0[2]; zz <= c1[2]; zz++ {
			for yy := c0[1]; yy <= c1[1]; yy++ {
				row := L.cellBase + L.nc[0]*(yy+L.nc[1]*zz)
				for i := gd.gs.g.Start[row+c0[0]]; i < gd.gs.g.Start[row+c1[0]+1]; i++ {
					var d2 float32
					for a := range d {
						d[a] = gd.pts[a*gd.npos+int(i)] - yl[a]
						d2 += d[a] * d[a]
					}
					if !(d2 < r2) {
						continue
					}
					w := float32(math.Exp(-0.5 * float64(d2)))
					if gd.wt != nil {
						w *= gd.wt[i]
					}
					hit(s, w, L.inv, d, m)
				}
			}
		}
	}
	return s
}

// sumsDense mirrors ms_grid2's warp path for a warp of one mode: the key
// cell's centre converted to each level's units, expanded-form distances
// relative to it.
func (gd *gridData) sumsDense(y []float32, m int, r2, rm float32) []float32 {
	dim := len(y)
	v := make([]float32, dim)
	d := make([]float32, dim)
	K := gd.key
	ky := preScaleY(y, K.inv, m)
	var kc [3]int
	for a := 0; a < min(3, dim); a++ {
		kc[a] = cellClamp(ky[a], K.lo[a], K.invCell, K.nc[a])
	}
	cb := append([]float32(nil), gd.gs.cmid...)
	for a := 0; a < min(3, dim); a++ {
		cb[a] = K.lo[a] + (float32(kc[a])+0.5)*K.cel
		if a < m {
			cb[a] /= K.inv
		}
	}
	s := make([]float32, dim+2)
	for _, L := range gd.levels {
		yl, cl := preScaleY(y, L.inv, m), preScaleY(cb, L.inv, m)
		c0, c1, ok := L.levelRange(yl, rm)
		if !ok {
			continue
		}
		m2 := make([]float32, dim)
		var yn float32
		for a := range m2 {
			yr := yl[a] - cl[a]
			m2[a] = -2 * yr
			yn += yr * yr
		}
		thr := r2 - yn
		for zz := c0[2]; zz <= c1[2]; zz++ {
			for yy := c0[1]; yy <= c1[1]; yy++ {
				row := L.cellBase + L.nc[0]*(yy+L.nc[1]*zz)
				for i := gd.gs.g.Start[row+c0[0]]; i < gd.gs.g.Start[row+c1[0]+1]; i++ {
					var pn float32
					for a := range v {
						v[a] = gd.pts[a*gd.npos+int(i)] - cl[a]
						pn += v[a] * v[a]
					}
					d2 := pn
					for a := range v {
						d2 += m2[a] * v[a]
					}
					if !(d2 < thr) {
						continue
					}
					w := float32(math.Exp(-0.5 * float64(d2+yn)))
					if gd.wt != nil {
						w *= gd.wt[i]
					}
					for a := range d {
						d[a] = v[a] + 0.5*m2[a]
					}
					hit(s, w, L.inv, d, m)
				}
			}
		}
	}
	return s
}

// emulGrid runs the exact search with sumsDense (dense) or sumsDirect.
func (gd *gridData) emulGrid(dim, m int, modes []float32, R, tol2 float32, maxIter int, dense bool) {
	rm := R * 1.001
	for q := 0; q < len(modes)/dim; q++ {
		y := modes[q*dim : (q+1)*dim]
		for it := 0; it < maxIter; it++ {
			var s []float32
			if dense {
				s = gd.sumsDense(y, m, R*R, rm)
			} else {
				s = gd.sumsDirect(y, m, R*R, rm)
			}
			if !moveMode(y, s, m, tol2) {
				break
			}
		}
	}
}

// multiScaleSet returns MultiScale test points in scaled units (detect's
// bandwidth) with their scales and a weight per point.
func multiScaleSet(nf int) (pts, scale, wt []float32) {
	raw, scale := clustertest.MultiScale(nf, 2, 3)
	pts = clustertest.ScaleBy(raw, detectBW)
	wt = make([]float32, len(scale))
	for i := range wt {
		wt[i] = 1 + float32(i%3)
	}
	return pts, scale, wt
}

// TestEmulatedKernelsMatchBruteForce: on multi-scale points (scales 1, 2,
// 4, 8; weights), the emulated brute, grid-dense and grid-direct exact
// searches reproduce cluster.BruteForce's modes within 0.01 bandwidths and
// its merged partition exactly. Dropping the s^−m factor, the second
// denominator or the per-level pre-scaling makes it fail (the s = 8 blobs
// then split or drift).
func TestEmulatedKernelsMatchBruteForce(t *testing.T) {
	nf := 800
	if testing.Short() {
		nf = 400
	}
	pts, scale, wt := multiScaleSet(nf)
	const dim = 5
	opt := cluster.Options{Tol: 1e-4, Scale: scale, Weights: wt, ScaledAxes: 3, Reuse: -1}.WithDefaults()
	ref := append([]float32(nil), pts...)
	if _, err := (cluster.BruteForce{}).Shift(pts, dim, ref, opt); err != nil {
		t.Fatal(err)
	}
	ls, err := newLevelSetup(pts, dim, opt)
	if err != nil {
		t.Fatal(err)
	}
	if ls.m != 3 || len(ls.lv.Vals) != 4 {
		t.Fatalf("setup: m %d, %d levels", ls.m, len(ls.lv.Vals))
	}
	R := float32(opt.Truncate)
	tol2 := float32(opt.Tol * opt.Tol)
	bt := prepBrute(dim, &ls, opt.Truncate)
	gd := newGridData(pts, dim, &ls, opt.Truncate*grid2Cell)
	lr, _, _ := cluster.MergeModes(ref, dim, 0.5)
	if k := maxLabel(lr) + 1; k < 5 {
		t.Fatalf("reference has %d clusters: vacuous", k)
	}
	for _, v := range []struct {
		name string
		run  func([]float32)
	}{
		{"brute", func(y []float32) { emulBrute(&bt, dim, ls.m, y, R*R, tol2, opt.MaxIter) }},
		{"grid-dense", func(y []float32) { gd.emulGrid(dim, ls.m, y, R, tol2, opt.MaxIter, true) }},
		{"grid-direct", func(y []float32) { gd.emulGrid(dim, ls.m, y, R, tol2, opt.MaxIter, false) }},
	} {
		got := append([]float32(nil), pts...)
		v.run(got)
		worst := 0.0
		for i := range got {
			worst = math.Max(worst, math.Abs(float64(got[i]-ref[i])))
		}
		lg, _, _ := cluster.MergeModes(got, dim, 0.5)
		ari := cluster.AdjustedRand(clustertest.ToInt(lg), clustertest.ToInt(lr))
		t.Logf("%s: %d modes, worst axis difference %.2g bandwidths, ARI %.6f", v.name, len(got)/dim, worst, ari)
		if worst > 0.01 || ari != 1 {
			t.Errorf("%s: worst %.3g bandwidths, ARI %g; want ≤ 0.01 and 1", v.name, worst, ari)
		}
	}
}

func maxLabel(l []int32) int32 {
	var m int32
	for _, v := range l {
		m = max(m, v)
	}
	return m
}

// TestLevelRangesCoverRadius checks the packed level table the grid
// kernels read: for positions all over and beyond the data, the cells of
// every level's range (after the bounding-box skip) hold every point whose
// scaled distance (float64) is below the radius, and the key layout puts
// each mode in the cell the host's layout gives.
func TestLevelRangesCoverRadius(t *testing.T) {
	pts, scale, _ := multiScaleSet(1500)
	const dim = 5
	opt := cluster.Options{Scale: scale}.WithDefaults()
	ls, err := newLevelSetup(pts, dim, opt)
	if err != nil {
		t.Fatal(err)
	}
	R := opt.Truncate
	gd := newGridData(pts, dim, &ls, R*grid2Cell)
	n := len(scale)
	inRange := make([]bool, gd.npos)
	for q := 0; q < 400; q++ {
		y := make([]float32, dim)
		copy(y, pts[(q*37%n)*dim:])
		y[0] += float32(q%7) - 3 // also between and beyond the points
		y[2] -= float32(q % 5)
		clear(inRange)
		for _, L := range gd.levels {
			yl := preScaleY(y, L.inv, ls.m)
			c0, c1, ok := L.levelRange(yl, float32(R*1.001))
			if !ok {
				continue
			}
			for zz := c0[2]; zz <= c1[2]; zz++ {
				for yy := c0[1]; yy <= c1[1]; yy++ {
					row := L.cellBase + L.nc[0]*(yy+L.nc[1]*zz)
					for i := gd.gs.g.Start[row+c0[0]]; i < gd.gs.g.Start[row+c1[0]+1]; i++ {
						inRange[i] = true
					}
				}
			}
		}
		for k, i := range gd.gs.g.Perm {
			s := float64(scale[i])
			var d2 float64
			for a := 0; a < dim; a++ {
				d := float64(pts[int(i)*dim+a]) - float64(y[a])
				if a < 3 {
					d /= s
				}
				d2 += d * d
			}
			if d2 < R*R && !inRange[k] {
				t.Fatalf("position %d (point %d, scale %g) at distance %.4f < %g of %v is in no level range", k, i, s, math.Sqrt(d2), R, y)
			}
		}
		// the key cell
		ky := preScaleY(y, gd.key.inv, ls.m)
		for a := 0; a < 3; a++ {
			if got, want := cellClamp(ky[a], gd.key.lo[a], gd.key.invCell, gd.key.nc[a]), gd.gs.keyL.Of(float64(ky[a]), a); got != want {
				t.Fatalf("key cell axis %d: %d, host layout %d", a, got, want)
			}
		}
	}
}

// TestLevelSetup checks the fixed-bandwidth case (no copy, m = 0, the
// caller's weights), the weight factors s^−m and the ErrInput refusals.
func TestLevelSetup(t *testing.T) {
	pts := []float32{0, 0, 0, 1, 1, 1, 2, 2, 2}
	w := []float32{1, 2, 3}
	ls, err := newLevelSetup(pts, 3, cluster.Options{Weights: w, Scale: []float32{1, 1, 1}})
	if err != nil || ls.m != 0 || &ls.pre[0] != &pts[0] || &ls.wt[0] != &w[0] || len(ls.lv.Vals) != 1 {
		t.Fatalf("fixed bandwidth: %+v %v", ls, err)
	}
	ls, err = newLevelSetup(pts, 3, cluster.Options{Weights: w, Scale: []float32{1, 2, 4}, ScaledAxes: 2})
	if err != nil || ls.m != 2 {
		t.Fatalf("scaled: %v", err)
	}
	for i, want := range []float32{1, 2.0 / 4, 3.0 / 16} {
		if ls.wt[i] != want {
			t.Errorf("weight %d: %g want %g", i, ls.wt[i], want)
		}
	}
	if ls.pre[3*2+1] != 2*0.25 || ls.pre[3*2+2] != 2 {
		t.Errorf("pre-scaled point 2: %v", ls.pre[6:9])
	}
	for _, o := range []cluster.Options{
		{Scale: []float32{1, 2}},
		{Scale: []float32{1, 2, 0}},
		{Scale: []float32{1, 2, 2}, ScaledAxes: 4},
		{Scale: []float32{1, 1}},
	} {
		if _, err := newLevelSetup(pts, 3, o); !errors.Is(err, cluster.ErrInput) {
			t.Errorf("%+v: %v, want ErrInput", o.Scale, err)
		}
	}
}

// TestSearchGeometry checks the launch choices of the path-assisted search:
// blocks of 8 warps per search exactly for rounds that fit one wave of
// resident blocks, and
// insertion grids that cover the round's arena bound.
func TestSearchGeometry(t *testing.T) {
	if searchThreads(64, 264) != searchBlock || searchThreads(264, 264) != searchBlock || searchThreads(265, 264) != 32 || searchThreads(64, 0) != 32 {
		t.Error("searchThreads")
	}
	if b := insertBlocks(64, 1<<20, 132); b != 64*pathCap/finBlock {
		t.Errorf("insertBlocks small round: %d", b)
	}
	if b := insertBlocks(1<<19, 1<<24, 132); b != 8*132 {
		t.Errorf("insertBlocks big round: %d", b)
	}
	if b := insertBlocks(1, 0, 0); b != 1 {
		t.Errorf("insertBlocks empty: %d", b)
	}
}

// fakeRounds models the device side of the path-assisted search for
// runRounds as meanshift.cu implements it: each round asks for need[r]
// arena entries; with a flag set every kernel returns at once; an overflow
// sets flag 1 and cnt[4] = r and publishes nothing; ms_resolve publishes
// the round and clears the entry count; round full fills the box table
// (flag 2, from ms_ins1).
type fakeRounds struct {
	need      []int
	full      int // round whose insertion fills the table; −1: none
	acap      int
	cnt       [reuseCounters]int32
	published []int
	restarts  []int
}

func (f *fakeRounds) enqueue(r, acap int) error {
	if acap != f.acap {
		return errors.New("enqueued with an arena of the wrong size")
	}
	if f.cnt[1] != 0 {
		return nil
	}
	f.cnt[0] += int32(f.need[r])
	if int(f.cnt[0]) > acap {
		f.cnt[1] |= 1
		f.cnt[4] = int32(r)
		return nil
	}
	if r == f.full {
		f.cnt[1] |= 2
		return nil
	}
	f.published = append(f.published, r)
	f.cnt[0] = 0
	return nil
}

func (f *fakeRounds) counters() ([reuseCounters]int32, error) { return f.cnt, nil }

func (f *fakeRounds) restart(acap int) error {
	f.acap = acap
	f.cnt[0], f.cnt[1] = 0, 0
	f.restarts = append(f.restarts, acap)
	return nil
}

// TestRunRounds checks the host's side of the path-assisted search without
// per-round synchronisation: every round is published exactly once and in
// order, overflowing rounds are redone with arenas that grow to what they
// asked for, a full table is reported, and an overflow report for a round
// that did not run is an error.
func TestRunRounds(t *testing.T) {
	f := &fakeRounds{need: []int{10, 50, 20, 300, 40, 1000, 5}, full: -1, acap: 64}
	_, full, err := runRounds(f, len(f.need), 64)
	if err != nil || full {
		t.Fatalf("runRounds: full %v, %v", full, err)
	}
	if want := []int{0, 1, 2, 3, 4, 5, 6}; !slices.Equal(f.published, want) {
		t.Errorf("published %v, want %v", f.published, want)
	}
	if want := []int{300, 1000}; !slices.Equal(f.restarts, want) {
		t.Errorf("arenas %v, want %v", f.restarts, want)
	}
	g := &fakeRounds{need: []int{1, 1, 1}, full: 1, acap: 8}
	if _, full, err := runRounds(g, 3, 8); err != nil || !full || !slices.Equal(g.published, []int{0}) {
		t.Errorf("full table: full %v, published %v, %v", full, g.published, err)
	}
	h := &fakeRounds{need: []int{1, 100}, full: -1, acap: 8}
	h.cnt[1], h.cnt[4] = 1, 7 // a stale report
	if _, _, err := runRounds(h, 2, 8); err == nil {
		t.Error("overflow of a round that did not run: no error")
	}
}
