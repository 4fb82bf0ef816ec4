package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// DefaultMaxFrameSize matches Java's frameMaxLength (16 MiB).
const DefaultMaxFrameSize = 16 << 20

// maxHeaderLen is what the 24-bit header length can express.
const maxHeaderLen = 1<<24 - 1

// AppendFrame appends c encoded as one frame:
//
//	length int32 | serializeType<<24 | headerLen (int32) | header | body
//
// where length counts everything after itself. On error dst is returned
// with its original length.
func AppendFrame(dst []byte, c *Command, st SerializeType) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	var err error
	switch st {
	case SerializeJSON:
		dst = appendJSONHeader(dst, c)
	case SerializeRocketMQ:
		dst, err = appendRocketMQHeader(dst, c)
	default:
		err = frameErr(ErrEncode, "unknown serialize type %d", st)
	}
	if err != nil {
		return dst[:start], err
	}
	hl := len(dst) - start - 8
	if hl > maxHeaderLen {
		return dst[:start], frameErr(ErrEncode, "header of %d bytes exceeds %d", hl, maxHeaderLen)
	}
	if uint64(hl)+uint64(len(c.Body))+4 > math.MaxInt32 {
		return dst[:start], frameErr(ErrEncode, "frame of %d bytes exceeds int32", hl+len(c.Body)+4)
	}
	dst = append(dst, c.Body...)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	binary.BigEndian.PutUint32(dst[start+4:], uint32(st)<<24|uint32(hl))
	return dst, nil
}

// DecodeFrame decodes the complete frame at the start of b into c and
// returns its size. c's previous contents are replaced (its ExtFields map
// is reused); Body aliases b. ErrIncompleteFrame means b holds only part
// of a frame. A frame whose length exceeds maxFrameSize (0 means
// DefaultMaxFrameSize) is rejected before anything else.
func DecodeFrame(b []byte, c *Command, maxFrameSize int) (int, error) {
	if len(b) < 4 {
		return 0, frameErr(ErrIncompleteFrame, "have %d bytes of the length word", len(b))
	}
	n, err := checkLength(binary.BigEndian.Uint32(b), maxFrameSize)
	if err != nil {
		return 0, err
	}
	if len(b)-4 < n {
		return 0, frameErr(ErrIncompleteFrame, "frame of %d bytes, have %d", n, len(b)-4)
	}
	var d headerDecoder
	if err := d.decodePayload(b[4:4+n:4+n], c); err != nil {
		return 0, err
	}
	return 4 + n, nil
}

func checkLength(v uint32, max int) (int, error) {
	if max <= 0 {
		max = DefaultMaxFrameSize
	}
	if v > math.MaxInt32 {
		return 0, frameErr(ErrMalformedFrame, "negative length %d", int32(v))
	}
	if v < 4 {
		return 0, frameErr(ErrMalformedFrame, "length %d shorter than the header-length word", v)
	}
	if uint64(v) > uint64(max) {
		return 0, frameErr(ErrFrameTooLarge, "length %d exceeds limit %d", v, max)
	}
	return int(v), nil
}

// decodePayload decodes what follows the length word.
func (d *headerDecoder) decodePayload(p []byte, c *Command) error {
	*c = Command{ExtFields: c.storage(), buf: c.buf, pairs: c.reusablePairs()}
	word := binary.BigEndian.Uint32(p)
	st, hl := SerializeType(word>>24), int(word&maxHeaderLen)
	c.wire = wireType(st + 1)
	if hl > len(p)-4 {
		return frameErr(ErrMalformedFrame, "header length %d exceeds frame payload %d", hl, len(p)-4)
	}
	h := p[4 : 4+hl]
	var err error
	switch st {
	case SerializeJSON:
		err = d.decodeJSON(h, c)
	case SerializeRocketMQ:
		err = d.decodeRocketMQ(h, c)
	default:
		err = frameErr(ErrMalformedFrame, "unknown serialize type %d", st)
	}
	if err != nil {
		return err
	}
	if body := p[4+hl:]; len(body) > 0 {
		c.Body = body
	}
	return nil
}

// FrameReader reads frames from a stream, reusing buffers: with a reused
// Command, reading a frame whose strings it has seen before does not
// allocate. Not safe for concurrent use.
type FrameReader struct {
	r      io.Reader
	max    int
	pooled bool
	dec    headerDecoder
	word   [4]byte
	guard  *frameGuard
}

// frameGuard protects a server from frames that arrive slowly or never
// finish. A frame not already buffered must complete within timeout, and
// its memory grows with the bytes that arrived (never with the declared
// length), reserved from a budget shared by every connection.
type frameGuard struct {
	timeout     time.Duration
	budget      *byteBudget // nil: unbounded
	setDeadline func(time.Time) error
	stop        <-chan struct{}
	armed       bool // the read deadline was set for a frame
}

// slowChunk is the first allocation for a frame that is not buffered yet;
// the buffer doubles as bytes arrive.
const slowChunk = 64 << 10

// maxOversizeHeader bounds the header read from an oversized frame to
// answer it; a larger header closes the connection instead.
const maxOversizeHeader = 64 << 10

// NewFrameReader reads frames of at most maxFrameSize bytes (0 means
// DefaultMaxFrameSize) from r, which should be buffered. Bodies live in
// pooled buffers that go back to the pool when the Command is reused or
// recycled.
func NewFrameReader(r io.Reader, maxFrameSize int) *FrameReader {
	if maxFrameSize <= 0 {
		maxFrameSize = DefaultMaxFrameSize
	}
	return &FrameReader{r: r, max: maxFrameSize, pooled: true, dec: headerDecoder{intern: make(map[string]string, maxInterned)}}
}

// ReadFrame reads the next frame into c, replacing its contents. io.EOF
// means the stream ended cleanly between frames; an error wrapping
// ErrFrameTooLarge or ErrMalformedFrame means the stream cannot continue,
// except for an *OversizeError, after which c holds the frame's header
// and Skip discards its body.
func (fr *FrameReader) ReadFrame(c *Command) error {
	c.reset()
	if _, err := io.ReadFull(fr.r, fr.word[:]); err != nil {
		return err
	}
	v := binary.BigEndian.Uint32(fr.word[:])
	n, err := checkLength(v, fr.max)
	if err != nil {
		if errors.Is(err, ErrFrameTooLarge) && fr.guard != nil {
			return fr.readOversizeHeader(c, int64(v))
		}
		return err
	}
	if !fr.pooled {
		buf := make([]byte, n) // the caller keeps the Command: exact size, not pooled
		if _, err := io.ReadFull(fr.r, buf); err != nil {
			return unexpectedEOF(err)
		}
		if err := fr.dec.decodePayload(buf, c); err != nil {
			c.reset()
			return err
		}
		return nil
	}
	var p *[]byte
	if fr.guard == nil || fr.buffered() >= n {
		p = getBuf(n)
		if _, err := io.ReadFull(fr.r, *p); err != nil {
			putBuf(p)
			return unexpectedEOF(err)
		}
	} else if p, err = fr.readSlow(n); err != nil {
		return err
	}
	c.buf = p
	if err := fr.dec.decodePayload(*p, c); err != nil {
		c.reset()
		return err
	}
	return nil
}

func (fr *FrameReader) buffered() int {
	if b, ok := fr.r.(interface{ Buffered() int }); ok {
		return b.Buffered()
	}
	return 0
}

// arm starts the deadline of a frame that has to be waited for.
func (fr *FrameReader) arm() (time.Time, error) {
	g := fr.guard
	deadline := time.Now().Add(g.timeout)
	if g.timeout > 0 && g.setDeadline != nil {
		if err := g.setDeadline(deadline); err != nil {
			return deadline, err
		}
		g.armed = true
	}
	return deadline, nil
}

// disarmed reports (and clears) whether a frame changed the read deadline.
func (fr *FrameReader) disarmed() bool {
	if fr.guard == nil || !fr.guard.armed {
		return false
	}
	fr.guard.armed = false
	return true
}

// readSlow reads an n-byte frame payload that is not buffered yet.
func (fr *FrameReader) readSlow(n int) (*[]byte, error) {
	g := fr.guard
	deadline, err := fr.arm()
	if err != nil {
		return nil, err
	}
	var held int64
	defer func() {
		if g.budget != nil {
			g.budget.release(held)
		}
	}()
	grow := func(to int) error {
		if g.budget != nil {
			if !g.budget.acquire(int64(to)-held, deadline, g.stop) {
				return fmt.Errorf("%w: a %d-byte frame cannot get memory (%d bytes already held for unfinished frames)",
					ErrOverloaded, n, g.budget.inUse())
			}
			held = int64(to)
		}
		return nil
	}
	size := min(n, slowChunk)
	if err := grow(size); err != nil {
		return nil, err
	}
	p := getBuf(size)
	filled := 0
	for filled < n {
		if filled == len(*p) {
			size = min(n, 2*len(*p))
			if err := grow(size); err != nil {
				putBuf(p)
				return nil, err
			}
			np := getBuf(size)
			copy(*np, (*p)[:filled])
			putBuf(p)
			p = np
		}
		k, err := fr.r.Read((*p)[filled:])
		filled += k
		if err != nil && filled < n {
			putBuf(p)
			return nil, unexpectedEOF(err)
		}
	}
	return p, nil
}

// OversizeError is a frame over the size limit whose header could be read:
// the server answers it and skips its body instead of resetting the
// connection.
type OversizeError struct {
	Size  int64 // the frame's declared length
	Limit int
	skip  int64 // body bytes still to discard
}

func (e *OversizeError) Error() string {
	return fmt.Sprintf("%v: a %d-byte frame exceeds the limit of %d bytes", ErrFrameTooLarge, e.Size, e.Limit)
}

func (e *OversizeError) Unwrap() error { return ErrFrameTooLarge }

// readOversizeHeader reads the header of a frame whose declared length v
// is over the limit, so that it can be answered.
func (fr *FrameReader) readOversizeHeader(c *Command, v int64) error {
	tooLarge := frameErr(ErrFrameTooLarge, "length %d exceeds limit %d", v, fr.max)
	if v > math.MaxInt32 {
		return tooLarge
	}
	if _, err := fr.arm(); err != nil {
		return err
	}
	if _, err := io.ReadFull(fr.r, fr.word[:]); err != nil {
		return unexpectedEOF(err)
	}
	hl := int64(binary.BigEndian.Uint32(fr.word[:]) & maxHeaderLen)
	if hl > maxOversizeHeader || hl > v-4 {
		return tooLarge
	}
	buf := make([]byte, 4+hl)
	copy(buf, fr.word[:])
	if _, err := io.ReadFull(fr.r, buf[4:]); err != nil {
		return unexpectedEOF(err)
	}
	if err := fr.dec.decodePayload(buf, c); err != nil {
		c.reset()
		return tooLarge
	}
	c.Body = nil
	return &OversizeError{Size: v, Limit: fr.max, skip: v - 4 - hl}
}

// Skip discards the body of the oversized frame e, under the frame
// deadline, so the connection can go on with the next frame.
func (fr *FrameReader) Skip(e *OversizeError) error {
	if _, err := io.CopyN(io.Discard, fr.r, e.skip); err != nil {
		return unexpectedEOF(err)
	}
	return nil
}

// unexpectedEOF reports a stream that ends inside a frame as such.
func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadFrame reads one frame from r into a new Command that owns its memory.
func ReadFrame(r io.Reader, maxFrameSize int) (*Command, error) {
	fr := FrameReader{r: r, max: maxFrameSize}
	if fr.max <= 0 {
		fr.max = DefaultMaxFrameSize
	}
	c := &Command{}
	if err := fr.ReadFrame(c); err != nil {
		return nil, err
	}
	return c, nil
}
