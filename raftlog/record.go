package raftlog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/hashicorp/raft"
)

// Record layout (big-endian), one per raft.Log:
//
//	off size field
//	  0    4 magic      recordMagic
//	  4    4 size       whole record length: header + data + extensions
//	  8    4 crc        CRC-32C (Castagnoli) of bytes [12, size)
//	 12    1 type       raft.LogType
//	 13    1 flags      flagAppendedAt: appendedAt holds a time
//	 14    2 batchOff   index minus the first index of its StoreLogs batch
//	                    (saturating); lets recovery tell a torn last batch
//	                    from corruption followed by later, durable batches
//	 16    8 index      raft index
//	 24    8 term       raft term
//	 32    8 appendedAt unix nanoseconds (valid when flagAppendedAt)
//	 40    4 dataLen
//	 44    4 extLen
//	 48      data, then extensions
//
// Data comes first so that the physical offset of Data[0] is always the
// record offset + HeaderSize, whatever the extensions.
const (
	// HeaderSize is the fixed size of a record header; an entry's Data starts
	// HeaderSize bytes after the record's physical offset.
	HeaderSize = 48

	recordMagic uint32 = 0x52514C31 // "RQL1"
	// blankMagic marks the unused tail of a segment: the next record did not
	// fit, so it starts at the next segment. Followed by the 4-byte length of
	// the blank region. Written only when at least blankSize bytes remain.
	blankMagic uint32 = 0xB1A4CEED
	blankSize         = 8

	flagAppendedAt = 1 << 0
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordSize is the on-disk size of l's record.
func recordSize(l *raft.Log) int64 {
	return int64(HeaderSize + len(l.Data) + len(l.Extensions))
}

// appendRecord encodes l at the end of dst. batchOff is l.Index minus the
// first index of the StoreLogs batch it belongs to.
func appendRecord(dst []byte, l *raft.Log, batchOff uint64) []byte {
	dst = appendRecordHeader(dst, l, batchOff)
	dst = append(dst, l.Data...)
	return append(dst, l.Extensions...)
}

// appendRecordHeader appends the header of l's record, whose CRC covers
// the Data and Extensions that follow it.
func appendRecordHeader(dst []byte, l *raft.Log, batchOff uint64) []byte {
	start := len(dst)
	dst = grow(dst, HeaderSize)
	b := dst[start : start+HeaderSize]
	binary.BigEndian.PutUint32(b[0:], recordMagic)
	binary.BigEndian.PutUint32(b[4:], uint32(recordSize(l)))
	b[12] = byte(l.Type)
	var flags byte
	var at int64
	if !l.AppendedAt.IsZero() {
		flags |= flagAppendedAt
		at = l.AppendedAt.UnixNano()
	}
	b[13] = flags
	binary.BigEndian.PutUint16(b[14:], uint16(min(batchOff, 0xFFFF)))
	binary.BigEndian.PutUint64(b[16:], l.Index)
	binary.BigEndian.PutUint64(b[24:], l.Term)
	binary.BigEndian.PutUint64(b[32:], uint64(at))
	binary.BigEndian.PutUint32(b[40:], uint32(len(l.Data)))
	binary.BigEndian.PutUint32(b[44:], uint32(len(l.Extensions)))
	crc := crc32.Checksum(b[12:], castagnoli)
	crc = crc32.Update(crc, castagnoli, l.Data)
	binary.BigEndian.PutUint32(b[8:], crc32.Update(crc, castagnoli, l.Extensions))
	return dst
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, 2*cap(b)+n)
	copy(nb, b)
	return nb
}

// header is a decoded record header.
type header struct {
	size     uint32
	crc      uint32
	batchOff uint16
	typ      raft.LogType
	flags    byte
	index    uint64
	term     uint64
	at       int64
	dataLen  uint32
	extLen   uint32
}

// parseHeader decodes and sanity-checks a record header. It does not check
// the CRC (the payload may not be read yet). maxSize bounds the record size.
func parseHeader(b []byte, maxSize int64) (header, error) {
	if len(b) < HeaderSize {
		return header{}, fmt.Errorf("%w: short header (%d bytes)", errBadRecord, len(b))
	}
	if m := binary.BigEndian.Uint32(b[0:]); m != recordMagic {
		return header{}, fmt.Errorf("%w: bad magic %#x", errBadRecord, m)
	}
	h := header{
		size:     binary.BigEndian.Uint32(b[4:]),
		crc:      binary.BigEndian.Uint32(b[8:]),
		typ:      raft.LogType(b[12]),
		flags:    b[13],
		batchOff: binary.BigEndian.Uint16(b[14:]),
		index:    binary.BigEndian.Uint64(b[16:]),
		term:     binary.BigEndian.Uint64(b[24:]),
		at:       int64(binary.BigEndian.Uint64(b[32:])),
		dataLen:  binary.BigEndian.Uint32(b[40:]),
		extLen:   binary.BigEndian.Uint32(b[44:]),
	}
	if int64(h.size) > maxSize || h.size < HeaderSize {
		return header{}, fmt.Errorf("%w: size %d out of range", errBadRecord, h.size)
	}
	if uint64(h.dataLen)+uint64(h.extLen)+HeaderSize != uint64(h.size) {
		return header{}, fmt.Errorf("%w: lengths %d+%d do not match size %d", errBadRecord, h.dataLen, h.extLen, h.size)
	}
	if h.flags&^flagAppendedAt != 0 {
		return header{}, fmt.Errorf("%w: reserved bits set", errBadRecord)
	}
	return h, nil
}

// decodeRecord validates a whole record held in b (exactly h.size bytes) and
// fills l. l.Data and l.Extensions alias b.
func decodeRecord(b []byte, l *raft.Log) error {
	h, err := parseHeader(b, int64(len(b)))
	if err != nil {
		return err
	}
	if int(h.size) != len(b) {
		return fmt.Errorf("%w: record is %d bytes, buffer %d", errBadRecord, h.size, len(b))
	}
	if crc := crc32.Checksum(b[12:], castagnoli); crc != h.crc {
		return fmt.Errorf("%w: crc %#x, want %#x", errBadRecord, crc, h.crc)
	}
	h.fill(b, l)
	return nil
}

func (h header) fill(b []byte, l *raft.Log) {
	l.Index = h.index
	l.Term = h.term
	l.Type = h.typ
	l.Data, l.Extensions = nil, nil
	if h.dataLen > 0 {
		l.Data = b[HeaderSize : HeaderSize+h.dataLen : HeaderSize+h.dataLen]
	}
	if h.extLen > 0 {
		l.Extensions = b[HeaderSize+h.dataLen : h.size : h.size]
	}
	l.AppendedAt = time.Time{}
	if h.flags&flagAppendedAt != 0 {
		l.AppendedAt = time.Unix(0, h.at)
	}
}
