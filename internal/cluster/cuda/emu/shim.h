// shim.h — just enough of CUDA C++ to compile ../kernels/meanshift.cu as
// plain C++ for cuemu.cpp, the CPU emulator of lungctl's kernels (a fake
// libcuda.so.1 for running the lungcuda tests without a GPU; see
// scripts/gpu-check.sh --emulate). Every CUDA thread is a fiber; warp
// collectives and __syncthreads are rendezvous of the warp's or block's live
// fibers, checked for matching call sites (a divergent collective or
// barrier is reported, not papered over). Blocks run one after another, so
// __shared__ variables are function statics.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#define __device__
#define __global__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct emu_dim3 {
    unsigned x, y, z;
};

// The CUDA thread the calling fiber runs.
struct EmuThread {
    emu_dim3 tid, bid, bdim, gdim;
};
extern EmuThread *emu_cur;
#define threadIdx (emu_cur->tid)
#define blockIdx (emu_cur->bid)
#define blockDim (emu_cur->bdim)
#define gridDim (emu_cur->gdim)

struct __attribute__((aligned(16))) float4 {
    float x, y, z, w;
};

inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }

inline float __expf(float x) { return expf(x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __int_as_float(int i)
{
    float f;
    memcpy(&f, &i, 4);
    return f;
}
template <class T> inline T __ldg(const T *p) { return *p; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline void __threadfence() {}

// Atomics: fibers switch only at collectives, so plain operations are atomic.
inline int atomicAdd(int *p, int v)
{
    int o = *p;
    *p = o + v;
    return o;
}
inline int atomicMin(int *p, int v)
{
    int o = *p;
    *p = v < o ? v : o;
    return o;
}
inline int atomicMax(int *p, int v)
{
    int o = *p;
    *p = v > o ? v : o;
    return o;
}
inline int atomicOr(int *p, int v)
{
    int o = *p;
    *p = o | v;
    return o;
}
inline int atomicCAS(int *p, int cmp, int v)
{
    int o = *p;
    if (o == cmp)
        *p = v;
    return o;
}
inline unsigned long long atomicCAS(unsigned long long *p, unsigned long long cmp, unsigned long long v)
{
    unsigned long long o = *p;
    if (o == cmp)
        *p = v;
    return o;
}

// Collectives (cuemu.cpp). site identifies the call (its source line): all
// participants must reach the same one.
enum EmuOp { EMU_SYNCTHREADS, EMU_SYNCTHREADS_OR, EMU_SYNCWARP, EMU_BALLOT, EMU_ANY, EMU_SHFL, EMU_SHFL_XOR };
uint64_t emu_block_sync(int op, uint64_t v, int site);
// emu_warp returns lane src's value (EMU_SHFL, EMU_SHFL_XOR: src is the
// lane or the xor mask) or the ballot of the values' truth.
uint64_t emu_warp(int op, unsigned mask, uint64_t v, int src, int site);

template <class T> inline uint64_t emu_bits(T v)
{
    uint64_t b = 0;
    memcpy(&b, &v, sizeof(T));
    return b;
}
template <class T> inline T emu_from(uint64_t b)
{
    T v;
    memcpy(&v, &b, sizeof(T));
    return v;
}

#define __syncthreads() ((void)emu_block_sync(EMU_SYNCTHREADS, 0, __LINE__))
#define __syncthreads_or(p) ((int)emu_block_sync(EMU_SYNCTHREADS_OR, (p) != 0, __LINE__))
#define __syncwarp(...) ((void)emu_warp(EMU_SYNCWARP, 0xffffffffu, 0, 0, __LINE__))
#define __ballot_sync(m, p) ((unsigned)emu_warp(EMU_BALLOT, (m), (p) != 0, 0, __LINE__))
#define __any_sync(m, p) (emu_warp(EMU_ANY, (m), (p) != 0, 0, __LINE__) != 0)
#define __shfl_sync(m, v, s) (emu_from<std::remove_cv_t<std::remove_reference_t<decltype(v)>>>(emu_warp(EMU_SHFL, (m), emu_bits(v), (s), __LINE__)))
#define __shfl_xor_sync(m, v, s) (emu_from<std::remove_cv_t<std::remove_reference_t<decltype(v)>>>(emu_warp(EMU_SHFL_XOR, (m), emu_bits(v), (s), __LINE__)))
