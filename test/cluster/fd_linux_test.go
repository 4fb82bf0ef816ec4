package cluster_test

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/raftmq/raftmq/test/cluster"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestHostile_FileDescriptorShortageIsTemporary: a follower runs out of
// file descriptors (its limit lowered while connections pile up on both
// its ports). Once the shortage ends, its raft port accepts and answers
// again and it keeps replicating: a short shortage must not cut a member
// off until restart.
func TestHostile_FileDescriptorShortageIsTemporary(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	g := c.Group(0)
	leader := g.WaitLeader(t, 20*time.Second)
	f := g.Follower(leader)
	pid := f.PID()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	require.NoError(t, err)
	var old unix.Rlimit
	require.NoError(t, unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: uint64(len(fds) + 4), Max: 20000}, &old))
	var conns []net.Conn
	for i := 0; i < 40; i++ {
		for _, addr := range []string{f.DirectAddr(), f.RaftAddr()} {
			if nc, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				conns = append(conns, nc)
			}
		}
	}
	cluster.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(f.LogTail(200), "too many open files") {
			return fmt.Errorf("the member has not run out of descriptors yet")
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond)
	for _, nc := range conns {
		nc.Close()
	}
	require.NoError(t, unix.Prlimit(pid, unix.RLIMIT_NOFILE, &old, nil))

	// The raft port answers a peer-channel request again.
	frame, err := transport.AppendFrame(nil, transport.NewRequest(transport.ReqGetGroupStatus, nil, nil), transport.SerializeJSON)
	require.NoError(t, err)
	cluster.Eventually(t, 15*time.Second, func() error {
		nc, err := net.DialTimeout("tcp", f.RaftAddr(), time.Second)
		if err != nil {
			return err
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := nc.Write(append([]byte{'P'}, frame...)); err != nil {
			return err
		}
		r, err := transport.ReadFrame(nc, 0)
		if err != nil {
			return fmt.Errorf("raft port does not answer: %w", err)
		}
		if r.Code != 0 {
			return fmt.Errorf("status: %d %s", r.Code, r.Remark)
		}
		return nil
	})
	require.True(t, f.Running(), f.LogTail(30))
	// And it keeps replicating, with new connections from the leader.
	w := newWire(t)
	for i := 0; i < 50; i++ {
		require.Equal(t, int16(0), w.send(leader.ClientAddr(), "AfterFD", 0, fmt.Sprintf("m%d", i), nil).Code)
	}
	g.WaitCaughtUp(t, 20*time.Second)
	g.RequireIdenticalQueues(t, "AfterFD", 1)
}
