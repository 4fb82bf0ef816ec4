package group

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/internal/vfs"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/raftlog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cluster is n Groups wired with raft's in-memory transport.
type cluster struct {
	t      *testing.T
	groups []*Group
	cfgs   []Config
	trans  []*raft.InmemTransport
	byAddr sync.Map // raft address -> *Group (the history source's view)
}

// HistoryInfo and ReadHistory make the cluster its members' HistorySource.
func (c *cluster) HistoryInfo(ctx context.Context, addr string, index uint64) (raftlog.HistoryInfo, error) {
	g, ok := c.byAddr.Load(addr)
	if !ok {
		return raftlog.HistoryInfo{}, fmt.Errorf("no member at %s", addr)
	}
	return g.(*Group).HistoryInfo(index)
}

func (c *cluster) ReadHistory(ctx context.Context, addr string, off int64, n int, limit uint64) ([]byte, time.Time, error) {
	g, ok := c.byAddr.Load(addr)
	if !ok {
		return nil, time.Time{}, fmt.Errorf("no member at %s", addr)
	}
	b := make([]byte, n)
	k, mt, err := g.(*Group).ReadHistory(b, off, limit)
	return b[:k], mt, err
}

func testConfig(dir, id string, members []Member, trans raft.Transport) Config {
	lc := raftlog.DefaultConfig(dir)
	lc.SegmentSize = 1 << 20
	lc.IndexFileEntries = 1024
	lc.Retention.CheckInterval = 0
	lc.Retention.DiskCheckInterval = 0
	lc.Preallocate = raftlog.PreallocNone
	return Config{
		NodeID: id, Members: members, Log: lc, ConsumeQueueFileEntries: 1024,
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond,
		CommitTimeout: 5 * time.Millisecond, SnapshotThreshold: 1 << 20, SnapshotInterval: time.Hour, ParallelFlush: true,
		MaxEntryBytes: 1 << 20, MaxInflightEntries: 4, Transport: trans, Logger: hclog.NewNullLogger(), RaftLogger: hclog.NewNullLogger(),
	}
}

func startCluster(t *testing.T, n int, mutate ...func(*Config)) *cluster {
	t.Helper()
	c := &cluster{t: t}
	var members []Member
	for i := 0; i < n; i++ {
		addr, tr := raft.NewInmemTransport("")
		members = append(members, Member{ID: fmt.Sprintf("n%d", i), Addr: string(addr)})
		c.trans = append(c.trans, tr)
	}
	for _, a := range c.trans {
		for _, b := range c.trans {
			if a != b {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
	for i := 0; i < n; i++ {
		cfg := testConfig(t.TempDir(), members[i].ID, members, c.trans[i])
		cfg.History = c
		for _, m := range mutate {
			m(&cfg)
		}
		g, err := Open(cfg)
		require.NoError(t, err)
		c.byAddr.Store(members[i].Addr, g)
		require.NoError(t, g.Start())
		c.groups = append(c.groups, g)
		c.cfgs = append(c.cfgs, cfg)
	}
	t.Cleanup(func() {
		for _, g := range c.groups {
			if g != nil {
				g.Shutdown()
			}
		}
		for _, tr := range c.trans {
			tr.Close()
		}
	})
	return c
}

// startFaultyCluster is startCluster with each member's CommitLog on a
// FaultFS of its own, by node id.
func startFaultyCluster(t *testing.T, n int, mutate ...func(*Config)) (*cluster, map[string]*vfs.FaultFS) {
	faults := map[string]*vfs.FaultFS{}
	var mu sync.Mutex
	c := startCluster(t, n, append([]func(*Config){func(cfg *Config) {
		f := vfs.NewFaultFS(nil)
		mu.Lock()
		faults[cfg.NodeID] = f
		mu.Unlock()
		cfg.Log.FS = f
	}}, mutate...)...)
	return c, faults
}

func (c *cluster) leader() *Group {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, g := range c.groups {
			if g != nil && g.IsLeader() {
				return g
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatal("no leader")
	return nil
}

func record(t *testing.T, topic string, qid int32, body string) []byte {
	m := &message.MessageExt{Message: message.Message{Topic: topic, Body: []byte(body)}, QueueID: qid,
		BornHost: netip.MustParseAddrPort("127.0.0.1:1"), StoreHost: netip.MustParseAddrPort("127.0.0.1:2"), StoreTimestamp: 1}
	rec, err := message.AppendRecord(nil, m)
	require.NoError(t, err)
	return rec
}

func appendCmd(recs ...[]byte) func(*fsm.EntryBuilder) error {
	return func(eb *fsm.EntryBuilder) error {
		eb.AddRecords(recs...)
		return nil
	}
}

// Proposals commit on a majority, apply on every member at the same
// physical offsets, and a follower cannot propose.
func TestGroup_ProposeReplicatesIdentically(t *testing.T) {
	c := startCluster(t, 3)
	l := c.leader()
	ctx := context.Background()
	var phys []int64
	for i := 0; i < 20; i++ {
		p, err := l.Propose(ctx, 256, appendCmd(record(t, "T", 0, fmt.Sprintf("m%d", i))))
		require.NoError(t, err)
		ar := p.Result.(*fsm.AppendResult)
		require.Equal(t, int64(i), ar.QueueOffset)
		phys = append(phys, ar.PhysOffsets[0])
	}
	last := l.Status().AppliedIndex
	for _, g := range c.groups {
		require.Eventually(t, func() bool { return g.AppliedIndex() >= last }, 5*time.Second, 5*time.Millisecond)
		units, err := g.QueueRange("T", 0, 0, 100, nil)
		require.NoError(t, err)
		require.Len(t, units, 20)
		for i, u := range units {
			require.Equal(t, phys[i], u.PhysOffset, "same physical offset on every member")
			got, err := g.ReadMessage(nil, u.PhysOffset, u.Size)
			require.NoError(t, err)
			require.Equal(t, record(t, "T", 0, fmt.Sprintf("m%d", i)), got)
		}
	}
	for _, g := range c.groups {
		if g != l {
			_, err := g.Propose(ctx, 256, appendCmd(record(t, "T", 0, "x")))
			require.ErrorIs(t, err, raft.ErrNotLeader)
			require.False(t, g.IsLeader())
			id, _ := g.Leader()
			require.NotEmpty(t, id)
		}
	}
}

// A proposal of several commands is one entry: its results come back
// together, and a command the FSM rejects fails the proposal without
// stopping the others.
func TestGroup_MultiCommandProposalsAndRejections(t *testing.T) {
	c := startCluster(t, 1)
	l := c.leader()
	ctx := context.Background()
	p, err := l.Propose(ctx, 512, func(eb *fsm.EntryBuilder) error {
		eb.AddRecords(record(t, "A", 0, "a"))
		eb.AddRecords(record(t, "B", 1, "b"))
		return eb.AddJSON(fsm.CmdOffsets, []fsm.OffsetCommit{{Group: "G", Topic: "A", QueueID: 0, Offset: 1}})
	})
	require.NoError(t, err)
	res := p.Result.([]any)
	require.Len(t, res, 3)
	require.Equal(t, "B", res[1].(*fsm.AppendResult).Topic)
	o, ok := l.ConsumerOffset("G", "A", 0)
	require.True(t, ok)
	require.Equal(t, int64(1), o)

	_, err = l.Propose(ctx, 64, func(eb *fsm.EntryBuilder) error {
		eb.Add(fsm.CmdDeleteTopic, []byte("../x"))
		return nil
	})
	require.ErrorIs(t, err, fsm.ErrRejected)
	// A proposal whose builder fails adds nothing to the shared entry.
	_, err = l.Propose(ctx, 64, func(eb *fsm.EntryBuilder) error {
		eb.AddRecords(record(t, "A", 0, "half"))
		return errors.New("changed my mind")
	})
	require.ErrorContains(t, err, "changed my mind")
	mn, mx := l.QueueBounds("A", 0)
	require.Equal(t, [2]int64{0, 1}, [2]int64{mn, mx})
}

// When the leader goes, another member takes over with every committed
// command; the old leader's state survives a restart on the same dir.
func TestGroup_FailoverAndRestart(t *testing.T) {
	c := startCluster(t, 3)
	l := c.leader()
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		_, err := l.Propose(ctx, 256, appendCmd(record(t, "T", 1, fmt.Sprintf("m%d", i))))
		require.NoError(t, err)
	}
	var idx int
	for i, g := range c.groups {
		if g == l {
			idx = i
		}
	}
	require.NoError(t, l.Shutdown())
	c.groups[idx] = nil
	nl := c.leader()
	require.NotSame(t, l, nl)
	_, mx := nl.QueueBounds("T", 1)
	require.Equal(t, int64(10), mx, "nothing committed is lost")
	_, err := nl.Propose(ctx, 256, appendCmd(record(t, "T", 1, "after")))
	require.NoError(t, err)

	// The old leader comes back on its data and catches up.
	_, tr := raft.NewInmemTransport(raft.ServerAddress(c.cfgs[idx].Members[idx].Addr))
	for i, other := range c.trans {
		if i != idx {
			tr.Connect(other.LocalAddr(), other)
			other.Connect(tr.LocalAddr(), tr)
		}
	}
	c.trans[idx] = tr
	cfg := c.cfgs[idx]
	cfg.Transport = tr
	g, err := Open(cfg)
	require.NoError(t, err)
	c.groups[idx] = g
	_, mx = g.QueueBounds("T", 1)
	require.Equal(t, int64(10), mx, "reopened from its own files")
	require.NoError(t, g.Start())
	require.Eventually(t, func() bool { _, m := g.QueueBounds("T", 1); return m == 11 }, 10*time.Second, 10*time.Millisecond)
}

// Followers that report full disks stop the leader from taking messages
// that could not be stored on a majority.
func TestGroup_DiskRefusalCountsMembers(t *testing.T) {
	c := startCluster(t, 3)
	l := c.leader()
	require.NoError(t, l.DiskRefusal())
	var others []string
	for _, m := range l.Members() {
		if id, _ := l.Leader(); m.ID != id {
			others = append(others, m.ID)
		}
	}
	l.SetMemberDiskFull(others[0], true)
	require.NoError(t, l.DiskRefusal(), "a majority still has room")
	l.SetMemberDiskFull(others[1], true)
	err := l.DiskRefusal()
	require.ErrorIs(t, err, raftlog.ErrDiskFull)
	var de *DiskFullError
	require.ErrorAs(t, err, &de)
	require.ElementsMatch(t, others, de.Members)
	l.SetMemberDiskFull(others[0], false)
	require.NoError(t, l.DiskRefusal())
}

// A proposal that cannot commit because the followers' disks are full
// (their appends fail; the leader heard they are full) ends with the disk's
// error soon after, not at the caller's deadline, which for an admin
// request may be none: the client hears why before its own timeout.
func TestGroup_ProposalHeldUpByFullDisksSaysSo(t *testing.T) {
	c, faults := startFaultyCluster(t, 3, func(cfg *Config) {
		// No leader change on a loaded machine: the followers' failed
		// logs are equally long, and they could elect each other.
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, time.Second
	})
	l := c.leader()
	ctx, cancelAll := context.WithTimeout(context.Background(), 30*time.Second) // a regression fails, not hangs
	defer cancelAll()
	_, err := l.Propose(ctx, 512, appendCmd(record(t, "T", 0, "before")))
	require.NoError(t, err)
	var followers []*Group
	for _, g := range c.groups {
		if g != l {
			followers = append(followers, g)
			faults[g.cfg.NodeID].Inject(func(op vfs.Op) error {
				if op.Kind == vfs.OpWrite && strings.Contains(op.Path, "commitlog") {
					return syscall.ENOSPC
				}
				return nil
			})
		}
	}
	l.prop.stallAfter = 300 * time.Millisecond

	// Held up, but nobody said why: it waits for the caller's deadline.
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	_, err = l.Propose(pctx, 512, appendCmd(record(t, "T", 0, "stuck")))
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, raftlog.ErrDiskFull)

	for _, g := range followers {
		l.SetMemberDiskFull(g.cfg.NodeID, true)
	}
	start := time.Now()
	_, err = l.Propose(ctx, 512, appendCmd(record(t, "T", 0, "refused")))
	require.ErrorIs(t, err, raftlog.ErrDiskFull, "not the test's deadline")
	require.ErrorIs(t, err, ErrOutcomeUnknown, "it may commit once space returns")
	var de *DiskFullError
	require.ErrorAs(t, err, &de)
	require.Len(t, de.Members, 2)
	require.Less(t, time.Since(start), 5*time.Second)
	require.True(t, l.RaftLeader(), "heartbeats kept the leader")
	// The followers' logs failed (ENOSPC inside a segment is sticky).
	for _, g := range followers {
		g.Shutdown()
	}
}

// Leadership goes back to the preferred member (DLedger's
// preferredLeaderId) once it is up to date.
func TestGroup_PreferredLeader(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.PreferredLeader = "n2" })
	if l := c.leader(); l == c.groups[2] {
		// Start from another leader, so the hand-back is what is tested.
		require.NoError(t, l.TransferLeadership("n0"))
		require.Eventually(t, func() bool { return c.leader() != c.groups[2] }, 10*time.Second, 10*time.Millisecond)
	}
	require.Eventually(t, func() bool {
		l := c.leader()
		id, _ := l.Leader()
		return id == "n2" && l == c.groups[2]
	}, 20*time.Second, 50*time.Millisecond)
}

// A follower behind the leader's first retained entry gets a snapshot
// taken at a barrier index (raft counts barriers and no-ops, the FSM never
// sees them); afterwards every new message has the same physical offset
// and bytes on it as on the leader.
func TestGroup_SnapshotInstallKeepsPhysicalOffsets(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.Log.SegmentSize = 16 << 10
		cfg.Log.IndexFileEntries = 64
	})
	l := c.leader()
	lagging := -1
	for i, g := range c.groups {
		if g != l {
			lagging = i
			break
		}
	}
	require.NoError(t, c.groups[lagging].Shutdown())
	c.byAddr.Delete(c.cfgs[lagging].Members[lagging].Addr)
	c.groups[lagging] = nil
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		_, err := l.Propose(ctx, 512, appendCmd(record(t, "T", 0, fmt.Sprintf("message-%03d-%s", i, strings.Repeat("x", 200)))))
		require.NoError(t, err)
	}
	// Everything consumed, so retention may delete it before it expires.
	_, err := l.Propose(ctx, 64, func(eb *fsm.EntryBuilder) error {
		return eb.AddJSON(fsm.CmdOffsets, []fsm.OffsetCommit{{Group: "G", Topic: "T", QueueID: 0, Offset: 200}})
	})
	require.NoError(t, err)
	// A new leader: its no-op and barrier are the last entries.
	var target string
	for i, m := range l.Members() {
		if i != lagging && c.groups[i] != l {
			target = m.ID
		}
	}
	require.NoError(t, l.TransferLeadership(target))
	nl := c.leader()
	require.NotSame(t, l, nl)
	res, err := nl.DeleteOlder(0)
	require.NoError(t, err)
	require.Positive(t, res.DeletedSegments)
	first, _ := nl.log.FirstIndex()
	require.Greater(t, first, uint64(60), "the head of the log is gone")
	// The old leader retains more, but not all: whoever leads, the lagging
	// member can only be sent a snapshot, and l is the best donor.
	require.NoError(t, l.log.DeleteRange(1, 50))
	require.NoError(t, l.fsm.TrimBelow(l.log.Stats().MinOffset))

	// The lagging member comes back: it can only be sent a snapshot.
	g := c.restart(lagging)
	for i := 0; i < 20; i++ {
		_, err := nl.Propose(ctx, 512, appendCmd(record(t, "T", 0, fmt.Sprintf("after-%02d", i))))
		require.NoError(t, err)
	}
	want := nl.Status().AppliedIndex
	require.Eventually(t, func() bool { return g.AppliedIndex() >= want }, 20*time.Second, 10*time.Millisecond)
	units, err := nl.QueueRange("T", 0, 200, 100, nil)
	require.NoError(t, err)
	require.Len(t, units, 20)
	got, err := g.QueueRange("T", 0, 200, 100, nil)
	require.NoError(t, err)
	require.Equal(t, units, got, "same queue offsets and physical offsets")
	for _, u := range units {
		a, err := nl.ReadMessage(nil, u.PhysOffset, u.Size)
		require.NoError(t, err)
		b, err := g.ReadMessage(nil, u.PhysOffset, u.Size)
		require.NoError(t, err)
		require.Equal(t, a, b)
	}

	// It catches up: the old leader still retains the whole log, so the
	// rejoined member ends with every message, at the same offsets.
	require.Eventually(t, func() bool { st := g.Status(); return !st.PartialHistory && !st.History.Done.IsZero() }, 20*time.Second, 10*time.Millisecond)
	st := g.Status()
	require.Positive(t, st.InstalledSnapshot)
	require.Equal(t, uint64(51), st.FirstIndex, "history from the first entry a member retains: %+v", st.History)
	require.Positive(t, st.History.Messages, "%+v", st)
	lmin, _ := l.QueueBounds("T", 0)
	gmin, _ := g.QueueBounds("T", 0)
	require.Equal(t, lmin, gmin)
	ref, err := l.QueueRange("T", 0, lmin, 1000, nil)
	require.NoError(t, err)
	require.Len(t, ref, 220-int(lmin))
	got, err = g.QueueRange("T", 0, gmin, 1000, nil)
	require.NoError(t, err)
	require.Equal(t, ref, got)
	for i := uint64(51); i <= st.LastIndex; i++ {
		pa, err := l.log.Position(i)
		require.NoError(t, err)
		pb, err := g.log.Position(i)
		require.NoError(t, err)
		require.Equal(t, pa, pb, "entry %d", i)
	}
}

// restart reopens member i on its data with a fresh in-memory transport.
func (c *cluster) restart(i int) *Group {
	c.t.Helper()
	_, tr := raft.NewInmemTransport(raft.ServerAddress(c.cfgs[i].Members[i].Addr))
	for j, other := range c.trans {
		if j != i {
			tr.Connect(other.LocalAddr(), other)
			other.Connect(tr.LocalAddr(), tr)
		}
	}
	c.trans[i] = tr
	cfg := c.cfgs[i]
	cfg.Transport = tr
	g, err := Open(cfg)
	require.NoError(c.t, err)
	c.byAddr.Store(cfg.Members[i].Addr, g)
	require.NoError(c.t, g.Start())
	c.groups[i] = g
	return g
}

// TestGroup_LeaderFsyncFailure: the leader's CommitLog fails an fdatasync.
// Nothing it did not make durable is acknowledged (the proposals waiting
// on it fail), its log refuses writes from then on, raft makes it step
// down, the others elect a leader and go on, and the failed member,
// restarted, recovers and catches up.
func TestGroup_LeaderFsyncFailure(t *testing.T) {
	c, faults := startFaultyCluster(t, 3)
	l := c.leader()
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		_, err := l.Propose(ctx, 512, appendCmd(record(t, "T", 0, fmt.Sprintf("before-%02d", i))))
		require.NoError(t, err)
	}
	failed := l.cfg.NodeID
	faults[failed].Inject(func(op vfs.Op) error {
		if op.Kind == vfs.OpDatasync && strings.Contains(op.Path, "commitlog") {
			return syscall.EIO
		}
		return nil
	})
	acked := 20
	var refused int
	for i := 0; i < 20; i++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := l.Propose(pctx, 512, appendCmd(record(t, "T", 0, fmt.Sprintf("during-%02d", i))))
		cancel()
		if err != nil {
			refused++
			continue
		}
		acked++
	}
	require.Positive(t, refused, "proposals after the failed fdatasync are not acknowledged")
	require.Eventually(t, func() bool { return !l.RaftLeader() }, 10*time.Second, 10*time.Millisecond, "the failed leader steps down")
	var nl *Group
	require.Eventually(t, func() bool {
		for _, g := range c.groups {
			if g != l && g.IsLeader() {
				nl = g
				return true
			}
		}
		return false
	}, 20*time.Second, 10*time.Millisecond)
	for i := 0; i < 20; i++ {
		_, err := nl.Propose(ctx, 512, appendCmd(record(t, "T", 0, fmt.Sprintf("after-%02d", i))))
		require.NoError(t, err)
	}
	// Restart the failed member on its data, with a healthy disk.
	idx := -1
	for i, g := range c.groups {
		if g == l {
			idx = i
		}
	}
	// Its final checkpoint fails: the log refuses to claim what it could
	// not make durable.
	require.Error(t, l.Shutdown())
	c.cfgs[idx].Log.FS = nil
	g := c.restart(idx)
	want := nl.Status().AppliedIndex
	require.Eventually(t, func() bool { return g.AppliedIndex() >= want }, 20*time.Second, 10*time.Millisecond)
	ref, err := nl.QueueRange("T", 0, 0, 1000, nil)
	require.NoError(t, err)
	got, err := g.QueueRange("T", 0, 0, 1000, nil)
	require.NoError(t, err)
	require.Equal(t, ref, got)
	require.GreaterOrEqual(t, len(ref), acked+20, "every acknowledged message is in the queue")
}

func TestGroup_ProposeAsyncResolvesInOrderOnce(t *testing.T) {
	c := startCluster(t, 3)
	l := c.leader()
	const n = 300
	type outcome struct {
		i     int
		index uint64
		off   int64
		err   error
	}
	got := make(chan outcome, 2*n)
	for i := range n {
		rec := record(t, "T", 0, fmt.Sprintf("m%03d", i))
		add := appendCmd(rec)
		if i%50 == 7 {
			add = func(*fsm.EntryBuilder) error { return errors.New("refused while packing") }
		}
		require.NoError(t, l.ProposeAsync(256, add, func(p Proposal, err error) {
			o := outcome{i: i, index: p.Index, err: err}
			if ar, ok := p.Result.(*fsm.AppendResult); ok {
				o.off = ar.QueueOffset
			}
			got <- o
		}))
	}
	last := outcome{i: -1}
	var lastIndex uint64
	seen := 0
	for seen < n {
		select {
		case o := <-got:
			seen++
			if o.i%50 == 7 {
				require.EqualError(t, o.err, "refused while packing")
				continue
			}
			require.NoError(t, o.err, "proposal %d", o.i)
			// Results of proposals that made it into entries come in proposal
			// order (a refusal while packing comes at once): queue offsets and raft
			// indexes never go back.
			require.Greater(t, o.i, last.i)
			require.GreaterOrEqual(t, o.index, lastIndex)
			if last.i >= 0 {
				require.Equal(t, last.off+1, o.off, "proposal %d after %d", o.i, last.i)
			}
			last, lastIndex = o, o.index
		case <-time.After(20 * time.Second):
			t.Fatalf("%d of %d results", seen, n)
		}
	}
	select {
	case o := <-got:
		t.Fatalf("a second result for proposal %d", o.i)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestGroup_StopRaftFailsProposalsInFlight(t *testing.T) {
	// A lease long enough that the leader does not step down before
	// StopRaft: its proposals wait for a commit that cannot come.
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, time.Second
	})
	l := c.leader()
	// Without a majority, nothing commits.
	for _, g := range c.groups {
		if g != l {
			require.NoError(t, g.Shutdown())
		}
	}
	errs := make(chan error, 10)
	for range 10 {
		require.NoError(t, l.ProposeAsync(256, appendCmd(record(t, "T", 0, "x")), func(_ Proposal, err error) { errs <- err }))
	}
	select {
	case err := <-errs:
		t.Fatalf("resolved without a majority: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	l.StopRaft()
	for range 10 {
		select {
		case err := <-errs:
			// Raft fails what its leader loop held as leadership lost.
			require.True(t, errors.Is(err, raft.ErrRaftShutdown) || errors.Is(err, raft.ErrLeadershipLost), "%v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("StopRaft did not fail the proposals in flight")
		}
	}
	require.ErrorIs(t, l.ProposeAsync(256, appendCmd(record(t, "T", 0, "x")), func(Proposal, error) {}), ErrShutdown)
}

// stuckFuture is a raft future raft never answers (stranded by its
// shutdown) until the test releases it.
type stuckFuture struct{ release chan struct{} }

func (f stuckFuture) Error() error { <-f.release; return errors.New("answered late") }
func (stuckFuture) Index() uint64  { return 0 }
func (stuckFuture) Response() any  { return nil }

func TestProposer_UnansweredFutureFailsOnceRaftStopped(t *testing.T) {
	p := newProposer(nil, 1<<20, 4, hclog.NewNullLogger())
	f := stuckFuture{release: make(chan struct{})}
	defer close(f.release) // ends the waiting goroutine for goleak
	got := make(chan error, 1)
	pr := &proposal{done: func(_ Proposal, err error) { got <- err }}
	resolved := make(chan struct{})
	go func() {
		defer close(resolved)
		p.resolveEntry(entry{fut: f, kept: []*proposal{pr}})
	}()
	select {
	case err := <-got:
		t.Fatalf("resolved while raft runs: %v", err)
	case <-time.After(150 * time.Millisecond):
	}
	p.raftStopped()
	select {
	case err := <-got:
		require.ErrorIs(t, err, ErrOutcomeUnknown)
	case <-time.After(5 * time.Second):
		t.Fatal("the resolver still waits for a future raft will never answer")
	}
	<-resolved
}
