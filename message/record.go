package message

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"net/netip"
)

// MagicCode is the V1 record magic (Java MessageDecoder.MESSAGE_MAGIC_CODE).
const MagicCode uint32 = 0xDAA320A7

// Fixed byte positions in a record. Every field up to and including
// BORNHOST's start is at a fixed place; later fields move with the host
// address family.
const (
	RecordTotalSizePos   = 0
	RecordMagicPos       = 4
	RecordBodyCRCPos     = 8
	RecordQueueIDPos     = 12
	RecordFlagPos        = 16
	RecordQueueOffsetPos = 20 // patched by SetRecordQueueOffset
	RecordPhysOffsetPos  = 28 // patched by SetRecordPhysOffset
	RecordSysFlagPos     = 36
	RecordBornTimePos    = 40
	RecordBornHostPos    = 48
)

// MinRecordSize is the size of an IPv4 record with empty body, topic and
// properties.
const MinRecordSize = 91

// MaxTopicLen is the longest topic a record can hold (one signed byte).
const MaxTopicLen = 127

// RecordLen is the size of a record with the given variable parts.
func RecordLen(bodyLen, topicLen, propsLen int, bornV6, storeV6 bool) int {
	n := MinRecordSize + bodyLen + topicLen + propsLen
	if bornV6 {
		n += 12
	}
	if storeV6 {
		n += 12
	}
	return n
}

// RecordSize is the size AppendRecord will produce for m.
func RecordSize(m *MessageExt) (int, error) {
	if err := checkRecordParts(m, PropertiesLen(m.Properties)); err != nil {
		return 0, err
	}
	return RecordLen(len(m.Body), len(m.Topic), PropertiesLen(m.Properties),
		isV6(m.BornHost), isV6(m.StoreHost)), nil
}

func checkRecordParts(m *MessageExt, propsLen int) error {
	if len(m.Topic) > MaxTopicLen {
		return fmt.Errorf("%w: %d bytes", ErrTopicTooLong, len(m.Topic))
	}
	if propsLen > MaxPropertiesLen {
		return fmt.Errorf("%w: %d bytes", ErrPropertiesTooLong, propsLen)
	}
	// Keep the whole record addressable by the int32 TOTALSIZE.
	if len(m.Body) > math.MaxInt32-MinRecordSize-24-MaxTopicLen-MaxPropertiesLen {
		return fmt.Errorf("%w: %d bytes", ErrBodyTooLarge, len(m.Body))
	}
	return nil
}

// isV6 reports whether a host is written in the 16-byte form. IPv4 and
// IPv4-mapped IPv6 addresses use the 4-byte form; an invalid (zero)
// AddrPort is written as 0.0.0.0 with its port.
func isV6(ap netip.AddrPort) bool {
	a := ap.Addr().Unmap()
	return a.Is6()
}

// AppendRecord appends the stored record of m to dst (§7.1). The IPv6 bits
// of SysFlag are derived from BornHost and StoreHost (other bits are kept
// as given); BODYCRC is computed from Body; StoreSize is ignored. m is not
// modified. On error dst is returned unchanged.
func AppendRecord(dst []byte, m *MessageExt) ([]byte, error) {
	propsLen := PropertiesLen(m.Properties)
	if err := checkRecordParts(m, propsLen); err != nil {
		return dst, err
	}
	start := len(dst)
	dst = appendRecordHead(dst, m, propsLen)
	dst, err := AppendProperties(dst, m.Properties)
	if err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// AppendRecordWithProperties is AppendRecord with properties already
// encoded (e.g. the SEND_MESSAGE properties header or a batch item's raw
// properties), so the broker's write path never builds a map. props is
// copied as is; only its length is checked. m.Properties is ignored.
func AppendRecordWithProperties(dst []byte, m *MessageExt, props []byte) ([]byte, error) {
	if err := checkRecordParts(m, len(props)); err != nil {
		return dst, err
	}
	dst = appendRecordHead(dst, m, len(props))
	return append(dst, props...), nil
}

// appendRecordHead writes everything up to and including PROPLEN.
func appendRecordHead(dst []byte, m *MessageExt, propsLen int) []byte {
	bornV6, storeV6 := isV6(m.BornHost), isV6(m.StoreHost)
	size := RecordLen(len(m.Body), len(m.Topic), propsLen, bornV6, storeV6)
	sysFlag := m.SysFlag &^ (SysFlagBornHostV6 | SysFlagStoreHostV6)
	if bornV6 {
		sysFlag |= SysFlagBornHostV6
	}
	if storeV6 {
		sysFlag |= SysFlagStoreHostV6
	}
	dst = slicesGrow(dst, size)
	be := binary.BigEndian
	dst = be.AppendUint32(dst, uint32(size))
	dst = be.AppendUint32(dst, MagicCode)
	dst = be.AppendUint32(dst, crc32.ChecksumIEEE(m.Body))
	dst = be.AppendUint32(dst, uint32(m.QueueID))
	dst = be.AppendUint32(dst, uint32(m.Flag))
	dst = be.AppendUint64(dst, uint64(m.QueueOffset))
	dst = be.AppendUint64(dst, uint64(m.CommitLogOffset))
	dst = be.AppendUint32(dst, uint32(sysFlag))
	dst = be.AppendUint64(dst, uint64(m.BornTimestamp))
	dst = appendHost(dst, m.BornHost)
	dst = be.AppendUint64(dst, uint64(m.StoreTimestamp))
	dst = appendHost(dst, m.StoreHost)
	dst = be.AppendUint32(dst, uint32(m.ReconsumeTimes))
	dst = be.AppendUint64(dst, uint64(m.PreparedTransactionOffset))
	dst = be.AppendUint32(dst, uint32(len(m.Body)))
	dst = append(dst, m.Body...)
	dst = append(dst, byte(len(m.Topic)))
	dst = append(dst, m.Topic...)
	return be.AppendUint16(dst, uint16(propsLen))
}

func slicesGrow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		return nb
	}
	return b
}

func appendHost(dst []byte, ap netip.AddrPort) []byte {
	a := ap.Addr().Unmap()
	switch {
	case a.Is4():
		b := a.As4()
		dst = append(dst, b[:]...)
	case a.Is6():
		b := a.As16()
		dst = append(dst, b[:]...)
	default:
		dst = append(dst, 0, 0, 0, 0)
	}
	return binary.BigEndian.AppendUint32(dst, uint32(ap.Port()))
}

// SetRecordQueueOffset patches QUEUEOFFSET of a stored record in place.
// rec must hold at least the record's fixed prefix.
func SetRecordQueueOffset(rec []byte, v int64) {
	binary.BigEndian.PutUint64(rec[RecordQueueOffsetPos:], uint64(v))
}

// SetRecordPhysOffset patches PHYSICALOFFSET (commit log offset) in place.
func SetRecordPhysOffset(rec []byte, v int64) {
	binary.BigEndian.PutUint64(rec[RecordPhysOffsetPos:], uint64(v))
}

// RecordView is a parsed record whose variable parts alias the input.
// Building one does not allocate.
type RecordView struct {
	Size                      int32
	BodyCRC                   uint32
	QueueID                   int32
	Flag                      int32
	QueueOffset               int64
	PhysOffset                int64
	SysFlag                   int32
	BornTimestamp             int64
	BornHost                  netip.AddrPort
	StoreTimestamp            int64
	StoreHost                 netip.AddrPort
	ReconsumeTimes            int32
	PreparedTransactionOffset int64
	Body                      []byte
	Topic                     []byte
	Properties                []byte // encoded (§7.2)
}

// Property looks a property up in the encoded properties.
func (v *RecordView) Property(key string) ([]byte, bool) {
	return LookupProperty(v.Properties, key)
}

// recordParser walks a record with bounds checks.
type recordParser struct {
	b   []byte
	pos int
	err error
}

func (p *recordParser) fail(field string, cause error, detail string) {
	if p.err == nil {
		p.err = &DecodeError{What: "record", Field: field, Offset: p.pos, Detail: detail, Err: cause}
	}
}

func (p *recordParser) take(field string, n int) []byte {
	if p.err != nil {
		return nil
	}
	if n < 0 || len(p.b)-p.pos < n {
		p.fail(field, ErrTruncated, fmt.Sprintf("need %d bytes, have %d", n, len(p.b)-p.pos))
		return nil
	}
	s := p.b[p.pos : p.pos+n : p.pos+n]
	p.pos += n
	return s
}

func (p *recordParser) u32(field string) uint32 {
	if s := p.take(field, 4); s != nil {
		return binary.BigEndian.Uint32(s)
	}
	return 0
}

func (p *recordParser) u64(field string) uint64 {
	if s := p.take(field, 8); s != nil {
		return binary.BigEndian.Uint64(s)
	}
	return 0
}

func (p *recordParser) host(field, portField string, v6 bool) netip.AddrPort {
	n := 4
	if v6 {
		n = 16
	}
	ip := p.take(field, n)
	port := p.u32(portField)
	if p.err != nil {
		return netip.AddrPort{}
	}
	if port > math.MaxUint16 {
		p.pos -= 4
		p.fail(portField, ErrCorrupt, fmt.Sprintf("port %d out of range", int32(port)))
		return netip.AddrPort{}
	}
	var a netip.Addr
	if v6 {
		a = netip.AddrFrom16([16]byte(ip))
	} else {
		a = netip.AddrFrom4([4]byte(ip))
	}
	return netip.AddrPortFrom(a, uint16(port))
}

// ParseRecord parses the record at the start of rec without copying or
// verifying BODYCRC. It checks the magic, every length against the input,
// and that TOTALSIZE equals the sum of the fields (the official client
// ignores TOTALSIZE, so a mismatch would desynchronise it). rec may hold
// more bytes after the record; v.Size says where it ends.
func ParseRecord(rec []byte) (RecordView, error) {
	var v RecordView
	p := recordParser{b: rec}
	size := p.u32("TOTALSIZE")
	if p.err == nil && (size < MinRecordSize || size > math.MaxInt32) {
		p.pos = 0
		p.fail("TOTALSIZE", ErrCorrupt, fmt.Sprintf("size %d out of range (minimum %d)", int32(size), MinRecordSize))
	}
	if p.err == nil && uint64(size) > uint64(len(rec)) {
		p.pos = 0
		p.fail("TOTALSIZE", ErrTruncated, fmt.Sprintf("record of %d bytes, have %d", size, len(rec)))
	}
	if p.err != nil {
		return v, p.err
	}
	// Parse inside the declared size so a lying length cannot read the next record.
	p.b = rec[:size]
	v.Size = int32(size)
	if magic := p.u32("MAGICCODE"); p.err == nil && magic != MagicCode {
		p.pos -= 4
		p.fail("MAGICCODE", ErrCorrupt, fmt.Sprintf("0x%08X, want 0x%08X", magic, MagicCode))
	}
	v.BodyCRC = p.u32("BODYCRC")
	v.QueueID = int32(p.u32("QUEUEID"))
	v.Flag = int32(p.u32("FLAG"))
	v.QueueOffset = int64(p.u64("QUEUEOFFSET"))
	v.PhysOffset = int64(p.u64("PHYSICALOFFSET"))
	v.SysFlag = int32(p.u32("SYSFLAG"))
	v.BornTimestamp = int64(p.u64("BORNTIMESTAMP"))
	v.BornHost = p.host("BORNHOST", "BORNHOST port", v.SysFlag&SysFlagBornHostV6 != 0)
	v.StoreTimestamp = int64(p.u64("STORETIMESTAMP"))
	v.StoreHost = p.host("STOREHOST", "STOREHOST port", v.SysFlag&SysFlagStoreHostV6 != 0)
	v.ReconsumeTimes = int32(p.u32("RECONSUMETIMES"))
	v.PreparedTransactionOffset = int64(p.u64("PREPAREDTRANSACTIONOFFSET"))
	bodyLen := p.u32("BODYLEN")
	if p.err == nil && bodyLen > math.MaxInt32 {
		p.pos -= 4
		p.fail("BODYLEN", ErrCorrupt, fmt.Sprintf("negative length %d", int32(bodyLen)))
	}
	v.Body = p.take("BODY", int(bodyLen))
	if tl := p.take("TOPICLEN", 1); tl != nil {
		if tl[0] > MaxTopicLen {
			p.pos--
			p.fail("TOPICLEN", ErrCorrupt, fmt.Sprintf("negative length %d", int8(tl[0])))
		}
		v.Topic = p.take("TOPIC", int(tl[0]))
	}
	if pl := p.take("PROPLEN", 2); pl != nil {
		n := binary.BigEndian.Uint16(pl)
		if n > MaxPropertiesLen {
			p.pos -= 2
			p.fail("PROPLEN", ErrCorrupt, fmt.Sprintf("negative length %d", int16(n)))
		}
		v.Properties = p.take("PROPERTIES", int(n))
	}
	if used := p.pos; p.err == nil && used != int(size) {
		p.pos = 0
		p.fail("TOTALSIZE", ErrCorrupt, fmt.Sprintf("says %d bytes, fields take %d", size, used))
	}
	if p.err != nil {
		return RecordView{}, p.err
	}
	return v, nil
}

// DecodeRecord decodes the record at the start of b and returns it with its
// size. Beyond ParseRecord it verifies BODYCRC. Body aliases b; topic and
// properties are copied. It never panics and allocates only in proportion
// to the record.
func DecodeRecord(b []byte) (*MessageExt, int, error) {
	m := new(MessageExt)
	n, err := decodeRecordInto(m, b, "")
	if err != nil {
		return nil, 0, err
	}
	return m, n, nil
}

// decodeRecordInto is DecodeRecord into m. The topic is prevTopic when the
// record's is the same, so that a pull of one topic copies it once.
func decodeRecordInto(m *MessageExt, b []byte, prevTopic string) (int, error) {
	v, err := ParseRecord(b)
	if err != nil {
		return 0, err
	}
	if crc := crc32.ChecksumIEEE(v.Body); crc != v.BodyCRC {
		return 0, &DecodeError{What: "record", Field: "BODYCRC", Offset: RecordBodyCRCPos,
			Detail: fmt.Sprintf("stored 0x%08X, body has 0x%08X", v.BodyCRC, crc), Err: ErrCorrupt}
	}
	topic := prevTopic
	if string(v.Topic) != prevTopic {
		topic = string(v.Topic)
	}
	*m = MessageExt{
		Message: Message{
			Topic:      topic,
			Flag:       v.Flag,
			Body:       v.Body,
			Properties: DecodeProperties(v.Properties),
		},
		QueueID:                   v.QueueID,
		QueueOffset:               v.QueueOffset,
		CommitLogOffset:           v.PhysOffset,
		SysFlag:                   v.SysFlag,
		BornTimestamp:             v.BornTimestamp,
		BornHost:                  v.BornHost,
		StoreTimestamp:            v.StoreTimestamp,
		StoreHost:                 v.StoreHost,
		ReconsumeTimes:            v.ReconsumeTimes,
		PreparedTransactionOffset: v.PreparedTransactionOffset,
		BodyCRC:                   v.BodyCRC,
		StoreSize:                 v.Size,
	}
	return int(v.Size), nil
}

// DecodeRecords decodes a PULL_MESSAGE body: records back to back. The
// messages share one allocation, and their topic one copy while it repeats.
func DecodeRecords(b []byte) ([]*MessageExt, error) {
	n := countRecords(b)
	slab := make([]MessageExt, n)
	out := make([]*MessageExt, 0, n)
	topic := ""
	for off := 0; off < len(b); {
		var m *MessageExt
		if len(out) < len(slab) {
			m = &slab[len(out)]
		} else {
			m = new(MessageExt) // countRecords stopped early: a bad record follows
		}
		size, err := decodeRecordInto(m, b[off:], topic)
		if err != nil {
			return out, fmt.Errorf("record %d at byte %d: %w", len(out), off, err)
		}
		topic = m.Topic
		out = append(out, m)
		off += size
	}
	return out, nil
}

// countRecords is how many records b holds by their TOTALSIZE fields alone,
// stopping at the first that cannot be a record. It bounds what
// DecodeRecords allocates by len(b), whatever the sizes say.
func countRecords(b []byte) int {
	n := 0
	for len(b) >= 4 {
		size := int64(int32(binary.BigEndian.Uint32(b)))
		if size < MinRecordSize || size > int64(len(b)) {
			break
		}
		b = b[size:]
		n++
	}
	return n
}
