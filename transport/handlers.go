package transport

import (
	"sync"
	"sync/atomic"
)

// handlerTable maps request codes to handlers. Readers (every request) take
// no lock; Handle copies the map, as handlers are registered rarely.
type handlerTable[H any] struct {
	mu sync.Mutex // serializes set
	m  atomic.Pointer[map[RequestCode]H]
}

func (t *handlerTable[H]) set(code RequestCode, h H) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var old map[RequestCode]H
	if p := t.m.Load(); p != nil {
		old = *p
	}
	m := make(map[RequestCode]H, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[code] = h
	t.m.Store(&m)
}

func (t *handlerTable[H]) get(code RequestCode) H {
	if p := t.m.Load(); p != nil {
		return (*p)[code]
	}
	var none H
	return none
}
