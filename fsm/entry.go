package fsm

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/raftmq/raftmq/message"
)

// Entry layout (raft.Log.Data of every LogCommand the broker proposes):
//
//	magic 1 (0xE7) | version 1 (1) | count uint32 | count × command
//	command = type 1 | length uint32 | payload (length bytes)
//
// CmdAppend payloads are RocketMQ stored records back to back, exactly as a
// pull returns them except QUEUEOFFSET and PHYSICALOFFSET, which the FSM
// assigns and a pull patches in. The physical offset of a record is the
// entry's raftlog DataOffset plus its offset in Data, so it is the same on
// every replica. Other payloads are JSON (small, infrequent).
const (
	entryMagic   = 0xE7
	entryVersion = 1
	entryHeader  = 6
	cmdHeader    = 5
)

// CmdType identifies a command inside an entry.
type CmdType uint8

const (
	cmdInvalid CmdType = iota
	// CmdAppend appends messages (one send request: one message or a batch).
	CmdAppend
	// CmdOffsets commits consumer offsets.
	CmdOffsets
	// CmdTopic creates or updates a topic.
	CmdTopic
	// CmdDeleteTopic deletes a topic, its queues and its offsets.
	CmdDeleteTopic
	// CmdGroup creates or updates a subscription group.
	CmdGroup
	// CmdDeleteGroup deletes a subscription group and its offsets.
	CmdDeleteGroup
	// CmdACL creates, replaces or deletes an ACL account (ACLCommand).
	CmdACL
	// CmdTxn ends or records checks of transactions (TxnCommand, txn.go).
	CmdTxn
	// CmdAdvance moves a consumer offset from an expected value
	// (AdvanceCommand): the scheduler's move of ripe delayed and timer
	// messages, applied at most once.
	CmdAdvance
)

func (t CmdType) String() string {
	switch t {
	case CmdAppend:
		return "append"
	case CmdOffsets:
		return "offsets"
	case CmdTopic:
		return "topic"
	case CmdDeleteTopic:
		return "delete-topic"
	case CmdGroup:
		return "group"
	case CmdDeleteGroup:
		return "delete-group"
	case CmdACL:
		return "acl"
	case CmdTxn:
		return "txn"
	case CmdAdvance:
		return "advance"
	}
	return fmt.Sprintf("CmdType(%d)", uint8(t))
}

// ErrBadEntry reports an entry that does not decode.
var ErrBadEntry = errors.New("fsm: malformed entry")

// Command is one decoded command; Payload aliases the entry.
type Command struct {
	Type    CmdType
	Payload []byte
	// Pos is the payload's offset in the entry's Data.
	Pos int
}

// EntryBuilder packs commands into one entry. The zero value is ready.
type EntryBuilder struct {
	buf   []byte
	count uint32
	last  int // position of the last command's header
}

// Reset empties the builder, keeping its buffer.
func (b *EntryBuilder) Reset() {
	b.buf = b.buf[:0]
	b.count = 0
}

// Grow makes room for n more bytes, so that building an entry whose size
// is known allocates once.
func (b *EntryBuilder) Grow(n int) {
	if n > 0 && cap(b.buf)-len(b.buf) < n {
		nb := make([]byte, len(b.buf), len(b.buf)+n)
		copy(nb, b.buf)
		b.buf = nb
	}
}

// Len is the encoded size so far.
func (b *EntryBuilder) Len() int {
	if len(b.buf) == 0 {
		return entryHeader
	}
	return len(b.buf)
}

// Count is the number of commands added.
func (b *EntryBuilder) Count() int { return int(b.count) }

// Append adds every command of o (built separately) to b.
func (b *EntryBuilder) Append(o *EntryBuilder) {
	if o.count == 0 {
		return
	}
	if len(b.buf) == 0 {
		b.buf = append(b.buf, entryMagic, entryVersion, 0, 0, 0, 0)
	}
	b.buf = append(b.buf, o.buf[entryHeader:]...)
	b.count += o.count
	binary.BigEndian.PutUint32(b.buf[2:], b.count)
}

// Truncate drops what was added after Len was length and Count was count
// (a proposal that failed halfway through adding its commands).
func (b *EntryBuilder) Truncate(length, count int) {
	if count == 0 {
		b.Reset()
		return
	}
	b.buf = b.buf[:length]
	b.count = uint32(count)
	binary.BigEndian.PutUint32(b.buf[2:], b.count)
}

// Add appends a command whose payload is p.
func (b *EntryBuilder) Add(t CmdType, p []byte) {
	b.begin(t)
	b.buf = append(b.buf, p...)
	b.end()
}

// AddRecords appends a CmdAppend command made of the given records.
func (b *EntryBuilder) AddRecords(records ...[]byte) {
	b.begin(CmdAppend)
	for _, r := range records {
		b.buf = append(b.buf, r...)
	}
	b.end()
}

// AddJSON appends a command with a JSON payload.
func (b *EntryBuilder) AddJSON(t CmdType, v any) error {
	p, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("fsm: encode %v: %w", t, err)
	}
	b.Add(t, p)
	return nil
}

func (b *EntryBuilder) begin(t CmdType) {
	if len(b.buf) == 0 {
		b.buf = append(b.buf, entryMagic, entryVersion, 0, 0, 0, 0)
	}
	b.last = len(b.buf)
	b.buf = append(b.buf, byte(t), 0, 0, 0, 0)
}

func (b *EntryBuilder) end() {
	b.count++
	binary.BigEndian.PutUint32(b.buf[2:], b.count)
	binary.BigEndian.PutUint32(b.buf[b.last+1:], uint32(len(b.buf)-b.last-cmdHeader))
}

// Bytes returns the encoded entry (valid until the next Add or Reset).
func (b *EntryBuilder) Bytes() []byte { return b.buf }

// DecodeEntry splits data into commands without copying.
func DecodeEntry(data []byte, dst []Command) ([]Command, error) {
	if len(data) < entryHeader || data[0] != entryMagic {
		return dst, fmt.Errorf("%w: bad header", ErrBadEntry)
	}
	if data[1] != entryVersion {
		return dst, fmt.Errorf("%w: version %d", ErrBadEntry, data[1])
	}
	n := binary.BigEndian.Uint32(data[2:])
	pos := entryHeader
	for i := uint32(0); i < n; i++ {
		if len(data)-pos < cmdHeader {
			return dst, fmt.Errorf("%w: command %d truncated", ErrBadEntry, i)
		}
		t := CmdType(data[pos])
		l := int(binary.BigEndian.Uint32(data[pos+1:]))
		pos += cmdHeader
		if l < 0 || l > len(data)-pos {
			return dst, fmt.Errorf("%w: command %d length %d", ErrBadEntry, i, l)
		}
		if t == cmdInvalid || t > CmdAdvance {
			return dst, fmt.Errorf("%w: command type %d", ErrBadEntry, t)
		}
		dst = append(dst, Command{Type: t, Payload: data[pos : pos+l : pos+l], Pos: pos})
		pos += l
	}
	if pos != len(data) {
		return dst, fmt.Errorf("%w: %d trailing bytes", ErrBadEntry, len(data)-pos)
	}
	return dst, nil
}

// WalkRecords calls fn for each stored record of a CmdAppend payload with
// its offset in the payload. v is reused from one record to the next: fn
// copies what it keeps.
func WalkRecords(payload []byte, fn func(off int, rec []byte, v *message.RecordView) error) error {
	var v message.RecordView // one for the walk: fn must not keep it
	for off := 0; off < len(payload); {
		var err error
		v, err = message.ParseRecord(payload[off:])
		if err != nil {
			return fmt.Errorf("%w: record at %d: %w", ErrBadEntry, off, err)
		}
		rec := payload[off : off+int(v.Size)]
		if err := fn(off, rec, &v); err != nil {
			return err
		}
		off += int(v.Size)
	}
	return nil
}

// ACLCommand is the CmdACL payload. The FSM keeps accounts opaque (the
// broker's acl package gives them meaning); it only bounds their size.
type ACLCommand struct {
	AccessKey string          `json:"accessKey"`
	Account   json.RawMessage `json:"account,omitempty"`
	Deleted   bool            `json:"deleted,omitempty"`
}

// ACLEntry is a replicated ACL change: the account, or a deletion.
type ACLEntry struct {
	Account json.RawMessage `json:"account,omitempty"`
	Deleted bool            `json:"deleted,omitempty"`
}

// AdvanceCommand is the CmdAdvance payload: set the offset of Group on
// Topic/QueueID to To if it is From now (-1: none committed yet). It
// carries the With commands after it (the moved messages): when the offset
// is not From (the move was applied already: a proposal that timed out and
// committed after all, then proposed again), they are rejected with it, so
// a delayed or timer message is delivered once.
type AdvanceCommand struct {
	OffsetCommit
	From int64 `json:"from"`
	With int   `json:"with,omitempty"`
}

// OffsetCommit is one consumer offset in a CmdOffsets payload.
type OffsetCommit struct {
	Group   string `json:"g"`
	Topic   string `json:"t"`
	QueueID int32  `json:"q"`
	Offset  int64  `json:"o"`
}
