//go:build !linux

package pipeline

// limitAddressSpace does nothing where RLIMIT_AS is not available; the
// budget still reaches the Go collector through GOMEMLIMIT.
func limitAddressSpace() error { return nil }
