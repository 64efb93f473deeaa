// cuemu.cpp — a CPU emulator of lungctl's CUDA kernels behind a fake
// libcuda.so.1, so that the lungcuda tests (the real Go host code, the real
// kernel source) run on a machine without a GPU. Build and use it with
// scripts/gpu-check.sh --emulate. It checks what a GPU run would not
// report: every CUDA thread is a fiber (ucontext), warp collectives and
// __syncthreads are rendezvous of the live fibers of the warp or block,
// and a collective reached at different call sites, by a lane that has
// exited, or never completed (deadlock) aborts with a message. Device
// memory is host memory filled with a garbage pattern when allocated.
// Blocks run one after another and fibers switch only at collectives, so
// it finds no data races and says nothing about speed.
#include "shim.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <ucontext.h>
#include <utility>
#include <vector>

#include "../kernels/meanshift.cu"

EmuThread *emu_cur;

namespace {

[[noreturn]] void fail(const char *what, int site)
{
    fprintf(stderr, "cuemu: %s (meanshift.cu line %d, block %u,%u thread %u)\n", what, site,
            emu_cur ? emu_cur->bid.x : 0, emu_cur ? emu_cur->bid.y : 0, emu_cur ? emu_cur->tid.x : 0);
    abort();
}

const size_t kStack = 64 << 10;

struct Fiber {
    ucontext_t ctx;
    EmuThread t;
    bool done = false;
    std::vector<char> stack;
};

// Rendezvous state of a warp or of the block.
struct Rendezvous {
    int arrived = 0;
    int site = -1;
    int op = -1;
    uint64_t gen = 0;
    uint64_t in[1024];
    uint64_t out[1024];
};

struct BlockRun {
    std::vector<Fiber> f;
    int n = 0;
    int live = 0;
    Rendezvous block;
    std::vector<Rendezvous> warp;
    std::vector<int> warpLive;
    ucontext_t sched;
    int cur = -1;
    void (*body)(void **) = nullptr;
    void **params = nullptr;
    uint64_t events = 0;
};

BlockRun *run;

void complete(Rendezvous &r, int lo, int hi);

// yieldUntil switches back to the scheduler until rendezvous r's
// generation passes gen.
void yieldUntil(Rendezvous &r, uint64_t gen)
{
    while (r.gen == gen)
        swapcontext(&run->f[run->cur].ctx, &run->sched);
}

// tryComplete finishes rendezvous r (of threads [lo, hi)) when every live
// thread there has arrived.
void tryComplete(Rendezvous &r, int lo, int hi, bool isWarp)
{
    if (r.arrived == 0)
        return;
    int live = 0;
    for (int i = lo; i < hi; i++)
        live += !run->f[i].done;
    if (r.arrived == live)
        complete(r, lo, hi);
}

void complete(Rendezvous &r, int lo, int hi)
{
    // out: every participant's input (an exited lane's slot is poisoned);
    // the reductions are computed by the readers.
    for (int i = lo; i < hi; i++)
        r.out[i - lo] = r.in[i - lo];
    r.arrived = 0;
    r.site = -1;
    r.gen++;
    run->events++;
}

void trampoline()
{
    run->body(run->params);
    Fiber &me = run->f[run->cur];
    me.done = true;
    run->live--;
    run->events++;
    int t = run->cur;
    int w = t / 32;
    // An exit may complete a rendezvous the others wait at.
    tryComplete(run->warp[w], w * 32, min(run->n, w * 32 + 32), true);
    tryComplete(run->block, 0, run->n, false);
    swapcontext(&me.ctx, &run->sched);
}

void launchBlock(void (*body)(void **), void **params, emu_dim3 bid, emu_dim3 bdim, emu_dim3 gdim)
{
    static BlockRun br;
    run = &br;
    int n = bdim.x * bdim.y * bdim.z;
    if (n > 1024)
        fail("block of more than 1024 threads", 0);
    br.n = n;
    br.live = n;
    br.body = body;
    br.params = params;
    br.block = Rendezvous();
    br.warp.assign((n + 31) / 32, Rendezvous());
    if ((int)br.f.size() < n)
        br.f.resize(n);
    for (int i = 0; i < n; i++) {
        Fiber &f = br.f[i];
        f.done = false;
        f.t.tid = {(unsigned)i % bdim.x, (unsigned)(i / bdim.x) % bdim.y, (unsigned)(i / (bdim.x * bdim.y))};
        f.t.bid = bid;
        f.t.bdim = bdim;
        f.t.gdim = gdim;
        if (f.stack.empty())
            f.stack.resize(kStack);
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = f.stack.data();
        f.ctx.uc_stack.ss_size = kStack;
        f.ctx.uc_link = nullptr;
        makecontext(&f.ctx, trampoline, 0);
    }
    while (br.live > 0) {
        uint64_t before = br.events;
        bool resumed = false;
        for (int i = 0; i < n; i++) {
            if (br.f[i].done)
                continue;
            br.cur = i;
            emu_cur = &br.f[i].t;
            resumed = true;
            swapcontext(&br.sched, &br.f[i].ctx);
        }
        if (resumed && br.events == before) {
            emu_cur = nullptr;
            fprintf(stderr, "cuemu: deadlock: %d threads of block %u,%u wait at a barrier or collective that cannot complete (block barrier site %d, %d arrived)\n",
                    br.live, bid.x, bid.y, br.block.site, br.block.arrived);
            for (size_t w = 0; w < br.warp.size(); w++)
                if (br.warp[w].arrived)
                    fprintf(stderr, "cuemu:   warp %zu: collective at line %d, %d arrived\n", w, br.warp[w].site, br.warp[w].arrived);
            abort();
        }
    }
    emu_cur = nullptr;
}

} // namespace

// arrive records this thread's input at rendezvous r (threads [lo, hi)),
// waits for the others and returns the rendezvous' generation it joined.
static uint64_t arrive(Rendezvous &r, int lo, int hi, int op, uint64_t v, int site, bool isWarp)
{
    int me = run->cur;
    if (r.arrived == 0) {
        r.site = site;
        r.op = op;
    } else if (r.site != site || r.op != op) {
        char msg[160];
        snprintf(msg, sizeof msg, "threads meet at different %s (lines %d and %d)", isWarp ? "warp collectives" : "barriers",
                 r.site, site);
        fail(msg, site);
    }
    r.in[me - lo] = v;
    r.arrived++;
    run->events++;
    uint64_t gen = r.gen;
    tryComplete(r, lo, hi, isWarp);
    yieldUntil(r, gen);
    emu_cur = &run->f[me].t;
    return gen;
}

uint64_t emu_block_sync(int op, uint64_t v, int site)
{
    Rendezvous &r = run->block;
    arrive(r, 0, run->n, op, v, site, false);
    if (op == EMU_SYNCTHREADS_OR) {
        uint64_t any = 0;
        for (int i = 0; i < run->n; i++)
            if (!run->f[i].done)
                any |= r.out[i] != 0;
        // An exited thread's stale slot must not count: done threads were
        // skipped above.
        return any;
    }
    return 0;
}

uint64_t emu_warp(int op, unsigned mask, uint64_t v, int src, int site)
{
    int me = run->cur;
    int w = me / 32, lane = me % 32;
    int lo = w * 32, hi = min(run->n, lo + 32);
    if (mask != 0xffffffffu)
        fail("warp collective with a partial mask (not used by meanshift.cu)", site);
    for (int i = lo; i < hi; i++)
        if (run->f[i].done)
            fail("warp collective with a full mask after a lane of the warp exited", site);
    if (hi - lo != 32)
        fail("warp collective in a partial warp", site);
    Rendezvous &r = run->warp[w];
    arrive(r, lo, hi, op, v, site, true);
    switch (op) {
    case EMU_SYNCWARP:
        return 0;
    case EMU_BALLOT: {
        uint64_t b = 0;
        for (int i = 0; i < 32; i++)
            b |= (uint64_t)(r.out[i] != 0) << i;
        return b;
    }
    case EMU_ANY: {
        for (int i = 0; i < 32; i++)
            if (r.out[i] != 0)
                return 1;
        return 0;
    }
    case EMU_SHFL:
        return r.out[src & 31];
    case EMU_SHFL_XOR:
        return r.out[(lane ^ src) & 31];
    }
    fail("unknown collective", site);
}

// ---------------------------------------------------------------------------
// Kernel table: name → invoker that unpacks cuLaunchKernel's parameter
// pointers by the kernel's signature.

namespace {

template <typename... A, size_t... I>
void invokeImpl(void (*fn)(A...), void **p, std::index_sequence<I...>)
{
    fn(*reinterpret_cast<std::remove_reference_t<A> *>(p[I])...);
}

struct Kernel {
    const char *name;
    void (*call)(void **);
};

} // namespace

// One trampoline per kernel, generated by a macro, unpacks the parameters
// by that kernel's signature.
#define EMU_K(name)                                                                        \
    static void emu_call_##name(void **p) { emuInvoke(name, p); }
template <typename... A> static void emuInvoke(void (*fn)(A...), void **p)
{
    invokeImpl(fn, p, std::index_sequence_for<A...>{});
}

#define EMU_KD(D)                                                                          \
    EMU_K(ms_brute2_##D) EMU_K(ms_brute2s_##D) EMU_K(ms_fin2_##D) EMU_K(ms_key2_##D)          \
        EMU_K(ms_grid2_##D) EMU_K(ms_search_##D) EMU_K(ms_searchb_##D)
EMU_KD(1)
EMU_KD(2)
EMU_KD(3)
EMU_KD(4)
EMU_KD(5)
EMU_KD(6)
EMU_KD(7)
EMU_KD(8)
EMU_K(ms_scatter2)
EMU_K(ms_scan2)
EMU_K(ms_ins1)
EMU_K(ms_ins2)
EMU_K(ms_ids)
EMU_K(ms_resolve)
EMU_K(ms_gather)
EMU_K(ms_brute2x8_5)

#define EMU_E(name) {#name, emu_call_##name},
#define EMU_ED(D)                                                                          \
    EMU_E(ms_brute2_##D) EMU_E(ms_brute2s_##D) EMU_E(ms_fin2_##D) EMU_E(ms_key2_##D)          \
        EMU_E(ms_grid2_##D) EMU_E(ms_search_##D) EMU_E(ms_searchb_##D)
static const Kernel kernels[] = {
    EMU_ED(1) EMU_ED(2) EMU_ED(3) EMU_ED(4) EMU_ED(5) EMU_ED(6) EMU_ED(7) EMU_ED(8)
    EMU_E(ms_scatter2) EMU_E(ms_scan2) EMU_E(ms_ins1) EMU_E(ms_ins2) EMU_E(ms_ids) EMU_E(ms_resolve)
    EMU_E(ms_gather) EMU_E(ms_brute2x8_5)
};

// ---------------------------------------------------------------------------
// The driver API subset lungctl's CUDA backend calls (gorgonia.org/cu).

extern "C" {
typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;

static int emuSMs()
{
    const char *s = getenv("CUEMU_SMS");
    return s ? atoi(s) : 4;
}

CUresult cuInit(unsigned) { return 0; }
CUresult cuDriverGetVersion(int *v)
{
    *v = 12000;
    return 0;
}
CUresult cuDeviceGetCount(int *n)
{
    *n = 1;
    return 0;
}
CUresult cuDeviceGet(CUdevice *d, int) { return *d = 0, 0; }
CUresult cuDeviceGetName(char *name, int len, CUdevice)
{
    snprintf(name, len, "lungctl CUDA emulator (CPU)");
    return 0;
}
CUresult cuDevicePrimaryCtxRetain(void **ctx, CUdevice)
{
    static int dummy;
    *ctx = &dummy;
    return 0;
}
CUresult cuCtxSetCurrent(void *) { return 0; }
CUresult cuCtxSynchronize() { return 0; }
CUresult cuModuleLoadData(void **mod, const void *)
{
    static int dummy;
    *mod = &dummy;
    return 0;
}
CUresult cuModuleGetFunction(const Kernel **fn, void *, const char *name)
{
    for (const Kernel &k : kernels)
        if (strcmp(k.name, name) == 0) {
            *fn = &k;
            return 0;
        }
    fprintf(stderr, "cuemu: no kernel %s\n", name);
    return 500; // CUDA_ERROR_NOT_FOUND
}
CUresult cuDeviceGetAttribute(int *v, int attr, CUdevice)
{
    switch (attr) {
    case 16: // multiprocessors
        *v = emuSMs();
        break;
    case 13: // clock rate, kHz
        *v = 1000000;
        break;
    default:
        *v = 0;
    }
    return 0;
}
CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int *n, const Kernel *, int, size_t)
{
    *n = 2;
    return 0;
}
CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t bytes)
{
    void *m = malloc(bytes ? bytes : 1);
    if (!m)
        return 2; // CUDA_ERROR_OUT_OF_MEMORY
    memset(m, 0xa5, bytes); // garbage: the kernels must not read unset memory
    *p = (CUdeviceptr)m;
    return 0;
}
CUresult cuMemFree_v2(CUdeviceptr p)
{
    free((void *)p);
    return 0;
}
CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n)
{
    memcpy((void *)dst, src, n);
    return 0;
}
CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n)
{
    memcpy(dst, (const void *)src, n);
    return 0;
}
CUresult cuMemsetD32_v2(CUdeviceptr p, unsigned v, size_t n)
{
    unsigned *u = (unsigned *)p;
    for (size_t i = 0; i < n; i++)
        u[i] = v;
    return 0;
}
CUresult cuLaunchKernel(const Kernel *k, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned, void *, void **params, void **)
{
    emu_dim3 g{gx, gy, gz}, b{bx, by, bz};
    for (unsigned z = 0; z < gz; z++)
        for (unsigned y = 0; y < gy; y++)
            for (unsigned x = 0; x < gx; x++)
                launchBlock(k->call, params, emu_dim3{x, y, z}, b, g);
    return 0;
}
CUresult cuGetErrorName(CUresult r, const char **s)
{
    static char buf[64];
    snprintf(buf, sizeof buf, "CUEMU_ERROR_%d", r);
    *s = buf;
    return 0;
}
CUresult cuGetErrorString(CUresult r, const char **s) { return cuGetErrorName(r, s); }
}
