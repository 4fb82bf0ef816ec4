package transport

import (
	"sync"
	"sync/atomic"
)

// handlerTable maps request codes to handlers. Readers (every request) take
// no lock; Handle copies the map, as handlers are registered rarely.
type handlerTable struct {
	mu sync.Mutex // serializes set
	m  atomic.Pointer[map[RequestCode]HandlerFunc]
}

func (t *handlerTable) set(code RequestCode, h HandlerFunc) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var old map[RequestCode]HandlerFunc
	if p := t.m.Load(); p != nil {
		old = *p
	}
	m := make(map[RequestCode]HandlerFunc, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[code] = h
	t.m.Store(&m)
}

func (t *handlerTable) get(code RequestCode) HandlerFunc {
	if p := t.m.Load(); p != nil {
		return (*p)[code]
	}
	return nil
}
