package broker

import (
	"context"
	"sync"
	"time"
)

// byteBudget bounds the bytes of in-flight sends. acquire waits (FIFO is
// not needed: waiters retry on every release) up to a deadline.
type byteBudget struct {
	limit   int64
	mu      sync.Mutex
	used    int64
	waiting int           // acquirers waiting on freed
	freed   chan struct{} // closed and replaced on a release with waiters
}

func newByteBudget(limit int64) *byteBudget {
	return &byteBudget{limit: limit, freed: make(chan struct{})}
}

// acquire reserves n bytes, waiting up to wait. A single request larger
// than the limit is admitted alone.
func (b *byteBudget) acquire(ctx context.Context, n int64, wait time.Duration) bool {
	var timer *time.Timer
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.limit {
			b.used += n
			b.mu.Unlock()
			if timer != nil {
				timer.Stop()
			}
			return true
		}
		ch := b.freed
		b.waiting++
		b.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		ok := true
		select {
		case <-ch:
		case <-timer.C:
			ok = false
		case <-ctx.Done():
			ok = false
		}
		b.mu.Lock()
		b.waiting--
		b.mu.Unlock()
		if !ok {
			return false
		}
	}
}

// tryAcquire reserves n bytes if they fit now (or nothing is reserved).
func (b *byteBudget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used == 0 || b.used+n <= b.limit {
		b.used += n
		return true
	}
	return false
}

// release returns n bytes and wakes the waiters, if any (most releases
// have none: no channel to replace then).
func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	if b.waiting == 0 {
		b.mu.Unlock()
		return
	}
	ch := b.freed
	b.freed = make(chan struct{})
	b.mu.Unlock()
	close(ch)
}
