// meanshift.cu — CUDA kernels of lungctl's GPU mean-shift backends
// (internal/cluster/cuda_lungcuda.go, build tag lungcuda).
//
// meanshift.ptx next to this file is generated from it and committed, so Go
// builds need no nvcc. Regenerate it (from the repository root) with:
//
//   nvcc -ptx -arch=compute_70 -O3 -o internal/cluster/kernels/meanshift.ptx internal/cluster/kernels/meanshift.cu
//
// compute_70 PTX is JIT-compiled by the driver for the GPU at hand (sm_80
// A100, sm_90 H100/H200, ...); the PTX ISA version nvcc 11.8 writes needs a
// driver of release 520 or newer.
//
// Conventions (the same as the CPU backends Grid and BruteForce): points and
// modes are already divided by the per-axis bandwidth ("scaled units"); the
// kernel weight of point x for mode y is exp(-|x-y|^2/2) * w_x, and zero when
// |x-y|^2 >= r2 (r2 = Options.Truncate^2). One mean-shift step moves y to the
// weighted mean of the points; it is accumulated relative to y
// (y += sum w (x-y) / sum w) in float32, which keeps the rounding error
// proportional to the step, not to |y|. A mode is converged when its step^2
// < tol2 or no point lies within the radius (then it stays put).
//
// Points are stored struct-of-arrays on the device: coordinate a of point i
// at pts[a*n + i]. Modes are row-major (mode q, axis a at modes[q*D + a]).
// wt is the per-point weight array, or null for weight 1.
//
// Every kernel exists for D = 1..8 as ms_brute_<D> and ms_grid_<D>.

#define TILE 256 // points per shared-memory tile; ms_brute_* needs blockDim.x == TILE

// countAlive adds the number of lanes of this warp with alive != 0 to *count
// (one atomic per warp) and returns this lane's slot among them, counted
// from the value *count had before (only meaningful when alive). Every lane
// of the warp must call it.
__device__ __forceinline__ int countAlive(bool alive, int *count)
{
    unsigned mask = __ballot_sync(0xffffffffu, alive);
    int lane = threadIdx.x & 31;
    int base = 0;
    if (lane == 0 && mask != 0)
        base = atomicAdd(count, __popc(mask));
    base = __shfl_sync(0xffffffffu, base, 0);
    return base + __popc(mask & ((1u << lane) - 1u));
}

// brute: one thread per still-moving mode (active[t], t < nactive); the
// block walks over all n points in tiles of TILE points loaded into shared
// memory. Modes that keep moving are appended to next (order unspecified)
// and counted in *count (zeroed by the host before the launch).
template <int D>
__device__ void brute(const float *__restrict__ pts, const float *__restrict__ wt, int n,
                      float *__restrict__ modes, const int *__restrict__ active, int nactive,
                      int *__restrict__ next, int *__restrict__ count, float r2, float tol2)
{
    __shared__ float sp[D][TILE];
    __shared__ float sw[TILE];
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    bool live = t < nactive;
    int q = live ? active[t] : 0;
    float y[D], acc[D];
    float den = 0.f;
#pragma unroll
    for (int a = 0; a < D; a++) {
        y[a] = live ? modes[(size_t)q * D + a] : 0.f;
        acc[a] = 0.f;
    }
    for (int base = 0; base < n; base += TILE) {
        int i = base + threadIdx.x;
        if (i < n) {
#pragma unroll
            for (int a = 0; a < D; a++)
                sp[a][threadIdx.x] = pts[(size_t)a * n + i];
            sw[threadIdx.x] = wt ? wt[i] : 1.f;
        }
        __syncthreads();
        int cnt = min(TILE, n - base);
        if (live) {
            for (int j = 0; j < cnt; j++) {
                float d[D];
                float s = 0.f;
#pragma unroll
                for (int a = 0; a < D; a++) {
                    d[a] = sp[a][j] - y[a];
                    s = fmaf(d[a], d[a], s);
                }
                if (s < r2) {
                    float w = __expf(-0.5f * s) * sw[j];
                    den += w;
#pragma unroll
                    for (int a = 0; a < D; a++)
                        acc[a] = fmaf(w, d[a], acc[a]);
                }
            }
        }
        __syncthreads();
    }
    bool moving = false;
    if (live && den > 0.f) {
        float step2 = 0.f;
        float inv = 1.f / den;
#pragma unroll
        for (int a = 0; a < D; a++) {
            float sh = acc[a] * inv;
            step2 = fmaf(sh, sh, step2);
            modes[(size_t)q * D + a] = y[a] + sh;
        }
        moving = step2 >= tol2;
    }
    int slot = countAlive(moving, count);
    if (moving)
        next[slot] = q;
}

// cellRange returns the clamped cell interval [c0, c1] on one axis that
// holds every point within radius R of coordinate v (cells of side 1/inv
// from lo, nc cells, the first and last open-ended as on the host). A margin
// of 1e-3 cells absorbs float32 rounding against the host's float64 cell
// assignment (visiting one cell too many is harmless).
__device__ __forceinline__ void cellRange(float v, float R, float lo, float inv, int nc, int *c0, int *c1)
{
    int a = (int)floorf((v - R - lo) * inv - 1e-3f);
    int b = (int)floorf((v + R - lo) * inv + 1e-3f);
    *c0 = max(0, min(a, nc - 1));
    *c1 = max(0, min(b, nc - 1));
}

// grid: one thread per mode, in the order given by order[] (the host sorts
// the modes by starting cell so that a warp reads the same cells). Points
// are sorted by cell of a uniform grid (side 1/inv, nc0 x nc1 x nc2 cells
// over the first min(D,3) axes; unused axes have one cell); the points of
// cell c are [start[c], start[c+1]), and the cells (c0..c1, cy, cz) of one
// row are contiguous. alive[q] != 0 marks modes still moving; *count
// receives how many still move after this step.
template <int D>
__device__ void gridk(const float *__restrict__ pts, const float *__restrict__ wt, int n,
                      const int *__restrict__ start, int nc0, int nc1, int nc2,
                      float lo0, float lo1, float lo2, float inv, float R,
                      float *__restrict__ modes, const int *__restrict__ order, int m,
                      int *__restrict__ alive, int *__restrict__ count, float r2, float tol2)
{
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    int q = t < m ? order[t] : 0;
    bool live = t < m && alive[q] != 0;
    bool moving = false;
    if (live) {
        float y[D], acc[D];
        float den = 0.f;
#pragma unroll
        for (int a = 0; a < D; a++) {
            y[a] = modes[(size_t)q * D + a];
            acc[a] = 0.f;
        }
        int x0 = 0, x1 = 0, y0 = 0, y1 = 0, z0 = 0, z1 = 0;
        cellRange(y[0], R, lo0, inv, nc0, &x0, &x1);
        if (D > 1)
            cellRange(y[D > 1 ? 1 : 0], R, lo1, inv, nc1, &y0, &y1);
        if (D > 2)
            cellRange(y[D > 2 ? 2 : 0], R, lo2, inv, nc2, &z0, &z1);
        for (int cz = z0; cz <= z1; cz++) {
            for (int cy = y0; cy <= y1; cy++) {
                int row = nc0 * (cy + nc1 * cz);
                int b = start[row + x0], e = start[row + x1 + 1];
                for (int i = b; i < e; i++) {
                    float d[D];
                    float s = 0.f;
#pragma unroll
                    for (int a = 0; a < D; a++) {
                        d[a] = __ldg(&pts[(size_t)a * n + i]) - y[a];
                        s = fmaf(d[a], d[a], s);
                    }
                    if (s < r2) {
                        float w = __expf(-0.5f * s);
                        if (wt)
                            w *= __ldg(&wt[i]);
                        den += w;
#pragma unroll
                        for (int a = 0; a < D; a++)
                            acc[a] = fmaf(w, d[a], acc[a]);
                    }
                }
            }
        }
        if (den > 0.f) {
            float step2 = 0.f;
            float invd = 1.f / den;
#pragma unroll
            for (int a = 0; a < D; a++) {
                float sh = acc[a] * invd;
                step2 = fmaf(sh, sh, step2);
                modes[(size_t)q * D + a] = y[a] + sh;
            }
            moving = step2 >= tol2;
        }
        if (!moving)
            alive[q] = 0;
    }
    countAlive(moving, count);
}

#define MS_KERNELS(D)                                                                                  \
    extern "C" __global__ void __launch_bounds__(TILE)                                                \
        ms_brute_##D(const float *pts, const float *wt, int n, float *modes, const int *active,       \
                     int nactive, int *next, int *count, float r2, float tol2)                        \
    {                                                                                                  \
        brute<D>(pts, wt, n, modes, active, nactive, next, count, r2, tol2);                          \
    }                                                                                                  \
    extern "C" __global__ void ms_grid_##D(const float *pts, const float *wt, int n, const int *start, \
                                           int nc0, int nc1, int nc2, float lo0, float lo1, float lo2, \
                                           float inv, float R, float *modes, const int *order, int m,  \
                                           int *alive, int *count, float r2, float tol2)               \
    {                                                                                                  \
        gridk<D>(pts, wt, n, start, nc0, nc1, nc2, lo0, lo1, lo2, inv, R, modes, order, m, alive,      \
                 count, r2, tol2);                                                                     \
    }

MS_KERNELS(1)
MS_KERNELS(2)
MS_KERNELS(3)
MS_KERNELS(4)
MS_KERNELS(5)
MS_KERNELS(6)
MS_KERNELS(7)
MS_KERNELS(8)
