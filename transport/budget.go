package transport

import (
	"sync"
	"time"
)

// byteBudget bounds the bytes a server holds for frames that have started
// to arrive and are not complete, over all its connections. A reader that
// cannot get room waits (its connection is not read meanwhile, so TCP
// pushes back on the sender) until room frees or its frame deadline.
type byteBudget struct {
	limit int64

	mu   sync.Mutex
	used int64
	wake chan struct{} // closed and replaced when bytes are released
}

func newByteBudget(limit int64) *byteBudget {
	return &byteBudget{limit: limit, wake: make(chan struct{})}
}

// acquire reserves n bytes, waiting until deadline or stop. A request
// larger than the whole budget is refused at once.
func (b *byteBudget) acquire(n int64, deadline time.Time, stop <-chan struct{}) bool {
	if n > b.limit {
		return false
	}
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		b.mu.Lock()
		if b.used+n <= b.limit {
			b.used += n
			b.mu.Unlock()
			return true
		}
		wake := b.wake
		b.mu.Unlock()
		if t == nil {
			d := time.Until(deadline)
			if d <= 0 {
				return false
			}
			t = time.NewTimer(d)
		}
		select {
		case <-wake:
		case <-t.C:
			return false
		case <-stop:
			return false
		}
	}
}

func (b *byteBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	close(b.wake)
	b.wake = make(chan struct{})
	b.mu.Unlock()
}

// inUse reports the bytes reserved now.
func (b *byteBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
