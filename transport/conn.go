package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// HandlerFunc serves one request. It runs on its own goroutine, so a
// handler may block (a long-poll pull parks here) without delaying other
// requests of the connection. ctx is cancelled when the connection closes
// or a shutdown gives up waiting. The returned response is sent with the
// request's opaque and the response flag set; nil sends nothing, and
// nothing is sent for oneway requests. req is recycled when the handler
// returns: keep no reference to it, its Body or its ExtFields map (strings
// taken from ExtFields may be kept).
type HandlerFunc func(ctx context.Context, c *Conn, req *Command) *Command

// endpoint is what a Conn shares with its owner (Server or Client).
type endpoint struct {
	logger       hclog.Logger
	maxFrame     int
	maxInflight  int32
	idleTimeout  time.Duration
	writeTimeout time.Duration
	headerType   SerializeType
	pooledReads  bool // server: request bodies in pooled buffers
	handler      func(RequestCode) HandlerFunc
	baseCtx      context.Context // parent of every conn's handler context
	timeouts     *timeouts       // per-request timeouts; stopped after baseCtx ends
	work         *tracker        // handler and callback goroutines
	workers      *workers        // server: runs the handlers (nil: a goroutine each)
	onClose      func(*Conn)     // after the reader exits
	rejectRemark string          // answer to requests arriving while draining
	// Server connections only: frames not already buffered must complete
	// within frameTimeout, holding memory from frameBudget.
	frameTimeout time.Duration
	frameBudget  *byteBudget
	// authorize, if set, runs before a request's handler; a non-nil
	// response refuses the request.
	authorize func(*Conn, *Command) *Command
	// fast, if set, gives a code's FastHandlerFunc (server only: it needs
	// workers).
	fast func(RequestCode) FastHandlerFunc
}

// Conn is one TCP connection, server- or client-side. It correlates
// requests it sends with responses by opaque and serves requests it
// receives through the owner's handlers.
type Conn struct {
	id  uint64
	nc  net.Conn
	ep  *endpoint
	w   connWriter
	ctx context.Context // handler context; cancelled on close (not a request context)

	cancel   context.CancelFunc
	opaque   atomic.Int32
	inflight atomic.Int32
	value    atomic.Pointer[valueBox]
	done     chan struct{} // closed by close

	mu       sync.Mutex // guards pending, closeErr
	pending  map[int32]*call
	closeErr error // non-nil once closed
}

type valueBox struct{ v any }

// call is a request awaiting its response. Whoever removes it from
// Conn.pending completes it, so it completes exactly once.
type call struct {
	// pairs: the waiter reads the response's ext fields from its pairs
	// (InvokePairs); for any other the map is built before it gets it.
	pairs bool
	ch    chan result                // sync waiter (buffered 1)
	cb    func(*Command, error)      // async callback
	stop  func() bool                // stops the async timeout
	work  *tracker                   // counts the async callback
	log   func(msg string, a ...any) // for callback panics
}

type result struct {
	cmd *Command
	err error
}

func newConn(id uint64, nc net.Conn, ep *endpoint) *Conn {
	ctx, cancel := context.WithCancel(ep.baseCtx)
	c := &Conn{id: id, nc: nc, ep: ep, ctx: ctx, cancel: cancel, done: make(chan struct{}), pending: make(map[int32]*call)}
	c.w = connWriter{nc: nc, st: ep.headerType, timeout: ep.writeTimeout, limit: 4 * ep.maxFrame,
		onError: c.writeFailed, mode: defaultWriterMode, stop: c.done}
	if c.w.mode == writerChannel {
		c.w.ch = make(chan *writeFrame, 1024)
	}
	return c
}

// ID is unique among the owner's connections.
func (c *Conn) ID() uint64 { return c.id }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// RemoteAddrPort is the peer's IP and port (ok false for a non-IP
// address), without formatting and parsing the address for TCP.
func (c *Conn) RemoteAddrPort() (netip.AddrPort, bool) {
	a := c.nc.RemoteAddr()
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ap.IsValid()
	}
	ap, err := netip.ParseAddrPort(a.String())
	return ap, err == nil
}

// LocalAddr is our end's address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// SetValue stores an arbitrary value with the connection (the broker keeps
// the client id there).
func (c *Conn) SetValue(v any) { c.value.Store(&valueBox{v: v}) }

// Value returns what SetValue stored, or nil.
func (c *Conn) Value() any {
	if b := c.value.Load(); b != nil {
		return b.v
	}
	return nil
}

// Done is closed when the connection closes.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Close closes the connection; pending requests fail with ErrConnClosed.
func (c *Conn) Close() error {
	c.close(errors.New("closed locally"))
	return nil
}

// Request sends a request and waits for its response or ctx. It sets
// req.Opaque and clears req's flags; do not share req between goroutines.
func (c *Conn) Request(ctx context.Context, req *Command) (*Command, error) {
	return c.request(ctx, req, 0)
}

// request is Request, also bounded by timeout unless it is 0.
func (c *Conn) request(ctx context.Context, req *Command, timeout time.Duration) (*Command, error) {
	return c.requestPairs(ctx, req, timeout, false)
}

// requestPairs is request; with pairs the response's ext fields may stay
// pairs (read them with Ext, Fields or a header's DecodeCommand).
func (c *Conn) requestPairs(ctx context.Context, req *Command, timeout time.Duration, pairs bool) (*Command, error) {
	if ctx.Err() != nil {
		return nil, ctxErr(ctx, req.Code, 0, c) // do not send what nobody will wait for
	}
	if c.ep.baseCtx.Err() != nil {
		return nil, c.endedErr(req.Code)
	}
	cl := syncCalls.Get().(*call)
	cl.pairs = pairs
	op, err := c.register(cl)
	if err != nil {
		syncCalls.Put(cl)
		return nil, err
	}
	req.Opaque, req.Flag = op, 0
	if err := c.w.write(req); err != nil {
		if !c.unregister(op) {
			<-cl.ch // a concurrent close completed it
		}
		syncCalls.Put(cl)
		return nil, c.sendErr(err)
	}
	var expired <-chan struct{}
	if timeout > 0 {
		expired = c.ep.timeouts.after(timeout)
	}
	var r result
	select {
	case r = <-cl.ch:
	case <-ctx.Done():
		if c.unregister(op) {
			syncCalls.Put(cl)
			return nil, ctxErr(ctx, req.Code, op, c)
		}
		r = <-cl.ch // completed concurrently
	case <-expired:
		if c.unregister(op) {
			syncCalls.Put(cl)
			return nil, fmt.Errorf("%w: %s opaque %d to %s: %w", ErrTimeout, RequestCode(req.Code), op, c.nc.RemoteAddr(), context.DeadlineExceeded)
		}
		r = <-cl.ch
	case <-c.ep.baseCtx.Done():
		if c.unregister(op) {
			syncCalls.Put(cl)
			return nil, c.endedErr(req.Code)
		}
		r = <-cl.ch
	}
	syncCalls.Put(cl)
	return r.cmd, r.err
}

// syncCalls recycles the calls of synchronous requests (two allocations
// per request otherwise). A call goes back once nobody can complete it:
// its result was received, or it was unregistered before anyone took it
// (finish sends into the buffered channel as its last use of the call).
var syncCalls = sync.Pool{New: func() any { return &call{ch: make(chan result, 1)} }}

// requestAsync registers cb and sends req; cb runs exactly once on its own
// goroutine unless an error is returned.
func (c *Conn) requestAsync(ctx context.Context, req *Command, cb func(*Command, error)) error {
	if ctx.Err() != nil {
		return ctxErr(ctx, req.Code, 0, c)
	}
	if !c.ep.work.add() {
		return ErrClosed
	}
	cl := &call{cb: cb, work: c.ep.work, log: c.ep.logger.Error}
	op := c.opaque.Add(1)
	req.Opaque, req.Flag = op, 0
	c.mu.Lock()
	if c.closeErr != nil {
		err := c.closeErr
		c.mu.Unlock()
		c.ep.work.done()
		return err
	}
	c.pending[op] = cl
	// Set under c.mu: completers read cl.stop after taking cl out of pending.
	code := req.Code
	cl.stop = context.AfterFunc(ctx, func() {
		if c.unregister(op) {
			cl.finish(nil, ctxErr(ctx, code, op, c))
		}
	})
	c.mu.Unlock()
	if err := c.w.write(req); err != nil {
		if c.unregister(op) {
			cl.stop()
			c.ep.work.done()
			return c.sendErr(err)
		}
		// The close path already completed the call: the callback reports it.
	}
	return nil
}

// Send writes a oneway request (flag bit 1): no response is expected. It
// sets req.Opaque and req.Flag.
func (c *Conn) Send(req *Command) error {
	req.Opaque, req.Flag = c.opaque.Add(1), FlagOneway
	if err := c.w.write(req); err != nil {
		return c.sendErr(err)
	}
	return nil
}

func (c *Conn) register(cl *call) (int32, error) {
	op := c.opaque.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr != nil {
		return 0, c.closeErr
	}
	c.pending[op] = cl
	return op, nil
}

// unregister removes a pending call; false if someone else completed it.
func (c *Conn) unregister(op int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pending[op]; !ok {
		return false
	}
	delete(c.pending, op)
	return true
}

func (c *Conn) sendErr(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr != nil {
		return c.closeErr
	}
	if errors.Is(err, ErrEncode) {
		return err
	}
	return fmt.Errorf("%w: write: %v", ErrConnClosed, err)
}

// endedErr: the endpoint (client or server) this connection belongs to
// is closing.
func (c *Conn) endedErr(code int16) error {
	return fmt.Errorf("%w: %s to %s: %w", ErrClosed, RequestCode(code), c.nc.RemoteAddr(), c.ep.baseCtx.Err())
}

// ctxErr takes values, not req: the caller may reuse req once we return.
func ctxErr(ctx context.Context, code int16, opaque int32, c *Conn) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s opaque %d to %s: %w", ErrTimeout, RequestCode(code), opaque, c.nc.RemoteAddr(), err)
	}
	return fmt.Errorf("transport: %s to %s: %w", RequestCode(code), c.nc.RemoteAddr(), err)
}

func (cl *call) finish(cmd *Command, err error) {
	if cl.ch != nil {
		cl.ch <- result{cmd, err}
		return
	}
	go func() {
		defer cl.work.done()
		defer func() {
			if p := recover(); p != nil {
				cl.log("async callback panicked", "panic", p, "stack", string(debug.Stack()))
			}
		}()
		cl.cb(cmd, err)
	}()
}

func (c *Conn) writeFailed(err error) {
	c.close(fmt.Errorf("write: %w", err))
}

// close closes the socket once, fails pending requests and cancels
// handler contexts. reason says why, for errors and logs.
func (c *Conn) close(reason error) {
	c.mu.Lock()
	if c.closeErr != nil {
		c.mu.Unlock()
		return
	}
	c.closeErr = fmt.Errorf("%w: %w", ErrConnClosed, reason)
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	_ = c.nc.Close()
	c.cancel()
	close(c.done)
	for _, cl := range pending {
		if cl.stop != nil {
			cl.stop()
		}
		cl.finish(nil, c.closeErr)
	}
}

func (c *Conn) closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr != nil
}

// readLoop reads frames until the connection fails, then closes it and
// runs the owner's close hook. It runs on a goroutine the owner waits for.
func (c *Conn) readLoop() {
	var writerDone sync.WaitGroup
	if c.w.mode == writerChannel {
		writerDone.Add(1)
		go func() { defer writerDone.Done(); c.w.runChannelWriter() }()
	}
	// 16 KiB: a stalled connection pins this much; no slower than 64 KiB
	// in BenchmarkRoundTrip (larger frames bypass it).
	br := bufio.NewReaderSize(c.nc, 16<<10)
	fr := NewFrameReader(br, c.ep.maxFrame)
	fr.pooled = c.ep.pooledReads
	fr.dec.lazyResponses = !c.ep.pooledReads // a client's: see call.pairs
	if c.ep.pooledReads {
		fr.guard = &frameGuard{timeout: c.ep.frameTimeout, budget: c.ep.frameBudget, setDeadline: c.nc.SetReadDeadline, stop: c.done}
	}
	idle := c.ep.idleTimeout
	var deadlineSet time.Time
	var err error
	for {
		if idle > 0 {
			// Refreshing the deadline costs a timer update; doing it when a
			// sixteenth of the timeout has passed keeps the idle limit
			// within [15/16, 1] of the configured value.
			if now := time.Now(); now.Sub(deadlineSet) > idle/16 {
				if err = c.nc.SetReadDeadline(now.Add(idle)); err != nil {
					break
				}
				deadlineSet = now
			}
		}
		var cmd *Command
		if c.ep.pooledReads {
			cmd = getCommand()
		} else {
			cmd = &Command{}
		}
		err = fr.ReadFrame(cmd)
		var oe *OversizeError
		if errors.As(err, &oe) {
			err = c.answerOversize(fr, cmd, oe)
		}
		if fr.disarmed() {
			// A frame moved the read deadline: restore the idle one.
			if idle > 0 {
				deadlineSet = time.Time{}
			} else if err == nil {
				err = c.nc.SetReadDeadline(time.Time{})
			}
		}
		if err != nil {
			if c.ep.pooledReads {
				putCommand(cmd)
			}
			break
		}
		if oe != nil {
			putCommand(cmd)
			continue
		}
		c.dispatch(cmd)
	}
	c.logReadEnd(err)
	c.close(fmt.Errorf("read: %w", err))
	writerDone.Wait() // the channel writer exits when close closes c.done
	if c.ep.onClose != nil {
		c.ep.onClose(c)
	}
}

// answerOversize answers a request frame over the size limit with an
// error (a reset would lose the reason) and skips its body, so the
// connection goes on.
func (c *Conn) answerOversize(fr *FrameReader, req *Command, oe *OversizeError) error {
	c.ep.logger.Warn("request frame over the size limit; answering it and skipping its body",
		"remote", c.nc.RemoteAddr(), "conn", c.id, "code", RequestCode(req.Code), "size", oe.Size, "limit", oe.Limit)
	if !req.IsResponse() && !req.IsOneway() {
		c.reply(req, NewResponse(RespMessageIllegal, fmt.Sprintf(
			"the request frame is %d bytes, over the broker's limit of %d bytes (maxMessageSize plus headers); it was not processed", oe.Size, oe.Limit)))
	}
	return fr.Skip(oe)
}

func (c *Conn) logReadEnd(err error) {
	l := c.ep.logger
	var ne net.Error
	switch {
	case errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrMalformedFrame), errors.Is(err, ErrOverloaded):
		l.Warn("closing connection: bad frame", "remote", c.nc.RemoteAddr(), "conn", c.id, "error", err)
	case errors.As(err, &ne) && ne.Timeout():
		l.Info("closing connection: read timed out (idle, or a frame not completed in time)", "remote", c.nc.RemoteAddr(), "conn", c.id,
			"idle", c.ep.idleTimeout, "frame_timeout", c.ep.frameTimeout)
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), c.closed():
		l.Debug("connection closed", "remote", c.nc.RemoteAddr(), "conn", c.id)
	default:
		l.Info("connection failed", "remote", c.nc.RemoteAddr(), "conn", c.id, "error", err)
	}
}

func (c *Conn) recycle(cmd *Command) {
	if c.ep.pooledReads {
		putCommand(cmd)
	}
}

func (c *Conn) dispatch(cmd *Command) {
	if cmd.IsResponse() {
		c.mu.Lock()
		cl := c.pending[cmd.Opaque]
		delete(c.pending, cmd.Opaque)
		c.mu.Unlock()
		if cl == nil {
			c.ep.logger.Debug("dropping response nobody waits for", "remote", c.nc.RemoteAddr(), "opaque", cmd.Opaque, "code", cmd.Code)
			c.recycle(cmd)
			return
		}
		if cl.stop != nil {
			cl.stop()
		}
		if !cl.pairs {
			cmd.Fields() // most waiters read ExtFields
		}
		cl.finish(cmd, nil) // the waiter owns cmd now
		return
	}
	if c.inflight.Add(1) > c.ep.maxInflight {
		c.inflight.Add(-1)
		c.ep.logger.Warn("too many requests in flight on connection; answering SYSTEM_BUSY",
			"remote", c.nc.RemoteAddr(), "limit", c.ep.maxInflight)
		c.replyInline(cmd, RespSystemBusy, fmt.Sprintf("[OVERLOAD] more than %d requests in flight on this connection", c.ep.maxInflight))
		return
	}
	if !c.ep.work.add() {
		c.inflight.Add(-1)
		c.replyInline(cmd, RespServiceNotAvailable, c.ep.rejectRemark)
		return
	}
	if c.ep.fast != nil {
		if h := c.ep.fast(RequestCode(cmd.Code)); h != nil {
			if c.serveFast(h, cmd) {
				return
			}
			c.ep.workers.run(func() { c.serveAuthorized(cmd) })
			return
		}
	}
	if c.ep.workers != nil {
		c.ep.workers.run(func() { c.serve(cmd) })
		return
	}
	go c.serve(cmd)
}

// replyInline answers from the reader goroutine without running a handler.
func (c *Conn) replyInline(req *Command, code ResponseCode, remark string) {
	if !req.IsOneway() {
		c.reply(req, NewResponse(code, remark))
	}
	c.recycle(req)
}

func (c *Conn) reply(req, resp *Command) {
	resp.Opaque = req.Opaque
	resp.Flag = (resp.Flag | FlagResponse) &^ FlagOneway
	resp.wire = req.wire
	c.writeReply(resp)
}

func (c *Conn) writeReply(resp *Command) {
	if err := c.w.write(resp); err != nil {
		c.logReplyErr(resp, err)
	}
}

func (c *Conn) logReplyErr(resp *Command, err error) {
	if !errors.Is(err, ErrConnClosed) {
		c.ep.logger.Warn("cannot send response", "remote", c.nc.RemoteAddr(), "code", resp.Code, "error", err)
	}
}

func (c *Conn) serve(req *Command) {
	var resp *Command
	if c.ep.authorize != nil {
		resp = c.ep.authorize(c, req)
	}
	c.answer(req, resp)
}

// serveAuthorized serves a request the authorizer passed already.
func (c *Conn) serveAuthorized(req *Command) { c.answer(req, nil) }

// answer runs req's handler, unless refused is the authorizer's refusal,
// and sends the response.
func (c *Conn) answer(req, refused *Command) {
	defer c.release()
	h := c.ep.handler(RequestCode(req.Code))
	resp := refused
	if resp != nil {
		// Refused before any handler saw it.
	} else if h == nil {
		resp = NewResponse(RespRequestCodeNotSupported, fmt.Sprintf("request type %d not supported", req.Code))
	} else {
		resp = c.runHandler(h, req)
	}
	if resp != nil && !req.IsOneway() {
		c.reply(req, resp)
	}
	c.recycle(req) // after the write: resp may alias req.Body
}

func (c *Conn) runHandler(h HandlerFunc, req *Command) (resp *Command) {
	defer func() {
		if p := recover(); p != nil {
			c.ep.logger.Error("handler panicked", "code", RequestCode(req.Code), "remote", c.nc.RemoteAddr(),
				"panic", p, "stack", string(debug.Stack()))
			resp = NewResponse(RespSystemError, fmt.Sprintf("internal error serving %s", RequestCode(req.Code)))
		}
	}()
	return h(c.ctx, c, req)
}
