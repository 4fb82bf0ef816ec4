package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/raftmq/raftmq/internal/vfs"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftmq/raftmq/internal/durable"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

var (
	_ raft.LogStore          = (*Log)(nil)
	_ raft.MonotonicLogStore = (*Log)(nil)
)

// Log is the CommitLog: a raft.LogStore whose records live in segment files
// named by physical offset. It is safe for concurrent use: mutators
// (StoreLogs, DeleteRange, retention) are serialized; readers run in
// parallel with them and with each other.
type Log struct {
	cfg     Config
	fs      vfs.FS
	logger  hclog.Logger
	segDir  string // Dir/commitlog
	idxDir  string // Dir/raftlog/index
	metaPth string // Dir/raftlog/meta

	// wmu serializes mutators and guards the writer-only fields below.
	wmu  sync.Mutex
	meta meta
	// hdrs and iov are StoreLogs' record headers and the buffers it writes
	// (headers and the entries' own bytes), kept for reuse.
	hdrs []byte
	iov  [][]byte
	// ubuf holds encoded index units from ufirst on, not yet written.
	ubuf   []byte
	ufirst uint64
	// failed is sticky: after a write or sync error the on-disk state is
	// unknown (fsyncgate), so the log refuses further appends until reopened.
	failed    error
	failedErr atomic.Pointer[error] // failed, readable without wmu
	// storeFail is the latest StoreLogs call's failure, nil after a
	// success (see StoreFailure). It holds one batch's entries at most.
	storeFail atomic.Pointer[storeFailure]

	// mu guards the state readers see. Writers hold wmu and take mu only to
	// publish; readers take mu.RLock only to locate a record.
	mu       sync.RWMutex
	closed   bool
	first    uint64
	last     uint64
	writePos int64        // physical offset of the next record
	segs     []*segment   // contiguous by base
	idxs     []*indexFile // contiguous by first

	cache *cache
	alloc *allocator // nil unless PreallocZero
	dur   durability
	// spaceFn reads the disk's size and free space; tests replace it.
	spaceFn   atomic.Pointer[func(path string) (DiskSpace, error)]
	lastSpace atomic.Pointer[DiskSpace]
	// guard, if set, returns the lowest physical offset a consumer still
	// needs (retention keeps what is above it; see SetRetentionGuard).
	guard atomic.Pointer[func() int64]

	// lastBlockedLog rate-limits the "cannot clean" error (retention loop).
	lastBlockedLog time.Time

	dirty     atomic.Bool // appended since the last background flush
	diskFull  atomic.Bool
	retBound  atomic.Uint64
	retHold   atomic.Int32 // > 0: retention deletes nothing (HoldRetention)
	stopCh    chan struct{}
	bgWG      sync.WaitGroup
	closeOnce sync.Once
}

// Open opens (or creates) the log under cfg.Dir and recovers its tail.
func Open(cfg Config) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	l := &Log{
		cfg:     cfg,
		fs:      vfs.Or(cfg.FS),
		logger:  logger.Named("raftlog"),
		segDir:  filepath.Join(cfg.Dir, "commitlog"),
		idxDir:  filepath.Join(cfg.Dir, "raftlog", "index"),
		metaPth: filepath.Join(cfg.Dir, "raftlog", "meta"),
		cache:   newCache(cfg.CacheEntries, cfg.CacheBytes),
		stopCh:  make(chan struct{}),
	}
	l.setSpace(diskSpace)
	for _, d := range []string{l.segDir, l.idxDir} {
		if err := l.fs.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("raftlog: %w", err)
		}
	}
	l.dur.init()
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, err
	}
	l.dur.synced = l.last
	if cfg.Flush == SyncFlush {
		l.goBG(l.syncLoop)
	}
	if cfg.Flush == AsyncFlush {
		l.goBG(l.flushLoop)
	}
	if cfg.Preallocate == PreallocZero {
		l.alloc = newAllocator(l.fs, l.segDir, cfg.SegmentSize)
		l.goBG(func() {
			var last time.Time
			l.alloc.run(l.stopCh, l.roomToPrepare, func(err error) {
				if time.Since(last) > time.Minute { // retried every second while the disk is full
					last = time.Now()
					l.logger.Warn("could not prepare the next segment", "error", err)
				}
			})
		})
		l.alloc.wake()
	}
	if _, err := l.refreshSpace(); err != nil {
		l.logger.Warn("cannot read disk space", "error", err)
	}
	if cfg.Retention.CheckInterval > 0 {
		l.goBG(l.retentionLoop)
	}
	if cfg.Retention.DiskCheckInterval > 0 {
		l.goBG(l.spaceLoop)
	}
	return l, nil
}

func (l *Log) goBG(f func()) {
	l.bgWG.Add(1)
	go func() {
		defer l.bgWG.Done()
		f()
	}()
}

// Close flushes and closes the log. It is idempotent.
func (l *Log) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.stopCh)
		l.bgWG.Wait()
		l.wmu.Lock()
		defer l.wmu.Unlock()
		if l.failed == nil {
			err = l.syncAll()
		}
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		if cerr := l.closeFiles(); err == nil {
			err = cerr
		}
	})
	return err
}

func (l *Log) closeFiles() error {
	var errs []error
	for _, s := range l.segs {
		errs = append(errs, s.f.Close())
	}
	for _, x := range l.idxs {
		errs = append(errs, x.close())
	}
	l.segs, l.idxs = nil, nil
	return errors.Join(errs...)
}

// syncAll makes every appended byte durable. Caller holds wmu.
func (l *Log) syncAll() error {
	if len(l.segs) > 0 {
		if err := vfs.Datasync(l.segs[len(l.segs)-1].f); err != nil {
			return l.fail(fmt.Errorf("raftlog: sync: %w", err))
		}
	}
	for _, x := range l.idxs {
		if err := x.sync(); err != nil {
			return l.fail(fmt.Errorf("raftlog: sync index: %w", err))
		}
	}
	return nil
}

func (l *Log) fail(err error) error {
	if l.failed == nil {
		l.failed = err
		l.failedErr.Store(&err)
		l.logger.Error("log failed; refusing writes until reopened", "error", err)
	}
	return err
}

// FirstIndex implements raft.LogStore.
func (l *Log) FirstIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	return l.first, nil
}

// LastIndex implements raft.LogStore.
func (l *Log) LastIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	return l.last, nil
}

// IsMonotonic implements raft.MonotonicLogStore: indexes are dense, so raft
// must empty the store after installing a snapshot rather than leave a gap.
func (l *Log) IsMonotonic() bool { return true }

// Position locates a record in the CommitLog.
type Position struct {
	Offset int64 // physical offset of the record header
	Size   int64 // record size including the header
}

// DataOffset is the physical offset of the entry's Data[0].
func (p Position) DataOffset() int64 { return p.Offset + HeaderSize }

// End is the physical offset just past the record.
func (p Position) End() int64 { return p.Offset + p.Size }

// locate finds index's record and the segment holding it.
func (l *Log) locate(index uint64) (Position, *segment, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return Position{}, nil, ErrClosed
	}
	if l.last == 0 || index < l.first || index > l.last {
		return Position{}, nil, raft.ErrLogNotFound
	}
	pos, size := l.unitLocked(index)
	seg := l.segmentLocked(pos)
	if seg == nil || pos+int64(size) > seg.base+l.cfg.SegmentSize {
		return Position{}, nil, &CorruptError{Path: l.idxDir, Offset: pos, Index: index, Reason: "index unit points outside the segments"}
	}
	return Position{Offset: pos, Size: int64(size)}, seg, nil
}

func (l *Log) unitLocked(index uint64) (int64, uint32) {
	k := index / uint64(l.cfg.IndexFileEntries)
	i := k - l.idxs[0].first/uint64(l.cfg.IndexFileEntries)
	return l.idxs[i].unit(index)
}

func (l *Log) segmentLocked(pos int64) *segment {
	if len(l.segs) == 0 || pos < l.segs[0].base {
		return nil
	}
	i := (pos - l.segs[0].base) / l.cfg.SegmentSize
	if i >= int64(len(l.segs)) {
		return nil
	}
	return l.segs[i]
}

// Position returns where index's record lives. Callers (the FSM) use it to
// compute the physical offset of each message inside an entry.
func (l *Log) Position(index uint64) (Position, error) {
	p, _, err := l.locate(index)
	return p, err
}

// GetLog implements raft.LogStore. Recently appended entries come from
// memory; others are read and checksum-verified. The returned Data and
// Extensions must not be modified.
func (l *Log) GetLog(index uint64, out *raft.Log) error {
	if c := l.cache.get(index); c != nil {
		*out = *c
		return nil
	}
	p, seg, err := l.locate(index)
	if err != nil {
		return err
	}
	buf := make([]byte, p.Size)
	if _, err := seg.f.ReadAt(buf, p.Offset-seg.base); err != nil {
		return l.readErr(index, p, seg, err, errors.Is(err, io.EOF))
	}
	if err := decodeRecord(buf, out); err != nil {
		return l.readErr(index, p, seg, err, true)
	}
	if out.Index != index {
		return l.readErr(index, p, seg, fmt.Errorf("record holds index %d", out.Index), true)
	}
	return nil
}

// readErr classifies a failed read: the entry may have been deleted or
// truncated concurrently (not found); otherwise it is corruption or I/O.
func (l *Log) readErr(index uint64, p Position, seg *segment, err error, corrupt bool) error {
	l.mu.RLock()
	closed, gone := l.closed, index < l.first || index > l.last
	l.mu.RUnlock()
	switch {
	case closed:
		return ErrClosed
	case gone:
		return raft.ErrLogNotFound
	case corrupt:
		return &CorruptError{Path: seg.path, Offset: p.Offset, Index: index, Reason: err.Error()}
	}
	return fmt.Errorf("raftlog: read index %d: %w", index, err)
}

// ReadAt fills p with CommitLog bytes starting at physical offset off. The
// whole range must lie inside committed data: within one segment, at or
// after the first retained record, and before the end of entry limit (the
// caller's applied index). It returns ErrBeyondLimit otherwise.
func (l *Log) ReadAt(p []byte, off int64, limit uint64) error {
	end := off + int64(len(p))
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	if l.last == 0 || limit < l.first {
		l.mu.RUnlock()
		return raft.ErrLogNotFound
	}
	if limit > l.last {
		l.mu.RUnlock()
		return fmt.Errorf("%w: limit index %d past last index %d", ErrBeyondLimit, limit, l.last)
	}
	lpos, lsize := l.unitLocked(limit)
	fpos, _ := l.unitLocked(l.first)
	seg := l.segmentLocked(off)
	l.mu.RUnlock()
	if end > lpos+int64(lsize) {
		return fmt.Errorf("%w: [%d,%d) ends past entry %d at %d", ErrBeyondLimit, off, end, limit, lpos+int64(lsize))
	}
	if off < fpos || seg == nil {
		return fmt.Errorf("%w: offset %d is before the first retained record at %d", raft.ErrLogNotFound, off, fpos)
	}
	if end > seg.base+l.cfg.SegmentSize {
		return fmt.Errorf("raftlog: read [%d,%d) crosses a segment boundary", off, end)
	}
	if _, err := seg.f.ReadAt(p, off-seg.base); err != nil {
		l.mu.RLock()
		closed := l.closed
		l.mu.RUnlock()
		if closed {
			return ErrClosed
		}
		return fmt.Errorf("raftlog: read at %d: %w", off, err)
	}
	return nil
}

// StoreLog implements raft.LogStore.
func (l *Log) StoreLog(log *raft.Log) error { return l.StoreLogs([]*raft.Log{log}) }

// StoreLogs implements raft.LogStore: the batch is encoded into one buffer,
// written with one write per segment touched (one, unless it crosses a
// segment boundary) and, under SyncFlush, made durable with one fdatasync.
// The first append to an empty log may start at any index.
func (l *Log) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	// raft calls StoreLogs from one goroutine, so this check-then-store
	// of storeFail needs no lock.
	err := l.storeLogs(logs)
	if err != nil {
		l.storeFail.Store(&storeFailure{first: logs[0], err: err, at: time.Now()})
	} else if l.storeFail.Load() != nil {
		l.storeFail.Store(nil)
	}
	return err
}

// storeFailure is the latest StoreLogs call's error, with the first entry
// it was given (pointer identity ties it to one raft request).
type storeFailure struct {
	first *raft.Log
	err   error
	at    time.Time
}

// appendRefusedFor is how long an append refused with ErrDiskFull keeps
// the log full (DiskFull) even when the space reading says there is room:
// the filesystem had the last word (quotas, reserved blocks, members
// sharing a disk). A refused follower is retried within raft's longest
// backoff (about 10 s), which renews it; a success clears it.
const appendRefusedFor = 30 * time.Second

// appendRefused reports whether the latest append was refused for lack of
// space within appendRefusedFor.
func (l *Log) appendRefused(now time.Time) bool {
	f := l.storeFail.Load()
	return f != nil && errors.Is(f.err, ErrDiskFull) && now.Sub(f.at) < appendRefusedFor
}

// StoreFailure returns the error of the latest StoreLogs call if it failed
// for lack of space (ErrDiskFull) and was given one of entries, else nil.
// A follower's raft answers a failed append like a log mismatch, and the
// leader would then walk back one entry per retry; the transport asks this
// to answer with the error instead (raftnet: Transport.SetStoreFailure),
// so the leader retries the same entries after its backoff. Only a full
// disk is worth retrying as it was: ErrNonContiguous is a real mismatch
// (raft's cached last entry can be stale after a truncation), and a failed
// log (ErrClosed, a write or sync error) refuses every retry. Raft passes
// a suffix of the request's own entries to StoreLogs, so a pointer match
// means this request's append failed, never an earlier one's.
func (l *Log) StoreFailure(entries []*raft.Log) error {
	f := l.storeFail.Load()
	if f == nil || !errors.Is(f.err, ErrDiskFull) {
		return nil
	}
	for _, e := range entries {
		if e == f.first {
			return f.err
		}
	}
	return nil
}

func (l *Log) storeLogs(logs []*raft.Log) error {
	start := time.Now()
	if err := l.lockWritable(); err != nil {
		return err
	}
	defer l.wmu.Unlock()
	first := logs[0].Index
	empty := l.last == 0
	if first == 0 || (!empty && first != l.last+1) {
		return fmt.Errorf("%w: got index %d, last is %d", ErrNonContiguous, first, l.last)
	}
	// No refusal by policy here: a leader whose StoreLogs fails steps down,
	// so the broker refuses new messages before raft (DiskFull), and this
	// fails only when a new segment or index file truly has no room.
	for i, lg := range logs {
		if lg.Index != first+uint64(i) {
			return fmt.Errorf("%w: batch index %d at position %d, want %d", ErrNonContiguous, lg.Index, i, first+uint64(i))
		}
		if recordSize(lg) > l.cfg.SegmentSize {
			return fmt.Errorf("%w: index %d is %d bytes, segment size %d", ErrTooLarge, lg.Index, recordSize(lg), l.cfg.SegmentSize)
		}
	}

	pos := l.writePos
	if empty {
		var err error
		if pos, err = l.startPosition(first); err != nil {
			return err
		}
		if segEnd := (pos/l.cfg.SegmentSize + 1) * l.cfg.SegmentSize; pos+recordSize(logs[0]) > segEnd {
			// Where a replica holding the previous entries would put it,
			// without creating a segment that holds only a blank marker.
			pos = segEnd
		}
	}
	if err := l.ensureIndexFiles(first, logs[len(logs)-1].Index); err != nil {
		return err
	}
	l.ubuf = l.ubuf[:0]
	seg := l.cfg.SegmentSize
	// hdrs never grows while iov points into it: each record needs at most
	// a header and a blank marker.
	hdrs := l.hdrs[:0]
	if need := len(logs) * (HeaderSize + blankSize); cap(hdrs) < need {
		hdrs = make([]byte, 0, need)
	}
	iov := l.iov[:0]
	chunkStart := pos
	firstPos := int64(-1)
	for _, lg := range logs {
		size := recordSize(lg)
		if pos%seg == 0 && pos != chunkStart {
			// The previous record filled its segment exactly.
			if err := l.writeChunk(chunkStart, iov); err != nil {
				return err
			}
			if err := l.seal(chunkStart); err != nil {
				return err
			}
			iov, chunkStart = iov[:0], pos
		}
		segEnd := (pos/seg + 1) * seg
		if pos+size > segEnd {
			// The record goes to the next segment; mark this one's tail
			// blank and seal it (data and index durable) first, so recovery
			// only ever has to scan the last segment.
			if segEnd-pos >= blankSize {
				h := len(hdrs)
				hdrs = appendBlank(hdrs, segEnd-pos)
				iov = append(iov, hdrs[h:])
			}
			if err := l.writeChunk(chunkStart, iov); err != nil {
				return err
			}
			if err := l.seal(chunkStart); err != nil {
				return err
			}
			iov = iov[:0]
			pos, chunkStart = segEnd, segEnd
		}
		if firstPos < 0 {
			firstPos = pos
		}
		// The entry's bytes are written from where raft holds them, not
		// copied behind their header first.
		h := len(hdrs)
		hdrs = appendRecordHeader(hdrs, lg, lg.Index-first)
		iov = append(iov, hdrs[h:], lg.Data, lg.Extensions)
		l.addUnit(lg.Index, pos, uint32(size))
		pos += size
	}
	if err := l.writeChunk(chunkStart, iov); err != nil {
		return err
	}
	if err := l.flushUnits(); err != nil {
		return err
	}
	clear(iov[:cap(iov)]) // hold no entry's bytes
	if cap(iov) <= 4096 {
		l.iov = iov[:0]
	} else {
		l.iov = nil
	}
	if cap(hdrs) <= 1<<20 {
		l.hdrs = hdrs[:0]
	} else {
		l.hdrs = nil
	}
	var syncDur time.Duration
	synced := false
	if l.cfg.Flush == SyncFlush && !l.dur.deferred.Load() {
		t0 := time.Now()
		if err := vfs.Datasync(l.segmentFor(chunkStart).f); err != nil {
			return l.fail(fmt.Errorf("raftlog: fdatasync: %w", err))
		}
		syncDur = time.Since(t0)
		synced = true
	} else {
		l.dirty.Store(true)
	}
	if empty {
		// Recovery must know where the first record of the first segment is.
		m := l.meta
		m.StartIndex, m.StartOffset = first, firstPos
		m.FirstIndex, m.HintIndex, m.HintOffset = 0, 0, 0
		if err := storeMeta(l.fs, l.metaPth, m); err != nil {
			return l.fail(err)
		}
		l.meta = m
	}
	l.mu.Lock()
	if empty {
		l.first = first
	}
	l.last = logs[len(logs)-1].Index
	l.writePos = pos
	l.mu.Unlock()
	l.cache.put(logs)
	if synced {
		l.dur.setSynced(l.last)
	} else if l.cfg.Flush == SyncFlush {
		l.dur.wake()
	}
	if l.cfg.Observer != nil {
		l.cfg.Observer.ObserveStore(len(logs), int(pos-firstPos), time.Since(start), syncDur)
	}
	return nil
}

func (l *Log) unitNoLock(index uint64) (int64, uint32) {
	// Writers hold wmu; idxs only changes under wmu, so no mu needed.
	return l.unitLocked(index)
}

// startPosition is where the first record of an empty log goes: a hint
// from an FSM snapshot when it names this index, else where the previous
// log ended (0 for a new log).
//
// A hint for another index is an error: continuing anywhere else would
// give this replica's messages other physical offsets than the group's.
func (l *Log) startPosition(first uint64) (int64, error) {
	if l.meta.HintIndex != 0 {
		if l.meta.HintIndex == first {
			return l.meta.HintOffset, nil
		}
		return 0, fmt.Errorf("%w: the next entry must be %d (at offset %d, from the snapshot this replica installed), got %d",
			ErrHintMismatch, l.meta.HintIndex, l.meta.HintOffset, first)
	}
	return l.writePos, nil
}

func appendBlank(buf []byte, n int64) []byte {
	buf = binary.BigEndian.AppendUint32(buf, blankMagic)
	return binary.BigEndian.AppendUint32(buf, uint32(n))
}

// lockWritable takes wmu if the log is open and has not failed; the
// caller unlocks it.
func (l *Log) lockWritable() error {
	l.wmu.Lock()
	if l.isClosed() {
		l.wmu.Unlock()
		return ErrClosed
	}
	if l.failed != nil {
		err := l.failed
		l.wmu.Unlock()
		return err
	}
	return nil
}

func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

// writeChunk writes buf at physical offset start, creating the segment if
// needed. Caller holds wmu.
func (l *Log) writeChunk(start int64, bufs [][]byte) error {
	if len(bufs) == 0 {
		return nil
	}
	s, err := l.ensureSegment(start)
	if err != nil {
		return err
	}
	if err := vfs.WritevAt(s.f, bufs, start-s.base); err != nil {
		return l.fail(fmt.Errorf("raftlog: write %s: %w", s.path, err))
	}
	return nil
}

// seal makes the segment holding pos, and every index unit written so
// far, durable. Called before the first write into the next segment.
func (l *Log) seal(pos int64) error {
	if err := l.flushUnits(); err != nil {
		return err
	}
	s := l.segmentFor(pos)
	if err := vfs.Datasync(s.f); err != nil {
		return l.fail(fmt.Errorf("raftlog: seal %s: %w", s.path, err))
	}
	for _, x := range l.idxs {
		if err := x.sync(); err != nil {
			return l.fail(fmt.Errorf("raftlog: sync index: %w", err))
		}
	}
	return nil
}

func (l *Log) segmentFor(pos int64) *segment {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.segmentLocked(pos)
}

// ensureSegment returns the segment holding pos, creating it (and, for an
// empty log, dropping stale segments) as needed. Caller holds wmu.
func (l *Log) ensureSegment(pos int64) (*segment, error) {
	if s := l.segmentFor(pos); s != nil {
		return s, nil
	}
	base := pos / l.cfg.SegmentSize * l.cfg.SegmentSize
	if n := len(l.segs); n > 0 && l.segs[n-1].base+l.cfg.SegmentSize != base {
		return nil, l.fail(fmt.Errorf("raftlog: segment %020d would not follow %020d", base, l.segs[n-1].base))
	}
	path := filepath.Join(l.segDir, segmentName(base))
	if l.alloc == nil || !l.alloc.isReady() {
		if err := l.roomFor(l.cfg.SegmentSize, "a new CommitLog segment"); err != nil {
			return nil, err
		}
	}
	f, err := l.newSegmentFile(path)
	if err != nil {
		return nil, err
	}
	defer l.refreshSpace()
	if err := durable.SyncDirFS(l.fs, l.segDir); err != nil {
		f.Close()
		return nil, l.fail(fmt.Errorf("raftlog: sync dir: %w", err))
	}
	s := &segment{base: base, path: path, f: f}
	l.mu.Lock()
	l.segs = append(l.segs, s)
	l.mu.Unlock()
	return s, nil
}

// ensureIndexFiles maps index files covering [from, to]. Caller holds wmu.
func (l *Log) ensureIndexFiles(from, to uint64) error {
	e := uint64(l.cfg.IndexFileEntries)
	for k := from / e; k <= to/e; k++ {
		if n := len(l.idxs); n > 0 {
			lo, hi := l.idxs[0].first/e, l.idxs[n-1].first/e
			if k >= lo && k <= hi {
				continue
			}
			if k != hi+1 {
				return l.fail(fmt.Errorf("raftlog: index file for %d does not follow %d", k*e, l.idxs[n-1].first))
			}
		}
		if err := l.roomFor(l.indexFileBytes(), "a new raft index file"); err != nil {
			return err
		}
		x, err := openIndexFile(l.fs, l.idxDir, k*e, l.cfg.IndexFileEntries)
		if err != nil {
			return err // nothing written yet: the append can be retried
		}
		l.mu.Lock()
		l.idxs = append(l.idxs, x)
		l.mu.Unlock()
	}
	return nil
}

// addUnit queues the index unit of index; units are added in index order
// and written by flushUnits. Caller holds wmu.
func (l *Log) addUnit(index uint64, pos int64, size uint32) {
	if len(l.ubuf) == 0 {
		l.ufirst = index
	}
	l.ubuf = appendUnit(l.ubuf, pos, size)
}

// flushUnits writes the queued units, one pwrite per index file. Caller
// holds wmu; the index files exist (ensureIndexFiles).
func (l *Log) flushUnits() error {
	if err := l.writeUnitsAt(l.ufirst, l.ubuf); err != nil {
		return err
	}
	if cap(l.ubuf) <= 1<<20 {
		l.ubuf = l.ubuf[:0]
	} else {
		l.ubuf = nil
	}
	return nil
}

// DeleteRange implements raft.LogStore. Only a prefix (head deletion after a
// snapshot, or retention) or a suffix (conflict truncation after a leader
// change) may be deleted; both are crash-safe. Anything else is
// ErrInvalidRange.
func (l *Log) DeleteRange(min, max uint64) error {
	if err := l.lockWritable(); err != nil {
		return err
	}
	defer l.wmu.Unlock()
	if min > max {
		return fmt.Errorf("%w: min %d > max %d", ErrInvalidRange, min, max)
	}
	if l.last == 0 || max < l.first || min > l.last {
		return nil
	}
	switch {
	case min <= l.first && max >= l.last:
		return l.deleteAll()
	case min <= l.first:
		return l.deleteHead(max + 1)
	case max >= l.last:
		return l.truncateTail(min)
	default:
		return fmt.Errorf("%w: [%d, %d] is inside [%d, %d]", ErrInvalidRange, min, max, l.first, l.last)
	}
}

// truncateTail removes [min, last]. Later segments go first (highest
// first), then the remainder of the segment holding min-1 is zeroed, so a
// crash at any point leaves a valid prefix of the old log and never a mix
// of old and new records.
func (l *Log) truncateTail(min uint64) error {
	keep := min - 1
	pos, size := l.unitNoLock(keep)
	end := pos + int64(size)
	oldWrite := l.writePos
	l.cache.truncate(min)
	l.dur.truncated(keep)
	l.mu.Lock()
	l.last = keep
	l.writePos = end
	l.mu.Unlock()

	holder := l.segmentFor(pos)
	var drop []*segment
	l.mu.Lock()
	for len(l.segs) > 0 && l.segs[len(l.segs)-1].base > holder.base {
		drop = append(drop, l.segs[len(l.segs)-1])
		l.segs = l.segs[:len(l.segs)-1]
	}
	l.mu.Unlock()
	for _, s := range drop {
		s.f.Close()
		if err := l.fs.Remove(s.path); err != nil {
			return l.fail(fmt.Errorf("raftlog: truncate: %w", err))
		}
	}
	if len(drop) > 0 {
		if err := durable.SyncDirFS(l.fs, l.segDir); err != nil {
			return l.fail(fmt.Errorf("raftlog: truncate: %w", err))
		}
	}
	zeroEnd := holder.base + l.cfg.SegmentSize
	if oldWrite > end && oldWrite <= zeroEnd {
		zeroEnd = oldWrite
	}
	if err := vfs.PunchHole(holder.f, end-holder.base, zeroEnd-end); err != nil {
		return l.fail(fmt.Errorf("raftlog: truncate %s: %w", holder.path, err))
	}
	if err := vfs.Datasync(holder.f); err != nil {
		return l.fail(fmt.Errorf("raftlog: truncate %s: %w", holder.path, err))
	}
	l.logger.Debug("truncated tail", "from_index", min, "offset", end)
	return nil
}

// deleteHead makes newFirst the first index and removes whole segments and
// index files that only hold earlier entries. The new first index is made
// durable before any file is removed.
func (l *Log) deleteHead(newFirst uint64) error {
	m := l.meta
	m.FirstIndex = newFirst
	if err := storeMeta(l.fs, l.metaPth, m); err != nil {
		return l.fail(err)
	}
	l.meta = m
	l.cache.dropBelow(newFirst)
	pos, _ := l.unitNoLock(newFirst)
	e := uint64(l.cfg.IndexFileEntries)

	l.mu.Lock()
	l.first = newFirst
	var dropSegs []*segment
	for len(l.segs) > 1 && l.segs[0].base+l.cfg.SegmentSize <= pos {
		dropSegs = append(dropSegs, l.segs[0])
		l.segs = l.segs[1:]
	}
	var dropIdx []*indexFile
	for len(l.idxs) > 1 && l.idxs[0].first+e <= newFirst {
		dropIdx = append(dropIdx, l.idxs[0])
		l.idxs = l.idxs[1:]
	}
	// Unmap under the write lock: readers touch index memory only under
	// mu.RLock.
	for _, x := range dropIdx {
		x.close()
	}
	l.mu.Unlock()

	return l.removeFiles(dropSegs, dropIdx)
}

func (l *Log) removeFiles(segs []*segment, idxs []*indexFile) error {
	var errs []error
	for _, s := range segs {
		s.f.Close()
		errs = append(errs, l.fs.Remove(s.path))
	}
	for _, x := range idxs {
		errs = append(errs, l.fs.Remove(x.path))
	}
	if len(segs) > 0 {
		errs = append(errs, durable.SyncDirFS(l.fs, l.segDir))
	}
	if len(idxs) > 0 {
		errs = append(errs, durable.SyncDirFS(l.fs, l.idxDir))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("raftlog: remove files: %w", err)
	}
	return nil
}

// deleteAll empties the log (raft does this after installing a snapshot
// into a monotonic store). The next append may start at any index; it is
// placed by the hint (SetNextStart) or right after the old log.
func (l *Log) deleteAll() error {
	m := l.meta
	m.FirstIndex = 0
	m.StartIndex, m.StartOffset = 0, l.writePos
	if err := storeMeta(l.fs, l.metaPth, m); err != nil {
		return l.fail(err)
	}
	l.meta = m
	l.cache.truncate(0)
	l.dur.truncated(0)
	l.mu.Lock()
	segs, idxs := l.segs, l.idxs
	l.segs, l.idxs = nil, nil
	l.first, l.last = 0, 0
	for _, x := range idxs {
		x.close()
	}
	l.mu.Unlock()
	return l.removeFiles(segs, idxs)
}

// SetNextStart records, durably, that when the log is empty and the next
// append starts at index, its first record goes at physical offset off.
// The FSM calls it when restoring a snapshot, so that a replica that joined
// from a snapshot gives every later message the same physical offset as
// the rest of the group: physical offsets are the same on every replica.
func (l *Log) SetNextStart(index uint64, off int64) error {
	if index == 0 || off < 0 {
		return fmt.Errorf("raftlog: invalid start %d@%d", index, off)
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return ErrClosed
	}
	m := l.meta
	m.HintIndex, m.HintOffset = index, off
	if err := storeMeta(l.fs, l.metaPth, m); err != nil {
		return err
	}
	l.meta = m
	return nil
}

// Sync makes every appended record durable (used under AsyncFlush).
func (l *Log) Sync() error {
	if err := l.lockWritable(); err != nil {
		return err
	}
	defer l.wmu.Unlock()
	l.dirty.Store(false)
	if err := l.syncAll(); err != nil {
		return err
	}
	l.dur.setSynced(l.last)
	return nil
}

func (l *Log) flushLoop() {
	t := time.NewTicker(l.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stopCh:
			return
		case <-t.C:
			if !l.dirty.Load() {
				continue
			}
			if err := l.Sync(); err != nil && !errors.Is(err, ErrClosed) {
				l.logger.Error("background flush failed", "error", err)
			}
		}
	}
}

// Stats describes the log for metrics and admin commands.
type Stats struct {
	FirstIndex  uint64
	LastIndex   uint64
	MinOffset   int64 // physical offset of the first record (0 when empty)
	WriteOffset int64 // physical offset of the next record
	Segments    int
	DiskFull    bool
	DiskUsed    float64 // used fraction of the log's filesystem
	DiskAvail   int64   // bytes available there
}

// Stats returns a snapshot of the log's shape.
func (l *Log) Stats() Stats {
	l.mu.RLock()
	defer l.mu.RUnlock()
	sp := l.Space()
	s := Stats{FirstIndex: l.first, LastIndex: l.last, WriteOffset: l.writePos, Segments: len(l.segs), DiskFull: l.diskFull.Load(),
		DiskUsed: sp.Used(), DiskAvail: sp.Avail}
	if !l.closed && l.last != 0 {
		s.MinOffset, _ = l.unitLocked(l.first)
	}
	return s
}
