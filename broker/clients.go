package broker

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/raftmq/raftmq/filter"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// clientManager tracks the producers and consumers connected to this node
// (from heartbeats), so that GET_CONSUMER_LIST_BY_GROUP only lists live
// clients and a group hears NOTIFY_CONSUMER_IDS_CHANGED when it changes.
// It is per node and in memory, like RocketMQ's: clients heartbeat every
// node in their routes.
type clientManager struct {
	filters   *filter.Cache
	mu        sync.Mutex
	consumers map[string]*consumerGroup
	producers map[string]map[string]*clientConn // group -> client id
}

type clientConn struct {
	id       string
	conn     *transport.Conn
	lastSeen time.Time
	// language and version are the heartbeat's (GET_CONSUMER_CONNECTION_LIST).
	language string
	version  int16
}

type consumerGroup struct {
	name             string
	consumeType      string
	messageModel     string
	consumeFromWhere string
	subs             map[string]*subscription // by topic
	clients          map[string]*clientConn
}

// subscription is a consumer's filter on one topic: tags (pre-filtered by
// the ConsumeQueue's tag hash) or a SQL92 selector (evaluated on each
// message's properties).
type subscription struct {
	topic     string
	subString string
	all       bool
	tags      map[string]bool
	codes     map[int64]bool // TagsHashCode of each tag (the CQ pre-filter)
	sql       *filter.Expr
	err       error // the selector does not compile, or its type is unknown
	// data is the subscription as the heartbeat carried it.
	data transport.SubscriptionData
}

// Expression types of SubscriptionData.
const (
	exprTag   = "TAG"
	exprSQL92 = "SQL92"
)

func newSubscription(topic, expr string, tags []string, typ string, filters *filter.Cache) *subscription {
	s := &subscription{topic: topic, subString: expr, tags: map[string]bool{}, codes: map[int64]bool{}}
	switch typ {
	case "", exprTag:
	case exprSQL92:
		s.sql, s.err = filters.Compile(expr)
		return s
	default:
		s.err = fmt.Errorf("expression type %q is not supported (TAG or SQL92)", typ)
		return s
	}
	if len(tags) == 0 {
		for _, t := range strings.Split(expr, "||") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
	}
	for _, t := range tags {
		if t == "*" {
			s.all = true
		}
		s.tags[t] = true
		// The official Go client's codeSet hashes UTF-8 bytes, Java's
		// String.hashCode UTF-16 units: hash the tags ourselves.
		s.codes[message.TagsHashCode(t)] = true
	}
	if expr == "" || expr == "*" || len(s.tags) == 0 {
		s.all = true
	}
	return s
}

// match pre-filters a ConsumeQueue unit by tag hash.
func (s *subscription) match(tagHash int64) bool {
	return s == nil || s.all || s.sql != nil || s.codes[tagHash]
}

// matchProps evaluates a SQL92 selector on a stored record's properties.
func (s *subscription) matchProps(rec []byte) bool {
	if s == nil || s.sql == nil {
		return true
	}
	v, err := message.ParseRecord(rec)
	if err != nil {
		return false
	}
	return s.sql.Match(func(name string) (string, bool) {
		b, ok := message.LookupProperty(v.Properties, name)
		return string(b), ok
	})
}

func newClientManager(filters *filter.Cache) *clientManager {
	return &clientManager{filters: filters, consumers: map[string]*consumerGroup{}, producers: map[string]map[string]*clientConn{}}
}

// heartbeat registers hb's groups on conn and returns the consumer groups
// whose membership changed (to notify) and whose members are new here.
func (m *clientManager) heartbeat(conn *transport.Conn, hb *transport.HeartbeatData, now time.Time) (changed []string) {
	return m.heartbeatFrom(conn, hb, now, "", 0)
}

// heartbeatFrom is heartbeat recording the client's language and version.
func (m *clientManager) heartbeatFrom(conn *transport.Conn, hb *transport.HeartbeatData, now time.Time, lang string, version int16) (changed []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range hb.ProducerDataSet {
		g := m.producers[p.GroupName]
		if g == nil {
			g = map[string]*clientConn{}
			m.producers[p.GroupName] = g
		}
		g[hb.ClientID] = &clientConn{id: hb.ClientID, conn: conn, lastSeen: now, language: lang, version: version}
	}
	for _, c := range hb.ConsumerDataSet {
		g := m.consumers[c.GroupName]
		if g == nil {
			g = &consumerGroup{name: c.GroupName, clients: map[string]*clientConn{}}
			m.consumers[c.GroupName] = g
		}
		g.consumeType, g.messageModel, g.consumeFromWhere = c.ConsumeType, c.MessageModel, c.ConsumeFromWhere
		subs := map[string]*subscription{}
		for _, sd := range c.SubscriptionDataSet {
			sub := newSubscription(sd.Topic, sd.SubString, sd.TagsSet, sd.ExpressionType, m.filters)
			sub.data = sd
			subs[sd.Topic] = sub
		}
		g.subs = subs
		old := g.clients[hb.ClientID]
		if old == nil || old.conn != conn {
			changed = append(changed, c.GroupName)
		}
		g.clients[hb.ClientID] = &clientConn{id: hb.ClientID, conn: conn, lastSeen: now, language: lang, version: version}
	}
	return changed
}

// local describes a consumer group's registrations on this member.
func (m *clientManager) local(group, member string) transport.LocalConsumers {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := transport.LocalConsumers{ConsumerIDList: []string{}}
	g := m.consumers[group]
	if g == nil {
		return out
	}
	out.ConsumeType, out.MessageModel, out.ConsumeFromWhere = g.consumeType, g.messageModel, g.consumeFromWhere
	for id, c := range g.clients {
		out.ConsumerIDList = append(out.ConsumerIDList, id)
		cn := transport.Connection{ClientID: id, Language: c.language, Version: int32(c.version), Member: member}
		if c.conn != nil {
			cn.ClientAddr = c.conn.RemoteAddr().String()
		}
		out.Connections = append(out.Connections, cn)
	}
	sort.Strings(out.ConsumerIDList)
	sort.Slice(out.Connections, func(i, j int) bool { return out.Connections[i].ClientID < out.Connections[j].ClientID })
	for _, s := range g.subs {
		out.Subscriptions = append(out.Subscriptions, s.data)
	}
	sort.Slice(out.Subscriptions, func(i, j int) bool { return out.Subscriptions[i].Topic < out.Subscriptions[j].Topic })
	return out
}

// subscribedTopics returns the topics group subscribes to here (nil when
// no member of it is connected here).
func (m *clientManager) subscribedTopics(group string) map[string]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.consumers[group]
	if g == nil || len(g.subs) == 0 {
		return nil
	}
	out := make(map[string]bool, len(g.subs))
	for t := range g.subs {
		out[t] = true
	}
	return out
}

// unregister drops a client from groups (UNREGISTER_CLIENT).
func (m *clientManager) unregister(clientID, producerGroup, consumerGroup string) (changed []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if g := m.producers[producerGroup]; g != nil {
		delete(g, clientID)
	}
	if g := m.consumers[consumerGroup]; g != nil {
		if _, ok := g.clients[clientID]; ok {
			delete(g.clients, clientID)
			changed = append(changed, consumerGroup)
		}
	}
	return changed
}

// drop removes every registration matching pred and returns the consumer
// groups that changed.
func (m *clientManager) drop(pred func(*clientConn) bool) (changed []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, g := range m.producers {
		for id, c := range g {
			if pred(c) {
				delete(g, id)
			}
		}
		if len(g) == 0 {
			delete(m.producers, name)
		}
	}
	for name, g := range m.consumers {
		n := len(g.clients)
		for id, c := range g.clients {
			if pred(c) {
				delete(g.clients, id)
			}
		}
		if len(g.clients) != n {
			changed = append(changed, name)
		}
		if len(g.clients) == 0 {
			delete(m.consumers, name)
		}
	}
	return changed
}

func (m *clientManager) connClosed(conn *transport.Conn) []string {
	return m.drop(func(c *clientConn) bool { return c.conn == conn })
}

func (m *clientManager) expire(now time.Time, ttl time.Duration) []string {
	return m.drop(func(c *clientConn) bool { return now.Sub(c.lastSeen) > ttl })
}

// consumerIDs lists the live members of a group, sorted.
func (m *clientManager) consumerIDs(group string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.consumers[group]
	if g == nil {
		return nil
	}
	out := make([]string, 0, len(g.clients))
	for id := range g.clients {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// conns returns the connections of a group's members.
func (m *clientManager) conns(group string) []*transport.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.consumers[group]
	if g == nil {
		return nil
	}
	out := make([]*transport.Conn, 0, len(g.clients))
	for _, c := range g.clients {
		out = append(out, c.conn)
	}
	return out
}

// connOf is the connection of a client (producer or consumer) by id, nil
// if it is not connected here.
func (m *clientManager) connOf(clientID string) *transport.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, g := range m.producers {
		if c := g[clientID]; c != nil {
			return c.conn
		}
	}
	for _, g := range m.consumers {
		if c := g.clients[clientID]; c != nil {
			return c.conn
		}
	}
	return nil
}

// producerConn is the connection of the producer of group seen last, nil
// if none is connected here.
func (m *clientManager) producerConn(group string) *transport.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	var best *clientConn
	for _, c := range m.producers[group] {
		if best == nil || c.lastSeen.After(best.lastSeen) || (c.lastSeen.Equal(best.lastSeen) && c.id < best.id) {
			best = c
		}
	}
	if best == nil {
		return nil
	}
	return best.conn
}

// subscription returns a group's filter for topic (nil: deliver all).
func (m *clientManager) subscription(group, topic string) *subscription {
	m.mu.Lock()
	defer m.mu.Unlock()
	if g := m.consumers[group]; g != nil {
		return g.subs[topic]
	}
	return nil
}

// groupInfo describes a consumer group for admin commands.
type groupInfo struct {
	Name             string   `json:"name"`
	ConsumeType      string   `json:"consumeType"`
	MessageModel     string   `json:"messageModel"`
	ConsumeFromWhere string   `json:"consumeFromWhere"`
	Clients          []string `json:"clients"`
	Topics           []string `json:"topics"`
	// Members maps each client to the member holding its connection
	// (GET_CONSUMER_CONNECTION_LIST).
	Members map[string]string `json:"members,omitempty"`
}

func (m *clientManager) groups() []groupInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []groupInfo
	for _, g := range m.consumers {
		gi := groupInfo{Name: g.name, ConsumeType: g.consumeType, MessageModel: g.messageModel, ConsumeFromWhere: g.consumeFromWhere}
		for id := range g.clients {
			gi.Clients = append(gi.Clients, id)
		}
		for t := range g.subs {
			gi.Topics = append(gi.Topics, t)
		}
		sort.Strings(gi.Clients)
		sort.Strings(gi.Topics)
		out = append(out, gi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (m *clientManager) counts() (producers, consumers int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, g := range m.producers {
		producers += len(g)
	}
	for _, g := range m.consumers {
		consumers += len(g.clients)
	}
	return
}

// groupSummary is what metrics show of a consumer group's clients here.
type groupSummary struct {
	consumers int
	broadcast bool
}

// consumerSummary summarises every consumer group with clients here.
func (m *clientManager) consumerSummary() map[string]groupSummary {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]groupSummary, len(m.consumers))
	for name, g := range m.consumers {
		out[name] = groupSummary{consumers: len(g.clients), broadcast: g.messageModel == "BROADCASTING"}
	}
	return out
}
