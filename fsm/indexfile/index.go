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
// chain. Files are sparse and memory-mapped. A file not closed cleanly gets
// its slots rebuilt from its entries on open (a crash can leave a slot
// pointing past indexCount). Only the newest file is written.
package indexfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
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

type file struct {
	name string
	path string
	f    *os.File
	m    []byte
	cfg  Config
}

func (x *file) u32(off int) uint32      { return binary.BigEndian.Uint32(x.m[off:]) }
func (x *file) u64(off int) uint64      { return binary.BigEndian.Uint64(x.m[off:]) }
func (x *file) put32(off int, v uint32) { binary.BigEndian.PutUint32(x.m[off:], v) }
func (x *file) put64(off int, v uint64) { binary.BigEndian.PutUint64(x.m[off:], v) }

func (x *file) beginTS() int64   { return int64(x.u64(0)) }
func (x *file) endTS() int64     { return int64(x.u64(8)) }
func (x *file) beginPhys() int64 { return int64(x.u64(16)) }
func (x *file) endPhys() int64   { return int64(x.u64(24)) }
func (x *file) count() int       { return int(x.u32(36)) }

func (x *file) slotOff(h uint32) int { return headerSize + int(h%uint32(x.cfg.SlotCount))*slotSize }
func (x *file) entryOff(n int) int {
	return headerSize + x.cfg.SlotCount*slotSize + (n-1)*entrySize
}

func fileSize(c Config) int64 {
	return headerSize + int64(c.SlotCount)*slotSize + int64(c.MaxEntries)*entrySize
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
	var names []string
	for _, e := range ents {
		if _, err := time.ParseInLocation(nameLayout, insertDot(e.Name()), time.Local); err == nil {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		x, err := s.openFile(n)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.files = append(s.files, x)
	}
	if n := len(s.files); n > 0 {
		last := s.files[n-1]
		if last.u32(40) == 0 {
			last.rebuildSlots()
		}
		last.put32(40, 0) // dirty until Close
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

func (s *Store) openFile(name string) (*file, error) {
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
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("indexfile: %w", err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("indexfile: mmap %s: %w", path, err)
	}
	x := &file{name: name, path: path, f: f, m: m, cfg: s.cfg}
	if int(x.u32(32)) != s.cfg.SlotCount && x.count() > 0 {
		x.close()
		return nil, fmt.Errorf("indexfile: %s has %d slots, config says %d", path, x.u32(32), s.cfg.SlotCount)
	}
	x.put32(32, uint32(s.cfg.SlotCount))
	return x, nil
}

func (x *file) rebuildSlots() {
	clear(x.m[headerSize : headerSize+x.cfg.SlotCount*slotSize])
	for n := 1; n <= x.count(); n++ {
		h := x.u32(x.entryOff(n))
		x.put32(x.slotOff(h), uint32(n))
	}
}

func (x *file) close() error {
	err := unix.Munmap(x.m)
	if cerr := x.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// KeyHash hashes an index key.
func KeyHash(key string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	return h.Sum32()
}

// Key builds the index key of a message key in a topic.
func Key(topic, key string) string { return topic + "#" + key }

// Put indexes key for the message at phys stored at storeTS (ms). Calls
// must come in increasing phys order; a phys at or below the newest file's
// endPhyOffset is ignored (replay after restart).
func (s *Store) Put(key string, phys, storeTS int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, err := s.activeLocked(storeTS)
	if err != nil {
		return err
	}
	n := x.count()
	if n > 0 && phys < x.endPhys() {
		return nil
	}
	if n >= s.cfg.MaxEntries {
		if x, err = s.newFileLocked(storeTS); err != nil {
			return err
		}
		n = 0
	}
	if n == 0 {
		x.put64(0, uint64(storeTS))
		x.put64(16, uint64(phys))
	}
	h := KeyHash(key)
	so := x.slotOff(h)
	prev := x.u32(so)
	diff := (storeTS - x.beginTS()) / 1000
	diff = max(0, min(diff, 1<<31-1))
	n++
	eo := x.entryOff(n)
	x.put32(eo, h)
	x.put64(eo+4, uint64(phys))
	x.put32(eo+12, uint32(diff))
	x.put32(eo+16, prev)
	x.put32(so, uint32(n))
	x.put64(8, uint64(max(storeTS, x.endTS())))
	x.put64(24, uint64(phys))
	x.put32(36, uint32(n))
	return nil
}

func (s *Store) activeLocked(ts int64) (*file, error) {
	if n := len(s.files); n > 0 {
		return s.files[n-1], nil
	}
	return s.newFileLocked(ts)
}

func (s *Store) newFileLocked(ts int64) (*file, error) {
	t := time.UnixMilli(ts)
	name := t.Format("20060102150405") + fmt.Sprintf("%03d", t.Nanosecond()/1e6)
	if n := len(s.files); n > 0 && name <= s.files[n-1].name {
		name = bumpName(s.files[n-1].name)
	}
	x, err := s.openFile(name)
	if err != nil {
		return nil, err
	}
	if n := len(s.files); n > 0 {
		prev := s.files[n-1]
		prev.put32(40, 1) // complete: never written again
		unix.Msync(prev.m, unix.MS_SYNC)
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
	t = t.Add(time.Millisecond)
	return t.Format("20060102150405") + fmt.Sprintf("%03d", t.Nanosecond()/1e6)
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
		if x.count() == 0 || x.endTS() < begin || x.beginTS() > end {
			continue
		}
		n := int(x.u32(x.slotOff(h)))
		for steps := 0; n > 0 && n <= x.count() && len(out) < max && steps <= x.count(); steps++ {
			eo := x.entryOff(n)
			ts := x.beginTS() + int64(x.u32(eo+12))*1000
			if x.u32(eo) == h && ts >= begin-999 && ts <= end {
				out = append(out, int64(x.u64(eo+4)))
			}
			prev := int(x.u32(eo + 16))
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
		return State{File: s.files[n-1].name, Count: s.files[n-1].count()}
	}
	return State{}
}

// Sync flushes every file.
func (s *Store) Sync() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, x := range s.files {
		if err := unix.Msync(x.m, unix.MS_SYNC); err != nil {
			return fmt.Errorf("indexfile: sync %s: %w", x.path, err)
		}
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
	if n := len(s.files); n > 0 && s.files[n-1].name == st.File && s.files[n-1].count() > st.Count {
		x := s.files[n-1]
		clear(x.m[x.entryOff(st.Count+1):x.entryOff(x.count()+1)])
		x.put32(36, uint32(st.Count))
		if st.Count > 0 {
			x.put64(24, x.u64(x.entryOff(st.Count)+4))
		}
		x.rebuildSlots()
		x.put32(40, 0)
	}
	return nil
}

// DeleteBelow removes whole files whose newest entry is below phys (their
// messages were removed by retention). The newest file always stays.
func (s *Store) DeleteBelow(phys int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for len(s.files) > 1 && s.files[0].endPhys() < phys {
		x := s.files[0]
		s.files = s.files[1:]
		errs = append(errs, x.close(), os.Remove(x.path))
	}
	return errors.Join(errs...)
}

// Close marks the newest file clean, flushes and unmaps everything.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if n := len(s.files); n > 0 {
		s.files[n-1].put32(40, 1)
	}
	for _, x := range s.files {
		errs = append(errs, unix.Msync(x.m, unix.MS_SYNC), x.close())
	}
	s.files = nil
	return errors.Join(errs...)
}
