package broker

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/group"
	"github.com/raftmq/raftmq/raftlog"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

// Retriable outcomes get the codes clients retry; refusals and unknown
// errors get codes no client retries blindly.
func TestStatusFromErr_Table(t *testing.T) {
	g := startGroup(t, 1, nil)
	b := g.leader()
	cases := map[error]transport.ResponseCode{
		fmt.Errorf("x: %w", group.ErrOutcomeUnknown): transport.RespSystemError,
		raft.ErrNotLeader:                        transport.RespServiceNotAvailable,
		fmt.Errorf("w: %w", raftlog.ErrDiskFull): transport.RespServiceNotAvailable,
		// Held up by full disks: the disk is named, and 14 is retried.
		fmt.Errorf("%w: not committed: %w", group.ErrOutcomeUnknown, &group.DiskFullError{Members: []string{"n1", "n2"}}): transport.RespServiceNotAvailable,
		&fsm.RejectedError{Reason: "bad"}:  transport.RespInvalidParameter,
		raft.ErrLogNotFound:                transport.RespQueryNotFound,
		errors.New("something unexpected"): unknownErrorCode,
	}
	for err, want := range cases {
		r := b.statusFromErr("op", err)
		require.Equal(t, int16(want), r.Code, "%v: %s", err, r.Remark)
		require.Contains(t, r.Remark, "op: ")
	}
	require.Contains(t, b.statusFromErr("op", raft.ErrNotLeader).Remark, "broker group broker-a")
}
