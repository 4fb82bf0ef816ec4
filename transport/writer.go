package transport

import (
	"context"
	"net"
	"runtime"
	"sync"
	"time"
)

// connWriter serializes frames onto one socket. Responses, pushes and
// requests from many goroutines never interleave bytes.
//
// It combines writes: a goroutine appends its frame to a shared buffer
// under the mutex; if nobody is writing it becomes the flusher and writes
// the buffer, looping while others keep appending. Concurrent frames thus
// share one write syscall without a dedicated writer goroutine (measured
// faster than a writer goroutine and than one flush per frame; see
// BenchmarkWriter). A caller whose frame is left to another flusher
// returns before the bytes reach the socket; a failed write closes the
// connection, which is how such callers learn about it.
type connWriter struct {
	nc      net.Conn
	st      SerializeType
	timeout time.Duration
	limit   int              // max pending bytes before the connection is failed
	onError func(err error)  // called once, outside the lock, on the first write error
	mode    writerMode       // see writer_modes.go; combining in production
	ch      chan *writeFrame // writerChannel mode only
	stop    <-chan struct{}  // writerChannel mode only: closed when the conn closes

	mu       sync.Mutex
	buf      []byte
	spare    []byte
	flushing bool
	err      error
}

// maxSpare is the largest buffer kept between flushes.
const maxSpare = 1 << 20

func (w *connWriter) write(c *Command) error {
	switch w.mode {
	case writerPerFrame:
		return w.writePerFrame(c)
	case writerChannel:
		return w.writeChannel(c)
	}
	flush, err := w.enqueue(c)
	if !flush {
		return err
	}
	return w.flush()
}

// enqueue appends c's frame to the buffer. flush reports that nobody is
// writing: the caller has become the flusher and must call flush.
func (w *connWriter) enqueue(c *Command) (flush bool, err error) {
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return false, err
	}
	if w.buf, err = AppendFrame(w.buf, c, c.wire.or(w.st)); err != nil {
		w.mu.Unlock()
		return false, err
	}
	if len(w.buf) > w.limit {
		w.mu.Unlock()
		return false, w.fail(frameErr(ErrFrameTooLarge, "%d bytes queued for writing exceed %d; peer not reading", len(w.buf), w.limit))
	}
	if w.flushing {
		w.mu.Unlock()
		return false, nil
	}
	w.flushing = true
	w.mu.Unlock()
	return true, nil
}

// flush writes the buffer until it stays empty; only the flusher that
// enqueue named calls it.
func (w *connWriter) flush() error {
	// Let other runnable goroutines append their frames first, so that
	// under load one syscall carries many frames. With nothing else to
	// run, Gosched returns at once.
	runtime.Gosched()
	w.mu.Lock()
	for len(w.buf) > 0 && w.err == nil {
		out := w.buf
		w.buf = w.spare[:0]
		w.spare = nil
		w.mu.Unlock()
		err := w.writeRaw(out)
		w.mu.Lock()
		if cap(out) <= maxSpare {
			w.spare = out[:0]
		}
		if err != nil && w.err == nil {
			w.err = err
			w.mu.Unlock()
			w.onError(err)
			w.mu.Lock()
		}
	}
	w.flushing = false
	err := w.err
	w.mu.Unlock()
	return err
}

func (w *connWriter) writeRaw(b []byte) error {
	if w.timeout > 0 {
		if err := w.nc.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
			return err
		}
	}
	_, err := w.nc.Write(b)
	return err
}

// fail records err as the writer's permanent error and reports it.
func (w *connWriter) fail(err error) error {
	w.mu.Lock()
	first := w.err == nil
	if first {
		w.err = err
		w.buf = nil
	}
	err = w.err
	w.mu.Unlock()
	if first {
		w.onError(err)
	}
	return err
}

// waitFlushed waits until every frame enqueued so far has been handed to
// the socket (or the writer failed), or ctx ends. A caller whose frame was
// left to another flusher returned before its bytes were written; closing
// the connection in that window would drop them (Server.Shutdown drains
// handlers, then waits here before it closes). Only the combining writer
// defers frames this way.
func (w *connWriter) waitFlushed(ctx context.Context) {
	if w.mode != writerCombining {
		return
	}
	for {
		w.mu.Lock()
		done := w.err != nil || (!w.flushing && len(w.buf) == 0)
		w.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Millisecond):
		}
	}
}
