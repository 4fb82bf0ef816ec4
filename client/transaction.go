package client

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// LocalTransactionState is a transaction's outcome as the producer's
// local transaction decided it.
type LocalTransactionState int

const (
	// UnknownTransaction: not decided yet; the broker checks back later.
	UnknownTransaction LocalTransactionState = iota
	// CommitTransaction makes the message visible to consumers.
	CommitTransaction
	// RollbackTransaction drops it.
	RollbackTransaction
)

func (s LocalTransactionState) String() string {
	switch s {
	case CommitTransaction:
		return "COMMIT"
	case RollbackTransaction:
		return "ROLLBACK"
	}
	return "UNKNOWN"
}

func (s LocalTransactionState) wire() int32 {
	switch s {
	case CommitTransaction:
		return transport.TransactionCommitType
	case RollbackTransaction:
		return transport.TransactionRollbackType
	}
	return transport.TransactionNotType
}

// TransactionListener runs a transactional send's local transaction and
// answers the broker's check-backs.
type TransactionListener interface {
	// ExecuteLocalTransaction runs once the half message is stored.
	ExecuteLocalTransaction(ctx context.Context, msg *Message, res *SendResult) LocalTransactionState
	// CheckLocalTransaction answers a check-back for a transaction whose
	// outcome the broker has not received (UNKNOWN, or an END_TRANSACTION
	// lost in a failure). It may be called more than once per message,
	// and on any producer of the group.
	CheckLocalTransaction(ctx context.Context, msg *MessageExt) LocalTransactionState
}

// TransactionSendResult is a transactional send's outcome.
type TransactionSendResult struct {
	*SendResult
	State LocalTransactionState
	// EndErr is set when END_TRANSACTION could not be delivered; the
	// broker's check-back then asks the listener again.
	EndErr error
}

// maxConcurrentChecks bounds the check-backs answered at once; beyond it
// a check is dropped (the broker asks again at its next interval).
const maxConcurrentChecks = 16

// TransactionProducer sends transactional messages (RocketMQ's two-phase
// send): the message is stored as a half message, invisible to consumers,
// the listener runs the local transaction, and END_TRANSACTION commits or
// rolls back. The broker group asks a live producer of the same group
// (CHECK_TRANSACTION_STATE) for transactions left open.
type TransactionProducer struct {
	*Producer
	listener TransactionListener
	checks   chan struct{}
}

// NewTransactionProducer builds a producer whose group (WithGroup) names
// its transactions' check-back target.
func NewTransactionProducer(l TransactionListener, opts ...Option) (*TransactionProducer, error) {
	if l == nil {
		return nil, errors.New("client: a transaction producer needs a TransactionListener")
	}
	p, err := NewProducer(opts...)
	if err != nil {
		return nil, err
	}
	tp := &TransactionProducer{Producer: p, listener: l, checks: make(chan struct{}, maxConcurrentChecks)}
	p.c.rpc.Handle(transport.ReqCheckTransactionState, tp.handleCheck)
	return tp, nil
}

// SendMessageInTransaction stores msg as a half message, runs the local
// transaction and ends it. A failed send returns the error and runs no
// local transaction.
func (tp *TransactionProducer) SendMessageInTransaction(ctx context.Context, msg *Message) (*TransactionSendResult, error) {
	if msg.DelayLevel > 0 {
		return nil, fmt.Errorf("%w: a transactional message cannot be delayed", ErrInvalidMessage)
	}
	half := *msg
	half.Properties = maps.Clone(msg.Properties)
	if half.Properties == nil {
		half.Properties = map[string]string{}
	}
	half.Properties[message.PropertyTransactionPrepared] = "true"
	half.Properties[message.PropertyProducerGroup] = tp.group
	out, err := tp.prepare(&half)
	if err != nil {
		return nil, err
	}
	out.sysFlag |= message.SysFlagTransactionPrepared
	res, err := tp.send(ctx, out)
	if err != nil {
		return nil, err
	}
	state := UnknownTransaction
	if res.Status == SendOK {
		state = tp.listener.ExecuteLocalTransaction(ctx, msg, res)
	} else {
		state = RollbackTransaction // not safely stored on a majority's disk
	}
	return &TransactionSendResult{SendResult: res, State: state, EndErr: tp.end(ctx, res, state)}, nil
}

// end sends END_TRANSACTION to the half message's broker group (any
// member forwards it to the leader), retrying on another member.
func (tp *TransactionProducer) end(ctx context.Context, res *SendResult, state LocalTransactionState) error {
	_, phys, err := message.DecodeOffsetMsgID(res.OffsetMsgID)
	if err != nil {
		return fmt.Errorf("client: end transaction: offset msgId %q: %w", res.OffsetMsgID, err)
	}
	h := transport.EndTransactionRequestHeader{ProducerGroup: tp.group, TranStateTableOffset: res.QueueOffset, CommitLogOffset: phys,
		CommitOrRollback: state.wire(), MsgID: res.MsgID, TransactionID: res.MsgID, BrokerName: res.Queue.BrokerName}
	ctx, cancel := tp.c.opCtx(ctx)
	defer cancel()
	var lastErr error
	for attempt := 0; attempt <= tp.c.opts.retries; attempt++ {
		r, err := tp.c.routes.publishRoute(ctx, res.Queue.Topic, false)
		if err != nil {
			return err
		}
		addr := tp.target(r, res.Queue.BrokerName)
		if addr == "" {
			addr = firstOf(r.members(res.Queue.BrokerName))
		}
		if addr == "" {
			lastErr = fmt.Errorf("%w: broker group %s", ErrNoRoute, res.Queue.BrokerName)
		} else if resp, err := tp.c.invoke(ctx, addr, transport.NewRequest(transport.ReqEndTransaction, h.Encode(), nil)); err != nil {
			tp.c.markFailed(addr, err)
			lastErr = fmt.Errorf("client: end transaction at %s: %w", addr, err)
		} else if resp.Code != int16(transport.RespSuccess) {
			be := brokerErr("end transaction", addr, resp)
			if !be.Retriable() {
				return be
			}
			lastErr = be
		} else {
			return nil
		}
		if !sleep(ctx, retryPause) {
			break
		}
	}
	return lastErr
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// handleCheck answers CHECK_TRANSACTION_STATE on its own goroutine: the
// listener may take time, and the answer (END_TRANSACTION, oneway) goes
// back over the connection the check came on.
func (tp *TransactionProducer) handleCheck(_ context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.CheckTransactionStateRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		tp.c.logger.Warn("bad transaction check-back", "error", err)
		return nil
	}
	// Copied: the request is recycled once the handler returns.
	recs, err := message.DecodeRecords(append([]byte(nil), req.Body...))
	if err != nil || len(recs) != 1 {
		tp.c.logger.Warn("bad transaction check-back body", "error", err)
		return nil
	}
	m, err := fromRecord(recs[0], h.BrokerName, tp.c.opts.maxBodySize)
	if err != nil {
		tp.c.logger.Warn("bad transaction check-back message", "error", err)
		return nil
	}
	if g := m.Properties[message.PropertyProducerGroup]; g != tp.group {
		tp.c.logger.Warn("transaction check-back for another producer group", "group", g, "mine", tp.group)
		return nil
	}
	select {
	case tp.checks <- struct{}{}:
	default:
		tp.c.logger.Debug("too many transaction check-backs at once; the broker will ask again", "msgId", m.MsgID)
		return nil
	}
	if !tp.c.goFunc(func() {
		defer func() { <-tp.checks }()
		state := tp.listener.CheckLocalTransaction(tp.c.ctx, m)
		eh := transport.EndTransactionRequestHeader{ProducerGroup: tp.group, TranStateTableOffset: h.TranStateTableOffset,
			CommitLogOffset: h.CommitLogOffset, CommitOrRollback: state.wire(), FromTransactionCheck: true, MsgID: m.MsgID,
			TransactionID: h.TransactionID, BrokerName: h.BrokerName}
		if err := c.Send(transport.NewRequest(transport.ReqEndTransaction, eh.Encode(), nil)); err != nil {
			tp.c.logger.Info("could not answer a transaction check-back; the broker will ask again", "msgId", m.MsgID, "error", err)
		}
	}) {
		<-tp.checks
	}
	return nil
}
