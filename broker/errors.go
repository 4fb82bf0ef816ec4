package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/group"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/raftlog"
	"github.com/raftmq/raftmq/transport"
)

var (
	// ErrNotLeader means this node cannot take writes and could not forward
	// them (no leader known, or the request was already forwarded once).
	ErrNotLeader = errors.New("broker: not the leader")
	// errNoMessage: no readable message record at a commitlog offset.
	errNoMessage = errors.New("no message")
)

// respond builds a response with a formatted remark.
func respond(code transport.ResponseCode, format string, a ...any) *transport.Command {
	return transport.NewResponse(code, fmt.Sprintf(format, a...))
}

// errorCodes is the one table from internal errors to wire codes (first
// match wins). SYSTEM_ERROR (1) and SERVICE_NOT_AVAILABLE (14) make the
// official producer retry at once, so they are used exactly for outcomes a
// retry can fix; anything not listed gets unknownErrorCode, which no
// client retries.
var errorCodes = []struct {
	err    error
	code   transport.ResponseCode
	remark string // what went wrong, before the error itself
	where  bool   // name the group, node and leader
}{
	// First: a proposal a full disk holds up is also of unknown outcome,
	// and the disk is what the client must hear of.
	{raftlog.ErrDiskFull, transport.RespServiceNotAvailable, "service not available now, disk full", true},
	// The entry may still commit: the client retries; a duplicate is
	// possible (at-least-once), a loss is not.
	{group.ErrOutcomeUnknown, transport.RespSystemError, "leadership changed while committing; outcome unknown, retry", true},
	{raft.ErrLeadershipLost, transport.RespSystemError, "leadership changed while committing; outcome unknown, retry", true},
	{raft.ErrNotLeader, transport.RespServiceNotAvailable, "not the leader, retry", true},
	{ErrNotLeader, transport.RespServiceNotAvailable, "not the leader, retry", true},
	{raft.ErrLeadershipTransferInProgress, transport.RespServiceNotAvailable, "leadership is being transferred, retry", true},
	{raft.ErrEnqueueTimeout, transport.RespServiceNotAvailable, "timed out waiting for the raft group", true},
	{context.DeadlineExceeded, transport.RespServiceNotAvailable, "timed out waiting for the raft group", true},
	{raft.ErrRaftShutdown, transport.RespServiceNotAvailable, "broker is shutting down", true},
	{group.ErrShutdown, transport.RespServiceNotAvailable, "broker is shutting down", true},
	{transport.ErrConnClosed, transport.RespServiceNotAvailable, "could not reach the leader, retry", true},
	{transport.ErrTimeout, transport.RespServiceNotAvailable, "could not reach the leader, retry", true},
	// Refused the same way on every replica: retrying cannot help.
	{fsm.ErrRejected, transport.RespInvalidParameter, "refused", false},
	{message.ErrInvalidTopic, transport.RespInvalidParameter, "invalid name", false},
	{raft.ErrLogNotFound, transport.RespQueryNotFound, "the message was removed by retention", false},
	{fsm.ErrQueueOffset, transport.RespQueryNotFound, "no such queue offset", false},
	{errNoMessage, transport.RespQueryNotFound, "not found", false},
}

// unknownErrorCode answers errors the table does not know: a bug or an
// unexpected I/O failure, which a blind retry would only repeat.
const unknownErrorCode = transport.RespIllegalOperation

// statusFromErr turns an internal error into a response through
// errorCodes. Remarks say what failed and, for retriable codes, name the
// group and the leader.
func (b *Broker) statusFromErr(what string, err error) *transport.Command {
	for _, e := range errorCodes {
		if !errors.Is(err, e.err) {
			continue
		}
		if !e.where {
			return respond(e.code, "%s: %s: %v", what, e.remark, err)
		}
		return respond(e.code, "%s: %s: %v (%s)", what, e.remark, err, b.where())
	}
	return respond(unknownErrorCode, "%s: internal error, not retried: %v (%s)", what, err, b.where())
}

// where names this member and the leader it knows, for remarks.
func (b *Broker) where() string {
	leader, _ := b.g.Leader()
	w := fmt.Sprintf("broker group %s, node %s", b.cfg.BrokerName, b.self.ID)
	if leader != "" {
		return w + ", leader " + leader
	}
	return w + ", no leader (election in progress)"
}

// forward sends a client request to the leader over the peer channel and
// returns its response. During an election it waits (bounded) for the
// outcome: if another member wins it forwards there, and if this node wins
// it serves the request itself. A request that was already forwarded is
// not forwarded again (the leader it reached lost leadership meanwhile).
func (b *Broker) forward(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	what := transport.RequestCode(req.Code).String()
	if req.Ext(transport.ExtForwarded) != "" {
		return b.statusFromErr(what, ErrNotLeader)
	}
	ext := req.Fields()
	fwd := transport.NewRequest(transport.RequestCode(req.Code), make(map[string]string, len(ext)+2), append([]byte(nil), req.Body...))
	for k, v := range ext {
		fwd.ExtFields[k] = v
	}
	fwd.ExtFields[transport.ExtForwarded] = b.self.ID
	if c != nil && req.Ext(transport.ExtBornHost) == "" {
		fwd.ExtFields[transport.ExtBornHost] = c.RemoteAddr().String()
	}
	// The official producer retries at once, without back-off: holding the
	// request through the election serves it instead of failing it.
	deadline := time.Now().Add(1500 * time.Millisecond)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var dead string
	var lastErr error = ErrNotLeader
	timeout := time.NewTimer(time.Until(deadline))
	defer timeout.Stop()
	for {
		changed := b.g.LeaderChanged()
		id, addr := b.g.Leader()
		switch {
		case id == b.self.ID:
			if h := b.handlers[transport.RequestCode(req.Code)]; h != nil && b.waitLeaderReady(ctx) {
				return h(ctx, c, req)
			}
		case addr != "" && addr != dead:
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			resp, err := b.peerClient.Invoke(rctx, addr, fwd)
			cancel()
			if err == nil {
				b.metrics.forwarded.Inc()
				out := transport.NewResponse(transport.ResponseCode(resp.Code), resp.Remark)
				out.ExtFields = resp.Fields()
				out.Body = resp.Body
				return out
			}
			if !errors.Is(err, transport.ErrConnClosed) {
				if errors.Is(err, transport.ErrTimeout) {
					err = fmt.Errorf("%w: %w", group.ErrOutcomeUnknown, err)
				}
				return b.statusFromErr(what, err)
			}
			// That leader is gone (the request may have reached it: a
			// retry can store a duplicate, never lose an acknowledgement).
			dead, lastErr = addr, err
		}
		if time.Now().After(deadline) {
			return b.statusFromErr(what, lastErr)
		}
		// Wait for the next leadership event (an election's outcome).
		select {
		case <-changed:
		case <-timeout.C:
			return b.statusFromErr(what, lastErr)
		case <-ctx.Done():
			return b.statusFromErr(what, lastErr)
		case <-b.stop:
			return b.statusFromErr(what, group.ErrShutdown)
		}
	}
}

// waitLeaderReady gives a fresh leader a moment to finish its Barrier.
func (b *Broker) waitLeaderReady(ctx context.Context) bool { return b.g.WaitLeaderReady(ctx) }
