// Package namesrv is raftmq's NameServer: brokers register (and keep
// re-registering) with every NameServer; clients ask for topic routes and
// cluster information. NameServers are independent, stateless peers: each
// builds its view from registrations alone.
//
// A broker group is one raft group sharing a brokerName. Every member
// registers with its raft term and whether it leads; the route advertises
// the member that leads in the highest term as brokerId 0 and the others
// under their own ids (1..n), so a deposed leader that has not yet
// re-registered can never shadow the new one. While a group elects (no
// member leads), its last leader, or any live member, stays id 0: members
// forward writes to the winner, so a client never sees a group without a
// master. A broker disappears when its
// registration connection closes or when it has not registered for
// BrokerExpiry.
package namesrv

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/raftmq/raftmq/acl"
	"github.com/raftmq/raftmq/transport"
)

// Config configures a NameServer.
type Config struct {
	Addr         string
	BrokerExpiry time.Duration
	Logger       hclog.Logger
	// TLS and TLSMode put TLS on the port (permissive: TLS and plain).
	TLS     *tls.Config
	TLSMode transport.TLSMode
	// ACL, if set, makes registrations and route changes need an admin
	// account; the file is reloaded when it changes.
	ACL *acl.Watcher
	// KVConfigPath keeps the KV configuration (PUT_KV_CONFIG) in this
	// JSON file ("" = in memory only).
	KVConfigPath string
}

// DefaultConfig listens on 9876.
func DefaultConfig() Config { return Config{Addr: ":9876", BrokerExpiry: 10 * time.Second} }

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Addr == "" {
		return errors.New("namesrv: empty address")
	}
	if c.BrokerExpiry < time.Second {
		return fmt.Errorf("namesrv: BrokerExpiry %v shorter than 1s", c.BrokerExpiry)
	}
	return nil
}

type memberSet struct {
	term uint64
	ids  map[string]bool
}

type broker struct {
	cluster, name, addr, nodeID string
	groupAddr                   string // brokerGroupAddr, "" if none
	id                          int64  // the id the broker reports when following
	leader                      bool
	term                        uint64
	topics                      map[string]transport.TopicConfig
	seen                        time.Time
	connID                      uint64
}

// Server is a NameServer.
type Server struct {
	cfg    Config
	logger hclog.Logger
	srv    *transport.Server
	now    func() time.Time

	mu      sync.RWMutex
	brokers map[string]*broker // by address
	deleted map[string]bool    // topics deleted by admin until re-registered
	// lastLeader remembers each group's most recent leader (address):
	// while the group elects, it stays id 0 if it is still alive.
	lastLeader map[string]string
	// members is each group's membership as its leader (highest term)
	// last reported it: node id -> true. Registrations of other nodes
	// are refused (a removed member that still runs).
	members map[string]memberSet
	// kv is the KV configuration: namespace -> key -> value.
	kv map[string]map[string]string
	// wiped lists the broker groups without write permission in routes.
	wiped map[string]bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// New builds a NameServer.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	sc := transport.DefaultServerConfig()
	sc.Addr = cfg.Addr
	sc.Logger = logger.Named("remoting")
	sc.TLS, sc.TLSMode = cfg.TLS, cfg.TLSMode
	var s *Server
	if cfg.ACL != nil {
		sc.Authorize = func(c *transport.Conn, req *transport.Command) *transport.Command { return s.authorize(c, req) }
	}
	srv, err := transport.NewServer(sc)
	if err != nil {
		return nil, err
	}
	s = &Server{cfg: cfg, logger: logger, srv: srv, now: time.Now,
		brokers: map[string]*broker{}, deleted: map[string]bool{}, lastLeader: map[string]string{}, members: map[string]memberSet{},
		wiped: map[string]bool{}, stop: make(chan struct{})}
	if err := s.loadKV(); err != nil {
		return nil, err
	}
	srv.Handle(transport.ReqRegisterBroker, s.register)
	srv.Handle(transport.ReqUnregisterBroker, s.unregister)
	srv.Handle(transport.ReqGetRouteInfoByTopic, s.route)
	srv.Handle(transport.ReqGetBrokerClusterInfo, s.clusterInfo)
	srv.Handle(transport.ReqGetAllTopicListFromNameServer, s.topicList)
	srv.Handle(transport.ReqDeleteTopicInNameSrv, s.deleteTopic)
	srv.Handle(transport.ReqGetTopicsByCluster, s.topicsByCluster)
	srv.Handle(transport.ReqPutKVConfig, s.putKV)
	srv.Handle(transport.ReqGetKVConfig, s.getKV)
	srv.Handle(transport.ReqDeleteKVConfig, s.deleteKV)
	srv.Handle(transport.ReqGetKVListByNamespace, s.kvList)
	srv.Handle(transport.ReqWipeWritePermOfBroker, s.wipeWritePerm)
	srv.Handle(transport.ReqAddWritePermOfBroker, s.addWritePerm)
	srv.OnConnClose(s.connClosed)
	return s, nil
}

// Start listens and serves.
func (s *Server) Start() error {
	if err := s.srv.Start(); err != nil {
		return err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.expireLoop()
	}()
	if s.cfg.ACL != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.aclLoop()
		}()
	}
	s.logger.Info("name server started", "addr", s.srv.Addr().String())
	return nil
}

// Addr is the listening address.
func (s *Server) Addr() string { return s.srv.Addr().String() }

// Shutdown stops serving.
func (s *Server) Shutdown(ctx context.Context) error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	err := s.srv.Shutdown(ctx)
	s.wg.Wait()
	return err
}

func (s *Server) expireLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.expire()
		}
	}
}

func (s *Server) expire() {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for addr, b := range s.brokers {
		if now.Sub(b.seen) > s.cfg.BrokerExpiry {
			s.logger.Warn("broker expired", "broker", b.name, "addr", addr, "silent_for", now.Sub(b.seen).Round(time.Millisecond))
			delete(s.brokers, addr)
		}
	}
}

func (s *Server) connClosed(c *transport.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for addr, b := range s.brokers {
		if b.connID == c.ID() {
			s.logger.Info("broker connection closed", "broker", b.name, "addr", addr)
			delete(s.brokers, addr)
		}
	}
}

func fail(code transport.ResponseCode, format string, a ...any) *transport.Command {
	return transport.NewResponse(code, fmt.Sprintf(format, a...))
}

func (s *Server) register(_ context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.RegisterBrokerRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return fail(transport.RespInvalidParameter, "register broker: %v", err)
	}
	var body transport.RegisterBrokerBody
	if len(req.Body) > 0 {
		if err := transport.DecodeBody(req.Body, &body); err != nil {
			return fail(transport.RespInvalidParameter, "register broker: bad body: %v", err)
		}
	}
	term, _ := strconv.ParseUint(req.Ext(transport.ExtRaftTerm), 10, 64)
	b := &broker{
		cluster: h.ClusterName, name: h.BrokerName, addr: h.BrokerAddr, id: h.BrokerID,
		nodeID: req.Ext(transport.ExtRaftNodeID), leader: req.Ext(transport.ExtRaftLeader) == "true", term: term,
		groupAddr: req.Ext(transport.ExtGroupAddr),
		topics:    body.TopicConfigSerializeWrapper.TopicConfigTable, seen: s.now(), connID: c.ID(),
	}
	if b.name == "" || b.addr == "" {
		return fail(transport.RespInvalidParameter, "register broker: brokerName and brokerAddr are required")
	}
	// A broker that does not speak raftmq's extension (plain RocketMQ)
	// is a leader when it says it is the master.
	if req.Ext(transport.ExtRaftLeader) == "" && h.BrokerID == 0 {
		b.leader = true
	}
	s.mu.Lock()
	if ids := req.Ext(transport.ExtRaftMembers); b.leader && ids != "" {
		if cur, ok := s.members[b.name]; !ok || cur.term <= b.term {
			ms := memberSet{term: b.term, ids: map[string]bool{}}
			for _, id := range strings.Split(ids, ",") {
				ms.ids[id] = true
			}
			s.members[b.name] = ms
			for addr, o := range s.brokers {
				if o.name == b.name && o.nodeID != "" && !ms.ids[o.nodeID] {
					delete(s.brokers, addr)
					s.logger.Info("broker dropped: no longer a member of its group", "broker", o.name, "addr", addr, "node", o.nodeID)
				}
			}
		}
	}
	if ms, ok := s.members[b.name]; ok && b.nodeID != "" && !ms.ids[b.nodeID] && !(b.leader && b.term > ms.term) {
		s.mu.Unlock()
		return fail(transport.RespInvalidParameter, "register broker: node %s is not (or no longer) a member of broker group %s, as its leader reports it", b.nodeID, b.name)
	}
	old := s.brokers[b.addr]
	s.brokers[b.addr] = b
	if b.leader {
		if cur := s.brokers[s.lastLeader[b.name]]; cur == nil || cur == b || !cur.leader || cur.term <= b.term {
			s.lastLeader[b.name] = b.addr
		}
	}
	for t := range b.topics {
		delete(s.deleted, t)
	}
	s.mu.Unlock()
	if old == nil || old.leader != b.leader || old.term != b.term {
		s.logger.Info("broker registered", "broker", b.name, "addr", b.addr, "leader", b.leader, "term", b.term, "topics", len(b.topics))
	}
	resp := transport.NewResponse(transport.RespSuccess, "")
	resp.ExtFields = (&transport.RegisterBrokerResponseHeader{}).Encode()
	return resp
}

func (s *Server) unregister(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.UnregisterBrokerRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return fail(transport.RespInvalidParameter, "unregister broker: %v", err)
	}
	s.mu.Lock()
	delete(s.brokers, h.BrokerAddr)
	s.mu.Unlock()
	s.logger.Info("broker unregistered", "broker", h.BrokerName, "addr", h.BrokerAddr)
	return transport.NewResponse(transport.RespSuccess, "")
}

// group is the view of one brokerName.
type group struct {
	cluster, name string
	leader        *broker
	members       []*broker
	// groupAddr is the group address the leader (or, during an
	// election, a member) registered: brokerId 0 in routes.
	groupAddr string
}

// groupsLocked builds each broker group's view: the member leading in the
// highest term is id 0.
func (s *Server) groupsLocked() map[string]*group {
	out := map[string]*group{}
	for _, b := range s.brokers {
		g := out[b.name]
		if g == nil {
			g = &group{cluster: b.cluster, name: b.name}
			out[b.name] = g
		}
		g.members = append(g.members, b)
		if b.leader && (g.leader == nil || b.term > g.leader.term || (b.term == g.leader.term && b.seen.After(g.leader.seen))) {
			g.leader = b
		}
	}
	for _, g := range out {
		sort.Slice(g.members, func(i, j int) bool { return g.members[i].addr < g.members[j].addr })
		if g.leader != nil {
			continue
		}
		// No member leads right now (an election): keep advertising the
		// last leader, or any live member, as id 0. Members forward writes
		// to whoever wins, so producers holding this route keep working
		// instead of finding no master at all.
		g.leader = g.members[0]
		for _, b := range g.members {
			if b.addr == s.lastLeader[g.name] {
				g.leader = b
			}
		}
	}
	for _, g := range out {
		g.groupAddr = g.leader.groupAddr
		for _, b := range g.members {
			if g.groupAddr == "" {
				g.groupAddr = b.groupAddr
			}
		}
	}
	return out
}

// routeAddrs are the addresses clients get: the group address alone as
// brokerId 0 when the group has one (clients never need a member's own
// address), else every member with the leader as 0.
func (g *group) routeAddrs() map[int64]string {
	if g.groupAddr != "" {
		return map[int64]string{0: g.groupAddr}
	}
	return g.addrs()
}

// addrs lists every member by brokerId; the leader is 0, or the group
// address is when there is one (and members keep their own ids).
func (g *group) addrs() map[int64]string {
	m := map[int64]string{}
	if g.groupAddr != "" {
		m[0] = g.groupAddr
	}
	for _, b := range g.members {
		if b == g.leader && g.groupAddr == "" {
			m[0] = b.addr
			continue
		}
		id := b.id
		if id == 0 { // a stale leader registration: not the master
			id = 1000 + int64(len(m))
		}
		if _, taken := m[id]; taken {
			id = 1000 + int64(len(m))
		}
		m[id] = b.addr
	}
	return m
}

// topicConfig returns the group's config of topic: the leader's if it has
// it, else any member's.
func (g *group) topicConfig(topic string) (transport.TopicConfig, bool) {
	if g.leader != nil {
		if tc, ok := g.leader.topics[topic]; ok {
			return tc, true
		}
	}
	for _, b := range g.members {
		if tc, ok := b.topics[topic]; ok {
			return tc, true
		}
	}
	return transport.TopicConfig{}, false
}

// Route computes a topic's route, or false if no broker serves it.
func (s *Server) Route(topic string) (*transport.TopicRouteData, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.deleted[topic] {
		return nil, false
	}
	rd := &transport.TopicRouteData{FilterServerTable: map[string][]string{}}
	groups := s.groupsLocked()
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		g := groups[n]
		tc, ok := g.topicConfig(topic)
		if !ok {
			continue
		}
		perm := tc.Perm
		if s.wiped[g.name] {
			perm &^= transport.PermWrite
		}
		rd.QueueDatas = append(rd.QueueDatas, transport.QueueData{
			BrokerName: g.name, ReadQueueNums: tc.ReadQueueNums, WriteQueueNums: tc.WriteQueueNums,
			Perm: perm, TopicSysFlag: tc.TopicSysFlag,
		})
		rd.BrokerDatas = append(rd.BrokerDatas, transport.BrokerData{Cluster: g.cluster, BrokerName: g.name, BrokerAddrs: g.routeAddrs()})
	}
	if len(rd.QueueDatas) == 0 {
		return nil, false
	}
	if v, ok := s.kv[NamespaceOrderTopicConfig][topic]; ok {
		rd.OrderTopicConf = v
	}
	return rd, true
}

func (s *Server) route(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.TopicHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return fail(transport.RespInvalidParameter, "route: %v", err)
	}
	rd, ok := s.Route(h.Topic)
	if !ok {
		return fail(transport.RespTopicNotExist, "No topic route info in name server for the topic: %s", h.Topic)
	}
	body, err := rd.Encode()
	if err != nil {
		return fail(transport.RespSystemError, "route: %v", err)
	}
	resp := transport.NewResponse(transport.RespSuccess, "")
	resp.Body = body
	return resp
}

// ClusterInfo describes every live broker group.
func (s *Server) ClusterInfo() *transport.ClusterInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ci := &transport.ClusterInfo{BrokerAddrTable: map[string]transport.BrokerData{}, ClusterAddrTable: map[string][]string{}}
	for name, g := range s.groupsLocked() {
		ci.BrokerAddrTable[name] = transport.BrokerData{Cluster: g.cluster, BrokerName: name, BrokerAddrs: g.addrs()}
		ci.ClusterAddrTable[g.cluster] = append(ci.ClusterAddrTable[g.cluster], name)
	}
	for _, v := range ci.ClusterAddrTable {
		sort.Strings(v)
	}
	return ci
}

func (s *Server) clusterInfo(context.Context, *transport.Conn, *transport.Command) *transport.Command {
	return transport.NewBodyResponse(s.ClusterInfo())
}

func (s *Server) topics(cluster string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	set := map[string]bool{}
	for _, b := range s.brokers {
		if cluster != "" && b.cluster != cluster {
			continue
		}
		for t := range b.topics {
			if !s.deleted[t] {
				set[t] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func (s *Server) topicList(context.Context, *transport.Conn, *transport.Command) *transport.Command {
	return transport.NewBodyResponse(transport.TopicList{TopicList: s.topics("")})
}

func (s *Server) topicsByCluster(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	return transport.NewBodyResponse(transport.TopicList{TopicList: s.topics(req.Ext("cluster"))})
}

func (s *Server) deleteTopic(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.TopicHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return fail(transport.RespInvalidParameter, "delete topic: %v", err)
	}
	s.mu.Lock()
	for _, b := range s.brokers {
		delete(b.topics, h.Topic)
	}
	s.deleted[h.Topic] = true
	s.mu.Unlock()
	s.logger.Info("topic deleted", "topic", h.Topic)
	return transport.NewResponse(transport.RespSuccess, "")
}
