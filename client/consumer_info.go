package client

import (
	"context"
	"maps"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"

	"github.com/raftmq/raftmq/transport"
)

// A push consumer answers GET_CONSUMER_RUNNING_INFO, which a broker
// relays from admin tools (mqadmin consumerStatus, the dashboard's
// consumer detail): its properties, subscriptions and queues, in
// RocketMQ's layout.

func (pc *PushConsumer) handleRunningInfo(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.GetConsumerRunningInfoRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return transport.NewResponse(transport.RespSystemError, "bad running info header: "+err.Error())
	}
	if h.ConsumerGroup != pc.group || (h.ClientID != "" && h.ClientID != pc.c.clientID) {
		return transport.NewResponse(transport.RespSystemError, "Can't find specified client instance of: "+h.ClientID)
	}
	info := pc.RunningInfo(h.JstackEnable)
	return transport.NewBodyResponse(info)
}

// RunningInfo describes this consumer as GET_CONSUMER_RUNNING_INFO does
// (jstack: with every goroutine's stack).
func (pc *PushConsumer) RunningInfo(jstack bool) *ConsumerRunningInfo {
	info := &ConsumerRunningInfo{Properties: map[string]string{}, MQTable: map[transport.MessageQueue]transport.ProcessQueueInfo{},
		StatusTable: map[string]transport.ConsumeStatus{}}
	cd := pc.consumerData()
	info.SubscriptionSet = cd.SubscriptionDataSet
	for _, sd := range cd.SubscriptionDataSet {
		info.StatusTable[sd.Topic] = transport.ConsumeStatus{}
	}
	info.Properties[transport.PropNameServerAddr] = strings.Join(pc.o.nameServers, ";")
	info.Properties[transport.PropConsumeType] = cd.ConsumeType
	info.Properties[transport.PropConsumeOrderly] = strconv.FormatBool(pc.o.orderly)
	info.Properties[transport.PropThreadPoolCoreSize] = "-1"
	info.Properties[transport.PropClientVersion] = "raftmq"
	info.Properties[transport.PropConsumerStartTimestamp] = strconv.FormatInt(pc.version/1e6, 10)
	info.Properties["messageModel"] = cd.MessageModel
	info.Properties["consumeFromWhere"] = cd.ConsumeFromWhere
	info.Properties["consumerGroup"] = pc.group
	pc.mu.Lock()
	qs := slices.Collect(maps.Values(pc.queues))
	pc.mu.Unlock()
	for _, pq := range qs {
		p := transport.ProcessQueueInfo{CommitOffset: pq.committed.Load(), Locked: pq.lockHeld()}
		if c := pq.consumed.Load(); c >= 0 {
			p.CachedMsgMinOffset, p.CachedMsgMaxOffset = c, c
		}
		info.MQTable[transport.MessageQueue{Topic: pq.mq.Topic, BrokerName: pq.mq.BrokerName, QueueID: int32(pq.mq.QueueID)}] = p
	}
	if jstack {
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
		info.JStack = b.String()
	}
	return info
}
