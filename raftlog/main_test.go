package raftlog_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine the package starts has an owner that stops it. (The
// cluster test's raft TCP transports do not close the connections they
// accepted; those goroutines are raft's, not ours.)
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/hashicorp/raft.(*NetworkTransport).handleConn"))
}
