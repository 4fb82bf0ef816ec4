package raftlog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/raftmq/raftmq/internal/vfs"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/internal/durable"
)

// History import: a replica that installed a snapshot has no entries up to
// it, while other members may still retain some. It fetches them from a
// member (the donor), byte for byte at the same physical offsets, into a
// staging directory, and installs them below its first entry. See doc.go.

// ErrHistoryTarget reports that the log no longer starts right after the
// snapshot the history was fetched for (another snapshot was installed).
var ErrHistoryTarget = errors.New("raftlog: the log does not start after the history's snapshot")

// HistoryInfo describes what a donor retains before and at an entry.
type HistoryInfo struct {
	FirstIndex  uint64 `json:"firstIndex"`
	FirstOffset int64  `json:"firstOffset"` // physical offset of FirstIndex's record
	Index       uint64 `json:"index"`       // the entry asked about
	Term        uint64 `json:"term"`        // its term
	End         int64  `json:"end"`         // the physical offset just past it
}

// HistoryInfo reports the retained range up to index, which this log must
// hold (a donor answering a replica that installed a snapshot at index).
func (l *Log) HistoryInfo(index uint64) (HistoryInfo, error) {
	p, seg, err := l.locate(index)
	if err != nil {
		return HistoryInfo{}, err
	}
	h, err := l.readHeaderAt(seg, p.Offset)
	if err != nil {
		return HistoryInfo{}, &CorruptError{Path: seg.path, Offset: p.Offset, Index: index, Reason: err.Error()}
	}
	l.mu.RLock()
	first := l.first
	fpos, _ := l.unitLocked(first)
	l.mu.RUnlock()
	return HistoryInfo{FirstIndex: first, FirstOffset: fpos, Index: index, Term: h.term, End: p.End()}, nil
}

// ReadHistory reads CommitLog bytes from off into p, up to the end of
// entry limit and never across a segment end: it returns the count read
// and the segment file's modification time (retention ages by it). off
// must be at or after the first retained record. Bytes a segment file
// does not extend to (the unwritten gap behind a blank marker) read as
// zeros.
func (l *Log) ReadHistory(p []byte, off int64, limit uint64) (int, time.Time, error) {
	lp, err := l.Position(limit)
	if err != nil {
		return 0, time.Time{}, err
	}
	segEnd := (off/l.cfg.SegmentSize + 1) * l.cfg.SegmentSize
	n := min(int64(len(p)), segEnd-off, lp.End()-off)
	if n <= 0 {
		return 0, time.Time{}, fmt.Errorf("%w: offset %d is past entry %d", ErrBeyondLimit, off, limit)
	}
	l.mu.RLock()
	seg := l.segmentLocked(off)
	var fpos int64
	if l.last != 0 {
		fpos, _ = l.unitLocked(l.first)
	}
	closed := l.closed
	l.mu.RUnlock()
	switch {
	case closed:
		return 0, time.Time{}, ErrClosed
	case seg == nil || off < fpos:
		return 0, time.Time{}, fmt.Errorf("%w: offset %d is before the first retained record at %d", raft.ErrLogNotFound, off, fpos)
	}
	k, err := seg.f.ReadAt(p[:n], off-seg.base)
	if errors.Is(err, io.EOF) {
		clear(p[k:n])
		err = nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("raftlog: read at %d: %w", off, err)
	}
	var mtime time.Time
	if st, err := seg.f.Stat(); err == nil {
		mtime = st.ModTime()
	}
	return int(n), mtime, nil
}

// HistoryTarget is the entry an imported history ends with: the snapshot
// this replica installed (its index, term and the offset after it).
type HistoryTarget struct {
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	End   int64  `json:"end"`
}

// historyProgress is the staging directory's durable state.
type historyProgress struct {
	Target     HistoryTarget   `json:"target"`
	FromIndex  uint64          `json:"fromIndex"`
	FromOffset int64           `json:"fromOffset"`
	Fetched    int64           `json:"fetched"` // bytes before it are staged and durable
	Mtimes     map[int64]int64 `json:"mtimes"`  // segment base -> donor's mtime (unix ms)
}

// HistoryImport stages a history fetched from a donor; it is resumable:
// what was made durable survives a crash of either side. One goroutine
// uses it.
type HistoryImport struct {
	l   *Log
	dir string
	p   historyProgress
	// next is where the next fetched byte goes; unsynced counts bytes
	// written since the last durable progress.
	next     int64
	unsynced int64
	files    map[int64]vfs.File
}

// historySyncEvery bounds the refetch after a crash.
const historySyncEvery = 16 << 20

func (l *Log) historyDir() string { return filepath.Join(l.cfg.Dir, "raftlog", "history") }

// OpenHistoryImport opens (or starts) the import of the history ending at
// t. Staged data for another target is discarded.
func (l *Log) OpenHistoryImport(t HistoryTarget) (*HistoryImport, error) {
	h := &HistoryImport{l: l, dir: l.historyDir(), files: map[int64]vfs.File{}}
	if err := l.fs.MkdirAll(h.dir, 0o755); err != nil {
		return nil, fmt.Errorf("raftlog: history: %w", err)
	}
	b, err := l.fs.ReadFile(filepath.Join(h.dir, "progress"))
	if err == nil && json.Unmarshal(b, &h.p) == nil && h.p.Target == t && h.p.FromIndex > 0 {
		h.next = h.p.Fetched
		l.logger.Info("resuming history import", "snapshot", t.Index, "from_index", h.p.FromIndex,
			"from_offset", h.p.FromOffset, "fetched_through", h.p.Fetched, "end", t.End)
		return h, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("raftlog: history: %w", err)
	}
	if err := h.reset(t); err != nil {
		return nil, err
	}
	return h, nil
}

// reset discards staged data and targets t.
func (h *HistoryImport) reset(t HistoryTarget) error {
	h.closeFiles()
	if err := h.l.fs.RemoveAll(h.dir); err != nil {
		return fmt.Errorf("raftlog: history: %w", err)
	}
	if err := h.l.fs.MkdirAll(h.dir, 0o755); err != nil {
		return fmt.Errorf("raftlog: history: %w", err)
	}
	h.p = historyProgress{Target: t, Mtimes: map[int64]int64{}}
	h.next, h.unsynced = 0, 0
	return nil
}

// Begin sets where the history starts: a donor's first retained record.
// Staged bytes are kept if they reach that donor's range; otherwise the
// import restarts from it. It reports whether anything is left to fetch.
func (h *HistoryImport) Begin(info HistoryInfo) (bool, error) {
	t := h.p.Target
	if info.Index != t.Index || info.Term != t.Term || info.End != t.End {
		return false, fmt.Errorf("raftlog: donor's entry %d (term %d, ends at %d) is not the snapshot's (term %d, ends at %d)",
			info.Index, info.Term, info.End, t.Term, t.End)
	}
	if info.FirstIndex > t.Index {
		return false, nil
	}
	if h.p.FromIndex > 0 && info.FirstOffset <= h.next {
		return h.next < t.End, nil
	}
	if err := h.reset(t); err != nil {
		return false, err
	}
	h.p.FromIndex, h.p.FromOffset, h.p.Fetched = info.FirstIndex, info.FirstOffset, info.FirstOffset
	h.next = info.FirstOffset
	return h.next < t.End, h.saveProgress()
}

// Next is the offset of the next byte to fetch; Remaining the bytes left.
func (h *HistoryImport) Next() int64      { return h.next }
func (h *HistoryImport) Remaining() int64 { return h.p.Target.End - h.next }

// Bytes is the size of the history being imported.
func (h *HistoryImport) Bytes() int64 { return h.p.Target.End - h.p.FromOffset }

// From is the first entry of the history being imported.
func (h *HistoryImport) From() uint64 { return h.p.FromIndex }

// Write stages b, fetched from offset off (which must be Next), with its
// segment's modification time on the donor.
func (h *HistoryImport) Write(off int64, b []byte, mtime time.Time) error {
	ss := h.l.cfg.SegmentSize
	switch {
	case off != h.next:
		return fmt.Errorf("raftlog: history: got bytes at %d, want %d", off, h.next)
	case len(b) == 0 || off+int64(len(b)) > h.p.Target.End || off/ss != (off+int64(len(b))-1)/ss:
		return fmt.Errorf("raftlog: history: %d bytes at %d cross a segment or the end %d", len(b), off, h.p.Target.End)
	}
	base := off / ss * ss
	f, err := h.file(base)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(b, off-base); err != nil {
		return fmt.Errorf("raftlog: history: write %s: %w", f.Name(), err)
	}
	if !mtime.IsZero() {
		h.p.Mtimes[base] = mtime.UnixMilli()
	}
	h.next += int64(len(b))
	h.unsynced += int64(len(b))
	if h.unsynced >= historySyncEvery || h.next%ss == 0 || h.next == h.p.Target.End {
		if err := vfs.Datasync(f); err != nil {
			return fmt.Errorf("raftlog: history: sync %s: %w", f.Name(), err)
		}
		h.p.Fetched, h.unsynced = h.next, 0
		if h.next%ss == 0 {
			f.Close()
			delete(h.files, base)
		}
		return h.saveProgress()
	}
	return nil
}

func (h *HistoryImport) file(base int64) (vfs.File, error) {
	if f := h.files[base]; f != nil {
		return f, nil
	}
	path := filepath.Join(h.dir, segmentName(base))
	f, err := h.l.fs.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if err := h.l.roomFor(h.l.cfg.SegmentSize, "a fetched CommitLog segment"); err != nil {
			return nil, err
		}
		if f, err = h.l.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); err == nil {
			err = vfs.Allocate(f, h.l.cfg.SegmentSize)
			if err == nil {
				err = durable.SyncDirFS(h.l.fs, h.dir)
			}
			if err != nil {
				f.Close()
				h.l.fs.Remove(path)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("raftlog: history: %w", err)
	}
	h.files[base] = f
	return f, nil
}

func (h *HistoryImport) saveProgress() error {
	b, err := json.Marshal(h.p)
	if err != nil {
		return err
	}
	if err := durable.WriteFileFS(h.l.fs, filepath.Join(h.dir, "progress"), b, 0o644); err != nil {
		return fmt.Errorf("raftlog: history: %w", err)
	}
	return nil
}

func (h *HistoryImport) closeFiles() {
	for b, f := range h.files {
		f.Close()
		delete(h.files, b)
	}
}

// Close releases the import's files; staged data stays for a later resume.
func (h *HistoryImport) Close() { h.closeFiles() }

// Discard removes the staged data.
func (h *HistoryImport) Discard() error {
	h.closeFiles()
	return h.l.fs.RemoveAll(h.dir)
}

// HistoryMismatchError reports fetched bytes that are not the history this
// replica needs (a record that does not check out or does not lead to the
// snapshot's entry). The staged data is discarded.
type HistoryMismatchError struct {
	Offset int64
	Reason string
}

func (e *HistoryMismatchError) Error() string {
	return fmt.Sprintf("raftlog: fetched history does not check out at offset %d: %s", e.Offset, e.Reason)
}

// Install verifies the staged history (every record's checksum, dense
// indexes, non-decreasing terms, ending exactly with the snapshot's entry)
// and makes it the head of the log: afterwards the log starts at From().
// The log must still start right after the snapshot (or be empty, waiting
// for the entry after it); ErrHistoryTarget otherwise.
//
// Crash safety: the meta file is the commit point. Segments are moved in
// below the first one before it is written; recovery removes segments that
// lie below the log's start (see recover), so an interrupted install
// leaves the log as it was.
func (h *HistoryImport) Install() (err error) {
	l := h.l
	t := h.p.Target
	if h.next != t.End || h.p.FromIndex == 0 {
		return fmt.Errorf("raftlog: history: %d bytes left to fetch", t.End-h.next)
	}
	h.closeFiles()
	if err := l.lockWritable(); err != nil {
		return err
	}
	defer l.wmu.Unlock()
	empty := l.last == 0
	switch {
	case empty && l.meta.HintIndex == t.Index+1 && l.meta.HintOffset == t.End:
	case !empty && l.first == t.Index+1 && len(l.segs) > 0:
		if p, _ := l.unitNoLock(l.first); p < t.End {
			return fmt.Errorf("%w: entry %d is at %d, before the snapshot's end %d", ErrHistoryTarget, l.first, p, t.End)
		}
	default:
		return fmt.Errorf("%w: first %d, last %d, hint %d; history ends at %d", ErrHistoryTarget, l.first, l.last, l.meta.HintIndex, t.Index)
	}
	ss := l.cfg.SegmentSize
	liveBase := int64(-1) // the live segment holding the end of the history, if any
	if !empty && l.segs[0].base <= t.End-1 {
		liveBase = l.segs[0].base
	}
	firstBase := h.p.FromOffset / ss * ss
	lastBase := (t.End - 1) / ss * ss
	staged := map[int64]vfs.File{}
	defer func() {
		for _, f := range staged {
			f.Close()
		}
		if errors.As(err, new(*HistoryMismatchError)) {
			h.Discard()
		}
	}()
	for b := firstBase; b <= lastBase; b += ss {
		f, err := h.l.fs.OpenFile(filepath.Join(h.dir, segmentName(b)), os.O_RDWR, 0)
		if err != nil {
			return &HistoryMismatchError{Offset: b, Reason: "staged segment missing: " + err.Error()}
		}
		staged[b] = f
	}

	// Verify, and write index units for every entry.
	if err := l.prependIndexFiles(h.p.FromIndex, t.Index); err != nil {
		return err
	}
	var units []byte
	unitsFrom := h.p.FromIndex
	flush := func() error {
		if len(units) == 0 {
			return nil
		}
		err := l.writeUnitsAt(unitsFrom, units)
		unitsFrom += uint64(len(units) / unitSize)
		units = units[:0]
		return err
	}
	want, lastTerm := h.p.FromIndex, uint64(0)
	p := h.p.FromOffset
	var rd *fileReader
	for p < t.End {
		base := p / ss * ss
		segEnd := base + ss
		if rd == nil || rd.base != base {
			rd = &fileReader{f: staged[base], base: base}
		}
		b, err := rd.readAt(p, min(blankSize, segEnd-p))
		if segEnd-p < blankSize || (err == nil && binary.BigEndian.Uint32(b) == blankMagic && int64(binary.BigEndian.Uint32(b[4:])) == segEnd-p) {
			if p == h.p.FromOffset {
				return &HistoryMismatchError{Offset: p, Reason: "the history starts with a blank"}
			}
			p = segEnd
			continue
		}
		rec, _, ok := l.validAt(rd, p, segEnd)
		switch {
		case !ok:
			return &HistoryMismatchError{Offset: p, Reason: "no valid record"}
		case rec.index != want:
			return &HistoryMismatchError{Offset: p, Reason: fmt.Sprintf("record holds index %d, want %d", rec.index, want)}
		case rec.term < lastTerm:
			return &HistoryMismatchError{Offset: p, Reason: fmt.Sprintf("term %d after term %d", rec.term, lastTerm)}
		case rec.index > t.Index || p+rec.size > t.End:
			return &HistoryMismatchError{Offset: p, Reason: "the history runs past the snapshot's entry"}
		}
		units = appendUnit(units, p, uint32(rec.size))
		if len(units) >= 1<<20 {
			if err := flush(); err != nil {
				return err
			}
		}
		want, lastTerm, p = want+1, rec.term, p+rec.size
		if rec.index == t.Index && (rec.term != t.Term || p != t.End) {
			return &HistoryMismatchError{Offset: rec.pos, Reason: fmt.Sprintf("the snapshot's entry %d has term %d and ends at %d, want term %d ending at %d",
				rec.index, rec.term, p, t.Term, t.End)}
		}
	}
	if want != t.Index+1 {
		return &HistoryMismatchError{Offset: p, Reason: fmt.Sprintf("the history ends with entry %d, want %d", want-1, t.Index)}
	}
	if err := flush(); err != nil {
		return err
	}
	for _, x := range l.idxs {
		if x.first > t.Index {
			break
		}
		if err := x.sync(); err != nil {
			return l.fail(fmt.Errorf("raftlog: sync index: %w", err))
		}
	}

	// The segment holding the history's end: the replica either wrote its
	// first record there (live) or started at the next segment, as the
	// donor did, behind a blank marker.
	if liveBase < 0 && t.End%ss != 0 && (lastBase+ss)-t.End >= blankSize {
		if _, err := staged[lastBase].WriteAt(appendBlank(nil, lastBase+ss-t.End), t.End-lastBase); err != nil {
			return fmt.Errorf("raftlog: history: %w", err)
		}
	}
	for b, f := range staged {
		if err := vfs.Datasync(f); err != nil {
			return fmt.Errorf("raftlog: history: sync staged segment: %w", err)
		}
		if b == liveBase {
			if err := copyRange(l.segs[0].f, f, max(h.p.FromOffset, b)-b, t.End-max(h.p.FromOffset, b)); err != nil {
				return l.fail(fmt.Errorf("raftlog: history: fill %s: %w", l.segs[0].path, err))
			}
			if err := vfs.Datasync(l.segs[0].f); err != nil {
				return l.fail(fmt.Errorf("raftlog: history: sync %s: %w", l.segs[0].path, err))
			}
		}
	}
	// Move the others in, highest first, so that the segments present are
	// always contiguous.
	var bases []int64
	for b := range staged {
		if b != liveBase {
			bases = append(bases, b)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] > bases[j] })
	var segs []*segment
	for _, b := range bases {
		src, dst := filepath.Join(h.dir, segmentName(b)), filepath.Join(l.segDir, segmentName(b))
		if ms, ok := h.p.Mtimes[b]; ok {
			mt := time.UnixMilli(ms)
			h.l.fs.Chtimes(src, mt, mt) // retention ages segments by the donor's times
		}
		if err := h.l.fs.Rename(src, dst); err != nil {
			return l.fail(fmt.Errorf("raftlog: history: %w", err))
		}
		segs = append([]*segment{{base: b, path: dst, f: staged[b]}}, segs...)
		delete(staged, b)
	}
	if err := durable.SyncDirFS(h.l.fs, l.segDir); err != nil {
		return l.fail(fmt.Errorf("raftlog: history: %w", err))
	}
	m := l.meta
	m.StartIndex, m.StartOffset, m.FirstIndex = h.p.FromIndex, h.p.FromOffset, 0
	if empty {
		m.HintIndex, m.HintOffset = 0, 0
	}
	if err := storeMeta(h.l.fs, l.metaPth, m); err != nil {
		return l.fail(err)
	}
	l.meta = m
	l.mu.Lock()
	l.segs = append(segs, l.segs...)
	l.first = h.p.FromIndex
	if empty {
		l.last = t.Index
		l.writePos = t.End
	}
	l.mu.Unlock()
	if empty {
		l.dur.setSynced(t.Index)
	}
	l.logger.Info("installed fetched history", "from_index", h.p.FromIndex, "to_index", t.Index,
		"from_offset", h.p.FromOffset, "bytes", t.End-h.p.FromOffset, "segments", len(l.segs))
	h.Discard()
	return nil
}

// prependIndexFiles maps index files for [from, to] below the existing
// ones. Caller holds wmu.
func (l *Log) prependIndexFiles(from, to uint64) error {
	e := uint64(l.cfg.IndexFileEntries)
	if len(l.idxs) == 0 {
		return l.ensureIndexFiles(from, to)
	}
	for k := l.idxs[0].first/e - 1; k+1 > from/e; k-- {
		if err := l.roomFor(l.indexFileBytes(), "a raft index file"); err != nil {
			return err
		}
		x, err := openIndexFile(l.fs, l.idxDir, k*e, l.cfg.IndexFileEntries)
		if err != nil {
			return err
		}
		l.mu.Lock()
		l.idxs = append([]*indexFile{x}, l.idxs...)
		l.mu.Unlock()
	}
	return durable.SyncDirFS(l.fs, l.idxDir)
}

// writeUnitsAt writes encoded units from index i on (the index files
// exist). Caller holds wmu.
func (l *Log) writeUnitsAt(i uint64, b []byte) error {
	e := uint64(l.cfg.IndexFileEntries)
	for len(b) > 0 {
		x := l.idxs[i/e-l.idxs[0].first/e]
		n := min(uint64(len(b)/unitSize), x.first+e-i)
		if err := x.writeUnits(i, b[:n*unitSize]); err != nil {
			return l.fail(err)
		}
		i, b = i+n, b[n*unitSize:]
	}
	return nil
}

// copyRange copies n bytes at file offset off from src to dst.
func copyRange(dst, src vfs.File, off, n int64) error {
	buf := make([]byte, min(n, 4<<20))
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := src.ReadAt(buf[:k], off); err != nil && !(errors.Is(err, io.EOF)) {
			return err
		}
		if _, err := dst.WriteAt(buf[:k], off); err != nil {
			return err
		}
		off, n = off+k, n-k
	}
	return nil
}

// HoldRetention stops retention from deleting segments until the returned
// function is called (the FSM rebuilds queues over an imported history).
func (l *Log) HoldRetention() (release func()) {
	l.retHold.Add(1)
	done := false
	return func() {
		if !done {
			done = true
			l.retHold.Add(-1)
		}
	}
}
