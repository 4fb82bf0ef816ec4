package group

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/raftlog"
)

// Config configures a Group.
type Config struct {
	// NodeID is this member's id; Members the group (used to bootstrap a
	// new group: every member lists the same).
	NodeID  string
	Members []Member
	// Join: never bootstrap; wait to be added by the group's leader (a new
	// member, or a wiped one rejoining).
	Join bool
	// OnRemoved, if set, is told once when this member was removed from
	// the group.
	OnRemoved func()
	// Log is the CommitLog's configuration (Dir is the store root).
	Log raftlog.Config
	// ConsumeQueueFileEntries is the units per ConsumeQueue file.
	ConsumeQueueFileEntries int64

	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	SnapshotThreshold  uint64
	SnapshotInterval   time.Duration
	// ParallelFlush lets the leader flush its CommitLog while it
	// replicates (SYNC_FLUSH); results still wait for its disk.
	ParallelFlush bool
	// PreferredLeader, if set, is the member leadership goes back to
	// whenever it is up to date (DLedger's preferredLeaderId).
	PreferredLeader string
	// MaxEntryBytes bounds the commands packed into one entry and
	// MaxInflightEntries the entries proposed and not yet committed.
	MaxEntryBytes      int
	MaxInflightEntries int

	// Transport carries raft's RPCs (required).
	Transport raft.Transport
	// History, if set, reaches other members' CommitLogs: a member that
	// installed a snapshot fetches the retained messages before it.
	History HistorySource
	// Logger and RaftLogger (hashicorp/raft's own, chatty) receive logs.
	Logger     hclog.Logger
	RaftLogger hclog.Logger

	// BeforeServing, if set, runs when this member became leader and its
	// Barrier is done, before IsLeader turns true (the broker creates its
	// system topics there).
	BeforeServing func(ctx context.Context)
	// OnLeadership, if set, is told when this member starts serving as
	// leader (true) or stops (false).
	OnLeadership func(leader bool)
	// OnTopicsChanged and OnACLChanged are the FSM's hooks (they must not
	// block).
	OnTopicsChanged func()
	OnACLChanged    func()
	// Metrics hooks (optional).
	ObserveApply func(entries int, d time.Duration)
	OnEntry      func(cmds, bytes int)
}

// Validate reports an unusable configuration.
func (c *Config) Validate() error {
	found := false
	for _, m := range c.Members {
		found = found || m.ID == c.NodeID
	}
	switch {
	case c.NodeID == "" || !found && !c.Join:
		return fmt.Errorf("group: node id %q is not among the members", c.NodeID)
	case c.Transport == nil:
		return errors.New("group: a raft transport is required")
	case c.MaxEntryBytes < 1 || c.MaxInflightEntries < 1:
		return fmt.Errorf("group: MaxEntryBytes %d and MaxInflightEntries %d must be positive", c.MaxEntryBytes, c.MaxInflightEntries)
	case c.ConsumeQueueFileEntries < 1:
		return fmt.Errorf("group: ConsumeQueueFileEntries %d must be positive", c.ConsumeQueueFileEntries)
	}
	return nil
}

// State is the committed state of the group, as processors read it; the
// FSM provides it.
type State interface {
	Topic(name string) (fsm.TopicConfig, bool)
	Topics() []fsm.TopicConfig
	Group(name string) (fsm.GroupConfig, bool)
	Groups() []fsm.GroupConfig
	ConsumerOffset(group, topic string, qid int32) (int64, bool)
	GroupOffsets(group string) map[string]map[int32]int64
	OffsetTable() map[fsm.GroupTopic]map[int32]int64
	ConsumerGroups(topic string) []string
	ACL() map[string]fsm.ACLEntry
	QueueBounds(topic string, qid int32) (min, max int64)
	QueueRange(topic string, qid int32, offset int64, max int, dst []fsm.Unit) ([]fsm.Unit, error)
	QueueUnit(topic string, qid int32, offset int64) (fsm.Unit, error)
	QueueSearch(topic string, qid int32, pred func(fsm.Unit) bool) int64
	QueueOffsetOf(topic string, qid int32, phys int64) (int64, bool)
	QueueFirstAtOrAfter(topic string, qid int32, phys int64) int64
	QueueWait(topic string, qid int32, offset int64) (<-chan struct{}, error)
	ReadMessage(dst []byte, phys int64, size int32) ([]byte, error)
	QueryIndex(topic, key string, max int, begin, end int64) []int64
	Txn(half int64) (fsm.TxnState, bool)
	Txns() []fsm.TxnState
	OpenTxns() int
	AppliedIndex() uint64
}

// Group is one member of a raft group whose log is the CommitLog.
type Group struct {
	State // the FSM's committed reads

	cfg    Config
	logger hclog.Logger
	log    *raftlog.Log
	stable *raftlog.StableStore
	snaps  *raft.FileSnapshotStore
	fsm    *fsm.FSM
	raft   *raft.Raft
	prop   *proposer
	disk   peerDisks
	hist   historyState
	// histKick wakes the history catch-up after a snapshot install.
	histKick chan struct{}

	ready     atomic.Bool
	leaderSig signal // fired at every leadership or membership event
	members   atomic.Pointer[[]Member]
	wasMember atomic.Bool
	removed   atomic.Bool
	notifyCh  chan bool
	stop      chan struct{}
	stopOnce  sync.Once
	// raftOnce shuts raft down once: a second raft.Shutdown returns at
	// once, without waiting for the first, and storage must not close
	// under a raft still stopping.
	raftOnce sync.Once
	raftErr  error
	wg       sync.WaitGroup

	// leaderChanges counts the leaders this member saw elected.
	leaderChanges atomic.Uint64
}

// Open opens the CommitLog, the raft stable and snapshot stores and the
// FSM, and replays what the FSM's checkpoint lacks up to the latest
// snapshot. Raft does not run until Start.
func Open(cfg Config) (g *Group, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	g = &Group{cfg: cfg, logger: logger, notifyCh: make(chan bool, 16), stop: make(chan struct{}), histKick: make(chan struct{}, 1)}
	defer func() {
		if err != nil {
			g.closeStorage()
		}
	}()
	root := cfg.Log.Dir
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("group: %w", err)
	}
	lc := cfg.Log
	if lc.Logger == nil {
		lc.Logger = logger
	}
	if g.log, err = raftlog.Open(lc); err != nil {
		return nil, err
	}
	if g.stable, err = raftlog.OpenStableStore(root); err != nil {
		return nil, err
	}
	if g.snaps, err = raft.NewFileSnapshotStoreWithLogger(filepath.Join(root, "raft"), 2, logger.Named("snapshot")); err != nil {
		return nil, fmt.Errorf("group: snapshot store: %w", err)
	}
	fc := fsm.DefaultConfig(root, g.log)
	fc.ConsumeQueueFileEntries = cfg.ConsumeQueueFileEntries
	fc.Logger = logger
	fc.OnTopicsChanged = cfg.OnTopicsChanged
	fc.OnACLChanged = cfg.OnACLChanged
	fc.ObserveApply = cfg.ObserveApply
	// Where entries may be deleted and where the next one goes are the
	// CommitLog's placement rules; the FSM only reports the events.
	fc.OnSnapshot = g.log.SetRetentionBound
	fc.OnRestore = func(index uint64, end int64) error {
		defer func() {
			select {
			case g.histKick <- struct{}{}:
			default:
			}
		}()
		return g.log.SetNextStart(index+1, end)
	}
	if g.fsm, err = fsm.Open(fc); err != nil {
		return nil, err
	}
	g.State = g.fsm
	// Early deletion under disk pressure keeps what consumers still need.
	g.log.SetRetentionGuard(g.fsm.LowestUnconsumed)
	// raft replays only entries after its latest snapshot; anything between
	// the FSM's checkpoint and that snapshot is replayed here.
	if metas, err := g.snaps.List(); err == nil && len(metas) > 0 {
		if err := g.fsm.ReplayTo(metas[0].Index); err != nil {
			return nil, err
		}
		g.log.SetRetentionBound(metas[0].Index)
	}
	return g, nil
}

// Start bootstraps a new group (from Config.Members) or rejoins an
// existing one, and starts raft.
func (g *Group) Start() error {
	cfg := g.cfg
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.MaxAppendEntries = 512
	// Entries queued while the leader fsyncs are stored together with one
	// fsync (raft's own group commit, on top of the proposer's packing).
	rc.BatchApplyCh = true
	// The log is the data: raft must never compact it (retention does,
	// bounded by the snapshot index). Snapshots stay small and frequent.
	rc.TrailingLogs = math.MaxUint64
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.NoSnapshotRestoreOnStart = true
	rc.NotifyCh = g.notifyCh
	rc.Logger = cfg.RaftLogger
	if rc.Logger == nil {
		rc.Logger = g.logger.Named("raft")
	}
	snaps := indexedStore{g.snaps}
	has, err := raft.HasExistingState(g.log, g.stable, snaps)
	if err != nil {
		return fmt.Errorf("group: %w", err)
	}
	if !has && cfg.Join {
		g.logger.Info("joining: waiting to be added to the group by its leader")
	}
	if !has && !cfg.Join {
		var servers []raft.Server
		for _, m := range cfg.Members {
			servers = append(servers, raft.Server{ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.Addr)})
		}
		if err := raft.BootstrapCluster(rc, g.log, g.stable, snaps, cfg.Transport, raft.Configuration{Servers: servers}); err != nil {
			return fmt.Errorf("group: bootstrap: %w", err)
		}
		g.logger.Info("bootstrapped raft group", "peers", len(servers))
	}
	if g.raft, err = raft.NewRaft(rc, g.fsm, g.log, g.stable, snaps, cfg.Transport); err != nil {
		return fmt.Errorf("group: start raft: %w", err)
	}
	g.prop = newProposer(g.raft, cfg.MaxEntryBytes, cfg.MaxInflightEntries, g.logger.Named("proposer"))
	g.prop.stalled = g.DiskRefusal
	g.prop.onEntry = cfg.OnEntry
	if cfg.Log.Flush == raftlog.SyncFlush {
		// Acknowledge only what is on the leader's disk too.
		g.prop.durable = func(idx uint64) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return g.log.WaitSynced(ctx, idx)
		}
	}
	g.prop.start()
	g.refreshMembers()
	g.goFunc(g.leadershipLoop)
	g.goFunc(g.observeLeaders)
	g.goFunc(g.maintenanceLoop)
	g.goFunc(g.historyLoop)
	if cfg.PreferredLeader != "" && cfg.PreferredLeader != cfg.NodeID {
		g.goFunc(g.preferredLeaderLoop)
	}
	return nil
}

// preferredLeaderLoop hands leadership to the preferred member while this
// member leads. raft refuses a transfer to a member that is not up to
// date; then it is tried again later.
func (g *Group) preferredLeaderLoop() {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
			if !g.IsLeader() {
				continue
			}
			if err := g.TransferLeadership(g.cfg.PreferredLeader); err != nil {
				g.logger.Debug("leadership not handed to the preferred leader yet", "preferred", g.cfg.PreferredLeader, "error", err)
			} else {
				g.logger.Info("handed leadership to the preferred leader", "preferred", g.cfg.PreferredLeader)
			}
		}
	}
}

func (g *Group) goFunc(f func()) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f()
	}()
}

// Shutdown stops raft (proposals in flight fail) and closes storage,
// writing a final FSM checkpoint. It is idempotent.
func (g *Group) Shutdown() error {
	g.stopOnce.Do(func() { close(g.stop) })
	var errs []error
	if g.prop != nil {
		g.prop.shutdown()
	}
	errs = append(errs, g.stopRaft())
	if g.prop != nil {
		g.prop.wait()
	}
	g.wg.Wait()
	errs = append(errs, g.closeStorage())
	return errors.Join(errs...)
}

// stopRaft shuts raft down and waits until it has stopped, whoever asks
// first; then tells the proposer that raft will answer nothing more.
func (g *Group) stopRaft() error {
	g.raftOnce.Do(func() {
		if g.raft != nil {
			g.raftErr = g.raft.Shutdown().Error()
		}
		if g.prop != nil {
			g.prop.raftStopped()
		}
	})
	return g.raftErr
}

func (g *Group) closeStorage() error {
	var errs []error
	if g.fsm != nil {
		errs = append(errs, g.fsm.Close())
		g.fsm = nil
	}
	if g.log != nil {
		errs = append(errs, g.log.Close())
		g.log = nil
	}
	if g.stable != nil {
		errs = append(errs, g.stable.Close())
		g.stable = nil
	}
	return errors.Join(errs...)
}

// Proposal is a committed command's outcome.
type Proposal struct {
	Result any    // the command's result from the FSM (fsm.AppendResult, ...)
	Index  uint64 // the raft index of its entry
}

// ErrOutcomeUnknown wraps errors after which a command may or may not
// have been committed (leadership lost, the caller gave up waiting).
var ErrOutcomeUnknown = errOutcomeUnknown

// ErrShutdown: the group is shutting down.
var ErrShutdown = errShutdown

// Propose submits commands (add appends them to the entry being built)
// and waits until they are committed, applied and, under SYNC_FLUSH, on
// the leader's disk. size bounds the bytes add appends. With one command
// the result is that command's; with several, a []any of theirs. A
// command the FSM rejected returns its error (fsm.ErrRejected).
func (g *Group) Propose(ctx context.Context, size int, add func(*fsm.EntryBuilder) error) (Proposal, error) {
	return g.prop.propose(ctx, size, add)
}

// ProposeAsync is Propose without waiting: done gets the outcome, once,
// on one of the group's proposer goroutines. Results of proposals that
// reach raft come in raft order; a refusal while packing, or a failure at
// shutdown, may come ahead of them. done must not block (later results
// wait for it). It returns ErrShutdown, without calling done, when the
// group is shutting down.
func (g *Group) ProposeAsync(size int, add func(*fsm.EntryBuilder) error, done func(Proposal, error)) error {
	return g.prop.proposeAsync(size, add, done)
}

// StopRaft shuts raft down so that every proposal in flight fails at
// once (a server whose shutdown deadline passed must not wait for a
// commit that may never come). Shutdown must still be called.
func (g *Group) StopRaft() {
	if g.prop != nil {
		g.prop.shutdown()
	}
	_ = g.stopRaft()
}

// IsLeader reports whether this member leads and has applied everything
// before its term (its Barrier is done), so its state is current.
func (g *Group) IsLeader() bool { return g.ready.Load() && g.raft.State() == raft.Leader }

// RaftLeader reports whether raft considers this member the leader (it
// may not serve yet: see IsLeader).
func (g *Group) RaftLeader() bool { return g.raft.State() == raft.Leader }

// WaitLeaderReady gives a fresh leader a moment (up to 2 s) to finish its
// Barrier; it reports whether this member serves.
func (g *Group) WaitLeaderReady(ctx context.Context) bool {
	if g.IsLeader() {
		return true // every send asks: no timer for the common case
	}
	deadline := time.NewTimer(2 * time.Second)
	defer deadline.Stop()
	for {
		changed := g.LeaderChanged()
		if g.IsLeader() {
			return true
		}
		if !g.RaftLeader() {
			return false
		}
		select {
		case <-changed:
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		case <-g.stop:
			return false
		}
	}
}

// VerifyLeader confirms with a majority that this member still leads
// (one heartbeat round): what it applied then includes every write any
// leader acknowledged.
func (g *Group) VerifyLeader(ctx context.Context) error {
	f := g.raft.VerifyLeader()
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("group: verify leadership: %w", err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Leader returns the current leader's id and raft address ("" if none).
func (g *Group) Leader() (id, addr string) {
	a, i := g.raft.LeaderWithID()
	return string(i), string(a)
}

// Term is the current raft term.
func (g *Group) Term() uint64 { return g.raft.CurrentTerm() }

// LastContact is when this member last heard from a leader.
func (g *Group) LastContact() time.Time { return g.raft.LastContact() }

// TransferLeadership hands leadership to target ("" = any up-to-date
// member). Only the leader can.
func (g *Group) TransferLeadership(target string) error {
	if target == "" {
		return g.raft.LeadershipTransfer().Error()
	}
	for _, m := range g.Members() {
		if m.ID == target {
			return g.raft.LeadershipTransferToServer(raft.ServerID(m.ID), raft.ServerAddress(m.Addr)).Error()
		}
	}
	return fmt.Errorf("group: %q is not a member", target)
}

// Snapshot takes a raft snapshot now (retention may then delete up to it).
func (g *Group) Snapshot() error {
	err := g.raft.Snapshot().Error()
	if errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil
	}
	return err
}

// DeleteOlder runs retention on this member now: it takes a snapshot (so
// that entries up to now may go), deletes the segments older than
// olderThan that retention allows (raftlog.Log.DeleteOlder) and trims the
// queues that pointed into them.
func (g *Group) DeleteOlder(olderThan time.Duration) (raftlog.RetentionResult, error) {
	if err := g.Snapshot(); err != nil {
		return raftlog.RetentionResult{}, fmt.Errorf("group: snapshot before retention: %w", err)
	}
	res, err := g.log.DeleteOlder(olderThan, time.Now())
	if err != nil {
		return res, err
	}
	if res.DeletedSegments > 0 {
		err = g.fsm.TrimBelow(g.log.Stats().MinOffset)
	}
	return res, err
}

// Status describes this member's raft and storage state.
type Status struct {
	State            string
	Serving          bool
	Leader           string
	Term             uint64
	FirstIndex       uint64
	LastIndex        uint64
	CommitIndex      uint64
	AppliedIndex     uint64 // the FSM's last applied command
	RaftAppliedIndex uint64 // raft's (counts no-op and barrier entries)
	MinOffset        int64  // CommitLog's first retained byte
	WriteOffset      int64  // CommitLog's end
	Segments         int
	DiskFull         bool
	DiskUsed         float64
	DiskAvail        int64
	Messages         uint64 // applied since start
	IndexErrors      uint64
	// InstalledSnapshot is the index of the last snapshot installed from a
	// leader (0: none): this member holds no messages before it, though
	// others may (its history is partial).
	InstalledSnapshot uint64
	// PartialHistory: the retained messages before InstalledSnapshot are
	// not all here yet (History says how far the catch-up is).
	PartialHistory bool
	History        HistoryProgress

	// FSMAppliedIndex is the last raft index the FSM reflects, no-op and
	// barrier entries included: CommitIndex minus it is the apply lag.
	FSMAppliedIndex uint64
	// FSMPending is the batches raft handed to the FSM and it has not
	// applied yet.
	FSMPending int
	// SnapshotIndex is the index of the latest snapshot taken or installed.
	SnapshotIndex uint64
	// LeaderChanges counts the leaders this member saw elected since it
	// started (the same member elected again in a new term counts).
	LeaderChanges uint64
}

// Status returns this member's status.
func (g *Group) Status() Status {
	ls := g.log.Stats()
	_, leader := g.raft.LeaderWithID()
	rs := g.raft.Stats()
	ci, _ := strconv.ParseUint(rs["commit_index"], 10, 64)
	si, _ := strconv.ParseUint(rs["last_snapshot_index"], 10, 64)
	pending, _ := strconv.Atoi(rs["fsm_pending"])
	st := Status{
		State: g.raft.State().String(), Serving: g.IsLeader(), Leader: string(leader), Term: g.raft.CurrentTerm(),
		FirstIndex: ls.FirstIndex, LastIndex: ls.LastIndex, CommitIndex: ci, AppliedIndex: g.fsm.LastCommand(),
		RaftAppliedIndex: g.raft.AppliedIndex(), MinOffset: ls.MinOffset, WriteOffset: ls.WriteOffset, Segments: ls.Segments,
		DiskFull: ls.DiskFull, DiskUsed: ls.DiskUsed, DiskAvail: ls.DiskAvail, Messages: g.fsm.Messages.Load(),
		IndexErrors: g.fsm.IndexErrors.Load(), InstalledSnapshot: g.fsm.InstalledSnapshot(),
		FSMAppliedIndex: g.fsm.AppliedIndex(), FSMPending: pending, SnapshotIndex: si, LeaderChanges: g.leaderChanges.Load(),
	}
	st.History = g.History()
	st.PartialHistory = st.History.Pending
	return st
}

// CommitLogBounds returns the CommitLog's first retained byte and its end.
func (g *Group) CommitLogBounds() (min, end int64) {
	ls := g.log.Stats()
	return ls.MinOffset, ls.WriteOffset
}

// leadershipLoop reacts to leadership changes: a new leader first waits for
// a Barrier (everything committed before is applied), then serves.
func (g *Group) leadershipLoop() {
	for {
		select {
		case <-g.stop:
			return
		case leader := <-g.notifyCh:
			if !leader {
				g.ready.Store(false)
				g.leaderSig.fire()
				if err := g.log.SetDeferredSync(false); err != nil {
					g.logger.Error("flushing the CommitLog after losing leadership failed", "error", err)
				}
				g.logger.Info("lost leadership", "term", g.raft.CurrentTerm())
				if g.cfg.OnLeadership != nil {
					g.cfg.OnLeadership(false)
				}
				continue
			}
			t0 := time.Now()
			g.log.SetDeferredSync(g.cfg.ParallelFlush)
			if err := g.raft.Barrier(10 * time.Second).Error(); err != nil {
				g.logger.Warn("barrier after election failed", "error", err)
				g.leaderSig.fire()
				continue
			}
			if g.raft.State() != raft.Leader {
				g.leaderSig.fire()
				continue
			}
			if g.cfg.BeforeServing != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				g.cfg.BeforeServing(ctx)
				cancel()
			}
			g.ready.Store(true)
			g.leaderSig.fire()
			g.logger.Info("became leader", "term", g.raft.CurrentTerm(), "applied", g.fsm.AppliedIndex(),
				"barrier", time.Since(t0).Round(time.Microsecond))
			if hs, partial := g.fsm.PendingHistory(); partial {
				g.logger.Warn("leading with a partial history: messages before the snapshot this member installed are not here yet "+
					"(consumers behind it get OFFSET_MOVED until the catch-up completes; see status)", "snapshot", hs.Snapshot)
			}
			if g.cfg.OnLeadership != nil {
				g.cfg.OnLeadership(true)
			}
		}
	}
}

// maintenanceLoop trims queues after retention and writes checkpoints.
func (g *Group) maintenanceLoop() {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
			// Retention may have deleted segments: trim what points there.
			if err := g.fsm.TrimBelow(g.log.Stats().MinOffset); err != nil {
				g.logger.Warn("trimming queues after retention failed", "error", err)
			}
			if _, err := g.fsm.Checkpoint(); err != nil {
				g.logger.Error("checkpoint failed", "error", err)
			}
		}
	}
}
