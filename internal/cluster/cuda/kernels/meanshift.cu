// meanshift.cu — CUDA kernels of lungctl's GPU mean-shift backends
// (internal/cluster/cuda/cuda.go, build tag lungcuda).
//
// meanshift.ptx next to this file is generated from it and committed, so Go
// builds need no nvcc. Regenerate it (from the repository root) with:
//
//   make ptx   (nvcc -ptx -arch=compute_70 -O3 -o internal/cluster/cuda/kernels/meanshift.ptx internal/cluster/cuda/kernels/meanshift.cu)
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
// Every dimension-dependent kernel exists for D = 1..8 (ms_brute2_<D>,
// ms_fin2_<D>, ms_key2_<D>, ms_grid2_<D>, ms_search_<D>). The first, untiled
// kernels (ms_brute_<D>, ms_grid_<D>, the "-v1" backends) were dropped; git
// history has them.

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

// Tiled kernels. Both compute |x−y|² in expanded form,
// |x'|² + |y'|² − 2·x'·y', on coordinates taken relative to a local centre
// c (x' = x − c, y' = y − c), so that a pair costs D fused multiply-adds plus
// one comparison: with |x'|² staged per point and −2·y' and r² − |y'|² kept
// per mode, s − |y'|² = |x'|² + Σ (−2·y'_a)·x'_a. The local centre keeps the
// cancellation error of the expanded form at ~1e-7·(|x'|² + |y'|²), i.e.
// ~1e-5 in |d|² for the pairs that matter (|x'|, |y'| ≲ a few units), well
// inside the tolerances. Pairs inside the radius recompute d = x' − y'
// exactly for the numerator. Shared-memory tiles store each point as DP
// floats (D coordinates, |x'|², weight, padding to a multiple of 4) so that
// a point is read with DP/4 16-byte broadcast loads.

#define BT 128 // threads per block of the tiled kernels
#define MPT 4  // modes per thread in ms_brute2_*
#define PT 256 // points per tile of ms_brute2_*
#define SPARSE 12 // ms_grid2_*: cells with fewer moving modes go point-parallel

template <int D> struct Pad {
    static const int DP = ((D + 2 + 3) / 4) * 4;
};

// brute2: each thread holds MPT modes (slots k·BT + threadIdx.x of the
// block's BT·MPT active modes); blockIdx.y selects a chunk [p0, p1) of the
// points (split over the grid so that few active modes still fill the GPU).
// Points are sorted by cell on the host and stored relative to the centre
// of their PT-point tile (ptsRel, struct-of-arrays; pn = |x'|²; tc = tile
// centres, tile-major, D values each). Partial sums (D numerator values
// relative to y, then the denominator) go to part[(split·nact + t)·(D+1)],
// summed in split order by ms_fin2_* (deterministic).
template <int D>
__device__ void brute2(const float *__restrict__ ptsRel, const float *__restrict__ pn,
                       const float *__restrict__ tc, const float *__restrict__ wt, int n, int chunk,
                       const float *__restrict__ modes, const int *__restrict__ active, int nact,
                       float *__restrict__ part, float r2)
{
    const int DP = Pad<D>::DP;
    __shared__ __align__(16) float sp[PT * DP];
    __shared__ float sy[MPT * D][BT]; // the modes (kept out of registers)
    int split = blockIdx.y;
    int p0 = split * chunk;
    int p1 = min(n, p0 + chunk);
    int slot0 = blockIdx.x * (BT * MPT) + threadIdx.x;
    float m2[MPT][D], acc[MPT][D], den[MPT], thr[MPT], yn[MPT];
    bool live[MPT];
#pragma unroll
    for (int k = 0; k < MPT; k++) {
        int t = slot0 + k * BT;
        live[k] = t < nact;
        int q = live[k] ? active[t] : 0;
#pragma unroll
        for (int a = 0; a < D; a++) {
            sy[k * D + a][threadIdx.x] = live[k] ? modes[(size_t)q * D + a] : 0.f;
            acc[k][a] = 0.f;
        }
        den[k] = 0.f;
    }
    for (int base = p0; base < p1; base += PT) {
        __syncthreads();
        for (int j = threadIdx.x; j < PT; j += BT) {
            int i = base + j;
            float *dst = &sp[j * DP];
            if (i < p1) {
#pragma unroll
                for (int a = 0; a < D; a++)
                    dst[a] = ptsRel[(size_t)a * n + i];
                dst[D] = pn[i];
                dst[D + 1] = wt ? wt[i] : 1.f;
            } else { // padding: |x'|² = +inf is never inside the radius
#pragma unroll
                for (int a = 0; a < D; a++)
                    dst[a] = 0.f;
                dst[D] = __int_as_float(0x7f800000);
                dst[D + 1] = 0.f;
            }
        }
        __syncthreads();
        const float *c = &tc[(size_t)(base / PT) * D];
#pragma unroll
        for (int k = 0; k < MPT; k++) {
            float s = 0.f;
#pragma unroll
            for (int a = 0; a < D; a++) {
                float yr = sy[k * D + a][threadIdx.x] - c[a];
                m2[k][a] = -2.f * yr;
                s = fmaf(yr, yr, s);
            }
            yn[k] = s;
            thr[k] = live[k] ? r2 - s : -1e30f;
        }
        int cnt = (min(PT, p1 - base) + 1) & ~1; // padded tiles: whole pairs
#pragma unroll 2
        for (int j = 0; j < cnt; j++) {
            float v[DP];
            const float4 *src = reinterpret_cast<const float4 *>(&sp[j * DP]);
#pragma unroll
            for (int u = 0; u < DP / 4; u++) {
                float4 f = src[u];
                v[4 * u] = f.x;
                v[4 * u + 1] = f.y;
                v[4 * u + 2] = f.z;
                v[4 * u + 3] = f.w;
            }
            // All MPT distances first, then one branch for the rare case
            // that any of them is inside the radius.
            float s[MPT];
            bool any = false;
#pragma unroll
            for (int k = 0; k < MPT; k++) {
                s[k] = v[D];
#pragma unroll
                for (int a = 0; a < D; a++)
                    s[k] = fmaf(m2[k][a], v[a], s[k]);
                any |= s[k] < thr[k];
            }
            if (any) {
#pragma unroll
                for (int k = 0; k < MPT; k++) {
                    if (s[k] < thr[k]) {
                        float w = __expf(-0.5f * (s[k] + yn[k])) * v[D + 1];
                        den[k] += w;
#pragma unroll
                        for (int a = 0; a < D; a++)
                            acc[k][a] = fmaf(w, fmaf(0.5f, m2[k][a], v[a]), acc[k][a]);
                    }
                }
            }
        }
    }
#pragma unroll
    for (int k = 0; k < MPT; k++) {
        int t = slot0 + k * BT;
        if (live[k]) {
            float *o = &part[((size_t)split * nact + t) * (D + 1)];
#pragma unroll
            for (int a = 0; a < D; a++)
                o[a] = acc[k][a];
            o[D] = den[k];
        }
    }
}

// fin2: sums the nsplit partial sums of active mode t (in split order),
// moves the mode, and appends it to next when it keeps moving.
template <int D>
__device__ void fin2(const float *__restrict__ part, int nsplit, int nact, float *__restrict__ modes,
                     const int *__restrict__ active, int *__restrict__ next, int *__restrict__ count, float tol2)
{
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    bool moving = false;
    int q = 0;
    if (t < nact) {
        q = active[t];
        float acc[D + 1];
#pragma unroll
        for (int a = 0; a <= D; a++)
            acc[a] = 0.f;
        for (int s = 0; s < nsplit; s++) {
            const float *p = &part[((size_t)s * nact + t) * (D + 1)];
#pragma unroll
            for (int a = 0; a <= D; a++)
                acc[a] += p[a];
        }
        if (acc[D] > 0.f) {
            float inv = 1.f / acc[D], step2 = 0.f;
#pragma unroll
            for (int a = 0; a < D; a++) {
                float sh = acc[a] * inv;
                step2 = fmaf(sh, sh, step2);
                modes[(size_t)q * D + a] += sh;
            }
            moving = step2 >= tol2;
        }
    }
    int slot = countAlive(moving, count);
    if (moving)
        next[slot] = q;
}

// cellOf3 returns the cell (x fastest) of a mode on the first min(D,3) axes:
// floor((v − lo)/cell) clamped to the grid (cells of side cell ≥ 1.001·R,
// so that every point within R of a mode lies in the 3×3×3 cells around the
// cell computed here, float32 rounding included).
template <int D>
__device__ __forceinline__ int cellOf3(const float *y, int nc0, int nc1, int nc2, float lo0, float lo1,
                                       float lo2, float inv)
{
    int c0 = max(0, min((int)floorf((y[0] - lo0) * inv), nc0 - 1));
    int c1 = 0, c2 = 0;
    if (D > 1)
        c1 = max(0, min((int)floorf((y[D > 1 ? 1 : 0] - lo1) * inv), nc1 - 1));
    if (D > 2)
        c2 = max(0, min((int)floorf((y[D > 2 ? 2 : 0] - lo2) * inv), nc2 - 1));
    return c0 + nc0 * (c1 + nc1 * c2);
}

// key2: cell of every active mode; hist[cell] counts them and rank is the
// mode's slot within its cell (hist zeroed by the host).
template <int D>
__device__ void key2(const float *__restrict__ modes, const int *__restrict__ active, int nact, int nc0, int nc1,
                     int nc2, float lo0, float lo1, float lo2, float inv, int *__restrict__ key,
                     int *__restrict__ rank, int *__restrict__ hist)
{
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= nact)
        return;
    int q = active[t];
    float y[D];
#pragma unroll
    for (int a = 0; a < D; a++)
        y[a] = modes[(size_t)q * D + a];
    int c = cellOf3<D>(y, nc0, nc1, nc2, lo0, lo1, lo2, inv);
    key[t] = c;
    rank[t] = atomicAdd(&hist[c], 1);
}

// scatter2: places active mode t at cellStart[key]+rank of sorted.
extern "C" __global__ void ms_scatter2(const int *__restrict__ active, int nact, const int *__restrict__ key,
                                       const int *__restrict__ rank, const int *__restrict__ cellStart,
                                       int *__restrict__ sorted)
{
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t < nact)
        sorted[cellStart[key[t]] + rank[t]] = active[t];
}

// scan2 (one block of 1024 threads): exclusive prefix sums over the ncell
// cells of hist (→ cellStart) and of ceil(hist/32) (→ chunkStart, the first
// warp-sized chunk of each cell); both arrays get ncell+1 values, the last
// one the total.
extern "C" __global__ void ms_scan2(const int *__restrict__ hist, int ncell, int *__restrict__ cellStart,
                                    int *__restrict__ chunkStart)
{
    __shared__ int sa[1024], sb[1024];
    int t = threadIdx.x;
    int seg = (ncell + 1023) / 1024;
    int b = min(ncell, t * seg), e = min(ncell, b + seg);
    int a = 0, c = 0;
    for (int i = b; i < e; i++) {
        a += hist[i];
        c += (hist[i] + 31) >> 5;
    }
    sa[t] = a;
    sb[t] = c;
    __syncthreads();
    for (int off = 1; off < 1024; off <<= 1) {
        int va = t >= off ? sa[t - off] : 0;
        int vb = t >= off ? sb[t - off] : 0;
        __syncthreads();
        sa[t] += va;
        sb[t] += vb;
        __syncthreads();
    }
    a = sa[t] - a; // exclusive
    c = sb[t] - c;
    for (int i = b; i < e; i++) {
        cellStart[i] = a;
        chunkStart[i] = c;
        a += hist[i];
        c += (hist[i] + 31) >> 5;
    }
    if (t == 1023) {
        cellStart[ncell] = sa[1023];
        chunkStart[ncell] = sb[1023];
    }
}

// accumRange adds to pa (D numerator values relative to y, then the
// denominator) the kernel-weighted points [b, e) that lane `lane` owns
// (b+lane, b+lane+32, …), direct |x−y|²; four points per lane are loaded
// before any is used, so that one warp alone keeps several loads in flight.
template <int D>
__device__ __forceinline__ void accumRange(const float *__restrict__ pts, const float *__restrict__ wt, int n,
                                           int b, int e, int lane, const float *y, float *pa, float r2)
{
    for (int i0 = b + lane; i0 < e; i0 += 128) {
        float p[4][D];
        bool ok[4];
#pragma unroll
        for (int u = 0; u < 4; u++) {
            int i = i0 + 32 * u;
            ok[u] = i < e;
#pragma unroll
            for (int a = 0; a < D; a++)
                p[u][a] = ok[u] ? __ldg(&pts[(size_t)a * n + i]) : 0.f;
        }
#pragma unroll
        for (int u = 0; u < 4; u++) {
            float d[D], s = 0.f;
#pragma unroll
            for (int a = 0; a < D; a++) {
                d[a] = p[u][a] - y[a];
                s = fmaf(d[a], d[a], s);
            }
            if (ok[u] && s < r2) {
                float wgt = __expf(-0.5f * s);
                if (wt)
                    wgt *= __ldg(&wt[i0 + 32 * u]);
                pa[D] += wgt;
#pragma unroll
                for (int a = 0; a < D; a++)
                    pa[a] = fmaf(wgt, d[a], pa[a]);
            }
        }
    }
}

// grid2: one warp per chunk of ≤ 32 active modes of one cell (the modes
// sorted by cell: sorted[cellStart[c] .. cellStart[c+1])). The warp walks
// the 3×3×3 cells around its cell as 9 rows of contiguous points, staging
// 32 points at a time in its slice of shared memory; every lane tests its
// mode against them. Coordinates are taken relative to the cell's centre on
// the spatial axes and to cmid on the others, so a mode's result does not
// depend on which other modes share its warp (deterministic).
template <int D>
__device__ void grid2(const float *__restrict__ pts, const float *__restrict__ wt, int n,
                      const int *__restrict__ start, int nc0, int nc1, int nc2, float lo0, float lo1,
                      float lo2, float cell, const float *__restrict__ cmid, const int *__restrict__ sorted,
                      const int *__restrict__ cellStart, const int *__restrict__ chunkStart, int ncell,
                      float *__restrict__ modes, int *__restrict__ next, int *__restrict__ count, float r2,
                      float tol2)
{
    const int DP = Pad<D>::DP;
    __shared__ __align__(16) float sp[BT / 32][32 * DP];
    int w = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    float *tile = sp[threadIdx.x >> 5];
    if (w >= chunkStart[ncell])
        return; // the whole warp
    // the cell c with chunkStart[c] <= w < chunkStart[c+1]
    int lo = 0, hi = ncell - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) >> 1;
        if (chunkStart[mid] <= w)
            lo = mid;
        else
            hi = mid - 1;
    }
    int c = lo;
    int idx = cellStart[c] + 32 * (w - chunkStart[c]) + lane;
    bool live = idx < cellStart[c + 1];
    int q = live ? sorted[idx] : 0;
    int cx = c % nc0, cy = (c / nc0) % nc1, cz = c / (nc0 * nc1);
    float cc[D];
#pragma unroll
    for (int a = 0; a < D; a++)
        cc[a] = cmid[a];
    cc[0] = lo0 + (cx + 0.5f) * cell;
    if (D > 1)
        cc[D > 1 ? 1 : 0] = lo1 + (cy + 0.5f) * cell;
    if (D > 2)
        cc[D > 2 ? 2 : 0] = lo2 + (cz + 0.5f) * cell;
    float m2[D], acc[D], den = 0.f, thr, yn = 0.f;
#pragma unroll
    for (int a = 0; a < D; a++) {
        float yr = live ? modes[(size_t)q * D + a] - cc[a] : 0.f;
        m2[a] = -2.f * yr;
        yn = fmaf(yr, yr, yn);
        acc[a] = 0.f;
    }
    thr = live ? r2 - yn : -1e30f;
    int x0 = max(cx - 1, 0), x1 = min(cx + 1, nc0 - 1);
    int hc = cellStart[c + 1] - cellStart[c];
    if (hc < SPARSE) {
        // Few modes in this cell (one chunk, lanes 0..hc-1): all 32 lanes
        // walk the points of each mode in turn (direct |x−y|², coalesced
        // loads), then a butterfly reduction; lane u keeps mode u's sums.
        // The choice depends only on the cell's count, and the order of
        // every sum is fixed, so results stay deterministic.
        int c0 = cellStart[c];
        for (int u = 0; u < hc; u++) {
            int qu = sorted[c0 + u];
            float yu[D], pa[D + 1];
#pragma unroll
            for (int a = 0; a < D; a++) {
                yu[a] = modes[(size_t)qu * D + a];
                pa[a] = 0.f;
            }
            pa[D] = 0.f;
            for (int zz = max(cz - 1, 0); zz <= min(cz + 1, nc2 - 1); zz++) {
                for (int yy = max(cy - 1, 0); yy <= min(cy + 1, nc1 - 1); yy++) {
                    int row = nc0 * (yy + nc1 * zz);
                    accumRange<D>(pts, wt, n, start[row + x0], start[row + x1 + 1], lane, yu, pa, r2);
                }
            }
#pragma unroll
            for (int off = 16; off > 0; off >>= 1) {
#pragma unroll
                for (int a = 0; a <= D; a++)
                    pa[a] += __shfl_xor_sync(0xffffffffu, pa[a], off);
            }
            if (lane == u) {
#pragma unroll
                for (int a = 0; a < D; a++)
                    acc[a] = pa[a];
                den = pa[D];
            }
        }
    } else {
        for (int zz = max(cz - 1, 0); zz <= min(cz + 1, nc2 - 1); zz++) {
            for (int yy = max(cy - 1, 0); yy <= min(cy + 1, nc1 - 1); yy++) {
                int row = nc0 * (yy + nc1 * zz);
                int b = start[row + x0], e = start[row + x1 + 1];
                for (int base = b; base < e; base += 32) {
                    int i = base + lane;
                    float *dst = &tile[lane * DP];
                    if (i < e) {
                        float s = 0.f;
    #pragma unroll
                        for (int a = 0; a < D; a++) {
                            float v = __ldg(&pts[(size_t)a * n + i]) - cc[a];
                            dst[a] = v;
                            s = fmaf(v, v, s);
                        }
                        dst[D] = s;
                        dst[D + 1] = wt ? __ldg(&wt[i]) : 1.f;
                    } else { // padding: |x'|² = +inf is never inside the radius
    #pragma unroll
                        for (int a = 0; a < D; a++)
                            dst[a] = 0.f;
                        dst[D] = __int_as_float(0x7f800000);
                        dst[D + 1] = 0.f;
                    }
                    __syncwarp();
                    int cnt = min(32, e - base);
                    if (live) {
                        // two points per round, one branch for the rare hits
                        for (int j = 0; j < cnt; j += 2) {
                            float v[2][DP];
    #pragma unroll
                            for (int h = 0; h < 2; h++) {
                                const float4 *src = reinterpret_cast<const float4 *>(&tile[(j + h) * DP]);
    #pragma unroll
                                for (int u = 0; u < DP / 4; u++) {
                                    float4 f = src[u];
                                    v[h][4 * u] = f.x;
                                    v[h][4 * u + 1] = f.y;
                                    v[h][4 * u + 2] = f.z;
                                    v[h][4 * u + 3] = f.w;
                                }
                            }
                            float s[2];
    #pragma unroll
                            for (int h = 0; h < 2; h++) {
                                s[h] = v[h][D];
    #pragma unroll
                                for (int a = 0; a < D; a++)
                                    s[h] = fmaf(m2[a], v[h][a], s[h]);
                            }
                            if (s[0] < thr || s[1] < thr) {
    #pragma unroll
                                for (int h = 0; h < 2; h++) {
                                    if (s[h] < thr) {
                                        float wgt = __expf(-0.5f * (s[h] + yn)) * v[h][D + 1];
                                        den += wgt;
    #pragma unroll
                                        for (int a = 0; a < D; a++)
                                            acc[a] = fmaf(wgt, fmaf(0.5f, m2[a], v[h][a]), acc[a]);
                                    }
                                }
                            }
                        }
                    }
                    __syncwarp();
                }
            }
        }
    }
    bool moving = false;
    if (live && den > 0.f) {
        float inv = 1.f / den, step2 = 0.f;
#pragma unroll
        for (int a = 0; a < D; a++) {
            float sh = acc[a] * inv;
            step2 = fmaf(sh, sh, step2);
            modes[(size_t)q * D + a] += sh;
        }
        moving = step2 >= tol2;
    }
    int slot = countAlive(moving, count);
    if (moving)
        next[slot] = q;
}

// ---------------------------------------------------------------------------
// Path-assisted search (Options.Reuse > 0), the GPU form of the CPU Grid's
// shiftReuse: the searches run in rounds (the same pseudo-random seed order
// and doubling round sizes as on the CPU); every box of side Reuse
// bandwidths that a search passes through is remembered in a hash table
// with the mode that search reached; a later search that enters a
// remembered box stops and takes that mode. Within a round the table is
// read-only; between rounds the round's paths are inserted, the first
// search in seed order winning a box (ms_ins1/ms_ins2), so results do not
// depend on scheduling. One warp runs one search: the 32 lanes share the
// points of the 3×3×3 cells around the mode (direct |x−y|², fixed-order
// butterfly reduction).

#define PATHCAP 256 // boxes a search remembers (the CPU keeps all; MaxIter is 200 by default)
#define EMPTYKEY 0xffffffffffffffffULL
#define NOOWNER 0x7fffffff
#define PUBLISHED (-1)

struct Quant {
    double lo[8];
    double inv;
    int bits;
};

__device__ __forceinline__ unsigned long long mix64(unsigned long long k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

template <int D>
__device__ __forceinline__ unsigned long long boxKey(const float *y, const Quant &qt)
{
    unsigned long long k = 0;
    long long cmax = (1LL << qt.bits) - 1;
#pragma unroll
    for (int a = 0; a < D; a++) {
        long long c = (long long)floor(((double)y[a] - qt.lo[a]) * qt.inv);
        c = max(0LL, min(c, cmax));
        k = (k << qt.bits) | (unsigned long long)c;
    }
    return k == EMPTYKEY ? EMPTYKEY - 1 : k;
}

// lookup finds key k in the table (all lanes of the warp together, 32
// slots per probe round); returns the slot or -1.
__device__ __forceinline__ int lookup(const unsigned long long *__restrict__ tkey, unsigned mask,
                                      unsigned long long k, int lane)
{
    unsigned h = (unsigned)mix64(k) & mask;
    for (unsigned base = 0; base <= mask; base += 32) {
        unsigned slot = (h + base + lane) & mask;
        unsigned long long v = tkey[slot];
        unsigned hit = __ballot_sync(0xffffffffu, v == k);
        unsigned emp = __ballot_sync(0xffffffffu, v == EMPTYKEY);
        // the first hit before the first empty slot in probe order
        if (hit && (!emp || __ffs(hit) <= __ffs(emp)))
            return __shfl_sync(0xffffffffu, (int)slot, __ffs(hit) - 1);
        if (emp)
            return -1;
    }
    return -1;
}

// search: warp w runs the search of mode q = round[w] from its current
// position. found[w] = the mode id adopted from the table, or -1 with the
// converged position in ypos[w]; its boxes go to the arena (keys and the
// owner w), arenaN counts them (overflow sets *flag bit 1); *maxIt gets the
// largest step count. qtp points to the box quantiser (in device memory:
// gorgonia.org/cu passes kernel arguments of 8 bytes only).
template <int D>
__device__ void search(const float *__restrict__ pts, const float *__restrict__ wt, int n,
                       const int *__restrict__ start, int nc0, int nc1, int nc2, float lo0, float lo1,
                       float lo2, float inv, const float *__restrict__ modes, const int *__restrict__ round,
                       int nround, const unsigned long long *__restrict__ tkey, const int *__restrict__ tval,
                       unsigned mask, const Quant *__restrict__ qtp, int *__restrict__ found,
                       float *__restrict__ ypos, int *__restrict__ maxIt,
                       unsigned long long *__restrict__ akey, int *__restrict__ aown,
                       int acap, int *__restrict__ arenaN, int *__restrict__ flag, float r2, float tol2,
                       int maxIter)
{
    __shared__ unsigned long long path[BT / 32][PATHCAP];
    int w = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (w >= nround)
        return;
    unsigned long long *mypath = path[threadIdx.x >> 5];
    const Quant qt = *qtp;
    int q = round[w];
    float y[D];
#pragma unroll
    for (int a = 0; a < D; a++)
        y[a] = modes[(size_t)q * D + a];
    int plen = 0, it = 0, id = -1;
    bool done = false;
    for (;;) {
        unsigned long long k = boxKey<D>(y, qt);
        int slot = lookup(tkey, mask, k, lane);
        if (slot >= 0) {
            id = tval[slot];
            break;
        }
        if ((plen == 0 || mypath[plen - 1] != k) && plen < PATHCAP) {
            __syncwarp();
            if (lane == 0)
                mypath[plen] = k;
            plen++;
            __syncwarp();
        }
        if (done || it >= maxIter)
            break;
        it++;
        // one mean-shift step, points of the 3×3×3 cells around y's cell
        int c = cellOf3<D>(y, nc0, nc1, nc2, lo0, lo1, lo2, inv);
        int cx = c % nc0, cy = (c / nc0) % nc1, cz = c / (nc0 * nc1);
        int x0 = max(cx - 1, 0), x1 = min(cx + 1, nc0 - 1);
        float pa[D + 1];
#pragma unroll
        for (int a = 0; a <= D; a++)
            pa[a] = 0.f;
        for (int zz = max(cz - 1, 0); zz <= min(cz + 1, nc2 - 1); zz++) {
            for (int yy = max(cy - 1, 0); yy <= min(cy + 1, nc1 - 1); yy++) {
                int row = nc0 * (yy + nc1 * zz);
                accumRange<D>(pts, wt, n, start[row + x0], start[row + x1 + 1], lane, y, pa, r2);
            }
        }
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) {
#pragma unroll
            for (int a = 0; a <= D; a++)
                pa[a] += __shfl_xor_sync(0xffffffffu, pa[a], off);
        }
        if (pa[D] > 0.f) {
            float invd = 1.f / pa[D], step2 = 0.f;
#pragma unroll
            for (int a = 0; a < D; a++) {
                float sh = pa[a] * invd;
                step2 = fmaf(sh, sh, step2);
                y[a] += sh;
            }
            done = step2 < tol2;
        } else {
            done = true; // no point within the radius: the search stays put
        }
    }
    __syncwarp();
    int off = 0;
    if (lane == 0)
        off = atomicAdd(arenaN, plen);
    off = __shfl_sync(0xffffffffu, off, 0);
    if (off + plen > acap) {
        if (lane == 0)
            atomicOr(flag, 1);
    } else {
        for (int j = lane; j < plen; j += 32) {
            akey[off + j] = mypath[j];
            aown[off + j] = w;
        }
    }
    if (lane == 0) {
        found[w] = id;
        atomicMax(maxIt, it);
    }
    if (lane < D)
        ypos[(size_t)w * D + lane] = y[lane];
}

// ins1: every arena entry claims its box for the earliest search (round
// order) that passed through it; boxes of earlier rounds (owner PUBLISHED)
// keep theirs. A full table sets *flag bit 2.
extern "C" __global__ void ms_ins1(const unsigned long long *__restrict__ akey, const int *__restrict__ aown,
                                   int na, unsigned long long *__restrict__ tkey, int *__restrict__ town,
                                   unsigned mask, int *__restrict__ flag)
{
    int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= na)
        return;
    unsigned long long k = akey[e];
    unsigned h = (unsigned)mix64(k) & mask;
    for (unsigned j = 0; j <= mask; j++) {
        unsigned slot = (h + j) & mask;
        unsigned long long cur = tkey[slot];
        if (cur == EMPTYKEY)
            cur = atomicCAS(&tkey[slot], EMPTYKEY, k);
        if (cur == EMPTYKEY || cur == k) {
            atomicMin(&town[slot], aown[e]);
            return;
        }
    }
    atomicOr(flag, 2);
}

// ins2: the winning entry of each box writes the mode id of its search
// (newid[owner]) and marks the box published.
extern "C" __global__ void ms_ins2(const unsigned long long *__restrict__ akey, const int *__restrict__ aown,
                                   int na, const unsigned long long *__restrict__ tkey, int *__restrict__ town,
                                   int *__restrict__ tval, unsigned mask, const int *__restrict__ newid)
{
    int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= na)
        return;
    unsigned long long k = akey[e];
    unsigned h = (unsigned)mix64(k) & mask;
    for (unsigned j = 0; j <= mask; j++) {
        unsigned slot = (h + j) & mask;
        unsigned long long cur = tkey[slot];
        if (cur == k) {
            int r = aown[e];
            if (atomicCAS(&town[slot], r, PUBLISHED) == r)
                tval[slot] = newid[r];
            return;
        }
        if (cur == EMPTYKEY)
            return; // cannot happen after ms_ins1
    }
}

// ids (one block of 1024 threads): newid[w] = found[w] for searches that
// adopted a mode, else the next new id in round order (starting at *nmodes,
// which it advances); new modes' positions go to modePos.
extern "C" __global__ void ms_ids(const int *__restrict__ found, int nround, int *__restrict__ newid,
                                  int *__restrict__ nmodes, const float *__restrict__ ypos,
                                  float *__restrict__ modePos, int dim)
{
    __shared__ int sa[1024];
    int t = threadIdx.x;
    int seg = (nround + 1023) / 1024;
    int b = min(nround, t * seg), e = min(nround, b + seg);
    int a = 0;
    for (int i = b; i < e; i++)
        a += found[i] < 0;
    sa[t] = a;
    __syncthreads();
    for (int off = 1; off < 1024; off <<= 1) {
        int v = t >= off ? sa[t - off] : 0;
        __syncthreads();
        sa[t] += v;
        __syncthreads();
    }
    int base = *nmodes;
    a = base + sa[t] - a;
    for (int i = b; i < e; i++) {
        if (found[i] < 0) {
            newid[i] = a;
            for (int d = 0; d < dim; d++)
                modePos[(size_t)a * dim + d] = ypos[(size_t)i * dim + d];
            a++;
        } else {
            newid[i] = found[i];
        }
    }
    __syncthreads();
    if (t == 1023)
        *nmodes = base + sa[1023];
}

// resolve: every search of the round takes its mode's position.
extern "C" __global__ void ms_resolve(const int *__restrict__ round, int nround, const int *__restrict__ newid,
                                      const float *__restrict__ modePos, float *__restrict__ modes, int dim)
{
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= nround * dim)
        return;
    int w = t / dim, a = t - w * dim;
    modes[(size_t)round[w] * dim + a] = modePos[(size_t)newid[w] * dim + a];
}

// gather: out[a·n + k] = rows[perm[k]·dim + a], the row-major points in
// the order perm as struct-of-arrays (dim = 1 permutes a weight array).
extern "C" __global__ void ms_gather(const float *__restrict__ rows, const int *__restrict__ perm, int n,
                                     int dim, float *__restrict__ out)
{
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= n)
        return;
    int i = perm[t];
    for (int a = 0; a < dim; a++)
        out[(size_t)a * n + t] = rows[(size_t)i * dim + a];
}

#define MS_KERNELS2(D)                                                                                  \
    extern "C" __global__ void __launch_bounds__(BT)                                                   \
        ms_brute2_##D(const float *ptsRel, const float *pn, const float *tc, const float *wt, int n,    \
                      int chunk, const float *modes, const int *active, int nact, float *part, float r2) \
    {                                                                                                   \
        brute2<D>(ptsRel, pn, tc, wt, n, chunk, modes, active, nact, part, r2);                         \
    }                                                                                                   \
    extern "C" __global__ void ms_fin2_##D(const float *part, int nsplit, int nact, float *modes,       \
                                           const int *active, int *next, int *count, float tol2)        \
    {                                                                                                   \
        fin2<D>(part, nsplit, nact, modes, active, next, count, tol2);                                  \
    }                                                                                                   \
    extern "C" __global__ void ms_key2_##D(const float *modes, const int *active, int nact, int nc0,    \
                                           int nc1, int nc2, float lo0, float lo1, float lo2, float inv, \
                                           int *key, int *rank, int *hist)                              \
    {                                                                                                   \
        key2<D>(modes, active, nact, nc0, nc1, nc2, lo0, lo1, lo2, inv, key, rank, hist);               \
    }                                                                                                   \
    extern "C" __global__ void __launch_bounds__(BT)                                                   \
        ms_grid2_##D(const float *pts, const float *wt, int n, const int *start, int nc0, int nc1,      \
                     int nc2, float lo0, float lo1, float lo2, float cell, const float *cmid,            \
                     const int *sorted, const int *cellStart, const int *chunkStart, int ncell,         \
                     float *modes, int *next, int *count, float r2, float tol2)                         \
    {                                                                                                   \
        grid2<D>(pts, wt, n, start, nc0, nc1, nc2, lo0, lo1, lo2, cell, cmid, sorted, cellStart,        \
                 chunkStart, ncell, modes, next, count, r2, tol2);                                      \
    }                                                                                                   \
    extern "C" __global__ void __launch_bounds__(BT)                                                   \
        ms_search_##D(const float *pts, const float *wt, int n, const int *start, int nc0, int nc1,     \
                      int nc2, float lo0, float lo1, float lo2, float inv, const float *modes,          \
                      const int *round, int nround, const unsigned long long *tkey, const int *tval,    \
                      unsigned mask, const Quant *qt, int *found, float *ypos, int *maxIt,              \
                      unsigned long long *akey, int *aown, int acap, int *arenaN, int *flag, float r2,  \
                      float tol2, int maxIter)                                                          \
    {                                                                                                   \
        search<D>(pts, wt, n, start, nc0, nc1, nc2, lo0, lo1, lo2, inv, modes, round, nround, tkey,     \
                  tval, mask, qt, found, ypos, maxIt, akey, aown, acap, arenaN, flag, r2, tol2,         \
                  maxIter);                                                                             \
    }

MS_KERNELS2(1)
MS_KERNELS2(2)
MS_KERNELS2(3)
MS_KERNELS2(4)
MS_KERNELS2(5)
MS_KERNELS2(6)
MS_KERNELS2(7)
MS_KERNELS2(8)

