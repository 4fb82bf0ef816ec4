package raftlog

import (
	"errors"
	"fmt"
	"github.com/raftmq/raftmq/internal/vfs"
	"time"

	"github.com/hashicorp/go-hclog"
)

// FlushMode says when appended records reach stable storage.
type FlushMode int

const (
	flushInvalid FlushMode = iota
	// SyncFlush fdatasyncs every StoreLogs batch before it returns, so an
	// entry raft counts toward a commit survives power loss (RocketMQ
	// SYNC_FLUSH).
	SyncFlush
	// AsyncFlush returns once the batch is in the page cache and fdatasyncs
	// in the background every FlushInterval. A process crash (SIGKILL) loses
	// nothing; a power loss or kernel crash loses up to FlushInterval of
	// appends on that node, and if it hits a majority of a group at once it
	// can lose entries that were acknowledged as committed (RocketMQ
	// ASYNC_FLUSH, DLedger's default).
	AsyncFlush
)

func (m FlushMode) String() string {
	switch m {
	case SyncFlush:
		return "SYNC_FLUSH"
	case AsyncFlush:
		return "ASYNC_FLUSH"
	}
	return fmt.Sprintf("FlushMode(%d)", int(m))
}

// ParseFlushMode accepts RocketMQ's flushDiskType spellings.
func ParseFlushMode(s string) (FlushMode, error) {
	switch s {
	case "SYNC_FLUSH", "sync":
		return SyncFlush, nil
	case "ASYNC_FLUSH", "async":
		return AsyncFlush, nil
	}
	return flushInvalid, fmt.Errorf("raftlog: unknown flush mode %q (want SYNC_FLUSH or ASYNC_FLUSH)", s)
}

// PreallocMode selects how a new segment's space is reserved.
type PreallocMode int

const (
	// PreallocNone lets appends grow a sparse file.
	PreallocNone PreallocMode = iota
	// PreallocFallocate reserves the space with fallocate: no ENOSPC
	// mid-segment, but each fdatasync still commits extent metadata.
	PreallocFallocate
	// PreallocZero writes the next segment full of zeros in the background
	// before it is needed (RocketMQ's warm mapped file): appends then
	// overwrite written blocks and fdatasync flushes data only, 1.2-1.4x
	// faster for small synced batches on ext4 when a core is free for the
	// zeroing (BenchmarkStoreLogs). In a 3-node group sharing cores the
	// zeros cost more than that; the broker's "auto" picks fallocate.
	// Falls back to fallocate when the prepared file is not ready in time.
	PreallocZero
)

// Config configures a Log.
type Config struct {
	// FS is the filesystem (nil: the operating system's); tests inject
	// faults through it.
	FS vfs.FS
	// Dir is the store root (RocketMQ storePathRootDir). Segments live in
	// Dir/commitlog, the index and metadata in Dir/raftlog.
	Dir string
	// SegmentSize is the size of each CommitLog segment file
	// (mappedFileSizeCommitLog). It must be the same on every replica of a
	// group, because physical offsets depend on it, and it cannot change
	// once a log exists.
	SegmentSize int64
	// IndexFileEntries is the number of 16-byte index units per index file.
	IndexFileEntries int64
	// Flush selects SyncFlush or AsyncFlush.
	Flush FlushMode
	// FlushInterval is the background flush period under AsyncFlush.
	FlushInterval time.Duration
	// Preallocate says how segment files get their space; see PreallocMode.
	Preallocate PreallocMode
	// CacheEntries and CacheBytes bound the in-memory cache of the most
	// recently appended entries that GetLog serves without I/O (the leader
	// reads every entry once per follower right after appending it).
	CacheEntries int
	CacheBytes   int64
	// Repair makes Open cut the log at the first invalid record of the last
	// segment even when valid records follow it, instead of failing with
	// ErrCorrupt. Records after the cut are lost; use only after a human
	// decided to (e.g. after a power loss under AsyncFlush).
	Repair bool
	// Retention configures segment deletion; see Retention.
	Retention RetentionConfig
	// Logger receives recovery and retention events.
	Logger hclog.Logger
	// Observer, if set, is told about every StoreLogs (for metrics).
	Observer Observer
}

// Observer receives measurements of the write path. Calls come from the
// writer and must be cheap.
type Observer interface {
	// ObserveStore reports one StoreLogs: entries and bytes written, the
	// whole call's duration and the part spent in fdatasync.
	ObserveStore(entries, bytes int, total, sync time.Duration)
}

// DefaultConfig returns production defaults for a log rooted at dir.
func DefaultConfig(dir string) Config {
	return Config{
		Dir:              dir,
		SegmentSize:      1 << 30,
		IndexFileEntries: 1 << 20,
		Flush:            SyncFlush,
		FlushInterval:    500 * time.Millisecond,
		Preallocate:      PreallocZero,
		CacheEntries:     1024,
		CacheBytes:       64 << 20,
		Retention:        DefaultRetentionConfig(),
	}
}

// MinSegmentSize is the smallest accepted segment size (tests use small ones).
const (
	MinSegmentSize = 4096
	MaxSegmentSize = 1<<32 - 1 // the blank marker stores the gap in 32 bits
)

// Validate reports the first problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("Dir is empty"))
	}
	if c.SegmentSize < MinSegmentSize || c.SegmentSize > MaxSegmentSize {
		errs = append(errs, fmt.Errorf("SegmentSize %d out of range [%d, %d]", c.SegmentSize, MinSegmentSize, int64(MaxSegmentSize)))
	}
	if c.IndexFileEntries < 16 || c.IndexFileEntries > 1<<28 {
		errs = append(errs, fmt.Errorf("IndexFileEntries %d out of range [16, 2^28]", c.IndexFileEntries))
	}
	if c.Flush != SyncFlush && c.Flush != AsyncFlush {
		errs = append(errs, fmt.Errorf("invalid flush mode %v", c.Flush))
	}
	if c.Flush == AsyncFlush && c.FlushInterval <= 0 {
		errs = append(errs, errors.New("FlushInterval must be positive under AsyncFlush"))
	}
	if c.CacheEntries < 0 || c.CacheBytes < 0 {
		errs = append(errs, errors.New("cache bounds must not be negative"))
	}
	if err := c.Retention.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("raftlog: invalid config: %w", err)
	}
	return nil
}
