package transport

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
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
	m := c.ExtFields
	clear(m)
	*c = Command{ExtFields: m, buf: c.buf}
	word := binary.BigEndian.Uint32(p)
	st, hl := SerializeType(word>>24), int(word&maxHeaderLen)
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
}

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
// ErrFrameTooLarge or ErrMalformedFrame means the stream cannot continue.
func (fr *FrameReader) ReadFrame(c *Command) error {
	c.reset()
	if _, err := io.ReadFull(fr.r, fr.word[:]); err != nil {
		return err
	}
	n, err := checkLength(binary.BigEndian.Uint32(fr.word[:]), fr.max)
	if err != nil {
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
	p := getBuf(n)
	if _, err := io.ReadFull(fr.r, *p); err != nil {
		putBuf(p)
		return unexpectedEOF(err)
	}
	c.buf = p
	if err := fr.dec.decodePayload(*p, c); err != nil {
		c.reset()
		return err
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
