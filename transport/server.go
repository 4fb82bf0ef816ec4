package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// ServerConfig configures a Server.
type ServerConfig struct {
	// Addr is the listen address for Start, e.g. ":10911" or "127.0.0.1:0".
	Addr string
	// MaxFrameSize bounds an incoming frame (length word value). A larger
	// frame closes the connection.
	MaxFrameSize int
	// IdleTimeout closes a connection that sends nothing for this long
	// (0 disables). Clients heartbeat every 30 s; Java uses 120 s.
	IdleTimeout time.Duration
	// WriteTimeout bounds one socket write; a peer that stops reading is
	// disconnected after it.
	WriteTimeout time.Duration
	// MaxInflightPerConn bounds concurrently running handlers of one
	// connection; beyond it requests are answered SYSTEM_BUSY at once
	// (blocking the reader would let parked pulls delay heartbeats).
	MaxInflightPerConn int
	// HeaderType is the header encoding of responses and server requests.
	HeaderType SerializeType
	// MaxConns bounds open connections and MaxConnsPerIP those from one
	// remote address (0: unlimited). A connection over a limit is closed
	// at once.
	MaxConns      int
	MaxConnsPerIP int
	// MaxPendingFrameBytes bounds the bytes held, over every connection,
	// for frames that are still arriving (0: unlimited). Memory for such a
	// frame grows with the bytes received, not with its declared length.
	MaxPendingFrameBytes int64
	// FrameTimeout is how long a frame may take to arrive once its length
	// word has (0: only IdleTimeout applies).
	FrameTimeout time.Duration
	// TLS and TLSMode put TLS on the port (RocketMQ's tls.server.mode):
	// TLSPermissive serves TLS and plain connections alike, TLSEnforcing
	// only TLS.
	TLS     *tls.Config
	TLSMode TLSMode
	// Authorize, if set, sees every request before its handler (on the
	// handler's goroutine): it returns nil to let it through, or the
	// response that refuses it (ACL).
	Authorize func(c *Conn, req *Command) *Command
	// Logger receives connection-level events; nil discards them.
	Logger hclog.Logger
}

// DefaultServerConfig returns production defaults.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		Addr:               ":10911",
		MaxFrameSize:       DefaultMaxFrameSize,
		IdleTimeout:        120 * time.Second,
		WriteTimeout:       30 * time.Second,
		MaxInflightPerConn: 4096,
		HeaderType:         SerializeJSON,
		MaxConns:           10000,
		MaxConnsPerIP:      2000,
		// 256 MiB: a few dozen largest frames at once.
		MaxPendingFrameBytes: 256 << 20,
		FrameTimeout:         30 * time.Second,
	}
}

// Validate reports the first unusable setting.
func (c *ServerConfig) Validate() error {
	switch {
	case c.MaxFrameSize < 1024 || c.MaxFrameSize > 1<<30:
		return fmt.Errorf("transport: MaxFrameSize %d out of range [1 KiB, 1 GiB]", c.MaxFrameSize)
	case c.IdleTimeout < 0:
		return fmt.Errorf("transport: IdleTimeout %v is negative", c.IdleTimeout)
	case c.WriteTimeout < 0:
		return fmt.Errorf("transport: WriteTimeout %v is negative", c.WriteTimeout)
	case c.MaxInflightPerConn < 1 || c.MaxInflightPerConn > 1<<20:
		return fmt.Errorf("transport: MaxInflightPerConn %d out of range [1, 1048576]", c.MaxInflightPerConn)
	case c.HeaderType != SerializeJSON && c.HeaderType != SerializeRocketMQ:
		return fmt.Errorf("transport: unknown HeaderType %d", c.HeaderType)
	case c.MaxConns < 0 || c.MaxConnsPerIP < 0:
		return fmt.Errorf("transport: MaxConns %d and MaxConnsPerIP %d must not be negative", c.MaxConns, c.MaxConnsPerIP)
	case c.MaxPendingFrameBytes < 0 || c.MaxPendingFrameBytes > 0 && c.MaxPendingFrameBytes < int64(c.MaxFrameSize):
		return fmt.Errorf("transport: MaxPendingFrameBytes %d must be 0 or hold one largest frame (%d)", c.MaxPendingFrameBytes, c.MaxFrameSize)
	case c.FrameTimeout < 0:
		return fmt.Errorf("transport: FrameTimeout %v is negative", c.FrameTimeout)
	case c.TLSMode != TLSDisabled && c.TLS == nil:
		return errors.New("transport: a TLS mode needs a TLS configuration")
	}
	return nil
}

// TLSMode is how a port treats TLS (RocketMQ's tls.server.mode).
type TLSMode int

const (
	TLSDisabled TLSMode = iota
	TLSPermissive
	TLSEnforcing
)

// ParseTLSMode parses "disabled" (or ""), "permissive", "enforcing".
func ParseTLSMode(s string) (TLSMode, error) {
	switch s {
	case "", "disabled":
		return TLSDisabled, nil
	case "permissive":
		return TLSPermissive, nil
	case "enforcing":
		return TLSEnforcing, nil
	}
	return TLSDisabled, fmt.Errorf("transport: TLS mode %q: want disabled, permissive or enforcing", s)
}

// Server accepts RocketMQ remoting connections and dispatches requests to
// handlers by code. Unknown codes get REQUEST_CODE_NOT_SUPPORTED.
type Server struct {
	cfg    ServerConfig
	logger hclog.Logger
	ep     endpoint
	cancel context.CancelFunc // cancels every handler context

	handlers handlerTable[HandlerFunc]
	fast     handlerTable[FastHandlerFunc]
	hmu      sync.Mutex // serializes OnConnClose
	onClose  atomic.Pointer[[]func(*Conn)]
	nextID   atomic.Uint64
	work     tracker

	mu         sync.Mutex // guards the fields below
	ln         net.Listener
	conns      map[*Conn]struct{}
	perIP      map[netip.Addr]int
	opening    map[net.Conn]struct{} // accepted, not yet serving (TLS handshake)
	refused    atomic.Uint64         // connections closed at accept by a limit
	shutdown   bool
	acceptDone chan struct{} // closed when the accept loop returns
	readers    sync.WaitGroup
}

// NewServer validates cfg and builds a server; Start or Serve runs it.
func NewServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, logger: logger, cancel: cancel, conns: make(map[*Conn]struct{}), perIP: make(map[netip.Addr]int),
		opening: make(map[net.Conn]struct{})}
	s.ep = endpoint{
		logger:       logger,
		maxFrame:     cfg.MaxFrameSize,
		maxInflight:  int32(cfg.MaxInflightPerConn),
		idleTimeout:  cfg.IdleTimeout,
		writeTimeout: cfg.WriteTimeout,
		headerType:   cfg.HeaderType,
		pooledReads:  true,
		handler:      s.handler,
		baseCtx:      ctx,
		timeouts:     newTimeouts(),
		work:         &s.work,
		workers:      newWorkers(),
		onClose:      s.connClosed,
		rejectRemark: "server shutting down",
		frameTimeout: cfg.FrameTimeout,
		authorize:    cfg.Authorize,
	}
	s.ep.fast = s.fast.get
	if cfg.MaxPendingFrameBytes > 0 {
		s.ep.frameBudget = newByteBudget(cfg.MaxPendingFrameBytes)
	}
	return s, nil
}

// Handle registers h for code, replacing any previous handler. It may be
// called while serving.
func (s *Server) Handle(code RequestCode, h HandlerFunc) { s.handlers.set(code, h) }

func (s *Server) handler(code RequestCode) HandlerFunc { return s.handlers.get(code) }

// HandleFast registers h as code's fast handler, tried on the reader
// before the code's HandlerFunc (which serves what h passes on, and must
// be registered too). It may be called while serving.
func (s *Server) HandleFast(code RequestCode, h FastHandlerFunc) { s.fast.set(code, h) }

// OnConnClose registers f to run after a connection closes (on that
// connection's reader goroutine; keep it short).
func (s *Server) OnConnClose(f func(*Conn)) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	var fs []func(*Conn)
	if p := s.onClose.Load(); p != nil {
		fs = append(fs, *p...)
	}
	fs = append(fs, f)
	s.onClose.Store(&fs)
}

func (s *Server) connClosed(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if ip, ok := remoteIP(c.nc); ok {
		if s.perIP[ip]--; s.perIP[ip] <= 0 {
			delete(s.perIP, ip)
		}
	}
	s.mu.Unlock()
	if p := s.onClose.Load(); p != nil {
		for _, f := range *p {
			f(c)
		}
	}
}

// Start listens on cfg.Addr and serves in the background until Shutdown.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("transport: listen %s: %w", s.cfg.Addr, err)
	}
	done, err := s.setListener(ln)
	if err != nil {
		_ = ln.Close()
		return err
	}
	go s.acceptLoop(ln, done)
	return nil
}

// Serve accepts connections on ln until Shutdown, then returns
// ErrServerClosed. It takes ownership of ln.
func (s *Server) Serve(ln net.Listener) error {
	done, err := s.setListener(ln)
	if err != nil {
		_ = ln.Close()
		return err
	}
	return s.acceptLoop(ln, done)
}

func (s *Server) setListener(ln net.Listener) (chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return nil, ErrServerClosed
	}
	if s.ln != nil {
		return nil, errors.New("transport: server already serving")
	}
	s.ln = ln
	s.acceptDone = make(chan struct{})
	return s.acceptDone, nil
}

// Addr is the listening address, or nil before Start/Serve.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

func (s *Server) acceptLoop(ln net.Listener, done chan struct{}) error {
	defer close(done)
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			shut := s.shutdown
			s.mu.Unlock()
			if shut {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors and the like: back off as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logger.Warn("accept failed; retrying", "error", err, "delay", backoff)
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-s.ep.baseCtx.Done():
					t.Stop()
				}
				continue
			}
			s.logger.Error("accept failed; server stops accepting", "error", err)
			return fmt.Errorf("transport: accept: %w", err)
		}
		backoff = 0
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		s.mu.Lock()
		if s.shutdown {
			s.mu.Unlock()
			_ = nc.Close()
			continue
		}
		ip, hasIP := remoteIP(nc)
		if why := s.overLimitLocked(ip, hasIP); why != "" {
			s.mu.Unlock()
			n := s.refused.Add(1) // counted before the peer can see the close
			_ = nc.Close()
			if n%100 == 1 { // a flood must not flood the log too
				s.logger.Warn("refusing connection", "remote", nc.RemoteAddr(), "reason", why, "refused_total", n)
			}
			continue
		}
		if hasIP {
			s.perIP[ip]++
		}
		s.opening[nc] = struct{}{}
		s.readers.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.readers.Done()
			s.open(nc, ip, hasIP)
		}()
	}
}

// open finishes a new connection off the accept loop (a TLS handshake or
// the first byte may take a while) and serves it.
func (s *Server) open(nc net.Conn, ip netip.Addr, hasIP bool) {
	sc, err := s.secure(nc)
	s.mu.Lock()
	delete(s.opening, nc)
	if err == nil && s.shutdown {
		err = ErrServerClosed
	}
	if err != nil {
		if hasIP {
			if s.perIP[ip]--; s.perIP[ip] <= 0 {
				delete(s.perIP, ip)
			}
		}
		s.mu.Unlock()
		_ = nc.Close()
		if !errors.Is(err, ErrServerClosed) {
			s.logger.Info("connection refused", "remote", nc.RemoteAddr(), "error", err)
		}
		return
	}
	c := newConn(s.nextID.Add(1), sc, &s.ep)
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.logger.Debug("connection accepted", "remote", nc.RemoteAddr(), "conn", c.id)
	c.readLoop()
}

// secure applies the TLS mode: in permissive mode a connection whose first
// byte starts a TLS handshake (0x16) gets TLS and any other stays plain (a
// remoting frame starts with the high byte of its length, 0 below 16 MiB);
// enforcing refuses plain connections.
func (s *Server) secure(nc net.Conn) (net.Conn, error) {
	if s.cfg.TLSMode == TLSDisabled {
		return nc, nil
	}
	deadline := time.Now().Add(tlsHandshakeTimeout)
	if err := nc.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	var first [1]byte
	if _, err := io.ReadFull(nc, first[:]); err != nil {
		return nil, fmt.Errorf("transport: no first byte: %w", err)
	}
	pc := &prefixConn{Conn: nc, prefix: first[:]}
	if first[0] != 0x16 {
		if s.cfg.TLSMode == TLSEnforcing {
			return nil, errors.New("transport: plain connection refused (tlsServerMode=enforcing)")
		}
		return pc, nc.SetReadDeadline(time.Time{})
	}
	tc := tls.Server(pc, s.cfg.TLS)
	if err := tc.SetDeadline(deadline); err != nil {
		return nil, err
	}
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("transport: TLS handshake: %w", err)
	}
	return tc, tc.SetDeadline(time.Time{})
}

const tlsHandshakeTimeout = 10 * time.Second

// prefixConn gives back bytes read ahead of the stream.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// overLimitLocked says why a new connection from ip must be refused.
func (s *Server) overLimitLocked(ip netip.Addr, hasIP bool) string {
	if n := len(s.conns) + len(s.opening); s.cfg.MaxConns > 0 && n >= s.cfg.MaxConns {
		return fmt.Sprintf("%d connections open (maxConnections)", n)
	}
	if hasIP && s.cfg.MaxConnsPerIP > 0 && s.perIP[ip] >= s.cfg.MaxConnsPerIP {
		return fmt.Sprintf("%d connections open from %s (maxConnectionsPerIP)", s.perIP[ip], ip)
	}
	return ""
}

func remoteIP(nc net.Conn) (netip.Addr, bool) {
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		a, ok := netip.AddrFromSlice(ta.IP)
		return a.Unmap(), ok
	}
	return netip.Addr{}, false
}

// Refused counts connections closed at accept because of a limit.
func (s *Server) Refused() uint64 { return s.refused.Load() }

// PendingFrameBytes is what unfinished frames hold now.
func (s *Server) PendingFrameBytes() int64 {
	if s.ep.frameBudget == nil {
		return 0
	}
	return s.ep.frameBudget.inUse()
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// Shutdown stops accepting, answers new requests with
// SERVICE_NOT_AVAILABLE while in-flight handlers finish, then closes every
// connection once the replies queued on it are written. If ctx ends
// first, handler contexts are cancelled and Shutdown still waits for
// handlers to return (they must honour ctx), then returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	ln, acceptDone := s.ln, s.acceptDone
	s.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
		<-acceptDone
	}
	var err error
	idle := s.work.drain()
	select {
	case <-idle:
	case <-ctx.Done():
		err = ctx.Err()
		s.logger.Warn("shutdown deadline passed; cancelling in-flight handlers")
		s.cancel()
		<-idle
	}
	s.mu.Lock()
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		// A handler's reply may still sit in the buffer of another
		// goroutine's flush: written before the close, not dropped.
		c.w.waitFlushed(ctx)
		c.close(ErrServerClosed)
	}
	s.mu.Lock()
	for nc := range s.opening {
		_ = nc.Close() // ends a handshake in progress
	}
	s.mu.Unlock()
	s.readers.Wait()
	s.ep.workers.close()
	s.cancel()
	s.ep.timeouts.stop()
	return err
}

// Conns returns the open connections.
func (s *Server) Conns() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}
