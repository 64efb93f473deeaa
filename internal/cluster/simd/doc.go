// Package simd holds the AVX2/FMA assembly kernel of the mean-shift Grid
// backend (package cluster): the 5-D truncated Gaussian kernel sums over
// runs of struct-of-arrays points. It is a separate package because Go
// assembly cannot live in a package that uses cgo (cluster did under the
// lungcuda build tag; the cgo code now lives in package cluster/cuda). On
// other architectures Available is false and cluster uses its pure-Go loop.
package simd
