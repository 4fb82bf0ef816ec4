package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/raftmq/raftmq/transport"
)

// invokeGroup sends a request about one queue to its broker group: to the
// leader (brokerId 0), and when the leader is unreachable or none is
// advertised, to the other members in turn (they serve committed reads
// and forward writes to the leader once one exists). A connection failure
// refreshes the topic's route at once. extra lengthens the per-call
// timeout (long-polling pulls). mk builds a fresh request per attempt.
func (c *core) invokeGroup(ctx context.Context, topic, brokerName string, extra time.Duration, mk func() *transport.Command) (*transport.Command, string, error) {
	r, err := c.routes.get(ctx, topic)
	if err != nil {
		return nil, "", err
	}
	addrs := r.members(brokerName)
	if len(addrs) == 0 {
		if r, err = c.routes.refresh(ctx, topic); err != nil {
			return nil, "", err
		}
		if addrs = r.members(brokerName); len(addrs) == 0 {
			return nil, "", fmt.Errorf("%w: broker group %s serves no queue of %s now", ErrNoRoute, brokerName, topic)
		}
	}
	return c.invokeAddrs(ctx, brokerName, addrs, extra, mk, func() { c.routes.refresh(ctx, topic) })
}

// invokeAddrs tries addrs in order until one answers; onFirstFail runs
// after the first one fails (refresh the route).
func (c *core) invokeAddrs(ctx context.Context, group string, addrs []string, extra time.Duration, mk func() *transport.Command, onFirstFail func()) (*transport.Command, string, error) {
	if len(addrs) == 0 {
		return nil, "", fmt.Errorf("%w: broker group %s has no live member", ErrNoRoute, group)
	}
	addrs = c.healthyFirst(addrs)
	var errs []error
	for i, addr := range addrs {
		cctx, cancel := c.callCtx(ctx, extra)
		resp, err := c.rpc.Invoke(cctx, addr, mk())
		cancel()
		if err == nil {
			return resp, addr, nil
		}
		if c.ctx.Err() != nil {
			return nil, addr, fmt.Errorf("%w: %w", ErrShutdown, err)
		}
		if ctx.Err() != nil {
			return nil, addr, err
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		c.markFailed(addr, err)
		if i == 0 && onFirstFail != nil {
			onFirstFail()
		}
	}
	return nil, "", fmt.Errorf("client: broker group %s unreachable: %w", group, errors.Join(errs...))
}

// serving asks a broker whether it is its group's serving leader (raftmq's
// GET_GROUP_STATUS): the one member sure to have applied every committed
// entry.
func (c *core) serving(ctx context.Context, addr string) bool {
	resp, err := c.invoke(ctx, addr, transport.NewRequest(transport.ReqGetGroupStatus, nil, nil))
	if err != nil || resp.Code != int16(transport.RespSuccess) {
		return false
	}
	var st transport.GroupStatus
	return transport.DecodeBody(resp.Body, &st) == nil && st.Serving
}

// queueOffsets are the offset requests of one queue, shared by the
// consumers and Admin.
func (c *core) queryConsumerOffset(ctx context.Context, group string, mq MessageQueue) (int64, bool, error) {
	mk := func() *transport.Command {
		h := transport.QueryConsumerOffsetRequestHeader{ConsumerGroup: group, Topic: mq.Topic, QueueID: int32(mq.QueueID), BrokerName: mq.BrokerName}
		return transport.NewRequest(transport.ReqQueryConsumerOffset, h.Encode(), nil)
	}
	resp, addr, err := c.invokeGroup(ctx, mq.Topic, mq.BrokerName, 0, mk)
	if err != nil {
		return 0, false, err
	}
	switch transport.ResponseCode(resp.Code) {
	case transport.RespSuccess:
		var h transport.OffsetResponseHeader
		if err := h.Decode(resp.ExtFields); err != nil {
			return 0, false, fmt.Errorf("client: query consumer offset of %s from %s: %w", mq, addr, err)
		}
		return h.Offset, true, nil
	case transport.RespQueryNotFound:
		return -1, false, nil
	}
	return 0, false, brokerErr("query consumer offset of "+mq.String(), addr, resp)
}

func (c *core) updateConsumerOffset(ctx context.Context, group string, mq MessageQueue, off int64) error {
	mk := func() *transport.Command {
		h := transport.UpdateConsumerOffsetRequestHeader{ConsumerGroup: group, Topic: mq.Topic, QueueID: int32(mq.QueueID), CommitOffset: off, BrokerName: mq.BrokerName}
		return transport.NewRequest(transport.ReqUpdateConsumerOffset, h.Encode(), nil)
	}
	resp, addr, err := c.invokeGroup(ctx, mq.Topic, mq.BrokerName, 0, mk)
	if err != nil {
		return err
	}
	if resp.Code != int16(transport.RespSuccess) {
		return brokerErr("update consumer offset of "+mq.String(), addr, resp)
	}
	return nil
}

// queueOffset asks GET_MAX_OFFSET or GET_MIN_OFFSET.
func (c *core) queueOffset(ctx context.Context, code transport.RequestCode, mq MessageQueue) (int64, error) {
	mk := func() *transport.Command {
		h := transport.QueueHeader{Topic: mq.Topic, QueueID: int32(mq.QueueID), BrokerName: mq.BrokerName}
		return transport.NewRequest(code, h.Encode(), nil)
	}
	return c.offsetCall(ctx, mq, code.String(), mk)
}

func (c *core) searchOffset(ctx context.Context, mq MessageQueue, t time.Time) (int64, error) {
	mk := func() *transport.Command {
		h := transport.SearchOffsetRequestHeader{Topic: mq.Topic, QueueID: int32(mq.QueueID), Timestamp: t.UnixMilli(), BrokerName: mq.BrokerName}
		return transport.NewRequest(transport.ReqSearchOffsetByTimestamp, h.Encode(), nil)
	}
	return c.offsetCall(ctx, mq, "search offset", mk)
}

func (c *core) offsetCall(ctx context.Context, mq MessageQueue, what string, mk func() *transport.Command) (int64, error) {
	resp, addr, err := c.invokeGroup(ctx, mq.Topic, mq.BrokerName, 0, mk)
	if err != nil {
		return 0, err
	}
	if resp.Code != int16(transport.RespSuccess) {
		return 0, brokerErr(what+" of "+mq.String(), addr, resp)
	}
	var h transport.OffsetResponseHeader
	if err := h.Decode(resp.ExtFields); err != nil {
		return 0, fmt.Errorf("client: %s of %s from %s: %w", what, mq, addr, err)
	}
	return h.Offset, nil
}

// pullRequest builds a PULL_MESSAGE request.
func pullRequest(group string, mq MessageQueue, offset int64, max int, sysFlag int32, commit int64, suspend time.Duration, sub *subscription) *transport.Command {
	h := transport.PullMessageRequestHeader{
		ConsumerGroup:        group,
		Topic:                mq.Topic,
		QueueID:              int32(mq.QueueID),
		QueueOffset:          offset,
		MaxMsgNums:           int32(max),
		SysFlag:              sysFlag,
		CommitOffset:         commit,
		SuspendTimeoutMillis: suspend.Milliseconds(),
		Subscription:         sub.expr,
		ExpressionType:       sub.exprType(),
		BrokerName:           mq.BrokerName,
	}
	return transport.NewRequest(transport.ReqPullMessage, h.Encode(), nil)
}

// lockBatch asks broker group brokerName to lock mqs for clientID in group
// (LOCK_BATCH_MQ) and returns the queues the client now holds; the others
// are held by another client. topic (one of the queues' topics) routes the
// request. An error means the group did not answer: the locks are unknown.
func (c *core) lockBatch(ctx context.Context, group, brokerName, topic string, mqs []MessageQueue) (map[MessageQueue]bool, error) {
	body, err := lockBody(group, c.clientID, mqs)
	if err != nil {
		return nil, err
	}
	mk := func() *transport.Command { return transport.NewRequest(transport.ReqLockBatchMQ, nil, body) }
	resp, addr, err := c.invokeGroup(ctx, topic, brokerName, 0, mk)
	if err != nil {
		return nil, err
	}
	if resp.Code != int16(transport.RespSuccess) {
		return nil, brokerErr("lock queues of "+brokerName, addr, resp)
	}
	var rb transport.LockBatchResponseBody
	if err := transport.DecodeBody(resp.Body, &rb); err != nil {
		return nil, fmt.Errorf("client: lock queues of %s from %s: %w", brokerName, addr, err)
	}
	held := make(map[MessageQueue]bool, len(rb.LockOKMQSet))
	for _, q := range rb.LockOKMQSet {
		held[MessageQueue{Topic: q.Topic, BrokerName: q.BrokerName, QueueID: int(q.QueueID)}] = true
	}
	return held, nil
}

// unlockBatch releases clientID's locks of mqs on broker group brokerName
// (UNLOCK_BATCH_MQ).
func (c *core) unlockBatch(ctx context.Context, group, brokerName, topic string, mqs []MessageQueue) error {
	body, err := lockBody(group, c.clientID, mqs)
	if err != nil {
		return err
	}
	mk := func() *transport.Command { return transport.NewRequest(transport.ReqUnlockBatchMQ, nil, body) }
	resp, addr, err := c.invokeGroup(ctx, topic, brokerName, 0, mk)
	if err != nil {
		return err
	}
	if resp.Code != int16(transport.RespSuccess) {
		return brokerErr("unlock queues of "+brokerName, addr, resp)
	}
	return nil
}

func lockBody(group, clientID string, mqs []MessageQueue) ([]byte, error) {
	b := transport.LockBatchRequestBody{ConsumerGroup: group, ClientID: clientID, MQSet: make([]transport.MessageQueue, 0, len(mqs))}
	for _, q := range mqs {
		b.MQSet = append(b.MQSet, q.wire())
	}
	return transport.EncodeBody(b)
}
