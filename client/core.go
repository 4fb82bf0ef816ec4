package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// instances numbers the client instances of this process, so that two
// consumers of one group in one process get different client ids.
var instances atomic.Int64

// core is what every client instance owns: one transport.Client, the route
// cache, the heartbeat and route refresh loops, and the goroutines started
// on its behalf. Shutdown stops and waits for all of them.
type core struct {
	opts     options
	clientID string
	logger   hclog.Logger
	rpc      *transport.Client
	routes   *routeTable

	// ctx is cancelled by shutdown; every operation's context derives
	// from it too, so a shutdown aborts requests in flight.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	nsNext atomic.Uint32

	hbKick chan struct{}

	failMu sync.Mutex
	failed map[string]time.Time // address -> when a connection to it last failed
	// reg: the addresses that took our heartbeat on the current connection.
	reg registrations

	mu       sync.Mutex // guards closed, producer, consumer
	closed   bool
	producer string                        // producer group to heartbeat, or ""
	consumer func() transport.ConsumerData // consumer data to heartbeat, or nil
	onRoute  func()                        // called when a route's addresses change
}

func newCore(o options) (*core, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	cc := transport.DefaultClientConfig()
	// RocketMQ's binary header (serializeType ROCKETMQ): the broker decodes
	// it in half the time of the JSON one, on every request.
	cc.HeaderType = transport.SerializeRocketMQ
	cc.DialTimeout = o.timeout
	cc.Logger = o.logger.Named("transport")
	cc.Credentials = o.credentials
	cc.TLS = o.tls
	// Shutdown's cancel ends every request in flight: an operation needs
	// no context derived from the core's (that was a tenth of a send).
	ctx, cancel := context.WithCancel(context.Background())
	cc.Context = ctx
	rpc, err := transport.NewClient(cc)
	if err != nil {
		cancel()
		return nil, err
	}
	id := message.LocalIPv4().String() + "@" + strconv.Itoa(os.Getpid())
	n := instances.Add(1)
	switch {
	case o.instance != "":
		id += "@" + o.instance
	case n > 1:
		id += "@" + strconv.FormatInt(n, 10)
	}
	c := &core{opts: o, clientID: id, logger: o.logger, rpc: rpc, ctx: ctx, cancel: cancel, hbKick: make(chan struct{}, 1),
		failed: map[string]time.Time{}}
	c.routes = newRouteTable(c)
	return c, nil
}

// goFunc runs f on a goroutine that shutdown waits for. It returns false
// (and does not run f) once the core is closing.
func (c *core) goFunc(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// startLoops starts route refreshing and heartbeating.
func (c *core) startLoops() {
	c.goFunc(c.refreshLoop)
	c.goFunc(c.heartbeatLoop)
}

func (c *core) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// markClosed makes new operations fail with ErrShutdown; it reports
// whether the core was open.
func (c *core) markClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	was := !c.closed
	c.closed = true
	return was
}

// shutdown cancels everything, closes the connections and waits for every
// goroutine. Idempotent.
func (c *core) shutdown() {
	c.markClosed()
	c.cancel()
	c.wg.Wait()
	c.rpc.Close()
}

// opCtx derives an operation's context from the caller's and the core's:
// it ends when either does.
func (c *core) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// callCtx bounds one request by the per-call timeout.
func (c *core) callCtx(ctx context.Context, extra time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opts.timeout+extra)
}

// invoke sends one request to a broker with the per-call timeout.
func (c *core) invoke(ctx context.Context, addr string, req *transport.Command) (*transport.Command, error) {
	return c.shutdownErr(c.rpc.InvokeTimeout(ctx, addr, req, c.opts.timeout))
}

// invokePairs is invoke for a caller that reads the response's ext fields
// through a header's DecodeCommand (a send's): no map is built for them.
func (c *core) invokePairs(ctx context.Context, addr string, req *transport.Command) (*transport.Command, error) {
	return c.shutdownErr(c.rpc.InvokePairs(ctx, addr, req, c.opts.timeout))
}

// shutdownErr marks an error that came with the client shutting down.
func (c *core) shutdownErr(resp *transport.Command, err error) (*transport.Command, error) {
	if err != nil && c.ctx.Err() != nil {
		return nil, fmt.Errorf("%w: %w", ErrShutdown, err)
	}
	return resp, err
}

// invokeNS sends a request to the NameServers, trying each once, starting
// with the one that answered last. mk builds a fresh request per attempt.
func (c *core) invokeNS(ctx context.Context, mk func() *transport.Command) (*transport.Command, string, error) {
	ns := c.opts.nameServers
	start := int(c.nsNext.Load())
	var errs []string
	for i := range ns {
		idx := (start + i) % len(ns)
		addr := ns[idx]
		resp, err := c.invoke(ctx, addr, mk())
		if err == nil {
			c.nsNext.Store(uint32(idx))
			return resp, addr, nil
		}
		if ctx.Err() != nil || errors.Is(err, ErrShutdown) {
			return nil, addr, err
		}
		errs = append(errs, fmt.Sprintf("%s: %v", addr, err))
	}
	return nil, "", fmt.Errorf("%w: %s", ErrNameServerUnreachable, strings.Join(errs, "; "))
}

// failMemory is how long an address whose connection failed is tried
// after the other members of its group.
const failMemory = 3 * time.Second

// markFailed remembers that a connection to addr failed (not a timeout of
// a live connection, nor a cancellation).
func (c *core) markFailed(addr string, err error) {
	if !errors.Is(err, transport.ErrConnClosed) {
		return
	}
	c.failMu.Lock()
	c.failed[addr] = time.Now()
	c.failMu.Unlock()
	c.reg.set(addr, false) // the next connection is not registered yet
}

// recentlyFailed reports whether a connection to addr failed lately.
func (c *core) recentlyFailed(addr string) bool {
	c.failMu.Lock()
	defer c.failMu.Unlock()
	t, ok := c.failed[addr]
	if ok && time.Since(t) > failMemory {
		delete(c.failed, addr)
		return false
	}
	return ok
}

// healthyFirst moves recently failed addresses to the end (stable).
func (c *core) healthyFirst(addrs []string) []string {
	out := make([]string, 0, len(addrs))
	var bad []string
	for _, a := range addrs {
		if c.recentlyFailed(a) {
			bad = append(bad, a)
		} else {
			out = append(out, a)
		}
	}
	return append(out, bad...)
}

// sleep waits d or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool { return sleepOr(ctx, nil, d) }

// sleep is sleep that also ends when the core shuts down.
func (c *core) sleep(ctx context.Context, d time.Duration) bool { return sleepOr(ctx, c.ctx.Done(), d) }

// sleepOr waits d unless ctx or stop (nil: never) ends first.
func sleepOr(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	}
}

// routeChanged is called (under the route table's lock) when a route's
// broker addresses change: new brokers get a heartbeat at once, and a
// consumer rebalances.
func (c *core) routeChanged() {
	c.kickHeartbeat()
	if f := c.onRoute; f != nil {
		f()
	}
}

func (c *core) kickHeartbeat() {
	select {
	case c.hbKick <- struct{}{}:
	default:
	}
}

func (c *core) refreshLoop() {
	t := time.NewTicker(c.opts.refreshInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		for _, topic := range c.routes.topics() {
			if _, err := c.routes.refresh(c.ctx, topic); err != nil && c.ctx.Err() == nil {
				c.logger.Debug("route refresh failed", "topic", topic, "error", err)
			}
		}
	}
}

func (c *core) heartbeatLoop() {
	t := time.NewTicker(c.opts.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		case <-c.hbKick:
		}
		c.heartbeatAll(c.ctx)
	}
}

func (c *core) heartbeatBody() ([]byte, bool) {
	c.mu.Lock()
	hb := transport.HeartbeatData{ClientID: c.clientID, ProducerDataSet: []transport.ProducerData{}, ConsumerDataSet: []transport.ConsumerData{}}
	if c.producer != "" {
		hb.ProducerDataSet = append(hb.ProducerDataSet, transport.ProducerData{GroupName: c.producer})
	}
	if c.consumer != nil {
		hb.ConsumerDataSet = append(hb.ConsumerDataSet, c.consumer())
	}
	c.mu.Unlock()
	if len(hb.ProducerDataSet) == 0 && len(hb.ConsumerDataSet) == 0 {
		return nil, false
	}
	body, err := transport.EncodeBody(hb)
	if err != nil {
		c.logger.Error("encode heartbeat", "error", err)
		return nil, false
	}
	return body, true
}

// heartbeatAll heartbeats every broker address of the cached routes,
// concurrently, and returns when all answered or timed out.
func (c *core) heartbeatAll(ctx context.Context) {
	body, ok := c.heartbeatBody()
	if !ok {
		return
	}
	var wg sync.WaitGroup
	for _, addr := range c.routes.allAddrs() {
		wg.Add(1)
		go func(addr string) {
			defer wg.Done()
			c.heartbeat(ctx, addr, body)
		}(addr)
	}
	wg.Wait()
}

func (c *core) heartbeat(ctx context.Context, addr string, body []byte) error {
	resp, err := c.invoke(ctx, addr, transport.NewRequest(transport.ReqHeartbeat, nil, body))
	c.reg.set(addr, err == nil && resp.Code == int16(transport.RespSuccess))
	if err != nil {
		c.logger.Debug("heartbeat failed", "addr", addr, "error", err)
		return err
	}
	if resp.Code != int16(transport.RespSuccess) {
		c.logger.Warn("heartbeat refused", "addr", addr, "code", resp.Code, "remark", resp.Remark)
		return brokerErr("heartbeat", addr, resp)
	}
	return nil
}
