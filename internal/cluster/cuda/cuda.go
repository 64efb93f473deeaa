//go:build lungcuda

package cuda

// CUDA mean-shift backends (build tag lungcuda; gorgonia.org/cu, cgo,
// libcuda). The kernels are in kernels/meanshift.cu; the PTX generated from
// it is embedded below, so building needs cuda.h and libcuda.so but no nvcc.
// The host-side preparation (cell layout, sort by cell, tile centring, box
// quantiser, seed order) is pure Go in package cluster/cells, shared with
// the CPU Grid backend and tested without a GPU.
//
// gorgonia.org/cu's package init calls cuInit and would exit the process
// (status 1) when no GPU is usable; cuinit.go interposes cuInit so
// that the error is recorded instead, and SelectBackend("auto") falls back
// to the CPU with a message. The binary links libcuda.so.1, so it starts
// only where the NVIDIA driver's library is installed.

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/lungctl/lungctl/internal/cluster"
)

//go:embed kernels/meanshift.ptx
var meanshiftPTX string

// maxCUDADim is the largest dimension the kernels are instantiated for.
const maxCUDADim = 8

func init() {
	cluster.Register("cuda", func() (cluster.Backend, error) {
		b, err := NewCUDA(true)
		if err != nil {
			return nil, err
		}
		return b, nil
	})
	cluster.Register("cuda-brute", func() (cluster.Backend, error) {
		b, err := NewCUDA(false)
		if err != nil {
			return nil, err
		}
		return b, nil
	})
}

// cudaDevice is the process-wide GPU state: device 0, its primary context
// and the loaded kernels. mu serialises all use (one GPU, one context).
type cudaDevice struct {
	mu   sync.Mutex
	dev  cu.Device
	name string
	ctx  cu.CUContext
	mod  cu.Module
	// kernels per dim (index = dim) and the dimension-free ones
	brute2, brute2s, fin2, key2, grid2, search, searchb [maxCUDADim + 1]cu.Function
	scatter2, scan2, ins1, ins2, ids, resolve, gather   cu.Function
	// brute2x8 is ms_brute2x8_5, the benchmark's 8-modes-per-thread
	// experiment (CUDA.mpt8).
	brute2x8 cu.Function
	// sms is the multiprocessor count; brute2Blocks (brute2x8Blocks) the
	// resident ms_brute2_5 (ms_brute2x8_5) blocks per multiprocessor
	// (launch sizing); searchbWave[dim] the ms_searchb_<dim> blocks
	// resident on the whole GPU (one wave).
	sms, brute2Blocks, brute2x8Blocks int
	searchbWave                       [maxCUDADim + 1]int
	// peakFLOPS is the FP32 peak: sms × 128 lanes × 2 flops (FMA) × clock.
	peakFLOPS float64
}

var (
	cudaOnce sync.Once
	cudaDev  *cudaDevice
	cudaErr  error
)

// openCUDA initialises the GPU state once: device 0, its primary context,
// the embedded PTX module and its kernel functions.
func openCUDA() (*cudaDevice, error) {
	cudaOnce.Do(func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cudaDev, cudaErr = initCUDA()
	})
	return cudaDev, cudaErr
}

func initCUDA() (*cudaDevice, error) {
	if err := driverInitError(); err != nil {
		return nil, err
	}
	nd, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("cuDeviceGetCount: %w", err)
	}
	if nd < 1 {
		return nil, errors.New("no CUDA device")
	}
	d := &cudaDevice{}
	if d.dev, err = cu.GetDevice(0); err != nil {
		return nil, fmt.Errorf("cuDeviceGet(0): %w", err)
	}
	if d.name, err = d.dev.Name(); err != nil {
		return nil, fmt.Errorf("cuDeviceGetName: %w", err)
	}
	if d.ctx, err = d.dev.RetainPrimaryCtx(); err != nil {
		return nil, fmt.Errorf("cuDevicePrimaryCtxRetain on %s: %w", d.name, err)
	}
	if err = cu.SetCurrentContext(d.ctx); err != nil {
		return nil, fmt.Errorf("cuCtxSetCurrent on %s: %w", d.name, err)
	}
	if d.mod, err = cu.LoadData(meanshiftPTX); err != nil {
		return nil, fmt.Errorf("cuModuleLoadData (kernels/meanshift.ptx) on %s: %w", d.name, err)
	}
	fn := func(name string) (cu.Function, error) {
		f, err := d.mod.Function(name)
		if err != nil {
			return f, fmt.Errorf("cuModuleGetFunction %s: %w", name, err)
		}
		return f, nil
	}
	for dim := 1; dim <= maxCUDADim; dim++ {
		for _, k := range []struct {
			f    *cu.Function
			name string
		}{
			{&d.brute2[dim], "ms_brute2_%d"}, {&d.brute2s[dim], "ms_brute2s_%d"},
			{&d.fin2[dim], "ms_fin2_%d"}, {&d.key2[dim], "ms_key2_%d"},
			{&d.grid2[dim], "ms_grid2_%d"}, {&d.search[dim], "ms_search_%d"},
			{&d.searchb[dim], "ms_searchb_%d"},
		} {
			if *k.f, err = fn(fmt.Sprintf(k.name, dim)); err != nil {
				return nil, err
			}
		}
	}
	for _, k := range []struct {
		f    *cu.Function
		name string
	}{
		{&d.scatter2, "ms_scatter2"}, {&d.scan2, "ms_scan2"}, {&d.ins1, "ms_ins1"},
		{&d.ins2, "ms_ins2"}, {&d.ids, "ms_ids"}, {&d.resolve, "ms_resolve"},
		{&d.gather, "ms_gather"}, {&d.brute2x8, "ms_brute2x8_5"},
	} {
		if *k.f, err = fn(k.name); err != nil {
			return nil, err
		}
	}
	if d.sms, err = d.dev.Attribute(cu.MultiprocessorCount); err != nil {
		return nil, fmt.Errorf("cuDeviceGetAttribute multiprocessors: %w", err)
	}
	clock, err := d.dev.Attribute(cu.ClockRate) // kHz
	if err != nil {
		return nil, fmt.Errorf("cuDeviceGetAttribute clock rate: %w", err)
	}
	d.peakFLOPS = float64(d.sms) * 128 * 2 * float64(clock) * 1e3
	if d.brute2Blocks, err = d.brute2[5].MaxActiveBlocksPerMultiProcessor(tileBlock, 0); err != nil {
		return nil, fmt.Errorf("cuOccupancyMaxActiveBlocksPerMultiprocessor ms_brute2_5: %w", err)
	}
	d.brute2Blocks = max(d.brute2Blocks, 1)
	if d.brute2x8Blocks, err = d.brute2x8.MaxActiveBlocksPerMultiProcessor(tileBlock, 0); err != nil {
		return nil, fmt.Errorf("cuOccupancyMaxActiveBlocksPerMultiprocessor ms_brute2x8_5: %w", err)
	}
	d.brute2x8Blocks = max(d.brute2x8Blocks, 1)
	for dim := 1; dim <= maxCUDADim; dim++ {
		b, err := d.searchb[dim].MaxActiveBlocksPerMultiProcessor(searchBlock, 0)
		if err != nil {
			return nil, fmt.Errorf("cuOccupancyMaxActiveBlocksPerMultiprocessor ms_searchb_%d: %w", dim, err)
		}
		d.searchbWave[dim] = b * d.sms
	}
	return d, nil
}

// CUDA is the GPU mean-shift backend (build tag lungcuda). The points stay
// resident on the GPU for the whole search (float32); each mean-shift step
// of all still-moving modes is a few kernel launches, and the host reads
// back only the number of modes still moving (convergence is decided on the
// device: step < Options.Tol bandwidths, or no point within the truncation
// radius). Same model as the CPU backends: scaled points, kernel
// exp(−|d|²/2) truncated at |d| ≥ Options.Truncate, optional point weights,
// and per-point bandwidth scales (Options.Scale, the sample-point estimator
// with the EM update, truncation in each point's own scaled distance; Tol,
// Reuse and MergeFrac in base-bandwidth units). With scales the points are
// grouped by scale ("levels", at most cluster.MaxScaleLevels), their first
// Options.ScaledAxes axes divided by their scale on the host, and every
// kernel keeps a second, scaled denominator (see meanshift.cu). Two
// variants:
//
//   - grid (Name "cuda-grid", what SelectBackend("cuda") returns): one cell
//     list per level (cells of side ≈ Truncate in the level's pre-scaled
//     units on the first min(dim,3) axes, like the CPU Grid's one list per
//     level: a single list sized for the coarsest level's cut-off would make
//     the fine points, the great majority in detect, scan up to (s_max)³
//     times the volume). Every step the device sorts the moving modes by
//     cell of a key layout (counting sort: histogram, prefix sum, scatter)
//     and gives each warp up to 32 modes of one cell; for every level the
//     warp stages the points of the cells its modes can reach in shared
//     memory, 32 at a time, and each lane tests its mode against them;
//   - brute (Name "cuda-brute"): every mode visits every point, in tiles of
//     256 positions staged in shared memory (each tile of one level), 4
//     modes per thread, the points split over the grid's second dimension so
//     that few moving modes still fill the GPU; partial sums are added in a
//     fixed order by a second kernel. O(N·M) per step, the reference.
//
// The tiled kernels compute |x−y|² in expanded form (D fused multiply-adds
// per pair) on coordinates relative to a local centre (tile or cell), which
// keeps the cancellation error near 1e-7·(local extent)²; see meanshift.cu.
// Each mode's result does not depend on which other modes share its block,
// so results are deterministic.
//
// The grid variant runs the path-assisted search when Options.Reuse > 0
// (the default; see shiftReuse), the brute variant always the exact one.
// Sums are float32 and the kernel uses the GPU's fast exp; modes agree with
// the CPU backends to ~1e-4 bandwidths at Tol = 1e-4. dim must be 1..8. The
// zero value is not usable: call NewCUDA.
type CUDA struct {
	d    *cudaDevice
	grid bool
	// mpt8 runs the brute variant's experiment kernel (8 modes per thread)
	// for dim 5 without scales; benchmarks set it (Name "cuda-brute-mpt8").
	mpt8 bool
	// pairs is the number of (mode, point) pairs the brute kernel evaluated
	// in the last Shift (for GFLOP/s in benchmarks); guarded by d.mu.
	pairs int64
}

// NewCUDA opens the first CUDA device (once per process) and returns the
// tiled grid variant (grid = true) or the tiled brute-force variant of the
// CUDA backend, or why the GPU cannot be used.
func NewCUDA(grid bool) (*CUDA, error) {
	d, err := openCUDA()
	if err != nil {
		return nil, err
	}
	return &CUDA{d: d, grid: grid}, nil
}

// Name returns "cuda-grid" or "cuda-brute".
func (c *CUDA) Name() string {
	if c.grid {
		return "cuda-grid"
	}
	if c.mpt8 {
		return "cuda-brute-mpt8"
	}
	return "cuda-brute"
}

// CheckOptions implements cluster.OptionChecker. Both variants honour every
// option a backend receives (weights, per-point scales, Reuse), so it
// returns nil; bad values (a wrong scale count, ScaledAxes out of range)
// are cluster.ErrInput errors from Shift, not refusals.
func (c *CUDA) CheckOptions(opt cluster.Options) error { return nil }

// PeakFLOPS is the GPU's FP32 peak in flop/s: multiprocessors × 128 FP32
// lanes × 2 (a fused multiply-add) × the clock rate the driver reports.
func (c *CUDA) PeakFLOPS() float64 { return c.d.peakFLOPS }

// DeviceName is the GPU's name as the driver reports it.
func (c *CUDA) DeviceName() string { return c.d.name }

// lastPairs returns the (mode, point) pairs evaluated by the brute kernel in
// the last Shift (0 for the grid variant).
func (c *CUDA) lastPairs() int64 {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	return c.pairs
}

// devMem tracks device allocations so that every path frees them.
type devMem struct{ ptrs []cu.DevicePtr }

func (m *devMem) alloc(bytes int64, what string) (cu.DevicePtr, error) {
	p, err := cu.MemAlloc(max(bytes, 4))
	if err != nil {
		return 0, fmt.Errorf("cuMemAlloc %s (%d bytes): %w", what, bytes, err)
	}
	m.ptrs = append(m.ptrs, p)
	return p, nil
}

func (m *devMem) free() error {
	var errs []error
	for _, p := range m.ptrs {
		if err := cu.MemFree(p); err != nil {
			errs = append(errs, fmt.Errorf("cuMemFree: %w", err))
		}
	}
	m.ptrs = nil
	return errors.Join(errs...)
}

// upload allocates device memory for s (4-byte elements) and copies s
// there.
func upload[T float32 | int32 | uint32](m *devMem, s []T, what string) (cu.DevicePtr, error) {
	p, err := m.alloc(int64(len(s))*4, what)
	if err != nil || len(s) == 0 {
		return p, err
	}
	if err := cu.MemcpyHtoD(p, unsafe.Pointer(&s[0]), int64(len(s))*4); err != nil {
		return 0, fmt.Errorf("cuMemcpyHtoD %s: %w", what, err)
	}
	return p, nil
}

// uploadLevels uploads level tables (struct Level of meanshift.cu).
func uploadLevels(m *devMem, lv []deviceLevel, what string) (cu.DevicePtr, error) {
	words := make([]uint32, 0, len(lv)*len(deviceLevel{}))
	for _, l := range lv {
		words = append(words, l[:]...)
	}
	return upload(m, words, what)
}

// Kernel arguments: gorgonia.org/cu's Launch copies 8 bytes from every
// parameter pointer, so every argument lives in a uint64 (32-bit values in
// the low half, which is what the kernel reads on little-endian hosts).
func argPtr(p cu.DevicePtr) uint64 { return uint64(p) }
func argI32(v int) uint64          { return uint64(uint32(int32(v))) }
func argF32(v float64) uint64      { return uint64(math.Float32bits(float32(v))) }

func launch(fn cu.Function, what string, blocks, threads int, args ...uint64) error {
	return launch2(fn, what, blocks, 1, threads, args...)
}

// launch2 launches fn on a gx × gy grid of blocks of threads threads.
func launch2(fn cu.Function, what string, gx, gy, threads int, args ...uint64) error {
	params := make([]unsafe.Pointer, len(args))
	for i := range args {
		params[i] = unsafe.Pointer(&args[i])
	}
	if err := fn.Launch(gx, gy, 1, threads, 1, 1, 0, cu.NoStream, params); err != nil {
		return fmt.Errorf("cuLaunchKernel %s: %w", what, err)
	}
	return nil
}

// downloadModes copies the converged modes from the device into modes.
func downloadModes(modes []float32, dModes cu.DevicePtr) error {
	if err := cu.MemcpyDtoH(unsafe.Pointer(&modes[0]), dModes, int64(len(modes))*4); err != nil {
		return fmt.Errorf("cuMemcpyDtoH modes: %w", err)
	}
	return nil
}

// readCount copies the int32 count at p back to the host; the synchronous
// copy waits for the preceding launch and reports its execution errors.
func readCount(p cu.DevicePtr) (int, error) {
	var v int32
	if err := cu.MemcpyDtoH(unsafe.Pointer(&v), p, 4); err != nil {
		return 0, fmt.Errorf("cuMemcpyDtoH count (kernel execution): %w", err)
	}
	return int(v), nil
}

// Shift implements Backend.
func (c *CUDA) Shift(points []float32, dim int, modes []float32, opt cluster.Options) (iters int, err error) {
	if dim < 1 || len(points)%dim != 0 || len(modes)%dim != 0 {
		return 0, fmt.Errorf("%w: %d points / %d modes values for dim %d", cluster.ErrInput, len(points), len(modes), dim)
	}
	if dim > maxCUDADim {
		return 0, fmt.Errorf("%w: the CUDA backend supports dim ≤ %d, got %d", cluster.ErrInput, maxCUDADim, dim)
	}
	n := len(points) / dim
	m := len(modes) / dim
	if opt.Weights != nil && len(opt.Weights) != n {
		return 0, fmt.Errorf("%w: %d weights for %d points", cluster.ErrInput, len(opt.Weights), n)
	}
	ls, err := newLevelSetup(points, dim, opt)
	if err != nil {
		return 0, err
	}
	if n == 0 || m == 0 {
		return 0, nil
	}
	// Positions: the brute variant pads each level to a whole tile.
	if int64(n+len(ls.lv.Vals)*tilePoints)*int64(dim) > math.MaxInt32 || int64(m)*int64(dim) > math.MaxInt32 {
		return 0, fmt.Errorf("%w: %d points / %d modes exceed the CUDA backend's 32-bit indexing", cluster.ErrInput, n, m)
	}
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	// CUDA contexts are per OS thread: pin this goroutine while it works.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(d.ctx); err != nil {
		return 0, fmt.Errorf("cuCtxSetCurrent: %w", err)
	}
	var mem devMem
	defer func() {
		if ferr := mem.free(); ferr != nil && err == nil {
			err = ferr
		}
	}()
	c.pairs = 0
	switch {
	case c.grid && opt.Reuse > 0:
		iters, err = c.shiftReuse(&mem, points, dim, modes, opt, &ls)
	case c.grid:
		iters, err = c.shiftGrid2(&mem, points, dim, modes, opt, &ls)
	default:
		iters, err = c.shiftBrute2(&mem, n, dim, modes, opt, &ls)
	}
	return iters, err
}

// uploadSorted uploads the row-major n×dim rows and the order perm and
// returns the device copy of the rows in that order as struct-of-arrays
// (gathered on the device: no host-side copy of the points).
func (c *CUDA) uploadSorted(mem *devMem, rows []float32, dim int, perm []int32, what string) (cu.DevicePtr, error) {
	n := len(perm)
	dRows, err := upload(mem, rows, what)
	if err != nil {
		return 0, err
	}
	dPerm, err := upload(mem, perm, what+" order")
	if err != nil {
		return 0, err
	}
	out, err := mem.alloc(int64(n)*int64(dim)*4, what+" (sorted)")
	if err != nil {
		return 0, err
	}
	if n > 0 {
		if err := launch(c.d.gather, "ms_gather", (n+finBlock-1)/finBlock, finBlock,
			argPtr(dRows), argPtr(dPerm), argI32(n), argI32(dim), argPtr(out)); err != nil {
			return 0, err
		}
	}
	return out, nil
}

// gridPoints is the device copy of the grid variant's setup: the
// pre-scaled points sorted by level and cell (struct-of-arrays, npos =
// N positions), their weights·s^−m in the same order (0 when unweighted
// fixed-bandwidth), the concatenated cell starts, the level table, the key
// layout and the non-cell axes' centres.
type gridPoints struct {
	gs                      gridSetup
	npos                    int
	dPts, dWt, dStart, dLev cu.DevicePtr
	dKey, dCmid             cu.DevicePtr
	nlev, m                 int
}

// uploadGrid builds the grid variant's setup for ls (cells of side cell,
// pre-scaled units) and uploads it, points gathered on the device.
func (c *CUDA) uploadGrid(mem *devMem, points []float32, dim int, ls *levelSetup, cell float64) (g gridPoints, err error) {
	g.gs = prepGrid(points, dim, ls, cell)
	g.npos, g.nlev, g.m = len(g.gs.g.Perm), len(g.gs.levels), ls.m
	if g.dPts, err = c.uploadSorted(mem, ls.pre, dim, g.gs.g.Perm, "points"); err != nil {
		return g, err
	}
	if ls.wt != nil {
		if g.dWt, err = c.uploadSorted(mem, ls.wt, 1, g.gs.g.Perm, "weights"); err != nil {
			return g, err
		}
	}
	if g.dStart, err = upload(mem, g.gs.g.Start, "cell starts"); err != nil {
		return g, err
	}
	if g.dLev, err = uploadLevels(mem, g.gs.levels, "scale levels"); err != nil {
		return g, err
	}
	if g.dKey, err = uploadLevels(mem, []deviceLevel{g.gs.key}, "key layout"); err != nil {
		return g, err
	}
	g.dCmid, err = upload(mem, g.gs.cmid, "axis centres")
	return g, err
}

// uploadModes uploads the modes and the active list (order, or 0..m-1
// when nil), and allocates the next step's active list (when withNext) and
// the moving-mode count.
func uploadModes(mem *devMem, modes []float32, dim int, order []int32, withNext bool) (dModes, dAct, dNext, dCount cu.DevicePtr, err error) {
	m := len(modes) / dim
	if dModes, err = upload(mem, modes, "modes"); err != nil {
		return
	}
	act := order
	if act == nil {
		act = make([]int32, m)
		for i := range act {
			act[i] = int32(i)
		}
	}
	if dAct, err = upload(mem, act, "active list"); err != nil {
		return
	}
	if withNext {
		if dNext, err = mem.alloc(int64(m)*4, "next active list"); err != nil {
			return
		}
	}
	dCount, err = mem.alloc(4, "count")
	return
}

// shiftGrid2 is the grid variant's exact search: every step sorts the
// moving modes by key cell on the device and runs ms_grid2.
func (c *CUDA) shiftGrid2(mem *devMem, points []float32, dim int, modes []float32, opt cluster.Options, ls *levelSetup) (int, error) {
	m := len(modes) / dim
	R := opt.Truncate
	g, err := c.uploadGrid(mem, points, dim, ls, R*grid2Cell)
	if err != nil {
		return 0, err
	}
	ncell := g.gs.keyL.Count()
	// The grid kernel reads the sorted list and appends the modes that keep
	// moving to dAct, the next step's active list.
	dModes, dAct, _, dCount, err := uploadModes(mem, modes, dim, nil, false)
	if err != nil {
		return 0, err
	}
	var dKeyOut, dRank, dSorted, dHist, dCellStart, dChunkStart cu.DevicePtr
	for _, b := range []struct {
		p     *cu.DevicePtr
		count int
		what  string
	}{
		{&dKeyOut, m, "mode cells"}, {&dRank, m, "mode ranks"},
		{&dSorted, m, "sorted modes"}, {&dHist, ncell, "cell histogram"},
		{&dCellStart, ncell + 1, "cell starts of modes"}, {&dChunkStart, ncell + 1, "chunk starts"},
	} {
		if *b.p, err = mem.alloc(int64(b.count)*4, b.what); err != nil {
			return 0, err
		}
	}
	r2 := R * R
	tol2 := opt.Tol * opt.Tol
	fk, fg := c.d.key2[dim], c.d.grid2[dim]
	nk, ng := fmt.Sprintf("ms_key2_%d", dim), fmt.Sprintf("ms_grid2_%d", dim)
	nact, it := m, 0
	for it < opt.MaxIter && nact > 0 {
		it++
		if err := cu.MemsetD32(dHist, 0, int64(ncell)); err != nil {
			return 0, fmt.Errorf("cuMemsetD32 cell histogram: %w", err)
		}
		if err := launch(fk, nk, (nact+finBlock-1)/finBlock, finBlock,
			argPtr(dModes), argPtr(dAct), argI32(nact), argPtr(g.dKey), argI32(g.m),
			argPtr(dKeyOut), argPtr(dRank), argPtr(dHist)); err != nil {
			return 0, err
		}
		if err := launch(c.d.scan2, "ms_scan2", 1, scanThreads,
			argPtr(dHist), argI32(ncell), argPtr(dCellStart), argPtr(dChunkStart)); err != nil {
			return 0, err
		}
		if err := launch(c.d.scatter2, "ms_scatter2", (nact+finBlock-1)/finBlock, finBlock,
			argPtr(dAct), argI32(nact), argPtr(dKeyOut), argPtr(dRank), argPtr(dCellStart),
			argPtr(dSorted)); err != nil {
			return 0, err
		}
		if err := cu.MemsetD32(dCount, 0, 1); err != nil {
			return 0, fmt.Errorf("cuMemsetD32 count: %w", err)
		}
		// At most one partial chunk per occupied cell beyond nact/32.
		warps := (nact+31)/32 + min(nact, ncell)
		if err := launch(fg, ng, (warps*32+tileBlock-1)/tileBlock, tileBlock,
			argPtr(g.dPts), argPtr(g.dWt), argI32(g.npos), argPtr(g.dStart), argPtr(g.dKey),
			argPtr(g.dLev), argI32(g.nlev), argI32(g.m), argPtr(g.dCmid),
			argPtr(dSorted), argPtr(dCellStart), argPtr(dChunkStart), argI32(ncell),
			argPtr(dModes), argPtr(dAct), argPtr(dCount), argF32(r2), argF32(tol2)); err != nil {
			return 0, err
		}
		if nact, err = readCount(dCount); err != nil {
			return 0, err
		}
	}
	return it, downloadModes(modes, dModes)
}
