package broker

import (
	"context"
	"encoding/json"
	"os"
	"sort"
	"strconv"

	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/transport"
)

// Administration: broker and queue statistics, group status, offset
// resets and leadership transfer.

func (b *Broker) handleRuntimeInfo(context.Context, *transport.Conn, *transport.Command) *transport.Command {
	st := b.status()
	p, cns := b.clients.counts()
	t := map[string]string{
		"brokerVersionDesc":      "raftmq",
		"brokerName":             st.BrokerName,
		"raftNodeId":             st.NodeID,
		"raftState":              st.State,
		"raftLeader":             st.Leader,
		"raftTerm":               strconv.FormatUint(st.Term, 10),
		"raftLastIndex":          strconv.FormatUint(st.LastIndex, 10),
		"raftCommitIndex":        strconv.FormatUint(st.CommitIndex, 10),
		"raftAppliedIndex":       strconv.FormatUint(st.AppliedIndex, 10),
		"commitLogMinOffset":     strconv.FormatInt(st.MinOffset, 10),
		"commitLogMaxOffset":     strconv.FormatInt(st.WriteOffset, 10),
		"commitLogSegments":      strconv.Itoa(st.Segments),
		"diskFull":               strconv.FormatBool(st.DiskFull),
		"flushDiskType":          st.FlushDisk,
		"msgPutTotalTodayNow":    strconv.FormatUint(b.metrics.putTotal.Load(), 10),
		"msgGetTotalTodayNow":    strconv.FormatUint(b.metrics.getTotal.Load(), 10),
		"messagesApplied":        strconv.FormatUint(st.Messages, 10),
		"producerClients":        strconv.Itoa(p),
		"consumerClients":        strconv.Itoa(cns),
		"topicCount":             strconv.Itoa(len(b.g.Topics())),
		"subscriptionGroupCount": strconv.Itoa(len(b.g.Groups())),
	}
	return okBody(transport.KVTable{Table: t})
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

func (b *Broker) handleGroupStatus(context.Context, *transport.Conn, *transport.Command) *transport.Command {
	return okBody(b.status())
}

func (b *Broker) queueStats(topic string, tc fsm.TopicConfig, group string) []transport.QueueOffsetStats {
	var out []transport.QueueOffsetStats
	n := queueCount(tc)
	for q := int32(0); q < n; q++ {
		mn, mx := b.queueBounds(topic, q)
		s := transport.QueueOffsetStats{Topic: topic, BrokerName: b.cfg.BrokerName, QueueID: q, MinOffset: mn, MaxOffset: mx, ConsumerOffset: -1}
		if group != "" {
			if o, ok := b.g.ConsumerOffset(group, topic, q); ok {
				s.ConsumerOffset = o
			}
		}
		if mx > mn {
			if u, err := b.g.QueueUnit(topic, q, mx-1); err == nil {
				s.LastTimestamp, _ = b.storeTime(u)
			}
		}
		out = append(out, s)
	}
	return out
}

func (b *Broker) handleTopicStats(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	topic := req.Ext("topic")
	tc, ok := b.g.Topic(topic)
	if !ok {
		return respond(transport.RespTopicNotExist, "topic[%s] not exist", topic)
	}
	return okBody(transport.OffsetStats{Queues: b.queueStats(topic, tc, "")})
}

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
	var st transport.OffsetStats
	for _, t := range topics {
		tc, ok := b.g.Topic(t)
		if !ok {
			continue
		}
		st.Queues = append(st.Queues, b.queueStats(t, tc, h.ConsumerGroup)...)
	}
	return okBody(st)
}

// handleConsumerConnections describes a consumer group from this member's
// registrations, with its clients on every member.
func (b *Broker) handleConsumerConnections(ctx context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	group := req.Ext("consumerGroup")
	info := groupInfo{Name: group}
	for _, g := range b.clients.groups() {
		if g.Name == group {
			info = g
		}
	}
	info.Members = b.groupConsumers(ctx, group)
	info.Clients = make([]string, 0, len(info.Members))
	for id := range info.Members {
		info.Clients = append(info.Clients, id)
	}
	sort.Strings(info.Clients)
	if len(info.Clients) == 0 {
		return respond(transport.RespConsumerNotOnline, "the consumer group[%s] not online", group)
	}
	return okBody(info)
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
