package broker

import (
	"testing"
	"time"

	"github.com/raftmq/raftmq/config"
	"github.com/raftmq/raftmq/raftlog"
	"github.com/stretchr/testify/require"
)

// TestDefaultConfig: the defaults map onto a valid one-member group.
func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	require.Len(t, c.Members, 1)
	require.Equal(t, c.NodeID, c.Members[0].ID)
	require.Equal(t, "127.0.0.1:40911", c.Members[0].Addr)
}

// TestPreallocateFollowsFlushMode: "auto" (the default) is fallocate
// under either flush mode; an explicit mode is kept.
func TestPreallocateFollowsFlushMode(t *testing.T) {
	for _, tc := range []struct {
		flush, prealloc string
		want            raftlog.PreallocMode
	}{
		{"SYNC_FLUSH", "auto", raftlog.PreallocFallocate},
		{"ASYNC_FLUSH", "auto", raftlog.PreallocFallocate},
		{"SYNC_FLUSH", "zero", raftlog.PreallocZero},
		{"ASYNC_FLUSH", "zero", raftlog.PreallocZero},
		{"SYNC_FLUSH", "none", raftlog.PreallocNone},
	} {
		fc := config.DefaultBroker()
		require.Equal(t, "auto", fc.CommitLogPreallocate)
		fc.StorePathRootDir = t.TempDir()
		fc.DLegerPeers, fc.DLegerSelfID = "n0-127.0.0.1:40911", "n0"
		fc.FlushDiskType, fc.CommitLogPreallocate = tc.flush, tc.prealloc
		c, err := FromFile(fc)
		require.NoError(t, err)
		require.Equal(t, tc.want, c.Log.Preallocate, "%s %s", tc.flush, tc.prealloc)
	}
}

func TestCommitTimeoutAuto(t *testing.T) {
	for _, tc := range []struct {
		set       time.Duration
		groupAddr string
		want      time.Duration
	}{
		{0, "", 5 * time.Millisecond},
		{0, "127.0.0.1:30911", 5 * time.Millisecond},
		{7 * time.Millisecond, "127.0.0.1:30911", 7 * time.Millisecond},
		{200 * time.Millisecond, "", 200 * time.Millisecond},
	} {
		fc := config.DefaultBroker()
		require.Zero(t, fc.RaftCommitTimeout, "the default is auto")
		fc.StorePathRootDir = t.TempDir()
		fc.DLegerPeers, fc.DLegerSelfID = "n0-127.0.0.1:40911", "n0"
		fc.RaftCommitTimeout, fc.BrokerGroupAddr = tc.set, tc.groupAddr
		c, err := FromFile(fc)
		require.NoError(t, err)
		require.Equal(t, tc.want, c.CommitTimeout, "%+v", tc)
	}
}
