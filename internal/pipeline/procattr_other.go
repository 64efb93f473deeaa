//go:build !linux

package pipeline

import "syscall"

// scanProcAttr: without Linux's parent-death signal a scan process whose
// parent is killed with SIGKILL runs to its end (SIGINT and SIGTERM still
// reach it through the parent).
func scanProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
