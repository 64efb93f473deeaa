//go:build unix

package browser

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the browser in its own process group so that
// killProcessGroup also ends its helper processes (renderer, GPU, zygote).
func setProcessGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

func killProcessGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // ESRCH: the group is gone already
	}
}
