package cuda

// Host-side preparation of the CUDA backends for per-point bandwidth scales
// (cluster.Options.Scale). Pure Go and untagged, so that prep_test.go can
// check it, and the kernels' arithmetic on it, without cgo or a GPU; the
// tagged files (cuda.go, brute.go, search.go) upload what it returns.

import (
	"fmt"
	"math"

	"github.com/lungctl/lungctl/internal/cluster"
	"github.com/lungctl/lungctl/internal/cluster/cells"
)

// Launch geometry of the kernels (meanshift.cu): BT threads per block,
// MPT modes per thread in ms_brute2_*, PT points per tile.
const (
	tileBlock   = 128
	modesPerThr = 4
	tilePoints  = 256
	scanThreads = 1024
	finBlock    = 256
	grid2Cell   = 1.001 // cell side of the grid variant, in truncation radii
	brute2Waves = 4     // ms_brute2 launches ≈ this many full waves of blocks
)

// levelSetup is the model the kernels run: the points grouped by scale
// (one level of scale 1 without Options.Scale), pre-scaled (first m axes
// times 1/s, the CPU Grid's float32 product), and each point's weight times
// s^−m (the sample-point estimator's factor).
type levelSetup struct {
	lv cells.Levels
	// m is the number of scaled axes, 0 for the fixed-bandwidth model (the
	// kernels then use one denominator for every axis, the old arithmetic
	// bit for bit).
	m   int
	pre []float32 // pre-scaled points, row-major (points itself when m = 0)
	wt  []float32 // weight · s^−m per point, original order; nil: all 1
}

// newLevelSetup validates the options' scales for n = len(points)/dim
// points (cluster.ErrInput on a bad count, value or ScaledAxes) and
// returns the setup. Options.Scale nil or all 1 is the fixed-bandwidth
// model.
func newLevelSetup(points []float32, dim int, opt cluster.Options) (levelSetup, error) {
	n := len(points) / dim
	if opt.Scale == nil || opt.SingleScale() {
		if opt.Scale != nil && len(opt.Scale) != n {
			return levelSetup{}, fmt.Errorf("%w: %d scales for %d points", cluster.ErrInput, len(opt.Scale), n)
		}
		lv, _ := cells.NewLevels(nil, n)
		return levelSetup{lv: lv, pre: points, wt: opt.Weights}, nil
	}
	m := opt.ScaledAxes
	if m == 0 {
		m = min(3, dim)
	}
	if m < 1 || m > dim {
		return levelSetup{}, fmt.Errorf("%w: ScaledAxes %d for %d-D points", cluster.ErrInput, m, dim)
	}
	lv, err := cells.NewLevels(opt.Scale, n)
	if err != nil {
		return levelSetup{}, fmt.Errorf("%w: %w", cluster.ErrInput, err)
	}
	s := levelSetup{lv: lv, m: m, pre: lv.PreScale(points, dim, m), wt: make([]float32, n)}
	fac := make([]float32, len(lv.Vals))
	for l := range fac {
		fac[l] = float32(lv.Factor(l, m))
	}
	for i := range s.wt {
		w := fac[lv.Level(i)]
		if opt.Weights != nil {
			w *= opt.Weights[i]
		}
		s.wt[i] = w
	}
	return s, nil
}

// deviceLevel is struct Level of meanshift.cu (16 four-byte words): one
// scale level's cell list (cells per axis, offset of its cell starts, grid
// origin, 1/cell side, cell side; pre-scaled units), the range of its
// pre-scaled points on the cell axes (bounding-box test) and inv = 1/s.
type deviceLevel [16]uint32

// Word offsets in deviceLevel (struct Level's field order).
const (
	lvNC       = 0  // int nc[3]
	lvCellBase = 3  // int cellBase
	lvLo       = 4  // float lo[3]
	lvInvCell  = 7  // float invCell
	lvBBLo     = 8  // float bblo[3]
	lvInv      = 11 // float inv
	lvBBHi     = 12 // float bbhi[3]
	lvCell     = 15 // float cell
)

func f32bits(v float64) uint32 { return math.Float32bits(float32(v)) }

// packLevel returns the device form of a level: layout L (cube cells),
// its cells' offset in the concatenated start array, inv = 1/s, and the
// range lo, hi of its pre-scaled points (first min(dim, 3) values used).
func packLevel(L cells.Layout, cellBase int, inv float32, lo, hi []float64) deviceLevel {
	var d deviceLevel
	for a := 0; a < 3; a++ {
		d[lvNC+a] = uint32(int32(L.NC[a]))
		d[lvLo+a] = f32bits(L.Lo[a])
		if a < L.SD {
			d[lvBBLo+a], d[lvBBHi+a] = f32bits(lo[a]), f32bits(hi[a])
		}
	}
	d[lvCellBase] = uint32(int32(cellBase))
	d[lvInvCell] = f32bits(L.Inv[0])
	d[lvInv] = math.Float32bits(inv)
	d[lvCell] = f32bits(L.Cell[0])
	return d
}

// gridSetup is what the grid variant uploads: the per-level cell lists
// (positions without padding), the level table, and the key layout by
// which the exact search sorts its moving modes every step (cells of side
// cell over all the points with their first m axes times level 0's 1/s;
// with one level, that level's layout).
type gridSetup struct {
	g      cells.LevelGrid
	levels []deviceLevel
	keyL   cells.Layout
	key    deviceLevel // keyL; inv = level 0's 1/s, no bounding box
	cmid   []float32   // middle of the points' range per axis (base units): local centre of the non-cell axes
}

// prepGrid builds the grid variant's cell lists for the setup s (cells of
// side cell, pre-scaled units).
func prepGrid(points []float32, dim int, s *levelSetup, cell float64) gridSetup {
	n := len(points) / dim
	var gs gridSetup
	gs.g = cells.NewLevelGrid(s.pre, dim, &s.lv, cell, 1)
	for l := range s.lv.Vals {
		gs.levels = append(gs.levels, packLevel(gs.g.Layouts[l], gs.g.CellBase[l], s.lv.Inv(l), gs.g.Lo[l], gs.g.Hi[l]))
	}
	lo, hi := cells.Range(points, dim)
	gs.cmid = make([]float32, dim)
	for a := range gs.cmid {
		gs.cmid[a] = float32((lo[a] + hi[a]) / 2)
	}
	kinv := s.lv.Inv(0)
	if len(s.lv.Vals) == 1 {
		gs.keyL = gs.g.Layouts[0]
	} else {
		klo, khi := append([]float64(nil), lo...), append([]float64(nil), hi...)
		for a := 0; a < s.m; a++ {
			klo[a] *= float64(kinv)
			khi[a] *= float64(kinv)
		}
		gs.keyL = cells.NewLayout(klo, khi, dim, [3]float64{cell, cell, cell}, 4*float64(n)+4096)
	}
	gs.key = packLevel(gs.keyL, 0, kinv, make([]float64, 3), make([]float64, 3))
	return gs
}

// bruteTiles is what the brute variant uploads: the points level by level
// (each level sorted by its cells, starting at a tile boundary), relative
// to their tile's centre (struct-of-arrays), with |x'|² (+Inf for padding),
// the tile centres, each tile's 1/s (nil with one level of scale 1) and
// each position's weight·s^−m (nil: all 1; 0 for padding).
type bruteTiles struct {
	rel, pn, tc []float32
	tinv        []float32
	wt          []float32
	npos        int // positions (points and padding)
}

// prepBrute builds the brute variant's tiles for the setup s; cell is the
// side of the cells the points are sorted by within a level (compact tiles
// keep the expanded-form distance accurate).
func prepBrute(dim int, s *levelSetup, cell float64) bruteTiles {
	g := cells.NewLevelGrid(s.pre, dim, &s.lv, cell, tilePoints)
	var b bruteTiles
	b.npos = len(g.Perm)
	b.rel, b.pn, b.tc = cells.TileCentred(s.pre, dim, g.Perm, tilePoints)
	ntile := (b.npos + tilePoints - 1) / tilePoints
	if s.m > 0 {
		b.tinv = make([]float32, ntile)
		for t := range b.tinv {
			b.tinv[t] = s.lv.Inv(g.Level(t * tilePoints))
		}
	}
	if s.wt != nil {
		b.wt = make([]float32, b.npos)
		for k, i := range g.Perm {
			if i >= 0 {
				b.wt[k] = s.wt[i]
			}
		}
	}
	return b
}

// Path-assisted search geometry (meanshift.cu: SB, PATHCAP, cnt).
const (
	searchBlock   = 256 // threads of ms_searchb_* (one search per block)
	pathCap       = 256 // boxes a search remembers
	reuseCounters = 5   // int32 counters of the path-assisted search
)

// searchThreads returns how many threads run each search of a round of
// nround searches on a GPU where wave blocks of ms_searchb (searchBlock
// threads, one search each) are resident at once (multiprocessors × the
// occupancy the driver reports): a block, whose 8 warps share every step's
// points, when the round fits in one such wave — the small early rounds,
// whose time is that of their longest search — and a warp (32) otherwise.
// The choice depends only on nround and the GPU, so results are
// deterministic on a given GPU.
func searchThreads(nround, wave int) int {
	if nround <= wave {
		return searchBlock
	}
	return 32
}

// insertBlocks returns the grid size of ms_ins1/ms_ins2 (grid-stride loops
// over the round's arena entries, which only the device knows): enough
// blocks of finBlock threads for the most entries the round can have (its
// searches' paths, at most the arena), at most 8 per multiprocessor.
func insertBlocks(nround, acap, sms int) int {
	most := min(acap, nround*pathCap)
	return max(1, min((most+finBlock-1)/finBlock, 8*max(sms, 1)))
}

// roundDevice is what runRounds drives: the device side of the
// path-assisted search (search.go's launches) or a test's model of it.
type roundDevice interface {
	// enqueue launches round r's kernels (search, ins1, ids, ins2,
	// resolve) with an arena of acap entries, without waiting. On the
	// device a set flag makes every kernel return at once; an arena
	// overflow sets flag 1 and cnt[4] = r, a full table flag 2.
	enqueue(r, acap int) error
	// counters waits for the device and returns cnt.
	counters() ([reuseCounters]int32, error)
	// restart gives the arena room for acap entries and clears the
	// round's entry count and the flags.
	restart(acap int) error
}

// runRounds runs rounds 0..nr−1 of the path-assisted search on dev with an
// arena of acap entries: it enqueues them all and reads the counters once.
// When a round overflowed the arena (nothing of it was published, nor of
// any later round), it restarts with a larger arena (twice the old one, at
// least what the round asked for, cnt[0]) from that round, and so on. It
// returns the last counters, and tableFull when the box table filled up
// (the caller then runs the exact search).
func runRounds(dev roundDevice, nr, acap int) (cnt [reuseCounters]int32, tableFull bool, err error) {
	for first := 0; ; {
		for r := first; r < nr; r++ {
			if err := dev.enqueue(r, acap); err != nil {
				return cnt, false, err
			}
		}
		if cnt, err = dev.counters(); err != nil {
			return cnt, false, err
		}
		switch {
		case cnt[1] == 0:
			return cnt, false, nil
		case cnt[1]&2 != 0:
			return cnt, true, nil
		}
		r := int(cnt[4])
		if r < first || r >= nr {
			return cnt, false, fmt.Errorf("path-assisted search: arena overflow reported for round %d, rounds %d..%d ran", r, first, nr-1)
		}
		first = r
		acap = max(2*acap, int(cnt[0]))
		if err := dev.restart(acap); err != nil {
			return cnt, false, err
		}
	}
}
