package raftlog

import (
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// cache holds the most recently appended entries, a contiguous index range
// [lo, hi], bounded by count and bytes. Readers are lock-free; put and
// truncate run under the log's writer lock.
type cache struct {
	slots    []atomic.Pointer[raft.Log]
	maxBytes int64
	// Writer-only fields.
	lo, hi uint64
	bytes  int64
}

func newCache(entries int, maxBytes int64) *cache {
	return &cache{slots: make([]atomic.Pointer[raft.Log], entries), maxBytes: maxBytes}
}

func entryBytes(l *raft.Log) int64 { return int64(len(l.Data) + len(l.Extensions) + 64) }

func (c *cache) get(index uint64) *raft.Log {
	if len(c.slots) == 0 {
		return nil
	}
	if l := c.slots[index%uint64(len(c.slots))].Load(); l != nil && l.Index == index {
		return l
	}
	return nil
}

func (c *cache) put(logs []*raft.Log) {
	n := uint64(len(c.slots))
	if n == 0 {
		return
	}
	for _, l := range logs {
		if c.hi == 0 || l.Index != c.hi+1 {
			c.truncate(0)
			c.lo = l.Index
		}
		for c.hi != 0 && (l.Index-c.lo >= n || c.bytes+entryBytes(l) > c.maxBytes) && c.lo <= c.hi {
			c.evictLo()
		}
		if c.hi == 0 || c.lo > c.hi {
			c.lo = l.Index
		}
		cp := *l // raft may reuse the struct; the byte slices are never modified
		c.slots[l.Index%n].Store(&cp)
		c.bytes += entryBytes(l)
		c.hi = l.Index
	}
}

func (c *cache) evictLo() {
	s := &c.slots[c.lo%uint64(len(c.slots))]
	if l := s.Load(); l != nil && l.Index == c.lo {
		c.bytes -= entryBytes(l)
		s.Store(nil)
	}
	c.lo++
}

// truncate drops every cached entry at or after from (all when from is 0).
func (c *cache) truncate(from uint64) {
	if len(c.slots) == 0 || c.hi == 0 {
		return
	}
	for c.hi >= c.lo && c.hi >= from && c.hi != 0 {
		s := &c.slots[c.hi%uint64(len(c.slots))]
		if l := s.Load(); l != nil && l.Index == c.hi {
			c.bytes -= entryBytes(l)
			s.Store(nil)
		}
		c.hi--
	}
	if c.hi < c.lo {
		c.lo, c.hi, c.bytes = 0, 0, 0
	}
}

// dropBelow drops every cached entry below index.
func (c *cache) dropBelow(index uint64) {
	for c.hi != 0 && c.lo <= c.hi && c.lo < index {
		c.evictLo()
	}
	if c.hi != 0 && c.lo > c.hi {
		c.lo, c.hi, c.bytes = 0, 0, 0
	}
}
