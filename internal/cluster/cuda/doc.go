// Package cuda is lungctl's GPU mean-shift backend (gorgonia.org/cu, cgo,
// the NVIDIA driver's libcuda.so.1). Everything but this comment is behind
// the lungcuda build tag: a lungcuda binary imports the package (cmd/lungctl
// does so in a tagged file), whose init registers the backends "cuda" (cell
// grid, with the path-assisted search) and "cuda-brute" with
// cluster.Register, where cluster.SelectBackend finds them. The kernels are
// kernels/meanshift.cu, committed as PTX (make ptx regenerates it with
// nvcc); the host-side preparation is pure Go in package cluster/cells.
package cuda
