package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger sends logs to t.Log so passing tests stay quiet.
func testLogger(t testing.TB) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "transport", Level: hclog.Debug, Output: tWriter{t}})
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// startServer serves on 127.0.0.1:0 and shuts down at cleanup.
func startServer(t testing.TB, mutate func(*ServerConfig), handlers map[RequestCode]HandlerFunc) (*Server, string) {
	t.Helper()
	cfg := DefaultServerConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = testLogger(t)
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := NewServer(cfg)
	require.NoError(t, err)
	for code, h := range handlers {
		s.Handle(code, h)
	}
	require.NoError(t, s.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
	})
	return s, s.Addr().String()
}

func newClient(t testing.TB, mutate func(*ClientConfig)) *Client {
	t.Helper()
	cfg := DefaultClientConfig()
	cfg.Logger = testLogger(t)
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// echo answers with the request's "n" ext field and body.
func echo(_ context.Context, _ *Conn, req *Command) *Command {
	resp := NewResponse(RespSuccess, "")
	resp.ExtFields = map[string]string{"n": req.ExtFields["n"]}
	resp.Body = bytes.Clone(req.Body)
	return resp
}

const (
	codeEcho  RequestCode = 9001
	codeBlock RequestCode = 9002
	codePush  RequestCode = 9003
)

func TestServer_ThousandConcurrentRequestsOneConnection(t *testing.T) {
	s, addr := startServer(t, nil, map[RequestCode]HandlerFunc{codeEcho: echo})
	c := newClient(t, nil)
	ctx := ctxTimeout(t, 30*time.Second)

	const n = 1000
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := []byte(strconv.Itoa(i * 7919))
			resp, err := c.Invoke(ctx, addr, NewRequest(codeEcho, map[string]string{"n": strconv.Itoa(i)}, body))
			switch {
			case err != nil:
				errs <- err
			case resp.Code != 0 || resp.ExtFields["n"] != strconv.Itoa(i) || string(resp.Body) != string(body) || !resp.IsResponse():
				errs <- fmt.Errorf("request %d got %v n=%q body=%q", i, resp, resp.ExtFields["n"], resp.Body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, s.Conns(), 1, "all requests share one connection")
}

func TestServer_BlockedHandlerDoesNotDelayOthers(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	_, addr := startServer(t, nil, map[RequestCode]HandlerFunc{
		codeEcho: echo,
		codeBlock: func(ctx context.Context, _ *Conn, req *Command) *Command {
			close(started)
			select { // a parked long-poll pull
			case <-release:
			case <-ctx.Done():
			}
			return NewResponse(RespSuccess, "late")
		},
	})
	c := newClient(t, nil)
	ctx := ctxTimeout(t, 20*time.Second)

	slow := make(chan *Command, 1)
	go func() {
		resp, err := c.Invoke(ctx, addr, NewRequest(codeBlock, nil, nil))
		if err != nil {
			resp = NewResponse(RespSystemError, err.Error())
		}
		slow <- resp
	}()
	<-started
	begin := time.Now()
	for i := range 200 {
		resp, err := c.Invoke(ctx, addr, NewRequest(codeEcho, map[string]string{"n": strconv.Itoa(i)}, nil))
		require.NoError(t, err)
		require.Equal(t, strconv.Itoa(i), resp.ExtFields["n"])
	}
	require.Less(t, time.Since(begin), 5*time.Second)
	select {
	case <-slow:
		t.Fatal("the parked request finished before it was released")
	default:
	}
	close(release)
	resp := <-slow
	require.Equal(t, "late", resp.Remark)
}

func TestServer_SleepingHandlerDoesNotDelayOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps 2 s")
	}
	_, addr := startServer(t, nil, map[RequestCode]HandlerFunc{
		codeEcho: echo,
		codeBlock: func(ctx context.Context, _ *Conn, _ *Command) *Command {
			time.Sleep(2 * time.Second) // the handler under test, not synchronisation
			return NewResponse(RespSuccess, "")
		},
	})
	c := newClient(t, nil)
	ctx := ctxTimeout(t, 20*time.Second)
	slowDone := make(chan time.Time, 1)
	begin := time.Now()
	require.NoError(t, c.InvokeAsync(ctx, addr, NewRequest(codeBlock, nil, nil), func(*Command, error) { slowDone <- time.Now() }))
	for range 50 {
		_, err := c.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil))
		require.NoError(t, err)
	}
	fastDone := time.Since(begin)
	slowAt := (<-slowDone).Sub(begin)
	require.Less(t, fastDone, time.Second, "50 requests behind a sleeping handler")
	require.GreaterOrEqual(t, slowAt, 2*time.Second)
}

// TestServer_PushInterleavedWithResponses: server-initiated oneway pushes
// and requests race with large responses on one socket; every frame must
// arrive whole.
func TestServer_PushInterleavedWithResponses(t *testing.T) {
	const workers, perWorker, pushes = 16, 20, 5
	payload := func(seed, size int) []byte {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(seed + i*31)
		}
		return b
	}
	var serverSideRequests atomic.Int32
	_, addr := startServer(t, nil, map[RequestCode]HandlerFunc{
		codePush: func(ctx context.Context, conn *Conn, req *Command) *Command {
			seed, _ := strconv.Atoi(req.ExtFields["n"])
			for p := range pushes {
				body := payload(seed+p, 1000+p*3000)
				push := NewRequest(ReqNotifyConsumerIDsChanged, map[string]string{"crc": strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10)}, body)
				if err := conn.Send(push); err != nil {
					return NewResponse(RespSystemError, err.Error())
				}
			}
			// A server->client request awaiting the client's answer.
			resp, err := conn.Request(ctx, NewRequest(ReqGetConsumerRunningInfo, map[string]string{"n": req.ExtFields["n"]}, nil))
			if err != nil || resp.ExtFields["n"] != req.ExtFields["n"] {
				return NewResponse(RespSystemError, fmt.Sprintf("server request: %v %v", err, resp))
			}
			serverSideRequests.Add(1)
			r := NewResponse(RespSuccess, "")
			r.Body = payload(seed, 64<<10)
			return r
		},
	})
	var pushed, badPush atomic.Int32
	c := newClient(t, nil)
	c.Handle(ReqNotifyConsumerIDsChanged, func(_ context.Context, _ *Conn, req *Command) *Command {
		if strconv.FormatUint(uint64(crc32.ChecksumIEEE(req.Body)), 10) != req.ExtFields["crc"] || !req.IsOneway() {
			badPush.Add(1)
		}
		pushed.Add(1)
		return nil
	})
	c.Handle(ReqGetConsumerRunningInfo, func(_ context.Context, _ *Conn, req *Command) *Command {
		r := NewResponse(RespSuccess, "")
		r.ExtFields = map[string]string{"n": req.ExtFields["n"]}
		return r
	})
	ctx := ctxTimeout(t, 60*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				seed := w*1000 + i
				resp, err := c.Invoke(ctx, addr, NewRequest(codePush, map[string]string{"n": strconv.Itoa(seed)}, nil))
				if err != nil {
					errs <- err
					continue
				}
				if resp.Code != 0 || !bytes.Equal(resp.Body, payload(seed, 64<<10)) {
					errs <- fmt.Errorf("bad response for %d: %v", seed, resp)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int32(workers*perWorker), serverSideRequests.Load())
	// Pushes are oneway: each was written before its request's response,
	// and the client reads in order, so all have been dispatched by now;
	// their handlers may still be running. Close waits for them.
	require.NoError(t, c.Close())
	require.Equal(t, int32(workers*perWorker*pushes), pushed.Load())
	require.Zero(t, badPush.Load())
}

func TestServer_ShutdownDrainsInflight(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	cfg := DefaultServerConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = testLogger(t)
	s, err := NewServer(cfg)
	require.NoError(t, err)
	s.Handle(codeEcho, echo)
	s.Handle(codeBlock, func(ctx context.Context, _ *Conn, _ *Command) *Command {
		close(started)
		<-release
		return NewResponse(RespSuccess, "drained")
	})
	require.NoError(t, s.Start())
	addr := s.Addr().String()
	c := newClient(t, nil)
	ctx := ctxTimeout(t, 20*time.Second)

	inflight := make(chan *Command, 1)
	require.NoError(t, c.InvokeAsync(ctx, addr, NewRequest(codeBlock, nil, nil), func(r *Command, err error) {
		if err != nil {
			r = NewResponse(RespSystemError, err.Error())
		}
		inflight <- r
	}))
	<-started
	shutdownDone := make(chan error, 1)
	go func() { shutdownDone <- s.Shutdown(ctx) }()

	// While draining, new requests on the open connection are refused with a
	// retriable code, and Shutdown has not returned.
	require.Eventually(t, func() bool {
		resp, err := c.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil))
		return err == nil && resp.Code == int16(RespServiceNotAvailable)
	}, 10*time.Second, time.Millisecond)
	select {
	case err := <-shutdownDone:
		t.Fatalf("Shutdown returned %v before the in-flight handler finished", err)
	default:
	}
	// New connections are refused.
	_, err = net.DialTimeout("tcp", addr, time.Second)
	require.Error(t, err)

	close(release)
	require.Equal(t, "drained", (<-inflight).Remark)
	require.NoError(t, <-shutdownDone)
	require.ErrorIs(t, s.Start(), ErrServerClosed)
}

func TestServer_ShutdownDeadlineCancelsHandlers(t *testing.T) {
	cfg := DefaultServerConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = testLogger(t)
	s, err := NewServer(cfg)
	require.NoError(t, err)
	started := make(chan struct{})
	s.Handle(codeBlock, func(ctx context.Context, _ *Conn, _ *Command) *Command {
		close(started)
		<-ctx.Done()
		return NewResponse(RespSystemError, "cancelled")
	})
	require.NoError(t, s.Start())
	c := newClient(t, nil)
	got := make(chan error, 1)
	require.NoError(t, c.InvokeAsync(ctxTimeout(t, 20*time.Second), s.Addr().String(), NewRequest(codeBlock, nil, nil),
		func(_ *Command, err error) { got <- err }))
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, s.Shutdown(ctx), context.DeadlineExceeded)
	// The handler's late response raced with closing; either way the caller hears back.
	<-got
}

// rawConn dials the server and exchanges raw frames.
func rawConn(t *testing.T, addr string) net.Conn {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(10*time.Second)))
	return nc
}

func TestServer_BadFramesCloseOnlyThatConnection(t *testing.T) {
	closed := make(chan uint64, 10)
	s, addr := startServer(t, func(c *ServerConfig) { c.MaxFrameSize = 64 << 10 }, map[RequestCode]HandlerFunc{codeEcho: echo})
	s.OnConnClose(func(c *Conn) { closed <- c.ID() })
	c := newClient(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	_, err := c.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil))
	require.NoError(t, err)

	bad := map[string][]byte{
		"oversized":      {0x00, 0x10, 0x00, 0x00},
		"negative":       {0xFF, 0xFF, 0xFF, 0xFF},
		"tiny length":    {0, 0, 0, 1, 0},
		"bad json":       rawFrame(SerializeJSON, []byte(`{"code":`), nil),
		"unknown type":   rawFrame(5, []byte(`{}`), nil),
		"bad binary hdr": rawFrame(SerializeRocketMQ, []byte{1, 2, 3}, nil),
	}
	for name, frame := range bad {
		t.Run(name, func(t *testing.T) {
			nc := rawConn(t, addr)
			_, err := nc.Write(frame)
			require.NoError(t, err)
			// Half-close: an oversized frame's header never comes.
			require.NoError(t, nc.(*net.TCPConn).CloseWrite())
			_, err = io.ReadAll(nc) // the server closes: EOF (or reset)
			if err != nil {
				require.ErrorContains(t, err, "reset")
			}
			<-closed
		})
	}
	// The good connection is untouched.
	resp, err := c.Invoke(ctx, addr, NewRequest(codeEcho, map[string]string{"n": "ok"}, nil))
	require.NoError(t, err)
	require.Equal(t, "ok", resp.ExtFields["n"])
	require.Len(t, s.Conns(), 1)
}

func TestServer_UnknownCodePanicAndOneway(t *testing.T) {
	onewaySeen := make(chan string, 1)
	_, addr := startServer(t, nil, map[RequestCode]HandlerFunc{
		codeEcho: echo,
		codeBlock: func(context.Context, *Conn, *Command) *Command {
			panic("boom")
		},
		codePush: func(_ context.Context, _ *Conn, req *Command) *Command {
			onewaySeen <- req.ExtFields["n"]
			return NewResponse(RespSuccess, "must not be sent")
		},
	})
	c := newClient(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)

	resp, err := c.Invoke(ctx, addr, NewRequest(999, nil, nil))
	require.NoError(t, err)
	require.Equal(t, int16(RespRequestCodeNotSupported), resp.Code)
	require.Equal(t, "request type 999 not supported", resp.Remark)

	resp, err = c.Invoke(ctx, addr, NewRequest(codeBlock, nil, nil))
	require.NoError(t, err)
	require.Equal(t, int16(RespSystemError), resp.Code)

	// Oneway on a raw socket: the handler runs and nothing comes back
	// before the answer to the next, normal request.
	nc := rawConn(t, addr)
	ow := NewRequest(codePush, map[string]string{"n": "x"}, nil)
	ow.Opaque, ow.Flag = 1, FlagOneway
	frames, err := AppendFrame(nil, ow, SerializeJSON)
	require.NoError(t, err)
	normal := NewRequest(codeEcho, map[string]string{"n": "y"}, nil)
	normal.Opaque = 2
	frames, err = AppendFrame(frames, normal, SerializeJSON)
	require.NoError(t, err)
	_, err = nc.Write(frames)
	require.NoError(t, err)
	require.Equal(t, "x", <-onewaySeen)
	got, err := ReadFrame(nc, 0)
	require.NoError(t, err)
	require.Equal(t, int32(2), got.Opaque)
	require.True(t, got.IsResponse())
	require.Equal(t, "y", got.ExtFields["n"])
	// The captured official-client request frame is answered with flag 1 and
	// its opaque, extFields as strings.
	_, err = nc.Write(rawFrame(SerializeJSON, []byte(`{"code":9001,"language":"GO","version":317,"opaque":77,"flag":0,"remark":"","extFields":{"n":"5"}}`), nil))
	require.NoError(t, err)
	var lenWord [4]byte
	_, err = io.ReadFull(nc, lenWord[:])
	require.NoError(t, err)
	rest := make([]byte, binary.BigEndian.Uint32(lenWord[:]))
	_, err = io.ReadFull(nc, rest)
	require.NoError(t, err)
	require.Equal(t, `{"code":0,"language":"GO","version":317,"opaque":77,"flag":1,"remark":"","extFields":{"n":"5"}}`, string(rest[4:]))
}

func TestServer_MaxInflightPerConn(t *testing.T) {
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(2)
	_, addr := startServer(t, func(c *ServerConfig) { c.MaxInflightPerConn = 2 }, map[RequestCode]HandlerFunc{
		codeEcho: echo,
		codeBlock: func(context.Context, *Conn, *Command) *Command {
			started.Done()
			<-release
			return NewResponse(RespSuccess, "")
		},
	})
	c := newClient(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	done := make(chan error, 2)
	for range 2 {
		require.NoError(t, c.InvokeAsync(ctx, addr, NewRequest(codeBlock, nil, nil), func(_ *Command, err error) { done <- err }))
	}
	started.Wait()
	resp, err := c.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil))
	require.NoError(t, err)
	require.Equal(t, int16(RespSystemBusy), resp.Code)
	close(release)
	require.NoError(t, <-done)
	require.NoError(t, <-done)
	resp, err = c.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil))
	require.NoError(t, err)
	require.Equal(t, int16(RespSuccess), resp.Code)
}

func TestServer_IdleTimeoutAndConnValue(t *testing.T) {
	closed := make(chan any, 1)
	s, addr := startServer(t, func(c *ServerConfig) { c.IdleTimeout = 200 * time.Millisecond }, map[RequestCode]HandlerFunc{
		codeEcho: func(ctx context.Context, c *Conn, req *Command) *Command {
			c.SetValue("client-" + req.ExtFields["n"])
			return echo(ctx, c, req)
		},
	})
	s.OnConnClose(func(c *Conn) { closed <- c.Value() })
	c := newClient(t, nil)
	_, err := c.Invoke(ctxTimeout(t, 5*time.Second), addr, NewRequest(codeEcho, map[string]string{"n": "7"}, nil))
	require.NoError(t, err)
	clientConn, err := c.conn(ctxTimeout(t, time.Second), addr)
	require.NoError(t, err)
	begin := time.Now()
	require.Equal(t, "client-7", <-closed)
	require.Less(t, time.Since(begin), 5*time.Second)
	// Once the client has seen the close, the next request re-dials.
	<-clientConn.Done()
	_, err = c.Invoke(ctxTimeout(t, 5*time.Second), addr, NewRequest(codeEcho, nil, nil))
	require.NoError(t, err)
}

func TestServer_BinaryHeaderResponses(t *testing.T) {
	_, addr := startServer(t, func(c *ServerConfig) { c.HeaderType = SerializeRocketMQ }, map[RequestCode]HandlerFunc{codeEcho: echo})
	c := newClient(t, nil)
	resp, err := c.Invoke(ctxTimeout(t, 5*time.Second), addr, NewRequest(codeEcho, map[string]string{"n": "bin"}, []byte("b")))
	require.NoError(t, err)
	require.Equal(t, "bin", resp.ExtFields["n"])
	require.Equal(t, "b", string(resp.Body))
}

func TestServerConfig_Validate(t *testing.T) {
	good := DefaultServerConfig()
	require.NoError(t, good.Validate())
	for _, mutate := range []func(*ServerConfig){
		func(c *ServerConfig) { c.MaxFrameSize = 10 },
		func(c *ServerConfig) { c.IdleTimeout = -1 },
		func(c *ServerConfig) { c.WriteTimeout = -1 },
		func(c *ServerConfig) { c.MaxInflightPerConn = 0 },
		func(c *ServerConfig) { c.HeaderType = 9 },
	} {
		cfg := DefaultServerConfig()
		mutate(&cfg)
		require.Error(t, cfg.Validate())
		_, err := NewServer(cfg)
		require.Error(t, err)
	}
	cc := DefaultClientConfig()
	require.NoError(t, cc.Validate())
	cc.DialTimeout = 0
	_, err := NewClient(cc)
	require.Error(t, err)
}

func TestServer_ServeOnListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg := DefaultServerConfig()
	cfg.Logger = testLogger(t)
	s, err := NewServer(cfg)
	require.NoError(t, err)
	s.Handle(codeEcho, echo)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	c := newClient(t, nil)
	_, err = c.Invoke(ctxTimeout(t, 5*time.Second), ln.Addr().String(), NewRequest(codeEcho, nil, nil))
	require.NoError(t, err)
	require.NoError(t, s.Shutdown(ctxTimeout(t, 5*time.Second)))
	require.ErrorIs(t, <-served, ErrServerClosed)
	require.NoError(t, c.Close())
	require.True(t, errors.Is(s.Serve(ln), ErrServerClosed))
}

// TestServer_AnswersInTheRequestsEncoding: a request with a binary header
// gets a binary-header response, a JSON one a JSON response (RocketMQ
// answers in the request's serializeTypeCurrentRPC), whatever the server's
// default.
func TestServer_AnswersInTheRequestsEncoding(t *testing.T) {
	_, addr := startServer(t, nil, map[RequestCode]HandlerFunc{codeEcho: echo})
	for _, st := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
		nc := rawConn(t, addr)
		req := NewRequest(codeEcho, map[string]string{"n": "7"}, []byte("body"))
		req.Opaque = 42
		wire, resp := rawRoundTrip(t, nc, req, st)
		require.Equal(t, st, wire, "the response header's encoding")
		require.Equal(t, int32(42), resp.Opaque)
		require.Equal(t, "7", resp.ExtFields["n"])
		require.Equal(t, "body", string(resp.Body))
		nc.Close()
	}
}

// TestConn_RemoteAddrPort: the peer's address as a plain IPv4 AddrPort
// (what a send's BORN_HOST falls back to).
func TestConn_RemoteAddrPort(t *testing.T) {
	_, addr := startServer(t, nil, map[RequestCode]HandlerFunc{codeEcho: func(_ context.Context, c *Conn, _ *Command) *Command {
		ap, ok := c.RemoteAddrPort()
		resp := NewResponse(RespSuccess, "")
		resp.ExtFields = map[string]string{"ap": ap.String(), "ok": strconv.FormatBool(ok), "is4": strconv.FormatBool(ap.Addr().Is4())}
		return resp
	}})
	nc := rawConn(t, addr)
	defer nc.Close()
	_, resp := rawRoundTrip(t, nc, NewRequest(codeEcho, nil, nil), SerializeJSON)
	require.Equal(t, nc.LocalAddr().String(), resp.ExtFields["ap"])
	require.Equal(t, "true", resp.ExtFields["ok"])
	require.Equal(t, "true", resp.ExtFields["is4"])
}

// rawRoundTrip writes req on nc with header encoding st and reads one
// frame back: its header encoding and the decoded command.
func rawRoundTrip(t *testing.T, nc net.Conn, req *Command, st SerializeType) (SerializeType, *Command) {
	t.Helper()
	frame, err := AppendFrame(nil, req, st)
	require.NoError(t, err)
	_, err = nc.Write(frame)
	require.NoError(t, err)
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(10*time.Second)))
	var head [8]byte
	_, err = io.ReadFull(nc, head[:])
	require.NoError(t, err)
	rest := make([]byte, binary.BigEndian.Uint32(head[:4])-4)
	_, err = io.ReadFull(nc, rest)
	require.NoError(t, err)
	var resp Command
	_, err = DecodeFrame(append(head[:], rest...), &resp, 0)
	require.NoError(t, err)
	return SerializeType(head[4]), &resp
}
