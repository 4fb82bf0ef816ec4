package devcluster

import (
	"os/exec"
	"syscall"
)

// dieWithParent: members get SIGTERM (a clean shutdown) if raftmq dev
// dies without stopping them.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
