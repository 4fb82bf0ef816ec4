package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// ConsumerConnection is a consumer group's live connections, subscriptions
// and mode (GET_CONSUMER_CONNECTION_LIST; RocketMQ's layout). Each
// connection names the broker group member holding it (Member).
type ConsumerConnection = transport.ConsumerConnection

// ConsumerRunningInfo is what a consumer tells about itself: properties,
// subscriptions, its queues (MQTable) and rates (GET_CONSUMER_RUNNING_INFO,
// relayed by a broker to the consumer).
type ConsumerRunningInfo = transport.ConsumerRunningInfo

// toolsGroup is the consumer group admin reads pull with (mqadmin's).
const toolsGroup = "TOOLS_CONSUMER"

// consumerGroups returns the broker groups that know consumer group:
// those of its %RETRY% topic's route, else every broker group.
func (a *Admin) consumerGroups(ctx context.Context, group string) ([]string, error) {
	if r, err := a.c.routes.refresh(ctx, message.RetryTopic(group)); err == nil && len(r.brokers) > 0 {
		return slices.Sorted(maps.Keys(r.brokers)), nil
	}
	return a.targetGroups(ctx, Target{})
}

// ConsumerConnection lists group's live consumers, merged over the broker
// groups that know it (each answers for all its members).
// ErrConsumerNotOnline-like answers from every group are an error.
func (a *Admin) ConsumerConnection(ctx context.Context, group string) (*ConsumerConnection, error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	groups, err := a.consumerGroups(ctx, group)
	if err != nil {
		return nil, err
	}
	out := &ConsumerConnection{ConnectionSet: []transport.Connection{}, SubscriptionTable: map[string]transport.SubscriptionData{}}
	seen := map[string]bool{}
	var errs []error
	for _, g := range groups {
		resp, err := a.groupOK(ctx, g, "consumer connection of "+group, func() *transport.Command {
			return transport.NewRequest(transport.ReqGetConsumerConnectionList, (&transport.ConsumerGroupHeader{ConsumerGroup: group}).Encode(), nil)
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var cc transport.ConsumerConnection
		if err := transport.DecodeBody(resp.Body, &cc); err != nil {
			return nil, fmt.Errorf("client: consumer connection of %s on %s: %w", group, g, err)
		}
		if out.ConsumeType == "" {
			out.ConsumeType, out.MessageModel, out.ConsumeFromWhere = cc.ConsumeType, cc.MessageModel, cc.ConsumeFromWhere
		}
		for _, c := range cc.ConnectionSet {
			if !seen[c.ClientID] {
				seen[c.ClientID] = true
				out.ConnectionSet = append(out.ConnectionSet, c)
			}
		}
		for t, sd := range cc.SubscriptionTable {
			if _, ok := out.SubscriptionTable[t]; !ok {
				out.SubscriptionTable[t] = sd
			}
		}
	}
	if len(out.ConnectionSet) == 0 {
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		return nil, fmt.Errorf("client: consumer group %s is not online", group)
	}
	sort.Slice(out.ConnectionSet, func(i, j int) bool { return out.ConnectionSet[i].ClientID < out.ConnectionSet[j].ClientID })
	return out, nil
}

// ConsumerRunningInfo asks one consumer of group, through a broker group
// that knows it, for its running info (jstack: its goroutine or thread
// stacks too, where the client supports it).
func (a *Admin) ConsumerRunningInfo(ctx context.Context, group, clientID string, jstack bool) (*ConsumerRunningInfo, error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	groups, err := a.consumerGroups(ctx, group)
	if err != nil {
		return nil, err
	}
	h := transport.GetConsumerRunningInfoRequestHeader{ConsumerGroup: group, ClientID: clientID, JstackEnable: jstack}
	var errs []error
	for _, g := range groups {
		resp, err := a.groupOKWait(ctx, g, "consumer running info of "+clientID, 5*time.Second, func() *transport.Command {
			return transport.NewRequest(transport.ReqGetConsumerRunningInfo, h.Encode(), nil)
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		info, err := transport.DecodeConsumerRunningInfo(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("client: consumer running info of %s: %w", clientID, err)
		}
		return info, nil
	}
	return nil, errors.Join(errs...)
}

// ConsumerStatus returns every live consumer's running info by client id
// (mqadmin consumerStatus). A consumer that does not answer maps to nil
// with its error in errs.
func (a *Admin) ConsumerStatus(ctx context.Context, group string, jstack bool) (map[string]*ConsumerRunningInfo, map[string]error, error) {
	cc, err := a.ConsumerConnection(ctx, group)
	if err != nil {
		return nil, nil, err
	}
	out, errs := map[string]*ConsumerRunningInfo{}, map[string]error{}
	for _, c := range cc.ConnectionSet {
		info, err := a.ConsumerRunningInfo(ctx, group, c.ClientID, jstack)
		out[c.ClientID] = info
		if err != nil {
			errs[c.ClientID] = err
		}
	}
	return out, errs, nil
}

// BrokerConfig returns one broker's configuration (GET_BROKER_CONFIG:
// the file's keys with live values over them).
func (a *Admin) BrokerConfig(ctx context.Context, addr string) (map[string]string, error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	resp, err := a.c.invoke(ctx, addr, transport.NewRequest(transport.ReqGetBrokerConfig, nil, nil))
	if err != nil {
		return nil, fmt.Errorf("client: broker config of %s: %w", addr, err)
	}
	if resp.Code != int16(transport.RespSuccess) {
		return nil, brokerErr("broker config", addr, resp)
	}
	return parseProperties(resp.Body), nil
}

// UpdateBrokerConfig changes live settings (UPDATE_BROKER_CONFIG) on every
// member of each targeted broker group: the member that takes the request
// relays it to the others. It returns each group's answer (which members
// applied it). Settings are in memory: a restarted member reads its file.
func (a *Admin) UpdateBrokerConfig(ctx context.Context, kv map[string]string, t Target) (map[string]string, error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	if len(kv) == 0 {
		return nil, errors.New("client: update broker config: no key")
	}
	body := formatProperties(kv)
	groups, err := a.targetGroups(ctx, t)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, g := range groups {
		resp, err := a.groupOKWait(ctx, g, "update broker config", 10*time.Second, func() *transport.Command {
			return transport.NewRequest(transport.ReqUpdateBrokerConfig, nil, body)
		})
		if err != nil {
			return out, err
		}
		out[g] = resp.Remark
	}
	return out, nil
}

// WipeWritePerm removes the write permission of brokerGroup from every
// NameServer's routes (WIPE_WRITE_PERM_OF_BROKER, RocketMQ's way to drain
// a broker: producers stop choosing it, consumers keep reading). It
// returns, per NameServer, how many topics changed.
func (a *Admin) WipeWritePerm(ctx context.Context, brokerGroup string) (map[string]int, error) {
	return a.writePerm(ctx, brokerGroup, transport.ReqWipeWritePermOfBroker, transport.ExtWipeTopicCount)
}

// AddWritePerm gives brokerGroup its write permission back
// (ADD_WRITE_PERM_OF_BROKER on every NameServer).
func (a *Admin) AddWritePerm(ctx context.Context, brokerGroup string) (map[string]int, error) {
	return a.writePerm(ctx, brokerGroup, transport.ReqAddWritePermOfBroker, transport.ExtAddTopicCount)
}

func (a *Admin) writePerm(ctx context.Context, brokerGroup string, code transport.RequestCode, countKey string) (map[string]int, error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	if brokerGroup == "" {
		return nil, errors.New("client: write permission: no broker group")
	}
	out := map[string]int{}
	var errs []error
	for _, ns := range a.c.opts.nameServers {
		resp, err := a.c.invoke(ctx, ns, transport.NewRequest(code, (&transport.BrokerNameHeader{BrokerName: brokerGroup}).Encode(), nil))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%w: %s: %w", ErrNameServerUnreachable, ns, err))
		case resp.Code != int16(transport.RespSuccess):
			errs = append(errs, brokerErr(code.String(), ns, resp))
		default:
			n, _ := strconv.Atoi(resp.ExtFields[countKey])
			out[ns] = n
		}
	}
	a.c.routes.mu.Lock()
	clear(a.c.routes.routes) // routes of the group's topics changed
	a.c.routes.mu.Unlock()
	if len(errs) > 0 {
		return out, fmt.Errorf("client: write permission of %s: %w", brokerGroup, errors.Join(errs...))
	}
	return out, nil
}

// QueryMsgByOffset reads the message at offset of mq (mqadmin
// queryMsgByOffset). ErrMessageNotFound when there is none there.
func (a *Admin) QueryMsgByOffset(ctx context.Context, mq MessageQueue, offset int64) (*MessageExt, error) {
	msgs, _, err := a.pullRange(ctx, mq, offset, offset+1)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if m.QueueOffset == offset {
			return m, nil
		}
	}
	return nil, fmt.Errorf("%w: %s offset %d", ErrMessageNotFound, mq, offset)
}

// PrintMsg reads the messages of mq from offset from (inclusive) to to
// (exclusive; to <= 0: the queue's max offset), at most limit of them
// (limit <= 0: 1024). It returns them and the offset to continue from.
func (a *Admin) PrintMsg(ctx context.Context, mq MessageQueue, from, to int64, limit int) ([]*MessageExt, int64, error) {
	if limit <= 0 {
		limit = 1024
	}
	if to <= 0 {
		ctx2, cancel := a.c.opCtx(ctx)
		mx, err := a.c.queueOffset(ctx2, transport.ReqGetMaxOffset, mq)
		cancel()
		if err != nil {
			return nil, from, err
		}
		to = mx
	}
	to = min(to, from+int64(limit))
	return a.pullRange(ctx, mq, from, to)
}

// pullRange pulls [from, to) of mq as TOOLS_CONSUMER, without committing.
func (a *Admin) pullRange(ctx context.Context, mq MessageQueue, from, to int64) ([]*MessageExt, int64, error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	sub := &subscription{topic: mq.Topic, expr: "*"}
	var out []*MessageExt
	next := from
	for next < to {
		n := int(min(to-next, 32))
		resp, addr, err := a.c.invokeGroup(ctx, mq.Topic, mq.BrokerName, 0, func() *transport.Command {
			return pullRequest(toolsGroup, mq, next, n, transport.PullFlagSubscription, -1, 0, sub)
		})
		if err != nil {
			return out, next, err
		}
		switch transport.ResponseCode(resp.Code) {
		case transport.RespSuccess:
		case transport.RespPullNotFound, transport.RespPullRetryImmediately, transport.RespPullOffsetMoved:
			var h transport.PullMessageResponseHeader
			if h.Decode(resp.ExtFields) == nil && h.NextBeginOffset > next && transport.ResponseCode(resp.Code) != transport.RespPullNotFound {
				next = h.NextBeginOffset
				continue
			}
			return out, next, nil
		default:
			return out, next, brokerErr("pull "+mq.String(), addr, resp)
		}
		var h transport.PullMessageResponseHeader
		if err := h.Decode(resp.ExtFields); err != nil {
			return out, next, fmt.Errorf("client: pull %s from %s: %w", mq, addr, err)
		}
		recs, err := message.DecodeRecords(resp.Body)
		if err != nil {
			return out, next, fmt.Errorf("client: pull %s from %s: %w", mq, addr, err)
		}
		for _, r := range recs {
			if r.QueueOffset < from || r.QueueOffset >= to {
				continue
			}
			m, err := fromRecord(r, mq.BrokerName, a.c.opts.maxBodySize)
			if err != nil {
				return out, next, err
			}
			m.Queue = mq
			out = append(out, m)
		}
		if h.NextBeginOffset <= next {
			break
		}
		next = h.NextBeginOffset
	}
	return out, min(next, to), nil
}

// TopicStats is one line of StatsAll: a topic and one consumer group of
// it (Group "" when none consumes it).
type TopicStats struct {
	Topic string
	Group string
	// Messages is the sum of the topic's queue max offsets.
	Messages int64
	// Accumulation is the group's lag (0 without a group).
	Accumulation int64
	// InTPS is the topic's put rate over the sampling interval.
	InTPS float64
	// OutTPS is the group's committed-offset rate over the interval.
	OutTPS float64
}

// StatsAll lists every topic (system and retry topics too when all) with
// each subscription group that committed offsets on it (mqadmin statsAll).
// Rates are measured over interval (0: none): max offsets and committed
// offsets are read twice.
func (a *Admin) StatsAll(ctx context.Context, all bool, interval time.Duration) ([]TopicStats, error) {
	topics, err := a.TopicList(ctx)
	if err != nil {
		return nil, err
	}
	ci, err := a.ClusterInfo(ctx)
	if err != nil {
		return nil, err
	}
	groupSet := map[string]bool{}
	for _, bg := range ci.GroupNames("") {
		sgs, err := a.SubGroups(ctx, bg)
		if err != nil {
			return nil, err
		}
		for _, sg := range sgs {
			groupSet[sg.GroupName] = true
		}
	}
	groups := slices.Sorted(maps.Keys(groupSet))
	var keep []string
	for _, t := range topics {
		if all || !(message.IsRetryTopic(t) || isSystemTopic(t)) {
			keep = append(keep, t)
		}
	}
	type snap struct {
		msgs map[string]int64
		cons map[[2]string]int64 // topic, group -> committed sum
		lag  map[[2]string]int64
	}
	take := func() (snap, error) {
		s := snap{msgs: map[string]int64{}, cons: map[[2]string]int64{}, lag: map[[2]string]int64{}}
		for _, t := range keep {
			qs, err := a.TopicStatus(ctx, t)
			if err != nil {
				if errors.Is(err, ErrTopicNotExist) {
					continue
				}
				return s, err
			}
			for _, q := range qs {
				s.msgs[t] += q.MaxOffset
			}
		}
		for _, g := range groups {
			p, err := a.ConsumerProgress(ctx, g, "")
			if err != nil {
				continue // a group on a broker group that is down
			}
			for _, q := range p.Queues {
				k := [2]string{q.Queue.Topic, g}
				s.cons[k] += max(0, q.ConsumerOffset)
				s.lag[k] += q.Lag
			}
		}
		return s, nil
	}
	s1, err := take()
	if err != nil {
		return nil, err
	}
	s2 := s1
	if interval > 0 {
		if !sleep(ctx, interval) {
			return nil, ctx.Err()
		}
		if s2, err = take(); err != nil {
			return nil, err
		}
	}
	secs := interval.Seconds()
	rate := func(a, b int64) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(b-a) / secs
	}
	var out []TopicStats
	for _, t := range keep {
		if _, ok := s2.msgs[t]; !ok {
			continue
		}
		in := rate(s1.msgs[t], s2.msgs[t])
		n := 0
		for _, g := range groups {
			k := [2]string{t, g}
			if _, ok := s2.cons[k]; !ok {
				continue
			}
			n++
			out = append(out, TopicStats{Topic: t, Group: g, Messages: s2.msgs[t], Accumulation: s2.lag[k], InTPS: in, OutTPS: rate(s1.cons[k], s2.cons[k])})
		}
		if n == 0 {
			out = append(out, TopicStats{Topic: t, Messages: s2.msgs[t], InTPS: in})
		}
	}
	return out, nil
}

func isSystemTopic(t string) bool { return message.IsSystemTopic(t) || message.IsDLQTopic(t) }

// formatProperties writes kv as "key=value" lines, keys sorted (the
// properties text RocketMQ's config requests carry).
func formatProperties(kv map[string]string) []byte {
	var out []byte
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		out = append(out, k...)
		out = append(out, '=')
		out = append(out, kv[k]...)
		out = append(out, '\n')
	}
	return out
}

// parseProperties reads "key=value" (or "key: value") lines, skipping
// blank lines and comments; a trailing backslash continues a line.
func parseProperties(b []byte) map[string]string {
	out := map[string]string{}
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		for strings.HasSuffix(l, "\\") && i+1 < len(lines) {
			i++
			l = strings.TrimSuffix(l, "\\") + strings.TrimSpace(lines[i])
		}
		if l == "" || l[0] == '#' || l[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if j := strings.IndexAny(l, "=:"); j >= 0 && l[j] == ':' {
			k, v, ok = l[:j], l[j+1:], true
		}
		if !ok {
			k, v = l, ""
		}
		v = strings.TrimSpace(v)
		v = strings.NewReplacer("\\:", ":", "\\=", "=", "\\\\", "\\").Replace(v)
		out[strings.TrimSpace(k)] = v
	}
	return out
}

// SearchOffset returns the first offset of mq stored at or after t.
func (a *Admin) SearchOffset(ctx context.Context, mq MessageQueue, t time.Time) (int64, error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	return a.c.searchOffset(ctx, mq, t)
}

// MessageQueueWire is a queue as admin bodies key it (ConsumerRunningInfo's
// MQTable).
type MessageQueueWire = transport.MessageQueue
