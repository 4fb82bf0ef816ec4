package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// DialTimeout bounds connecting (the context may end it sooner).
	DialTimeout time.Duration
	// IdleTimeout closes a connection that receives nothing for this long
	// (0 disables; TCP keepalive still detects dead peers).
	IdleTimeout time.Duration
	// WriteTimeout bounds one socket write.
	WriteTimeout time.Duration
	// MaxFrameSize bounds an incoming frame.
	MaxFrameSize int
	// MaxInflightPerConn bounds concurrently running handlers for
	// server-initiated requests on one connection.
	MaxInflightPerConn int
	// HeaderType is the header encoding of requests we send.
	HeaderType SerializeType
	// Logger receives connection-level events; nil discards them.
	Logger hclog.Logger
	// Dial, when set, opens connections instead of a plain TCP dial (the
	// broker uses it to reach peers through the port it shares with raft).
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// Credentials, when set, sign every request (brokers with ACL on).
	Credentials Credentials
	// TLS, when set, wraps every connection in TLS. Without a ServerName
	// the dialled host is verified (unless InsecureSkipVerify).
	TLS *tls.Config
	// Context, when set, is the client's lifetime: once it ends, requests
	// in flight fail at once and new ones are refused (errors matching
	// ErrClosed), as after Close, which still closes the connections.
	// Callers then need no derived context per request to stop them.
	Context context.Context
}

// DefaultClientConfig returns defaults close to the official client's.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{
		DialTimeout:        3 * time.Second,
		WriteTimeout:       30 * time.Second,
		MaxFrameSize:       DefaultMaxFrameSize,
		MaxInflightPerConn: 1024,
		HeaderType:         SerializeJSON,
	}
}

// Validate reports the first unusable setting.
func (c *ClientConfig) Validate() error {
	switch {
	case c.DialTimeout <= 0:
		return fmt.Errorf("transport: DialTimeout %v must be positive", c.DialTimeout)
	case c.IdleTimeout < 0 || c.WriteTimeout < 0:
		return errors.New("transport: negative IdleTimeout or WriteTimeout")
	case c.MaxFrameSize < 1024 || c.MaxFrameSize > 1<<30:
		return fmt.Errorf("transport: MaxFrameSize %d out of range [1 KiB, 1 GiB]", c.MaxFrameSize)
	case c.MaxInflightPerConn < 1 || c.MaxInflightPerConn > 1<<20:
		return fmt.Errorf("transport: MaxInflightPerConn %d out of range [1, 1048576]", c.MaxInflightPerConn)
	case c.HeaderType != SerializeJSON && c.HeaderType != SerializeRocketMQ:
		return fmt.Errorf("transport: unknown HeaderType %d", c.HeaderType)
	}
	return nil
}

// Client sends requests to many addresses over one lazily dialled
// connection per address, correlating responses by opaque. A failed
// connection is dropped and re-dialled by the next request. It also
// serves requests the servers send (Handle).
type Client struct {
	cfg    ClientConfig
	ep     endpoint
	cancel context.CancelFunc

	handlers handlerTable[HandlerFunc]
	nextID   atomic.Uint64
	work     tracker // handlers and async callbacks

	mu      sync.Mutex // guards conns, closed
	conns   map[string]*dialEntry
	closed  bool
	readers sync.WaitGroup
}

// dialEntry is a connection or a dial in progress.
type dialEntry struct {
	done chan struct{} // closed when the dial finished
	conn *Conn         // set on success
	err  error         // set on failure
}

// NewClient validates cfg and builds a client. It dials nothing yet.
func NewClient(cfg ClientConfig) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	parent := cfg.Context
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	c := &Client{cfg: cfg, cancel: cancel, conns: make(map[string]*dialEntry)}
	c.ep = endpoint{
		logger:       logger,
		maxFrame:     cfg.MaxFrameSize,
		maxInflight:  int32(cfg.MaxInflightPerConn),
		idleTimeout:  cfg.IdleTimeout,
		writeTimeout: cfg.WriteTimeout,
		headerType:   cfg.HeaderType,
		handler:      c.handler,
		baseCtx:      ctx,
		timeouts:     newTimeouts(),
		work:         &c.work,
		onClose:      c.connClosed,
		rejectRemark: "client closing",
	}
	return c, nil
}

// Handle registers h for server-initiated requests with code (e.g.
// NOTIFY_CONSUMER_IDS_CHANGED, CHECK_TRANSACTION_STATE). A response is
// sent back when h returns one and the request is not oneway.
func (c *Client) Handle(code RequestCode, h HandlerFunc) { c.handlers.set(code, h) }

func (c *Client) handler(code RequestCode) HandlerFunc { return c.handlers.get(code) }

// Invoke sends req to addr and waits for the response until ctx ends.
// Errors: ErrTimeout (ctx deadline), ErrConnClosed (dial or connection
// failure; the request may have been processed), ErrClosed. It sets
// req.Opaque; do not share req between concurrent calls. A response with
// a non-zero code is not an error.
func (c *Client) Invoke(ctx context.Context, addr string, req *Command) (*Command, error) {
	c.cfg.Credentials.Sign(req)
	conn, err := c.conn(ctx, addr)
	if err != nil {
		return nil, err
	}
	return conn.Request(ctx, req)
}

// InvokeTimeout is Invoke bounded also by timeout, without deriving a
// context per request when the connection is up (a timer in the same
// wait: a derived context per send was a tenth of a producer's CPU).
func (c *Client) InvokeTimeout(ctx context.Context, addr string, req *Command, timeout time.Duration) (*Command, error) {
	return c.invokeTimeout(ctx, addr, req, timeout, false)
}

// InvokePairs is InvokeTimeout for a caller that reads the response's ext
// fields through Ext, Fields or a header's DecodeCommand: they may stay the
// frame's pairs, and no map is built (a producer's send responses).
func (c *Client) InvokePairs(ctx context.Context, addr string, req *Command, timeout time.Duration) (*Command, error) {
	return c.invokeTimeout(ctx, addr, req, timeout, true)
}

func (c *Client) invokeTimeout(ctx context.Context, addr string, req *Command, timeout time.Duration, pairs bool) (*Command, error) {
	conn := c.live(addr)
	if conn == nil || timeout <= 0 {
		// A dial counts against the timeout, as with a derived context
		// (and the response gets its map: the first request of a
		// connection is rare enough).
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		return c.Invoke(ctx, addr, req)
	}
	c.cfg.Credentials.Sign(req)
	return conn.requestPairs(ctx, req, timeout, pairs)
}

// live returns the established, open connection to addr, or nil.
func (c *Client) live(addr string) *Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	e := c.conns[addr]
	if e == nil {
		return nil
	}
	select {
	case <-e.done:
	default:
		return nil // dialling
	}
	if e.err != nil || e.conn.closed() {
		return nil
	}
	return e.conn
}

// InvokeAsync sends req and returns; cb runs exactly once on its own
// goroutine with the response or an error (ErrTimeout when ctx's deadline
// passes first). If InvokeAsync returns an error, cb is not called.
func (c *Client) InvokeAsync(ctx context.Context, addr string, req *Command, cb func(*Command, error)) error {
	c.cfg.Credentials.Sign(req)
	conn, err := c.conn(ctx, addr)
	if err != nil {
		return err
	}
	return conn.requestAsync(ctx, req, cb)
}

// InvokeOneway sends req with the oneway flag; no response is awaited.
// ctx bounds only the dial.
func (c *Client) InvokeOneway(ctx context.Context, addr string, req *Command) error {
	c.cfg.Credentials.Sign(req)
	conn, err := c.conn(ctx, addr)
	if err != nil {
		return err
	}
	return conn.Send(req)
}

// conn returns the live connection to addr, dialling if needed. Concurrent
// callers share one dial.
func (c *Client) conn(ctx context.Context, addr string) (*Conn, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		e := c.conns[addr]
		if e == nil {
			e = &dialEntry{done: make(chan struct{})}
			c.conns[addr] = e
			c.mu.Unlock()
			return c.dial(ctx, addr, e)
		}
		c.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("transport: waiting for connection to %s: %w", addr, waitErr(ctx))
		}
		if e.err != nil {
			return nil, e.err
		}
		if !e.conn.closed() {
			return e.conn, nil
		}
		// Closed but not yet removed by its reader: drop it and re-dial.
		c.mu.Lock()
		if c.conns[addr] == e {
			delete(c.conns, addr)
		}
		c.mu.Unlock()
	}
}

func waitErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
	return ctx.Err()
}

func (c *Client) dial(ctx context.Context, addr string, e *dialEntry) (*Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	stop := context.AfterFunc(c.ep.baseCtx, cancel) // Close aborts dials
	var nc net.Conn
	var err error
	if c.cfg.Dial != nil {
		nc, err = c.cfg.Dial(dctx, addr)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(dctx, "tcp", addr)
	}
	if err == nil && c.cfg.TLS != nil {
		nc, err = clientTLS(dctx, nc, addr, c.cfg.TLS)
	}
	stop()
	cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	defer close(e.done)
	if c.closed {
		if err == nil {
			_ = nc.Close()
		}
		err = ErrClosed
	}
	if err != nil {
		if c.conns[addr] == e {
			delete(c.conns, addr)
		}
		if errors.Is(err, ErrClosed) {
			e.err = err
		} else if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			e.err = fmt.Errorf("transport: dial %s: %w", addr, waitErr(ctx))
		} else {
			e.err = fmt.Errorf("%w: dial %s: %v", ErrConnClosed, addr, err)
		}
		return nil, e.err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	conn := newConn(c.nextID.Add(1), nc, &c.ep)
	e.conn = conn
	c.readers.Add(1)
	go func() {
		defer c.readers.Done()
		conn.readLoop()
	}()
	c.ep.logger.Debug("connected", "addr", addr, "conn", conn.id)
	return conn, nil
}

func (c *Client) connClosed(conn *Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for addr, e := range c.conns {
		if e.conn == conn {
			delete(c.conns, addr)
		}
	}
}

// CloseConn closes the connection to addr if there is one, failing its
// pending requests with ErrConnClosed (e.g. after a route change).
func (c *Client) CloseConn(addr string) {
	c.mu.Lock()
	e := c.conns[addr]
	c.mu.Unlock()
	if e == nil {
		return
	}
	<-e.done
	if e.conn != nil {
		e.conn.close(errors.New("closed by client"))
	}
}

// Close closes every connection (pending requests fail with errors that
// match both ErrConnClosed and ErrClosed), cancels handlers and waits for
// every goroutine the client started, including async callbacks. Later
// calls fail with ErrClosed. Close is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	entries := make([]*dialEntry, 0, len(c.conns))
	for _, e := range c.conns {
		entries = append(entries, e)
	}
	c.mu.Unlock()
	c.cancel() // aborts dials in progress and cancels handler contexts
	c.ep.timeouts.stop()
	for _, e := range entries {
		<-e.done
		if e.conn != nil {
			e.conn.close(ErrClosed)
		}
	}
	c.readers.Wait()
	<-c.work.drain()
	return nil
}

// clientTLS runs the TLS handshake on a dialled connection.
func clientTLS(ctx context.Context, nc net.Conn, addr string, cfg *tls.Config) (net.Conn, error) {
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}
