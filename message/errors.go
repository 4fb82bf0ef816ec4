package message

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers branch with errors.Is; the returned errors add the
// field and position that failed.
var (
	// ErrTruncated means the input ended before the structure it describes.
	ErrTruncated = errors.New("message: truncated")
	// ErrCorrupt means the input is complete but inconsistent (bad magic,
	// size mismatch, negative length, CRC mismatch, impossible port...).
	ErrCorrupt = errors.New("message: corrupt")
	// ErrTopicTooLong: a record stores the topic length in one signed byte.
	ErrTopicTooLong = errors.New("message: topic longer than 127 bytes")
	// ErrPropertiesTooLong: a record stores the properties length in an int16.
	ErrPropertiesTooLong = errors.New("message: encoded properties longer than 32767 bytes")
	// ErrBodyTooLarge: a body length must fit an int32.
	ErrBodyTooLarge = errors.New("message: body too large")
	// ErrInvalidProperty: a key is empty or a key/value contains 0x01 or 0x02.
	ErrInvalidProperty = errors.New("message: invalid property")
	// ErrInvalidTopic: topic or group name rejected by ValidateTopic/ValidateGroup.
	ErrInvalidTopic = errors.New("message: invalid topic")
	// ErrInvalidMsgID: DecodeOffsetMsgID could not parse its input.
	ErrInvalidMsgID = errors.New("message: invalid offset message id")
	// ErrDecompressedTooLarge: Decompress stopped at its output limit.
	ErrDecompressedTooLarge = errors.New("message: decompressed body exceeds limit")
)

// DecodeError says which field of a record or batch item failed and where.
// It unwraps to ErrTruncated or ErrCorrupt.
type DecodeError struct {
	What   string // "record" or "batch item"
	Field  string // e.g. "BODY", "TOTALSIZE"
	Offset int    // byte offset of the field in the input
	Detail string
	Err    error
}

func (e *DecodeError) Error() string {
	s := fmt.Sprintf("%v: %s field %s at byte %d", e.Err, e.What, e.Field, e.Offset)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func (e *DecodeError) Unwrap() error { return e.Err }
