package transport

import (
	"sync"
	"time"
)

// workerIdle is about how long an idle handler goroutine waits for the
// next request before it exits (between one and two of these).
const workerIdle = 10 * time.Second

// workers runs a server's handlers on goroutines that outlive one request.
// A goroutine started per request begins with a small stack and grows it
// by copying on every send (runtime.copystack was 13 % of a leader's CPU
// at 256 sends in flight); a worker keeps the stack it grew.
//
// Idle workers wait on their own channel, most recently used on top (its
// stack is the warmest), so handing a request over is a pop and a channel
// send, no select and no timer per request. The pool has no size of its
// own: the work tracker and the per-connection in-flight limit bound the
// requests, so the workers. A janitor, started with the first worker,
// ends the workers idle for a whole workerIdle; close ends them all.
type workers struct {
	mu      sync.Mutex
	idle    []*worker // the bottom idled first
	epoch   uint64    // janitor ticks
	stopped bool
	janitor chan struct{} // closed by close; nil until the first worker
	wg      sync.WaitGroup
}

type worker struct {
	ch    chan func() // buffered: the hand-over never blocks; nil ends the worker
	epoch uint64      // when it last went idle
}

func newWorkers() *workers { return &workers{} }

// run hands f to an idle worker, or starts one.
func (w *workers) run(f func()) {
	w.mu.Lock()
	if n := len(w.idle); n > 0 {
		wk := w.idle[n-1]
		w.idle[n-1] = nil
		w.idle = w.idle[:n-1]
		w.mu.Unlock()
		wk.ch <- f
		return
	}
	if w.janitor == nil && !w.stopped {
		w.janitor = make(chan struct{})
		w.wg.Add(1)
		go w.sweep(w.janitor)
	}
	w.wg.Add(1)
	w.mu.Unlock()
	go w.loop(&worker{ch: make(chan func(), 1)}, f)
}

func (w *workers) loop(wk *worker, f func()) {
	defer w.wg.Done()
	for f != nil {
		f()
		w.mu.Lock()
		if w.stopped {
			w.mu.Unlock()
			return
		}
		wk.epoch = w.epoch
		w.idle = append(w.idle, wk)
		w.mu.Unlock()
		f = <-wk.ch
	}
}

// sweep ends, every workerIdle, the workers idle since before the last
// sweep.
func (w *workers) sweep(stop <-chan struct{}) {
	defer w.wg.Done()
	t := time.NewTicker(workerIdle)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			w.sweepOnce()
		}
	}
}

func (w *workers) sweepOnce() {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for n < len(w.idle) && w.idle[n].epoch < w.epoch {
		w.idle[n].ch <- nil
		n++
	}
	w.idle = append(w.idle[:0], w.idle[n:]...)
	w.epoch++
}

// close ends the idle workers and the janitor and waits for every worker
// to exit; the caller has drained the work first, so none is busy for
// long.
func (w *workers) close() {
	w.mu.Lock()
	if !w.stopped {
		w.stopped = true
		for _, wk := range w.idle {
			wk.ch <- nil
		}
		w.idle = nil
		if w.janitor != nil {
			close(w.janitor)
		}
	}
	w.mu.Unlock()
	w.wg.Wait()
}
