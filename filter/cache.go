package filter

import "sync"

// Cache memoizes Compile, errors included: consumers resend their selector
// with every pull. It holds at most max selectors and starts over when
// full (a steady set of subscriptions refills it at once).
type Cache struct {
	mu  sync.Mutex
	max int
	m   map[string]cached
}

type cached struct {
	e   *Expr
	err error
}

// NewCache returns a cache of at most size selectors (at least 1).
func NewCache(size int) *Cache {
	return &Cache{max: max(size, 1), m: map[string]cached{}}
}

// Compile returns the compiled selector for src.
func (c *Cache) Compile(src string) (*Expr, error) {
	c.mu.Lock()
	if v, ok := c.m[src]; ok {
		c.mu.Unlock()
		return v.e, v.err
	}
	c.mu.Unlock()
	e, err := Compile(src)
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[src] = cached{e, err}
	c.mu.Unlock()
	return e, err
}
