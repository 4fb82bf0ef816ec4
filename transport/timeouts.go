package transport

import (
	"sync"
	"sync/atomic"
	"time"
)

// timeoutGrain is how late a request's timeout may fire: deadlines are
// rounded up to it, and every request whose deadline rounds to the same
// instant shares one runtime timer and one channel. RocketMQ's clients scan
// their response tables once a second; 5 ms keeps short test timeouts
// meaningful.
const timeoutGrain = 5 * time.Millisecond

// timeouts hands out channels closed when a request's timeout has passed.
// A timer of its own per request (time.NewTimer, and a timer channel in
// the wait's select) cost a fifth of a small round trip with 64 callers
// (BenchmarkRoundTrip/callers=64/timeout); with 40k requests a second and
// a 3 s timeout, here about 200 timers a second do the same job.
//
// A channel is never closed before its deadline (Go timers do not fire
// early), so a wait never times out early; it may time out up to
// timeoutGrain late.
type timeouts struct {
	base time.Time // monotonic origin of the slot numbers
	// last is the most recently created slot: consecutive requests with
	// the same timeout mostly round to it, and take no lock.
	last atomic.Pointer[timeoutSlot]

	mu      sync.Mutex
	slots   map[int64]*timeoutSlot
	stopped bool
}

type timeoutSlot struct {
	n  int64 // deadline in grains since base
	ch chan struct{}
	t  *time.Timer
}

func newTimeouts() *timeouts {
	return &timeouts{base: time.Now(), slots: make(map[int64]*timeoutSlot)}
}

// after returns a channel that is closed once d has passed (d > 0), or nil
// once stop was called: waiters then end with the owner's context, which
// is cancelled before stop.
func (ts *timeouts) after(d time.Duration) <-chan struct{} {
	n := int64((time.Since(ts.base) + d + timeoutGrain - 1) / timeoutGrain)
	if s := ts.last.Load(); s != nil && s.n == n {
		return s.ch // its deadline is still ahead: n's instant is after now + d
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.stopped {
		return nil
	}
	s := ts.slots[n]
	if s == nil {
		s = &timeoutSlot{n: n, ch: make(chan struct{})}
		s.t = time.AfterFunc(time.Duration(n)*timeoutGrain-time.Since(ts.base), func() { ts.fire(s) })
		ts.slots[n] = s
	}
	ts.last.Store(s)
	return s.ch
}

func (ts *timeouts) fire(s *timeoutSlot) {
	ts.mu.Lock()
	if ts.slots[s.n] == s {
		delete(ts.slots, s.n)
	}
	ts.mu.Unlock()
	close(s.ch)
}

// stop stops the timers not yet fired; their channels are never closed.
// The endpoint calls it once its base context is cancelled, so no waiter
// is left waiting on one alone.
func (ts *timeouts) stop() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.stopped = true
	ts.last.Store(nil)
	for n, s := range ts.slots {
		s.t.Stop()
		delete(ts.slots, n)
	}
}
