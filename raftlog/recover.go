package raftlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/raftmq/raftmq/internal/vfs"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/raftmq/raftmq/internal/durable"
)

// recover loads the meta file, opens segments and index files, and
// validates the tail. Sealed segments (all but the last) were made durable,
// together with their index units, before the next segment was written, so
// only the last segment is scanned; reads verify every record's checksum.
func (l *Log) recover() error {
	m, found, err := loadMeta(l.fs, l.metaPth)
	if err != nil {
		return err
	}
	if !found {
		m = meta{Version: metaVersion, SegmentSize: l.cfg.SegmentSize}
		if err := storeMeta(l.fs, l.metaPth, m); err != nil {
			return err
		}
	} else if m.SegmentSize != l.cfg.SegmentSize {
		return fmt.Errorf("%w: the log was written with %d-byte segments, config says %d (physical offsets would change)",
			ErrConfigChanged, m.SegmentSize, l.cfg.SegmentSize)
	}
	l.meta = m

	bases, err := listOffsetFiles(l.fs, l.segDir)
	if err != nil {
		return fmt.Errorf("raftlog: list segments: %w", err)
	}
	// Segments that end at or before the log's start are not part of it:
	// left by an emptied log, or by a history import cut short before its
	// meta update (history.go).
	for len(bases) > 0 && bases[0]+l.cfg.SegmentSize <= m.StartOffset {
		path := filepath.Join(l.segDir, segmentName(bases[0]))
		l.logger.Warn("removing a segment below the log's start", "segment", path, "start_offset", m.StartOffset)
		if err := l.fs.Remove(path); err != nil {
			return fmt.Errorf("raftlog: %w", err)
		}
		bases = bases[1:]
		if err := durable.SyncDirFS(l.fs, l.segDir); err != nil {
			return fmt.Errorf("raftlog: %w", err)
		}
	}
	for i, b := range bases {
		if b%l.cfg.SegmentSize != 0 || (i > 0 && b != bases[i-1]+l.cfg.SegmentSize) {
			return &CorruptError{Path: filepath.Join(l.segDir, segmentName(b)), Offset: b,
				Reason: "segment files are not contiguous (a segment in the middle is missing or misnamed)"}
		}
		path := filepath.Join(l.segDir, segmentName(b))
		f, err := l.fs.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("raftlog: open segment: %w", err)
		}
		l.segs = append(l.segs, &segment{base: b, path: path, f: f})
	}
	if err := l.openIndexFiles(); err != nil {
		return err
	}

	var res scanResult
	for {
		n := len(l.segs)
		if n == 0 {
			// Empty log: stale index files are useless; the next append
			// starts where the previous log ended (or at the hint).
			l.writePos = m.StartOffset
			return l.dropAllIndexFiles()
		}
		last := l.segs[n-1]
		start := l.scanStart(last)
		res, err = l.scanTail(last, start)
		if err != nil {
			return err
		}
		if len(res.recs) > 0 {
			break
		}
		// No valid record: a rotation (or the first write) was cut short.
		// Nothing in it was ever acknowledged, so the file goes.
		l.logger.Warn("removing segment without valid records", "segment", last.path)
		last.f.Close()
		if err := l.fs.Remove(last.path); err != nil {
			return fmt.Errorf("raftlog: %w", err)
		}
		if err := durable.SyncDirFS(l.fs, l.segDir); err != nil {
			return fmt.Errorf("raftlog: %w", err)
		}
		l.segs = l.segs[:n-1]
		if n == 1 {
			l.segs = nil
			if start > last.base {
				m.StartOffset = start
			}
			l.writePos = m.StartOffset
			return l.dropAllIndexFiles()
		}
	}

	recs := res.recs
	lastSeg := l.segs[len(l.segs)-1]
	// Entries below the logical first index need no units (their index
	// files may already be gone).
	lo := max(recs[0].index, m.FirstIndex)
	if lo > recs[len(recs)-1].index {
		return &CorruptError{Path: l.metaPth, Index: m.FirstIndex,
			Reason: fmt.Sprintf("first index %d is past the last record %d", m.FirstIndex, recs[len(recs)-1].index)}
	}
	if err := l.ensureIndexFiles(lo, recs[len(recs)-1].index); err != nil {
		return err
	}
	if len(l.segs) > 1 && recs[0].index > m.FirstIndex {
		// The first record of the last segment must follow the last record
		// of the sealed segment before it, according to the index.
		prev := l.segs[len(l.segs)-2]
		if !l.covered(recs[0].index - 1) {
			return &CorruptError{Path: lastSeg.path, Offset: recs[0].pos, Index: recs[0].index,
				Reason: "no index unit for the entry before the last segment"}
		}
		pp, ps := l.unitLocked(recs[0].index - 1)
		if pp < prev.base || pp+int64(ps) > prev.base+l.cfg.SegmentSize {
			return &CorruptError{Path: lastSeg.path, Offset: recs[0].pos, Index: recs[0].index,
				Reason: fmt.Sprintf("index says entry %d is at %d, outside the previous segment", recs[0].index-1, pp)}
		}
	}
	for _, r := range recs {
		if r.index >= lo {
			l.addUnit(r.index, r.pos, uint32(r.size))
		}
	}
	if err := l.flushUnits(); err != nil {
		return err
	}

	physFirst := recs[0].index
	if len(l.segs) > 1 {
		first := l.segs[0]
		h, err := l.readHeaderAt(first, l.scanStart(first))
		if err != nil {
			return &CorruptError{Path: first.path, Offset: l.scanStart(first), Reason: "first record: " + err.Error()}
		}
		physFirst = h.index
	}
	l.first = max(physFirst, m.FirstIndex)
	l.last = recs[len(recs)-1].index
	l.writePos = res.end
	if l.first > l.last {
		return &CorruptError{Path: l.metaPth, Index: l.first,
			Reason: fmt.Sprintf("first index %d is past the last record %d", l.first, l.last)}
	}
	if !l.covered(l.first) {
		return &CorruptError{Path: l.idxDir, Index: l.first, Reason: "index files do not cover the first entry"}
	}
	l.logger.Info("recovered", "first", l.first, "last", l.last, "segments", len(l.segs), "write_offset", l.writePos)
	return nil
}

// scanStart is where the first record of s is: the segment start, or the
// position the log (re)started at when that lies inside s.
func (l *Log) scanStart(s *segment) int64 {
	if off := l.meta.StartOffset; off > s.base && off < s.base+l.cfg.SegmentSize {
		return off
	}
	return s.base
}

func (l *Log) covered(index uint64) bool {
	if len(l.idxs) == 0 {
		return false
	}
	e := uint64(l.cfg.IndexFileEntries)
	return index >= l.idxs[0].first && index < l.idxs[len(l.idxs)-1].first+e
}

func (l *Log) openIndexFiles() error {
	firsts, err := listOffsetFiles(l.fs, l.idxDir)
	if err != nil {
		return fmt.Errorf("raftlog: list index files: %w", err)
	}
	e := l.cfg.IndexFileEntries
	for i, f := range firsts {
		if f%e != 0 || (i > 0 && f != firsts[i-1]+e) {
			return &CorruptError{Path: filepath.Join(l.idxDir, segmentName(f)), Reason: "index files are not contiguous"}
		}
		x, err := openIndexFile(l.fs, l.idxDir, uint64(f), e)
		if err != nil {
			return err
		}
		l.idxs = append(l.idxs, x)
	}
	return nil
}

func (l *Log) dropAllIndexFiles() error {
	idxs := l.idxs
	l.idxs = nil
	for _, x := range idxs {
		x.close()
	}
	return l.removeFiles(nil, idxs)
}

func (l *Log) readHeaderAt(s *segment, pos int64) (header, error) {
	var b [HeaderSize]byte
	if _, err := s.f.ReadAt(b[:], pos-s.base); err != nil {
		return header{}, err
	}
	return parseHeader(b[:], s.base+l.cfg.SegmentSize-pos)
}

type recInfo struct {
	index, term uint64
	pos, size   int64
}

type scanResult struct {
	recs []recInfo
	end  int64 // physical offset where the next record goes
}

// scanTail validates the records of s from start. It stops at the end of
// the data: zeros, end of file, or a blank marker. An invalid record is a
// torn tail when nothing durable can follow it: no valid record of a later
// StoreLogs batch exists after it. Then the garbage is zeroed and the log
// ends there. Otherwise it is corruption: ErrCorrupt, unless Repair (or
// AsyncFlush, whose later batches may legitimately survive a power loss
// that tore an earlier one) says to cut there.
func (l *Log) scanTail(s *segment, start int64) (scanResult, error) {
	segEnd := s.base + l.cfg.SegmentSize
	rd := &fileReader{f: s.f, base: s.base}
	var res scanResult
	var lastTerm uint64
	p := start
	for {
		if segEnd-p < blankSize {
			res.end = segEnd
			return res, nil
		}
		b, err := rd.readAt(p, 8)
		if errors.Is(err, io.EOF) && len(b) == 0 {
			res.end = p // sparse file ends here
			return res, nil
		}
		if len(b) == 8 {
			switch binary.BigEndian.Uint32(b) {
			case blankMagic:
				if int64(binary.BigEndian.Uint32(b[4:])) == segEnd-p {
					res.end = segEnd
					return res, nil
				}
			case recordMagic:
				if rec, _, ok := l.validAt(rd, p, segEnd); ok {
					wantIdx := uint64(0)
					if n := len(res.recs); n > 0 {
						wantIdx = res.recs[n-1].index + 1
					}
					if (wantIdx == 0 || rec.index == wantIdx) && rec.term >= lastTerm {
						res.recs = append(res.recs, rec)
						lastTerm = rec.term
						p += rec.size
						continue
					}
				}
			}
		}
		// p is not a valid continuation: end of data, torn tail or corruption.
		return l.classifyTail(s, rd, p, segEnd, res)
	}
}

// validAt reads and checks the record at p.
func (l *Log) validAt(rd *fileReader, p, segEnd int64) (recInfo, header, bool) {
	if segEnd-p < HeaderSize {
		return recInfo{}, header{}, false
	}
	hb, err := rd.readAt(p, HeaderSize)
	if err != nil {
		return recInfo{}, header{}, false
	}
	h, err := parseHeader(hb, segEnd-p)
	if err != nil {
		return recInfo{}, header{}, false
	}
	rb, err := rd.readAt(p, int64(h.size))
	if err != nil {
		return recInfo{}, header{}, false
	}
	if crc32.Checksum(rb[12:], castagnoli) != h.crc {
		return recInfo{}, header{}, false
	}
	return recInfo{index: h.index, term: h.term, pos: p, size: int64(h.size)}, h, true
}

func (l *Log) classifyTail(s *segment, rd *fileReader, p, segEnd int64, res scanResult) (scanResult, error) {
	var lastIdx uint64
	if n := len(res.recs); n > 0 {
		lastIdx = res.recs[n-1].index
	}
	// Find every valid record at or after p, and the last non-zero byte.
	lastNonZero := int64(-1)
	batches := map[uint64]bool{} // batch start index of each valid later record
	var laterIdx uint64
	var laterPos int64
	probe := &fileReader{f: s.f, base: s.base}
	const window = 8 << 20
	magic := binary.BigEndian.AppendUint32(nil, recordMagic)
	next := p // records found are skipped whole
	for w := p; w < segEnd; w += window - int64(len(magic)) {
		n := min(int64(window), segEnd-w)
		b, _ := rd.readAt(w, n)
		if i := lastNonZeroByte(b); i >= 0 {
			lastNonZero = w + int64(i)
		}
		for off := 0; ; {
			j := bytes.Index(b[off:], magic)
			if j < 0 {
				break
			}
			q := w + int64(off+j)
			off += j + 1
			if q < next {
				continue
			}
			rec, h, ok := l.validAt(probe, q, segEnd)
			if !ok || rec.index <= lastIdx {
				continue
			}
			batches[rec.index-uint64(h.batchOff)] = true
			if laterIdx == 0 {
				laterIdx, laterPos = rec.index, rec.pos
			}
			next = q + rec.size
		}
		if int64(len(b)) < n {
			break
		}
	}
	corrupt := false
	for start := range batches {
		// A valid record of a batch that began after the first broken entry
		// was written after the broken one; under SyncFlush that means the
		// broken one had been made durable: corruption, not a torn write.
		if lastIdx > 0 && start > lastIdx+1 {
			corrupt = true
		}
	}
	if lastIdx == 0 && len(batches) > 1 {
		corrupt = true // several batches after a broken first record
	}
	if corrupt {
		reason := fmt.Sprintf("invalid record followed by valid entry %d at offset %d from a later batch", laterIdx, laterPos)
		if !l.cfg.Repair && l.cfg.Flush == SyncFlush {
			return res, &CorruptError{Path: s.path, Offset: p, Index: lastIdx + 1, Reason: reason +
				"; refusing to drop durable entries (repair mode cuts the log here)"}
		}
		l.logger.Error("cutting the log at an invalid record; later entries are dropped", "segment", s.path,
			"offset", p, "reason", reason, "repair", l.cfg.Repair, "flush", l.cfg.Flush)
	}
	if lastNonZero >= p {
		l.logger.Warn("truncating torn tail", "segment", s.path, "offset", p, "bytes", lastNonZero+1-p, "last_index", lastIdx)
		if err := vfs.PunchHole(s.f, p-s.base, lastNonZero+1-p); err != nil {
			return res, fmt.Errorf("raftlog: zero torn tail: %w", err)
		}
		if err := vfs.Datasync(s.f); err != nil {
			return res, fmt.Errorf("raftlog: zero torn tail: %w", err)
		}
	}
	res.end = p
	return res, nil
}

func lastNonZeroByte(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0 {
			return i
		}
	}
	return -1
}

// fileReader serves small positioned reads of a segment from a read-ahead
// buffer. Slices it returns are valid until the next call.
type fileReader struct {
	f    vfs.File
	base int64 // physical offset of file byte 0
	buf  []byte
	bOff int64 // physical offset of buf[0]
}

const readAhead = 1 << 20

// readAt returns n bytes at physical offset off, or fewer and io.EOF at the
// end of the file.
func (r *fileReader) readAt(off, n int64) ([]byte, error) {
	if off >= r.bOff && off+n <= r.bOff+int64(len(r.buf)) {
		return r.buf[off-r.bOff : off-r.bOff+n], nil
	}
	size := max(n, readAhead)
	if int64(cap(r.buf)) < size {
		r.buf = make([]byte, size)
	}
	r.buf = r.buf[:size]
	got, err := r.f.ReadAt(r.buf, off-r.base)
	r.buf, r.bOff = r.buf[:got], off
	if int64(got) >= n {
		return r.buf[:n], nil
	}
	if err == nil {
		err = io.EOF
	}
	return r.buf, err
}
