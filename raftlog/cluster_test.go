package raftlog_test

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/raftlog"
	"github.com/stretchr/testify/require"
)

// recorder is a minimal FSM that remembers applied command payloads.
type recorder struct {
	mu   sync.Mutex
	data []string
}

func (r *recorder) Apply(l *raft.Log) interface{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.data = append(r.data, string(l.Data))
	return len(r.data)
}

func (r *recorder) Snapshot() (raft.FSMSnapshot, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return snap(strconv.Itoa(len(r.data))), nil
}

func (r *recorder) Restore(rc io.ReadCloser) error { return rc.Close() }

func (r *recorder) applied() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.data...)
}

type snap string

func (s snap) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write([]byte(s)); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}
func (snap) Release() {}

type node struct {
	id, addr, dir string
	r             *raft.Raft
	log           *raftlog.Log
	stable        *raftlog.StableStore
	trans         *raft.NetworkTransport
	fsm           *recorder
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func (n *node) start(t *testing.T, peers []raft.Server, bootstrap bool) {
	t.Helper()
	cfg := raftlog.DefaultConfig(n.dir)
	cfg.SegmentSize = 64 << 10
	cfg.IndexFileEntries = 256
	var err error
	n.log, err = raftlog.Open(cfg)
	require.NoError(t, err)
	n.stable, err = raftlog.OpenStableStore(n.dir)
	require.NoError(t, err)
	snaps, err := raft.NewFileSnapshotStore(n.dir, 2, io.Discard)
	require.NoError(t, err)
	n.trans, err = raft.NewTCPTransport(n.addr, nil, 3, 2*time.Second, io.Discard)
	require.NoError(t, err)
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.id)
	rc.HeartbeatTimeout = 200 * time.Millisecond
	rc.ElectionTimeout = 200 * time.Millisecond
	rc.LeaderLeaseTimeout = 100 * time.Millisecond
	rc.CommitTimeout = 5 * time.Millisecond
	rc.Logger = hclog.NewNullLogger()
	n.fsm = &recorder{}
	if bootstrap {
		require.NoError(t, raft.BootstrapCluster(rc, n.log, n.stable, snaps, n.trans, raft.Configuration{Servers: peers}))
	}
	n.r, err = raft.NewRaft(rc, n.fsm, n.log, n.stable, snaps, n.trans)
	require.NoError(t, err)
}

func (n *node) stop() {
	if n.r == nil {
		return
	}
	n.r.Shutdown().Error()
	n.trans.Close()
	n.log.Close()
	n.stable.Close()
	n.r = nil
}

func waitLeader(t *testing.T, nodes []*node, not *node) *node {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range nodes {
			if n.r != nil && n != not && n.r.State() == raft.Leader {
				return n
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no leader within 10s")
	return nil
}

func applyN(t *testing.T, leader *node, prefix string, n, workers int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if err := leader.r.Apply([]byte(fmt.Sprintf("%s-%d", prefix, i)), 5*time.Second).Error(); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// TestCluster_ThreeNodesOverTCP runs hashicorp/raft on raftlog with real TCP
// on 127.0.0.1: entries are applied, the leader is lost, another is
// elected, the old one rejoins, and every node ends with the same log, the
// same physical offsets and the same applied commands.
func TestCluster_ThreeNodesOverTCP(t *testing.T) {
	nodes := make([]*node, 3)
	var peers []raft.Server
	for i := range nodes {
		nodes[i] = &node{id: fmt.Sprintf("n%d", i), addr: freeAddr(t), dir: t.TempDir()}
		peers = append(peers, raft.Server{ID: raft.ServerID(nodes[i].id), Address: raft.ServerAddress(nodes[i].addr)})
	}
	for _, n := range nodes {
		n.start(t, peers, true)
	}
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
	}()

	leader := waitLeader(t, nodes, nil)
	applyN(t, leader, "a", 300, 8)

	leader.stop() // the leader is lost
	next := waitLeader(t, nodes, leader)
	require.NotEqual(t, leader, next)
	applyN(t, next, "b", 300, 8)

	leader.start(t, peers, false) // same dir, same address
	final := waitLeader(t, nodes, nil)
	require.NoError(t, final.r.Barrier(5*time.Second).Error())
	want, err := final.log.LastIndex()
	require.NoError(t, err)

	deadline := time.Now().Add(15 * time.Second)
	for {
		caughtUp := true
		for _, n := range nodes {
			last, _ := n.log.LastIndex()
			if last != want || n.r.AppliedIndex() < want || len(n.fsm.applied()) < 600 {
				caughtUp = false
			}
		}
		if caughtUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nodes did not catch up within 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	ref := nodes[0]
	first, _ := ref.log.FirstIndex()
	require.Equal(t, uint64(1), first)
	for i := first; i <= want; i++ {
		var a raft.Log
		require.NoError(t, ref.log.GetLog(i, &a))
		pa, err := ref.log.Position(i)
		require.NoError(t, err)
		for _, n := range nodes[1:] {
			var b raft.Log
			require.NoError(t, n.log.GetLog(i, &b))
			require.Equal(t, a.Term, b.Term, "term of %d on %s", i, n.id)
			require.Equal(t, a.Type, b.Type, "type of %d on %s", i, n.id)
			require.Equal(t, a.Data, b.Data, "data of %d on %s", i, n.id)
			pb, err := n.log.Position(i)
			require.NoError(t, err)
			require.Equal(t, pa, pb, "physical position of %d on %s", i, n.id)
		}
	}
	for _, n := range nodes[1:] {
		require.Equal(t, ref.fsm.applied(), n.fsm.applied(), "applied commands on %s", n.id)
	}
	require.Len(t, ref.fsm.applied(), 600)
}
