package pipeline

import "syscall"

// scanProcAttr makes the kernel kill a scan process when the thread that
// started it ends (the parent killed, even with SIGKILL), so no scan keeps
// writing into OUT behind a resumed run.
func scanProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
