// Package consumequeue stores RocketMQ ConsumeQueues: per (topic, queueId)
// a dense array of 20-byte units {commitlog offset int64, size int32, tag
// hash int64} (big-endian), one per message, indexed by queue offset.
//
// Files live at <root>/consumequeue/<topic>/<queueId>/<20-digit name>, each
// FileEntries units long and named by the byte offset of its first unit
// (queue offset × 20), like RocketMQ's. Files are fixed-size and mapped
// read-only; an all-zero unit (size 0: no message is empty) marks the end.
// Appended units are buffered and written with one pwrite per file by
// Flush or FlushIfOver (the FSM writes a queue once 4 KiB of units wait,
// and every checkpoint's Sync writes the rest); readers see buffered units
// at once. The files may thus lag the queue by a few buffered units: a
// crash loses nothing, since replay from the checkpoint (which Sync made
// durable first) rebuilds them. Stores into a shared mapping are avoided on purpose: one
// can fault and wait on the filesystem journal while holding a Go runtime
// P, and two such waits stall a GOMAXPROCS=2 broker entirely.
//
// Invariants: units are appended only by the FSM, in log order, so a
// queue's units have increasing commitlog offsets; a queue is a pure
// function of the applied raft log (plus the offsets a snapshot restore
// starts it at). Readers see a unit only after MaxOffset covers it.
package consumequeue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"

	"github.com/raftmq/raftmq/internal/durable"
	"golang.org/x/sys/unix"
)

// UnitSize is the size of one ConsumeQueue unit.
const UnitSize = 20

// Unit is one ConsumeQueue entry.
type Unit struct {
	PhysOffset int64 // commitlog offset of the message record
	Size       int32 // record size
	TagHash    int64 // TagsHashCode of the message's TAGS (0: none)
}

var (
	// ErrOffset reports a queue offset outside [MinOffset, MaxOffset).
	ErrOffset = errors.New("consumequeue: offset out of range")
	// ErrCorrupt reports an inconsistent queue file.
	ErrCorrupt = errors.New("consumequeue: corrupt queue")
)

type file struct {
	first int64 // queue offset of unit 0
	path  string
	f     *os.File
	m     []byte
}

// Queue is one ConsumeQueue. Append and truncation are called by one writer
// (the FSM); reads are safe concurrently.
type Queue struct {
	Topic   string
	QueueID int32
	dir     string
	entries int64

	mu      sync.RWMutex
	files   []*file // contiguous
	min     int64   // first readable offset
	max     int64   // next offset to write
	lastPhy int64   // commitlog offset of the last unit (-1: none)
	dirty   bool
	// pend holds the encoded units [pendFrom, max), appended but not yet
	// written to the files.
	pend     []byte
	pendFrom int64
	waitCh   chan struct{} // closed and replaced when max grows
}

// Open opens (or creates) the queue's directory and recovers its extent.
func Open(root, topic string, queueID int32, fileEntries int64) (*Queue, error) {
	if fileEntries <= 0 {
		return nil, fmt.Errorf("consumequeue: invalid file size %d units", fileEntries)
	}
	dir, err := QueueDir(root, topic, queueID)
	if err != nil {
		return nil, err
	}
	q := &Queue{
		Topic:   topic,
		QueueID: queueID,
		dir:     dir,
		entries: fileEntries,
		lastPhy: -1,
		waitCh:  make(chan struct{}),
	}
	if err := os.MkdirAll(q.dir, 0o755); err != nil {
		return nil, fmt.Errorf("consumequeue: %w", err)
	}
	if err := q.load(); err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

func (q *Queue) load() error {
	ents, err := os.ReadDir(q.dir)
	if err != nil {
		return fmt.Errorf("consumequeue: %w", err)
	}
	var firsts []int64
	for _, e := range ents {
		if len(e.Name()) != 20 {
			continue
		}
		v, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil || v%UnitSize != 0 {
			continue
		}
		firsts = append(firsts, v/UnitSize)
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	for i, first := range firsts {
		if first%q.entries != 0 || (i > 0 && first != firsts[i-1]+q.entries) {
			return fmt.Errorf("%w: %s: files are not contiguous", ErrCorrupt, q.dir)
		}
		f, err := q.openFile(first)
		if err != nil {
			return err
		}
		q.files = append(q.files, f)
	}
	if len(q.files) == 0 {
		if m, ok := readMinMarker(q.dir); ok {
			q.min, q.max = m, m
		}
		return nil
	}
	// The queue starts at its first file, or later after a deleted prefix
	// or a snapshot restore (the min marker).
	q.min = q.files[0].first
	if m, ok := readMinMarker(q.dir); ok && m > q.min {
		q.min = m
	}
	// The end is the first empty unit from the start of the last file (or
	// from min, if min lies inside it). A last file that is empty from its
	// start, after the queue's start, was emptied by TruncatePhys: the end
	// is then in an earlier file, and the empty file goes.
	for {
		last := q.files[len(q.files)-1]
		from := max(q.min, last.first)
		q.max = from
		for q.max < last.first+q.entries && binary.BigEndian.Uint32(last.m[(q.max-last.first)*UnitSize+8:]) != 0 {
			q.max++
		}
		if q.max > last.first || len(q.files) == 1 || last.first <= q.min {
			break
		}
		q.files = q.files[:len(q.files)-1]
		unix.Munmap(last.m)
		last.f.Close()
		if err := os.Remove(last.path); err != nil {
			return fmt.Errorf("consumequeue: %w", err)
		}
	}
	if q.max > q.min {
		f := q.fileLocked(q.max - 1)
		if f == nil {
			return fmt.Errorf("%w: %s: missing file before the last", ErrCorrupt, q.dir)
		}
		q.lastPhy = int64(binary.BigEndian.Uint64(f.m[(q.max-1-f.first)*UnitSize:]))
	}
	return nil
}

func (q *Queue) openFile(first int64) (*file, error) {
	path := filepath.Join(q.dir, fmt.Sprintf("%020d", first*UnitSize))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("consumequeue: %w", err)
	}
	size := q.entries * UnitSize
	if st, err := f.Stat(); err == nil && st.Size() != size {
		if err := f.Truncate(size); err != nil {
			f.Close()
			return nil, fmt.Errorf("consumequeue: %w", err)
		}
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("consumequeue: mmap %s: %w", path, err)
	}
	return &file{first: first, path: path, f: f, m: m}, nil
}

// MaxOffset is the next queue offset to be written (the queue's length).
func (q *Queue) MaxOffset() int64 {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.max
}

// MinOffset is the first queue offset still readable.
func (q *Queue) MinOffset() int64 {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.min
}

// LastPhysOffset is the commitlog offset of the newest unit, or -1.
func (q *Queue) LastPhysOffset() int64 {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.lastPhy
}

// Append adds units at MaxOffset and returns the offset of the first. They
// are readable at once and written to the files by Flush. Waiters are woken
// by Notify, which the FSM calls once per batch.
func (q *Queue) Append(units ...Unit) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	start := q.max
	for _, u := range units {
		if u.Size <= 0 {
			return start, fmt.Errorf("consumequeue: unit with size %d", u.Size)
		}
		if len(q.pend) == 0 {
			q.pendFrom = q.max
		}
		q.pend = binary.BigEndian.AppendUint64(q.pend, uint64(u.PhysOffset))
		q.pend = binary.BigEndian.AppendUint32(q.pend, uint32(u.Size))
		q.pend = binary.BigEndian.AppendUint64(q.pend, uint64(u.TagHash))
		q.max++
		q.lastPhy = u.PhysOffset
	}
	q.dirty = true
	return start, nil
}

// Flush writes the appended units to the queue files. On error the units
// stay buffered (and readable) and a later Flush retries.
func (q *Queue) Flush() error { return q.FlushIfOver(0) }

// FlushIfOver writes the appended units if at least n bytes of them wait.
// Units left buffered are served from memory; Sync, Close and the next
// write take them along.
func (q *Queue) FlushIfOver(n int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pend) < n {
		return nil
	}
	return q.flushLocked()
}

func (q *Queue) flushLocked() error {
	for len(q.pend) > 0 {
		f, err := q.fileForWriteLocked(q.pendFrom)
		if err != nil {
			return err
		}
		n := min(int64(len(q.pend)/UnitSize), f.first+q.entries-q.pendFrom)
		if _, err := f.f.WriteAt(q.pend[:n*UnitSize], (q.pendFrom-f.first)*UnitSize); err != nil {
			return fmt.Errorf("consumequeue: write %s: %w", f.path, err)
		}
		q.pendFrom += n
		q.pend = q.pend[n*UnitSize:]
	}
	if cap(q.pend) > 64<<10 {
		q.pend = nil
	} else {
		q.pend = q.pend[:0]
	}
	return nil
}

func (q *Queue) fileForWriteLocked(off int64) (*file, error) {
	if n := len(q.files); n > 0 {
		last := q.files[n-1]
		if off >= last.first && off < last.first+q.entries {
			return last, nil
		}
	}
	first := off / q.entries * q.entries
	f, err := q.openFile(first)
	if err != nil {
		return nil, err
	}
	q.files = append(q.files, f)
	return f, nil
}

// Notify wakes every waiter if the queue grew.
func (q *Queue) Notify() {
	q.mu.Lock()
	ch := q.waitCh
	q.waitCh = make(chan struct{})
	q.mu.Unlock()
	close(ch)
}

// Wait returns a channel closed once MaxOffset > offset (immediately closed
// if it already is).
func (q *Queue) Wait(offset int64) <-chan struct{} {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.max > offset {
		c := make(chan struct{})
		close(c)
		return c
	}
	return q.waitCh
}

// Get returns the unit at offset.
func (q *Queue) Get(offset int64) (Unit, error) {
	us, err := q.Range(offset, 1, nil)
	if err != nil {
		return Unit{}, err
	}
	if len(us) == 0 {
		return Unit{}, fmt.Errorf("%w: %d not in [%d,%d)", ErrOffset, offset, q.MinOffset(), q.MaxOffset())
	}
	return us[0], nil
}

// Range appends up to max units starting at offset to dst. It returns an
// empty slice when offset == MaxOffset and ErrOffset outside the queue.
func (q *Queue) Range(offset int64, max int, dst []Unit) ([]Unit, error) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if offset < q.min || offset > q.max {
		return dst, fmt.Errorf("%w: %d not in [%d,%d]", ErrOffset, offset, q.min, q.max)
	}
	end := min(q.max, offset+int64(max))
	for off := offset; off < end; off++ {
		var b []byte
		if len(q.pend) > 0 && off >= q.pendFrom {
			b = q.pend[(off-q.pendFrom)*UnitSize:]
		} else {
			f := q.fileLocked(off)
			if f == nil {
				return dst, fmt.Errorf("%w: no file for offset %d", ErrCorrupt, off)
			}
			b = f.m[(off-f.first)*UnitSize:]
		}
		dst = append(dst, Unit{
			PhysOffset: int64(binary.BigEndian.Uint64(b)),
			Size:       int32(binary.BigEndian.Uint32(b[8:])),
			TagHash:    int64(binary.BigEndian.Uint64(b[12:])),
		})
	}
	return dst, nil
}

func (q *Queue) fileLocked(off int64) *file {
	if len(q.files) == 0 {
		return nil
	}
	i := (off - q.files[0].first) / q.entries
	if i < 0 || i >= int64(len(q.files)) {
		return nil
	}
	return q.files[i]
}

// Search returns the smallest offset in [MinOffset, MaxOffset) whose unit
// satisfies pred (units are ordered by commitlog offset, so predicates
// monotonic in it, such as store time, binary-search correctly), or
// MaxOffset if none does.
func (q *Queue) Search(pred func(Unit) bool) int64 {
	lo, hi := q.MinOffset(), q.MaxOffset()
	for lo < hi {
		mid := lo + (hi-lo)/2
		u, err := q.Get(mid)
		if err != nil || pred(u) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// TruncatePhys removes units whose commitlog offset is >= phys (they
// belong to entries the FSM will apply again after a restart).
func (q *Queue) TruncatePhys(phys int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.flushLocked(); err != nil {
		return err
	}
	newMax := q.max
	for newMax > q.min {
		f := q.fileLocked(newMax - 1)
		b := f.m[(newMax-1-f.first)*UnitSize:]
		if int64(binary.BigEndian.Uint64(b)) < phys {
			break
		}
		newMax--
	}
	var zero [UnitSize]byte
	for off := newMax; off < q.max; off++ {
		f := q.fileLocked(off)
		if _, err := f.f.WriteAt(zero[:], (off-f.first)*UnitSize); err != nil {
			return fmt.Errorf("consumequeue: truncate %s: %w", f.path, err)
		}
	}
	if newMax != q.max {
		q.max = newMax
		q.lastPhy = -1
		if newMax > q.min {
			f := q.fileLocked(newMax - 1)
			q.lastPhy = int64(binary.BigEndian.Uint64(f.m[(newMax-1-f.first)*UnitSize:]))
		}
		q.dirty = true
	}
	return nil
}

// Reset empties the queue and makes it start at offset (a snapshot restore
// on a replica that does not have the messages before it).
func (q *Queue) Reset(offset int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pend = nil
	for _, f := range q.files {
		unix.Munmap(f.m)
		f.f.Close()
		os.Remove(f.path)
	}
	q.files = nil
	q.min, q.max, q.lastPhy = offset, offset, -1
	if offset > 0 {
		if _, err := q.fileForWriteLocked(offset); err != nil {
			return err
		}
		if err := writeMinMarker(q.dir, offset); err != nil {
			return err
		}
	}
	return nil
}

// DeleteBefore drops units below offset: whole files are removed, and the
// new minimum is recorded. Used when retention removed the messages.
func (q *Queue) DeleteBefore(offset int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if offset <= q.min {
		return nil
	}
	if err := q.flushLocked(); err != nil {
		return err
	}
	offset = min(offset, q.max)
	var drop []*file
	for len(q.files) > 1 && q.files[0].first+q.entries <= offset {
		drop = append(drop, q.files[0])
		q.files = q.files[1:]
	}
	q.min = offset
	for _, f := range drop {
		unix.Munmap(f.m)
		f.f.Close()
		os.Remove(f.path)
	}
	return writeMinMarker(q.dir, offset)
}

// WriteBelow writes units at [offset, offset+len(units)), below MinOffset:
// the history of a queue that restarted at a snapshot's offset, rebuilt
// once its messages were fetched. They become readable with ExtendDown.
func (q *Queue) WriteBelow(offset int64, units []Unit) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	end := offset + int64(len(units))
	if offset < 0 || end > q.min || len(q.files) == 0 {
		return fmt.Errorf("%w: history [%d,%d) is not below the queue's first offset %d", ErrOffset, offset, end, q.min)
	}
	for q.files[0].first > offset {
		f, err := q.openFile(q.files[0].first - q.entries)
		if err != nil {
			return err
		}
		q.files = append([]*file{f}, q.files...)
	}
	b := make([]byte, 0, len(units)*UnitSize)
	for _, u := range units {
		if u.Size <= 0 {
			return fmt.Errorf("consumequeue: unit with size %d", u.Size)
		}
		b = binary.BigEndian.AppendUint64(b, uint64(u.PhysOffset))
		b = binary.BigEndian.AppendUint32(b, uint32(u.Size))
		b = binary.BigEndian.AppendUint64(b, uint64(u.TagHash))
	}
	for off := offset; off < end; {
		f := q.fileLocked(off)
		n := min(end, f.first+q.entries) - off
		i := (off - offset) * UnitSize
		if _, err := f.f.WriteAt(b[i:i+n*UnitSize], (off-f.first)*UnitSize); err != nil {
			return fmt.Errorf("consumequeue: write %s: %w", f.path, err)
		}
		off += n
	}
	return nil
}

// ExtendDown makes offset the first readable offset: the units from it to
// the old MinOffset were written by WriteBelow. They are made durable
// before the new start is recorded.
func (q *Queue) ExtendDown(offset int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if offset >= q.min {
		return nil
	}
	if len(q.files) == 0 || q.files[0].first > offset {
		return fmt.Errorf("%w: no history written from %d", ErrOffset, offset)
	}
	for _, f := range q.files {
		if f.first >= q.min {
			break
		}
		if err := f.f.Sync(); err != nil {
			return fmt.Errorf("consumequeue: sync %s: %w", f.path, err)
		}
	}
	if err := writeMinMarker(q.dir, offset); err != nil {
		return err
	}
	q.min = offset
	return nil
}

// FirstPhysAtOrAfter returns the first offset whose unit's commitlog offset
// is >= phys.
func (q *Queue) FirstPhysAtOrAfter(phys int64) int64 {
	return q.Search(func(u Unit) bool { return u.PhysOffset >= phys })
}

// Sync writes and flushes appended units to disk.
func (q *Queue) Sync() error {
	q.mu.Lock()
	if err := q.flushLocked(); err != nil {
		q.mu.Unlock()
		return err
	}
	dirty := q.dirty
	q.dirty = false
	files := append([]*file(nil), q.files...)
	q.mu.Unlock()
	if !dirty {
		return nil
	}
	for _, f := range files {
		if err := f.f.Sync(); err != nil {
			return fmt.Errorf("consumequeue: sync %s: %w", f.path, err)
		}
	}
	return nil
}

// Close unmaps and closes the queue's files.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	errs := []error{q.flushLocked()}
	for _, f := range q.files {
		errs = append(errs, unix.Munmap(f.m), f.f.Close())
	}
	q.files = nil
	return errors.Join(errs...)
}

// The min marker records a queue's first offset when it is not the first
// unit of its first file (after DeleteBefore or Reset).
const minMarkerName = "min"

func writeMinMarker(dir string, off int64) error {
	if err := durable.WriteFile(filepath.Join(dir, minMarkerName), []byte(strconv.FormatInt(off, 10)), 0o644); err != nil {
		return fmt.Errorf("consumequeue: %w", err)
	}
	return nil
}

func readMinMarker(dir string) (int64, bool) {
	b, err := os.ReadFile(filepath.Join(dir, minMarkerName))
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	return v, err == nil
}
