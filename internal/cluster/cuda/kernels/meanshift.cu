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
// Scale-adaptive mean shift (Options.Scale; the CPU's model, package
// cluster's comment): point i has a scale s_i and its bandwidth on the first
// m axes is s_i times the base. The host groups the points by scale
// ("levels", at most 16) and pre-scales them: x' = x/s on the first m axes
// (the CPU Grid's float32 product x·(1/s)), x' = x on the others, so that
// within a level the distance is |x' − y'| with y' = y/s likewise and the
// kernel exp(−|x' − y'|²/2) is truncated at r2 as at scale 1. Each point's
// weight arrives multiplied by s^−m. A step is the sample-point (EM) update
//   y_a += Σ q (x − y)_a / s² ÷ Σ q / s²   (a < m),
//   y_a += Σ q (x − y)_a ÷ Σ q             (a ≥ m),
// q = w s^−m exp(−|x' − y'|²/2); with d' = x' − y' (pre-scaled) the sums are
// Σ q·inv·d'_a, Σ q·inv² and Σ q·d'_a, Σ q (inv = 1/s), so every kernel keeps
// one more accumulator (the scaled denominator, after the plain one) and
// multiplies a hit's weight by inv: extra work per hit (a pair inside the
// radius), none per pair. m = 0 is the fixed-bandwidth model: one level of
// scale 1, inv = 1, and every quantity is what it was before scales (the
// products by 1 are exact), bit for bit.
//
// Points are stored struct-of-arrays on the device: coordinate a of point i
// at pts[a*n + i]. Modes are row-major (mode q, axis a at modes[q*D + a]).
// wt is the per-point weight array, or null for weight 1.
//
// Every dimension-dependent kernel exists for D = 1..8 (ms_brute2_<D>,
// ms_brute2s_<D>, ms_fin2_<D>, ms_key2_<D>, ms_grid2_<D>, ms_search_<D>,
// ms_searchb_<D>).
// The first, untiled kernels (ms_brute_<D>, ms_grid_<D>, the "-v1" backends)
// were dropped; git history has them.

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
#define FULL 0xffffffffu

template <int D> struct Pad {
    static const int DP = ((D + 2 + 3) / 4) * 4;
};

// brute2: each thread holds MPT modes (slots k·BT + threadIdx.x of the
// block's BT·MPT active modes); blockIdx.y selects a chunk [p0, p1) of the
// point positions (split over the grid so that few active modes still fill
// the GPU). The host sorts the points of each scale level by cell, starts
// every level at a tile boundary (padding positions have |x'|² = +inf and
// weight 0) and stores them relative to the centre of their PT-position
// tile (ptsRel, struct-of-arrays, pre-scaled units; pn = |x'|²; tc = tile
// centres, tile-major, D values each); tinv[tile] is the tile's 1/s (null:
// 1). Per tile and mode the mode is pre-scaled and centred once
// (y' = y·inv on the first m axes, − c); the pair loop is the fixed-scale
// one. S = false (ms_brute2_<D>, the fixed-bandwidth model: tinv null, m 0)
// leaves out the scaled denominator and the factors (fewer registers);
// S = true is ms_brute2s_<D>. Partial sums (D numerator values relative to y, the denominator and
// the scaled denominator) go to part[(split·nact + t)·(D+2)], summed in
// split order by ms_fin2_* (deterministic).
//
// Instructions per pair, counted in the sm_90 SASS of ms_brute2_5 (ptxas
// 11.8 -O3 on this PTX) along the path taken when no mode of the thread has
// the point inside its radius (the common case), 4-point unrolled loop: per
// point 2 LDS.128 (shared by the MPT = 4 modes), per mode 5 FFMA (the
// distance) and 1 FSETP (the OR chained in: the hit branch re-tests with
// s − thr < 0, so no per-mode predicate stays live through the loop), the
// BSSY/BRA/BSYNC of the rare-hit branch, and the loop's uniform
// bookkeeping: 128 instructions per 16 pairs = 8.0 per pair, 5 of them FFMA,
// an issue-bound ceiling of 62.5 % of FP32 peak at 10 flops per pair
// (before: unroll 2 and 7 FSETP per point, 69 per 8 pairs = 8.6, 58 %).
// ms_brute2s_5: 7.75 per pair; the ms_brute2x8_5 experiment: 6.8.
template <int D, bool S, int MP>
__device__ void brute2(const float *__restrict__ ptsRel, const float *__restrict__ pn,
                       const float *__restrict__ tc, const float *__restrict__ tinv,
                       const float *__restrict__ wt, int n, int chunk, const float *__restrict__ modes,
                       const int *__restrict__ active, int nact, float *__restrict__ part, float r2, int m)
{
    const int DP = Pad<D>::DP;
    __shared__ __align__(16) float sp[PT * DP];
    __shared__ float sy[MP * D][BT]; // the modes (kept out of registers)
    int split = blockIdx.y;
    int p0 = split * chunk;
    int p1 = min(n, p0 + chunk);
    int slot0 = blockIdx.x * (BT * MP) + threadIdx.x;
    float m2[MP][D], acc[MP][D], den[MP], denS[MP], thr[MP], yn[MP];
    bool live[MP];
#pragma unroll
    for (int k = 0; k < MP; k++) {
        int t = slot0 + k * BT;
        live[k] = t < nact;
        int q = live[k] ? active[t] : 0;
#pragma unroll
        for (int a = 0; a < D; a++) {
            sy[k * D + a][threadIdx.x] = live[k] ? modes[(size_t)q * D + a] : 0.f;
            acc[k][a] = 0.f;
        }
        den[k] = 0.f;
        denS[k] = 0.f;
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
        const float inv = S && tinv ? tinv[base / PT] : 1.f;
#pragma unroll
        for (int k = 0; k < MP; k++) {
            float s = 0.f;
#pragma unroll
            for (int a = 0; a < D; a++) {
                float ya = sy[k * D + a][threadIdx.x];
                if (S && a < m)
                    ya *= inv;
                float yr = ya - c[a];
                m2[k][a] = -2.f * yr;
                s = fmaf(yr, yr, s);
            }
            yn[k] = s;
            thr[k] = live[k] ? r2 - s : -1e30f;
        }
        int cnt = (min(PT, p1 - base) + 3) & ~3; // padded tiles: whole groups of 4
#pragma unroll 4
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
            // All MP distances first, then one branch for the rare case
            // that any of them is inside the radius.
            float s[MP];
            bool any = false;
#pragma unroll
            for (int k = 0; k < MP; k++) {
                s[k] = v[D];
#pragma unroll
                for (int a = 0; a < D; a++)
                    s[k] = fmaf(m2[k][a], v[a], s[k]);
                any |= s[k] < thr[k];
            }
            if (any) {
#pragma unroll
                for (int k = 0; k < MP; k++) {
                    // s − thr < 0 ⇔ s < thr (IEEE subtraction is zero only
                    // for equal operands; +inf padding and the dead modes'
                    // −1e30 stay out), written so that the compiler does
                    // not keep MP predicates alive through the hot loop.
                    if (s[k] - thr[k] < 0.f) {
                        float w = __expf(-0.5f * (s[k] + yn[k])) * v[D + 1];
                        den[k] += w;
                        if (S) {
                            float wi = w * inv;
                            denS[k] = fmaf(wi, inv, denS[k]);
#pragma unroll
                            for (int a = 0; a < D; a++)
                                acc[k][a] = fmaf(a < m ? wi : w, fmaf(0.5f, m2[k][a], v[a]), acc[k][a]);
                        } else {
#pragma unroll
                            for (int a = 0; a < D; a++)
                                acc[k][a] = fmaf(w, fmaf(0.5f, m2[k][a], v[a]), acc[k][a]);
                        }
                    }
                }
            }
        }
    }
#pragma unroll
    for (int k = 0; k < MP; k++) {
        int t = slot0 + k * BT;
        if (live[k]) {
            float *o = &part[((size_t)split * nact + t) * (D + 2)];
#pragma unroll
            for (int a = 0; a < D; a++)
                o[a] = acc[k][a];
            o[D] = den[k];
            o[D + 1] = S ? denS[k] : den[k];
        }
    }
}

// moveMode applies one step to y from the sums s (D numerators relative to
// y, the denominator, the scaled denominator; m scaled axes) and returns
// whether the mode keeps moving (step² ≥ tol2); no point within the radius
// (a zero denominator) leaves y put and stops it.
template <int D>
__device__ __forceinline__ bool moveMode(float *y, const float *s, int m, float tol2)
{
    if (!(s[D] > 0.f) || (m > 0 && !(s[D + 1] > 0.f)))
        return false;
    float invd = 1.f / s[D];
    float invs = m > 0 ? 1.f / s[D + 1] : invd;
    float step2 = 0.f;
#pragma unroll
    for (int a = 0; a < D; a++) {
        float sh = s[a] * (a < m ? invs : invd);
        step2 = fmaf(sh, sh, step2);
        y[a] += sh;
    }
    return step2 >= tol2;
}

// fin2: sums the nsplit partial sums of active mode t (in split order),
// moves the mode, and appends it to next when it keeps moving.
template <int D>
__device__ void fin2(const float *__restrict__ part, int nsplit, int nact, float *__restrict__ modes,
                     const int *__restrict__ active, int *__restrict__ next, int *__restrict__ count, float tol2,
                     int m)
{
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    bool moving = false;
    int q = 0;
    if (t < nact) {
        q = active[t];
        float acc[D + 2];
#pragma unroll
        for (int a = 0; a < D + 2; a++)
            acc[a] = 0.f;
        for (int s = 0; s < nsplit; s++) {
            const float *p = &part[((size_t)s * nact + t) * (D + 2)];
#pragma unroll
            for (int a = 0; a < D + 2; a++)
                acc[a] += p[a];
        }
        float y[D];
#pragma unroll
        for (int a = 0; a < D; a++)
            y[a] = modes[(size_t)q * D + a];
        moving = moveMode<D>(y, acc, m, tol2);
#pragma unroll
        for (int a = 0; a < D; a++)
            modes[(size_t)q * D + a] = y[a];
    }
    int slot = countAlive(moving, count);
    if (moving)
        next[slot] = q;
}

// Level is one scale level's cell list (the host's cells.LevelGrid;
// internal/cluster/cuda/prep.go packs it, deviceLevel): nc cells per axis on
// the first min(D, 3) axes from lo, side cell (invCell = 1/cell),
// pre-scaled units; the level's cell starts begin at start[cellBase]; the
// range [bblo, bbhi] of its pre-scaled points on those axes; inv = 1/s. The
// exact search's key layout (the cells its moving modes are sorted by) is a
// Level too (cellBase 0, no range used).
struct Level {
    int nc[3];
    int cellBase;
    float lo[3];
    float invCell;
    float bblo[3];
    float inv;
    float bbhi[3];
    float cell;
};

// RMARGIN widens the truncation radius for the cell ranges and the
// bounding-box test, so that the float32 rounding of a position or of the
// expanded-form distance can never drop a point inside the radius.
#define RMARGIN 1.001f

__device__ __forceinline__ int cellClamp(float v, float lo, float invCell, int nc)
{
    return max(0, min((int)floorf((v - lo) * invCell), nc - 1));
}

// levelCell returns the cell (x fastest) of the pre-scaled position y in
// the layout L.
template <int D>
__device__ __forceinline__ int levelCell(const Level &L, const float *y)
{
    int c = cellClamp(y[0], L.lo[0], L.invCell, L.nc[0]);
    if (D > 1)
        c += L.nc[0] * cellClamp(y[D > 1 ? 1 : 0], L.lo[1], L.invCell, L.nc[1]);
    if (D > 2)
        c += L.nc[0] * L.nc[1] * cellClamp(y[D > 2 ? 2 : 0], L.lo[2], L.invCell, L.nc[2]);
    return c;
}

// levelRange reports whether a point of level L can lie within rm of the
// pre-scaled position y (bounding-box test on the cell axes) and sets
// [c0[a], c1[a]] to the cells on axis a that hold every point within rm
// (one cell on the axes beyond min(D, 3)).
template <int D>
__device__ __forceinline__ bool levelRange(const Level &L, const float *y, float rm, int *c0, int *c1)
{
    float gap2 = 0.f;
#pragma unroll
    for (int a = 0; a < 3; a++) {
        c0[a] = 0;
        c1[a] = 0;
        if (a < D) {
            float v = y[a < D ? a : 0];
            float g = fmaxf(fmaxf(L.bblo[a] - v, v - L.bbhi[a]), 0.f);
            gap2 = fmaf(g, g, gap2);
            c0[a] = cellClamp(v - rm, L.lo[a], L.invCell, L.nc[a]);
            c1[a] = cellClamp(v + rm, L.lo[a], L.invCell, L.nc[a]);
        }
    }
    return gap2 < rm * rm;
}

// preScale sets yl to y with its first m axes times inv.
template <int D>
__device__ __forceinline__ void preScale(const float *y, float *yl, float inv, int m)
{
#pragma unroll
    for (int a = 0; a < D; a++)
        yl[a] = a < m ? y[a] * inv : y[a];
}

// key2: cell of every active mode in the key layout (the mode pre-scaled by
// key->inv on the first m axes); hist[cell] counts them and rank is the
// mode's slot within its cell (hist zeroed by the host).
template <int D>
__device__ void key2(const float *__restrict__ modes, const int *__restrict__ active, int nact,
                     const Level *__restrict__ key, int m, int *__restrict__ keyOut, int *__restrict__ rank,
                     int *__restrict__ hist)
{
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= nact)
        return;
    const Level K = *key;
    int q = active[t];
    float y[D], yl[D];
#pragma unroll
    for (int a = 0; a < D; a++)
        y[a] = modes[(size_t)q * D + a];
    preScale<D>(y, yl, K.inv, m);
    int c = levelCell<D>(K, yl);
    keyOut[t] = c;
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

// accumRange adds to pa (D numerator values relative to y, the denominator,
// the scaled denominator) the kernel-weighted points [b, e) that thread tl
// of the LS threads sharing the work owns (b+tl, b+tl+LS, …), direct
// |x−y|² on pre-scaled coordinates (y pre-scaled for the points' level, of
// scale 1/inv; m scaled axes); four points per thread are loaded before any
// is used, so that one warp alone keeps several loads in flight.
template <int D, int LS>
__device__ __forceinline__ void accumRange(const float *__restrict__ pts, const float *__restrict__ wt, int n,
                                           int b, int e, int tl, const float *y, float *pa, float r2,
                                           float inv, int m)
{
    for (int i0 = b + tl; i0 < e; i0 += 4 * LS) {
        float p[4][D];
        bool ok[4];
#pragma unroll
        for (int u = 0; u < 4; u++) {
            int i = i0 + LS * u;
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
                    wgt *= __ldg(&wt[i0 + LS * u]);
                float wi = wgt * inv;
                pa[D] += wgt;
                pa[D + 1] = fmaf(wi, inv, pa[D + 1]);
#pragma unroll
                for (int a = 0; a < D; a++)
                    pa[a] = fmaf(a < m ? wi : wgt, d[a], pa[a]);
            }
        }
    }
}

// accumLevels adds to pa the sums of all the levels around the base-unit
// position y (every level's cells within RMARGIN·R of y pre-scaled; levels
// whose points all lie farther are skipped), thread tl of LS.
template <int D, int LS>
__device__ __forceinline__ void accumLevels(const float *__restrict__ pts, const float *__restrict__ wt, int n,
                                            const int *__restrict__ start, const Level *__restrict__ lev,
                                            int nlev, int tl, const float *y, float *pa, float r2, float rm,
                                            int m)
{
    for (int l = 0; l < nlev; l++) {
        const Level L = lev[l];
        float yl[D];
        preScale<D>(y, yl, L.inv, m);
        int c0[3], c1[3];
        if (!levelRange<D>(L, yl, rm, c0, c1))
            continue;
        for (int zz = c0[2]; zz <= c1[2]; zz++) {
            for (int yy = c0[1]; yy <= c1[1]; yy++) {
                int row = L.cellBase + L.nc[0] * (yy + L.nc[1] * zz);
                accumRange<D, LS>(pts, wt, n, start[row + c0[0]], start[row + c1[0] + 1], tl, yl, pa, r2, L.inv,
                                  m);
            }
        }
    }
}

__device__ __forceinline__ int warpMin(int v)
{
#pragma unroll
    for (int off = 16; off > 0; off >>= 1)
        v = min(v, __shfl_xor_sync(FULL, v, off));
    return v;
}

__device__ __forceinline__ int warpMax(int v)
{
#pragma unroll
    for (int off = 16; off > 0; off >>= 1)
        v = max(v, __shfl_xor_sync(FULL, v, off));
    return v;
}

// grid2: one warp per chunk of ≤ 32 active modes of one cell of the key
// layout (the modes sorted by cell: sorted[cellStart[c] .. cellStart[c+1])).
// For every scale level the warp walks the union of its lanes' cell ranges
// (levelRange) as rows of contiguous points, staging 32 points at a time in
// its slice of shared memory; every lane tests its mode against them.
// Coordinates are taken relative to the key cell's centre (converted to the
// level's pre-scaled units) on the cell axes and to cmid on the others, and
// each lane meets the points within its radius in the same order whatever
// the union, so a mode's result does not depend on which other modes share
// its warp (deterministic).
template <int D>
__device__ void grid2(const float *__restrict__ pts, const float *__restrict__ wt, int n,
                      const int *__restrict__ start, const Level *__restrict__ key, const Level *__restrict__ lev,
                      int nlev, int m, const float *__restrict__ cmid, const int *__restrict__ sorted,
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
    const Level K = *key;
    int cx = c % K.nc[0], cy = (c / K.nc[0]) % K.nc[1], cz = c / (K.nc[0] * K.nc[1]);
    // The local centre in base units: the key cell's centre on the cell
    // axes (key units are base·K.inv on the first m axes), cmid elsewhere.
    float cb[D];
#pragma unroll
    for (int a = 0; a < D; a++)
        cb[a] = cmid[a];
    cb[0] = K.lo[0] + (cx + 0.5f) * K.cell;
    if (D > 1)
        cb[D > 1 ? 1 : 0] = K.lo[1] + (cy + 0.5f) * K.cell;
    if (D > 2)
        cb[D > 2 ? 2 : 0] = K.lo[2] + (cz + 0.5f) * K.cell;
#pragma unroll
    for (int a = 0; a < (D < 3 ? D : 3); a++)
        if (a < m)
            cb[a] = __fdividef(cb[a], K.inv); // any fixed centre will do: no IEEE division (a call)
    float y[D], acc[D + 2];
#pragma unroll
    for (int a = 0; a < D; a++)
        y[a] = live ? modes[(size_t)q * D + a] : 0.f;
#pragma unroll
    for (int a = 0; a < D + 2; a++)
        acc[a] = 0.f;
    const float rm = r2 * rsqrtf(r2) * RMARGIN; // ≥ R: rsqrtf errs by ~1e-7, no IEEE sqrt call
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
            float yu[D], pa[D + 2];
#pragma unroll
            for (int a = 0; a < D; a++)
                yu[a] = modes[(size_t)qu * D + a];
#pragma unroll
            for (int a = 0; a < D + 2; a++)
                pa[a] = 0.f;
            accumLevels<D, 32>(pts, wt, n, start, lev, nlev, lane, yu, pa, r2, rm, m);
#pragma unroll
            for (int off = 16; off > 0; off >>= 1) {
#pragma unroll
                for (int a = 0; a < D + 2; a++)
                    pa[a] += __shfl_xor_sync(FULL, pa[a], off);
            }
            if (lane == u) {
#pragma unroll
                for (int a = 0; a < D + 2; a++)
                    acc[a] = pa[a];
            }
        }
    } else {
        for (int l = 0; l < nlev; l++) {
            const Level L = lev[l];
            const float inv = L.inv;
            float yl[D], cl[D];
            preScale<D>(y, yl, inv, m);
            preScale<D>(cb, cl, inv, m);
            int c0[3], c1[3];
            bool in = levelRange<D>(L, yl, rm, c0, c1) && live;
            if (!__any_sync(FULL, in))
                continue; // no lane has a point of this level within reach
#pragma unroll
            for (int a = 0; a < 3; a++) {
                c0[a] = warpMin(in ? c0[a] : 0x7fffffff);
                c1[a] = warpMax(in ? c1[a] : -1);
            }
            float m2[D], yn = 0.f;
#pragma unroll
            for (int a = 0; a < D; a++) {
                float yr = yl[a] - cl[a];
                m2[a] = -2.f * yr;
                yn = fmaf(yr, yr, yn);
            }
            const float thr = in ? r2 - yn : -1e30f;
            for (int zz = c0[2]; zz <= c1[2]; zz++) {
                for (int yy = c0[1]; yy <= c1[1]; yy++) {
                    int row = L.cellBase + L.nc[0] * (yy + L.nc[1] * zz);
                    int b = start[row + c0[0]], e = start[row + c1[0] + 1];
                    for (int base = b; base < e; base += 32) {
                        int i = base + lane;
                        float *dst = &tile[lane * DP];
                        if (i < e) {
                            float s = 0.f;
#pragma unroll
                            for (int a = 0; a < D; a++) {
                                float v = __ldg(&pts[(size_t)a * n + i]) - cl[a];
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
                        if (in) {
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
                                            float wi = wgt * inv;
                                            acc[D] += wgt;
                                            acc[D + 1] = fmaf(wi, inv, acc[D + 1]);
#pragma unroll
                                            for (int a = 0; a < D; a++)
                                                acc[a] = fmaf(a < m ? wi : wgt, fmaf(0.5f, m2[a], v[h][a]),
                                                              acc[a]);
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
    }
    bool moving = false;
    if (live) {
        moving = moveMode<D>(y, acc, m, tol2);
#pragma unroll
        for (int a = 0; a < D; a++)
            modes[(size_t)q * D + a] = y[a];
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
// depend on scheduling. One warp runs one search (ms_search_<D>), or, in the
// small early rounds, one block of SB threads (ms_searchb_<D>: 8 warps share
// each step's points, so that a round of a few hundred searches, whose time
// is that of its longest search, takes fewer cycles per step); the threads
// share the points of every level's cells around the mode (direct |x−y|²,
// fixed-order reductions).
//
// The host launches a whole round (search, ins1, ids, ins2, resolve) and
// the next ones without waiting: the kernels keep their state on the
// device in cnt[5] = {arena entries of the round, flags (1: the round's
// paths overflowed the arena, 2: the table is full), modes so far, largest
// step count, the round that overflowed}. A set flag makes every later
// kernel return at once; the host reads cnt after the last round, and
// redoes the search from the round that overflowed with a larger arena
// (nothing of that round was published) or, with a full table, runs the
// exact search instead.

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

#define SB 256 // threads (one search) per block of ms_searchb_*

// stopped reports (uniformly over the warp, or over the block when
// block != 0) whether an earlier kernel or search set a flag in cnt[1].
__device__ __forceinline__ bool stopped(const int *cnt, bool block)
{
    bool f = *(const volatile int *)&cnt[1] != 0;
    return block ? __syncthreads_or(f) != 0 : __any_sync(FULL, f);
}

// search: search sid (a warp when WPS = 1, a block of 32·WPS threads
// otherwise) runs the mode search of q = round[sid] from its current
// position. found[sid] = the mode id adopted from the table, or -1 with the
// converged position in ypos[sid]; its boxes go to the arena (keys and the
// owner sid) at offsets counted in cnt[0] (overflow past acap sets flag 1
// and cnt[4] = roundIdx); cnt[3] gets the largest step count. qtp points to
// the box quantiser (in device memory: gorgonia.org/cu passes kernel
// arguments of 8 bytes only).
template <int D, int WPS>
__device__ void search(const float *__restrict__ pts, const float *__restrict__ wt, int n,
                       const int *__restrict__ start, const Level *__restrict__ lev, int nlev, int m,
                       const float *__restrict__ modes, const int *__restrict__ round, int nround, int roundIdx,
                       const unsigned long long *__restrict__ tkey, const int *__restrict__ tval, unsigned mask,
                       const Quant *__restrict__ qtp, int *__restrict__ found, float *__restrict__ ypos,
                       unsigned long long *__restrict__ akey, int *__restrict__ aown, int acap, int *cnt, float r2,
                       float tol2, int maxIter)
{
    const int LS = 32 * WPS;
    __shared__ unsigned long long path[WPS == 1 ? BT / 32 : 1][PATHCAP];
    __shared__ float red[WPS][D + 2];
    __shared__ int soff;
    const int lane = threadIdx.x & 31;
    const int wib = threadIdx.x >> 5;
    const int sid = WPS == 1 ? (blockIdx.x * blockDim.x + threadIdx.x) >> 5 : blockIdx.x;
    const int tl = WPS == 1 ? lane : threadIdx.x;
    if (sid >= nround)
        return; // the whole warp (WPS = 1) or block
    if (stopped(cnt, WPS > 1))
        return;
    unsigned long long *mypath = path[WPS == 1 ? wib : 0];
    const Quant qt = *qtp;
    const float rm = r2 * rsqrtf(r2) * RMARGIN; // ≥ R: rsqrtf errs by ~1e-7, no IEEE sqrt call
    int q = round[sid];
    float y[D];
#pragma unroll
    for (int a = 0; a < D; a++)
        y[a] = modes[(size_t)q * D + a];
    int plen = 0, it = 0, id = -1;
    unsigned long long lastk = EMPTYKEY;
    bool done = false;
    for (;;) {
        unsigned long long k = boxKey<D>(y, qt);
        int slot = lookup(tkey, mask, k, lane); // every warp of the search: the same answer
        if (slot >= 0) {
            id = tval[slot];
            break;
        }
        if ((plen == 0 || lastk != k) && plen < PATHCAP) {
            if (tl == 0)
                mypath[plen] = k;
            plen++;
            lastk = k;
        }
        if (done || it >= maxIter)
            break;
        it++;
        float pa[D + 2];
#pragma unroll
        for (int a = 0; a < D + 2; a++)
            pa[a] = 0.f;
        accumLevels<D, LS>(pts, wt, n, start, lev, nlev, tl, y, pa, r2, rm, m);
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) {
#pragma unroll
            for (int a = 0; a < D + 2; a++)
                pa[a] += __shfl_xor_sync(FULL, pa[a], off);
        }
        if (WPS > 1) { // the warps' sums in warp order: every thread gets the same step
            if (lane == 0) {
#pragma unroll
                for (int a = 0; a < D + 2; a++)
                    red[wib][a] = pa[a];
            }
            __syncthreads();
#pragma unroll
            for (int a = 0; a < D + 2; a++) {
                float s = 0.f;
#pragma unroll
                for (int u = 0; u < WPS; u++)
                    s += red[u][a];
                pa[a] = s;
            }
            __syncthreads();
        }
        done = !moveMode<D>(y, pa, m, tol2);
    }
    if (WPS == 1)
        __syncwarp();
    else
        __syncthreads();
    int off = 0;
    if (tl == 0)
        off = atomicAdd(&cnt[0], plen);
    if (WPS == 1) {
        off = __shfl_sync(FULL, off, 0);
    } else {
        if (tl == 0)
            soff = off;
        __syncthreads();
        off = soff;
    }
    if (off + plen > acap) {
        if (tl == 0) {
            cnt[4] = roundIdx;
            __threadfence();
            atomicOr(&cnt[1], 1);
        }
    } else {
        for (int j = tl; j < plen; j += LS) {
            akey[off + j] = mypath[j];
            aown[off + j] = sid;
        }
    }
    if (tl == 0) {
        found[sid] = id;
        atomicMax(&cnt[3], it);
    }
    if (tl < D)
        ypos[(size_t)sid * D + tl] = y[tl];
}

// ins1: every arena entry (cnt[0] of them; grid-stride) claims its box for
// the earliest search (round order) that passed through it; boxes of
// earlier rounds (owner PUBLISHED) keep theirs. A full table sets flag 2.
extern "C" __global__ void ms_ins1(const unsigned long long *__restrict__ akey, const int *__restrict__ aown,
                                   int *cnt, unsigned long long *__restrict__ tkey, int *__restrict__ town,
                                   unsigned mask)
{
    if (*(const volatile int *)&cnt[1] != 0)
        return;
    int na = cnt[0];
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < na; e += gridDim.x * blockDim.x) {
        unsigned long long k = akey[e];
        unsigned h = (unsigned)mix64(k) & mask;
        bool placed = false;
        for (unsigned j = 0; j <= mask; j++) {
            unsigned slot = (h + j) & mask;
            unsigned long long cur = tkey[slot];
            if (cur == EMPTYKEY)
                cur = atomicCAS(&tkey[slot], EMPTYKEY, k);
            if (cur == EMPTYKEY || cur == k) {
                atomicMin(&town[slot], aown[e]);
                placed = true;
                break;
            }
        }
        if (!placed)
            atomicOr(&cnt[1], 2);
    }
}

// ins2: the winning entry of each box writes the mode id of its search
// (newid[owner]) and marks the box published (grid-stride over cnt[0]).
extern "C" __global__ void ms_ins2(const unsigned long long *__restrict__ akey, const int *__restrict__ aown,
                                   const int *cnt, const unsigned long long *__restrict__ tkey,
                                   int *__restrict__ town, int *__restrict__ tval, unsigned mask,
                                   const int *__restrict__ newid)
{
    if (cnt[1] != 0)
        return;
    int na = cnt[0];
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < na; e += gridDim.x * blockDim.x) {
        unsigned long long k = akey[e];
        unsigned h = (unsigned)mix64(k) & mask;
        for (unsigned j = 0; j <= mask; j++) {
            unsigned slot = (h + j) & mask;
            unsigned long long cur = tkey[slot];
            if (cur == k) {
                int r = aown[e];
                if (atomicCAS(&town[slot], r, PUBLISHED) == r)
                    tval[slot] = newid[r];
                break;
            }
            if (cur == EMPTYKEY)
                break; // cannot happen after ms_ins1
        }
    }
}

// ids (one block of 1024 threads): newid[w] = found[w] for searches that
// adopted a mode, else the next new id in round order (starting at cnt[2],
// which it advances); new modes' positions go to modePos.
extern "C" __global__ void ms_ids(const int *__restrict__ found, int nround, int *__restrict__ newid, int *cnt,
                                  const float *__restrict__ ypos, float *__restrict__ modePos, int dim)
{
    __shared__ int sa[1024];
    if (cnt[1] != 0)
        return; // uniform: nothing else runs
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
    int base = cnt[2];
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
        cnt[2] = base + sa[1023];
}

// resolve: every search of the round takes its mode's position; the round
// is done, so thread 0 clears the arena count for the next one.
extern "C" __global__ void ms_resolve(const int *__restrict__ round, int nround, const int *__restrict__ newid,
                                      const float *__restrict__ modePos, float *__restrict__ modes, int dim,
                                      int *cnt)
{
    if (cnt[1] != 0)
        return;
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t == 0)
        cnt[0] = 0;
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
        ms_brute2_##D(const float *ptsRel, const float *pn, const float *tc, const float *tinv,        \
                      const float *wt, int n, int chunk, const float *modes, const int *active,         \
                      int nact, float *part, float r2, int m)                                           \
    {                                                                                                   \
        brute2<D, false, MPT>(ptsRel, pn, tc, tinv, wt, n, chunk, modes, active, nact, part, r2, m);    \
    }                                                                                                   \
    extern "C" __global__ void __launch_bounds__(BT)                                                   \
        ms_brute2s_##D(const float *ptsRel, const float *pn, const float *tc, const float *tinv,       \
                       const float *wt, int n, int chunk, const float *modes, const int *active,        \
                       int nact, float *part, float r2, int m)                                          \
    {                                                                                                   \
        brute2<D, true, MPT>(ptsRel, pn, tc, tinv, wt, n, chunk, modes, active, nact, part, r2, m);     \
    }                                                                                                   \
    extern "C" __global__ void ms_fin2_##D(const float *part, int nsplit, int nact, float *modes,       \
                                           const int *active, int *next, int *count, float tol2, int m) \
    {                                                                                                   \
        fin2<D>(part, nsplit, nact, modes, active, next, count, tol2, m);                               \
    }                                                                                                   \
    extern "C" __global__ void ms_key2_##D(const float *modes, const int *active, int nact,             \
                                           const Level *key, int m, int *keyOut, int *rank, int *hist)  \
    {                                                                                                   \
        key2<D>(modes, active, nact, key, m, keyOut, rank, hist);                                       \
    }                                                                                                   \
    extern "C" __global__ void __launch_bounds__(BT)                                                   \
        ms_grid2_##D(const float *pts, const float *wt, int n, const int *start, const Level *key,      \
                     const Level *lev, int nlev, int m, const float *cmid, const int *sorted,           \
                     const int *cellStart, const int *chunkStart, int ncell, float *modes, int *next,   \
                     int *count, float r2, float tol2)                                                  \
    {                                                                                                   \
        grid2<D>(pts, wt, n, start, key, lev, nlev, m, cmid, sorted, cellStart, chunkStart, ncell,      \
                 modes, next, count, r2, tol2);                                                         \
    }                                                                                                   \
    extern "C" __global__ void __launch_bounds__(BT)                                                   \
        ms_search_##D(const float *pts, const float *wt, int n, const int *start, const Level *lev,     \
                      int nlev, int m, const float *modes, const int *round, int nround, int roundIdx,  \
                      const unsigned long long *tkey, const int *tval, unsigned mask, const Quant *qt,  \
                      int *found, float *ypos, unsigned long long *akey, int *aown, int acap, int *cnt, \
                      float r2, float tol2, int maxIter)                                                \
    {                                                                                                   \
        search<D, 1>(pts, wt, n, start, lev, nlev, m, modes, round, nround, roundIdx, tkey, tval, mask, \
                     qt, found, ypos, akey, aown, acap, cnt, r2, tol2, maxIter);                        \
    }                                                                                                   \
    extern "C" __global__ void __launch_bounds__(SB)                                                   \
        ms_searchb_##D(const float *pts, const float *wt, int n, const int *start, const Level *lev,    \
                       int nlev, int m, const float *modes, const int *round, int nround, int roundIdx, \
                       const unsigned long long *tkey, const int *tval, unsigned mask, const Quant *qt, \
                       int *found, float *ypos, unsigned long long *akey, int *aown, int acap,          \
                       int *cnt, float r2, float tol2, int maxIter)                                     \
    {                                                                                                   \
        search<D, SB / 32>(pts, wt, n, start, lev, nlev, m, modes, round, nround, roundIdx, tkey, tval, \
                           mask, qt, found, ypos, akey, aown, acap, cnt, r2, tol2, maxIter);            \
    }

MS_KERNELS2(1)
MS_KERNELS2(2)
MS_KERNELS2(3)
MS_KERNELS2(4)
MS_KERNELS2(5)
MS_KERNELS2(6)
MS_KERNELS2(7)
MS_KERNELS2(8)

// An experiment for the benchmark only (cuda-brute-mpt8, D = 5, fixed
// bandwidth): 8 modes per thread instead of 4, so that the two shared loads,
// the branch and the loop counter of every point are shared by 8 pairs
// (219 instructions per 32 pairs = 6.8 in sm_90 SASS instead of 8.0, 73 %
// FFMA; but 128 registers instead of 71, so 3 resident blocks per
// multiprocessor instead of 7). The backends do not use it unless a
// measurement says it is faster.
extern "C" __global__ void __launch_bounds__(BT)
    ms_brute2x8_5(const float *ptsRel, const float *pn, const float *tc, const float *tinv, const float *wt, int n,
                  int chunk, const float *modes, const int *active, int nact, float *part, float r2, int m)
{
    brute2<5, false, 8>(ptsRel, pn, tc, tinv, wt, n, chunk, modes, active, nact, part, r2, m);
}
