package raftlog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/raftmq/raftmq/internal/vfs"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"

	"github.com/raftmq/raftmq/internal/durable"
)

// segment is one CommitLog file, named by the 20-digit physical offset of
// its first byte.
type segment struct {
	base int64
	path string
	f    vfs.File
}

func segmentName(base int64) string { return fmt.Sprintf("%020d", base) }

// parseOffsetName parses a 20-digit file name.
func parseOffsetName(name string) (int64, bool) {
	if len(name) != 20 {
		return 0, false
	}
	for _, c := range name {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(name, 10, 64)
	return v, err == nil
}

// listOffsetFiles returns the 20-digit-named files of dir sorted by value.
func listOffsetFiles(fsys vfs.FS, dir string) ([]int64, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, e := range ents {
		if v, ok := parseOffsetName(e.Name()); ok && e.Type().IsRegular() {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// Index units are 16 bytes: physical offset (8), record size (4), reserved (4).
const unitSize = 16

// indexFile maps a fixed range of raft indexes [first, first+entries) to
// record positions. It is memory-mapped; a unit is valid only for indexes
// in [Log.first, Log.last].
type indexFile struct {
	first uint64
	path  string
	f     vfs.File
	m     []byte
}

func openIndexFile(fsys vfs.FS, dir string, first uint64, entries int64) (*indexFile, error) {
	path := filepath.Join(dir, segmentName(int64(first)))
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("raftlog: open index file: %w", err)
	}
	size := entries * unitSize
	st, err := f.Stat()
	if err == nil && st.Size() != size {
		// Allocated whole, so that writing units never runs out of space.
		if err = vfs.Allocate(f, size); errors.Is(err, syscall.ENOSPC) {
			f.Close()
			fsys.Remove(path)
			return nil, fmt.Errorf("%w: index file %s: %w", ErrDiskFull, path, err)
		}
		if err == nil && st.Size() > size {
			err = f.Truncate(size)
		}
	}
	var m []byte
	if err == nil {
		m, err = mmapFile(f, size)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("raftlog: index file %s: %w", path, err)
	}
	return &indexFile{first: first, path: path, f: f, m: m}, nil
}

func (x *indexFile) unit(i uint64) (pos int64, size uint32) {
	b := x.m[(i-x.first)*unitSize:]
	return int64(binary.BigEndian.Uint64(b)), binary.BigEndian.Uint32(b[8:])
}

// appendUnit encodes a unit for writeUnits.
func appendUnit(b []byte, pos int64, size uint32) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(pos))
	b = binary.BigEndian.AppendUint32(b, size)
	return binary.BigEndian.AppendUint32(b, 0)
}

// writeUnits stores encoded units from index i on. Writes go through
// pwrite, never through the mapping: a store into a shared mapping can
// fault and wait on the filesystem journal while holding one of the Go
// runtime's Ps (a syscall gives it up), and with GOMAXPROCS=2 two such
// waits stall the whole process, raft heartbeats included. Reads through
// the mapping see the written bytes (same page cache).
func (x *indexFile) writeUnits(i uint64, b []byte) error {
	if _, err := x.f.WriteAt(b, int64((i-x.first)*unitSize)); err != nil {
		return fmt.Errorf("raftlog: write index %s: %w", x.path, err)
	}
	return nil
}

func (x *indexFile) sync() error { return vfs.Datasync(x.f) }

func (x *indexFile) close() error {
	err := munmap(x.m)
	x.m = nil
	if cerr := x.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// meta is the small, atomically replaced bookkeeping file Dir/raftlog/meta.
type meta struct {
	Version     int   `json:"version"`
	SegmentSize int64 `json:"segmentSize"`
	// FirstIndex is the logical first index after a head DeleteRange that
	// did not remove whole segments (0: the first record on disk).
	FirstIndex uint64 `json:"firstIndex"`
	// StartIndex/StartOffset locate the first record written into an empty
	// log: recovery of the first segment starts scanning there.
	StartIndex  uint64 `json:"startIndex"`
	StartOffset int64  `json:"startOffset"`
	// HintIndex/HintOffset, when HintIndex > 0, place the next append into an
	// empty log that starts at HintIndex at HintOffset (set from an FSM
	// snapshot, so replicas agree on physical offsets).
	HintIndex  uint64 `json:"hintIndex"`
	HintOffset int64  `json:"hintOffset"`
}

const metaVersion = 1

type metaFile struct {
	Meta meta   `json:"meta"`
	CRC  uint32 `json:"crc"`
}

func metaCRC(m meta) uint32 {
	b, _ := json.Marshal(m)
	return crc32.Checksum(b, castagnoli)
}

func loadMeta(fsys vfs.FS, path string) (meta, bool, error) {
	b, err := fsys.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return meta{}, false, nil
	}
	if err != nil {
		return meta{}, false, fmt.Errorf("raftlog: read meta: %w", err)
	}
	var mf metaFile
	if err := json.Unmarshal(b, &mf); err != nil {
		return meta{}, false, &CorruptError{Path: path, Reason: "meta file: " + err.Error()}
	}
	if metaCRC(mf.Meta) != mf.CRC {
		return meta{}, false, &CorruptError{Path: path, Reason: "meta file checksum mismatch"}
	}
	if mf.Meta.Version != metaVersion {
		return meta{}, false, fmt.Errorf("raftlog: meta version %d not supported", mf.Meta.Version)
	}
	return mf.Meta, true, nil
}

// storeMeta replaces the meta file atomically and durably.
func storeMeta(fsys vfs.FS, path string, m meta) error {
	b, err := json.Marshal(metaFile{Meta: m, CRC: metaCRC(m)})
	if err != nil {
		return err
	}
	if err := durable.WriteFileFS(fsys, path, b, 0o644); err != nil {
		return fmt.Errorf("raftlog: write meta: %w", err)
	}
	return nil
}
