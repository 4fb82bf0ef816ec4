package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/group"
	"github.com/raftmq/raftmq/raftlog"
	"github.com/raftmq/raftmq/transport"
)

var (
	// ErrNotLeader means this node cannot take writes and could not forward
	// them (no leader known, or the request was already forwarded once).
	ErrNotLeader = errors.New("broker: not the leader")
)

// respond builds a response with a formatted remark.
func respond(code transport.ResponseCode, format string, a ...any) *transport.Command {
	return transport.NewResponse(code, fmt.Sprintf(format, a...))
}

// statusFromErr is the one place internal errors become wire codes. Codes
// 1 (SYSTEM_ERROR) and 14 (SERVICE_NOT_AVAILABLE) make the official
// producer retry at once; they are used exactly for outcomes a retry can
// fix. Remarks name the group and, when known, the leader.
func (b *Broker) statusFromErr(what string, err error) *transport.Command {
	leader, _ := b.g.Leader()
	where := fmt.Sprintf("broker group %s, node %s", b.cfg.BrokerName, b.self.ID)
	if leader != "" {
		where += fmt.Sprintf(", leader %s", leader)
	} else {
		where += ", no leader (election in progress)"
	}
	switch {
	case errors.Is(err, group.ErrOutcomeUnknown), errors.Is(err, raft.ErrLeadershipLost):
		// The entry may still commit: the client retries; a duplicate is
		// possible (at-least-once), a loss is not.
		return respond(transport.RespSystemError, "%s: leadership changed while committing; outcome unknown, retry (%s): %v", what, where, err)
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return respond(transport.RespServiceNotAvailable, "%s: not the leader, retry (%s)", what, where)
	case errors.Is(err, raft.ErrEnqueueTimeout), errors.Is(err, context.DeadlineExceeded):
		return respond(transport.RespServiceNotAvailable, "%s: timed out waiting for the raft group (%s)", what, where)
	case errors.Is(err, raft.ErrRaftShutdown), errors.Is(err, group.ErrShutdown):
		return respond(transport.RespServiceNotAvailable, "%s: broker is shutting down (%s)", what, where)
	case errors.Is(err, raftlog.ErrDiskFull):
		return respond(transport.RespServiceNotAvailable, "%s: service not available now, disk full: %v (%s)", what, err, where)
	case errors.Is(err, fsm.ErrRejected):
		// Refused the same way on every replica: retrying cannot help.
		return respond(transport.RespInvalidParameter, "%s: %v", what, err)
	case errors.Is(err, transport.ErrConnClosed), errors.Is(err, transport.ErrTimeout):
		return respond(transport.RespServiceNotAvailable, "%s: could not reach the leader, retry (%s): %v", what, where, err)
	}
	return respond(transport.RespSystemError, "%s: %v (%s)", what, err, where)
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
	fwd := transport.NewRequest(transport.RequestCode(req.Code), make(map[string]string, len(req.ExtFields)+2), append([]byte(nil), req.Body...))
	for k, v := range req.ExtFields {
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
	for {
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
				out.ExtFields = resp.ExtFields
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
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return b.statusFromErr(what, lastErr)
		case <-b.stop:
			return b.statusFromErr(what, group.ErrShutdown)
		}
	}
}

// waitLeaderReady gives a fresh leader a moment to finish its Barrier.
func (b *Broker) waitLeaderReady(ctx context.Context) bool { return b.g.WaitLeaderReady(ctx) }
