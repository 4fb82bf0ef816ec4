package broker

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// Administration: broker and queue statistics, group status, offset
// resets and leadership transfer.

func (b *Broker) handleRuntimeInfo(context.Context, *transport.Conn, *transport.Command) *transport.Command {
	return okBody(transport.KVTable{Table: b.runtimeTable()})
}

func (b *Broker) status() transport.GroupStatus {
	gs := b.g.Status()
	st := transport.GroupStatus{
		BrokerName: b.cfg.BrokerName, NodeID: b.self.ID, ClientAddr: b.clientAddr, RaftAddr: b.self.Addr,
		GroupAddr: b.cfg.GroupAddr, PID: os.Getpid(),
		State: gs.State, Serving: gs.Serving, Leader: gs.Leader, Term: gs.Term,
		FirstIndex: gs.FirstIndex, LastIndex: gs.LastIndex, CommitIndex: gs.CommitIndex, AppliedIndex: gs.AppliedIndex,
		RaftAppliedIndex: gs.RaftAppliedIndex, MinOffset: gs.MinOffset, WriteOffset: gs.WriteOffset, Segments: gs.Segments,
		DiskFull: gs.DiskFull, DiskUsed: gs.DiskUsed, DiskAvail: gs.DiskAvail, InstalledSnapshot: gs.InstalledSnapshot,
		FlushDisk: b.cfg.Log.Flush.String(), Peers: map[string]string{}, Messages: gs.Messages,
	}
	for _, p := range b.members() {
		st.Peers[p.ID] = p.Addr
	}
	st.PendingDelayed, st.PendingDelayedLevel = b.pendingIn(message.ScheduleTopic, len(b.delays))
	st.PendingTimers, _ = b.pendingIn(message.TimerTopic, len(message.TimerLevels))
	st.OpenTransactions = b.g.OpenTxns()
	h := gs.History
	st.PartialHistory = gs.PartialHistory
	st.History = transport.HistoryStatus{Snapshot: h.Snapshot, FromIndex: h.FromIndex, Donor: h.Donor, Fetched: h.Fetched, Total: h.Total,
		MBps: h.MBps, Error: h.Error, TookMs: h.Took.Milliseconds(), Messages: h.Messages,
		FetchMs: h.FetchTook.Milliseconds(), InstallMs: h.InstallTook.Milliseconds(), RebuildMs: h.RebuildTook.Milliseconds()}
	if !h.Done.IsZero() {
		st.History.Done = h.Done.UnixMilli()
	}
	return st
}

// pendingIn counts the messages of a waiting topic (delay levels or
// timers) the scheduler has not moved on yet, in all and per queue. A
// timer waits in one queue at a time, so each pending timer counts once.
func (b *Broker) pendingIn(topic string, queues int) (int64, []int64) {
	var total int64
	per := make([]int64, queues)
	for q := 0; q < queues; q++ {
		mn, mx := b.g.QueueBounds(topic, int32(q))
		off, ok := b.g.ConsumerOffset(scheduleGroup, topic, int32(q))
		if !ok || off < mn {
			off = mn
		}
		if mx > off {
			per[q] = mx - off
			total += per[q]
		}
	}
	return total, per
}

func (b *Broker) handleGroupStatus(context.Context, *transport.Conn, *transport.Command) *transport.Command {
	return okBody(b.status())
}

// handleTopicStats serves GET_TOPIC_STATS_INFO: every queue's extent
// and the store time of its last message (Java TopicStatsTable).
func (b *Broker) handleTopicStats(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	topic := req.Ext("topic")
	tc, ok := b.g.Topic(topic)
	if !ok {
		return respond(transport.RespTopicNotExist, "topic[%s] not exist", topic)
	}
	st := &transport.TopicStatsTable{OffsetTable: map[transport.MessageQueue]transport.TopicOffset{}}
	for q := int32(0); q < queueCount(tc); q++ {
		mn, mx := b.queueBounds(topic, q)
		st.OffsetTable[transport.MessageQueue{Topic: topic, BrokerName: b.cfg.BrokerName, QueueID: q}] = transport.TopicOffset{
			MinOffset: mn, MaxOffset: mx, LastUpdateTimestamp: b.queueStoreTime(topic, q, mx-1, mn)}
	}
	return okBody(st)
}

// queueStoreTime is the store time of the message at off (0: none).
func (b *Broker) queueStoreTime(topic string, q int32, off, minOff int64) int64 {
	if off < 0 || off < minOff {
		return 0
	}
	u, err := b.g.QueueUnit(topic, q, off)
	if err != nil {
		return 0
	}
	ts, _ := b.storeTime(u)
	return ts
}

// handleConsumeStats serves GET_CONSUME_STATS (Java ConsumeStats): for
// the topic, or every topic the group committed offsets for (less those
// it does not subscribe to when members of it are connected here, as
// RocketMQ does), each queue's max offset, the committed offset and the
// store time of the last consumed message.
func (b *Broker) handleConsumeStats(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.GetConsumeStatsRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad consume stats header: %v", err)
	}
	topics := []string{h.Topic}
	if h.Topic == "" {
		topics = nil
		for t := range b.g.GroupOffsets(h.ConsumerGroup) {
			topics = append(topics, t)
		}
		sort.Strings(topics)
	}
	subscribed := b.clients.subscribedTopics(h.ConsumerGroup)
	st := &transport.ConsumeStats{OffsetTable: map[transport.MessageQueue]transport.OffsetWrapper{}}
	for _, t := range topics {
		tc, ok := b.g.Topic(t)
		if !ok || (subscribed != nil && !subscribed[t]) {
			continue
		}
		for q := int32(0); q < queueCount(tc); q++ {
			mn, mx := b.queueBounds(t, q)
			w := transport.OffsetWrapper{BrokerOffset: mx, MinOffset: mn, MaxTimestamp: b.queueStoreTime(t, q, mx-1, mn)}
			if o, ok := b.g.ConsumerOffset(h.ConsumerGroup, t, q); ok {
				w.ConsumerOffset, w.Committed = o, true
				w.LastTimestamp = b.queueStoreTime(t, q, o-1, mn)
			}
			w.PullOffset = w.ConsumerOffset
			st.OffsetTable[transport.MessageQueue{Topic: t, BrokerName: b.cfg.BrokerName, QueueID: q}] = w
		}
	}
	return okBody(st)
}

// handleConsumerConnections serves GET_CONSUMER_CONNECTION_LIST (Java
// ConsumerConnection) for the whole broker group: every member's
// connections of the group (each tagged with the member holding it), and
// the subscriptions and mode they registered.
func (b *Broker) handleConsumerConnections(ctx context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.ConsumerGroupHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad consumer connection header: %v", err)
	}
	cc := b.groupConnections(ctx, h.ConsumerGroup)
	if len(cc.ConnectionSet) == 0 {
		return respond(transport.RespConsumerNotOnline, "the consumer group[%s] not online", h.ConsumerGroup)
	}
	return okBody(cc)
}

// groupConnections merges every member's registrations of group.
func (b *Broker) groupConnections(ctx context.Context, group string) transport.ConsumerConnection {
	views := []transport.LocalConsumers{b.clients.local(group, b.self.ID)}
	ctx, cancel := context.WithTimeout(ctx, peerAskTimeout)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range b.members() {
		if m.ID == b.self.ID {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := transport.NewRequest(transport.ReqLocalConsumers, (&transport.ConsumerGroupHeader{ConsumerGroup: group}).Encode(), nil)
			resp, err := b.peerClient.Invoke(ctx, m.Addr, req)
			if err != nil || resp.Code != int16(transport.RespSuccess) {
				return
			}
			var lc transport.LocalConsumers
			if transport.DecodeBody(resp.Body, &lc) != nil {
				return
			}
			if len(lc.Connections) == 0 { // an older member: ids only
				for _, id := range lc.ConsumerIDList {
					lc.Connections = append(lc.Connections, transport.Connection{ClientID: id, Member: m.ID})
				}
			}
			mu.Lock()
			views = append(views, lc)
			mu.Unlock()
		}()
	}
	wg.Wait()
	cc := transport.ConsumerConnection{ConnectionSet: []transport.Connection{}, SubscriptionTable: map[string]transport.SubscriptionData{}}
	seen := map[string]bool{}
	for _, v := range views {
		if cc.ConsumeType == "" {
			cc.ConsumeType, cc.MessageModel, cc.ConsumeFromWhere = v.ConsumeType, v.MessageModel, v.ConsumeFromWhere
		}
		for _, c := range v.Connections {
			if !seen[c.ClientID] {
				seen[c.ClientID] = true
				cc.ConnectionSet = append(cc.ConnectionSet, c)
			}
		}
		for _, sd := range v.Subscriptions {
			if _, ok := cc.SubscriptionTable[sd.Topic]; !ok {
				cc.SubscriptionTable[sd.Topic] = sd
			}
		}
	}
	sort.Slice(cc.ConnectionSet, func(i, j int) bool { return cc.ConnectionSet[i].ClientID < cc.ConnectionSet[j].ClientID })
	return cc
}

// consumerCallTimeout bounds a request relayed to a consumer.
const consumerCallTimeout = 5 * time.Second

// handleConsumerRunningInfo serves GET_CONSUMER_RUNNING_INFO as RocketMQ
// does: the request goes on to the consumer, over its connection (on
// whichever member holds it), and the consumer's answer comes back as is.
func (b *Broker) handleConsumerRunningInfo(ctx context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.GetConsumerRunningInfoRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad consumer running info header: %v", err)
	}
	if _, ok := b.groupConsumers(ctx, h.ConsumerGroup)[h.ClientID]; !ok {
		return respond(transport.RespSystemError, "The Consumer <%s> <%s> not online", h.ConsumerGroup, h.ClientID)
	}
	ext := make(map[string]string, len(req.ExtFields))
	for k, v := range req.ExtFields {
		if k != transport.ExtForwarded && k != transport.ExtBornHost {
			ext[k] = v
		}
	}
	ctx, cancel := context.WithTimeout(ctx, consumerCallTimeout)
	defer cancel()
	resp, err := b.push(ctx, pushTarget{clientID: h.ClientID}, transport.NewRequest(transport.ReqGetConsumerRunningInfo, ext, req.Body), true)
	switch {
	case err != nil && ctx.Err() != nil:
		return respond(transport.RespConsumeMsgTimeout, "consumer <%s> <%s> Timeout: %v", h.ConsumerGroup, h.ClientID, err)
	case errors.Is(err, errNoClient):
		return respond(transport.RespSystemError, "The Consumer <%s> <%s> not online", h.ConsumerGroup, h.ClientID)
	case err != nil:
		return respond(transport.RespSystemError, "invoke consumer <%s> <%s> Exception: %v", h.ConsumerGroup, h.ClientID, err)
	}
	out := transport.NewResponse(transport.ResponseCode(resp.Code), resp.Remark)
	out.ExtFields, out.Body = resp.Fields(), resp.Body
	return out
}

// handleResetOffset commits, through raft, the first offset at or after
// the timestamp for every queue of the topic (mqadmin resetOffsetByTime).
func (b *Broker) handleResetOffset(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.ResetOffsetRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad reset offset header: %v", err)
	}
	if r := checkGroupName(h.Group); r != nil {
		return r
	}
	tc, ok := b.g.Topic(h.Topic)
	if !ok {
		return respond(transport.RespTopicNotExist, "topic[%s] not exist", h.Topic)
	}
	if !b.waitLeaderReady(ctx) {
		return b.forward(ctx, c, req)
	}
	var commits []fsm.OffsetCommit
	for q := int32(0); q < queueCount(tc); q++ {
		commits = append(commits, fsm.OffsetCommit{Group: h.Group, Topic: h.Topic, QueueID: q, Offset: b.searchOffset(h.Topic, q, h.Timestamp)})
	}
	if err := b.commitOffsets(ctx, commits); err != nil {
		return b.statusFromErr("reset offset", err)
	}
	var st transport.OffsetStats
	for _, cm := range commits {
		st.Queues = append(st.Queues, transport.QueueOffsetStats{Topic: cm.Topic, BrokerName: b.cfg.BrokerName, QueueID: cm.QueueID, ConsumerOffset: cm.Offset})
	}
	// Running consumers hold offsets in memory: push the new ones
	// (RESET_CONSUMER_CLIENT_OFFSET, body in the gson layout the official
	// client parses: {"offsetTable":[[{mq},offset],...]}).
	b.pushResetOffsets(h, commits)
	return okBody(st)
}

func (b *Broker) handleTransferLeader(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	if !b.g.RaftLeader() {
		return b.forward(ctx, c, req)
	}
	target := req.Ext("target")
	if target != "" {
		known := false
		for _, p := range b.members() {
			known = known || p.ID == target
		}
		if !known {
			return respond(transport.RespInvalidParameter, "transfer leader: %q is not a member of %s", target, b.cfg.BrokerName)
		}
		if target == b.self.ID {
			return transport.NewResponse(transport.RespSuccess, "already the leader")
		}
	}
	if err := b.g.TransferLeadership(target); err != nil {
		return b.statusFromErr("transfer leader", err)
	}
	return transport.NewResponse(transport.RespSuccess, "")
}

// pushResetOffsets tells the group's connected members their new offsets.
func (b *Broker) pushResetOffsets(h transport.ResetOffsetRequestHeader, commits []fsm.OffsetCommit) {
	var body []byte
	body = append(body, `{"offsetTable":[`...)
	for i, cm := range commits {
		if i > 0 {
			body = append(body, ',')
		}
		mq, _ := json.Marshal(transport.MessageQueue{Topic: cm.Topic, BrokerName: b.cfg.BrokerName, QueueID: cm.QueueID})
		body = append(body, '[')
		body = append(body, mq...)
		body = append(body, ',')
		body = strconv.AppendInt(body, cm.Offset, 10)
		body = append(body, ']')
	}
	body = append(body, "]}"...)
	for _, c := range b.clients.conns(h.Group) {
		req := transport.NewRequest(transport.ReqResetConsumerClientOffset, h.Encode(), body)
		if err := c.Send(req); err != nil {
			b.logger.Debug("reset offset push failed", "group", h.Group, "error", err)
		}
	}
}
