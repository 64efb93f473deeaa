//go:build lungcuda

package cluster

// CUDA mean-shift backends (build tag lungcuda; gorgonia.org/cu, cgo,
// libcuda). The kernels are in kernels/meanshift.cu; the PTX generated from
// it is embedded below, so building needs cuda.h and libcuda.so but no nvcc.
//
// gorgonia.org/cu's package init calls cuInit and would exit the process
// (status 1) when no GPU is usable; cuinit_lungcuda.go interposes cuInit so
// that the error is recorded instead, and SelectBackend("auto") falls back
// to the CPU with a message. The binary links libcuda.so.1, so it starts
// only where the NVIDIA driver's library is installed.

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"sync"
	"unsafe"

	"gorgonia.org/cu"
)

//go:embed kernels/meanshift.ptx
var meanshiftPTX string

// maxCUDADim is the largest dimension the kernels are instantiated for.
const maxCUDADim = 8

// Launch geometry: ms_brute_* needs exactly bruteBlock threads per block
// (TILE in meanshift.cu).
const (
	bruteBlock = 256
	gridBlock  = 128
	// tiled kernels: BT threads per block, MPT modes per thread in
	// ms_brute2_*, PT points per tile (meanshift.cu).
	tileBlock   = 128
	modesPerThr = 4
	tilePoints  = 256
	scanThreads = 1024
	finBlock    = 256
	grid2Cell   = 1.001 // cell side of the tiled grid variant, in truncation radii
	brute2Waves = 4     // ms_brute2 launches ≈ this many full waves of blocks
)

func init() {
	cudaBruteFactory = func() (Backend, error) {
		b, err := NewCUDA(false)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	cudaFactory = func() (Backend, error) {
		b, err := NewCUDA(true)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
}

// cudaDevice is the process-wide GPU state: device 0, its primary context
// and the loaded kernels. mu serialises all use (one GPU, one context).
type cudaDevice struct {
	mu    sync.Mutex
	dev   cu.Device
	name  string
	ctx   cu.CUContext
	mod   cu.Module
	brute [maxCUDADim + 1]cu.Function // index = dim; v1 kernels
	grid  [maxCUDADim + 1]cu.Function
	// tiled kernels (the defaults)
	brute2, fin2, key2, grid2, search                 [maxCUDADim + 1]cu.Function
	scatter2, scan2, ins1, ins2, ids, resolve, gather cu.Function
	// sms is the multiprocessor count; brute2Blocks the resident
	// ms_brute2_5 blocks per multiprocessor (launch sizing).
	sms, brute2Blocks int
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
			{&d.brute[dim], "ms_brute_%d"}, {&d.grid[dim], "ms_grid_%d"},
			{&d.brute2[dim], "ms_brute2_%d"}, {&d.fin2[dim], "ms_fin2_%d"},
			{&d.key2[dim], "ms_key2_%d"}, {&d.grid2[dim], "ms_grid2_%d"},
			{&d.search[dim], "ms_search_%d"},
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
		{&d.gather, "ms_gather"},
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
	return d, nil
}

// CUDA is the GPU mean-shift backend (build tag lungcuda). The points stay
// resident on the GPU for the whole search (float32); each mean-shift step
// of all still-moving modes is a few kernel launches, and the host reads
// back only the number of modes still moving (convergence is decided on the
// device: step < Options.Tol bandwidths, or no point within the truncation
// radius). Same model as the CPU backends: scaled points, kernel
// exp(−|d|²/2) truncated at |d| ≥ Options.Truncate, optional point weights.
// Two variants, each in a tiled version (the default) and the first
// version kept for comparison ("-v1" names, NewCUDAVariant):
//
//   - grid (Name "cuda-grid", what SelectBackend("cuda") returns): the host
//     sorts the points into a uniform cell grid of side ≈ Truncate on the
//     first min(dim,3) axes. Every step the device sorts the moving modes by
//     cell (counting sort: histogram, prefix sum, scatter) and gives each
//     warp up to 32 modes of one cell; the warp stages the points of the
//     3×3×3 cells around it in shared memory, 32 at a time, and each lane
//     tests its mode against them (v1: one thread per mode reading the
//     points through the cache, no staging);
//   - brute (Name "cuda-brute"): every mode visits every point, in tiles of
//     256 points staged in shared memory, 4 modes per thread, the points
//     split over the grid's second dimension so that few moving modes still
//     fill the GPU; partial sums are added in a fixed order by a second
//     kernel. O(N·M) per step, the reference (v1: one mode per thread, no
//     split).
//
// The tiled kernels compute |x−y|² in expanded form (D fused multiply-adds
// per pair) on coordinates relative to a local centre (tile or cell), which
// keeps the cancellation error near 1e-7·(local extent)²; see meanshift.cu.
// Each mode's result does not depend on which other modes share its block,
// so results are deterministic.
//
// Options.Reuse and Options.Workers are ignored: every search runs to
// convergence (as with BruteForce), so results match Grid with Reuse < 0
// best; with the default path reuse Grid differs slightly (see Reuse).
// Sums are float32 and the kernel uses the GPU's fast exp; modes agree with
// the CPU backends to ~1e-4 bandwidths at Tol = 1e-4. dim must be 1..8. The
// zero value is not usable: call NewCUDA.
type CUDA struct {
	d    *cudaDevice
	grid bool
	v1   bool
	// pairs is the number of (mode, point) pairs the brute kernel evaluated
	// in the last Shift (for GFLOP/s in benchmarks); guarded by d.mu.
	pairs int64
}

// NewCUDA opens the first CUDA device (once per process) and returns the
// tiled grid variant (grid = true) or the tiled brute-force variant of the
// CUDA backend, or why the GPU cannot be used.
func NewCUDA(grid bool) (*CUDA, error) { return NewCUDAVariant(grid, false) }

// NewCUDAVariant is NewCUDA with the choice of the first, untiled kernels
// (v1 = true), kept for benchmarks.
func NewCUDAVariant(grid, v1 bool) (*CUDA, error) {
	d, err := openCUDA()
	if err != nil {
		return nil, err
	}
	return &CUDA{d: d, grid: grid, v1: v1}, nil
}

// Name returns "cuda-grid" or "cuda-brute", with "-v1" for the first
// kernels.
func (c *CUDA) Name() string {
	n := "cuda-brute"
	if c.grid {
		n = "cuda-grid"
	}
	if c.v1 {
		n += "-v1"
	}
	return n
}

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

// upload allocates device memory for s (float32 or int32 elements) and
// copies s there.
func upload[T float32 | int32](m *devMem, s []T, what string) (cu.DevicePtr, error) {
	p, err := m.alloc(int64(len(s))*4, what)
	if err != nil || len(s) == 0 {
		return p, err
	}
	if err := cu.MemcpyHtoD(p, unsafe.Pointer(&s[0]), int64(len(s))*4); err != nil {
		return 0, fmt.Errorf("cuMemcpyHtoD %s: %w", what, err)
	}
	return p, nil
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
func (c *CUDA) Shift(points []float32, dim int, modes []float32, opt Options) (iters int, err error) {
	if err := checkShiftArgs(points, dim, modes); err != nil {
		return 0, err
	}
	if dim > maxCUDADim {
		return 0, fmt.Errorf("%w: the CUDA backend supports dim ≤ %d, got %d", ErrInput, maxCUDADim, dim)
	}
	n := len(points) / dim
	m := len(modes) / dim
	if opt.Weights != nil && len(opt.Weights) != n {
		return 0, fmt.Errorf("%w: %d weights for %d points", ErrInput, len(opt.Weights), n)
	}
	if n == 0 || m == 0 {
		return 0, nil
	}
	if int64(n)*int64(dim) > math.MaxInt32 || int64(m)*int64(dim) > math.MaxInt32 {
		return 0, fmt.Errorf("%w: %d points / %d modes exceed the CUDA backend's 32-bit indexing", ErrInput, n, m)
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
	case c.grid && c.v1:
		iters, err = c.shiftGrid(&mem, points, dim, modes, opt)
	case c.grid && opt.Reuse > 0:
		iters, err = c.shiftReuse(&mem, points, dim, modes, opt)
	case c.grid:
		iters, err = c.shiftGrid2(&mem, points, dim, modes, opt)
	case c.v1:
		iters, err = c.shiftBrute(&mem, points, dim, modes, opt)
	default:
		iters, err = c.shiftBrute2(&mem, points, dim, modes, opt)
	}
	return iters, err
}

// soa transposes the row-major n×dim points to struct-of-arrays, optionally
// in the order perm (perm[k] = source row of output position k).
func soa(points []float32, dim int, perm []int32) []float32 {
	n := len(points) / dim
	out := make([]float32, len(points))
	for k := 0; k < n; k++ {
		i := k
		if perm != nil {
			i = int(perm[k])
		}
		for a := 0; a < dim; a++ {
			out[a*n+k] = points[i*dim+a]
		}
	}
	return out
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

// gridPoints is the device copy of the points sorted by cell of L
// (struct-of-arrays), their weights in the same order (0 when unweighted)
// and the cell start offsets.
type gridPoints struct {
	L                 cellLayout
	lo, hi            []float64 // the points' range per axis
	dPts, dWt, dStart cu.DevicePtr
}

// uploadGrid sorts the points into cells of side cell (or larger, see
// newCellLayoutRange) and uploads them, gathered on the device.
func (c *CUDA) uploadGrid(mem *devMem, points []float32, dim int, weights []float32, cell float64) (g gridPoints, err error) {
	n := len(points) / dim
	g.lo, g.hi = axisRange(points, dim)
	g.L = newCellLayoutRange(g.lo, g.hi, n, dim, cell)
	perm, start := g.L.sortByCell(points, dim)
	if g.dPts, err = c.uploadSorted(mem, points, dim, perm, "points"); err != nil {
		return g, err
	}
	if weights != nil {
		if g.dWt, err = c.uploadSorted(mem, weights, 1, perm, "weights"); err != nil {
			return g, err
		}
	}
	g.dStart, err = upload(mem, start, "cell starts")
	return g, err
}

// uploadModes uploads the modes and the active list 0..m-1, and allocates
// the next step's active list (when withNext) and the moving-mode count.
func uploadModes(mem *devMem, modes []float32, dim int, withNext bool) (dModes, dAct, dNext, dCount cu.DevicePtr, err error) {
	m := len(modes) / dim
	if dModes, err = upload(mem, modes, "modes"); err != nil {
		return
	}
	act := make([]int32, m)
	for i := range act {
		act[i] = int32(i)
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

func (c *CUDA) shiftBrute(mem *devMem, points []float32, dim int, modes []float32, opt Options) (int, error) {
	n := len(points) / dim
	m := len(modes) / dim
	dPts, err := upload(mem, soa(points, dim, nil), "points")
	if err != nil {
		return 0, err
	}
	var dWt cu.DevicePtr
	if opt.Weights != nil {
		if dWt, err = upload(mem, opt.Weights, "weights"); err != nil {
			return 0, err
		}
	}
	dModes, dAct, dNext, dCount, err := uploadModes(mem, modes, dim, true)
	if err != nil {
		return 0, err
	}
	r2 := opt.Truncate * opt.Truncate
	tol2 := opt.Tol * opt.Tol
	fn := c.d.brute[dim]
	name := fmt.Sprintf("ms_brute_%d", dim)
	nact, it := m, 0
	for it < opt.MaxIter && nact > 0 {
		it++
		if err := cu.MemsetD32(dCount, 0, 1); err != nil {
			return 0, fmt.Errorf("cuMemsetD32 count: %w", err)
		}
		if err := launch(fn, name, (nact+bruteBlock-1)/bruteBlock, bruteBlock,
			argPtr(dPts), argPtr(dWt), argI32(n), argPtr(dModes), argPtr(dAct), argI32(nact),
			argPtr(dNext), argPtr(dCount), argF32(r2), argF32(tol2)); err != nil {
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

// cellLayout is the uniform cell grid of the grid variant over the first sd
// axes (scaled units): nc cells of side cell from lo; unused axes have one
// cell. Points outside (only modes can be) are clamped to the border cells.
type cellLayout struct {
	sd   int
	lo   [3]float64
	cell float64
	nc   [3]int
}

func newCellLayout(points []float32, dim int, R float64) cellLayout {
	lo, hi := axisRange(points, dim)
	return newCellLayoutRange(lo, hi, len(points)/dim, dim, R)
}

// newCellLayoutRange is newCellLayout from the points' per-axis range
// (axisRange) and count n.
func newCellLayoutRange(lo, hi []float64, n, dim int, R float64) cellLayout {
	L := cellLayout{sd: min(dim, 3), cell: R}
	for a := 0; a < L.sd; a++ {
		L.lo[a] = lo[a]
	}
	for {
		total := 1
		for a := 0; a < 3; a++ {
			L.nc[a] = 1
			if a < L.sd {
				L.nc[a] = int((hi[a]-L.lo[a])/L.cell) + 1
			}
			total *= L.nc[a]
		}
		// Bound the cell count (sparse, widely spread data); larger cells
		// stay correct, just visit more points.
		if total <= 4*n+4096 {
			return L
		}
		L.cell *= 1.5
	}
}

// parallelChunks runs f over [0, n) in contiguous chunks, one goroutine per
// core (chunk index c of k), and waits.
func parallelChunks(n int, f func(c, b, e int)) int {
	k := max(1, min(runtime.GOMAXPROCS(0), n/4096))
	var wg sync.WaitGroup
	for c := 0; c < k; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			f(c, c*n/k, (c+1)*n/k)
		}(c)
	}
	wg.Wait()
	return k
}

// axisRange returns the per-axis minimum and maximum of the row-major
// points (in parallel).
func axisRange(points []float32, dim int) (lo, hi []float64) {
	n := len(points) / dim
	k := max(1, min(runtime.GOMAXPROCS(0), n/4096))
	los := make([][]float32, k)
	his := make([][]float32, k)
	parallelChunks(n, func(c, b, e int) {
		l := make([]float32, dim)
		h := make([]float32, dim)
		for a := range l {
			l[a], h[a] = float32(math.Inf(1)), float32(math.Inf(-1))
		}
		for i := b; i < e; i++ {
			for a, v := range points[i*dim : (i+1)*dim] {
				if v < l[a] {
					l[a] = v
				}
				if v > h[a] {
					h[a] = v
				}
			}
		}
		los[c], his[c] = l, h
	})
	lo, hi = make([]float64, dim), make([]float64, dim)
	for a := range lo {
		lo[a], hi[a] = math.Inf(1), math.Inf(-1)
	}
	for c := range los {
		if los[c] == nil {
			continue
		}
		for a := range lo {
			lo[a] = math.Min(lo[a], float64(los[c][a]))
			hi[a] = math.Max(hi[a], float64(his[c][a]))
		}
	}
	return lo, hi
}

// cellID returns the linear cell index (x fastest) of row-major point p.
func (L *cellLayout) cellID(p []float32) int {
	id, stride := 0, 1
	for a := 0; a < L.sd; a++ {
		v := int(math.Floor((float64(p[a]) - L.lo[a]) / L.cell))
		v = max(0, min(v, L.nc[a]-1))
		id += v * stride
		stride *= L.nc[a]
	}
	return id
}

// sortByCell returns the rows of the row-major dim-D set s in cell order
// (stable counting sort, in parallel over contiguous chunks) and the cell
// start offsets (ncell+1 values).
func (L *cellLayout) sortByCell(s []float32, dim int) (perm, start []int32) {
	k := len(s) / dim
	ncell := L.nc[0] * L.nc[1] * L.nc[2]
	ids := make([]int32, k)
	nch := max(1, min(runtime.GOMAXPROCS(0), k/4096))
	counts := make([][]int32, nch)
	parallelChunks(k, func(c, b, e int) {
		cnt := make([]int32, ncell)
		for i := b; i < e; i++ {
			id := L.cellID(s[i*dim : (i+1)*dim])
			ids[i] = int32(id)
			cnt[id]++
		}
		counts[c] = cnt
	})
	// start[c] = points in cells before c; chunk c's first slot in cell id
	// = start[id] + points of cell id in earlier chunks (stable).
	start = make([]int32, ncell+1)
	var acc int32
	for id := 0; id < ncell; id++ {
		start[id] = acc
		for c := range counts {
			if counts[c] == nil {
				continue
			}
			v := counts[c][id]
			counts[c][id] = acc
			acc += v
		}
	}
	start[ncell] = acc
	perm = make([]int32, k)
	parallelChunks(k, func(c, b, e int) {
		next := counts[c]
		for i := b; i < e; i++ {
			id := ids[i]
			perm[next[id]] = int32(i)
			next[id]++
		}
	})
	return perm, start
}

func (c *CUDA) shiftGrid(mem *devMem, points []float32, dim int, modes []float32, opt Options) (int, error) {
	n := len(points) / dim
	m := len(modes) / dim
	R := opt.Truncate
	g, err := c.uploadGrid(mem, points, dim, opt.Weights, R)
	if err != nil {
		return 0, err
	}
	L, dPts, dWt, dStart := g.L, g.dPts, g.dWt, g.dStart
	dModes, err := upload(mem, modes, "modes")
	if err != nil {
		return 0, err
	}
	// Modes in order of their starting cell: a warp then walks the same
	// cells (the order only affects speed).
	order, _ := L.sortByCell(modes, dim)
	dOrder, err := upload(mem, order, "mode order")
	if err != nil {
		return 0, err
	}
	dAlive, err := mem.alloc(int64(m)*4, "alive flags")
	if err != nil {
		return 0, err
	}
	if err := cu.MemsetD32(dAlive, 1, int64(m)); err != nil {
		return 0, fmt.Errorf("cuMemsetD32 alive flags: %w", err)
	}
	dCount, err := mem.alloc(4, "count")
	if err != nil {
		return 0, err
	}
	r2 := R * R
	tol2 := opt.Tol * opt.Tol
	fn := c.d.grid[dim]
	name := fmt.Sprintf("ms_grid_%d", dim)
	nact, it := m, 0
	for it < opt.MaxIter && nact > 0 {
		it++
		if err := cu.MemsetD32(dCount, 0, 1); err != nil {
			return 0, fmt.Errorf("cuMemsetD32 count: %w", err)
		}
		if err := launch(fn, name, (m+gridBlock-1)/gridBlock, gridBlock,
			argPtr(dPts), argPtr(dWt), argI32(n), argPtr(dStart),
			argI32(L.nc[0]), argI32(L.nc[1]), argI32(L.nc[2]),
			argF32(L.lo[0]), argF32(L.lo[1]), argF32(L.lo[2]), argF32(1/L.cell), argF32(R),
			argPtr(dModes), argPtr(dOrder), argI32(m), argPtr(dAlive), argPtr(dCount),
			argF32(r2), argF32(tol2)); err != nil {
			return 0, err
		}
		if nact, err = readCount(dCount); err != nil {
			return 0, err
		}
	}
	return it, downloadModes(modes, dModes)
}

// tileCentred sorts the points by cell of L and returns them struct-of-
// arrays relative to the centre of their tile of tilePoints points (the
// midpoint of the tile's bounding box, ntile×dim values in tc), with
// |x'|² per point in pn and the sort order in perm.
func tileCentred(points []float32, dim int, L cellLayout) (rel, pn, tc []float32, perm []int32) {
	n := len(points) / dim
	perm, _ = L.sortByCell(points, dim)
	ntile := (n + tilePoints - 1) / tilePoints
	rel = make([]float32, n*dim)
	pn = make([]float32, n)
	tc = make([]float32, ntile*dim)
	for t := 0; t < ntile; t++ {
		b, e := t*tilePoints, min(n, (t+1)*tilePoints)
		for a := 0; a < dim; a++ {
			lo, hi := math.Inf(1), math.Inf(-1)
			for k := b; k < e; k++ {
				v := float64(points[int(perm[k])*dim+a])
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
			c := float32((lo + hi) / 2)
			tc[t*dim+a] = c
			for k := b; k < e; k++ {
				rel[a*n+k] = points[int(perm[k])*dim+a] - c
			}
		}
		for k := b; k < e; k++ {
			var s float32
			for a := 0; a < dim; a++ {
				v := rel[a*n+k]
				s += v * v
			}
			pn[k] = s
		}
	}
	return rel, pn, tc, perm
}

// brute2Split chooses how many chunks of the points ms_brute2 splits over
// (the grid's second dimension) for nact moving modes: enough blocks for
// brute2Waves full waves, at most one chunk per tile. It returns the split
// count and the chunk length in points (a multiple of tilePoints).
func (d *cudaDevice) brute2Split(nact, n int) (nsplit, chunk int) {
	modeBlocks := (nact + tileBlock*modesPerThr - 1) / (tileBlock * modesPerThr)
	want := brute2Waves * d.sms * d.brute2Blocks
	ntile := (n + tilePoints - 1) / tilePoints
	nsplit = max(1, min(ntile, (want+modeBlocks-1)/modeBlocks))
	chunk = (ntile + nsplit - 1) / nsplit * tilePoints
	nsplit = (n + chunk - 1) / chunk
	return nsplit, chunk
}

func (c *CUDA) shiftBrute2(mem *devMem, points []float32, dim int, modes []float32, opt Options) (int, error) {
	n := len(points) / dim
	m := len(modes) / dim
	L := newCellLayout(points, dim, opt.Truncate)
	rel, pn, tc, perm := tileCentred(points, dim, L)
	dRel, err := upload(mem, rel, "points")
	if err != nil {
		return 0, err
	}
	dPn, err := upload(mem, pn, "point norms")
	if err != nil {
		return 0, err
	}
	dTc, err := upload(mem, tc, "tile centres")
	if err != nil {
		return 0, err
	}
	var dWt cu.DevicePtr
	if opt.Weights != nil {
		if dWt, err = c.uploadSorted(mem, opt.Weights, 1, perm, "weights"); err != nil {
			return 0, err
		}
	}
	dModes, dAct, dNext, dCount, err := uploadModes(mem, modes, dim, true)
	if err != nil {
		return 0, err
	}
	// The partial sums of the largest step: nsplit·nact·(dim+1) floats.
	// brute2Split gives nsplit ≤ ⌈want/modeBlocks⌉ with nact ≤
	// modeBlocks·tileBlock·modesPerThr, so nsplit·nact ≤ want·tileBlock·
	// modesPerThr + nact; and nsplit ≤ the tile count.
	want := brute2Waves * c.d.sms * c.d.brute2Blocks
	maxPart := min((n+tilePoints-1)/tilePoints*m, want*tileBlock*modesPerThr+m)
	dPart, err := mem.alloc(int64(maxPart)*int64(dim+1)*4, "partial sums")
	if err != nil {
		return 0, err
	}
	r2 := opt.Truncate * opt.Truncate
	tol2 := opt.Tol * opt.Tol
	fb, ff := c.d.brute2[dim], c.d.fin2[dim]
	nb, nf := fmt.Sprintf("ms_brute2_%d", dim), fmt.Sprintf("ms_fin2_%d", dim)
	nact, it := m, 0
	for it < opt.MaxIter && nact > 0 {
		it++
		nsplit, chunk := c.d.brute2Split(nact, n)
		if nsplit*nact > maxPart {
			return 0, fmt.Errorf("cuda-brute: internal error: %d partial sums for a buffer of %d", nsplit*nact, maxPart)
		}
		modeBlocks := (nact + tileBlock*modesPerThr - 1) / (tileBlock * modesPerThr)
		if err := launch2(fb, nb, modeBlocks, nsplit, tileBlock,
			argPtr(dRel), argPtr(dPn), argPtr(dTc), argPtr(dWt), argI32(n), argI32(chunk),
			argPtr(dModes), argPtr(dAct), argI32(nact), argPtr(dPart), argF32(r2)); err != nil {
			return 0, err
		}
		if err := cu.MemsetD32(dCount, 0, 1); err != nil {
			return 0, fmt.Errorf("cuMemsetD32 count: %w", err)
		}
		if err := launch(ff, nf, (nact+finBlock-1)/finBlock, finBlock,
			argPtr(dPart), argI32(nsplit), argI32(nact), argPtr(dModes), argPtr(dAct),
			argPtr(dNext), argPtr(dCount), argF32(tol2)); err != nil {
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

func (c *CUDA) shiftGrid2(mem *devMem, points []float32, dim int, modes []float32, opt Options) (int, error) {
	n := len(points) / dim
	m := len(modes) / dim
	R := opt.Truncate
	g, err := c.uploadGrid(mem, points, dim, opt.Weights, R*grid2Cell)
	if err != nil {
		return 0, err
	}
	L, lo, hi, dPts, dWt, dStart := g.L, g.lo, g.hi, g.dPts, g.dWt, g.dStart
	ncell := L.nc[0] * L.nc[1] * L.nc[2]
	// Centre of the non-spatial axes: the middle of the points' range.
	cmid := make([]float32, dim)
	for a := L.sd; a < dim; a++ {
		cmid[a] = float32((lo[a] + hi[a]) / 2)
	}
	dCmid, err := upload(mem, cmid, "axis centres")
	if err != nil {
		return 0, err
	}
	// The grid kernel reads the sorted list and appends the modes that keep
	// moving to dAct, the next step's active list.
	dModes, dAct, _, dCount, err := uploadModes(mem, modes, dim, false)
	if err != nil {
		return 0, err
	}
	var dKey, dRank, dSorted, dHist, dCellStart, dChunkStart cu.DevicePtr
	for _, b := range []struct {
		p     *cu.DevicePtr
		count int
		what  string
	}{
		{&dKey, m, "mode cells"}, {&dRank, m, "mode ranks"},
		{&dSorted, m, "sorted modes"}, {&dHist, ncell, "cell histogram"},
		{&dCellStart, ncell + 1, "cell starts of modes"}, {&dChunkStart, ncell + 1, "chunk starts"},
	} {
		if *b.p, err = mem.alloc(int64(b.count)*4, b.what); err != nil {
			return 0, err
		}
	}
	r2 := R * R
	tol2 := opt.Tol * opt.Tol
	inv := 1 / L.cell
	fk, fg := c.d.key2[dim], c.d.grid2[dim]
	nk, ng := fmt.Sprintf("ms_key2_%d", dim), fmt.Sprintf("ms_grid2_%d", dim)
	nact, it := m, 0
	for it < opt.MaxIter && nact > 0 {
		it++
		if err := cu.MemsetD32(dHist, 0, int64(ncell)); err != nil {
			return 0, fmt.Errorf("cuMemsetD32 cell histogram: %w", err)
		}
		if err := launch(fk, nk, (nact+finBlock-1)/finBlock, finBlock,
			argPtr(dModes), argPtr(dAct), argI32(nact), argI32(L.nc[0]), argI32(L.nc[1]), argI32(L.nc[2]),
			argF32(L.lo[0]), argF32(L.lo[1]), argF32(L.lo[2]), argF32(inv),
			argPtr(dKey), argPtr(dRank), argPtr(dHist)); err != nil {
			return 0, err
		}
		if err := launch(c.d.scan2, "ms_scan2", 1, scanThreads,
			argPtr(dHist), argI32(ncell), argPtr(dCellStart), argPtr(dChunkStart)); err != nil {
			return 0, err
		}
		if err := launch(c.d.scatter2, "ms_scatter2", (nact+finBlock-1)/finBlock, finBlock,
			argPtr(dAct), argI32(nact), argPtr(dKey), argPtr(dRank), argPtr(dCellStart),
			argPtr(dSorted)); err != nil {
			return 0, err
		}
		if err := cu.MemsetD32(dCount, 0, 1); err != nil {
			return 0, fmt.Errorf("cuMemsetD32 count: %w", err)
		}
		// At most one partial chunk per occupied cell beyond nact/32.
		warps := (nact+31)/32 + min(nact, ncell)
		if err := launch(fg, ng, (warps*32+tileBlock-1)/tileBlock, tileBlock,
			argPtr(dPts), argPtr(dWt), argI32(n), argPtr(dStart),
			argI32(L.nc[0]), argI32(L.nc[1]), argI32(L.nc[2]),
			argF32(L.lo[0]), argF32(L.lo[1]), argF32(L.lo[2]), argF32(L.cell), argPtr(dCmid),
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

// reuseQuant is the device layout of the box quantiser of the path-assisted
// search (struct Quant in meanshift.cu): lo[8] and inv as float64, bits as
// int32 (in the low half of the last word).
type reuseQuant [10]uint64

// newReuseQuant quantises scaled positions into boxes of side `side`
// bandwidths, 64/dim bits per axis, from one box below the points' minimum
// (lo, hi: the points' range per axis; the CPU's rule, reuseIndex). It
// returns false when an axis spans more boxes than its bits can count.
func newReuseQuant(lo, hi []float64, dim int, side float64) (reuseQuant, bool) {
	var q reuseQuant
	bits := 64 / dim
	for a := 0; a < dim; a++ {
		l := lo[a] - side
		if (hi[a]-l)/side+2 >= float64(uint64(1)<<bits) {
			return q, false
		}
		q[a] = math.Float64bits(l)
	}
	q[8] = math.Float64bits(1 / side)
	q[9] = uint64(uint32(bits))
	return q, true
}

// shiftReuse is the path-assisted search of the grid variant
// (Options.Reuse > 0, the default), the GPU form of the CPU Grid's:
// searches in rounds (the CPU's seed order and round sizes), one warp per
// search, boxes of side Reuse remembered in a device hash table with the
// mode their search reached, a search entering a remembered box taking that
// mode; the round's boxes are published between rounds, the first search in
// seed order winning a box. If the table fills up it falls back to the
// exact search (shiftGrid2).
func (c *CUDA) shiftReuse(mem *devMem, points []float32, dim int, modes []float32, opt Options) (int, error) {
	n := len(points) / dim
	m := len(modes) / dim
	lo, hi := axisRange(points, dim)
	qt, ok := newReuseQuant(lo, hi, dim, opt.Reuse)
	if !ok {
		return c.shiftGrid2(mem, points, dim, modes, opt)
	}
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
	for i, q := range rand.New(rand.NewSource(1)).Perm(m) {
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
	inv := 1 / L.cell
	fs := c.d.search[dim]
	ns := fmt.Sprintf("ms_search_%d", dim)
	var cnt [2]int32
	for s, size := 0, 64; s < m; s, size = s+size, max(64, s+size) {
		nround := min(size, m-s)
		dRound := dOrder + cu.DevicePtr(4*s)
		for {
			if err := cu.MemsetD32(dArenaN, 0, 2); err != nil {
				return 0, fmt.Errorf("cuMemsetD32 counters: %w", err)
			}
			if err := launch(fs, ns, (nround*32+tileBlock-1)/tileBlock, tileBlock,
				argPtr(dPts), argPtr(dWt), argI32(n), argPtr(dStart),
				argI32(L.nc[0]), argI32(L.nc[1]), argI32(L.nc[2]),
				argF32(L.lo[0]), argF32(L.lo[1]), argF32(L.lo[2]), argF32(inv),
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
