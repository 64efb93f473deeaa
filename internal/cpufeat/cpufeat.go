// Package cpufeat reports the x86-64 instruction-set features that
// lungctl's Go assembly kernels need (classify/nn's GEMM, cluster/simd's
// mean-shift sums), detected once at start-up with CPUID and XGETBV.
package cpufeat

// AVX2FMA reports whether the CPU supports AVX2 and FMA3 and the operating
// system saves the YMM registers (XCR0 bits 1 and 2); false on other
// architectures.
var AVX2FMA = hasAVX2FMA()
