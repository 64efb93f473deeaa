package cluster

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoCUDA reports that the CUDA backend was asked for but this binary was
// built without it (build tag lungcuda) or it found no usable GPU.
var ErrNoCUDA = errors.New("cluster: CUDA backend not available")

// cudaFactory is set by the CUDA backend's files (build tag lungcuda) from
// an init function; nil in CPU-only builds. It returns the backend or why
// none can be used (no device, driver error).
var cudaFactory func() (Backend, error)

// cudaBruteFactory, like cudaFactory, returns the brute-force CUDA backend
// (every mode against every point; for benchmarks and cross-checks).
var cudaBruteFactory func() (Backend, error)

// SelectBackend maps a device name to a backend: "cpu" selects Grid;
// "cuda" (or "cuda-grid") the cell-grid CUDA backend, "cuda-brute" the
// brute-force one, or ErrNoCUDA when it is unavailable; "auto" (or
// "") CUDA when available, else Grid. note is a human-readable remark for
// the log when "auto" fell back to the CPU ("" otherwise). Any other name is
// an error.
func SelectBackend(device string) (b Backend, note string, err error) {
	switch strings.ToLower(strings.TrimSpace(device)) {
	case "cpu":
		return Grid{}, "", nil
	case "cuda", "gpu", "cuda-grid", "cuda-brute":
		f := cudaFactory
		if strings.EqualFold(strings.TrimSpace(device), "cuda-brute") {
			f = cudaBruteFactory
		}
		if f == nil {
			return nil, "", fmt.Errorf("%w: this binary was built without -tags lungcuda", ErrNoCUDA)
		}
		b, err := f()
		if err != nil {
			return nil, "", fmt.Errorf("%w: %v", ErrNoCUDA, err)
		}
		return b, "", nil
	case "", "auto":
		if cudaFactory != nil {
			if b, err := cudaFactory(); err == nil {
				return b, "", nil
			} else {
				return Grid{}, fmt.Sprintf("mean-shift on CPU (CUDA unavailable: %v)", err), nil
			}
		}
		return Grid{}, "", nil
	}
	return nil, "", fmt.Errorf("cluster: unknown device %q (want auto, cpu or cuda)", device)
}
