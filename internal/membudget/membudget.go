// Package membudget holds the process's memory budget: the most bytes any
// allocation sized from input (pixels, frames, inflated data, output grids)
// may take, and the total such allocations alive at once may take.
//
// Every reader checks the size an input file announces against the budget
// before allocating it, so a 50 KB file that claims 1.3 TB of pixels is
// refused with an error naming the file and the size, instead of exhausting
// memory or being killed.
//
// The budget is, in order of precedence:
//  1. Set (the CLI's --max-memory),
//  2. the environment variable LUNGCTL_MAX_MEMORY at start-up, in bytes or
//     with a K, M, G or T suffix (powers of 1024; "8G", "512M",
//     "1073741824"), which lets a batch runner hand its budget to child
//     processes,
//  3. DefaultFraction (one half) of the machine's memory: the smaller of
//     physical RAM (/proc/meminfo MemTotal) and the cgroup memory limit
//     (/sys/fs/cgroup/memory.max, cgroup v2), or DefaultUnknown (4 GiB)
//     when neither can be read.
//
// One half leaves room for what is not sized from input (the Go runtime,
// garbage not yet collected, the page cache that makes reading fast) and for
// a second copy of a volume that some steps keep briefly.
package membudget

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// EnvVar is the environment variable read at start-up for the budget.
const EnvVar = "LUNGCTL_MAX_MEMORY"

// DefaultFraction is the share of the machine's memory the default budget
// allows.
const DefaultFraction = 0.5

// DefaultUnknown is the default budget in bytes when the machine's memory
// cannot be read.
const DefaultUnknown = 4 << 30

// ErrTooBig is wrapped by every error Check and Reserve return: an
// allocation sized from input would exceed the memory budget.
var ErrTooBig = errors.New("exceeds the memory budget")

// TooBigError names what would have been allocated and how much. It wraps
// ErrTooBig (errors.Is(err, ErrTooBig) is true).
type TooBigError struct {
	// What names the allocation and its file ("pixel data of series …").
	What string
	// Bytes is the size refused; InUse the bytes already reserved (0 for
	// Check); Limit the budget.
	Bytes, InUse, Limit uint64
}

func (e *TooBigError) Error() string {
	// Rounded to one decimal, a request just over the budget reads as the
	// budget itself ("1.0 GiB exceeds ... of 1.0 GiB"): the exact byte
	// counts follow whenever the rounded sizes cannot tell them apart.
	size := Format
	if e.InUse > 0 {
		sum := e.Bytes + e.InUse
		if sum < e.Bytes {
			sum = math.MaxUint64
		}
		if lim := Format(e.Limit); Format(sum) == lim || Format(e.Bytes) == lim || Format(e.InUse) == lim {
			size = formatExact
		}
		return fmt.Sprintf("%s: %s with %s already in use %v of %s (%s or --max-memory raises it)",
			e.What, size(e.Bytes), size(e.InUse), ErrTooBig, size(e.Limit), EnvVar)
	}
	if Format(e.Bytes) == Format(e.Limit) {
		size = formatExact
	}
	return fmt.Sprintf("%s: %s %v of %s (%s or --max-memory raises it)", e.What, size(e.Bytes), ErrTooBig, size(e.Limit), EnvVar)
}

// formatExact is Format followed by the exact byte count.
func formatExact(b uint64) string {
	if b < 1024 {
		return Format(b) // already exact
	}
	return fmt.Sprintf("%s (%d bytes)", Format(b), b)
}

// Unwrap makes errors.Is(err, ErrTooBig) hold.
func (e *TooBigError) Unwrap() error { return ErrTooBig }

var (
	limit   atomic.Uint64
	inUse   atomic.Uint64
	initMu  sync.Once
	initErr error // a bad LUNGCTL_MAX_MEMORY, reported by EnvError
)

func setup() {
	initMu.Do(func() {
		if limit.Load() != 0 {
			return // Set before first use
		}
		if s := strings.TrimSpace(os.Getenv(EnvVar)); s != "" {
			n, err := Parse(s)
			if err == nil {
				limit.Store(n)
				return
			}
			initErr = fmt.Errorf("%s=%q: %w", EnvVar, s, err)
		}
		limit.Store(Default())
	})
}

// EnvError reports a LUNGCTL_MAX_MEMORY value that could not be parsed (the
// default budget is used then), so the CLI can refuse it as a usage error.
func EnvError() error {
	setup()
	return initErr
}

// Default returns the default budget in bytes (see the package comment).
func Default() uint64 {
	m := machineMemory()
	if m == 0 {
		return DefaultUnknown
	}
	return uint64(float64(m) * DefaultFraction)
}

// machineMemory is min(MemTotal, cgroup memory.max) in bytes, 0 if unknown.
func machineMemory() uint64 {
	var total uint64
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) >= 2 && fs[0] == "MemTotal:" {
				if kb, err := strconv.ParseUint(fs[1], 10, 64); err == nil {
					total = kb << 10
				}
				break
			}
		}
		_ = f.Close() // read-only
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 && (total == 0 || v < total) {
			total = v
		}
	}
	return total
}

// Set sets the budget in bytes (0 restores the default). It is meant to be
// called once at start-up, from the CLI's --max-memory.
func Set(bytes uint64) {
	setup()
	if bytes == 0 {
		bytes = Default()
	}
	limit.Store(bytes)
}

// Limit returns the budget in bytes.
func Limit() uint64 {
	setup()
	return limit.Load()
}

// InUse returns the bytes currently held through Reserve.
func InUse() uint64 { return inUse.Load() }

// Check returns a *TooBigError (wrapping ErrTooBig) when one allocation of
// bytes, described by what (name the file: "pixel data of /x/y.dcm"), would
// exceed the budget on its own; nil otherwise.
func Check(what string, bytes uint64) error {
	if l := Limit(); bytes > l {
		return &TooBigError{What: what, Bytes: bytes, Limit: l}
	}
	return nil
}

// Reserve is Check for allocations that live alongside others (a scan's
// volumes, inflated files held at once): it fails when bytes plus what is
// already reserved would exceed the budget, and otherwise counts bytes as in
// use until the returned release is called (once; further calls do nothing).
func Reserve(what string, bytes uint64) (release func(), err error) {
	l := Limit()
	for {
		cur := inUse.Load()
		if bytes > l || cur > l-bytes {
			return func() {}, &TooBigError{What: what, Bytes: bytes, InUse: cur, Limit: l}
		}
		if inUse.CompareAndSwap(cur, cur+bytes) {
			break
		}
	}
	var once sync.Once
	return func() { once.Do(func() { inUse.Add(^(bytes - 1)) }) }, nil
}

// Mul returns a·b·… as bytes, saturating at math.MaxUint64 instead of
// overflowing, for sizes computed from header fields; negative factors
// count as 0.
func Mul(factors ...int64) uint64 {
	p := uint64(1)
	for _, f := range factors {
		if f <= 0 {
			return 0
		}
		if p > math.MaxUint64/uint64(f) {
			return math.MaxUint64
		}
		p *= uint64(f)
	}
	return p
}

// Parse reads a byte count: a whole number of bytes, or a number (decimals
// allowed) followed by K, M, G or T (optionally with "B" or "iB"; powers of
// 1024, case-insensitive). "0" and negative values are errors.
func Parse(s string) (uint64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "IB"), "B")
	mult := 1.0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			t = strings.TrimSpace(t[:n-1])
		}
	}
	x, err := strconv.ParseFloat(t, 64)
	if err != nil || !(x > 0) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("memory size %q: want a positive number of bytes, optionally with K, M, G or T", s)
	}
	v := x * mult
	if v >= math.MaxUint64 {
		return math.MaxUint64, nil
	}
	if v < 1 {
		return 0, fmt.Errorf("memory size %q is under one byte", s)
	}
	return uint64(v), nil
}

// Format prints a byte count with a binary unit and one decimal ("1.3
// TiB", "512.0 MiB"); a count that would round to 1024.0 of a unit is
// printed in the next ("1.0 GiB", not "1024.0 MiB"). Counts under 1 KiB
// are exact ("1000 B").
func Format(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit && exp < 5; n /= unit {
		div *= unit
		exp++
	}
	x := float64(b) / float64(div)
	if x >= unit-0.05 && exp < 5 {
		x /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", x, "KMGTPE"[exp])
}
