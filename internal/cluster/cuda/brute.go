//go:build lungcuda

package cuda

// The brute-force variant: every mode against every point, tiled.

import (
	"fmt"

	"gorgonia.org/cu"

	"github.com/lungctl/lungctl/internal/cluster"
	"github.com/lungctl/lungctl/internal/cluster/cells"
)

// brute2Split chooses how many chunks of the points ms_brute2 splits over
// (the grid's second dimension) for nact moving modes, mpt per thread on
// blocks resident per multiprocessor: enough blocks for brute2Waves full
// waves, at most one chunk per tile. It returns the split count and the
// chunk length in points (a multiple of tilePoints).
func (d *cudaDevice) brute2Split(nact, n, mpt, resident int) (nsplit, chunk int) {
	modeBlocks := (nact + tileBlock*mpt - 1) / (tileBlock * mpt)
	want := brute2Waves * d.sms * resident
	ntile := (n + tilePoints - 1) / tilePoints
	nsplit = max(1, min(ntile, (want+modeBlocks-1)/modeBlocks))
	chunk = (ntile + nsplit - 1) / nsplit * tilePoints
	nsplit = (n + chunk - 1) / chunk
	return nsplit, chunk
}

// shiftBrute2 is the brute variant's search: every step, every moving
// mode against every position (ms_brute2, or ms_brute2s with per-point
// scales), then ms_fin2 adds the partial sums and moves the modes.
func (c *CUDA) shiftBrute2(mem *devMem, n, dim int, modes []float32, opt cluster.Options, ls *levelSetup) (int, error) {
	m := len(modes) / dim
	bt := prepBrute(dim, ls, opt.Truncate)
	npos := bt.npos
	dRel, err := upload(mem, bt.rel, "points")
	if err != nil {
		return 0, err
	}
	dPn, err := upload(mem, bt.pn, "point norms")
	if err != nil {
		return 0, err
	}
	dTc, err := upload(mem, bt.tc, "tile centres")
	if err != nil {
		return 0, err
	}
	var dTinv, dWt cu.DevicePtr
	if bt.tinv != nil {
		if dTinv, err = upload(mem, bt.tinv, "tile scales"); err != nil {
			return 0, err
		}
	}
	if bt.wt != nil {
		if dWt, err = upload(mem, bt.wt, "weights"); err != nil {
			return 0, err
		}
	}
	// The active list starts in cell order (a mode's sums do not depend on
	// its slot): the 128 modes of a warp then lie close together, so a tile
	// is near all or none of them and the rare-hit branch of the pair loop
	// diverges less.
	lo, hi := cells.Range(modes, dim)
	mL := cells.NewLayout(lo, hi, dim, [3]float64{opt.Truncate, opt.Truncate, opt.Truncate}, 4*float64(m)+4096)
	order, _ := mL.Sort(modes, dim)
	dModes, dAct, dNext, dCount, err := uploadModes(mem, modes, dim, order, true)
	if err != nil {
		return 0, err
	}
	fb, nb := c.d.brute2[dim], fmt.Sprintf("ms_brute2_%d", dim)
	mpt, resident := modesPerThr, c.d.brute2Blocks
	switch {
	case ls.m > 0:
		fb, nb = c.d.brute2s[dim], fmt.Sprintf("ms_brute2s_%d", dim)
	case c.mpt8 && dim == 5:
		fb, nb, mpt, resident = c.d.brute2x8, "ms_brute2x8_5", 8, c.d.brute2x8Blocks
	}
	// The partial sums of the largest step: nsplit·nact·(dim+2) floats.
	// brute2Split gives nsplit ≤ ⌈want/modeBlocks⌉ with nact ≤
	// modeBlocks·tileBlock·mpt, so nsplit·nact ≤ want·tileBlock·mpt + nact;
	// and nsplit ≤ the tile count.
	want := brute2Waves * c.d.sms * resident
	maxPart := min((npos+tilePoints-1)/tilePoints*m, want*tileBlock*mpt+m)
	dPart, err := mem.alloc(int64(maxPart)*int64(dim+2)*4, "partial sums")
	if err != nil {
		return 0, err
	}
	r2 := opt.Truncate * opt.Truncate
	tol2 := opt.Tol * opt.Tol
	ff, nf := c.d.fin2[dim], fmt.Sprintf("ms_fin2_%d", dim)
	nact, it := m, 0
	for it < opt.MaxIter && nact > 0 {
		it++
		nsplit, chunk := c.d.brute2Split(nact, npos, mpt, resident)
		if nsplit*nact > maxPart {
			return 0, fmt.Errorf("cuda-brute: internal error: %d partial sums for a buffer of %d", nsplit*nact, maxPart)
		}
		modeBlocks := (nact + tileBlock*mpt - 1) / (tileBlock * mpt)
		if err := launch2(fb, nb, modeBlocks, nsplit, tileBlock,
			argPtr(dRel), argPtr(dPn), argPtr(dTc), argPtr(dTinv), argPtr(dWt), argI32(npos), argI32(chunk),
			argPtr(dModes), argPtr(dAct), argI32(nact), argPtr(dPart), argF32(r2), argI32(ls.m)); err != nil {
			return 0, err
		}
		if err := cu.MemsetD32(dCount, 0, 1); err != nil {
			return 0, fmt.Errorf("cuMemsetD32 count: %w", err)
		}
		if err := launch(ff, nf, (nact+finBlock-1)/finBlock, finBlock,
			argPtr(dPart), argI32(nsplit), argI32(nact), argPtr(dModes), argPtr(dAct),
			argPtr(dNext), argPtr(dCount), argF32(tol2), argI32(ls.m)); err != nil {
			return 0, err
		}
		c.pairs += int64(nact) * int64(n)
		if nact, err = readCount(dCount); err != nil {
			return 0, err
		}
		dAct, dNext = dNext, dAct
	}
	return it, downloadModes(modes, dModes)
}
