package transport

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// An oversized request is answered with a clear code and its body is
// skipped: the connection stays usable (a reset would hide the reason).
func TestServer_OversizedFrameIsAnsweredAndSkipped(t *testing.T) {
	_, addr := startServer(t, func(c *ServerConfig) { c.MaxFrameSize = 64 << 10 }, map[RequestCode]HandlerFunc{codeEcho: echo})
	nc := rawConn(t, addr)
	big := NewRequest(codeEcho, map[string]string{"n": "big"}, bytes.Repeat([]byte("x"), 200<<10))
	big.Opaque = 7
	f1, err := AppendFrame(nil, big, SerializeJSON)
	require.NoError(t, err)
	small := NewRequest(codeEcho, map[string]string{"n": "after"}, nil)
	small.Opaque = 8
	f2, err := AppendFrame(nil, small, SerializeJSON)
	require.NoError(t, err)
	go func() { _, _ = nc.Write(append(f1, f2...)) }()

	r1, err := ReadFrame(nc, 0)
	require.NoError(t, err)
	require.True(t, r1.IsResponse())
	require.Equal(t, int32(7), r1.Opaque)
	require.Equal(t, int16(RespMessageIllegal), r1.Code)
	require.Contains(t, r1.Remark, "over the broker's limit of 65536 bytes")
	r2, err := ReadFrame(nc, 0)
	require.NoError(t, err)
	require.Equal(t, int32(8), r2.Opaque)
	require.Equal(t, "after", r2.ExtFields["n"])
}

// Frames that trickle in hold memory as they arrive (not as declared),
// from a budget shared by all connections, and must finish within the
// frame timeout; complete requests on other connections are unaffected.
func TestServer_SlowFramesAreBoundedAndTimeOut(t *testing.T) {
	const budget = 1 << 20
	s, addr := startServer(t, func(c *ServerConfig) {
		c.MaxFrameSize = budget
		c.MaxPendingFrameBytes = budget
		c.FrameTimeout = 700 * time.Millisecond
	}, map[RequestCode]HandlerFunc{codeEcho: echo})
	var conns []net.Conn
	for i := 0; i < 50; i++ {
		nc := rawConn(t, addr)
		// Declares 900 KiB, sends 10 bytes of it.
		hdr := binary.BigEndian.AppendUint32(nil, 900<<10)
		hdr = append(hdr, 0, 0, 0, 2, '{', '}', 'x', 'x', 'x', 'x')
		_, err := nc.Write(hdr)
		require.NoError(t, err)
		conns = append(conns, nc)
	}
	c := newClient(t, nil)
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		require.LessOrEqual(t, s.PendingFrameBytes(), int64(budget))
		resp, err := c.Invoke(ctxTimeout(t, 5*time.Second), addr, NewRequest(codeEcho, map[string]string{"n": "live"}, nil))
		require.NoError(t, err)
		require.Equal(t, "live", resp.ExtFields["n"])
	}
	require.Greater(t, s.PendingFrameBytes(), int64(0))
	// Every slow connection is closed once its frame deadline passes.
	var wg sync.WaitGroup
	for _, nc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := io.ReadAll(nc)
			if err != nil {
				require.ErrorContains(t, err, "reset")
			}
		}()
	}
	wg.Wait()
	require.Eventually(t, func() bool { return s.PendingFrameBytes() == 0 }, 5*time.Second, 10*time.Millisecond)
	resp, err := c.Invoke(ctxTimeout(t, 5*time.Second), addr, NewRequest(codeEcho, map[string]string{"n": "still"}, nil))
	require.NoError(t, err)
	require.Equal(t, "still", resp.ExtFields["n"])
}

// A frame that arrives slowly but completes in time is served.
func TestServer_SlowButTimelyFrameIsServed(t *testing.T) {
	_, addr := startServer(t, func(c *ServerConfig) { c.FrameTimeout = 5 * time.Second }, map[RequestCode]HandlerFunc{codeEcho: echo})
	nc := rawConn(t, addr)
	req := NewRequest(codeEcho, map[string]string{"n": "slow"}, bytes.Repeat([]byte("b"), 300<<10))
	req.Opaque = 3
	f, err := AppendFrame(nil, req, SerializeJSON)
	require.NoError(t, err)
	go func() {
		for i := 0; i < len(f); i += 40 << 10 {
			_, _ = nc.Write(f[i:min(len(f), i+40<<10)])
			time.Sleep(20 * time.Millisecond)
		}
	}()
	r, err := ReadFrame(nc, 0)
	require.NoError(t, err)
	require.Equal(t, int32(3), r.Opaque)
	require.Equal(t, "slow", r.ExtFields["n"])
	require.Equal(t, 300<<10, len(r.Body))
}

// Connections over the per-address limit are closed at accept; closing
// one makes room again.
func TestServer_ConnectionLimits(t *testing.T) {
	s, addr := startServer(t, func(c *ServerConfig) { c.MaxConns = 10; c.MaxConnsPerIP = 3 }, map[RequestCode]HandlerFunc{codeEcho: echo})
	echoOn := func(nc net.Conn) error {
		req := NewRequest(codeEcho, nil, nil)
		f, _ := AppendFrame(nil, req, SerializeJSON)
		if _, err := nc.Write(f); err != nil {
			return err
		}
		_, err := ReadFrame(nc, 0)
		return err
	}
	var open []net.Conn
	for i := 0; i < 3; i++ {
		nc := rawConn(t, addr)
		require.NoError(t, echoOn(nc))
		open = append(open, nc)
	}
	extra := rawConn(t, addr)
	require.Error(t, echoOn(extra), "the 4th connection from one address is refused")
	require.Equal(t, uint64(1), s.Refused())
	open[0].Close()
	require.Eventually(t, func() bool { return len(s.Conns()) == 2 }, 5*time.Second, 10*time.Millisecond)
	again := rawConn(t, addr)
	require.NoError(t, echoOn(again))
}
