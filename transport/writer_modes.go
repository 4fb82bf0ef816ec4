package transport

// Alternative write strategies, kept so BenchmarkWriter can compare them
// with the combining writer on real sockets. Production uses combining.

type writerMode int

const (
	writerCombining writerMode = iota // shared buffer, whoever finds it idle flushes
	writerPerFrame                    // mutex held across encode + write: one syscall per frame
	writerChannel                     // frames encoded by the caller, written by a goroutine
)

// defaultWriterMode is switched only by benchmarks.
var defaultWriterMode = writerCombining

func (w *connWriter) writePerFrame(c *Command) error {
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	var err error
	if w.buf, err = AppendFrame(w.buf[:0], c, c.wire.or(w.st)); err != nil {
		w.mu.Unlock()
		return err
	}
	err = w.writeRaw(w.buf)
	if cap(w.buf) > maxSpare {
		w.buf = nil
	}
	first := err != nil && w.err == nil
	if first {
		w.err = err
	}
	w.mu.Unlock()
	if first {
		w.onError(err)
	}
	return err
}

type writeFrame struct{ b *[]byte }

func (w *connWriter) writeChannel(c *Command) error {
	w.mu.Lock()
	err := w.err
	w.mu.Unlock()
	if err != nil {
		return err
	}
	// Encode now: the caller may recycle c as soon as we return.
	p := getBuf(0)
	b, err := AppendFrame((*p)[:0], c, c.wire.or(w.st))
	if err != nil {
		putBuf(p)
		return err
	}
	*p = b
	select {
	case w.ch <- &writeFrame{b: p}:
		return nil
	case <-w.stop:
		putBuf(p)
		return ErrConnClosed
	}
}

// runChannelWriter is the writer goroutine of writerChannel mode; it exits
// when stop closes.
func (w *connWriter) runChannelWriter() {
	stop := w.stop
	var out []byte
	for {
		var f *writeFrame
		select {
		case f = <-w.ch:
		case <-stop:
			return
		}
		out = append(out[:0], *f.b...)
		putBuf(f.b)
	more:
		for len(out) < 256<<10 {
			select {
			case f = <-w.ch:
				out = append(out, *f.b...)
				putBuf(f.b)
			default:
				break more
			}
		}
		if err := w.writeRaw(out); err != nil {
			w.fail(err)
			// Keep draining so writers never block on a dead connection.
			for {
				select {
				case f = <-w.ch:
					putBuf(f.b)
				case <-stop:
					return
				}
			}
		}
	}
}
