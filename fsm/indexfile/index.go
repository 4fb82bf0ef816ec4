// Package indexfile is RocketMQ's IndexFile: an on-disk hash index from
// message keys ("topic#key", for KEYS and UNIQ_KEY) to commitlog offsets,
// with store times for range queries.
//
// Files live at <root>/index/<creation time, 17 digits yyyyMMddHHmmssSSS>.
// Layout (big-endian):
//
//	header 48 B: beginTimestamp 8, endTimestamp 8, beginPhyOffset 8,
//	             endPhyOffset 8, slotCount 4, indexCount 4, clean 4, reserved 4
//	slots:       slotCount × 4 B, the newest entry number of each hash slot
//	entries:     maxEntries × 20 B: keyHash 4, phyOffset 8,
//	             timeDiff 4 (seconds since beginTimestamp), prevEntry 4
//
// Entry numbers start at 1 (0 = none). A slot points at its newest entry and
// every entry at the previous one of the same slot, so a lookup walks one
// chain. Only the newest ("active") file is written. Its header and slot
// table live in memory and its entries are appended with positioned writes
// in batches: random stores into a shared file mapping fault on every page
// the kernel has written back (measured at 30 % of a follower's CPU), so
// mappings are read-only. Sync writes the header and the dirty slot pages;
// a file not closed cleanly has its slots rebuilt from its entries on open.
package indexfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	mbits "math/bits"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

const (
	headerSize = 48
	slotSize   = 4
	entrySize  = 20
	nameLayout = "20060102150405.000"
	pageSize   = 4096
	// flushAt bounds the unwritten entries kept in memory.
	flushAt = 1 << 20
)

// Config sizes index files.
type Config struct {
	SlotCount  int // hash slots per file (RocketMQ maxHashSlotNum, 5,000,000)
	MaxEntries int // entries per file (RocketMQ maxIndexNum, 20,000,000)
}

// DefaultConfig returns RocketMQ's sizes (a ~420 MB sparse file each).
func DefaultConfig() Config { return Config{SlotCount: 5_000_000, MaxEntries: 20_000_000} }

// Validate checks the sizes.
func (c Config) Validate() error {
	if c.SlotCount < 1 || c.MaxEntries < 1 || c.MaxEntries > 1<<31-1 {
		return fmt.Errorf("indexfile: invalid sizes %d slots, %d entries", c.SlotCount, c.MaxEntries)
	}
	return nil
}

func fileSize(c Config) int64 {
	return headerSize + int64(c.SlotCount)*slotSize + int64(c.MaxEntries)*entrySize
}

type header struct {
	beginTS, endTS, beginPhys, endPhys int64
	slotCount, count                   uint32
	clean                              uint32
}

func (h *header) encode() []byte {
	b := make([]byte, headerSize)
	binary.BigEndian.PutUint64(b[0:], uint64(h.beginTS))
	binary.BigEndian.PutUint64(b[8:], uint64(h.endTS))
	binary.BigEndian.PutUint64(b[16:], uint64(h.beginPhys))
	binary.BigEndian.PutUint64(b[24:], uint64(h.endPhys))
	binary.BigEndian.PutUint32(b[32:], h.slotCount)
	binary.BigEndian.PutUint32(b[36:], h.count)
	binary.BigEndian.PutUint32(b[40:], h.clean)
	return b
}

func decodeHeader(b []byte) header {
	return header{
		beginTS:   int64(binary.BigEndian.Uint64(b[0:])),
		endTS:     int64(binary.BigEndian.Uint64(b[8:])),
		beginPhys: int64(binary.BigEndian.Uint64(b[16:])),
		endPhys:   int64(binary.BigEndian.Uint64(b[24:])),
		slotCount: binary.BigEndian.Uint32(b[32:]),
		count:     binary.BigEndian.Uint32(b[36:]),
		clean:     binary.BigEndian.Uint32(b[40:]),
	}
}

type file struct {
	name string
	path string
	f    *os.File
	m    []byte // read-only mapping
	cfg  Config
	hdr  header

	// Active file only.
	slots      []uint32 // in memory; nil once sealed
	dirtyPages pageSet
	pending    []byte // entries written after `written`
	written    uint32 // entries on disk (pwritten)
	prefetched uint32 // see prefetch
}

func (x *file) slotIndex(h uint32) int { return int(h % uint32(x.cfg.SlotCount)) }
func (x *file) slotOff(i int) int64    { return headerSize + int64(i)*slotSize }
func (x *file) entryOff(n uint32) int64 {
	return headerSize + int64(x.cfg.SlotCount)*slotSize + int64(n-1)*entrySize
}

func (x *file) slot(i int) uint32 {
	if x.slots != nil {
		return x.slots[i]
	}
	return binary.BigEndian.Uint32(x.m[x.slotOff(i):])
}

// entry reads entry n (1-based, n <= count).
func (x *file) entry(n uint32) (hash uint32, phys int64, diff uint32, prev uint32) {
	var b []byte
	if x.slots != nil && n > x.written {
		b = x.pending[(n-x.written-1)*entrySize:]
	} else {
		b = x.m[x.entryOff(n):]
	}
	return binary.BigEndian.Uint32(b), int64(binary.BigEndian.Uint64(b[4:])), binary.BigEndian.Uint32(b[12:]), binary.BigEndian.Uint32(b[16:])
}

// Store is the set of index files of a broker.
type Store struct {
	dir string
	cfg Config

	mu    sync.RWMutex
	files []*file // oldest first; the last one is written
}

// Open opens every index file under root/index.
func Open(root string, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{dir: filepath.Join(root, "index"), cfg: cfg}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("indexfile: %w", err)
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("indexfile: %w", err)
	}
	if err := removeHistoryLeftovers(s.dir, ents); err != nil {
		return nil, fmt.Errorf("indexfile: %w", err)
	}
	var names []string
	for _, e := range ents {
		if _, err := time.ParseInLocation(nameLayout, insertDot(e.Name()), time.Local); err == nil {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for i, n := range names {
		x, err := s.openFile(n, i == len(names)-1)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.files = append(s.files, x)
	}
	return s, nil
}

// insertDot turns the 17-digit name into the layout's form.
func insertDot(name string) string {
	if len(name) != 17 {
		return ""
	}
	return name[:14] + "." + name[14:]
}

func (s *Store) openFile(name string, active bool) (*file, error) {
	path := filepath.Join(s.dir, name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("indexfile: %w", err)
	}
	size := fileSize(s.cfg)
	st, err := f.Stat()
	if err == nil && st.Size() != size {
		if st.Size() != 0 {
			f.Close()
			return nil, fmt.Errorf("indexfile: %s is %d bytes, want %d (index sizes changed?)", path, st.Size(), size)
		}
		err = f.Truncate(size)
		if err == nil {
			// The header and slot table are written at every checkpoint,
			// scattered: reserve them now, so that a checkpoint never needs
			// disk space that the disk-full check did not see go.
			err = fallocate(f, headerSize+int64(s.cfg.SlotCount)*slotSize)
		}
		if err != nil {
			os.Remove(path)
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("indexfile: %w", err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("indexfile: mmap %s: %w", path, err)
	}
	x := &file{name: name, path: path, f: f, m: m, cfg: s.cfg, hdr: decodeHeader(m)}
	if x.hdr.count > 0 && int(x.hdr.slotCount) != s.cfg.SlotCount {
		x.close()
		return nil, fmt.Errorf("indexfile: %s has %d slots, config says %d", path, x.hdr.slotCount, s.cfg.SlotCount)
	}
	x.hdr.slotCount = uint32(s.cfg.SlotCount)
	x.written = x.hdr.count
	if active {
		x.activate()
		if x.hdr.clean != 0 {
			for i := range x.slots {
				x.slots[i] = binary.BigEndian.Uint32(m[x.slotOff(i):])
			}
		} else {
			x.rebuildSlots()
		}
		x.hdr.clean = 0
	}
	return x, nil
}

// rebuildSlots recomputes the active file's slots from its entries.
func (x *file) rebuildSlots() {
	clear(x.slots)
	for n := uint32(1); n <= x.hdr.count; n++ {
		h, _, _, _ := x.entry(n)
		x.slots[x.slotIndex(h)] = n
	}
	for p := 0; p <= int(x.slotOff(x.cfg.SlotCount-1))/pageSize; p++ {
		x.dirtyPages.add(p)
	}
}

// activate gives a file that is to be written an empty slot table.
func (x *file) activate() {
	x.slots, x.dirtyPages = make([]uint32, x.cfg.SlotCount), x.newPageSet()
}

// seal drops the active file's in-memory state (once persisted).
func (x *file) seal() {
	x.slots, x.dirtyPages, x.pending = nil, nil, nil
}

func (x *file) close() error {
	x.seal()
	err := unix.Munmap(x.m)
	x.m = nil
	if cerr := x.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// flushEntries writes pending entries.
func (x *file) flushEntries() error {
	if len(x.pending) == 0 {
		return nil
	}
	if _, err := x.f.WriteAt(x.pending, x.entryOff(x.written+1)); err != nil {
		return fmt.Errorf("indexfile: write %s: %w", x.path, err)
	}
	x.written += uint32(len(x.pending) / entrySize)
	x.pending = x.pending[:0]
	return nil
}

// persistEntries writes the active file's pending entries and a header
// marked not clean, for a checkpoint. The slot pages are not written: a
// file opened with a header not marked clean rebuilds its slots from its
// entries, so they wait for the clean persist at seal or close.
func (x *file) persistEntries() error {
	if x.slots == nil {
		return nil
	}
	if err := x.flushEntries(); err != nil {
		return err
	}
	return x.writeHeader(false)
}

// writeHeader writes the header, marked clean (the slot pages on disk are
// current) or not.
func (x *file) writeHeader(clean bool) error {
	h := x.hdr
	h.clean = 0
	if clean {
		h.clean = 1
	}
	if _, err := x.f.WriteAt(h.encode(), 0); err != nil {
		return fmt.Errorf("indexfile: write %s: %w", x.path, err)
	}
	return nil
}

// persist writes entries, dirty slot pages and a header marked clean, and
// fsyncs (at seal and close; a checkpoint uses persistEntries).
func (x *file) persist() error {
	if x.slots == nil {
		return nil
	}
	if err := x.flushEntries(); err != nil {
		return err
	}
	page := make([]byte, pageSize)
	slotsEnd := x.slotOff(x.cfg.SlotCount)
	err := x.dirtyPages.each(func(p int) error {
		start := max(int64(p)*pageSize, headerSize)
		end := min(int64(p+1)*pageSize, slotsEnd)
		if start >= end {
			return nil
		}
		b := page[:end-start]
		for i := start; i < end; i += slotSize {
			binary.BigEndian.PutUint32(b[i-start:], x.slots[(i-headerSize)/slotSize])
		}
		if _, err := x.f.WriteAt(b, start); err != nil {
			return fmt.Errorf("indexfile: write %s: %w", x.path, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	clear(x.dirtyPages)
	if err := x.writeHeader(true); err != nil {
		return err
	}
	if err := x.f.Sync(); err != nil {
		return fmt.Errorf("indexfile: sync %s: %w", x.path, err)
	}
	return nil
}

// KeyHash hashes an index key.
func KeyHash(key string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	return h.Sum32()
}

// Key builds the index key of a message key in a topic.
func Key(topic, key string) string { return topic + "#" + key }

// KeyHashOf is KeyHash(Key(topic, key)) without building the key: the
// FNV-1a steps inline, so that indexing a message allocates nothing.
func KeyHashOf(topic string, key []byte) uint32 {
	const offset32, prime32 = 2166136261, 16777619
	h := uint32(offset32)
	for i := 0; i < len(topic); i++ {
		h = (h ^ uint32(topic[i])) * prime32
	}
	h = (h ^ '#') * prime32
	for _, c := range key {
		h = (h ^ uint32(c)) * prime32
	}
	return h
}

// Put indexes key for the message at phys stored at storeTS (ms). Calls
// must come in increasing phys order; a phys below the newest file's
// endPhyOffset is ignored (replay after restart).
func (s *Store) Put(key string, phys, storeTS int64) error {
	return s.PutHash(KeyHash(key), phys, storeTS)
}

// PutHash is Put of a key hashed already (KeyHashOf).
func (s *Store) PutHash(h uint32, phys, storeTS int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putLocked(h, phys, storeTS)
}

// Entry is one key of a message to index (PutHashes).
type Entry struct {
	Hash          uint32 // KeyHashOf
	Phys, StoreTS int64
}

// PutHashes is PutHash of each entry in turn, under one lock. A put that
// fails does not stop the ones after it; it returns how many failed and
// the first error.
//
// It first reads every slot the entries hash to, in a loop with no
// dependency between loads, so that their cache misses overlap instead of
// coming one per put (each put's read of its slot was most of its cost).
func (s *Store) PutHashes(es []Entry) (failed int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.files); n > 0 && s.files[n-1].slots != nil {
		s.files[n-1].prefetch(es)
	}
	for _, e := range es {
		if perr := s.putLocked(e.Hash, e.Phys, e.StoreTS); perr != nil {
			failed++
			if err == nil {
				err = perr
			}
		}
	}
	return failed, err
}

// prefetch reads the slots of es; the sum only keeps the loads.
func (x *file) prefetch(es []Entry) {
	var sum uint32
	for _, e := range es {
		sum += x.slots[x.slotIndex(e.Hash)]
	}
	x.prefetched = sum
}

func (s *Store) putLocked(h uint32, phys, storeTS int64) error {
	x, err := s.activeLocked(storeTS)
	if err != nil {
		return err
	}
	if x.hdr.count > 0 && phys < x.hdr.endPhys {
		return nil
	}
	if int(x.hdr.count) >= s.cfg.MaxEntries {
		if x, err = s.newFileLocked(storeTS); err != nil {
			return err
		}
	}
	return x.add(h, phys, storeTS)
}

// add appends an entry to an active file that has room.
func (x *file) add(h uint32, phys, storeTS int64) error {
	if x.hdr.count == 0 {
		x.hdr.beginTS, x.hdr.beginPhys = storeTS, phys
	}
	si := x.slotIndex(h)
	prev := x.slots[si]
	diff := (storeTS - x.hdr.beginTS) / 1000
	diff = max(0, min(diff, 1<<31-1))
	x.hdr.count++
	var e [entrySize]byte
	binary.BigEndian.PutUint32(e[0:], h)
	binary.BigEndian.PutUint64(e[4:], uint64(phys))
	binary.BigEndian.PutUint32(e[12:], uint32(diff))
	binary.BigEndian.PutUint32(e[16:], prev)
	x.pending = append(x.pending, e[:]...)
	x.slots[si] = x.hdr.count
	x.dirtyPages.add(int(x.slotOff(si) / pageSize))
	x.hdr.endTS = max(storeTS, x.hdr.endTS)
	x.hdr.endPhys = phys
	if len(x.pending) >= flushAt {
		return x.flushEntries()
	}
	return nil
}

func (s *Store) activeLocked(ts int64) (*file, error) {
	if n := len(s.files); n > 0 && s.files[n-1].slots != nil { // not a sealed history file
		return s.files[n-1], nil
	}
	return s.newFileLocked(ts)
}

func (s *Store) newFileLocked(ts int64) (*file, error) {
	name := tsName(ts)
	if n := len(s.files); n > 0 && name <= s.files[n-1].name {
		name = bumpName(s.files[n-1].name)
	}
	if n := len(s.files); n > 0 {
		// Seal the current file: complete on disk, read through its mapping.
		prev := s.files[n-1]
		if err := prev.persist(); err != nil {
			return nil, err
		}
		prev.seal()
	}
	x, err := s.openFile(name, true)
	if err != nil {
		return nil, err
	}
	s.files = append(s.files, x)
	return x, nil
}

// bumpName returns the next millisecond name after name.
func bumpName(name string) string {
	t, err := time.ParseInLocation(nameLayout, insertDot(name), time.Local)
	if err != nil {
		return name + "1"
	}
	return tsName(t.Add(time.Millisecond).UnixMilli())
}

// Query returns up to max commitlog offsets indexed under key with a store
// time in [begin, end] (ms), newest first. Hash collisions are possible:
// callers check the message's topic and keys.
func (s *Store) Query(key string, max int, begin, end int64) []int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := KeyHash(key)
	var out []int64
	for i := len(s.files) - 1; i >= 0 && len(out) < max; i-- {
		x := s.files[i]
		if x.hdr.count == 0 || x.hdr.endTS < begin || x.hdr.beginTS > end {
			continue
		}
		n := x.slot(x.slotIndex(h))
		for steps := uint32(0); n > 0 && n <= x.hdr.count && len(out) < max && steps <= x.hdr.count; steps++ {
			eh, phys, diff, prev := x.entry(n)
			ts := x.hdr.beginTS + int64(diff)*1000
			if eh == h && ts >= begin-999 && ts <= end {
				out = append(out, phys)
			}
			if prev >= n {
				break // corrupt chain; never loop
			}
			n = prev
		}
	}
	return out
}

// State is what a checkpoint records to cut the index back after a crash.
type State struct {
	File  string `json:"file"`
	Count int    `json:"count"`
}

// State returns where the newest file stands.
func (s *Store) State() State {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if n := len(s.files); n > 0 {
		return State{File: s.files[n-1].name, Count: int(s.files[n-1].hdr.count)}
	}
	return State{}
}

// Sync makes the active file's entries and a header marked not clean
// durable (a checkpoint); its slot pages are rebuilt from the entries if
// it is opened before a clean persist.
func (s *Store) Sync() error {
	s.mu.Lock()
	n := len(s.files)
	if n == 0 {
		s.mu.Unlock()
		return nil
	}
	x := s.files[n-1]
	err := x.persistEntries()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	// The fsync runs unlocked: under the lock it stalled every Put, and so
	// the whole apply path, for its duration at each checkpoint. Writes
	// made meanwhile are synced too or not; either way the checkpoint's
	// state covers only what was written before.
	if err := x.f.Sync(); err != nil {
		return fmt.Errorf("indexfile: sync %s: %w", x.path, err)
	}
	return nil
}

// Rewind cuts the index back to a checkpointed state: files newer than
// st.File are removed and its entry count is reset, so entries applied after
// the checkpoint are indexed again, exactly once.
func (s *Store) Rewind(st State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.files) > 0 && s.files[len(s.files)-1].name > st.File {
		x := s.files[len(s.files)-1]
		s.files = s.files[:len(s.files)-1]
		x.close()
		if err := os.Remove(x.path); err != nil {
			return fmt.Errorf("indexfile: %w", err)
		}
	}
	n := len(s.files)
	if n == 0 {
		return nil
	}
	x := s.files[n-1]
	if x.slots == nil { // a sealed file becomes active again
		x.activate()
		x.hdr.clean = 0
		x.rebuildSlots()
	}
	if x.name == st.File && int(x.hdr.count) > st.Count {
		if err := x.flushEntries(); err != nil {
			return err
		}
		x.hdr.count = uint32(st.Count)
		x.written = min(x.written, x.hdr.count)
		if st.Count > 0 {
			_, x.hdr.endPhys, _, _ = x.entry(uint32(st.Count))
		}
		x.rebuildSlots()
	}
	return nil
}

// DeleteBelow removes whole files whose newest entry is below phys (their
// messages were removed by retention). The newest file always stays.
func (s *Store) DeleteBelow(phys int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for len(s.files) > 1 && s.files[0].hdr.endPhys < phys {
		x := s.files[0]
		s.files = s.files[1:]
		errs = append(errs, x.close(), os.Remove(x.path))
	}
	return errors.Join(errs...)
}

// Close writes the active file completely (marked clean) and closes all.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if n := len(s.files); n > 0 {
		errs = append(errs, s.files[n-1].persist())
	}
	for _, x := range s.files {
		errs = append(errs, x.close())
	}
	s.files = nil
	return errors.Join(errs...)
}

// fallocate allocates the first n bytes of f, keeping its size; a
// filesystem without fallocate leaves them sparse.
func fallocate(f *os.File, n int64) error {
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, 0, n)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return nil
	}
	return err
}

// pageSet is a set of page numbers of a file's slot table (the pages
// persist must rewrite): a bit per page, walked in file order.
type pageSet []uint64

// newPageSet returns an empty set with room for every page of the slots.
func (x *file) newPageSet() pageSet {
	pages := int((x.slotOff(x.cfg.SlotCount) + pageSize - 1) / pageSize)
	return make(pageSet, (pages+63)/64)
}

func (s pageSet) add(p int) { s[p>>6] |= 1 << (p & 63) }

// each calls fn for every page in the set, in ascending order.
func (s pageSet) each(fn func(p int) error) error {
	for w, bits := range s {
		for bits != 0 {
			b := mbits.TrailingZeros64(bits)
			if err := fn(w<<6 + b); err != nil {
				return err
			}
			bits &= bits - 1
		}
	}
	return nil
}
