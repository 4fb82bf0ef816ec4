package transport

import (
	"math/bits"
	"sync"
)

// Frame buffers come from power-of-two size classes so a steady stream of
// similar frames reuses memory instead of allocating per frame.
const (
	minBufShift = 9  // 512 B
	maxBufShift = 24 // 16 MiB; larger buffers are not pooled
)

var bufPools [maxBufShift - minBufShift + 1]sync.Pool

func bufClass(n int) int {
	if n <= 1<<minBufShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minBufShift
}

// getBuf returns a buffer of length n.
func getBuf(n int) *[]byte {
	c := bufClass(n)
	if c >= len(bufPools) {
		b := make([]byte, n)
		return &b
	}
	if p, ok := bufPools[c].Get().(*[]byte); ok {
		*p = (*p)[:n]
		return p
	}
	b := make([]byte, n, 1<<(c+minBufShift))
	return &b
}

func putBuf(p *[]byte) {
	c := bufClass(cap(*p))
	if c >= len(bufPools) || cap(*p) != 1<<(c+minBufShift) {
		return // not one of ours
	}
	bufPools[c].Put(p)
}

var commandPool = sync.Pool{New: func() any { return &Command{ExtFields: make(map[string]string, 16)} }}

// getCommand returns an empty Command with a reusable ExtFields map.
func getCommand() *Command { return commandPool.Get().(*Command) }

// putCommand recycles c and its frame buffer. Nothing may use c after.
func putCommand(c *Command) {
	if len(c.ExtFields) > maxReusedExt {
		c.ExtFields = nil // do not pin a huge map
	}
	c.reset()
	if c.ExtFields == nil {
		c.ExtFields = make(map[string]string, 16)
	}
	commandPool.Put(c)
}
