package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/raftlog"
	"github.com/raftmq/raftmq/transport"
)

const (
	// maxPullBytes bounds one pull response (Java maxTransferBytesOnMessageInMemory).
	maxPullBytes = 256 << 10
	// maxSuspend bounds a long poll below the client's 30 s call timeout.
	maxSuspend = 25 * time.Second
)

// handlePull serves PULL_MESSAGE from the applied ConsumeQueues; any member
// can serve it, since it only reads committed data. With nothing new and
// the suspend flag set, the request parks until the queue grows or the
// suspend time ends (long polling).
func (b *Broker) handlePull(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.PullMessageRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad pull request header: %v", err)
	}
	if r := checkGroupName(h.ConsumerGroup); r != nil {
		return r
	}
	if !b.live.readable() {
		return respond(transport.RespNoPermission, "the broker[%s] pulling message is forbidden (brokerPermission %d)", b.clientAddr, b.live.perm.Load())
	}
	tc, ok := b.g.Topic(h.Topic)
	if !ok {
		return respond(transport.RespTopicNotExist, "topic[%s] not exist, apply first please!", h.Topic)
	}
	if tc.Perm&transport.PermRead == 0 {
		return respond(transport.RespNoPermission, "the topic[%s] pulling message is forbidden", h.Topic)
	}
	if h.QueueID < 0 || h.QueueID >= queueCount(tc) {
		return respond(transport.RespSystemError, "queueId[%d] is illegal, topic:[%s] topicConfig.readQueueNums:[%d] consumer:[%s]",
			h.QueueID, h.Topic, tc.ReadQueueNums, c.RemoteAddr())
	}
	var sub *subscription
	if h.SysFlag&transport.PullFlagSubscription != 0 && h.Subscription != "" {
		sub = newSubscription(h.Topic, h.Subscription, nil, h.ExpressionType, b.clients.filters)
	} else {
		sub = b.clients.subscription(h.ConsumerGroup, h.Topic)
	}
	if r := b.checkSubscription(sub); r != nil {
		return r
	}
	if h.SysFlag&transport.PullFlagCommitOffset != 0 && h.CommitOffset >= 0 {
		b.commitOffsetAsync(h.ConsumerGroup, h.Topic, h.QueueID, h.CommitOffset)
	}
	maxMsgs := int(h.MaxMsgNums)
	if maxMsgs <= 0 || maxMsgs > 512 {
		maxMsgs = 32
	}

	resp, found := b.pullOnce(h.ConsumerGroup, h.Topic, h.QueueID, h.QueueOffset, maxMsgs, sub)
	if found || h.SysFlag&transport.PullFlagSuspend == 0 || resp.Code != int16(transport.RespPullNotFound) {
		return resp
	}
	// Long poll: park until the queue has a unit at the requested offset.
	suspend := time.Duration(h.SuspendTimeoutMillis) * time.Millisecond
	if suspend <= 0 || suspend > maxSuspend {
		suspend = maxSuspend
	}
	wait, err := b.g.QueueWait(h.Topic, h.QueueID, h.QueueOffset)
	if err != nil {
		return resp
	}
	t := time.NewTimer(suspend)
	defer t.Stop()
	b.metrics.parkedPulls.Inc()
	defer b.metrics.parkedPulls.Dec()
	select {
	case <-wait:
	case <-t.C:
		return resp
	case <-ctx.Done():
		return resp
	case <-b.stop:
		return resp
	}
	resp, _ = b.pullOnce(h.ConsumerGroup, h.Topic, h.QueueID, h.QueueOffset, maxMsgs, sub)
	return resp
}

// checkSubscription answers a subscription this broker cannot serve, as
// RocketMQ does: SUBSCRIPTION_PARSE_FAILED for a bad selector,
// SYSTEM_ERROR for SQL92 with enablePropertyFilter=false.
func (b *Broker) checkSubscription(sub *subscription) *transport.Command {
	switch {
	case sub == nil:
		return nil
	case sub.err != nil:
		return respond(transport.RespSubscriptionParseFailed, "parse the consumer's subscription[%s] failed: %v", sub.subString, sub.err)
	case sub.sql != nil && !b.live.propertyFilter.Load():
		return respond(transport.RespSystemError, "The broker does not support consumer to filter message by %s (enablePropertyFilter=false)", exprSQL92)
	}
	return nil
}

// pullOnce reads up to maxMsgs messages from offset. found reports whether
// the body holds messages.
func (b *Broker) pullOnce(group, topic string, qid int32, offset int64, maxMsgs int, sub *subscription) (*transport.Command, bool) {
	minOff, maxOff := b.g.QueueBounds(topic, qid)
	rh := transport.PullMessageResponseHeader{MinOffset: minOff, MaxOffset: maxOff}
	reply := func(code transport.ResponseCode, next int64, remark string) *transport.Command {
		rh.NextBeginOffset = next
		r := transport.NewResponse(code, remark)
		r.ExtFields = rh.Encode()
		return r
	}
	switch {
	case maxOff == 0 && offset <= 0:
		return reply(transport.RespPullNotFound, 0, "no message in queue"), false
	case offset < minOff && b.g.PartialHistory():
		// The other members still hold what this one fetches after its
		// snapshot install: moving the consumer to this minimum would
		// skip messages. It waits here as at the end of the queue.
		return reply(transport.RespPullNotFound, offset, "this member is still fetching the history before its snapshot; retry"), false
	case offset < minOff:
		return reply(transport.RespPullOffsetMoved, minOff, "offset too small"), false
	case offset == maxOff:
		return reply(transport.RespPullNotFound, offset, "no new message"), false
	case offset > maxOff && !b.isLeader():
		// This member may just be behind (a restarted follower, or one
		// advertised while the group elects): never rewind a consumer on
		// its say; it waits here as at the end of the queue.
		return reply(transport.RespPullNotFound, offset, "offset ahead of this member's queue; it is catching up"), false
	case offset > maxOff:
		next := maxOff
		if minOff == 0 {
			next = minOff
		}
		return reply(transport.RespPullOffsetMoved, next, "offset overflow"), false
	}
	units, err := b.g.QueueRange(topic, qid, offset, maxMsgs, nil)
	if err != nil {
		if errors.Is(err, fsm.ErrQueueOffset) {
			if b.g.PartialHistory() {
				return reply(transport.RespPullNotFound, offset, "this member is still fetching the history before its snapshot; retry"), false
			}
			mn, _ := b.g.QueueBounds(topic, qid)
			return reply(transport.RespPullOffsetMoved, mn, "offset moved"), false
		}
		return b.statusFromErr(fmt.Sprintf("pull %s/%d@%d", topic, qid, offset), err), false
	}
	// The records' sizes are known: one allocation for the body, not a
	// doubling per record (a fifth of a leader's CPU under profile (g)).
	want := 0
	for _, u := range units {
		if want > 0 && want+int(u.Size) > maxPullBytes {
			break
		}
		want += max(int(u.Size), 0)
	}
	// A corrupt first unit may claim any size: ReadMessage refuses it, and
	// until then the body is no larger than a full response.
	body := make([]byte, 0, min(want, maxPullBytes))
	next := offset
	count := 0
	for i, u := range units {
		if len(body) > 0 && len(body)+int(u.Size) > maxPullBytes {
			break
		}
		next = offset + int64(i) + 1
		if !sub.match(u.TagHash) {
			continue
		}
		start := len(body)
		body, err = b.g.ReadMessage(body, u.PhysOffset, u.Size)
		if err != nil {
			if errors.Is(err, raft.ErrLogNotFound) && b.g.PartialHistory() {
				return reply(transport.RespPullNotFound, offset, "this member is still fetching the history before its snapshot; retry"), false
			}
			if errors.Is(err, raft.ErrLogNotFound) {
				// Retention removed it: skip ahead to what is left.
				return reply(transport.RespPullOffsetMoved, b.g.QueueFirstAtOrAfter(topic, qid, b.commitLogMin()), "message removed by retention"), false
			}
			if errors.Is(err, raftlog.ErrBeyondLimit) {
				next = offset + int64(i)
				break
			}
			return b.statusFromErr(fmt.Sprintf("pull %s/%d@%d: read commitlog at %d", topic, qid, offset+int64(i), u.PhysOffset), err), false
		}
		rec := body[start:]
		if !sub.matchProps(rec) {
			body = body[:start]
			continue
		}
		message.SetRecordQueueOffset(rec, offset+int64(i))
		message.SetRecordPhysOffset(rec, u.PhysOffset)
		count++
	}
	if count == 0 {
		// Everything filtered out: the client pulls again from next at once.
		return reply(transport.RespPullRetryImmediately, next, "no matched message"), false
	}
	b.metrics.pulled(group, topic, count, len(body))
	r := reply(transport.RespSuccess, next, "")
	r.Body = body
	return r, true
}
