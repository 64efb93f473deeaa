package pipeline

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// limitAddressSpace caps this process's address space (RLIMIT_AS) at the
// budget in MaxMemoryEnv plus addressSlack, so that a scan that outgrows its
// budget fails with Go's "fatal error: runtime: out of memory" (one failed
// scan) before the kernel's out-of-memory killer picks a process. It also
// turns core dumps off: a crashed scan is reported, not dumped. An error
// means a limit was not set; the scan can still run.
func limitAddressSpace() error {
	var errs []error
	if err := syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{}); err != nil {
		errs = append(errs, fmt.Errorf("core dumps off: %w", err))
	}
	v, err := strconv.ParseInt(os.Getenv(MaxMemoryEnv), 10, 64)
	if err != nil || v <= 0 || os.Getenv(noAddressLimitEnv) == "1" {
		return errors.Join(errs...)
	}
	lim := uint64(v) + addressSlack
	var cur syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_AS, &cur) == nil && cur.Max < lim {
		lim = cur.Max
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: lim, Max: lim}); err != nil {
		errs = append(errs, fmt.Errorf("address space limit %d bytes: %w", lim, err))
	}
	return errors.Join(errs...)
}
