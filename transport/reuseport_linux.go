//go:build linux

package transport

import (
	"context"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// ListenShared listens on addr with SO_REUSEPORT, so that several
// processes of one user can listen on it together; the kernel spreads
// new connections over the live ones.
func ListenShared(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), "tcp", addr)
}
