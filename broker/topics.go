package broker

import (
	"context"
	"time"

	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// Topic and subscription group configuration, replicated through raft.

func (b *Broker) handleUpdateTopic(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.CreateTopicRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad create topic header: %v", err)
	}
	if r := checkTopicName(h.Topic); r != nil {
		return r
	}
	if message.IsSystemTopic(h.Topic) || h.Topic == b.replyTopic() {
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
	if message.IsSystemTopic(h.Topic) || h.Topic == b.replyTopic() {
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
