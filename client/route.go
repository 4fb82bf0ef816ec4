package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// defaultTopicQueueNums is how many queues a topic auto-created through the
// TBW102 route gets (the official client's value).
const defaultTopicQueueNums = 4

// minRefreshGap bounds how often one topic's route is fetched on demand.
const minRefreshGap = 50 * time.Millisecond

// topicRoute is a cached route with the queue lists derived from it.
type topicRoute struct {
	topic   string
	data    *transport.TopicRouteData
	brokers map[string]transport.BrokerData // by brokerName
	writeQs []MessageQueue                  // sorted; brokers with a leader and write perm
	readQs  []MessageQueue                  // sorted; brokers with read perm
	// fromDefault: built from TBW102's route for a topic the NameServer
	// does not know yet (auto-create).
	fromDefault bool
	fetched     time.Time
}

func newTopicRoute(topic string, rd *transport.TopicRouteData, fromDefault bool) *topicRoute {
	r := &topicRoute{topic: topic, data: rd, brokers: map[string]transport.BrokerData{}, fromDefault: fromDefault, fetched: time.Now()}
	for _, b := range rd.BrokerDatas {
		r.brokers[b.BrokerName] = b
	}
	for _, q := range rd.QueueDatas {
		if _, ok := r.brokers[q.BrokerName]; !ok {
			continue
		}
		w, rq := int(q.WriteQueueNums), int(q.ReadQueueNums)
		if fromDefault {
			w, rq = min(w, defaultTopicQueueNums), min(rq, defaultTopicQueueNums)
		}
		if q.Perm&transport.PermWrite != 0 {
			for i := 0; i < w; i++ {
				r.writeQs = append(r.writeQs, MessageQueue{Topic: topic, BrokerName: q.BrokerName, QueueID: i})
			}
		}
		if q.Perm&transport.PermRead != 0 {
			for i := 0; i < rq; i++ {
				r.readQs = append(r.readQs, MessageQueue{Topic: topic, BrokerName: q.BrokerName, QueueID: i})
			}
		}
	}
	sortQueues(r.writeQs)
	sortQueues(r.readQs)
	return r
}

func sortQueues(qs []MessageQueue) {
	sort.Slice(qs, func(i, j int) bool { return qs[i].less(qs[j]) })
}

// leader returns the address advertised as brokerId 0 of a group, or "".
func (r *topicRoute) leader(brokerName string) string {
	return r.brokers[brokerName].BrokerAddrs[0]
}

// members returns every address of a group, leader first, then by id.
func (r *topicRoute) members(brokerName string) []string {
	return groupMembers(r.brokers[brokerName])
}

func groupMembers(b transport.BrokerData) []string {
	ids := make([]int64, 0, len(b.BrokerAddrs))
	for id := range b.BrokerAddrs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, b.BrokerAddrs[id])
	}
	return out
}

// addrs returns every broker address of the route.
func (r *topicRoute) addrs() []string {
	var out []string
	for _, b := range r.brokers {
		for _, a := range b.BrokerAddrs {
			out = append(out, a)
		}
	}
	return out
}

// routeTable caches topic routes. Fetches of one topic are shared by
// concurrent callers and spaced by minRefreshGap.
type routeTable struct {
	c *core

	mu       sync.Mutex
	routes   map[string]*topicRoute
	inflight map[string]*routeCall
	// hosts remembers which broker group every address seen in a route
	// belonged to (QueryMsgByID after the host left the routes).
	hosts map[string]string
}

type routeCall struct {
	done chan struct{}
	r    *topicRoute
	err  error
}

func newRouteTable(c *core) *routeTable {
	return &routeTable{c: c, routes: map[string]*topicRoute{}, inflight: map[string]*routeCall{}, hosts: map[string]string{}}
}

// get returns the cached route of topic, fetching it when absent.
func (t *routeTable) get(ctx context.Context, topic string) (*topicRoute, error) {
	t.mu.Lock()
	r := t.routes[topic]
	t.mu.Unlock()
	if r != nil {
		return r, nil
	}
	return t.refresh(ctx, topic)
}

// cached returns the cached route or nil.
func (t *routeTable) cached(topic string) *topicRoute {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.routes[topic]
}

// refresh fetches topic's route now (unless it was fetched within
// minRefreshGap) and caches it. On error the cached route, if any, stays.
func (t *routeTable) refresh(ctx context.Context, topic string) (*topicRoute, error) {
	t.mu.Lock()
	if r := t.routes[topic]; r != nil && !r.fromDefault && time.Since(r.fetched) < minRefreshGap {
		t.mu.Unlock()
		return r, nil
	}
	call := t.inflight[topic]
	if call == nil {
		call = &routeCall{done: make(chan struct{})}
		t.inflight[topic] = call
		t.mu.Unlock()
		call.r, call.err = t.fetch(ctx, topic)
		t.mu.Lock()
		delete(t.inflight, topic)
		switch {
		case call.err == nil:
			old := t.routes[topic]
			t.routes[topic] = call.r
			for name, b := range call.r.brokers {
				for _, a := range b.BrokerAddrs {
					t.hosts[a] = name
				}
			}
			if old == nil || !slices.Equal(sortedStrings(old.addrs()), sortedStrings(call.r.addrs())) {
				t.c.routeChanged()
			}
		}
		// A failed fetch, TOPIC_NOT_EXIST included, keeps the cached route,
		// as the official client does: while a group elects, a NameServer
		// may briefly not route a topic its followers have not registered
		// yet, and the cached addresses still reach members that forward
		// to the new leader. A deleted topic is reported by its brokers.
		t.mu.Unlock()
		close(call.done)
		return call.r, call.err
	}
	t.mu.Unlock()
	select {
	case <-call.done:
		return call.r, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func sortedStrings(s []string) []string {
	slices.Sort(s)
	return s
}

func (t *routeTable) fetch(ctx context.Context, topic string) (*topicRoute, error) {
	req := func() *transport.Command {
		return transport.NewRequest(transport.ReqGetRouteInfoByTopic, (&transport.TopicHeader{Topic: topic}).Encode(), nil)
	}
	resp, addr, err := t.c.invokeNS(ctx, req)
	if err != nil {
		return nil, err
	}
	switch transport.ResponseCode(resp.Code) {
	case transport.RespSuccess:
	case transport.RespTopicNotExist:
		return nil, fmt.Errorf("%w: %s (name server %s: %s)", ErrTopicNotExist, topic, addr, resp.Remark)
	default:
		return nil, brokerErr("get route of "+topic, addr, resp)
	}
	rd, err := transport.DecodeTopicRouteData(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("client: route of %s from %s: %w", topic, addr, err)
	}
	return newTopicRoute(topic, rd, false), nil
}

// publishRoute returns the route to send topic's messages by. When the
// NameServer does not know topic and auto-create is on, it returns
// TBW102's route under topic's name (the broker creates the topic on the
// first send); that route is re-fetched on every call until the real one
// exists.
func (t *routeTable) publishRoute(ctx context.Context, topic string, autoCreate bool) (*topicRoute, error) {
	r := t.cached(topic)
	if r != nil && !r.fromDefault {
		return r, nil
	}
	if r != nil && time.Since(r.fetched) < time.Second {
		return r, nil
	}
	real, err := t.refresh(ctx, topic)
	if err == nil {
		return real, nil
	}
	if r != nil && !errors.Is(err, ErrTopicNotExist) {
		return r, nil // the NameServer is unreachable: keep using TBW102's route
	}
	if !errors.Is(err, ErrTopicNotExist) || !autoCreate {
		return nil, err
	}
	def, derr := t.get(ctx, message.AutoCreateTopicKey)
	if derr != nil {
		if errors.Is(derr, ErrTopicNotExist) {
			return nil, err // report the topic, not the template
		}
		return nil, derr
	}
	r = newTopicRoute(topic, def.data, true)
	t.mu.Lock()
	if cur := t.routes[topic]; cur == nil || cur.fromDefault {
		t.routes[topic] = r
	}
	t.mu.Unlock()
	return r, nil
}

// topics lists the cached topics.
func (t *routeTable) topics() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.routes))
	for k := range t.routes {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// allAddrs lists every broker address of the cached routes.
func (t *routeTable) allAddrs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	set := map[string]bool{}
	for _, r := range t.routes {
		for _, a := range r.addrs() {
			set[a] = true
		}
	}
	out := make([]string, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// groupOfHost returns the broker group an address was last seen in.
func (t *routeTable) groupOfHost(addr string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hosts[addr]
}
