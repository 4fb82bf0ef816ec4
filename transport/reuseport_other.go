//go:build !linux

package transport

import (
	"fmt"
	"net"
	"runtime"
)

// ListenShared needs SO_REUSEPORT's load spreading, which this build
// does not provide.
func ListenShared(addr string) (net.Listener, error) {
	return nil, fmt.Errorf("transport: listening on %s together with other members needs Linux (SO_REUSEPORT), not %s", addr, runtime.GOOS)
}
