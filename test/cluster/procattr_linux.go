package cluster

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel SIGKILL a started process when the test
// binary dies (a panic or a fatal error skips t.Cleanup), so no orphaned
// brokers keep ports, disk and CPU busy for the next run.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
