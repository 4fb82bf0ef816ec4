package transport

import (
	"sync"
	"time"
)

// workerIdle is how long an idle handler goroutine waits for the next
// request before it exits.
const workerIdle = 10 * time.Second

// workers runs a server's handlers on goroutines that outlive one request.
// A goroutine started per request begins with a small stack and grows it
// by copying on every send (runtime.copystack was 13 % of a leader's CPU
// at 256 sends in flight); a worker keeps the stack it grew. The pool has
// no size of its own: the work tracker and the per-connection in-flight
// limit bound the requests, so the workers. Idle workers exit after
// workerIdle; stop ends them all (the owner waits on wg).
type workers struct {
	ready chan func() // unbuffered: idle workers wait here
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

func newWorkers() *workers {
	return &workers{ready: make(chan func()), stop: make(chan struct{})}
}

// run hands f to an idle worker, or starts one.
func (w *workers) run(f func()) {
	select {
	case w.ready <- f:
		return
	default:
	}
	w.wg.Add(1)
	go w.loop(f)
}

func (w *workers) loop(f func()) {
	defer w.wg.Done()
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		f()
		t.Reset(workerIdle)
		select {
		case f = <-w.ready:
		case <-t.C:
			return
		case <-w.stop:
			return
		}
	}
}

// close ends the idle workers and waits for every worker to exit; the
// caller has drained the work first, so none is busy for long.
func (w *workers) close() {
	w.once.Do(func() { close(w.stop) })
	w.wg.Wait()
}
