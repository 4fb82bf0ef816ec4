package raftnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// node is a Transport on loopback: the inner NetworkTransport and the
// binary listener have ports of their own, and dialing the inner address
// reaches the binary one through addrs.
type node struct {
	t     *Transport
	inner *raft.NetworkTransport
	ln    net.Listener
}

type addrBook struct {
	mu sync.Mutex
	m  map[string]string // inner address -> binary listener address
}

func (b *addrBook) dial(ctx context.Context, addr string) (net.Conn, error) {
	b.mu.Lock()
	to, ok := b.m[addr]
	b.mu.Unlock()
	if !ok {
		to = addr
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", to)
}

func newNode(t *testing.T, book *addrBook) *node {
	t.Helper()
	inner, err := raft.NewTCPTransport("127.0.0.1:0", nil, 3, 2*time.Second, io.Discard)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	book.mu.Lock()
	book.m[string(inner.LocalAddr())] = ln.Addr().String()
	book.mu.Unlock()
	cfg := DefaultConfig()
	cfg.Inner, cfg.Listener, cfg.Dial = inner, ln, book.dial
	cfg.Logger = hclog.NewNullLogger()
	tr, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { tr.Close() })
	return &node{t: tr, inner: inner, ln: ln}
}

// serveRPCs answers every AppendEntries like a follower would: success,
// LastLog = the last entry's index; a request with term 99 gets an error.
func serveRPCs(t *testing.T, n *node, seen *atomic.Int64) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case rpc := <-n.t.Consumer():
				req := rpc.Command.(*raft.AppendEntriesRequest)
				seen.Add(1)
				if req.Term == 99 {
					rpc.Respond(nil, errors.New("term 99 refused"))
					continue
				}
				resp := &raft.AppendEntriesResponse{Term: req.Term, Success: true}
				if k := len(req.Entries); k > 0 {
					resp.LastLog = req.Entries[k-1].Index
				}
				rpc.Respond(resp, nil)
			case <-done:
				return
			}
		}
	}()
}

func TestTransport_AppendEntriesPipelineAndHeartbeat(t *testing.T) {
	book := &addrBook{m: map[string]string{}}
	a, b := newNode(t, book), newNode(t, book)
	var seen atomic.Int64
	serveRPCs(t, b, &seen)
	var beats atomic.Int64
	b.t.SetHeartbeatHandler(func(rpc raft.RPC) {
		beats.Add(1)
		rpc.Respond(&raft.AppendEntriesResponse{Term: rpc.Command.(*raft.AppendEntriesRequest).Term, Success: true}, nil)
	})
	target := b.t.LocalAddr()

	// Single RPC.
	var resp raft.AppendEntriesResponse
	req := sampleRequest()
	require.NoError(t, a.t.AppendEntries("b", target, req, &resp))
	require.True(t, resp.Success)
	require.Equal(t, uint64(44), resp.LastLog)

	// Heartbeat fast path: not through Consumer.
	before := seen.Load()
	require.NoError(t, a.t.AppendEntries("b", target, &raft.AppendEntriesRequest{Term: 7, RPCHeader: raft.RPCHeader{Addr: []byte("a")}}, &resp))
	require.Equal(t, int64(1), beats.Load())
	require.Equal(t, before, seen.Load())

	// A remote error comes back as such, and the connection stays usable.
	var remote *RemoteError
	require.ErrorAs(t, a.t.AppendEntries("b", target, &raft.AppendEntriesRequest{Term: 99}, &resp), &remote)
	require.NoError(t, a.t.AppendEntries("b", target, req, &resp))

	// Pipeline: responses in request order.
	p, err := a.t.AppendEntriesPipeline("b", target)
	require.NoError(t, err)
	const n = 300
	got := make(chan uint64, n)
	go func() {
		for i := 0; i < n; i++ {
			f := <-p.Consumer()
			if f.Error() != nil {
				got <- 0
				continue
			}
			got <- f.Response().LastLog
		}
	}()
	for i := 1; i <= n; i++ {
		_, err := p.AppendEntries(&raft.AppendEntriesRequest{Term: 7, PrevLogEntry: uint64(i - 1),
			Entries: []*raft.Log{{Index: uint64(i), Term: 7, Data: []byte(fmt.Sprint(i))}}}, new(raft.AppendEntriesResponse))
		require.NoError(t, err)
	}
	for i := 1; i <= n; i++ {
		select {
		case last := <-got:
			require.Equal(t, uint64(i), last)
		case <-time.After(10 * time.Second):
			t.Fatalf("response %d of %d did not come", i, n)
		}
	}
	require.NoError(t, p.Close())
	_, err = p.AppendEntries(req, new(raft.AppendEntriesResponse))
	require.ErrorIs(t, err, raft.ErrPipelineShutdown)
}

// A peer whose port closes the connection at once (a release without the
// protocol) gets AppendEntries through the inner transport.
func TestTransport_FallsBackToInnerForLegacyPeer(t *testing.T) {
	book := &addrBook{m: map[string]string{}}
	a := newNode(t, book)
	legacy, err := raft.NewTCPTransport("127.0.0.1:0", nil, 3, 2*time.Second, io.Discard)
	require.NoError(t, err)
	t.Cleanup(func() { legacy.Close() })
	// Its "binary" address hangs up like the old mux does on an unknown byte.
	hangup, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { hangup.Close() })
	go func() {
		for {
			c, err := hangup.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	book.mu.Lock()
	book.m[string(legacy.LocalAddr())] = hangup.Addr().String()
	book.mu.Unlock()
	done := make(chan struct{})
	defer close(done)
	var viaInner atomic.Int64
	go func() {
		for {
			select {
			case rpc := <-legacy.Consumer():
				viaInner.Add(1)
				rpc.Respond(&raft.AppendEntriesResponse{Term: 5, Success: true, LastLog: 44}, nil)
			case <-done:
				return
			}
		}
	}()
	var resp raft.AppendEntriesResponse
	require.NoError(t, a.t.AppendEntries("old", legacy.LocalAddr(), sampleRequest(), &resp))
	require.True(t, resp.Success)
	require.Equal(t, int64(1), viaInner.Load())
	p, err := a.t.AppendEntriesPipeline("old", legacy.LocalAddr())
	require.NoError(t, err)
	_, err = p.AppendEntries(sampleRequest(), new(raft.AppendEntriesResponse))
	require.NoError(t, err)
	f := <-p.Consumer()
	require.NoError(t, f.Error())
	require.Equal(t, int64(2), viaInner.Load())
	p.Close()
}

// Bytes that are not the protocol close the connection; the server goes on.
func TestTransport_ServerRefusesGarbage(t *testing.T) {
	book := &addrBook{m: map[string]string{}}
	b := newNode(t, book)
	var seen atomic.Int64
	serveRPCs(t, b, &seen)
	for _, junk := range [][]byte{
		[]byte("GET / HTTP/1.1\r\n\r\n"),
		append(hello[:], 0xFF, 0xFF, 0xFF, 0xFF, 1), // hello, then a 4 GiB claim
		append(hello[:], 0, 0, 0, 3, 9, 9, 9),       // hello, then an unknown kind
	} {
		c, err := net.Dial("tcp", b.ln.Addr().String())
		require.NoError(t, err)
		_, err = c.Write(junk)
		require.NoError(t, err)
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		rest, _ := io.ReadAll(c)
		c.Close()
		require.LessOrEqual(t, len(rest), len(hello), "only the hello comes back for %q", junk)
	}
	a := newNode(t, book)
	var resp raft.AppendEntriesResponse
	require.NoError(t, a.t.AppendEntries("b", b.t.LocalAddr(), sampleRequest(), &resp))
	require.Equal(t, int64(1), seen.Load())
}

type countFSM struct {
	mu   sync.Mutex
	logs [][]byte
}

func (f *countFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, append([]byte(nil), l.Data...))
	return nil
}
func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, errors.New("no snapshots") }
func (f *countFSM) Restore(io.ReadCloser) error         { return errors.New("no snapshots") }
func (f *countFSM) applied() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.logs)
}

// Three hashicorp/raft nodes over the transport: an election (votes go
// through the inner transport), replication (binary), a leader change,
// and every FSM ends with the same entries.
func TestTransport_RaftGroup(t *testing.T) {
	book := &addrBook{m: map[string]string{}}
	type member struct {
		n   *node
		r   *raft.Raft
		fsm *countFSM
	}
	var ms []*member
	var servers []raft.Server
	for i := 0; i < 3; i++ {
		n := newNode(t, book)
		ms = append(ms, &member{n: n, fsm: &countFSM{}})
		servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprint("n", i)), Address: n.t.LocalAddr()})
	}
	for i, m := range ms {
		c := raft.DefaultConfig()
		c.LocalID = servers[i].ID
		c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = 200*time.Millisecond, 200*time.Millisecond, 100*time.Millisecond
		c.CommitTimeout = 10 * time.Millisecond
		c.Logger = hclog.NewNullLogger()
		logs, stable, snaps := raft.NewInmemStore(), raft.NewInmemStore(), raft.NewInmemSnapshotStore()
		require.NoError(t, raft.BootstrapCluster(c, logs, stable, snaps, m.n.t, raft.Configuration{Servers: servers}))
		r, err := raft.NewRaft(c, m.fsm, logs, stable, snaps, m.n.t)
		require.NoError(t, err)
		m.r = r
		t.Cleanup(func() { r.Shutdown().Error() })
	}
	leader := func() *member {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			for _, m := range ms {
				if m.r != nil && m.r.State() == raft.Leader {
					return m
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("no leader within 10 s")
		return nil
	}
	apply := func(l *member, from, to int) {
		var fs []raft.ApplyFuture
		for i := from; i < to; i++ {
			fs = append(fs, l.r.Apply([]byte(fmt.Sprint("m", i)), 5*time.Second))
		}
		for _, f := range fs {
			require.NoError(t, f.Error())
		}
	}
	l := leader()
	apply(l, 0, 500)
	// Hand leadership over (TimeoutNow goes through the inner transport).
	require.NoError(t, l.r.LeadershipTransfer().Error())
	l2 := leader()
	apply(l2, 500, 1000)
	deadline := time.Now().Add(10 * time.Second)
	for _, m := range ms {
		for m.fsm.applied() < 1000 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		require.Equal(t, 1000, m.fsm.applied())
	}
	for _, m := range ms[1:] {
		require.Equal(t, ms[0].fsm.logs, m.fsm.logs)
	}
}

// A pipeline whose peer sends a bad response fails that request and every
// later one without reading on: the stream no longer matches requests.
func TestTransport_PipelineStopsAtFirstBadResponse(t *testing.T) {
	book := &addrBook{m: map[string]string{}}
	a := newNode(t, book)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	const peer = "127.0.0.1:1" // never dialed: the book maps it to ln
	book.mu.Lock()
	book.m[peer] = ln.Addr().String()
	book.mu.Unlock()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var h [len(hello)]byte
		io.ReadFull(c, h[:])
		c.Write(hello[:])
		// A bad frame (unknown status), then a valid success the client
		// must not take for the second request's answer.
		c.Write([]byte{0, 0, 0, 1, 7})
		good := []byte{0, 0, 0, 30, statusOK, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 5, flagSuccess}
		c.Write(good)
		time.Sleep(2 * time.Second)
	}()
	p, err := a.t.AppendEntriesPipeline("x", peer)
	require.NoError(t, err)
	defer p.Close()
	for i := 0; i < 2; i++ {
		_, err := p.AppendEntries(&raft.AppendEntriesRequest{Term: 9}, new(raft.AppendEntriesResponse))
		if err != nil { // the connection may already be closed for the second
			break
		}
	}
	f := <-p.Consumer()
	require.ErrorIs(t, f.Error(), ErrFrame)
	require.False(t, f.Response().Success)
	select {
	case f := <-p.Consumer():
		require.Error(t, f.Error(), "the second request's answer is not the frame after the bad one")
		require.False(t, f.Response().Success)
	case <-time.After(5 * time.Second):
	}
}

// fullStore is a raft log store whose appends fail while full is set, as
// a follower's CommitLog does when its disk cannot hold a new segment.
type fullStore struct {
	*raft.InmemStore
	full atomic.Bool
	mu   sync.Mutex
	fail *raft.Log // first entry of the latest failed append
}

var errStoreFull = errors.New("no room for a new segment")

func (s *fullStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

func (s *fullStore) StoreLogs(logs []*raft.Log) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full.Load() {
		s.fail = logs[0]
		return errStoreFull
	}
	s.fail = nil
	return s.InmemStore.StoreLogs(logs)
}

func (s *fullStore) failure(entries []*raft.Log) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		if s.fail != nil && e == s.fail {
			return errStoreFull
		}
	}
	return nil
}

// lineCounter counts log lines that contain any of its patterns.
type lineCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.counts {
		c.counts[k] += strings.Count(string(p), k)
	}
	return len(p), nil
}

func (c *lineCounter) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[k]
}

// A follower whose log store fails (a full disk) answers with the store's
// error, so the leader retries the same entries after its backoff instead
// of walking its next index back one entry per retry, which raft does on
// a plain Success=false (shown with the hook off). Either way the
// follower catches up once the store has room.
func TestTransport_StoreFailureIsRetriedNotWalkedBack(t *testing.T) {
	const rejected, failed = "appendEntries rejected", "could not store entries"
	for _, hook := range []bool{true, false} {
		t.Run(fmt.Sprint("hook=", hook), func(t *testing.T) {
			book := &addrBook{m: map[string]string{}}
			logs := &lineCounter{counts: map[string]int{rejected: 0, failed: 0}}
			type member struct {
				n     *node
				r     *raft.Raft
				fsm   *countFSM
				store *fullStore
			}
			var ms []*member
			var servers []raft.Server
			for i := 0; i < 3; i++ {
				n := newNode(t, book)
				m := &member{n: n, fsm: &countFSM{}, store: &fullStore{InmemStore: raft.NewInmemStore()}}
				if hook {
					n.t.SetStoreFailure(m.store.failure)
				}
				ms = append(ms, m)
				servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprint("n", i)), Address: n.t.LocalAddr()})
			}
			for i, m := range ms {
				c := raft.DefaultConfig()
				c.LocalID = servers[i].ID
				// Long enough that no leader changes on a loaded machine.
				c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = time.Second, time.Second, time.Second
				c.CommitTimeout = 10 * time.Millisecond
				c.Logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Warn})
				stable, snaps := raft.NewInmemStore(), raft.NewInmemSnapshotStore()
				require.NoError(t, raft.BootstrapCluster(c, m.store, stable, snaps, m.n.t, raft.Configuration{Servers: servers}))
				r, err := raft.NewRaft(c, m.fsm, m.store, stable, snaps, m.n.t)
				require.NoError(t, err)
				m.r = r
				t.Cleanup(func() { r.Shutdown().Error() })
			}
			var l *member
			require.Eventually(t, func() bool {
				for _, m := range ms {
					if m.r.State() == raft.Leader {
						l = m
						return true
					}
				}
				return false
			}, 10*time.Second, 10*time.Millisecond)
			apply := func(n int) {
				for i := 0; i < n; i++ {
					require.NoError(t, l.r.Apply([]byte(fmt.Sprint("m", i)), 5*time.Second).Error())
				}
			}
			apply(50)
			var f *member
			for _, m := range ms {
				if m != l {
					f = m
					break
				}
			}
			f.store.full.Store(true)
			// The other follower makes the majority: sends go on.
			before := logs.get(rejected)
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				apply(10)
				if hook && logs.get(failed) >= 5 || !hook && logs.get(rejected)-before >= 5 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if hook {
				require.GreaterOrEqual(t, logs.get(failed), 5, "the leader is told why")
				// One rejection at most: the first retry after an aborted
				// pipeline starts past the follower's last entry.
				require.LessOrEqual(t, logs.get(rejected)-before, 2, "no walk back")
			} else {
				require.GreaterOrEqual(t, logs.get(rejected)-before, 5, "raft walks back on a plain refusal")
				require.Zero(t, logs.get(failed))
			}
			t.Logf("while full: %d store errors reported, %d rejections", logs.get(failed), logs.get(rejected)-before)
			f.store.full.Store(false)
			want := l.fsm.applied()
			require.Eventually(t, func() bool { return f.fsm.applied() >= want }, 30*time.Second, 10*time.Millisecond)
			l.fsm.mu.Lock()
			ref := append([][]byte(nil), l.fsm.logs[:want]...)
			l.fsm.mu.Unlock()
			f.fsm.mu.Lock()
			got := append([][]byte(nil), f.fsm.logs[:want]...)
			f.fsm.mu.Unlock()
			require.Equal(t, ref, got)
		})
	}
}
