//go:build lungcuda

package cuda

// gorgonia.org/cu calls cuInit from its package init and exits the process
// when the driver reports an error (no GPU, driver/library mismatch). A
// lungcuda binary must instead fall back to the CPU with a message, so this
// file defines cuInit in the executable itself: the static linker binds cu's
// call to this definition rather than to libcuda's, which it reaches through
// dlsym(RTLD_NEXT). It records the driver's answer and reports success to
// cu; openCUDA then returns the recorded error, and cluster.SelectBackend("auto")
// falls back to the CPU. (libcuda.so.1 itself must still be present for the
// binary to start: the dynamic loader needs it.)

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <cuda.h>

static CUresult lungctlInitResult = CUDA_SUCCESS;
static int lungctlInitCalled = 0;

CUresult CUDAAPI cuInit(unsigned int flags) {
	CUresult (*real)(unsigned int) = (CUresult (*)(unsigned int))dlsym(RTLD_NEXT, "cuInit");
	lungctlInitCalled = 1;
	if (real == NULL) {
		lungctlInitResult = CUDA_ERROR_NOT_INITIALIZED;
	} else {
		lungctlInitResult = real(flags);
	}
	return CUDA_SUCCESS;
}

static int lungctlCuInitResult(void) { return lungctlInitCalled ? (int)lungctlInitResult : -1; }

static const char *lungctlErrorName(int r) {
	const char *s = NULL;
	if (cuGetErrorName((CUresult)r, &s) != CUDA_SUCCESS || s == NULL)
		return "unknown CUDA error";
	return s;
}
*/
import "C"

import "fmt"

// driverInitError returns why the CUDA driver could not be initialised
// (cuInit's answer, as recorded by the interposed cuInit above), or nil.
func driverInitError() error {
	switch r := int(C.lungctlCuInitResult()); r {
	case 0:
		return nil
	case -1:
		return fmt.Errorf("cuInit was not called (gorgonia.org/cu init did not run)")
	default:
		return fmt.Errorf("cuInit: %s (CUDA driver error %d)", C.GoString(C.lungctlErrorName(C.int(r))), r)
	}
}
