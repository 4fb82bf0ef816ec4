package raftlog

import (
	"context"
	"fmt"
	"github.com/raftmq/raftmq/internal/vfs"
	"sync"
	"sync/atomic"
)

// Deferred sync (the Raft thesis §10.2.1 optimisation, "write to the
// leader's disk in parallel with replication"): hashicorp/raft replicates
// an entry only after the leader's StoreLogs returns, so an fdatasync there
// puts the leader's disk flush and the followers' in series. With deferred
// sync on (the broker turns it on while it leads), StoreLogs under
// SyncFlush writes and returns, and a background syncer flushes; callers
// that acknowledge clients wait for SyncedIndex to cover their entry
// (WaitSynced). An acknowledged entry is then on stable storage on the
// leader and on at least one follower: a majority of a 3-node group.
//
// Raft itself may count the leader's copy toward a commit before it is
// flushed. Only a power loss (not a process crash) of the leader can then
// lose an entry that was committed but never acknowledged; see doc.go.
type durability struct {
	mu       sync.Mutex
	synced   uint64        // every entry <= synced is on stable storage
	advanced chan struct{} // closed and replaced when synced moves
	truncGen uint64        // bumped by tail truncation and deleteAll

	deferred atomic.Bool
	kick     chan struct{}
}

func (d *durability) init() {
	d.advanced = make(chan struct{})
	d.kick = make(chan struct{}, 1)
}

// setSynced moves synced to idx (also backwards, after truncation).
func (d *durability) setSynced(idx uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if idx == d.synced {
		return
	}
	d.synced = idx
	close(d.advanced)
	d.advanced = make(chan struct{})
}

func (d *durability) truncated(newLast uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.truncGen++
	if d.synced > newLast {
		d.synced = newLast
	}
}

// notify wakes every waiter (to re-check, e.g. after a failure).
func (d *durability) notify() {
	d.mu.Lock()
	defer d.mu.Unlock()
	close(d.advanced)
	d.advanced = make(chan struct{})
}

func (d *durability) wake() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// SetDeferredSync turns deferred sync on or off (SyncFlush only). Turning it
// off flushes what was deferred before returning.
func (l *Log) SetDeferredSync(on bool) error {
	if l.cfg.Flush != SyncFlush {
		return nil
	}
	was := l.dur.deferred.Swap(on)
	if was && !on {
		return l.Sync()
	}
	return nil
}

// SyncedIndex is the highest index known to be on stable storage.
func (l *Log) SyncedIndex() uint64 {
	l.dur.mu.Lock()
	defer l.dur.mu.Unlock()
	return l.dur.synced
}

// SyncThrough makes every entry up to index durable now (it flushes if
// the background flush or deferred sync has not yet). Checkpoints and
// snapshots call it: they must never reach the disk before the entries
// they describe.
func (l *Log) SyncThrough(index uint64) error {
	if l.SyncedIndex() >= index {
		return nil
	}
	return l.Sync()
}

// WaitSynced waits until entry index is on stable storage.
func (l *Log) WaitSynced(ctx context.Context, index uint64) error {
	for {
		l.dur.mu.Lock()
		synced, ch := l.dur.synced, l.dur.advanced
		l.dur.mu.Unlock()
		if synced >= index {
			return nil
		}
		if err := l.failedErr.Load(); err != nil {
			return *err
		}
		if l.isClosed() {
			return ErrClosed
		}
		l.dur.wake()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("raftlog: waiting for entry %d to reach disk: %w", index, ctx.Err())
		}
	}
}

// syncLoop flushes deferred writes: one fdatasync covers every entry
// written before it started, so concurrent appends share flushes.
func (l *Log) syncLoop() {
	for {
		select {
		case <-l.stopCh:
			return
		case <-l.dur.kick:
		}
		for {
			l.wmu.Lock()
			if l.failed != nil || l.isClosed() {
				l.wmu.Unlock()
				break
			}
			target := l.last
			var seg *segment
			if target > 0 {
				if p, err := l.unitPos(target); err == nil {
					seg = l.segmentFor(p)
				}
			}
			l.dur.mu.Lock()
			gen, synced := l.dur.truncGen, l.dur.synced
			l.dur.mu.Unlock()
			l.wmu.Unlock()
			if target <= synced || seg == nil {
				break
			}
			err := vfs.Datasync(seg.f)
			l.wmu.Lock()
			l.dur.mu.Lock()
			stale := gen != l.dur.truncGen
			l.dur.mu.Unlock()
			if err != nil && !stale {
				l.fail(fmt.Errorf("raftlog: deferred fdatasync: %w", err))
				l.wmu.Unlock()
				l.dur.notify() // waiters see the failure
				break
			}
			l.wmu.Unlock()
			if !stale {
				l.dur.setSynced(max(target, l.SyncedIndex()))
			}
		}
	}
}

// unitPos returns index's record offset; the caller holds wmu.
func (l *Log) unitPos(index uint64) (int64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.last == 0 || index < l.first || index > l.last {
		return 0, fmt.Errorf("raftlog: no entry %d", index)
	}
	p, _ := l.unitLocked(index)
	return p, nil
}
