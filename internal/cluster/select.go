package cluster

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// ErrNoCUDA reports that the CUDA backend was asked for but this binary was
// built without it (build tag lungcuda) or it found no usable GPU.
var ErrNoCUDA = errors.New("cluster: CUDA backend not available")

// registry holds the backends registered with Register, by name.
var registry = struct {
	sync.RWMutex
	m map[string]func() (Backend, error)
}{m: map[string]func() (Backend, error){}}

// Register makes a backend available to SelectBackend under name: factory
// returns it, or why it cannot be used on this machine (no device, driver
// error). The CUDA package (internal/cluster/cuda, build tag lungcuda)
// registers "cuda" (its cell-grid variant) and "cuda-brute" from its init
// function; a binary gets them by importing that package. Registering a
// name twice, or a nil factory, is a programming error and panics.
func Register(name string, factory func() (Backend, error)) {
	if factory == nil {
		panic("cluster: Register " + name + " with a nil factory")
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[name]; dup {
		panic("cluster: Register called twice for " + name)
	}
	registry.m[name] = factory
}

// Registered returns the names of the registered backends, sorted.
func Registered() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, 0, len(registry.m))
	for n := range registry.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func lookup(name string) func() (Backend, error) {
	registry.RLock()
	defer registry.RUnlock()
	return registry.m[name]
}

// SelectBackend maps a device name to a backend: "cpu" selects Grid;
// "cuda" (or "gpu", "cuda-grid") the registered "cuda" backend (the
// cell-grid CUDA variant), "cuda-brute" the registered brute-force one, or
// ErrNoCUDA when it is not registered or cannot run here; "auto" (or "")
// the "cuda" backend when it works, else Grid. note is a human-readable
// remark for the log when "auto" fell back to the CPU ("" otherwise). Any
// other name is an error.
func SelectBackend(device string) (b Backend, note string, err error) {
	d := strings.ToLower(strings.TrimSpace(device))
	switch d {
	case "cpu":
		return Grid{}, "", nil
	case "cuda", "gpu", "cuda-grid", "cuda-brute":
		name := "cuda"
		if d == "cuda-brute" {
			name = "cuda-brute"
		}
		f := lookup(name)
		if f == nil {
			return nil, "", fmt.Errorf("%w: this binary was built without -tags lungcuda", ErrNoCUDA)
		}
		b, err := f()
		if err != nil {
			return nil, "", fmt.Errorf("%w: %w", ErrNoCUDA, err)
		}
		return b, "", nil
	case "", "auto":
		f := lookup("cuda")
		if f == nil {
			return Grid{}, "", nil
		}
		b, err := f()
		if err != nil {
			return Grid{}, fmt.Sprintf("mean-shift on CPU (CUDA unavailable: %v)", err), nil
		}
		return Auto{Preferred: b}, "", nil
	}
	return nil, "", fmt.Errorf("cluster: unknown device %q (want auto, cpu or cuda)", device)
}

// ErrUnsupported reports that a backend cannot honour one of the options it
// was given (a backend written for one option set meeting another).
// Backends return it as an *UnsupportedError.
var ErrUnsupported = errors.New("cluster: option not supported by the backend")

// UnsupportedError is ErrUnsupported with the backend and the option it
// refused; errors.Is(err, ErrUnsupported) holds for it.
type UnsupportedError struct {
	Backend string // Backend.Name()
	Option  string // e.g. "Options.Scale (per-point bandwidth scales)"
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("cluster: backend %s does not support %s", e.Backend, e.Option)
}

// Is reports whether target is ErrUnsupported.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// OptionChecker is implemented by backends that do not support every
// option: CheckOptions returns an *UnsupportedError for options the
// backend cannot honour (opt has its defaults filled in). MeanShift calls it
// before any work.
type OptionChecker interface {
	CheckOptions(opt Options) error
}

// Auto is the backend SelectBackend("auto") returns when a registered GPU
// backend works: Preferred runs unless it refuses the options (it
// implements OptionChecker and returns an error), in which case Fallback
// (nil: Grid) runs; MeanShift then names the backend that ran in
// Result.Backend and says why in Result.Note, for the log.
type Auto struct {
	Preferred, Fallback Backend
}

// Name returns the preferred backend's name.
func (a Auto) Name() string { return a.Preferred.Name() }

// Resolve returns the backend that runs with opt and, when it is the
// fallback, a note saying why.
func (a Auto) Resolve(opt Options) (Backend, string) {
	c, ok := a.Preferred.(OptionChecker)
	if !ok {
		return a.Preferred, ""
	}
	err := c.CheckOptions(opt)
	if err == nil {
		return a.Preferred, ""
	}
	fb := a.Fallback
	if fb == nil {
		fb = Grid{}
	}
	return fb, fmt.Sprintf("mean-shift on CPU (%s: %v)", fb.Name(), err)
}

// Shift implements Backend with the backend Resolve picks.
func (a Auto) Shift(points []float32, dim int, modes []float32, opt Options) (int, error) {
	b, _ := a.Resolve(opt)
	return b.Shift(points, dim, modes, opt)
}
