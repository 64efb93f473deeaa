package pipeline

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/lungctl/lungctl/internal/par"
)

// MaxMemoryEnv is the environment variable that carries one scan's memory
// budget, in bytes (a decimal integer), to the code that processes it: Run
// sets it for every scan process it starts (and in its own environment when
// scans run in-process), and the readers check input-sized allocations
// against it. It is the one value; nothing else restates the budget.
const MaxMemoryEnv = "LUNGCTL_MAX_MEMORY"

// noAddressLimitEnv, set to 1, tells a scan process not to cap its address
// space (Config.NoAddressLimit).
const noAddressLimitEnv = "LUNGCTL_NO_ADDRESS_LIMIT"

// DefaultMemoryFraction is the share of the machine's memory (or of the
// cgroup's limit, when lower) that a batch run's scans may use together by
// default.
const DefaultMemoryFraction = 0.75

// MinScanMemory is the smallest per-scan budget Run accepts (bytes).
const MinScanMemory = 256 << 20

// addressSlack is added to a scan process's budget for its address-space
// limit (RLIMIT_AS), in bytes: the Go runtime reserves about 1.2 GiB of
// address space it does not use, which the resident budget must not pay for.
const addressSlack = 2 << 30

// DefaultWorkers is the default worker count: half of par's worker budget
// (the cores, or --threads; each stage is itself parallel), at least 1, and
// at most one per 2 GiB of memory.
func DefaultWorkers() int {
	n := par.Limit() / 2
	if n < 1 {
		n = 1
	}
	if mem := TotalMemory(); mem > 0 {
		if m := int(mem / (2 << 30)); m < n {
			n = max(1, m)
		}
	}
	return n
}

// DefaultMaxMemory is the default memory budget of a batch run in bytes:
// DefaultMemoryFraction of TotalMemory, or 0 when that is unknown.
func DefaultMaxMemory() int64 {
	return int64(DefaultMemoryFraction * float64(TotalMemory()))
}

// TotalMemory returns the memory available to this process in bytes: the
// machine's MemTotal, or the cgroup (v2 or v1) limit when that is lower; 0
// when unknown.
func TotalMemory() uint64 {
	total := meminfoTotal()
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 && (total == 0 || v < total) {
			total = v
		}
	}
	return total
}

func meminfoTotal() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "MemTotal:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// FormatSize writes a byte count with a binary unit, e.g. "2.0 GiB".
func FormatSize(n int64) string {
	f := float64(n)
	for _, u := range []string{"B", "KiB", "MiB", "GiB"} {
		if f < 1024 {
			if u == "B" {
				return fmt.Sprintf("%d B", n)
			}
			return fmt.Sprintf("%.1f %s", f, u)
		}
		f /= 1024
	}
	return fmt.Sprintf("%.1f TiB", f)
}

// scanMemoryEnv is the environment that gives a scan process its budget:
// MaxMemoryEnv for the readers and GOMEMLIMIT for the Go collector.
func scanMemoryEnv(budget int64) []string {
	if budget <= 0 {
		return nil
	}
	v := strconv.FormatInt(budget, 10)
	return []string{MaxMemoryEnv + "=" + v, "GOMEMLIMIT=" + v}
}
