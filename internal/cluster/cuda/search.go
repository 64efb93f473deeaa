//go:build lungcuda

package cuda

// The path-assisted search of the grid variant.

import (
	"fmt"
	"math"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/lungctl/lungctl/internal/cluster"
	"github.com/lungctl/lungctl/internal/cluster/cells"
)

// reuseQuant is the device layout of the box quantiser of the path-assisted
// search (struct Quant in meanshift.cu): lo[8] and inv as float64, bits as
// int32 (in the low half of the last word).
type reuseQuant [10]uint64

// deviceQuant converts the host quantiser (cells.Quant, the CPU's rule) to
// its device layout.
func deviceQuant(q cells.Quant) reuseQuant {
	var d reuseQuant
	for a := 0; a < q.Dim; a++ {
		d[a] = math.Float64bits(q.Lo[a])
	}
	d[8] = math.Float64bits(q.Inv)
	d[9] = uint64(uint32(q.Bits))
	return d
}

// shiftReuse is the path-assisted search of the grid variant
// (Options.Reuse > 0, the default), the GPU form of the CPU Grid's:
// searches in rounds (the CPU's seed order and round sizes), one warp per
// search (one block of searchBlock threads in the small early rounds, see
// searchThreads), boxes of side Reuse (base-bandwidth units, whatever the
// scales) remembered in a device hash table with the mode their search
// reached, a search entering a remembered box taking that mode; the round's
// boxes are published between rounds, the first search in seed order
// winning a box. The host enqueues every round without waiting (no
// per-round copies or synchronisation: the kernels keep the counts and
// flags on the device) and reads the flags once at the end: a round whose
// paths overflowed the arena is redone, with the rounds after it, with a
// larger arena; a full table falls back to the exact search (shiftGrid2).
func (c *CUDA) shiftReuse(mem *devMem, points []float32, dim int, modes []float32, opt cluster.Options, ls *levelSetup) (int, error) {
	m := len(modes) / dim
	lo, hi := cells.Range(points, dim)
	q, ok := cells.NewQuant(lo, hi, dim, opt.Reuse)
	if !ok {
		return c.shiftGrid2(mem, points, dim, modes, opt, ls)
	}
	qt := deviceQuant(q)
	R := opt.Truncate
	// The seed order (the CPU's, a serial shuffle: ~6 ms at 10⁶ searches)
	// is drawn while the points are sorted and uploaded.
	orderc := make(chan []int32, 1)
	go func() {
		o := make([]int32, m)
		for i, q := range cells.SeedOrder(m) {
			o[i] = int32(q)
		}
		orderc <- o
	}()
	g, err := c.uploadGrid(mem, points, dim, ls, R*grid2Cell)
	order32 := <-orderc
	if err != nil {
		return 0, err
	}
	dModes, err := upload(mem, modes, "modes")
	if err != nil {
		return 0, err
	}
	dOrder, err := upload(mem, order32, "seed order")
	if err != nil {
		return 0, err
	}
	dQuant, err := mem.alloc(int64(len(qt))*8, "box quantiser")
	if err != nil {
		return 0, err
	}
	if err := cu.MemcpyHtoD(dQuant, unsafe.Pointer(&qt[0]), int64(len(qt))*8); err != nil {
		return 0, fmt.Errorf("cuMemcpyHtoD box quantiser: %w", err)
	}
	// Hash table of boxes: 32 slots per search (a search remembers ~3-10
	// boxes), a power of two.
	slots := 1 << 16
	for slots < 32*m {
		slots <<= 1
	}
	maxRound := max(64, (m+1)/2)
	acap := 16 * maxRound
	var dTKey, dTOwn, dTVal, dAKey, dAOwn, dFound, dNewID, dYPos, dModePos, dCnt cu.DevicePtr
	for _, b := range []struct {
		p     *cu.DevicePtr
		bytes int
		what  string
	}{
		{&dTKey, 8 * slots, "box table keys"}, {&dTOwn, 4 * slots, "box table owners"},
		{&dTVal, 4 * slots, "box table modes"}, {&dAKey, 8 * acap, "path boxes"},
		{&dAOwn, 4 * acap, "path owners"}, {&dFound, 4 * maxRound, "found modes"},
		{&dNewID, 4 * maxRound, "mode ids"}, {&dYPos, 4 * dim * maxRound, "search ends"},
		{&dModePos, 4 * dim * m, "mode positions"}, {&dCnt, 4 * reuseCounters, "counters"},
	} {
		if *b.p, err = mem.alloc(int64(b.bytes), b.what); err != nil {
			return 0, err
		}
	}
	if err := cu.MemsetD32(dTKey, 0xffffffff, int64(2*slots)); err != nil {
		return 0, fmt.Errorf("cuMemsetD32 box table: %w", err)
	}
	if err := cu.MemsetD32(dTOwn, 0x7fffffff, int64(slots)); err != nil {
		return 0, fmt.Errorf("cuMemsetD32 box owners: %w", err)
	}
	// counters (meanshift.cu's cnt): [0] arena entries of the round, [1]
	// flags (1 arena full, 2 table full), [2] modes so far, [3] largest
	// step count, [4] the round that overflowed the arena.
	if err := cu.MemsetD32(dCnt, 0, reuseCounters); err != nil {
		return 0, fmt.Errorf("cuMemsetD32 counters: %w", err)
	}
	mask := uint32(slots - 1)
	r2 := R * R
	tol2 := opt.Tol * opt.Tol
	rounds := cells.Rounds(m)
	dev := &reuseLaunches{c: c, g: &g, dim: dim, rounds: rounds, sms: c.d.sms,
		dModes: dModes, dOrder: dOrder, dQuant: dQuant, dTKey: dTKey, dTOwn: dTOwn, dTVal: dTVal,
		dAKey: dAKey, dAOwn: dAOwn, dFound: dFound, dNewID: dNewID, dYPos: dYPos, dModePos: dModePos,
		dCnt: dCnt, mem: mem, mask: mask, r2: r2, tol2: tol2, maxIter: opt.MaxIter}
	cnt, full, err := runRounds(dev, len(rounds), acap)
	if err != nil {
		return 0, fmt.Errorf("cuda-grid: %w", err)
	}
	if full {
		// Table full (far more boxes than expected): exact search.
		return c.shiftGrid2(mem, points, dim, modes, opt, ls)
	}
	return int(cnt[3]), downloadModes(modes, dModes)
}

// reuseLaunches is the device side of runRounds for shiftReuse: the
// kernels of one round, the counters, a larger arena.
type reuseLaunches struct {
	c                                    *CUDA
	g                                    *gridPoints
	mem                                  *devMem
	dim, sms, maxIter                    int
	rounds                               [][2]int
	dModes, dOrder, dQuant, dTKey, dTOwn cu.DevicePtr
	dTVal, dAKey, dAOwn, dFound, dNewID  cu.DevicePtr
	dYPos, dModePos, dCnt                cu.DevicePtr
	mask                                 uint32
	r2, tol2                             float64
}

func (d *reuseLaunches) enqueue(r, acap int) error {
	c, g, dim := d.c, d.g, d.dim
	s, nround := d.rounds[r][0], d.rounds[r][1]-d.rounds[r][0]
	dRound := d.dOrder + cu.DevicePtr(4*s)
	fs, ns := c.d.search[dim], fmt.Sprintf("ms_search_%d", dim)
	blocks, threads := (nround*32+tileBlock-1)/tileBlock, tileBlock
	if searchThreads(nround, c.d.searchbWave[dim]) == searchBlock {
		fs, ns = c.d.searchb[dim], fmt.Sprintf("ms_searchb_%d", dim)
		blocks, threads = nround, searchBlock
	}
	if err := launch(fs, ns, blocks, threads,
		argPtr(g.dPts), argPtr(g.dWt), argI32(g.npos), argPtr(g.dStart), argPtr(g.dLev),
		argI32(g.nlev), argI32(g.m), argPtr(d.dModes), argPtr(dRound), argI32(nround), argI32(r),
		argPtr(d.dTKey), argPtr(d.dTVal), uint64(d.mask), argPtr(d.dQuant), argPtr(d.dFound), argPtr(d.dYPos),
		argPtr(d.dAKey), argPtr(d.dAOwn), argI32(acap), argPtr(d.dCnt),
		argF32(d.r2), argF32(d.tol2), argI32(d.maxIter)); err != nil {
		return err
	}
	ib := insertBlocks(nround, acap, d.sms)
	if err := launch(c.d.ins1, "ms_ins1", ib, finBlock,
		argPtr(d.dAKey), argPtr(d.dAOwn), argPtr(d.dCnt), argPtr(d.dTKey), argPtr(d.dTOwn), uint64(d.mask)); err != nil {
		return err
	}
	if err := launch(c.d.ids, "ms_ids", 1, scanThreads,
		argPtr(d.dFound), argI32(nround), argPtr(d.dNewID), argPtr(d.dCnt), argPtr(d.dYPos),
		argPtr(d.dModePos), argI32(dim)); err != nil {
		return err
	}
	if err := launch(c.d.ins2, "ms_ins2", ib, finBlock,
		argPtr(d.dAKey), argPtr(d.dAOwn), argPtr(d.dCnt), argPtr(d.dTKey), argPtr(d.dTOwn), argPtr(d.dTVal),
		uint64(d.mask), argPtr(d.dNewID)); err != nil {
		return err
	}
	return launch(c.d.resolve, "ms_resolve", (nround*dim+finBlock-1)/finBlock, finBlock,
		argPtr(dRound), argI32(nround), argPtr(d.dNewID), argPtr(d.dModePos), argPtr(d.dModes),
		argI32(dim), argPtr(d.dCnt))
}

// counters is the one synchronisation of the search: the copy also
// reports the kernels' execution errors.
func (d *reuseLaunches) counters() (cnt [reuseCounters]int32, err error) {
	if err := cu.MemcpyDtoH(unsafe.Pointer(&cnt[0]), d.dCnt, 4*reuseCounters); err != nil {
		return cnt, fmt.Errorf("cuMemcpyDtoH counters (path-assisted search execution): %w", err)
	}
	return cnt, nil
}

func (d *reuseLaunches) restart(acap int) (err error) {
	if d.dAKey, err = d.mem.alloc(int64(8*acap), "path boxes"); err != nil {
		return err
	}
	if d.dAOwn, err = d.mem.alloc(int64(4*acap), "path owners"); err != nil {
		return err
	}
	if err := cu.MemsetD32(d.dCnt, 0, 2); err != nil {
		return fmt.Errorf("cuMemsetD32 counters: %w", err)
	}
	return nil
}
