package raftlog

import (
	"errors"
	"fmt"
	"github.com/raftmq/raftmq/internal/vfs"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// Under PreallocZero a background goroutine keeps one zero-filled,
// fdatasynced file of SegmentSize bytes ready as Dir/commitlog/.prealloc.
// A new segment is that file renamed into place, so the append path never
// waits for zeroing. The file is written as .prealloc.tmp and renamed when
// complete, so a crash never leaves a half-zeroed file that looks ready.
const (
	preallocName    = ".prealloc"
	preallocTmpName = ".prealloc.tmp"
	zeroChunk       = 4 << 20
	zeroSyncEvery   = 64 << 20 // bound writeback bursts while zeroing
)

type allocator struct {
	fs   vfs.FS
	dir  string
	size int64
	kick chan struct{}

	mu    sync.Mutex
	ready bool
}

func newAllocator(fsys vfs.FS, dir string, size int64) *allocator {
	a := &allocator{fs: fsys, dir: dir, size: size, kick: make(chan struct{}, 1)}
	a.fs.Remove(filepath.Join(dir, preallocTmpName))
	if st, err := a.fs.Stat(filepath.Join(dir, preallocName)); err == nil && st.Size() == size {
		a.ready = true
	} else if err == nil {
		a.fs.Remove(filepath.Join(dir, preallocName))
	}
	return a
}

// isReady reports whether a prepared segment file is waiting.
func (a *allocator) isReady() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ready
}

func (a *allocator) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// take renames the prepared file to path and reports whether it could.
func (a *allocator) take(path string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.ready {
		return false
	}
	if err := a.fs.Rename(filepath.Join(a.dir, preallocName), path); err != nil {
		a.ready = false
		return false
	}
	a.ready = false
	return true
}

// run prepares a segment whenever woken and none is ready. room says
// whether the disk can spare one now: preparing must not take the last
// space (the log would then report itself full because of its own file).
func (a *allocator) run(stop <-chan struct{}, room func() error, onErr func(error)) {
	for {
		select {
		case <-stop:
			return
		case <-a.kick:
		}
		a.mu.Lock()
		ready := a.ready
		a.mu.Unlock()
		if ready {
			continue
		}
		err := room()
		if err == nil {
			err = a.prepare(stop)
		}
		if errors.Is(err, errStopped) {
			return
		}
		if err != nil {
			onErr(err)
			continue
		}
		a.mu.Lock()
		a.ready = true
		a.mu.Unlock()
	}
}

var errStopped = errors.New("stopped")

func (a *allocator) prepare(stop <-chan struct{}) (err error) {
	tmp := filepath.Join(a.dir, preallocTmpName)
	f, err := a.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("raftlog: prepare segment: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			a.fs.Remove(tmp)
		}
	}()
	// Reserve first so a full disk fails here, not halfway through.
	if err := vfs.Allocate(f, a.size); err != nil {
		return fmt.Errorf("raftlog: prepare segment: %w", err)
	}
	zeros := make([]byte, min(a.size, zeroChunk))
	var sinceSync int64
	for off := int64(0); off < a.size; off += int64(len(zeros)) {
		select {
		case <-stop:
			return errStopped
		default:
		}
		n := min(int64(len(zeros)), a.size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return fmt.Errorf("raftlog: prepare segment: %w", err)
		}
		if sinceSync += n; sinceSync >= zeroSyncEvery {
			if err := vfs.Datasync(f); err != nil {
				return fmt.Errorf("raftlog: prepare segment: %w", err)
			}
			sinceSync = 0
		}
	}
	if err := vfs.Datasync(f); err != nil {
		return fmt.Errorf("raftlog: prepare segment: %w", err)
	}
	if err := a.fs.Rename(tmp, filepath.Join(a.dir, preallocName)); err != nil {
		return fmt.Errorf("raftlog: prepare segment: %w", err)
	}
	return nil
}

// newSegmentFile creates the file for a new segment at path.
// Errors here are not sticky (l.fail): nothing has been written to the new
// segment yet, so the append can simply be retried, e.g. after a short
// shortage of file descriptors.
func (l *Log) newSegmentFile(path string) (vfs.File, error) {
	if _, err := l.fs.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		// A leftover (e.g. from a log emptied and restarted at the same
		// offset) must not keep old bytes.
		if err := l.fs.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("raftlog: create segment: %w", err)
		}
	}
	if l.alloc != nil && l.alloc.take(path) {
		l.alloc.wake()
		f, err := l.fs.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("raftlog: open segment: %w", err)
		}
		return f, nil
	}
	f, err := l.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("raftlog: create segment: %w", err)
	}
	if l.cfg.Preallocate != PreallocNone {
		if err := vfs.Allocate(f, l.cfg.SegmentSize); err != nil {
			f.Close()
			l.fs.Remove(path)
			if errors.Is(err, syscall.ENOSPC) {
				return nil, fmt.Errorf("%w: preallocate %s: %w", ErrDiskFull, path, err)
			}
			return nil, fmt.Errorf("raftlog: preallocate %s: %w", path, err)
		}
	}
	if l.alloc != nil {
		l.alloc.wake()
	}
	return f, nil
}
