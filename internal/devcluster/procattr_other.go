//go:build !linux

package devcluster

import "os/exec"

// dieWithParent: only Linux has a parent-death signal; elsewhere members
// outlive a killed raftmq dev.
func dieWithParent(*exec.Cmd) {}
