package raftlog

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt reports a record or file that fails validation anywhere a
	// torn write cannot explain it. It is never silently skipped.
	ErrCorrupt = errors.New("raftlog: corrupt log")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("raftlog: log closed")
	// ErrNonContiguous rejects appends that would leave a gap or rewrite
	// history without a DeleteRange first.
	ErrNonContiguous = errors.New("raftlog: non-contiguous append")
	// ErrHintMismatch: an empty log was told where its next entry goes
	// (SetNextStart) and is asked to store another one first.
	ErrHintMismatch = errors.New("raftlog: append does not match the start hint")
	// ErrInvalidRange rejects a DeleteRange that is neither a prefix nor a
	// suffix of the log.
	ErrInvalidRange = errors.New("raftlog: delete range must be a prefix or a suffix")
	// ErrTooLarge rejects a record bigger than a segment.
	ErrTooLarge = errors.New("raftlog: record larger than a segment")
	// ErrDiskFull rejects appends of commands while disk use is above the
	// hard limit (RetentionConfig.DiskRejectRatio).
	ErrDiskFull = errors.New("raftlog: disk full")
	// ErrBeyondLimit rejects a read that reaches past the caller's bound
	// (the applied index): uncommitted bytes are never handed out.
	ErrBeyondLimit = errors.New("raftlog: read beyond limit")
	// ErrConfigChanged reports a SegmentSize that differs from the one the
	// log was written with.
	ErrConfigChanged = errors.New("raftlog: segment size changed")

	// errBadRecord is an invalid record; callers decide whether that is a
	// torn tail or corruption.
	errBadRecord = errors.New("invalid record")
)

// CorruptError locates corruption.
type CorruptError struct {
	Path   string // file
	Offset int64  // physical offset in the CommitLog
	Index  uint64 // raft index, when known
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("raftlog: corrupt log at %s offset %d (index %d): %s", e.Path, e.Offset, e.Index, e.Reason)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }
