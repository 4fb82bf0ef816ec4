package transport

import (
	"errors"
	"net"
	"sync"
	"time"
)

// Listeners is a net.Listener that accepts from a changing set of
// listeners: a broker serves its own address and, while it is not the
// leader, the group address it shares with the other members.
type Listeners struct {
	addr  net.Addr
	conns chan net.Conn

	mu     sync.Mutex
	set    map[net.Listener]chan struct{} // listener -> its accept loop's done
	closed bool
	done   chan struct{}
}

// NewListeners starts with first (whose address Addr reports).
func NewListeners(first net.Listener) *Listeners {
	l := &Listeners{addr: first.Addr(), conns: make(chan net.Conn), set: map[net.Listener]chan struct{}{}, done: make(chan struct{})}
	l.Add(first)
	return l
}

// Add accepts from ln too, until Remove or Close closes it.
func (l *Listeners) Add(ln net.Listener) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = ln.Close()
		return
	}
	done := make(chan struct{})
	l.set[ln] = done
	go l.acceptLoop(ln, done)
}

// Remove closes ln and waits for its accept loop to stop. Connections it
// accepted stay open.
func (l *Listeners) Remove(ln net.Listener) {
	l.mu.Lock()
	done, ok := l.set[ln]
	delete(l.set, ln)
	l.mu.Unlock()
	if ok {
		_ = ln.Close()
		<-done
	}
}

func (l *Listeners) acceptLoop(ln net.Listener, done chan struct{}) {
	defer close(done)
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: wait and keep accepting.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
				continue
			case <-l.done:
				return
			}
		}
		backoff = 0
		select {
		case l.conns <- c:
		case <-l.done:
			_ = c.Close()
			return
		}
	}
}

// Accept returns the next connection from any listener.
func (l *Listeners) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close closes every listener.
func (l *Listeners) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	set := l.set
	l.set = map[net.Listener]chan struct{}{}
	l.mu.Unlock()
	for ln, done := range set {
		_ = ln.Close()
		<-done
	}
	return nil
}

// Addr is the first listener's address.
func (l *Listeners) Addr() net.Addr { return l.addr }
