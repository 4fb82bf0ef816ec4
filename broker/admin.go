package broker

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// registerHandlers installs every request processor on s (the client port
// and the peer channel share them).
func (b *Broker) registerHandlers(s *transport.Server) {
	h := map[transport.RequestCode]transport.HandlerFunc{
		transport.ReqSendMessage:                      b.handleSend,
		transport.ReqSendMessageV2:                    b.handleSend,
		transport.ReqSendBatchMessage:                 b.handleSend,
		transport.ReqPullMessage:                      b.handlePull,
		transport.ReqQueryConsumerOffset:              b.handleQueryConsumerOffset,
		transport.ReqUpdateConsumerOffset:             b.handleUpdateConsumerOffset,
		transport.ReqGetMaxOffset:                     b.handleGetMaxOffset,
		transport.ReqGetMinOffset:                     b.handleGetMinOffset,
		transport.ReqSearchOffsetByTimestamp:          b.handleSearchOffset,
		transport.ReqGetEarliestMsgStoreTime:          b.handleEarliestStoreTime,
		transport.ReqHeartbeat:                        b.handleHeartbeat,
		transport.ReqUnregisterClient:                 b.handleUnregisterClient,
		transport.ReqCheckClientConfig:                b.handleCheckClientConfig,
		transport.ReqGetConsumerListByGroup:           b.handleConsumerList,
		transport.ReqLockBatchMQ:                      b.handleLock,
		transport.ReqUnlockBatchMQ:                    b.handleUnlock,
		transport.ReqConsumerSendMsgBack:              b.handleSendBack,
		transport.ReqQueryMessage:                     b.handleQueryMessage,
		transport.ReqViewMessageByID:                  b.handleViewMessage,
		transport.ReqUpdateAndCreateTopic:             b.handleUpdateTopic,
		transport.ReqGetAllTopicConfig:                b.handleAllTopicConfig,
		transport.ReqDeleteTopicInBroker:              b.handleDeleteTopic,
		transport.ReqUpdateAndCreateSubscriptionGroup: b.handleUpdateGroup,
		transport.ReqGetAllSubscriptionGroupConfig:    b.handleAllGroups,
		transport.ReqDeleteSubscriptionGroup:          b.handleDeleteGroup,
		transport.ReqGetBrokerRuntimeInfo:             b.handleRuntimeInfo,
		transport.ReqGetTopicStatsInfo:                b.handleTopicStats,
		transport.ReqGetConsumeStats:                  b.handleConsumeStats,
		transport.ReqGetConsumerConnectionList:        b.handleConsumerConnections,
		transport.ReqInvokeBrokerToResetOffset:        b.handleResetOffset,
		transport.ReqTransferLeader:                   b.handleTransferLeader,
		transport.ReqGetGroupStatus:                   b.handleGroupStatus,
		transport.ReqUpdateAndCreateACLConfig:         b.handleUpdateACL,
		transport.ReqDeleteACLConfig:                  b.handleDeleteACL,
		transport.ReqGetBrokerClusterACLInfo:          b.handleACLInfo,
	}
	for code, f := range h {
		s.Handle(code, f)
	}
	b.handlers = h
}

func okBody(v any) *transport.Command { return transport.NewBodyResponse(v) }

func (b *Broker) handleHeartbeat(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	var hb transport.HeartbeatData
	if err := transport.DecodeBody(req.Body, &hb); err != nil {
		return respond(transport.RespInvalidParameter, "bad heartbeat body: %v", err)
	}
	if hb.ClientID == "" {
		return respond(transport.RespInvalidParameter, "heartbeat without clientID")
	}
	for _, pd := range hb.ProducerDataSet {
		if r := checkGroupName(pd.GroupName); r != nil {
			return r
		}
	}
	for _, cd := range hb.ConsumerDataSet {
		if r := checkGroupName(cd.GroupName); r != nil {
			return r
		}
		for _, sd := range cd.SubscriptionDataSet {
			if r := checkTopicName(sd.Topic); r != nil {
				return r
			}
		}
	}
	for _, g := range b.clients.heartbeat(c, &hb, time.Now()) {
		b.notifyGroup(g)
	}
	if b.isLeader() {
		for _, cd := range hb.ConsumerDataSet {
			b.ensureGroup(ctx, cd.GroupName, cd.MessageModel == "BROADCASTING")
		}
	}
	return transport.NewResponse(transport.RespSuccess, "")
}

// handleCheckClientConfig serves CHECK_CLIENT_CONFIG: the Java consumer
// sends it at start for SQL92 subscriptions, so that a selector the
// broker cannot run fails the start instead of every pull.
func (b *Broker) handleCheckClientConfig(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var body transport.CheckClientRequestBody
	if err := transport.DecodeBody(req.Body, &body); err != nil {
		return respond(transport.RespInvalidParameter, "bad CHECK_CLIENT_CONFIG body: %v", err)
	}
	sd := body.SubscriptionData
	sub := newSubscription(sd.Topic, sd.SubString, sd.TagsSet, sd.ExpressionType, b.clients.filters)
	if r := b.checkSubscription(sub); r != nil {
		return r
	}
	return transport.NewResponse(transport.RespSuccess, "")
}

// ensureGroup creates a consumer group's config and its %RETRY% topic on
// first sight (Java does it on heartbeat), so the retry topic has a route.
func (b *Broker) ensureGroup(ctx context.Context, group string, broadcast bool) {
	if b.cfg.AutoCreateSubscriptionGroup {
		if _, ok := b.g.Group(group); !ok {
			gc := fsm.GroupConfig{GroupName: group, ConsumeEnable: true, ConsumeFromMinEnable: true, ConsumeBroadcastEnable: true,
				RetryQueueNums: 1, RetryMaxTimes: 16, NotifyConsumerIDs: true}
			b.g.Propose(ctx, 256, func(eb *fsm.EntryBuilder) error {
				return eb.AddJSON(fsm.CmdGroup, fsm.GroupCommand{Config: gc, CreateOnly: true})
			})
		}
	}
	if broadcast {
		return
	}
	rt, err := retryTopicFor(group, false)
	if err != nil {
		b.logger.Warn("consumer group has no retry topic", "group", group, "error", err)
		return
	}
	if _, ok := b.g.Topic(rt); !ok {
		tc := fsm.TopicConfig{TopicName: rt, ReadQueueNums: 1, WriteQueueNums: 1, Perm: transport.PermRead | transport.PermWrite}
		if _, err := b.proposeTopic(ctx, tc, true); err != nil {
			b.logger.Warn("could not create retry topic", "topic", rt, "error", err)
		}
	}
}

func (b *Broker) handleUnregisterClient(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.UnregisterClientRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad unregister header: %v", err)
	}
	for _, g := range b.clients.unregister(h.ClientID, h.ProducerGroup, h.ConsumerGroup) {
		b.notifyGroup(g)
	}
	return transport.NewResponse(transport.RespSuccess, "")
}

func (b *Broker) handleConsumerList(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.ConsumerGroupHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad consumer list header: %v", err)
	}
	ids := b.clients.consumerIDs(h.ConsumerGroup)
	if len(ids) == 0 {
		return respond(transport.RespSystemError, "no consumer for this group, %s", h.ConsumerGroup)
	}
	return okBody(transport.ConsumerListBody{ConsumerIDList: ids})
}

func (b *Broker) handleLock(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	if !b.waitLeaderReady(ctx) {
		return b.forward(ctx, c, req)
	}
	var body transport.LockBatchRequestBody
	if err := transport.DecodeBody(req.Body, &body); err != nil {
		return respond(transport.RespInvalidParameter, "bad lock body: %v", err)
	}
	locked := b.locks.lock(body.ConsumerGroup, body.ClientID, body.MQSet, time.Now())
	return okBody(transport.LockBatchResponseBody{LockOKMQSet: locked})
}

func (b *Broker) handleUnlock(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	if !b.waitLeaderReady(ctx) {
		return b.forward(ctx, c, req)
	}
	var body transport.LockBatchRequestBody
	if err := transport.DecodeBody(req.Body, &body); err != nil {
		return respond(transport.RespInvalidParameter, "bad unlock body: %v", err)
	}
	b.locks.unlock(body.ConsumerGroup, body.ClientID, body.MQSet)
	return transport.NewResponse(transport.RespSuccess, "")
}

// readRecord reads the stored record at a commitlog offset (bounded by the
// applied index) and patches in its physical offset and, when the queue
// still has it, its queue offset.
func (b *Broker) readRecord(phys int64) ([]byte, *message.RecordView, error) {
	head, err := b.g.ReadMessage(nil, phys, 4)
	if err != nil {
		return nil, nil, err
	}
	size := int32(binary.BigEndian.Uint32(head))
	if size < message.MinRecordSize || int(size) > b.cfg.MaxMessageSize+1<<16 {
		return nil, nil, fmt.Errorf("%w at commitlog offset %d", errNoMessage, phys)
	}
	rec, err := b.g.ReadMessage(nil, phys, size)
	if err != nil {
		return nil, nil, err
	}
	v, err := message.ParseRecord(rec)
	if err != nil {
		return nil, nil, fmt.Errorf("%w at commitlog offset %d: %w", errNoMessage, phys, err)
	}
	message.SetRecordPhysOffset(rec, phys)
	if off, ok := b.g.QueueOffsetOf(string(v.Topic), v.QueueID, phys); ok {
		message.SetRecordQueueOffset(rec, off)
		v.QueueOffset = off
	}
	v.PhysOffset = phys
	return rec, &v, nil
}

func (b *Broker) handleViewMessage(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.ViewMessageRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad view message header: %v", err)
	}
	rec, _, err := b.readRecord(h.Offset)
	if err != nil {
		return b.statusFromErr(fmt.Sprintf("can not find message by the offset %d", h.Offset), err)
	}
	r := transport.NewResponse(transport.RespSuccess, "")
	r.Body = rec
	return r
}

func (b *Broker) handleQueryMessage(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.QueryMessageRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad query message header: %v", err)
	}
	maxNum := int(h.MaxNum)
	if maxNum <= 0 || maxNum > 64 {
		maxNum = 64
	}
	end := h.EndTimestamp
	if end <= 0 {
		end = 1<<63 - 1
	}
	var body []byte
	found := 0
	for _, phys := range b.g.QueryIndex(h.Topic, h.Key, maxNum*4, h.BeginTimestamp, end) {
		rec, v, err := b.readRecord(phys)
		if err != nil || string(v.Topic) != h.Topic {
			continue // removed by retention, or a hash collision
		}
		uk, _ := v.Property(message.PropertyUniqKey)
		keys, _ := v.Property(message.PropertyKeys)
		match := string(uk) == h.Key
		for _, k := range strings.Fields(string(keys)) {
			match = match || k == h.Key
		}
		if !match {
			continue
		}
		body = append(body, rec...)
		if found++; found >= maxNum {
			break
		}
	}
	if found == 0 {
		return respond(transport.RespQueryNotFound, "can not find message, maybe time range not correct (topic %s, key %s)", h.Topic, h.Key)
	}
	r := transport.NewResponse(transport.RespSuccess, "")
	r.ExtFields = (&transport.QueryMessageResponseHeader{IndexLastUpdateTimestamp: time.Now().UnixMilli(),
		IndexLastUpdatePhyoffset: b.commitLogEnd()}).Encode()
	r.Body = body
	return r
}

// handleSendBack stores a copy of a message the consumer could not process
// in the group's %RETRY% topic (or %DLQ% once it was retried
// maxReconsumeTimes), as RocketMQ's CONSUMER_SEND_MSG_BACK does.
func (b *Broker) handleSendBack(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.ConsumerSendMsgBackRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad send back header: %v", err)
	}
	if _, err := retryTopicFor(h.Group, false); err != nil {
		return invalidName(err)
	}
	if !b.waitLeaderReady(ctx) {
		return b.forward(ctx, c, req)
	}
	if err := b.g.DiskRefusal(); err != nil {
		return b.statusFromErr("send back", err)
	}
	rec, _, err := b.readRecord(h.Offset)
	if err != nil {
		return b.statusFromErr(fmt.Sprintf("send back: look message by offset %d", h.Offset), err)
	}
	m, _, err := message.DecodeRecord(rec)
	if err != nil {
		return b.statusFromErr(fmt.Sprintf("send back: decode message at %d", h.Offset), fmt.Errorf("%w: %w", errNoMessage, err))
	}
	maxTimes := h.MaxReconsumeTimes
	if maxTimes <= 0 {
		maxTimes = 16
		if g, ok := b.g.Group(h.Group); ok && g.RetryMaxTimes > 0 {
			maxTimes = g.RetryMaxTimes
		}
	}
	dlq := m.ReconsumeTimes >= maxTimes || h.DelayLevel < 0
	topic, err := retryTopicFor(h.Group, dlq)
	if err != nil {
		return invalidName(err)
	}
	delay := h.DelayLevel
	if dlq {
		delay = 0
	} else if delay == 0 {
		delay = 3 + m.ReconsumeTimes
	}
	if _, ok := b.g.Topic(topic); !ok {
		tc := fsm.TopicConfig{TopicName: topic, ReadQueueNums: 1, WriteQueueNums: 1, Perm: transport.PermRead | transport.PermWrite}
		if _, err := b.proposeTopic(ctx, tc, true); err != nil {
			return b.statusFromErr("send back", err)
		}
	}
	props := m.Properties
	if props == nil {
		props = map[string]string{}
	}
	if props[message.PropertyRetryTopic] == "" {
		props[message.PropertyRetryTopic] = m.Topic
	}
	if props[message.PropertyOriginMessageID] == "" {
		props[message.PropertyOriginMessageID] = orDefault(h.OriginMsgID, m.MsgID())
	}
	// The copy keeps every property, UNIQ_KEY included (as Java does): the
	// message keeps its MsgID across redeliveries.
	if props[message.PropertyUniqKey] == "" {
		props[message.PropertyUniqKey] = b.uniq.Next()
	}
	qid := int32(0)
	if delay > 0 {
		// Redelivered after the level's delay, through the schedule queue.
		level := min(delay, int32(len(b.delays)))
		props[message.PropertyDelayLevel] = strconv.Itoa(int(level))
		props[message.PropertyRealTopic] = topic
		props[message.PropertyRealQueueID] = "0"
		topic, qid = message.ScheduleTopic, level-1
	} else {
		delete(props, message.PropertyDelayLevel)
	}
	nm := &message.MessageExt{
		Message:        message.Message{Topic: topic, Flag: m.Flag, Body: m.Body, Properties: props},
		QueueID:        qid,
		SysFlag:        m.SysFlag,
		BornTimestamp:  m.BornTimestamp,
		BornHost:       m.BornHost,
		StoreTimestamp: time.Now().UnixMilli(),
		StoreHost:      b.storeHost,
		ReconsumeTimes: m.ReconsumeTimes + 1,
	}
	nrec, err := message.AppendRecord(nil, nm)
	if err != nil {
		return b.statusFromErr("send back", err)
	}
	if _, err := b.g.Propose(ctx, len(nrec), func(eb *fsm.EntryBuilder) error {
		eb.AddRecords(nrec)
		return nil
	}); err != nil {
		return b.statusFromErr("send back", err)
	}
	return transport.NewResponse(transport.RespSuccess, "")
}

func (b *Broker) handleUpdateTopic(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.CreateTopicRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad create topic header: %v", err)
	}
	if r := checkTopicName(h.Topic); r != nil {
		return r
	}
	if message.IsSystemTopic(h.Topic) {
		return respond(transport.RespInvalidParameter, "the topic[%s] is conflict with system topic", h.Topic)
	}
	if r := b.checkQueueNums(h.ReadQueueNums, h.WriteQueueNums); r != nil {
		return r
	}
	if !b.waitLeaderReady(ctx) {
		return b.forward(ctx, c, req)
	}
	perm := h.Perm
	if perm == 0 {
		perm = transport.PermRead | transport.PermWrite
	}
	tc := fsm.TopicConfig{TopicName: h.Topic, ReadQueueNums: h.ReadQueueNums, WriteQueueNums: h.WriteQueueNums, Perm: perm,
		TopicFilterType: orDefault(h.TopicFilterType, "SINGLE_TAG"), TopicSysFlag: h.TopicSysFlag, Order: h.Order}
	if _, err := b.proposeTopic(ctx, tc, false); err != nil {
		return b.statusFromErr("update topic "+h.Topic, err)
	}
	return transport.NewResponse(transport.RespSuccess, "")
}

func (b *Broker) handleAllTopicConfig(context.Context, *transport.Conn, *transport.Command) *transport.Command {
	return okBody(b.topicWrapper())
}

func (b *Broker) handleDeleteTopic(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.TopicHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad delete topic header: %v", err)
	}
	if r := checkTopicName(h.Topic); r != nil {
		return r
	}
	if message.IsSystemTopic(h.Topic) {
		return respond(transport.RespInvalidParameter, "the topic[%s] is a system topic and cannot be deleted", h.Topic)
	}
	if !b.waitLeaderReady(ctx) {
		return b.forward(ctx, c, req)
	}
	if _, err := b.g.Propose(ctx, len(h.Topic), func(eb *fsm.EntryBuilder) error {
		eb.Add(fsm.CmdDeleteTopic, []byte(h.Topic))
		return nil
	}); err != nil {
		return b.statusFromErr("delete topic "+h.Topic, err)
	}
	b.kickRegister()
	return transport.NewResponse(transport.RespSuccess, "")
}

func (b *Broker) handleUpdateGroup(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	var gc transport.SubscriptionGroupConfig
	if err := transport.DecodeBody(req.Body, &gc); err != nil {
		return respond(transport.RespInvalidParameter, "bad subscription group body: %v", err)
	}
	if r := checkGroupName(gc.GroupName); r != nil {
		return r
	}
	if !b.waitLeaderReady(ctx) {
		return b.forward(ctx, c, req)
	}
	cfg := fsm.GroupConfig{GroupName: gc.GroupName, ConsumeEnable: gc.ConsumeEnable, ConsumeFromMinEnable: gc.ConsumeFromMinEnable,
		ConsumeBroadcastEnable: gc.ConsumeBroadcastEnable, ConsumeMessageOrderly: gc.ConsumeMessageOrderly, RetryQueueNums: gc.RetryQueueNums,
		RetryMaxTimes: gc.RetryMaxTimes, BrokerID: gc.BrokerID, WhichBrokerWhenSlowly: gc.WhichBrokerWhenConsumeSlowly, NotifyConsumerIDs: gc.NotifyConsumerIDsChangedEnable}
	if _, err := b.g.Propose(ctx, 256, func(eb *fsm.EntryBuilder) error {
		return eb.AddJSON(fsm.CmdGroup, fsm.GroupCommand{Config: cfg})
	}); err != nil {
		return b.statusFromErr("update subscription group", err)
	}
	return transport.NewResponse(transport.RespSuccess, "")
}

func (b *Broker) handleAllGroups(context.Context, *transport.Conn, *transport.Command) *transport.Command {
	table := map[string]transport.SubscriptionGroupConfig{}
	for _, g := range b.g.Groups() {
		table[g.GroupName] = transport.SubscriptionGroupConfig{GroupName: g.GroupName, ConsumeEnable: g.ConsumeEnable,
			ConsumeFromMinEnable: g.ConsumeFromMinEnable, ConsumeBroadcastEnable: g.ConsumeBroadcastEnable,
			ConsumeMessageOrderly: g.ConsumeMessageOrderly, RetryQueueNums: g.RetryQueueNums, RetryMaxTimes: g.RetryMaxTimes,
			BrokerID: g.BrokerID, WhichBrokerWhenConsumeSlowly: g.WhichBrokerWhenSlowly, NotifyConsumerIDsChangedEnable: g.NotifyConsumerIDs}
	}
	return okBody(map[string]any{"subscriptionGroupTable": table,
		"dataVersion": transport.DataVersion{Timestamp: time.Now().UnixMilli(), Counter: int64(b.g.AppliedIndex())}})
}

func (b *Broker) handleDeleteGroup(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	group := req.Ext("groupName")
	if r := checkGroupName(group); r != nil {
		return r
	}
	if !b.waitLeaderReady(ctx) {
		return b.forward(ctx, c, req)
	}
	if _, err := b.g.Propose(ctx, len(group), func(eb *fsm.EntryBuilder) error {
		eb.Add(fsm.CmdDeleteGroup, []byte(group))
		return nil
	}); err != nil {
		return b.statusFromErr("delete subscription group", err)
	}
	return transport.NewResponse(transport.RespSuccess, "")
}

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
		State: gs.State, Serving: gs.Serving, Leader: gs.Leader, Term: gs.Term,
		FirstIndex: gs.FirstIndex, LastIndex: gs.LastIndex, CommitIndex: gs.CommitIndex, AppliedIndex: gs.AppliedIndex,
		RaftAppliedIndex: gs.RaftAppliedIndex, MinOffset: gs.MinOffset, WriteOffset: gs.WriteOffset, Segments: gs.Segments,
		DiskFull: gs.DiskFull, DiskUsed: gs.DiskUsed, DiskAvail: gs.DiskAvail,
		FlushDisk: b.cfg.Log.Flush.String(), Peers: map[string]string{}, Messages: gs.Messages,
	}
	for _, p := range b.peers {
		st.Peers[p.ID] = p.Addr
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

func (b *Broker) handleConsumerConnections(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	group := req.Ext("consumerGroup")
	for _, g := range b.clients.groups() {
		if g.Name == group {
			return okBody(g)
		}
	}
	return respond(transport.RespConsumerNotOnline, "the consumer group[%s] not online", group)
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
		for _, p := range b.peers {
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
