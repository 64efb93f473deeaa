// Package cuda is lungctl's GPU mean-shift backend (gorgonia.org/cu, cgo,
// the NVIDIA driver's libcuda.so.1). The backend itself is behind the
// lungcuda build tag: a lungcuda binary imports the package (cmd/lungctl
// does so in a tagged file), whose init registers the backends "cuda" (cell
// grid, with the path-assisted search) and "cuda-brute" with
// cluster.Register, where cluster.SelectBackend finds them. Both implement
// the whole model of package cluster, per-point bandwidth scales
// (Options.Scale) included. The kernels are kernels/meanshift.cu, committed
// as PTX (make ptx regenerates it with nvcc); the host-side preparation is
// pure Go in package cluster/cells and, for the scale levels, in prep.go
// here, untagged, so that prep_test.go checks it (and a Go mirror of the
// kernels' arithmetic on it) in the plain test suite without cgo or a GPU.
package cuda
