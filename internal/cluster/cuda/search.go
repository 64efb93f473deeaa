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
// search, boxes of side Reuse remembered in a device hash table with the
// mode their search reached, a search entering a remembered box taking that
// mode; the round's boxes are published between rounds, the first search in
// seed order winning a box. If the table fills up it falls back to the
// exact search (shiftGrid2).
func (c *CUDA) shiftReuse(mem *devMem, points []float32, dim int, modes []float32, opt cluster.Options) (int, error) {
	n := len(points) / dim
	m := len(modes) / dim
	lo, hi := cells.Range(points, dim)
	q, ok := cells.NewQuant(lo, hi, dim, opt.Reuse)
	if !ok {
		return c.shiftGrid2(mem, points, dim, modes, opt)
	}
	qt := deviceQuant(q)
	R := opt.Truncate
	g, err := c.uploadGrid(mem, points, dim, opt.Weights, R*grid2Cell)
	if err != nil {
		return 0, err
	}
	L, dPts, dWt, dStart := g.L, g.dPts, g.dWt, g.dStart
	dModes, err := upload(mem, modes, "modes")
	if err != nil {
		return 0, err
	}
	order32 := make([]int32, m)
	for i, q := range cells.SeedOrder(m) {
		order32[i] = int32(q)
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
	var dTKey, dTOwn, dTVal, dAKey, dAOwn, dFound, dNewID, dYPos, dModePos, dCounters cu.DevicePtr
	for _, b := range []struct {
		p     *cu.DevicePtr
		bytes int
		what  string
	}{
		{&dTKey, 8 * slots, "box table keys"}, {&dTOwn, 4 * slots, "box table owners"},
		{&dTVal, 4 * slots, "box table modes"}, {&dAKey, 8 * acap, "path boxes"},
		{&dAOwn, 4 * acap, "path owners"}, {&dFound, 4 * maxRound, "found modes"},
		{&dNewID, 4 * maxRound, "mode ids"}, {&dYPos, 4 * dim * maxRound, "search ends"},
		{&dModePos, 4 * dim * m, "mode positions"}, {&dCounters, 4 * 4, "counters"},
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
	// counters: [0] arena entries, [1] flags (1 arena full, 2 table full),
	// [2] modes so far, [3] largest step count.
	if err := cu.MemsetD32(dCounters, 0, 4); err != nil {
		return 0, fmt.Errorf("cuMemsetD32 counters: %w", err)
	}
	dArenaN, dFlag, dNModes, dMaxIt := dCounters, dCounters+4, dCounters+8, dCounters+12
	mask := uint32(slots - 1)
	r2 := R * R
	tol2 := opt.Tol * opt.Tol
	inv := L.Inv[0]
	fs := c.d.search[dim]
	ns := fmt.Sprintf("ms_search_%d", dim)
	var cnt [2]int32
	for _, rr := range cells.Rounds(m) {
		s, nround := rr[0], rr[1]-rr[0]
		dRound := dOrder + cu.DevicePtr(4*s)
		for {
			if err := cu.MemsetD32(dArenaN, 0, 2); err != nil {
				return 0, fmt.Errorf("cuMemsetD32 counters: %w", err)
			}
			if err := launch(fs, ns, (nround*32+tileBlock-1)/tileBlock, tileBlock,
				argPtr(dPts), argPtr(dWt), argI32(n), argPtr(dStart),
				argI32(L.NC[0]), argI32(L.NC[1]), argI32(L.NC[2]),
				argF32(L.Lo[0]), argF32(L.Lo[1]), argF32(L.Lo[2]), argF32(inv),
				argPtr(dModes), argPtr(dRound), argI32(nround), argPtr(dTKey), argPtr(dTVal),
				uint64(mask), argPtr(dQuant), argPtr(dFound), argPtr(dYPos), argPtr(dMaxIt),
				argPtr(dAKey), argPtr(dAOwn), argI32(acap), argPtr(dArenaN), argPtr(dFlag),
				argF32(r2), argF32(tol2), argI32(opt.MaxIter)); err != nil {
				return 0, err
			}
			if err := cu.MemcpyDtoH(unsafe.Pointer(&cnt[0]), dArenaN, 8); err != nil {
				return 0, fmt.Errorf("cuMemcpyDtoH counters (%s execution): %w", ns, err)
			}
			if cnt[1]&1 == 0 {
				break
			}
			// The round's paths did not fit: a larger arena, same round
			// again (nothing was published yet).
			acap = max(2*acap, int(cnt[0]))
			if dAKey, err = mem.alloc(int64(8*acap), "path boxes"); err != nil {
				return 0, err
			}
			if dAOwn, err = mem.alloc(int64(4*acap), "path owners"); err != nil {
				return 0, err
			}
		}
		na := int(cnt[0])
		if na > 0 {
			if err := launch(c.d.ins1, "ms_ins1", (na+finBlock-1)/finBlock, finBlock,
				argPtr(dAKey), argPtr(dAOwn), argI32(na), argPtr(dTKey), argPtr(dTOwn),
				uint64(mask), argPtr(dFlag)); err != nil {
				return 0, err
			}
			var flag int32
			if err := cu.MemcpyDtoH(unsafe.Pointer(&flag), dFlag, 4); err != nil {
				return 0, fmt.Errorf("cuMemcpyDtoH flags (ms_ins1 execution): %w", err)
			}
			if flag&2 != 0 {
				// Table full (far more boxes than expected): exact search.
				return c.shiftGrid2(mem, points, dim, modes, opt)
			}
		}
		if err := launch(c.d.ids, "ms_ids", 1, scanThreads,
			argPtr(dFound), argI32(nround), argPtr(dNewID), argPtr(dNModes), argPtr(dYPos),
			argPtr(dModePos), argI32(dim)); err != nil {
			return 0, err
		}
		if na > 0 {
			if err := launch(c.d.ins2, "ms_ins2", (na+finBlock-1)/finBlock, finBlock,
				argPtr(dAKey), argPtr(dAOwn), argI32(na), argPtr(dTKey), argPtr(dTOwn), argPtr(dTVal),
				uint64(mask), argPtr(dNewID)); err != nil {
				return 0, err
			}
		}
		if err := launch(c.d.resolve, "ms_resolve", (nround*dim+finBlock-1)/finBlock, finBlock,
			argPtr(dRound), argI32(nround), argPtr(dNewID), argPtr(dModePos), argPtr(dModes),
			argI32(dim)); err != nil {
			return 0, err
		}
	}
	var maxIt int32
	if err := cu.MemcpyDtoH(unsafe.Pointer(&maxIt), dMaxIt, 4); err != nil {
		return 0, fmt.Errorf("cuMemcpyDtoH step count: %w", err)
	}
	return int(maxIt), downloadModes(modes, dModes)
}
