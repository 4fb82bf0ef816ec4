package broker

import (
	"context"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

// flakyListener fails Accept with EMFILE a number of times first, as a
// process out of file descriptors does.
type flakyListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

// A descriptor shortage does not end the raft port's accept loop, and
// closed connections leave the mux's table.
func TestMux_SurvivesAcceptErrorsAndPrunesConns(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	fl := &flakyListener{Listener: ln}
	fl.fails.Store(5)
	m := newMux(fl, nil, true, hclog.NewNullLogger())
	defer m.close()

	for i := 0; i < 20; i++ {
		c, err := dialMux(context.Background(), ln.Addr().String(), muxPeer, nil)
		require.NoError(t, err)
		sc, err := m.peer.Accept()
		require.NoError(t, err)
		_, err = c.Write([]byte("x"))
		require.NoError(t, err)
		var b [1]byte
		_, err = sc.Read(b[:])
		require.NoError(t, err)
		require.NoError(t, sc.Close())
		c.Close()
	}
	require.LessOrEqual(t, fl.fails.Load(), int32(0), "the failing accepts happened")
	// Unrouted junk is closed too.
	for i := 0; i < 5; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		c.Write([]byte{'?'})
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var b [1]byte
		_, err = c.Read(b[:])
		require.Error(t, err)
		c.Close()
	}
	require.Eventually(t, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.conns) == 0
	}, 5*time.Second, 10*time.Millisecond, "the connection table is pruned")
}
