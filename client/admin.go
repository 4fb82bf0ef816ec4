package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// Admin manages topics, consumer groups and broker groups (the mqadmin
// commands). It is safe for concurrent use.
type Admin struct {
	c *core
}

// NewAdmin builds an admin client. It does no I/O until the first call.
func NewAdmin(opts ...Option) (*Admin, error) {
	o := defaultOptions()
	for _, f := range opts {
		f(&o)
	}
	c, err := newCore(o)
	if err != nil {
		return nil, err
	}
	return &Admin{c: c}, nil
}

// Shutdown closes every connection.
func (a *Admin) Shutdown(context.Context) error {
	a.c.shutdown()
	return nil
}

// BrokerGroup is one broker group (one raft group) and its members'
// client addresses by broker id: 0 is the leader, when one is advertised.
type BrokerGroup struct {
	Cluster string
	Name    string
	Addrs   map[int64]string
}

// Leader returns the leader's address, or "" during an election.
func (g BrokerGroup) Leader() string { return g.Addrs[0] }

// Members lists the addresses, leader first.
func (g BrokerGroup) Members() []string { return groupMembers(g.wire()) }

func (g BrokerGroup) wire() transport.BrokerData {
	return transport.BrokerData{Cluster: g.Cluster, BrokerName: g.Name, BrokerAddrs: g.Addrs}
}

func fromWireGroup(b transport.BrokerData) BrokerGroup {
	return BrokerGroup{Cluster: b.Cluster, Name: b.BrokerName, Addrs: maps.Clone(b.BrokerAddrs)}
}

// ClusterInfo lists the live broker groups.
type ClusterInfo struct {
	// Clusters maps a cluster name to its broker group names, sorted.
	Clusters map[string][]string
	// Groups maps a broker group name to the group.
	Groups map[string]BrokerGroup
}

// GroupNames lists the groups of cluster ("" = every cluster), sorted.
func (ci *ClusterInfo) GroupNames(cluster string) []string {
	var out []string
	for name, g := range ci.Groups {
		if cluster == "" || g.Cluster == cluster {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// QueueData is one broker group's share of a topic.
type QueueData struct {
	BrokerName  string
	ReadQueues  int
	WriteQueues int
	Perm        int32
	SysFlag     int32
}

// TopicRoute is what the NameServer advertises for a topic.
type TopicRoute struct {
	Topic  string
	Groups []BrokerGroup
	Queues []QueueData
}

// Target selects broker groups: every group of Cluster ("" = of every
// cluster), or only BrokerGroup when set.
type Target struct {
	Cluster     string
	BrokerGroup string
}

// TopicConfig describes a topic to create or update.
type TopicConfig struct {
	Topic       string
	ReadQueues  int   // default 8
	WriteQueues int   // default 8
	Perm        int32 // default read|write (6)
	Order       bool
}

// QueueStatus is one queue's extent (TopicStatus).
type QueueStatus struct {
	Queue     MessageQueue
	MinOffset int64
	MaxOffset int64
	// LastUpdate is the store time of the queue's last message (zero when
	// empty).
	LastUpdate time.Time
}

// QueueProgress is a consumer group's position on one queue.
type QueueProgress struct {
	Queue        MessageQueue
	BrokerOffset int64 // the queue's max offset
	// ConsumerOffset is the committed offset, -1 when none.
	ConsumerOffset int64
	// Lag counts the messages not consumed yet.
	Lag int64
	// LastUpdate is the store time of the queue's last message;
	// LastConsumed that of the last message consumed (RocketMQ's
	// lastTimestamp). Zero when there is none.
	LastUpdate   time.Time
	LastConsumed time.Time
}

// ConsumerProgress is a consumer group's position on every queue of its
// topics.
type ConsumerProgress struct {
	Group       string
	Queues      []QueueProgress
	TotalBroker int64 // sum of broker offsets
	// TotalConsumer sums the committed offsets (none counts as 0).
	TotalConsumer int64
	TotalLag      int64
	// ConsumeTPS is the brokers' consumeTps sum (0: raftmq brokers do not
	// measure it per group).
	ConsumeTPS float64
}

// BrokerStatus is one broker's runtime table (GET_BROKER_RUNTIME_INFO)
// and raft status.
type BrokerStatus struct {
	Addr    string
	Runtime map[string]string
	Raft    transport.GroupStatus
}

// SubGroupConfig is a subscription group's configuration.
type SubGroupConfig = transport.SubscriptionGroupConfig

// DefaultSubGroupConfig returns RocketMQ's defaults for group.
func DefaultSubGroupConfig(group string) SubGroupConfig {
	return SubGroupConfig{GroupName: group, ConsumeEnable: true, ConsumeFromMinEnable: true, ConsumeBroadcastEnable: true,
		RetryQueueNums: 1, RetryMaxTimes: 16, WhichBrokerWhenConsumeSlowly: 1, NotifyConsumerIDsChangedEnable: true}
}

// QueueOffset is a queue and an offset on it.
type QueueOffset struct {
	Queue  MessageQueue
	Offset int64
}

// nsCall sends a request to the NameServers and returns the success
// response.
func (a *Admin) nsCall(ctx context.Context, op string, mk func() *transport.Command) (*transport.Command, error) {
	resp, addr, err := a.c.invokeNS(ctx, mk)
	if err != nil {
		return nil, err
	}
	if resp.Code != int16(transport.RespSuccess) {
		return nil, brokerErr(op, addr, resp)
	}
	return resp, nil
}

// ClusterInfo returns the live broker groups (GET_BROKER_CLUSTER_INFO).
func (a *Admin) ClusterInfo(ctx context.Context) (*ClusterInfo, error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	resp, err := a.nsCall(ctx, "cluster info", func() *transport.Command {
		return transport.NewRequest(transport.ReqGetBrokerClusterInfo, nil, nil)
	})
	if err != nil {
		return nil, err
	}
	var ci transport.ClusterInfo
	if err := transport.DecodeBody(resp.Body, &ci); err != nil {
		return nil, fmt.Errorf("client: cluster info: %w", err)
	}
	out := &ClusterInfo{Clusters: map[string][]string{}, Groups: map[string]BrokerGroup{}}
	for name, bd := range ci.BrokerAddrTable {
		out.Groups[name] = fromWireGroup(bd)
	}
	for cl, names := range ci.ClusterAddrTable {
		out.Clusters[cl] = slices.Sorted(slices.Values(names))
	}
	return out, nil
}

// targetGroups resolves a Target to broker group names.
func (a *Admin) targetGroups(ctx context.Context, t Target) ([]string, error) {
	ci, err := a.ClusterInfo(ctx)
	if err != nil {
		return nil, err
	}
	if t.BrokerGroup != "" {
		if _, ok := ci.Groups[t.BrokerGroup]; !ok {
			return nil, fmt.Errorf("%w: broker group %s is not registered with the name servers", ErrNoRoute, t.BrokerGroup)
		}
		return []string{t.BrokerGroup}, nil
	}
	names := ci.GroupNames(t.Cluster)
	if len(names) == 0 {
		if t.Cluster != "" {
			return nil, fmt.Errorf("%w: cluster %s has no live broker group", ErrNoRoute, t.Cluster)
		}
		return nil, fmt.Errorf("%w: no live broker group", ErrNoRoute)
	}
	return names, nil
}

// groupCall sends a request to a broker group, reading its addresses from
// the NameServers: its leader, else any member (members forward writes to
// the leader). Retriable answers and unreachable groups are retried,
// re-reading the addresses, up to WithRetries times. The response is
// returned whatever its code.
func (a *Admin) groupCall(ctx context.Context, group string, mk func() *transport.Command) (*transport.Command, string, error) {
	return a.groupCallWait(ctx, group, 0, mk)
}

// groupCallWait is groupCall for requests the broker may hold for up to
// extra (beyond the client's timeout) before it answers.
func (a *Admin) groupCallWait(ctx context.Context, group string, extra time.Duration, mk func() *transport.Command) (*transport.Command, string, error) {
	var lastErr error
	for attempt := 0; ; attempt++ {
		ci, err := a.ClusterInfo(ctx)
		if err != nil {
			return nil, "", err
		}
		g, ok := ci.Groups[group]
		var resp *transport.Command
		var addr string
		if !ok {
			err = fmt.Errorf("%w: broker group %s is not registered with the name servers", ErrNoRoute, group)
		} else {
			resp, addr, err = a.c.invokeAddrs(ctx, group, g.Members(), extra, mk, nil)
			if err == nil {
				if !retriableCode(transport.ResponseCode(resp.Code)) || attempt >= a.c.opts.retries {
					return resp, addr, nil
				}
				err = brokerErr("", addr, resp)
			}
		}
		lastErr = err
		if attempt >= a.c.opts.retries || ctx.Err() != nil {
			return nil, addr, lastErr
		}
		if !sleep(ctx, time.Duration(attempt+1)*200*time.Millisecond) {
			return nil, addr, lastErr
		}
	}
}

// groupOK is groupCall expecting SUCCESS.
func (a *Admin) groupOK(ctx context.Context, group, op string, mk func() *transport.Command) (*transport.Command, error) {
	return a.groupOKWait(ctx, group, op, 0, mk)
}

func (a *Admin) groupOKWait(ctx context.Context, group, op string, extra time.Duration, mk func() *transport.Command) (*transport.Command, error) {
	resp, addr, err := a.groupCallWait(ctx, group, extra, mk)
	if err != nil {
		return nil, fmt.Errorf("client: %s on %s: %w", op, group, err)
	}
	if resp.Code != int16(transport.RespSuccess) {
		return nil, brokerErr(op+" on "+group, addr, resp)
	}
	return resp, nil
}

// CreateTopic creates or updates a topic on every targeted broker group
// (UPDATE_AND_CREATE_TOPIC to each group's leader), then waits until the
// NameServers route it to all of them.
func (a *Admin) CreateTopic(ctx context.Context, cfg TopicConfig, t Target) error {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	if err := message.ValidateTopic(cfg.Topic); err != nil {
		return fmt.Errorf("client: create topic: %w", err)
	}
	h := transport.CreateTopicRequestHeader{Topic: cfg.Topic, DefaultTopic: message.AutoCreateTopicKey,
		ReadQueueNums: int32(cmp0(cfg.ReadQueues, 8)), WriteQueueNums: int32(cmp0(cfg.WriteQueues, 8)),
		Perm: cfg.Perm, TopicFilterType: "SINGLE_TAG", Order: cfg.Order}
	if h.Perm == 0 {
		h.Perm = transport.PermRead | transport.PermWrite
	}
	groups, err := a.targetGroups(ctx, t)
	if err != nil {
		return fmt.Errorf("client: create topic %s: %w", cfg.Topic, err)
	}
	for _, g := range groups {
		if _, err := a.groupOK(ctx, g, "create topic "+cfg.Topic, func() *transport.Command {
			return transport.NewRequest(transport.ReqUpdateAndCreateTopic, h.Encode(), nil)
		}); err != nil {
			return err
		}
	}
	// The brokers re-register at once; wait for every NameServer to show
	// it so that producers and consumers can use the topic right away.
	wctx, wcancel := context.WithTimeout(ctx, 2*a.c.opts.timeout)
	defer wcancel()
	for _, ns := range a.c.opts.nameServers {
		for {
			if a.routedBy(wctx, ns, cfg.Topic, groups, h) {
				break
			}
			if !sleep(wctx, 50*time.Millisecond) {
				return fmt.Errorf("client: topic %s created on %v but name server %s does not route it yet: %w", cfg.Topic, groups, ns, wctx.Err())
			}
		}
	}
	a.c.routes.refresh(ctx, cfg.Topic)
	return nil
}

// routedBy reports whether name server ns routes topic to every group with
// the requested queue numbers.
func (a *Admin) routedBy(ctx context.Context, ns, topic string, groups []string, h transport.CreateTopicRequestHeader) bool {
	resp, err := a.c.invoke(ctx, ns, transport.NewRequest(transport.ReqGetRouteInfoByTopic, (&transport.TopicHeader{Topic: topic}).Encode(), nil))
	if err != nil || resp.Code != int16(transport.RespSuccess) {
		return false
	}
	rd, err := transport.DecodeTopicRouteData(resp.Body)
	if err != nil {
		return false
	}
	for _, g := range groups {
		if !slices.ContainsFunc(rd.QueueDatas, func(q transport.QueueData) bool {
			return q.BrokerName == g && q.ReadQueueNums == h.ReadQueueNums && q.WriteQueueNums == h.WriteQueueNums && q.Perm == h.Perm
		}) {
			return false
		}
	}
	return true
}

func cmp0(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// DeleteTopic deletes a topic from the broker groups serving it (or the
// targeted ones; DELETE_TOPIC_IN_BROKER), then from every NameServer
// (DELETE_TOPIC_IN_NAMESRV).
func (a *Admin) DeleteTopic(ctx context.Context, topic string, t Target) error {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	var groups []string
	if t.Cluster == "" && t.BrokerGroup == "" {
		r, err := a.c.routes.refresh(ctx, topic)
		if err != nil {
			return fmt.Errorf("client: delete topic %s: %w", topic, err)
		}
		groups = slices.Sorted(maps.Keys(r.brokers))
	} else {
		var err error
		if groups, err = a.targetGroups(ctx, t); err != nil {
			return fmt.Errorf("client: delete topic %s: %w", topic, err)
		}
	}
	for _, g := range groups {
		if _, err := a.groupOK(ctx, g, "delete topic "+topic, func() *transport.Command {
			return transport.NewRequest(transport.ReqDeleteTopicInBroker, (&transport.TopicHeader{Topic: topic}).Encode(), nil)
		}); err != nil {
			return err
		}
	}
	var errs []error
	for _, ns := range a.c.opts.nameServers {
		resp, err := a.c.invoke(ctx, ns, transport.NewRequest(transport.ReqDeleteTopicInNameSrv, (&transport.TopicHeader{Topic: topic}).Encode(), nil))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%w: %s: %w", ErrNameServerUnreachable, ns, err))
		case resp.Code != int16(transport.RespSuccess):
			errs = append(errs, brokerErr("delete topic "+topic, ns, resp))
		}
	}
	a.c.routes.mu.Lock()
	delete(a.c.routes.routes, topic)
	a.c.routes.mu.Unlock()
	if len(errs) > 0 {
		return fmt.Errorf("client: delete topic %s from name servers: %w", topic, errors.Join(errs...))
	}
	return nil
}

// TopicList lists every topic the NameServer knows.
func (a *Admin) TopicList(ctx context.Context) ([]string, error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	resp, err := a.nsCall(ctx, "topic list", func() *transport.Command {
		return transport.NewRequest(transport.ReqGetAllTopicListFromNameServer, nil, nil)
	})
	if err != nil {
		return nil, err
	}
	var tl transport.TopicList
	if err := transport.DecodeBody(resp.Body, &tl); err != nil {
		return nil, fmt.Errorf("client: topic list: %w", err)
	}
	slices.Sort(tl.TopicList)
	return tl.TopicList, nil
}

// TopicRoute returns topic's route; ErrTopicNotExist when none.
func (a *Admin) TopicRoute(ctx context.Context, topic string) (*TopicRoute, error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	r, err := a.c.routes.refresh(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := &TopicRoute{Topic: topic}
	for _, b := range r.data.BrokerDatas {
		out.Groups = append(out.Groups, fromWireGroup(b))
	}
	sort.Slice(out.Groups, func(i, j int) bool { return out.Groups[i].Name < out.Groups[j].Name })
	for _, q := range r.data.QueueDatas {
		out.Queues = append(out.Queues, QueueData{BrokerName: q.BrokerName, ReadQueues: int(q.ReadQueueNums),
			WriteQueues: int(q.WriteQueueNums), Perm: q.Perm, SysFlag: q.TopicSysFlag})
	}
	sort.Slice(out.Queues, func(i, j int) bool { return out.Queues[i].BrokerName < out.Queues[j].BrokerName })
	return out, nil
}

func millis(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// TopicStatus returns every queue's min and max offset, from each broker
// group of topic's route (GET_TOPIC_STATS_INFO).
func (a *Admin) TopicStatus(ctx context.Context, topic string) ([]QueueStatus, error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	r, err := a.c.routes.refresh(ctx, topic)
	if err != nil {
		return nil, err
	}
	var out []QueueStatus
	for _, name := range slices.Sorted(maps.Keys(r.brokers)) {
		op := "topic status of " + topic
		resp, addr, err := a.c.invokeGroup(ctx, topic, name, 0, func() *transport.Command {
			return transport.NewRequest(transport.ReqGetTopicStatsInfo, map[string]string{"topic": topic}, nil)
		})
		if err != nil {
			return nil, fmt.Errorf("client: %s on %s: %w", op, name, err)
		}
		if resp.Code != int16(transport.RespSuccess) {
			return nil, brokerErr(op+" on "+name, addr, resp)
		}
		st, err := transport.DecodeTopicStatsTable(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("client: %s from %s: %w", op, addr, err)
		}
		for mq, q := range st.OffsetTable {
			out = append(out, QueueStatus{Queue: MessageQueue{Topic: mq.Topic, BrokerName: mq.BrokerName, QueueID: int(mq.QueueID)},
				MinOffset: q.MinOffset, MaxOffset: q.MaxOffset, LastUpdate: millis(q.LastUpdateTimestamp)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Queue.less(out[j].Queue) })
	return out, nil
}

// ConsumerProgress returns group's committed offset and lag on every queue
// of topic (or, with topic "", of every topic the group committed offsets
// for, its %RETRY% topic included), from every broker group
// (GET_CONSUME_STATS).
func (a *Admin) ConsumerProgress(ctx context.Context, group, topic string) (*ConsumerProgress, error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	var groups []string
	if topic != "" {
		r, err := a.c.routes.refresh(ctx, topic)
		if err != nil {
			return nil, err
		}
		groups = slices.Sorted(maps.Keys(r.brokers))
	} else {
		var err error
		if groups, err = a.targetGroups(ctx, Target{}); err != nil {
			return nil, err
		}
	}
	out := &ConsumerProgress{Group: group}
	for _, g := range groups {
		resp, err := a.groupOK(ctx, g, "consumer progress of "+group, func() *transport.Command {
			return transport.NewRequest(transport.ReqGetConsumeStats, (&transport.GetConsumeStatsRequestHeader{ConsumerGroup: group, Topic: topic}).Encode(), nil)
		})
		if err != nil {
			return nil, err
		}
		st, err := transport.DecodeConsumeStats(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("client: consumer progress of %s on %s: %w", group, g, err)
		}
		out.ConsumeTPS += st.ConsumeTps
		for mq, q := range st.OffsetTable {
			p := QueueProgress{Queue: MessageQueue{Topic: mq.Topic, BrokerName: mq.BrokerName, QueueID: int(mq.QueueID)},
				BrokerOffset: q.BrokerOffset, ConsumerOffset: q.ConsumerOffset, LastUpdate: millis(q.MaxTimestamp),
				LastConsumed: millis(q.LastTimestamp)}
			if !q.Committed {
				p.ConsumerOffset = -1
			}
			from := max(p.ConsumerOffset, q.MinOffset)
			p.Lag = max(0, q.BrokerOffset-from)
			out.Queues = append(out.Queues, p)
			out.TotalBroker += q.BrokerOffset
			out.TotalConsumer += max(0, p.ConsumerOffset)
			out.TotalLag += p.Lag
		}
	}
	sort.Slice(out.Queues, func(i, j int) bool { return out.Queues[i].Queue.less(out.Queues[j].Queue) })
	return out, nil
}

// BrokerStatus returns one broker's runtime table and raft status.
func (a *Admin) BrokerStatus(ctx context.Context, addr string) (*BrokerStatus, error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	out := &BrokerStatus{Addr: addr}
	resp, err := a.c.invoke(ctx, addr, transport.NewRequest(transport.ReqGetBrokerRuntimeInfo, nil, nil))
	if err != nil {
		return nil, fmt.Errorf("client: broker status of %s: %w", addr, err)
	}
	if resp.Code != int16(transport.RespSuccess) {
		return nil, brokerErr("broker runtime info", addr, resp)
	}
	var kv transport.KVTable
	if err := transport.DecodeBody(resp.Body, &kv); err != nil {
		return nil, fmt.Errorf("client: broker runtime info of %s: %w", addr, err)
	}
	out.Runtime = kv.Table
	resp, err = a.c.invoke(ctx, addr, transport.NewRequest(transport.ReqGetGroupStatus, nil, nil))
	if err != nil {
		return nil, fmt.Errorf("client: raft status of %s: %w", addr, err)
	}
	if resp.Code != int16(transport.RespSuccess) {
		return nil, brokerErr("raft status", addr, resp)
	}
	if err := transport.DecodeBody(resp.Body, &out.Raft); err != nil {
		return nil, fmt.Errorf("client: raft status of %s: %w", addr, err)
	}
	return out, nil
}

// QueryMsgByKey finds up to maxNum messages of topic whose KEYS (or
// UNIQ_KEY) include key, stored between begin and end (zero times: no
// bound), asking every broker group of the topic (QUERY_MESSAGE). The
// results are checked (topic and key), deduplicated and sorted by store
// time. No match is ErrMessageNotFound.
func (a *Admin) QueryMsgByKey(ctx context.Context, topic, key string, maxNum int, begin, end time.Time) ([]*MessageExt, error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	if key == "" {
		return nil, errors.New("client: query by key: empty key")
	}
	if maxNum <= 0 {
		maxNum = 32
	}
	r, err := a.c.routes.refresh(ctx, topic)
	if err != nil {
		return nil, err
	}
	h := transport.QueryMessageRequestHeader{Topic: topic, Key: key, MaxNum: int32(maxNum)}
	if !begin.IsZero() {
		h.BeginTimestamp = begin.UnixMilli()
	}
	if !end.IsZero() {
		h.EndTimestamp = end.UnixMilli()
	}
	type loc struct {
		group string
		off   int64
	}
	seen := map[loc]bool{}
	var out []*MessageExt
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(r.brokers)) {
		resp, addr, err := a.c.invokeGroup(ctx, topic, name, 0, func() *transport.Command {
			return transport.NewRequest(transport.ReqQueryMessage, h.Encode(), nil)
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch transport.ResponseCode(resp.Code) {
		case transport.RespSuccess:
		case transport.RespQueryNotFound:
			continue
		default:
			errs = append(errs, brokerErr("query message by key "+key, addr, resp))
			continue
		}
		recs, err := message.DecodeRecords(resp.Body)
		if err != nil {
			errs = append(errs, fmt.Errorf("client: query message by key from %s: %w", addr, err))
			continue
		}
		for _, rec := range recs {
			if rec.Topic != topic || !(rec.UniqKey() == key || slices.Contains(rec.Keys(), key)) {
				continue
			}
			l := loc{name, rec.CommitLogOffset}
			if seen[l] {
				continue
			}
			seen[l] = true
			m, err := fromRecord(rec, name, a.c.opts.maxBodySize)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		if len(errs) > 0 {
			return nil, fmt.Errorf("client: query %s by key %s: %w", topic, key, errors.Join(errs...))
		}
		return nil, fmt.Errorf("%w: topic %s, key %s", ErrMessageNotFound, topic, key)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].StoreTimestamp.Before(out[j].StoreTimestamp) })
	if len(out) > maxNum {
		out = out[:maxNum]
	}
	return out, nil
}

// QueryMsgByID finds a message by id. An offset message id (store host
// and commit log offset) is looked up with VIEW_MESSAGE_BY_ID on the group
// that stored it: its leader or any live member (every replica holds the
// message at the same offset, so this works after a failover, even when
// the storing node is gone). Any other id is taken as a UNIQ_KEY and looked
// up in topic's index, so topic is then required.
func (a *Admin) QueryMsgByID(ctx context.Context, topic, id string) (*MessageExt, error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	var viewErr error
	if host, off, err := message.DecodeOffsetMsgID(id); err == nil {
		m, err := a.viewMessage(ctx, topic, host, off)
		if err == nil {
			return m, nil
		}
		viewErr = err
	}
	if topic == "" {
		if viewErr != nil {
			return nil, viewErr
		}
		return nil, fmt.Errorf("client: %q is not an offset message id; looking up a UNIQ_KEY needs the topic", id)
	}
	msgs, err := a.QueryMsgByKey(ctx, topic, id, 64, time.Time{}, time.Time{})
	if err != nil {
		return nil, errors.Join(viewErr, err)
	}
	for _, m := range msgs {
		if m.MsgID == id {
			return m, nil
		}
	}
	return nil, fmt.Errorf("%w: topic %s, message id %s", ErrMessageNotFound, topic, id)
}

// viewMessage reads the message stored at off by the group host belongs
// (or belonged) to.
func (a *Admin) viewMessage(ctx context.Context, topic string, host netip.AddrPort, off int64) (*MessageExt, error) {
	ci, err := a.ClusterInfo(ctx)
	if err != nil {
		return nil, err
	}
	var candidates []string
	add := func(name string) {
		if name != "" && !slices.Contains(candidates, name) {
			candidates = append(candidates, name)
		}
	}
	hs := host.String()
	for _, name := range ci.GroupNames("") {
		if slices.Contains(ci.Groups[name].Members(), hs) {
			add(name)
		}
	}
	add(a.c.routes.groupOfHost(hs))
	if topic != "" {
		if r, err := a.c.routes.refresh(ctx, topic); err == nil {
			for _, name := range slices.Sorted(maps.Keys(r.brokers)) {
				add(name)
			}
		}
	}
	for _, name := range ci.GroupNames("") {
		add(name)
	}
	h := transport.ViewMessageRequestHeader{Offset: off, Topic: topic}
	var errs []error
	for _, name := range candidates {
		g, ok := ci.Groups[name]
		if !ok {
			continue
		}
		resp, addr, err := a.c.invokeAddrs(ctx, name, g.Members(), 0, func() *transport.Command {
			return transport.NewRequest(transport.ReqViewMessageByID, h.Encode(), nil)
		}, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if resp.Code != int16(transport.RespSuccess) {
			continue // not this group's message
		}
		rec, _, err := message.DecodeRecord(resp.Body)
		if err != nil {
			errs = append(errs, fmt.Errorf("client: view message from %s: %w", addr, err))
			continue
		}
		if rec.StoreHost != host || rec.CommitLogOffset != off {
			continue // another group's commit log has something else there
		}
		return fromRecord(rec, name, a.c.opts.maxBodySize)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("client: view message %s@%d: %w", hs, off, errors.Join(errs...))
	}
	return nil, fmt.Errorf("%w: no broker group has a message stored by %s at offset %d", ErrMessageNotFound, hs, off)
}

// ResetOffsetByTime sets group's committed offset on every queue of topic
// to the first message stored at or after t (INVOKE_BROKER_TO_RESET_OFFSET
// to each broker group's leader) and returns the new offsets. Consumers
// that are running keep their in-memory offsets for the queues they own
// (raftmq brokers do not push the reset to clients): stop them first.
func (a *Admin) ResetOffsetByTime(ctx context.Context, group, topic string, t time.Time) ([]QueueOffset, error) {
	return a.ResetOffsetByTimeEach(ctx, group, topic, t, nil)
}

// ResetOffsetByTimeEach is ResetOffsetByTime calling each (if set) after
// every broker group is done, for progress.
func (a *Admin) ResetOffsetByTimeEach(ctx context.Context, group, topic string, t time.Time, each func(brokerGroup string, done, total int)) ([]QueueOffset, error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	r, err := a.c.routes.refresh(ctx, topic)
	if err != nil {
		return nil, err
	}
	var out []QueueOffset
	names := slices.Sorted(maps.Keys(r.brokers))
	for i, name := range names {
		resp, err := a.groupOK(ctx, name, "reset offset of "+group, func() *transport.Command {
			h := transport.ResetOffsetRequestHeader{Topic: topic, Group: group, Timestamp: t.UnixMilli(), IsForce: true}
			return transport.NewRequest(transport.ReqInvokeBrokerToResetOffset, h.Encode(), nil)
		})
		if err != nil {
			return nil, err
		}
		var st transport.OffsetStats
		if err := transport.DecodeBody(resp.Body, &st); err != nil {
			return nil, fmt.Errorf("client: reset offset on %s: %w", name, err)
		}
		for _, q := range st.Queues {
			out = append(out, QueueOffset{Queue: MessageQueue{Topic: q.Topic, BrokerName: q.BrokerName, QueueID: int(q.QueueID)}, Offset: q.ConsumerOffset})
		}
		if each != nil {
			each(name, i+1, len(names))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Queue.less(out[j].Queue) })
	return out, nil
}

// UpdateSubGroup creates or updates a subscription group on every targeted
// broker group (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP).
func (a *Admin) UpdateSubGroup(ctx context.Context, cfg SubGroupConfig, t Target) error {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	if err := message.ValidateGroup(cfg.GroupName); err != nil {
		return fmt.Errorf("client: update subscription group: %w", err)
	}
	body, err := transport.EncodeBody(cfg)
	if err != nil {
		return err
	}
	groups, err := a.targetGroups(ctx, t)
	if err != nil {
		return fmt.Errorf("client: update subscription group %s: %w", cfg.GroupName, err)
	}
	for _, g := range groups {
		if _, err := a.groupOK(ctx, g, "update subscription group "+cfg.GroupName, func() *transport.Command {
			return transport.NewRequest(transport.ReqUpdateAndCreateSubscriptionGroup, nil, body)
		}); err != nil {
			return err
		}
	}
	return nil
}

// TransferLeader asks broker group brokerGroup to hand its leadership to
// the member with raft node id target ("" = any up-to-date member) and
// waits until the NameServers advertise a leader other than the old one.
func (a *Admin) TransferLeader(ctx context.Context, brokerGroup, target string) error {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	ci, err := a.ClusterInfo(ctx)
	if err != nil {
		return err
	}
	old := ci.Groups[brokerGroup].Leader()
	resp, err := a.groupOK(ctx, brokerGroup, "transfer leader", func() *transport.Command {
		return transport.NewRequest(transport.ReqTransferLeader, map[string]string{"target": target}, nil)
	})
	if err != nil {
		return err
	}
	if resp.Remark == "already the leader" {
		return nil
	}
	wctx, wcancel := context.WithTimeout(ctx, 3*a.c.opts.timeout)
	defer wcancel()
	for {
		ci, err := a.ClusterInfo(wctx)
		if err == nil {
			if l := ci.Groups[brokerGroup].Leader(); l != "" && l != old {
				return nil
			}
		}
		if !sleep(wctx, 50*time.Millisecond) {
			return fmt.Errorf("client: leadership of %s transferred but no new leader advertised yet: %w", brokerGroup, wctx.Err())
		}
	}
}

// SubGroups lists the subscription groups a broker group knows
// (GET_ALL_SUBSCRIPTIONGROUP_CONFIG), sorted by name.
func (a *Admin) SubGroups(ctx context.Context, brokerGroup string) ([]SubGroupConfig, error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	resp, err := a.groupOK(ctx, brokerGroup, "list subscription groups", func() *transport.Command {
		return transport.NewRequest(transport.ReqGetAllSubscriptionGroupConfig, nil, nil)
	})
	if err != nil {
		return nil, err
	}
	var body struct {
		Table map[string]SubGroupConfig `json:"subscriptionGroupTable"`
	}
	if err := transport.DecodeBody(resp.Body, &body); err != nil {
		return nil, fmt.Errorf("client: subscription groups of %s: %w", brokerGroup, err)
	}
	out := slices.Collect(maps.Values(body.Table))
	sort.Slice(out, func(i, j int) bool { return out[i].GroupName < out[j].GroupName })
	return out, nil
}
