package broker

import (
	"context"
	"strconv"
	"time"

	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/transport"
)

// Client sessions: heartbeats, registrations, consumer lists and queue
// locks. Registrations live in memory on the member the client talks to
// and are combined group-wide (registry.go); locks live on the leader.

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
	for _, g := range b.clients.heartbeatFrom(c, &hb, time.Now(), req.Language, req.Version) {
		b.notifyGroup(g)
	}
	for _, cd := range hb.ConsumerDataSet {
		broadcast := cd.MessageModel == "BROADCASTING"
		switch {
		case b.isLeader():
			b.ensureGroup(ctx, cd.GroupName, broadcast)
		case b.groupMissing(cd.GroupName, broadcast):
			// Heartbeats may never reach the leader (a group address):
			// ask it to create what is missing.
			b.askEnsureGroup(cd.GroupName, broadcast)
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
	if b.live.autoCreateGroup.Load() {
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

// groupMissing reports whether ensureGroup has something to create.
func (b *Broker) groupMissing(group string, broadcast bool) bool {
	if _, ok := b.g.Group(group); !ok && b.live.autoCreateGroup.Load() {
		return true
	}
	if broadcast {
		return false
	}
	rt, err := retryTopicFor(group, false)
	if err != nil {
		return false
	}
	_, ok := b.g.Topic(rt)
	return !ok
}

// askEnsureGroup has the leader run ensureGroup (ReqEnsureGroup on the
// peer channel), once at a time per group.
func (b *Broker) askEnsureGroup(group string, broadcast bool) {
	b.ensuring.mu.Lock()
	if b.ensuring.groups[group] {
		b.ensuring.mu.Unlock()
		return
	}
	b.ensuring.groups[group] = true
	b.ensuring.mu.Unlock()
	b.goFunc(func() {
		defer func() {
			b.ensuring.mu.Lock()
			delete(b.ensuring.groups, group)
			b.ensuring.mu.Unlock()
		}()
		_, addr := b.g.Leader()
		if addr == "" {
			return // the next heartbeat asks again
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req := transport.NewRequest(transport.ReqEnsureGroup, map[string]string{"consumerGroup": group, "broadcast": strconv.FormatBool(broadcast)}, nil)
		if _, err := b.peerClient.Invoke(ctx, addr, req); err != nil {
			b.logger.Debug("could not ask the leader to create a consumer group", "group", group, "error", err)
		}
	})
}

func (b *Broker) handleEnsureGroup(ctx context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	group := req.Ext("consumerGroup")
	if r := checkGroupName(group); r != nil {
		return r
	}
	if !b.waitLeaderReady(ctx) {
		return b.statusFromErr("ensure group", ErrNotLeader)
	}
	b.ensureGroup(ctx, group, req.Ext("broadcast") == "true")
	return transport.NewResponse(transport.RespSuccess, "")
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

// handleConsumerList answers with the group's consumers on every member.
func (b *Broker) handleConsumerList(ctx context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.ConsumerGroupHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad consumer list header: %v", err)
	}
	ids := b.groupConsumerIDs(ctx, h.ConsumerGroup)
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
