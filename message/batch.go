package message

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Batch item layout (§7.3), as the official client's Message.Marshal writes
// it: TOTALSIZE 4 | MAGIC 4 | BODYCRC 4 | FLAG 4 | BODYLEN 4 | BODY |
// PROPLEN 2 | PROPERTIES. Magic and CRC are written as 0 and never checked.
const (
	batchFixedLen = 22
	batchFlagPos  = 12
	batchBodyPos  = 16
)

// BatchItem is one message of a SEND_BATCH_MESSAGE body. Body and
// Properties alias the decoded input.
type BatchItem struct {
	Flag       int32
	Body       []byte
	Properties []byte // encoded (§7.2)
}

// DecodeProperties decodes the item's properties.
func (it *BatchItem) DecodeProperties() map[string]string {
	return DecodeProperties(it.Properties)
}

// Property looks a property up without allocating.
func (it *BatchItem) Property(key string) ([]byte, bool) {
	return LookupProperty(it.Properties, key)
}

// DecodeBatch splits a batch body into its items. Every length is checked
// against the input and each TOTALSIZE must equal its fields' sum; magic
// and CRC are ignored, as Java does for batches. An empty body is an error
// (a batch has at least one message).
func DecodeBatch(body []byte) ([]BatchItem, error) {
	if len(body) == 0 {
		return nil, &DecodeError{What: "batch item", Field: "TOTALSIZE", Detail: "empty batch", Err: ErrTruncated}
	}
	items := make([]BatchItem, 0, min(len(body)/batchFixedLen, 64))
	for off := 0; off < len(body); {
		it, n, err := decodeBatchItem(body[off:])
		if err != nil {
			if de, ok := err.(*DecodeError); ok {
				de.Offset += off
				de.Detail = fmt.Sprintf("item %d: %s", len(items), de.Detail)
			}
			return nil, err
		}
		items = append(items, it)
		off += n
	}
	return items, nil
}

func decodeBatchItem(b []byte) (BatchItem, int, error) {
	fail := func(field string, off int, cause error, detail string) (BatchItem, int, error) {
		return BatchItem{}, 0, &DecodeError{What: "batch item", Field: field, Offset: off, Detail: detail, Err: cause}
	}
	if len(b) < batchFixedLen {
		return fail("TOTALSIZE", 0, ErrTruncated, fmt.Sprintf("need %d bytes, have %d", batchFixedLen, len(b)))
	}
	size := binary.BigEndian.Uint32(b)
	if size < batchFixedLen || size > math.MaxInt32 {
		return fail("TOTALSIZE", 0, ErrCorrupt, fmt.Sprintf("size %d out of range", int32(size)))
	}
	if uint64(size) > uint64(len(b)) {
		return fail("TOTALSIZE", 0, ErrTruncated, fmt.Sprintf("item of %d bytes, have %d", size, len(b)))
	}
	b = b[:size]
	bodyLen := binary.BigEndian.Uint32(b[batchBodyPos:])
	if uint64(bodyLen) > uint64(size)-batchFixedLen {
		return fail("BODYLEN", batchBodyPos, ErrCorrupt, fmt.Sprintf("length %d exceeds item size %d", int32(bodyLen), size))
	}
	propPos := batchBodyPos + 4 + int(bodyLen)
	propLen := int(binary.BigEndian.Uint16(b[propPos:]))
	if propLen > MaxPropertiesLen {
		return fail("PROPLEN", propPos, ErrCorrupt, fmt.Sprintf("negative length %d", int16(propLen)))
	}
	if end := propPos + 2 + propLen; end != int(size) {
		return fail("TOTALSIZE", 0, ErrCorrupt, fmt.Sprintf("says %d bytes, fields take %d", size, end))
	}
	body := b[batchBodyPos+4 : propPos : propPos]
	props := b[propPos+2 : size : size]
	return BatchItem{
		Flag:       int32(binary.BigEndian.Uint32(b[batchFlagPos:])),
		Body:       body,
		Properties: props,
	}, int(size), nil
}

// AppendBatchItem appends one message in batch layout.
func AppendBatchItem(dst []byte, m *Message) ([]byte, error) {
	propsLen := PropertiesLen(m.Properties)
	if propsLen > MaxPropertiesLen {
		return dst, fmt.Errorf("%w: %d bytes", ErrPropertiesTooLong, propsLen)
	}
	if len(m.Body) > math.MaxInt32-batchFixedLen-MaxPropertiesLen {
		return dst, fmt.Errorf("%w: %d bytes", ErrBodyTooLarge, len(m.Body))
	}
	start := len(dst)
	size := batchFixedLen + len(m.Body) + propsLen
	dst = slicesGrow(dst, size)
	be := binary.BigEndian
	dst = be.AppendUint32(dst, uint32(size))
	dst = be.AppendUint32(dst, 0) // MAGICCODE: the official client writes 0
	dst = be.AppendUint32(dst, 0) // BODYCRC: likewise
	dst = be.AppendUint32(dst, uint32(m.Flag))
	dst = be.AppendUint32(dst, uint32(len(m.Body)))
	dst = append(dst, m.Body...)
	dst = be.AppendUint16(dst, uint16(propsLen))
	dst, err := AppendProperties(dst, m.Properties)
	if err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// EncodeBatch encodes msgs as a SEND_BATCH_MESSAGE body. Topics are not part
// of the body (the request header carries one topic for all).
func EncodeBatch(msgs []*Message) ([]byte, error) {
	n := 0
	for _, m := range msgs {
		n += batchFixedLen + len(m.Body) + PropertiesLen(m.Properties)
	}
	out := make([]byte, 0, n)
	for i, m := range msgs {
		var err error
		if out, err = AppendBatchItem(out, m); err != nil {
			return nil, fmt.Errorf("message: batch message %d: %w", i, err)
		}
	}
	return out, nil
}
