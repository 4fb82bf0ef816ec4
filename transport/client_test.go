package transport

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestClient_TimeoutAndLateResponse(t *testing.T) {
	release := make(chan struct{})
	_, addr := startServer(t, nil, map[RequestCode]HandlerFunc{
		codeEcho: echo,
		codeBlock: func(ctx context.Context, _ *Conn, _ *Command) *Command {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return NewResponse(RespSuccess, "late")
		},
	})
	defer close(release)
	c := newClient(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Invoke(ctx, addr, NewRequest(codeBlock, nil, nil))
	require.ErrorIs(t, err, ErrTimeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), "RequestCode(9002)")

	// A cancelled (not timed out) context is not ErrTimeout.
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	_, err = c.Invoke(cctx, addr, NewRequest(codeBlock, nil, nil))
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, ErrTimeout)

	// The connection stays usable.
	_, err = c.Invoke(ctxTimeout(t, 5*time.Second), addr, NewRequest(codeEcho, nil, nil))
	require.NoError(t, err)
}

func TestClient_PendingFailFastWhenConnectionDies(t *testing.T) {
	started := make(chan struct{}, 10)
	s, addr := startServer(t, nil, map[RequestCode]HandlerFunc{
		codeEcho: echo,
		codeBlock: func(ctx context.Context, _ *Conn, _ *Command) *Command {
			started <- struct{}{}
			<-ctx.Done()
			return nil
		},
	})
	c := newClient(t, nil)
	ctx := ctxTimeout(t, 30*time.Second)
	const n = 5
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := c.Invoke(ctx, addr, NewRequest(codeBlock, nil, nil))
			errs <- err
		}()
	}
	asyncErr := make(chan error, 1)
	require.NoError(t, c.InvokeAsync(ctx, addr, NewRequest(codeBlock, nil, nil), func(_ *Command, err error) { asyncErr <- err }))
	for range n + 1 {
		<-started
	}
	begin := time.Now()
	conns := s.Conns()
	require.Len(t, conns, 1)
	require.NoError(t, conns[0].Close())
	for range n {
		require.ErrorIs(t, <-errs, ErrConnClosed)
	}
	require.ErrorIs(t, <-asyncErr, ErrConnClosed)
	require.Less(t, time.Since(begin), 5*time.Second)

	// Next request re-dials.
	resp, err := c.Invoke(ctx, addr, NewRequest(codeEcho, map[string]string{"n": "again"}, nil))
	require.NoError(t, err)
	require.Equal(t, "again", resp.ExtFields["n"])
}

func TestClient_DialFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	c := newClient(t, nil)
	_, err = c.Invoke(ctxTimeout(t, 5*time.Second), addr, NewRequest(codeEcho, nil, nil))
	require.ErrorIs(t, err, ErrConnClosed)
	require.ErrorIs(t, c.InvokeAsync(ctxTimeout(t, 5*time.Second), addr, NewRequest(codeEcho, nil, nil), func(*Command, error) {
		t.Error("callback after a failed InvokeAsync")
	}), ErrConnClosed)
	require.ErrorIs(t, c.InvokeOneway(ctxTimeout(t, 5*time.Second), addr, NewRequest(codeEcho, nil, nil)), ErrConnClosed)
}

func TestClient_AsyncAndOneway(t *testing.T) {
	oneway := make(chan string, 1)
	_, addr := startServer(t, nil, map[RequestCode]HandlerFunc{
		codeEcho: echo,
		codePush: func(_ context.Context, _ *Conn, req *Command) *Command {
			oneway <- req.ExtFields["n"]
			return NewResponse(RespSuccess, "")
		},
		codeBlock: func(ctx context.Context, _ *Conn, _ *Command) *Command {
			<-ctx.Done()
			return nil
		},
	})
	c := newClient(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)

	const n = 200
	var wg sync.WaitGroup
	wg.Add(n)
	var mu sync.Mutex
	got := map[string]bool{}
	for i := range n {
		require.NoError(t, c.InvokeAsync(ctx, addr, NewRequest(codeEcho, map[string]string{"n": strconv.Itoa(i)}, nil),
			func(r *Command, err error) {
				defer wg.Done()
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					got[r.ExtFields["n"]] = true
				}
			}))
	}
	wg.Wait()
	require.Len(t, got, n)

	// Async timeout.
	tctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	terr := make(chan error, 1)
	require.NoError(t, c.InvokeAsync(tctx, addr, NewRequest(codeBlock, nil, nil), func(_ *Command, err error) { terr <- err }))
	require.ErrorIs(t, <-terr, ErrTimeout)

	require.NoError(t, c.InvokeOneway(ctx, addr, NewRequest(codePush, map[string]string{"n": "ow"}, nil)))
	require.Equal(t, "ow", <-oneway)
}

func TestClient_CloseFailsPendingAndLaterCalls(t *testing.T) {
	started := make(chan struct{})
	_, addr := startServer(t, nil, map[RequestCode]HandlerFunc{
		codeBlock: func(ctx context.Context, _ *Conn, _ *Command) *Command {
			close(started)
			<-ctx.Done()
			return nil
		},
	})
	cfg := DefaultClientConfig()
	cfg.Logger = testLogger(t)
	c, err := NewClient(cfg)
	require.NoError(t, err)
	ctx := ctxTimeout(t, 10*time.Second)
	errc := make(chan error, 1)
	require.NoError(t, c.InvokeAsync(ctx, addr, NewRequest(codeBlock, nil, nil), func(_ *Command, err error) { errc <- err }))
	<-started
	require.NoError(t, c.Close())
	err = <-errc // Close waited for the callback, so it has run
	require.ErrorIs(t, err, ErrConnClosed)
	require.ErrorIs(t, err, ErrClosed)
	_, err = c.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil))
	require.ErrorIs(t, err, ErrClosed)
	require.NoError(t, c.Close())
}

func TestClient_ConcurrentDialsShareOneConnection(t *testing.T) {
	s, addr := startServer(t, nil, map[RequestCode]HandlerFunc{codeEcho: echo})
	c := newClient(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, s.Conns(), 1)
	c.CloseConn(addr)
	_, err := c.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil))
	require.NoError(t, err)
}

func TestClient_UnhandledServerRequest(t *testing.T) {
	reply := make(chan *Command, 1)
	replyErr := make(chan error, 1)
	_, addr := startServer(t, nil, map[RequestCode]HandlerFunc{
		codeEcho: func(ctx context.Context, conn *Conn, req *Command) *Command {
			r, err := conn.Request(ctx, NewRequest(ReqGetConsumerRunningInfo, nil, nil))
			reply <- r
			replyErr <- err
			return echo(ctx, conn, req)
		},
	})
	c := newClient(t, nil)
	_, err := c.Invoke(ctxTimeout(t, 5*time.Second), addr, NewRequest(codeEcho, nil, nil))
	require.NoError(t, err)
	require.NoError(t, <-replyErr)
	require.Equal(t, int16(RespRequestCodeNotSupported), (<-reply).Code)
}

func TestConn_ErrorsAfterClose(t *testing.T) {
	_, addr := startServer(t, nil, map[RequestCode]HandlerFunc{codeEcho: echo})
	c := newClient(t, nil)
	ctx := ctxTimeout(t, 5*time.Second)
	conn, err := c.conn(ctx, addr)
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	<-conn.Done()
	_, err = conn.Request(ctx, NewRequest(codeEcho, nil, nil))
	require.ErrorIs(t, err, ErrConnClosed)
	require.True(t, errors.Is(conn.Send(NewRequest(codeEcho, nil, nil)), ErrConnClosed))
}

// InvokeTimeout times a request out like a deadline does, on a live
// connection and through a dial alike.
func TestClient_InvokeTimeout(t *testing.T) {
	const codeSlow, codeFast RequestCode = 9001, 9002
	_, addr := startServer(t, nil, map[RequestCode]HandlerFunc{
		codeSlow: func(ctx context.Context, _ *Conn, _ *Command) *Command {
			<-ctx.Done() // never answers in time
			return nil
		},
		codeFast: func(context.Context, *Conn, *Command) *Command { return NewResponse(RespSuccess, "") },
	})
	cfg := DefaultClientConfig()
	cfg.Logger = testLogger(t)
	cl, err := NewClient(cfg)
	require.NoError(t, err)
	defer cl.Close()
	ctx := ctxTimeout(t, 30*time.Second)
	// Through a dial (no connection yet).
	_, err = cl.InvokeTimeout(ctx, addr, NewRequest(codeSlow, nil, nil), 100*time.Millisecond)
	require.ErrorIs(t, err, ErrTimeout)
	// On the live connection.
	require.NotNil(t, cl.live(addr))
	start := time.Now()
	_, err = cl.InvokeTimeout(ctx, addr, NewRequest(codeSlow, nil, nil), 100*time.Millisecond)
	require.ErrorIs(t, err, ErrTimeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second)
	resp, err := cl.InvokeTimeout(ctx, addr, NewRequest(codeFast, nil, nil), 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, int16(RespSuccess), resp.Code)
	// The caller's cancellation still ends it.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = cl.InvokeTimeout(cctx, addr, NewRequest(codeSlow, nil, nil), 20*time.Second)
	require.ErrorIs(t, err, context.Canceled)
}

// When the client's Context ends, a request in flight fails at once and
// new ones are refused, though the connection is still open.
func TestClient_ContextEndsRequests(t *testing.T) {
	const codeSlow RequestCode = 9003
	started := make(chan struct{}, 1)
	_, addr := startServer(t, nil, map[RequestCode]HandlerFunc{
		codeSlow: func(ctx context.Context, _ *Conn, _ *Command) *Command {
			started <- struct{}{}
			<-ctx.Done()
			return nil
		},
	})
	base, cancel := context.WithCancel(context.Background())
	cfg := DefaultClientConfig()
	cfg.Logger = testLogger(t)
	cfg.Context = base
	cl, err := NewClient(cfg)
	require.NoError(t, err)
	defer cl.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := cl.InvokeTimeout(context.Background(), addr, NewRequest(codeSlow, nil, nil), time.Minute)
		errc <- err
	}()
	<-started
	cancel()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("the request outlived the client's context")
	}
	_, err = cl.InvokeTimeout(context.Background(), addr, NewRequest(codeSlow, nil, nil), time.Minute)
	require.ErrorIs(t, err, ErrClosed)
}

// Recycled calls (syncCalls) never hand one request's response to another:
// requests whose contexts end around the time their responses arrive
// (either may win), interleaved with requests that complete, each see
// only their own answer.
func TestClient_RecycledCallsKeepResponsesApart(t *testing.T) {
	_, addr := startServer(t, nil, map[RequestCode]HandlerFunc{
		codeEcho: func(ctx context.Context, c *Conn, req *Command) *Command {
			n, _ := strconv.Atoi(req.ExtFields["n"])
			time.Sleep(time.Duration(n%7) * 100 * time.Microsecond)
			return echo(ctx, c, req)
		},
	})
	c := newClient(t, nil)
	var wg sync.WaitGroup
	var ok, ended sync.Map
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				n := strconv.Itoa(g*1000 + i)
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%5)*150*time.Microsecond+50*time.Microsecond)
				if i%3 == 0 {
					ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
				}
				resp, err := c.Invoke(ctx, addr, NewRequest(codeEcho, map[string]string{"n": n}, []byte(n)))
				cancel()
				if err != nil {
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("request %s: %v", n, err)
						return
					}
					ended.Store(n, true)
					continue
				}
				if string(resp.Body) != n || resp.ExtFields["n"] != n {
					t.Errorf("request %s got the response of %q/%q", n, resp.Body, resp.ExtFields["n"])
					return
				}
				ok.Store(n, true)
			}
		}()
	}
	wg.Wait()
	count := func(m *sync.Map) (k int) { m.Range(func(any, any) bool { k++; return true }); return }
	t.Logf("%d answered, %d timed out", count(&ok), count(&ended))
	require.Positive(t, count(&ok))
}
