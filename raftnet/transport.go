package raftnet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Inner is the transport for every RPC but AppendEntries (and for
// AppendEntries to peers that do not speak this protocol):
// *raft.NetworkTransport.
type Inner interface {
	raft.Transport
	raft.WithClose
	raft.WithPreVote
}

// Config configures a Transport.
type Config struct {
	// Inner carries votes, snapshots and TimeoutNow (required).
	Inner Inner
	// Listener yields the connections that chose this protocol (required).
	Listener net.Listener
	// Dial connects to a peer's port and selects this protocol (required).
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// AddressProvider resolves a server ID to the address to dial, as
	// NetworkTransport's does (optional: raft's address is used).
	AddressProvider raft.ServerAddressProvider
	// Timeout bounds one RPC's I/O, dial and handshake included.
	Timeout time.Duration
	// MaxPool is the idle connections kept per peer for single RPCs.
	MaxPool int
	// MaxInFlight bounds a pipeline's requests awaiting their response.
	MaxInFlight int
	Logger      hclog.Logger
}

// DefaultConfig returns NetworkTransport's equivalents: a 2 s timeout, 3
// pooled connections per peer, 128 requests in flight per pipeline.
func DefaultConfig() Config {
	return Config{Timeout: 2 * time.Second, MaxPool: 3, MaxInFlight: 128}
}

// Validate reports a missing part or a bad bound.
func (c Config) Validate() error {
	switch {
	case c.Inner == nil || c.Listener == nil || c.Dial == nil:
		return errors.New("raftnet: Inner, Listener and Dial are required")
	case c.Timeout <= 0 || c.MaxPool < 0 || c.MaxInFlight < 2:
		return fmt.Errorf("raftnet: Timeout %v must be positive, MaxPool %d not negative, MaxInFlight %d at least 2", c.Timeout, c.MaxPool, c.MaxInFlight)
	}
	return nil
}

// legacyRetry is how long a peer that refused the protocol gets its
// AppendEntries through the inner transport before the next try.
const legacyRetry = 30 * time.Second

// errLegacy: the peer closed the connection instead of answering the
// hello (a release without this protocol).
var errLegacy = errors.New("raftnet: peer does not speak the binary AppendEntries protocol")

// ErrShutdown is returned once the transport is closed.
var ErrShutdown = errors.New("raftnet: transport shut down")

// Transport is a raft.Transport; see the package doc.
type Transport struct {
	cfg       Config
	inner     Inner
	logger    hclog.Logger
	consumeCh chan raft.RPC
	heartbeat atomic.Pointer[func(raft.RPC)]
	// storeFailure: see SetStoreFailure.
	storeFailure atomic.Pointer[func([]*raft.Log) error]
	shutdown     chan struct{}
	once         sync.Once
	wg           sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	pool     map[raft.ServerAddress][]*clientConn
	legacy   map[raft.ServerAddress]time.Time // until when
	accepted map[net.Conn]struct{}
	pipes    map[*pipeline]struct{}
}

var (
	_ raft.Transport   = (*Transport)(nil)
	_ raft.WithClose   = (*Transport)(nil)
	_ raft.WithPreVote = (*Transport)(nil)
)

// New starts serving cfg.Listener. Close stops it and the inner transport.
func New(cfg Config) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	t := &Transport{
		cfg: cfg, inner: cfg.Inner, logger: cfg.Logger,
		consumeCh: make(chan raft.RPC),
		shutdown:  make(chan struct{}),
		pool:      map[raft.ServerAddress][]*clientConn{},
		legacy:    map[raft.ServerAddress]time.Time{},
		accepted:  map[net.Conn]struct{}{},
		pipes:     map[*pipeline]struct{}{},
	}
	t.wg.Add(2)
	go func() {
		defer t.wg.Done()
		t.acceptLoop()
	}()
	go func() {
		defer t.wg.Done()
		t.forwardInner()
	}()
	return t, nil
}

// forwardInner hands the inner transport's RPCs to raft.
func (t *Transport) forwardInner() {
	in := t.inner.Consumer()
	for {
		select {
		case rpc := <-in:
			select {
			case t.consumeCh <- rpc:
			case <-t.shutdown:
				rpc.Respond(nil, ErrShutdown)
				return
			}
		case <-t.shutdown:
			return
		}
	}
}

// Consumer implements raft.Transport.
func (t *Transport) Consumer() <-chan raft.RPC { return t.consumeCh }

// LocalAddr implements raft.Transport.
func (t *Transport) LocalAddr() raft.ServerAddress { return t.inner.LocalAddr() }

// EncodePeer implements raft.Transport.
func (t *Transport) EncodePeer(id raft.ServerID, addr raft.ServerAddress) []byte {
	return t.inner.EncodePeer(id, addr)
}

// DecodePeer implements raft.Transport.
func (t *Transport) DecodePeer(b []byte) raft.ServerAddress { return t.inner.DecodePeer(b) }

// SetHeartbeatHandler implements raft.Transport, for both protocols (a
// legacy peer's heartbeats come through the inner transport).
func (t *Transport) SetHeartbeatHandler(cb func(rpc raft.RPC)) {
	t.inner.SetHeartbeatHandler(cb)
	if cb == nil {
		t.heartbeat.Store(nil)
		return
	}
	t.heartbeat.Store(&cb)
}

// SetStoreFailure sets how the server learns that a refused AppendEntries
// was a failure of this member's log store (a full disk, a failed write),
// not a log mismatch: fn returns that error when the latest append was
// given one of entries (raftlog.Log.StoreFailure), else nil. Raft answers
// both with Success=false, and a leader walks its next index back one
// entry per retry on that; with fn the server answers the store's error
// instead, so the leader keeps its next index and retries the same entries
// after its backoff. nil turns it off. Only this protocol's server does
// it; a legacy leader still walks back.
func (t *Transport) SetStoreFailure(fn func(entries []*raft.Log) error) {
	if fn == nil {
		t.storeFailure.Store(nil)
		return
	}
	t.storeFailure.Store(&fn)
}

// storeError is the error to answer for a request raft refused, when its
// entries failed to reach the log store.
func (t *Transport) storeError(req *raft.AppendEntriesRequest, ar *raft.AppendEntriesResponse) error {
	fn := t.storeFailure.Load()
	if fn == nil || ar == nil || ar.Success || ar.Term != req.Term || len(req.Entries) == 0 {
		return nil
	}
	err := (*fn)(req.Entries)
	if err == nil {
		return nil
	}
	return fmt.Errorf("raftnet: member could not store entries %d-%d (not a log mismatch; retry them): %w",
		req.Entries[0].Index, req.Entries[len(req.Entries)-1].Index, err)
}

// RequestVote implements raft.Transport (inner).
func (t *Transport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	return t.inner.RequestVote(id, target, args, resp)
}

// RequestPreVote implements raft.WithPreVote (inner).
func (t *Transport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	return t.inner.RequestPreVote(id, target, args, resp)
}

// InstallSnapshot implements raft.Transport (inner).
func (t *Transport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	return t.inner.InstallSnapshot(id, target, args, resp, data)
}

// TimeoutNow implements raft.Transport (inner).
func (t *Transport) TimeoutNow(id raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	return t.inner.TimeoutNow(id, target, args, resp)
}

// Close stops serving, closes every connection and the inner transport.
// raft closes its transport on shutdown and the owner may too: idempotent.
func (t *Transport) Close() error {
	t.once.Do(func() {
		t.mu.Lock()
		t.closed = true
		close(t.shutdown)
		var conns []io.Closer
		for _, cs := range t.pool {
			for _, c := range cs {
				conns = append(conns, c.c)
			}
		}
		t.pool = map[raft.ServerAddress][]*clientConn{}
		for c := range t.accepted {
			conns = append(conns, c)
		}
		var pipes []*pipeline
		for p := range t.pipes {
			pipes = append(pipes, p)
		}
		t.mu.Unlock()
		t.cfg.Listener.Close()
		for _, c := range conns {
			c.Close()
		}
		for _, p := range pipes {
			p.Close()
		}
		t.wg.Wait()
	})
	return t.inner.Close()
}

func (t *Transport) resolve(id raft.ServerID, target raft.ServerAddress) raft.ServerAddress {
	if t.cfg.AddressProvider != nil {
		if a, err := t.cfg.AddressProvider.ServerAddr(id); err == nil && a != "" {
			return a
		}
	}
	return target
}

func (t *Transport) isLegacy(addr raft.ServerAddress) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	until, ok := t.legacy[addr]
	if ok && time.Now().After(until) {
		delete(t.legacy, addr)
		return false
	}
	return ok
}

func (t *Transport) markLegacy(addr raft.ServerAddress) {
	t.mu.Lock()
	_, was := t.legacy[addr]
	t.legacy[addr] = time.Now().Add(legacyRetry)
	t.mu.Unlock()
	if !was {
		t.logger.Warn("peer refused the binary AppendEntries protocol; replicating to it with msgpack", "peer", addr, "retry_in", legacyRetry)
	}
}

// clientConn is one connection to a peer, after the hello.
type clientConn struct {
	addr raft.ServerAddress
	c    net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
}

// dial connects and exchanges the hello; errLegacy when the peer hangs up.
func (t *Transport) dial(addr raft.ServerAddress) (*clientConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), t.cfg.Timeout)
	defer cancel()
	c, err := t.cfg.Dial(ctx, string(addr))
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(t.cfg.Timeout))
	if _, err := c.Write(hello[:]); err != nil {
		c.Close()
		return nil, legacyOr(err)
	}
	var got [len(hello)]byte
	if _, err := io.ReadFull(c, got[:]); err != nil {
		c.Close()
		return nil, legacyOr(err)
	}
	if got != hello {
		c.Close()
		return nil, fmt.Errorf("%w: peer %s answered the hello with %q", ErrFrame, addr, got[:])
	}
	c.SetDeadline(time.Time{})
	return &clientConn{addr: addr, c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}, nil
}

// legacyOr maps a hang-up during the hello to errLegacy.
func legacyOr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("%w (%v)", errLegacy, err)
	}
	return err
}

func (t *Transport) getConn(addr raft.ServerAddress) (*clientConn, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, ErrShutdown
	}
	if cs := t.pool[addr]; len(cs) > 0 {
		c := cs[len(cs)-1]
		t.pool[addr] = cs[:len(cs)-1]
		t.mu.Unlock()
		return c, nil
	}
	t.mu.Unlock()
	return t.dial(addr)
}

func (t *Transport) putConn(c *clientConn) {
	t.mu.Lock()
	if !t.closed && len(t.pool[c.addr]) < t.cfg.MaxPool {
		t.pool[c.addr] = append(t.pool[c.addr], c)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	c.c.Close()
}

// binaryConn returns a connection to the peer, or legacy when the peer is
// spoken to through the inner transport (it refused the hello lately).
func (t *Transport) binaryConn(id raft.ServerID, target raft.ServerAddress) (c *clientConn, legacy bool, err error) {
	addr := t.resolve(id, target)
	if t.isLegacy(addr) {
		return nil, true, nil
	}
	c, err = t.getConn(addr)
	if errors.Is(err, errLegacy) {
		t.markLegacy(addr)
		return nil, true, nil
	}
	return c, false, err
}

// send writes one request and flushes it.
func (c *clientConn) send(args *raft.AppendEntriesRequest) error {
	if err := writeAppendRequest(c.w, args); err != nil {
		return err
	}
	return c.w.Flush()
}

// AppendEntries implements raft.Transport: heartbeats and unpipelined
// replication, one request and its response on a pooled connection.
func (t *Transport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	c, legacy, err := t.binaryConn(id, target)
	if legacy {
		return t.inner.AppendEntries(id, target, args, resp)
	}
	if err != nil {
		return err
	}
	c.c.SetDeadline(time.Now().Add(t.cfg.Timeout))
	err = c.send(args)
	var frame []byte
	if err == nil {
		frame, err = readFrame(c.r)
	}
	if err == nil {
		err = decodeAppendResponse(frame, resp)
	}
	var remote *RemoteError
	if err != nil && !errors.As(err, &remote) {
		c.c.Close()
		return err
	}
	c.c.SetDeadline(time.Time{})
	t.putConn(c)
	return err
}

// AppendEntriesPipeline implements raft.Transport: a connection of its
// own, requests written as raft sends them, responses read in order.
func (t *Transport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	c, legacy, err := t.binaryConn(id, target)
	if legacy {
		return t.inner.AppendEntriesPipeline(id, target)
	}
	if err != nil {
		return nil, err
	}
	p := &pipeline{
		t: t, c: c,
		inprogress: make(chan *future, t.cfg.MaxInFlight-2),
		done:       make(chan raft.AppendFuture, t.cfg.MaxInFlight-2),
		shutdown:   make(chan struct{}),
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		c.c.Close()
		return nil, ErrShutdown
	}
	t.pipes[p] = struct{}{}
	t.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.decodeResponses()
	}()
	return p, nil
}

// future is one pipelined request.
type future struct {
	start time.Time
	args  *raft.AppendEntriesRequest
	resp  *raft.AppendEntriesResponse
	err   error
	done  chan struct{}
}

func (f *future) respond(err error) {
	f.err = err
	close(f.done)
}

func (f *future) Error() error                          { <-f.done; return f.err }
func (f *future) Start() time.Time                      { return f.start }
func (f *future) Request() *raft.AppendEntriesRequest   { return f.args }
func (f *future) Response() *raft.AppendEntriesResponse { return f.resp }

type pipeline struct {
	t          *Transport
	c          *clientConn
	inprogress chan *future
	done       chan raft.AppendFuture
	shutdown   chan struct{}
	once       sync.Once
	wg         sync.WaitGroup
}

// AppendEntries implements raft.AppendPipeline.
func (p *pipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	f := &future{start: time.Now(), args: args, resp: resp, done: make(chan struct{})}
	select {
	case <-p.shutdown:
		return nil, raft.ErrPipelineShutdown
	default:
	}
	p.c.c.SetWriteDeadline(time.Now().Add(p.t.cfg.Timeout))
	if err := p.c.send(args); err != nil {
		return nil, err
	}
	select { // back-pressure: at most MaxInFlight awaiting a response
	case p.inprogress <- f:
		return f, nil
	case <-p.shutdown:
		return nil, raft.ErrPipelineShutdown
	}
}

// Consumer implements raft.AppendPipeline.
func (p *pipeline) Consumer() <-chan raft.AppendFuture { return p.done }

// Close implements raft.AppendPipeline.
func (p *pipeline) Close() error {
	p.once.Do(func() {
		close(p.shutdown)
		p.c.c.Close()
		p.wg.Wait()
		p.t.mu.Lock()
		delete(p.t.pipes, p)
		p.t.mu.Unlock()
	})
	return nil
}

// decodeResponses reads the responses in request order. After the first
// error (a timeout, a broken connection, a bad frame) the stream cannot be
// trusted to match responses to requests: the connection is closed and
// every later request fails with that error.
func (p *pipeline) decodeResponses() {
	var broken error
	for {
		select {
		case f := <-p.inprogress:
			err := broken
			if err == nil {
				p.c.c.SetReadDeadline(time.Now().Add(p.t.cfg.Timeout))
				var frame []byte
				if frame, err = readFrame(p.c.r); err == nil {
					err = decodeAppendResponse(frame, f.resp)
				}
				if err != nil {
					broken = err
					p.c.c.Close()
				}
			}
			f.respond(err)
			select {
			case p.done <- f:
			case <-p.shutdown:
				return
			}
		case <-p.shutdown:
			return
		}
	}
}

// acceptLoop serves connections until the listener closes.
func (t *Transport) acceptLoop() {
	for {
		c, err := t.cfg.Listener.Accept()
		if err != nil {
			select {
			case <-t.shutdown:
			default:
				t.logger.Error("binary AppendEntries listener stopped", "error", err)
			}
			return
		}
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			c.Close()
			return
		}
		t.accepted[c] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go func() {
			defer t.wg.Done()
			defer func() {
				t.mu.Lock()
				delete(t.accepted, c)
				t.mu.Unlock()
				c.Close()
			}()
			if err := t.serve(c); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, ErrShutdown) {
				t.logger.Warn("binary AppendEntries connection closed", "remote", c.RemoteAddr(), "error", err)
			}
		}()
	}
}

// serve answers one connection's requests in order.
func (t *Transport) serve(c net.Conn) error {
	c.SetDeadline(time.Now().Add(t.cfg.Timeout))
	var got [len(hello)]byte
	if _, err := io.ReadFull(c, got[:]); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	if got != hello {
		return fmt.Errorf("%w: hello %q", ErrFrame, got[:])
	}
	if _, err := c.Write(hello[:]); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	c.SetDeadline(time.Time{})
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(c, 16<<10)
	respCh := make(chan raft.RPCResponse, 1) // raft answers each RPC once
	for {
		frame, err := readFrame(r)
		if err != nil {
			return err
		}
		req, err := decodeAppendRequest(frame)
		if err != nil {
			return err
		}
		rpc := raft.RPC{Command: req, RespChan: respCh}
		leader := req.Addr
		if len(leader) == 0 {
			leader = req.Leader
		}
		// NetworkTransport's test for the heartbeat fast path.
		hb := req.Term != 0 && leader != nil && req.PrevLogEntry == 0 && req.PrevLogTerm == 0 &&
			len(req.Entries) == 0 && req.LeaderCommitIndex == 0
		if fn := t.heartbeat.Load(); hb && fn != nil {
			(*fn)(rpc)
		} else {
			select {
			case t.consumeCh <- rpc:
			case <-t.shutdown:
				return ErrShutdown
			}
		}
		var resp raft.RPCResponse
		select {
		case resp = <-respCh:
		case <-t.shutdown:
			return ErrShutdown
		}
		ar, _ := resp.Response.(*raft.AppendEntriesResponse)
		if resp.Error == nil {
			resp.Error = t.storeError(req, ar)
		}
		// Flushed at once: raft handles one request at a time, so holding
		// this ack back for the next request's would delay the commit by
		// a follower write (an fsync under SYNC_FLUSH).
		c.SetWriteDeadline(time.Now().Add(t.cfg.Timeout))
		if err := writeAppendResponse(w, ar, resp.Error); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
}
