package broker

import (
	"sync"
	"time"

	"github.com/raftmq/raftmq/transport"
)

// lockManager holds the queue locks of orderly consumers (LOCK_BATCH_MQ):
// a (group, queue) belongs to one client until it stops renewing for ttl.
// Locks live in the leader's memory, as in RocketMQ; a new leader starts
// empty and clients re-lock within their 20 s renewal period.
type lockManager struct {
	ttl   time.Duration
	mu    sync.Mutex
	locks map[lockKey]lockEntry
}

type lockKey struct {
	group string
	mq    transport.MessageQueue
}

type lockEntry struct {
	client string
	until  time.Time
}

func newLockManager(ttl time.Duration) *lockManager {
	return &lockManager{ttl: ttl, locks: map[lockKey]lockEntry{}}
}

// lock tries to lock every queue for client and returns those it holds.
func (m *lockManager) lock(group, client string, mqs []transport.MessageQueue, now time.Time) []transport.MessageQueue {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []transport.MessageQueue{}
	for _, mq := range mqs {
		k := lockKey{group, mq}
		e, ok := m.locks[k]
		if !ok || e.client == client || now.After(e.until) {
			m.locks[k] = lockEntry{client: client, until: now.Add(m.ttl)}
			out = append(out, mq)
		}
	}
	return out
}

func (m *lockManager) unlock(group, client string, mqs []transport.MessageQueue) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mq := range mqs {
		k := lockKey{group, mq}
		if e, ok := m.locks[k]; ok && e.client == client {
			delete(m.locks, k)
		}
	}
}

func (m *lockManager) expire(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, e := range m.locks {
		if now.After(e.until) {
			delete(m.locks, k)
		}
	}
}

func (m *lockManager) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.locks = map[lockKey]lockEntry{}
}
