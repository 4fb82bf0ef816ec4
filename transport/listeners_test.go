package transport

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func acceptOne(t *testing.T, l net.Listener, dial string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", dial, time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	c, err := l.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestListeners_AddRemoveClose(t *testing.T) {
	a, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	bAddr := b.Addr().String()
	l := NewListeners(a)
	l.Add(b)
	require.Equal(t, a.Addr(), l.Addr())
	ca := acceptOne(t, l, a.Addr().String())
	cb := acceptOne(t, l, bAddr)
	require.Equal(t, bAddr, cb.LocalAddr().String())

	l.Remove(b)
	_, err = net.DialTimeout("tcp", bAddr, time.Second)
	require.Error(t, err, "a removed listener is closed")
	_, err = cb.Write([]byte("x"))
	require.NoError(t, err, "connections it accepted stay open")
	acceptOne(t, l, a.Addr().String())

	require.NoError(t, l.Close())
	_, err = l.Accept()
	require.ErrorIs(t, err, net.ErrClosed)
	_, err = net.DialTimeout("tcp", a.Addr().String(), time.Second)
	require.Error(t, err)
	_ = ca
}

// Two listeners share one address; when one closes, the other takes every
// new connection.
func TestListenShared(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_REUSEPORT spreading is Linux's")
	}
	a, err := ListenShared("127.0.0.1:0")
	require.NoError(t, err)
	defer a.Close()
	addr := a.Addr().String()
	b, err := ListenShared(addr)
	require.NoError(t, err)
	_, err = net.Listen("tcp", addr)
	require.Error(t, err, "a plain listener cannot take the shared address")

	seen := map[net.Listener]int{}
	for i := 0; i < 40; i++ {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		require.NoError(t, err)
		nc.Close()
	}
	for _, l := range []net.Listener{a, b} {
		for {
			l.(*net.TCPListener).SetDeadline(time.Now().Add(50 * time.Millisecond))
			c, err := l.Accept()
			if err != nil {
				break
			}
			c.Close()
			seen[l]++
		}
	}
	require.Equal(t, 40, seen[a]+seen[b])
	require.NotZero(t, seen[a])
	require.NotZero(t, seen[b])

	b.Close()
	for i := 0; i < 10; i++ {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		require.NoError(t, err, "the remaining listener takes new connections")
		nc.Close()
		a.(*net.TCPListener).SetDeadline(time.Now().Add(time.Second))
		c, err := a.Accept()
		require.NoError(t, err)
		c.Close()
	}
}
