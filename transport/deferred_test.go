package transport

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const codeFast RequestCode = 9010

// deferrer answers taken requests later, from one goroutine of its own
// (as the group's proposer does), in the order it took them.
type deferrer struct {
	ch   chan func()
	done chan struct{}
}

func newDeferrer(t *testing.T) *deferrer {
	d := &deferrer{ch: make(chan func(), 4096), done: make(chan struct{})}
	go func() {
		defer close(d.done)
		for f := range d.ch {
			f()
		}
	}()
	t.Cleanup(func() { close(d.ch); <-d.done })
	return d
}

func TestServer_FastHandlerAnswersLaterInOrder(t *testing.T) {
	s, addr := startServer(t, nil, map[RequestCode]HandlerFunc{
		codeFast: func(context.Context, *Conn, *Command) *Command { return NewResponse(RespSuccess, "worker") },
	})
	later := newDeferrer(t)
	var mu sync.Mutex
	var order []int
	var readerTaken, passed int
	s.HandleFast(codeFast, func(c *Conn, req *Command, d Deferred) bool {
		n, err := strconv.Atoi(req.Ext("n"))
		require.NoError(t, err)
		if n%10 == 9 {
			mu.Lock()
			passed++
			mu.Unlock()
			return false // to the worker handler
		}
		body := append([]byte(nil), req.Body...) // req is recycled on return
		mu.Lock()
		order = append(order, n)
		readerTaken++
		mu.Unlock()
		later.ch <- func() {
			resp := NewResponse(RespSuccess, "fast")
			resp.ExtFields = map[string]string{"n": strconv.Itoa(n)}
			resp.Body = body
			d.Reply(resp)
		}
		return true
	})
	c := newClient(t, nil)
	ctx := ctxTimeout(t, 20*time.Second)

	// One goroutine sends in order, many requests in flight at once.
	const n = 500
	type res struct {
		i    int
		resp *Command
		err  error
	}
	results := make(chan res, n)
	for i := range n {
		req := NewRequest(codeFast, map[string]string{"n": strconv.Itoa(i)}, []byte("body"+strconv.Itoa(i)))
		require.NoError(t, c.InvokeAsync(ctx, addr, req, func(r *Command, err error) { results <- res{i, r, err} }))
	}
	for range n {
		r := <-results
		require.NoError(t, r.err)
		require.Equal(t, int16(RespSuccess), r.resp.Code)
		if r.i%10 == 9 {
			require.Equal(t, "worker", r.resp.Remark)
			continue
		}
		require.Equal(t, "fast", r.resp.Remark)
		require.Equal(t, strconv.Itoa(r.i), r.resp.ExtFields["n"])
		require.Equal(t, "body"+strconv.Itoa(r.i), string(r.resp.Body))
	}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, n/10, passed)
	require.Equal(t, n-n/10, readerTaken)
	for i := 1; i < len(order); i++ {
		require.Less(t, order[i-1], order[i], "one connection's requests reach the fast handler in order")
	}
}

func TestServer_FastHandlerAuthorizeOnewayPanicAndLimit(t *testing.T) {
	held := make(chan Deferred, 8)
	var workerRuns sync.WaitGroup
	s, addr := startServer(t, func(c *ServerConfig) {
		c.MaxInflightPerConn = 2
		c.Authorize = func(_ *Conn, req *Command) *Command {
			if req.Ext("deny") != "" {
				return NewResponse(RespNoPermission, "denied")
			}
			return nil
		}
	}, map[RequestCode]HandlerFunc{
		codeFast: func(_ context.Context, _ *Conn, req *Command) *Command {
			defer workerRuns.Done()
			return NewResponse(RespSuccess, "worker")
		},
		codeEcho: echo,
	})
	s.HandleFast(codeFast, func(c *Conn, req *Command, d Deferred) bool {
		switch req.Ext("mode") {
		case "panic":
			panic("fast handler bug")
		case "pass":
			return false
		case "hold":
			held <- d
			return true
		}
		d.Reply(NewResponse(RespSuccess, "now"))
		return true
	})
	c := newClient(t, nil)
	ctx := ctxTimeout(t, 20*time.Second)
	call := func(ext map[string]string) *Command {
		resp, err := c.Invoke(ctx, addr, NewRequest(codeFast, ext, nil))
		require.NoError(t, err)
		return resp
	}

	// The authorizer refuses on the reader, before the fast handler, and
	// is not asked twice for a request passed on.
	require.Equal(t, int16(RespNoPermission), call(map[string]string{"deny": "1", "mode": "panic"}).Code)
	workerRuns.Add(1)
	require.Equal(t, "worker", call(map[string]string{"mode": "pass"}).Remark)
	require.Equal(t, "now", call(nil).Remark)
	// A panic before taking the request answers SYSTEM_ERROR and releases it.
	resp := call(map[string]string{"mode": "panic"})
	require.Equal(t, int16(RespSystemError), resp.Code)

	// A oneway request taken and answered sends nothing and is released.
	require.NoError(t, c.InvokeOneway(ctx, addr, NewRequest(codeFast, nil, nil)))

	// Held requests count against the in-flight limit until answered.
	done := make(chan *Command, 2)
	for range 2 {
		require.NoError(t, c.InvokeAsync(ctx, addr, NewRequest(codeFast, map[string]string{"mode": "hold"}, nil), func(r *Command, err error) {
			require.NoError(t, err)
			done <- r
		}))
	}
	d1, d2 := <-held, <-held
	require.Eventually(t, func() bool {
		resp, err := c.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil))
		return err == nil && resp.Code == int16(RespSystemBusy)
	}, 5*time.Second, time.Millisecond)
	d1.Reply(NewResponse(RespSuccess, "held"))
	d2.Reply(NewResponse(RespSuccess, "held"))
	require.Equal(t, "held", (<-done).Remark)
	require.Equal(t, "held", (<-done).Remark)
	require.Equal(t, int16(RespSuccess), call(nil).Code)
	workerRuns.Wait()
}

func TestServer_ShutdownWaitsForDeferredReplies(t *testing.T) {
	cfg := DefaultServerConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = testLogger(t)
	s, err := NewServer(cfg)
	require.NoError(t, err)
	held := make(chan Deferred, 1)
	s.Handle(codeFast, func(context.Context, *Conn, *Command) *Command { return NewResponse(RespSystemError, "not here") })
	s.HandleFast(codeFast, func(_ *Conn, _ *Command, d Deferred) bool { held <- d; return true })
	require.NoError(t, s.Start())
	addr := s.Addr().String()
	c := newClient(t, nil)
	ctx := ctxTimeout(t, 20*time.Second)

	got := make(chan *Command, 1)
	require.NoError(t, c.InvokeAsync(ctx, addr, NewRequest(codeFast, nil, nil), func(r *Command, err error) {
		if err != nil {
			r = NewResponse(RespSystemError, err.Error())
		}
		got <- r
	}))
	d := <-held
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v before the deferred request was answered", err)
	case <-time.After(200 * time.Millisecond):
	}
	d.Reply(NewResponse(RespSuccess, "late"))
	require.Equal(t, "late", (<-got).Remark)
	require.NoError(t, <-shut)
}
