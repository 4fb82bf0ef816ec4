package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// handleQueryConsumerOffset answers from the leader's replicated offsets
// once a heartbeat round confirmed it still leads: its state then holds
// every offset commit any leader acknowledged, so a consumer assigned a
// queue never resumes behind its commit. Followers forward (their state
// may lag by the commits in flight). No stored offset is QUERY_NOT_FOUND
// (22): the client then applies its consumeFromWhere.
func (b *Broker) handleQueryConsumerOffset(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.QueryConsumerOffsetRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad query offset header: %v", err)
	}
	if !b.waitLeaderReady(ctx) {
		return b.forward(ctx, c, req)
	}
	if err := b.g.VerifyLeader(ctx); err != nil {
		return b.statusFromErr("query consumer offset", err)
	}
	off, ok := b.g.ConsumerOffset(h.ConsumerGroup, h.Topic, h.QueueID)
	if !ok && !b.newGroupStartsAtZero(h.Topic, h.QueueID) {
		return respond(transport.RespQueryNotFound, "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first")
	}
	r := transport.NewResponse(transport.RespSuccess, "")
	r.ExtFields = (&transport.OffsetResponseHeader{Offset: off}).Encode()
	return r
}

// newGroupStartsAtZero is RocketMQ's rule for a group with no offset on a
// queue: it starts at 0 (whatever its consumeFromWhere) when the queue was
// never trimmed and its first message is still "in memory", within
// NewGroupWindow bytes of the CommitLog's end; an empty queue counts. So a
// new group on a young topic gets the messages sent while it was starting
// (its queues are taken after its first rebalance), and CONSUME_FROM_LAST
// skips history only where the history is large. A member still fetching
// its history does not know the queue's start and never answers 0.
func (b *Broker) newGroupStartsAtZero(topic string, qid int32) bool {
	if b.cfg.NewGroupWindow <= 0 || b.g.PartialHistory() {
		return false
	}
	min, max := b.g.QueueBounds(topic, qid)
	if min > 0 {
		return false
	}
	if max == 0 {
		return true
	}
	u, err := b.g.QueueUnit(topic, qid, 0)
	if err != nil {
		return false
	}
	_, end := b.g.CommitLogBounds()
	return end-u.PhysOffset <= b.cfg.NewGroupWindow
}

// handleUpdateConsumerOffset commits an offset through raft (on the leader;
// followers forward), so a failover never rewinds a consumer.
func (b *Broker) handleUpdateConsumerOffset(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.UpdateConsumerOffsetRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad update offset header: %v", err)
	}
	if r := checkGroupName(h.ConsumerGroup); r != nil {
		return r
	}
	tc, ok := b.g.Topic(h.Topic)
	if !ok {
		return respond(transport.RespTopicNotExist, "topic[%s] not exist", h.Topic)
	}
	if h.QueueID < 0 || h.QueueID >= queueCount(tc) {
		return respond(transport.RespInvalidParameter, "queueId[%d] is illegal, topic:[%s] has %d queues", h.QueueID, h.Topic, queueCount(tc))
	}
	if cur, ok := b.g.ConsumerOffset(h.ConsumerGroup, h.Topic, h.QueueID); ok && cur == h.CommitOffset {
		return transport.NewResponse(transport.RespSuccess, "")
	}
	if !b.waitLeaderReady(ctx) {
		return b.forward(ctx, c, req)
	}
	if err := b.commitOffsets(ctx, []fsm.OffsetCommit{{Group: h.ConsumerGroup, Topic: h.Topic, QueueID: h.QueueID, Offset: h.CommitOffset}}); err != nil {
		return b.statusFromErr("update consumer offset", err)
	}
	return transport.NewResponse(transport.RespSuccess, "")
}

func (b *Broker) commitOffsets(ctx context.Context, commits []fsm.OffsetCommit) error {
	_, err := b.g.Propose(ctx, 64*len(commits), func(eb *fsm.EntryBuilder) error {
		return eb.AddJSON(fsm.CmdOffsets, commits)
	})
	return err
}

// commitOffsetAsync records the offset a pull carried (sysFlag bit 0), as
// Java does on the master; followers leave it to UPDATE_CONSUMER_OFFSET.
func (b *Broker) commitOffsetAsync(group, topic string, qid int32, off int64) {
	if !b.isLeader() {
		return
	}
	if cur, ok := b.g.ConsumerOffset(group, topic, qid); ok && cur >= off {
		return
	}
	b.goFunc(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b.commitOffsets(ctx, []fsm.OffsetCommit{{Group: group, Topic: topic, QueueID: qid, Offset: off}})
	})
}

func offsetResponse(off int64) *transport.Command {
	r := transport.NewResponse(transport.RespSuccess, "")
	r.ExtFields = (&transport.OffsetResponseHeader{Offset: off}).Encode()
	return r
}

func (b *Broker) queueBounds(topic string, qid int32) (min, max int64) {
	return b.g.QueueBounds(topic, qid)
}

func (b *Broker) handleGetMaxOffset(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.QueueHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad get max offset header: %v", err)
	}
	_, max := b.queueBounds(h.Topic, h.QueueID)
	return offsetResponse(max)
}

// handleGetMinOffset: a member still fetching the history before its
// snapshot does not know the group's minimum; it asks the leader, and a
// leader in that state answers "retry" (a consumer starting from the
// first offset would otherwise skip the history).
func (b *Broker) handleGetMinOffset(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.QueueHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad get min offset header: %v", err)
	}
	if b.g.PartialHistory() {
		if !b.isLeader() && req.Ext(transport.ExtForwarded) == "" {
			return b.forward(ctx, c, req)
		}
		return respond(transport.RespSystemBusy, "get min offset: %s is still fetching the history before its snapshot; retry", b.self.ID)
	}
	min, _ := b.queueBounds(h.Topic, h.QueueID)
	return offsetResponse(min)
}

// storeTime reads a message's store timestamp.
func (b *Broker) storeTime(u fsm.Unit) (int64, error) {
	rec, err := b.g.ReadMessage(nil, u.PhysOffset, u.Size)
	if err != nil {
		return 0, err
	}
	v, err := message.ParseRecord(rec)
	if err != nil {
		return 0, err
	}
	return v.StoreTimestamp, nil
}

// searchOffset returns the first queue offset whose store time is at or
// after ts (ms), or the max offset if none.
func (b *Broker) searchOffset(topic string, qid int32, ts int64) int64 {
	return b.g.QueueSearch(topic, qid, func(u fsm.Unit) bool {
		st, err := b.storeTime(u)
		return err != nil || st >= ts
	})
}

func (b *Broker) handleSearchOffset(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.SearchOffsetRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad search offset header: %v", err)
	}
	return offsetResponse(b.searchOffset(h.Topic, h.QueueID, h.Timestamp))
}

func (b *Broker) handleEarliestStoreTime(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.QueueHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad header: %v", err)
	}
	mn, mx := b.g.QueueBounds(h.Topic, h.QueueID)
	if mx == mn {
		return respond(transport.RespSystemError, "no message in queue %s/%d", h.Topic, h.QueueID)
	}
	u, err := b.g.QueueUnit(h.Topic, h.QueueID, mn)
	if err != nil {
		return b.statusFromErr(fmt.Sprintf("earliest message of %s/%d", h.Topic, h.QueueID), err)
	}
	ts, err := b.storeTime(u)
	if err != nil {
		return b.statusFromErr(fmt.Sprintf("earliest message of %s/%d", h.Topic, h.QueueID), err)
	}
	r := transport.NewResponse(transport.RespSuccess, "")
	r.ExtFields = (&transport.TimestampResponseHeader{Timestamp: ts}).Encode()
	return r
}

func (b *Broker) commitLogMin() int64 {
	mn, _ := b.g.CommitLogBounds()
	return mn
}

func (b *Broker) commitLogEnd() int64 {
	_, end := b.g.CommitLogBounds()
	return end
}
