package raftnet

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/hashicorp/raft"
)

const (
	kindAppendEntries byte = 1

	statusOK    byte = 0
	statusError byte = 1

	flagSuccess        byte = 1
	flagNoRetryBackoff byte = 2

	zeroTime = math.MinInt64

	// minEntryBytes is an entry's size with empty data and extensions:
	// what bounds a frame's entry count.
	minEntryBytes = 8 + 8 + 1 + 8 + 4 + 4

	// MaxFrame is the largest frame either side accepts. raft bounds an
	// AppendEntries by entry count only (MaxAppendEntries), so the bound is
	// the length field's; memory follows the bytes that actually arrive.
	MaxFrame = math.MaxUint32

	// firstChunk is the most a frame's buffer starts with before its bytes
	// arrive: an AppendEntries of a few hundred 1 KiB messages fits at once.
	firstChunk = 1 << 20
)

var hello = [5]byte{'R', 'M', 'Q', 'A', 1}

// ErrFrame is wrapped by every decode error: a peer sent bytes that are
// not this protocol, or a frame that does not add up.
var ErrFrame = errors.New("raftnet: malformed frame")

func frameErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrFrame, fmt.Sprintf(format, a...))
}

// readFrame reads one length-prefixed frame. Its buffer grows as the bytes
// arrive (doubling), so a claimed length alone allocates at most firstChunk.
func readFrame(r io.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n64 := uint64(binary.BigEndian.Uint32(h[:]))
	if n64 < 1 {
		return nil, frameErr("empty frame")
	}
	if n64 > math.MaxInt {
		return nil, frameErr("a %d-byte frame does not fit this platform", n64)
	}
	n := int(n64)
	buf := make([]byte, 0, min(n, firstChunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			c := n // doubling, without overflowing int
			if cap(buf) <= n/2 {
				c = 2 * cap(buf)
			}
			grown := make([]byte, len(buf), c)
			copy(grown, buf)
			buf = grown
		}
		m, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}

// decoder reads fields from one frame; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string, need int) {
	if d.err == nil {
		d.err = frameErr("%s: need %d bytes, %d left", what, need, len(d.b))
	}
	d.b = nil
}

// take returns the next n bytes, or nil after recording the error.
func (d *decoder) take(what string, n int) []byte {
	if len(d.b) < n {
		d.fail(what, n)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8(what string) byte {
	if b := d.take(what, 1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u32(what string) uint32 {
	if b := d.take(what, 4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64(what string) uint64 {
	if b := d.take(what, 8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// bytes returns a slice of the frame (nil when empty): no copy.
func (d *decoder) bytes(what string) []byte {
	n := d.u32(what)
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(d.b)) {
		d.fail(what, int(n))
		return nil
	}
	if n == 0 {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// header reads raft's RPC header: protocol version, id, address.
func (d *decoder) header() raft.RPCHeader {
	var h raft.RPCHeader
	h.ProtocolVersion = raft.ProtocolVersion(int32(d.u32("protocol version")))
	h.ID = d.bytes("id")
	h.Addr = d.bytes("addr")
	return h
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = frameErr("%d bytes after the last field", len(d.b))
	}
	return d.err
}

// encoder writes fields into a buffered writer; the first error sticks.
type encoder struct {
	w   *bufio.Writer
	tmp [8]byte
	err error
}

func (e *encoder) u8(v byte) {
	if e.err == nil {
		e.err = e.w.WriteByte(v)
	}
}

func (e *encoder) u32(v uint32) {
	if e.err == nil {
		binary.BigEndian.PutUint32(e.tmp[:4], v)
		_, e.err = e.w.Write(e.tmp[:4])
	}
}

func (e *encoder) u64(v uint64) {
	if e.err == nil {
		binary.BigEndian.PutUint64(e.tmp[:], v)
		_, e.err = e.w.Write(e.tmp[:])
	}
}

func (e *encoder) bytes(b []byte) {
	e.u32(uint32(len(b)))
	if e.err == nil && len(b) > 0 {
		_, e.err = e.w.Write(b)
	}
}

func (e *encoder) header(h raft.RPCHeader) {
	e.u32(uint32(h.ProtocolVersion))
	e.bytes(h.ID)
	e.bytes(h.Addr)
}

func appendRequestSize(a *raft.AppendEntriesRequest) uint64 {
	n := uint64(1 + 4 + 4 + len(a.ID) + 4 + len(a.Addr) + 8 + 4 + len(a.Leader) + 8 + 8 + 8 + 4)
	for _, l := range a.Entries {
		n += minEntryBytes + uint64(len(l.Data)) + uint64(len(l.Extensions))
	}
	return n
}

// writeAppendRequest encodes a into w (not flushed).
func writeAppendRequest(w *bufio.Writer, a *raft.AppendEntriesRequest) error {
	n := appendRequestSize(a)
	if n > MaxFrame {
		return fmt.Errorf("raftnet: AppendEntries of %d entries is %d bytes, over the %d-byte frame limit", len(a.Entries), n, uint64(MaxFrame))
	}
	e := encoder{w: w}
	e.u32(uint32(n))
	e.u8(kindAppendEntries)
	e.header(a.RPCHeader)
	e.u64(a.Term)
	e.bytes(a.Leader)
	e.u64(a.PrevLogEntry)
	e.u64(a.PrevLogTerm)
	e.u64(a.LeaderCommitIndex)
	e.u32(uint32(len(a.Entries)))
	for _, l := range a.Entries {
		e.u64(l.Index)
		e.u64(l.Term)
		e.u8(byte(l.Type))
		at := int64(zeroTime)
		if !l.AppendedAt.IsZero() {
			at = l.AppendedAt.UnixNano()
		}
		e.u64(uint64(at))
		e.bytes(l.Data)
		e.bytes(l.Extensions)
	}
	return e.err
}

// decodeAppendRequest decodes a request frame; the entries' Data and
// Extensions alias frame.
func decodeAppendRequest(frame []byte) (*raft.AppendEntriesRequest, error) {
	d := decoder{b: frame}
	if k := d.u8("kind"); d.err == nil && k != kindAppendEntries {
		return nil, frameErr("unknown request kind %d", k)
	}
	a := &raft.AppendEntriesRequest{}
	a.RPCHeader = d.header()
	a.Term = d.u64("term")
	a.Leader = d.bytes("leader")
	a.PrevLogEntry = d.u64("prev log entry")
	a.PrevLogTerm = d.u64("prev log term")
	a.LeaderCommitIndex = d.u64("leader commit index")
	count := d.u32("entry count")
	if d.err != nil {
		return nil, d.err
	}
	if uint64(count) > uint64(len(d.b))/minEntryBytes {
		return nil, frameErr("%d entries cannot fit in %d bytes", count, len(d.b))
	}
	if count > 0 {
		logs := make([]raft.Log, count) // one allocation for every entry
		a.Entries = make([]*raft.Log, count)
		for i := range logs {
			l := &logs[i]
			l.Index = d.u64("entry index")
			l.Term = d.u64("entry term")
			l.Type = raft.LogType(d.u8("entry type"))
			if at := int64(d.u64("entry appended at")); at != zeroTime {
				l.AppendedAt = time.Unix(0, at)
			}
			l.Data = d.bytes("entry data")
			l.Extensions = d.bytes("entry extensions")
			a.Entries[i] = l
		}
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return a, nil
}

// writeAppendResponse encodes a response or, when rpcErr is set, the
// error (not flushed).
func writeAppendResponse(w *bufio.Writer, r *raft.AppendEntriesResponse, rpcErr error) error {
	e := encoder{w: w}
	if rpcErr != nil {
		msg := rpcErr.Error()
		e.u32(uint32(1 + 4 + len(msg)))
		e.u8(statusError)
		e.bytes([]byte(msg))
		return e.err
	}
	if r == nil {
		r = &raft.AppendEntriesResponse{}
	}
	e.u32(uint32(1 + 4 + 4 + len(r.ID) + 4 + len(r.Addr) + 8 + 8 + 1))
	e.u8(statusOK)
	e.header(r.RPCHeader)
	e.u64(r.Term)
	e.u64(r.LastLog)
	var flags byte
	if r.Success {
		flags |= flagSuccess
	}
	if r.NoRetryBackoff {
		flags |= flagNoRetryBackoff
	}
	e.u8(flags)
	return e.err
}

// RemoteError is the error a peer's raft returned for a request.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }

// decodeAppendResponse decodes a response frame into r; a remote error
// comes back as *RemoteError.
func decodeAppendResponse(frame []byte, r *raft.AppendEntriesResponse) error {
	d := decoder{b: frame}
	switch st := d.u8("status"); {
	case d.err != nil:
		return d.err
	case st == statusError:
		msg := d.bytes("error")
		if err := d.done(); err != nil {
			return err
		}
		return &RemoteError{Msg: string(msg)}
	case st != statusOK:
		return frameErr("unknown response status %d", st)
	}
	// Into a local first: a frame that fails must leave r untouched (raft
	// reads Success without looking at the error in places).
	var out raft.AppendEntriesResponse
	out.RPCHeader = d.header() // the frame is never reused: aliasing is safe
	out.Term = d.u64("term")
	out.LastLog = d.u64("last log")
	flags := d.u8("flags")
	out.Success = flags&flagSuccess != 0
	out.NoRetryBackoff = flags&flagNoRetryBackoff != 0
	if err := d.done(); err != nil {
		return err
	}
	*r = out
	return nil
}
