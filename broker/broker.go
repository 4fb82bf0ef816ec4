package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/filter"
	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/group"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/raftnet"
	"github.com/raftmq/raftmq/transport"
)

// Broker is one member of a broker group: a raft node whose log is the
// CommitLog, serving the RocketMQ remoting protocol.
type Broker struct {
	cfg        Config
	logger     hclog.Logger
	self       group.Member
	clientAddr string         // advertised client address
	storeHost  netip.AddrPort // STOREHOST of messages this node writes as leader

	// g is the replicated group: raft, CommitLog, FSM, proposer.
	g     *group.Group
	trans raftnet.Inner // raftnet.Transport, or NetworkTransport alone
	mux   *mux

	server     *transport.Server // clients
	groupLn    *groupListener    // nil unless brokerGroupListen
	handoff    handoffState      // owned by the handoffCheck ticker
	peerServer *transport.Server // other members (forwarded requests)
	peerClient *transport.Client // to other members
	nsClient   *transport.Client // to NameServers

	pending  *byteBudget
	handlers map[transport.RequestCode]transport.HandlerFunc
	clients  *clientManager
	locks    *lockManager
	uniq     *message.UniqKeyGenerator
	metrics  *metrics
	acl      *aclState // nil unless aclEnable
	// memberTLS dials other members (nil: plain).
	memberTLS *tls.Config
	delays    []time.Duration
	// live holds the settings UPDATE_BROKER_CONFIG may change while
	// running; rtStats samples the counters for the runtime table.
	live    *liveConfig
	rtStats *runtimeStats

	registerNow chan struct{}
	peerNotify  chan string // consumer groups whose change goes to the other members
	ensuring    struct {    // consumer groups a follower asked the leader to create
		mu     sync.Mutex
		groups map[string]bool
	}
	reply replyState // request-reply (reply.go)
	// schedulePasses counts the leader's passes over the delay levels.
	schedulePasses atomic.Uint64
	// holdHistory (tests only) makes this member refuse to serve its
	// history, as a donor that is down would.
	holdHistory atomic.Bool
	removed     atomic.Bool // removed from the group
	stop        chan struct{}
	stopOnce    sync.Once
	wg          sync.WaitGroup
}

// New validates cfg and prepares a broker; Start opens storage and serves.
func New(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	b := &Broker{
		cfg:         cfg,
		clientAddr:  cfg.Advertised.String(),
		storeHost:   cfg.Advertised,
		delays:      cfg.DelayLevels,
		clients:     newClientManager(filter.NewCache(1024)),
		locks:       newLockManager(60 * time.Second),
		registerNow: make(chan struct{}, 1),
		peerNotify:  make(chan string, notifyBacklog),
		stop:        make(chan struct{}),
		live:        newLiveConfig(cfg),
		rtStats:     newRuntimeStats(time.Now()),
	}
	b.ensuring.groups = map[string]bool{}
	for _, p := range cfg.Members {
		if p.ID == cfg.NodeID {
			b.self = p
		}
	}
	b.logger = logger.With("group", cfg.BrokerName, "node", b.self.ID)
	b.uniq = message.NewUniqKeyGenerator(cfg.Advertised.Addr(), os.Getpid())
	b.metrics = newMetrics(b)
	return b, nil
}

// Addr is the advertised client address.
func (b *Broker) Addr() string { return b.clientAddr }

// Start opens the group's storage, starts raft and the servers.
func (b *Broker) Start() (err error) {
	defer func() {
		if err != nil {
			b.closeStorage()
		}
	}()
	root := b.cfg.Dir
	bind := b.self.Addr
	if b.cfg.RaftBindAddr != "" {
		bind = b.cfg.RaftBindAddr
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return fmt.Errorf("broker: listen on raft address %s: %w", bind, err)
	}
	if b.cfg.MemberServerTLS == nil && b.cfg.ACLFile != "" {
		b.logger.Warn("ACL is on but the raft port takes any peer: whoever reaches it can replicate or forward requests past the ACL; " +
			"set raftTlsCertPath, raftTlsKeyPath and raftTlsCaPath (mutual TLS between members), or firewall the raft port")
	}
	memberCli := b.cfg.MemberClientTLS
	b.memberTLS = memberCli
	b.mux = newMux(ln, b.cfg.MemberServerTLS, b.cfg.BinaryAppend, b.logger.Named("raft-port"))
	adv, err := net.ResolveTCPAddr("tcp", b.self.Addr)
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	netTrans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:                &raftLayer{muxListener: b.mux.raft, advertise: adv, tls: memberCli},
		ServerAddressProvider: b,
		MaxPool:               3,
		Timeout:               2 * time.Second,
		Logger:                b.logger.Named("raft-net").With(),
	})
	b.trans = netTrans
	if b.cfg.BinaryAppend {
		rc := raftnet.DefaultConfig()
		rc.Inner, rc.Listener, rc.AddressProvider = netTrans, b.mux.append, b
		rc.Dial = func(ctx context.Context, addr string) (net.Conn, error) {
			return dialMux(ctx, addr, muxAppend, memberCli)
		}
		rc.Logger = b.logger.Named("raft-append")
		bt, err := raftnet.New(rc)
		if err != nil { // b.trans stays the NetworkTransport, closed by closeStorage
			return fmt.Errorf("broker: %w", err)
		}
		b.trans = bt
	}

	gc, err := b.groupConfig()
	if err != nil {
		return err
	}
	if b.g, err = group.Open(gc); err != nil {
		return err
	}
	if bt, ok := b.trans.(*raftnet.Transport); ok {
		// A full disk here is no log mismatch: the leader retries, not walks back.
		bt.SetStoreFailure(b.g.StoreFailure)
	}
	if b.cfg.ACLFile != "" {
		if err := b.startACL(); err != nil {
			return err
		}
	}
	// Before the group starts: its history catch-up uses it.
	if b.peerClient, err = b.newClient(func(ctx context.Context, addr string) (net.Conn, error) {
		return dialMux(ctx, b.dialAddr(addr), muxPeer, b.memberTLS)
	}); err != nil {
		return err
	}
	if err := b.g.Start(); err != nil {
		return err
	}
	b.pending = newByteBudget(b.cfg.MaxPendingBytes)

	if b.nsClient, err = b.newClient(nil); err != nil {
		return err
	}
	if b.cfg.NamesrvTLS != nil || !b.cfg.NamesrvCredentials.Empty() {
		// NameServers with TLS or ACL: a client of their own.
		b.nsClient.Close()
		cc := transport.DefaultClientConfig()
		cc.MaxFrameSize = b.cfg.MaxMessageSize + 1<<20
		cc.Logger = b.logger.Named("remoting-client")
		cc.Credentials = b.cfg.NamesrvCredentials
		cc.TLS = b.cfg.NamesrvTLS
		if b.nsClient, err = transport.NewClient(cc); err != nil {
			return err
		}
	}
	sc := transport.DefaultServerConfig()
	sc.Addr = b.cfg.ListenAddr
	sc.MaxFrameSize = b.cfg.MaxMessageSize + 1<<20
	sc.IdleTimeout = 3 * time.Minute
	// Sends wait on raft, so many are in flight per connection (async and
	// oneway producers); memory is bounded by the pending-bytes budget.
	sc.MaxInflightPerConn = 1 << 16
	sc.MaxConns = b.cfg.MaxConns
	sc.MaxConnsPerIP = b.cfg.MaxConnsPerIP
	sc.MaxPendingFrameBytes = b.cfg.MaxPendingFrameBytes
	sc.FrameTimeout = b.cfg.FrameReadTimeout
	sc.Logger = b.logger.Named("remoting")
	if b.acl != nil {
		sc.Authorize = b.authorize
	}
	sc.TLS, sc.TLSMode = b.cfg.ClientTLS, b.cfg.ClientTLSMode
	if b.server, err = transport.NewServer(sc); err != nil {
		return err
	}
	clientLn, err := b.listenClients()
	if err != nil {
		return err
	}
	sc.Addr = bind
	sc.Authorize = nil                              // members forward what they already checked
	sc.TLS, sc.TLSMode = nil, transport.TLSDisabled // the mux does member TLS
	sc.IdleTimeout = 0
	// Members only (the mux bounds connections on the raft port).
	sc.MaxConns, sc.MaxConnsPerIP = 0, 0
	if b.peerServer, err = transport.NewServer(sc); err != nil {
		return err
	}
	for _, s := range []*transport.Server{b.server, b.peerServer} {
		b.registerHandlers(s)
	}
	b.registerHistoryHandlers(b.peerServer) // members only
	b.registerRegistryHandlers(b.peerServer)
	b.peerServer.Handle(transport.ReqMemberLoad, b.handleMemberLoad)
	b.peerServer.Handle(transport.ReqEnsureGroup, b.handleEnsureGroup)
	b.peerServer.Handle(transport.ReqPushToClient, b.handlePushToClient)
	b.server.OnConnClose(b.connClosed)
	b.goFunc(func() { b.server.Serve(clientLn) })
	b.goFunc(func() { b.peerServer.Serve(b.mux.peer) })
	b.goFunc(b.registerLoop)
	b.goFunc(b.peerNotifyLoop)
	if b.groupLn != nil {
		b.goFunc(b.groupAddrLoop)
	}
	b.every(time.Second, b.housekeeping)
	b.every(100*time.Millisecond, b.schedulePass)
	b.every(min(time.Second, b.cfg.TransactionCheckInterval), b.txnCheckPass)
	b.every(time.Second, b.pollDisks)
	b.every(time.Second, b.sampleStats)
	b.every(time.Second, b.promoteNonVoters)
	b.every(500*time.Millisecond, b.handoffCheck)
	if b.acl != nil {
		b.goFunc(b.aclLoop)
	}
	b.metrics.start()
	b.logger.Info("broker started", "client_addr", b.clientAddr, "raft_addr", b.self.Addr,
		"store", root, "flush", b.cfg.Log.Flush)
	return nil
}

// ServerAddr implements raft.ServerAddressProvider: where to dial a peer.
func (b *Broker) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	if a, ok := b.cfg.DialAddrs[string(id)]; ok {
		return raft.ServerAddress(a), nil
	}
	for _, p := range b.members() {
		if p.ID == string(id) {
			return raft.ServerAddress(p.Addr), nil
		}
	}
	return "", fmt.Errorf("broker: unknown peer %q", id)
}

// dialAddr maps a peer's advertised raft address to where to dial it.
func (b *Broker) dialAddr(addr string) string {
	for _, p := range b.members() {
		if p.Addr == addr {
			if a, ok := b.cfg.DialAddrs[p.ID]; ok {
				return a
			}
		}
	}
	return addr
}

func (b *Broker) newClient(dial func(context.Context, string) (net.Conn, error)) (*transport.Client, error) {
	cc := transport.DefaultClientConfig()
	cc.Dial = dial
	cc.MaxFrameSize = b.cfg.MaxMessageSize + 1<<20
	cc.Logger = b.logger.Named("remoting-client")
	return transport.NewClient(cc)
}

// every runs f every d on an owned goroutine until the broker stops.
func (b *Broker) every(d time.Duration, f func(now time.Time)) {
	b.goFunc(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case now := <-t.C:
				f(now)
			}
		}
	})
}

func (b *Broker) goFunc(f func()) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		f()
	}()
}

// Shutdown unregisters from the NameServers, drains requests, stops raft
// and closes storage (writing a final FSM checkpoint).
func (b *Broker) Shutdown(ctx context.Context) error {
	b.stopOnce.Do(func() { close(b.stop) })
	var errs []error
	if b.nsClient != nil {
		b.unregisterAll(ctx)
	}
	if b.g != nil {
		// Sends taken on a reader wait for their entry: past the deadline,
		// stopping raft fails them, so the servers' drains end.
		defer context.AfterFunc(ctx, b.g.StopRaft)()
	}
	if b.server != nil {
		errs = append(errs, b.server.Shutdown(ctx))
	}
	if b.peerServer != nil {
		errs = append(errs, b.peerServer.Shutdown(ctx))
	}
	b.metrics.shutdown(ctx)
	if b.g != nil {
		errs = append(errs, b.g.Shutdown())
	}
	b.wg.Wait()
	for _, c := range []*transport.Client{b.peerClient, b.nsClient} {
		if c != nil {
			c.Close()
		}
	}
	errs = append(errs, b.closeStorage())
	if err := errors.Join(errs...); err != nil && !errors.Is(err, transport.ErrServerClosed) {
		return err
	}
	b.logger.Info("broker stopped")
	return nil
}

func (b *Broker) closeStorage() error {
	var errs []error
	if b.g != nil {
		errs = append(errs, b.g.Shutdown())
	}
	if b.trans != nil {
		errs = append(errs, b.trans.Close())
		b.trans = nil
	}
	if b.mux != nil {
		errs = append(errs, b.mux.close())
		b.mux = nil
	}
	return errors.Join(errs...)
}

// isLeader reports whether this node leads and has applied everything
// before its term, so its state is current.
func (b *Broker) isLeader() bool { return b.g.IsLeader() }

// onLeadership: a new leader registers at once as brokerId 0 instead of
// waiting for the periodic registration; a former one drops its locks.
func (b *Broker) onLeadership(leader bool) {
	if leader {
		b.metrics.leaderChanges.Inc()
	} else {
		b.locks.reset()
	}
	b.followGroupAddr()
	b.kickRegister()
}

// ensureSystemTopics creates TBW102 (the auto-create template the official
// producer falls back to) when auto-creation is on.
func (b *Broker) ensureSystemTopics(ctx context.Context) {
	var want []fsm.TopicConfig
	if b.live.autoCreateTopic.Load() {
		want = append(want, fsm.TopicConfig{TopicName: message.AutoCreateTopicKey, ReadQueueNums: int32(b.cfg.DefaultTopicQueueNums),
			WriteQueueNums: int32(b.cfg.DefaultTopicQueueNums), Perm: transport.PermRead | transport.PermWrite | transport.PermInherit})
	}
	want = append(want, fsm.TopicConfig{TopicName: message.ScheduleTopic, ReadQueueNums: int32(len(b.delays)),
		WriteQueueNums: int32(len(b.delays)), Perm: transport.PermRead | transport.PermWrite})
	want = append(want, fsm.TopicConfig{TopicName: message.TimerTopic, ReadQueueNums: int32(len(message.TimerLevels)),
		WriteQueueNums: int32(len(message.TimerLevels)), Perm: transport.PermRead | transport.PermWrite})
	want = append(want, b.replyTopicConfig())
	for _, tc := range want {
		if _, ok := b.g.Topic(tc.TopicName); ok {
			continue
		}
		if _, err := b.proposeTopic(ctx, tc, true); err != nil {
			b.logger.Warn("could not create system topic", "topic", tc.TopicName, "error", err)
		}
	}
}

func (b *Broker) kickRegister() {
	select {
	case b.registerNow <- struct{}{}:
	default:
	}
}

// housekeeping expires silent clients and stale locks.
func (b *Broker) housekeeping(now time.Time) {
	for _, g := range b.clients.expire(now, b.cfg.ClientExpiry) {
		b.notifyGroup(g)
	}
	b.locks.expire(now)
}

func (b *Broker) connClosed(c *transport.Conn) {
	for _, g := range b.clients.connClosed(c) {
		b.notifyGroup(g)
	}
}

// notifyGroup tells a consumer group's members to rebalance.
// Leader returns the raft id of the current leader, or "".
func (b *Broker) Leader() string {
	id, _ := b.g.Leader()
	return id
}

// IsLeader reports whether this node is the group's serving leader.
func (b *Broker) IsLeader() bool { return b.isLeader() }

// groupConfig is the group's share of the configuration.
func (b *Broker) groupConfig() (group.Config, error) {
	lc := b.cfg.Log
	lc.Logger = b.logger
	lc.Observer = b.metrics
	gc := group.Config{
		NodeID: b.self.ID, Members: b.cfg.Members, Join: b.cfg.Join, OnRemoved: b.onRemoved,
		Log: lc, ConsumeQueueFileEntries: b.cfg.ConsumeQueueFileEntries,
		HeartbeatTimeout: b.cfg.HeartbeatTimeout, ElectionTimeout: b.cfg.ElectionTimeout,
		LeaderLeaseTimeout: b.cfg.LeaderLeaseTimeout, CommitTimeout: b.cfg.CommitTimeout,
		SnapshotThreshold: b.cfg.SnapshotThreshold, SnapshotInterval: b.cfg.SnapshotInterval,
		ParallelFlush: b.cfg.ParallelFlush, PreferredLeader: b.cfg.PreferredLeader,
		MaxEntryBytes: b.cfg.MaxEntryBytes, MaxInflightEntries: b.cfg.MaxInflightEntries,
		Transport: b.trans, Logger: b.logger, History: peerHistory{b},
		// System topics exist before the NameServers advertise us.
		BeforeServing: b.ensureSystemTopics, OnLeadership: b.onLeadership,
		OnTopicsChanged: b.kickRegister, OnACLChanged: b.kickACL,
		ObserveApply: b.metrics.observeApply, OnEntry: b.metrics.entry,
	}
	if b.cfg.RaftLogger != nil {
		gc.RaftLogger = b.cfg.RaftLogger.With("group", b.cfg.BrokerName, "node", b.self.ID)
	}
	return gc, nil
}

// members is the group's current membership (raft's configuration; the
// configured members until raft runs).
func (b *Broker) members() []group.Member {
	if b.g == nil {
		return b.cfg.Members
	}
	return b.g.Members()
}

// followerID is the brokerId this member registers with while following:
// its position among the members, from 1.
func (b *Broker) followerID() int64 {
	for i, m := range b.members() {
		if m.ID == b.self.ID {
			return int64(i + 1)
		}
	}
	return int64(len(b.members()) + 1)
}

// onRemoved: this member is no longer in the group. It leaves the
// NameServers' routes and stops registering; the operator stops it.
func (b *Broker) onRemoved() {
	b.removed.Store(true)
	b.logger.Error("this member was removed from broker group; it no longer serves and can be stopped", "group", b.cfg.BrokerName)
	b.followGroupAddr() // no new clients for a member that no longer serves
	b.goFunc(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b.unregisterAll(ctx)
	})
}
