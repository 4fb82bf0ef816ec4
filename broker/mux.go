package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// The raft port (dLegerPeers address) carries three protocols, told apart
// by the first byte a dialer writes: raft's own RPCs (msgpack), raftnet's
// AppendEntries, and the peer channel (RocketMQ remoting between members
// of a group: requests a follower forwards to the leader). One port per
// member keeps configuration to RocketMQ's dLegerPeers, and a fault
// injected on that port cuts them all.
const (
	muxRaft byte = 'R'
	muxPeer byte = 'P'
	// muxAppend: raft's AppendEntries in raftnet's binary encoding (a
	// release without it closes such a connection; raftnet then falls
	// back to muxRaft for that peer).
	muxAppend byte = 'A'
)

var errMuxClosed = errors.New("broker: listener closed")

// maxMuxConns bounds connections on the raft port: members keep a few
// each (raft's pool and streams, the peer channel), so this is generous.
const maxMuxConns = 1024

// mux accepts connections on the raft port and routes them by first byte.
type mux struct {
	ln     net.Listener
	raft   *muxListener
	peer   *muxListener
	append *muxListener
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	dialT  time.Duration
	logger hclog.Logger
	tls    *tls.Config // member TLS (server side); nil: plain

	// conns are the open accepted connections: raft's transport does not
	// close the ones it serves on Close, so the mux does. A connection
	// leaves the table when it is closed.
	mu    sync.Mutex
	conns map[*muxConn]bool
}

// newMux serves ln. withAppend: route muxAppend connections (raftnet);
// without it they are closed, as a release without raftnet does, so that
// the dialer falls back to msgpack at once.
func newMux(ln net.Listener, tlsCfg *tls.Config, withAppend bool, logger hclog.Logger) *mux {
	m := &mux{ln: ln, done: make(chan struct{}), dialT: 2 * time.Second, conns: map[*muxConn]bool{}, logger: logger, tls: tlsCfg}
	m.raft = &muxListener{m: m, ch: make(chan net.Conn, 16), closed: make(chan struct{})}
	m.peer = &muxListener{m: m, ch: make(chan net.Conn, 16), closed: make(chan struct{})}
	if withAppend {
		m.append = &muxListener{m: m, ch: make(chan net.Conn, 16), closed: make(chan struct{})}
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.acceptLoop()
	}()
	return m
}

// muxConn is an accepted connection that leaves the mux's table on Close.
type muxConn struct {
	net.Conn
	m    *mux
	once sync.Once
}

func (c *muxConn) Close() error {
	c.once.Do(func() {
		c.m.mu.Lock()
		delete(c.m.conns, c)
		c.m.mu.Unlock()
	})
	return c.Conn.Close()
}

// acceptLoop runs until the mux closes. Accept errors (out of file
// descriptors, aborted handshakes) never end it: it backs off and goes on,
// or the member would be cut off from its group until restarted.
func (m *mux) acceptLoop() {
	var backoff time.Duration
	for {
		nc, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			m.logger.Warn("raft port: accept failed; retrying", "error", err, "delay", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-m.done:
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		c := &muxConn{Conn: nc, m: m}
		m.mu.Lock()
		if len(m.conns) >= maxMuxConns {
			m.mu.Unlock()
			m.logger.Warn("raft port: too many connections; refusing one", "remote", nc.RemoteAddr(), "limit", maxMuxConns)
			nc.Close()
			continue
		}
		m.conns[c] = true
		m.mu.Unlock()
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.route(c)
		}()
	}
}

func (m *mux) route(c net.Conn) {
	if m.tls != nil {
		// Members only: the peer must present a certificate of the group's CA.
		tc := tls.Server(c, m.tls)
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.Handshake(); err != nil {
			m.logger.Warn("raft port: refusing a connection that is not a member's", "remote", c.RemoteAddr(), "error", err)
			c.Close()
			return
		}
		tc.SetDeadline(time.Time{})
		c = tc
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	if _, err := c.Read(b[:]); err != nil {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	var l *muxListener
	switch b[0] {
	case muxRaft:
		l = m.raft
	case muxPeer:
		l = m.peer
	case muxAppend:
		if m.append == nil {
			c.Close()
			return
		}
		l = m.append
	default:
		c.Close()
		return
	}
	select {
	case l.ch <- c:
	case <-l.closed:
		c.Close()
	case <-m.done:
		c.Close()
	}
}

func (m *mux) close() error {
	var err error
	m.once.Do(func() {
		close(m.done)
		err = m.ln.Close()
	})
	m.wg.Wait()
	m.mu.Lock()
	open := make([]*muxConn, 0, len(m.conns))
	for c := range m.conns {
		open = append(open, c)
	}
	m.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
	m.mu.Lock()
	m.conns = map[*muxConn]bool{}
	m.mu.Unlock()
	// Connections handed over but never accepted.
	for _, l := range []*muxListener{m.raft, m.peer, m.append} {
		if l == nil {
			continue
		}
		for {
			select {
			case c := <-l.ch:
				c.Close()
				continue
			default:
			}
			break
		}
	}
	return err
}

// dialMux connects to a member's raft port for one protocol, with TLS
// when the group uses it (cfg: the member client configuration).
func dialMux(ctx context.Context, addr string, kind byte, cfg *tls.Config) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("raft port %s: TLS handshake: %w", addr, err)
		}
		c = tc
	}
	if _, err := c.Write([]byte{kind}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// muxListener is one protocol's view of the port.
type muxListener struct {
	m      *mux
	ch     chan net.Conn
	once   sync.Once
	closed chan struct{}
}

func (l *muxListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, errMuxClosed
	case <-l.m.done:
		return nil, errMuxClosed
	}
}

// Close stops this protocol's Accept; the port itself closes with the mux
// once both users are done.
func (l *muxListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *muxListener) Addr() net.Addr { return l.m.ln.Addr() }

// raftLayer is raft's StreamLayer over the mux.
type raftLayer struct {
	*muxListener
	advertise net.Addr
	tls       *tls.Config // member TLS (client side)
}

var _ raft.StreamLayer = (*raftLayer)(nil)

func (r *raftLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return dialMux(ctx, string(addr), muxRaft, r.tls)
}

func (r *raftLayer) Addr() net.Addr {
	if r.advertise != nil {
		return r.advertise
	}
	return r.muxListener.Addr()
}
