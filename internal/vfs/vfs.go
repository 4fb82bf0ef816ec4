// Package vfs is the filesystem seam of raftmq's storage (raftlog, the
// FSM's checkpoint): an FS and File interface with the operating system's
// implementation (Default) and, in FaultFS, one that injects errors, short
// writes and crashes for tests (in the spirit of raft-wal's types/vfs.go
// and pebble's vfs/errorfs; neither is usable without its whole module).
//
// *os.File is a File. Durability goes through Datasync, Allocate and
// PunchHole, which use the file's own method when it has one (FaultFS's
// files do) and the system calls otherwise.
package vfs

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// File is an open file.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Writer
	io.Closer
	Name() string
	Stat() (fs.FileInfo, error)
	Sync() error
	Truncate(size int64) error
	Chmod(mode fs.FileMode) error
	// Fd is the descriptor, for memory maps (reads only).
	Fd() uintptr
}

// FS is a filesystem.
type FS interface {
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	CreateTemp(dir, pattern string) (File, error)
	Remove(name string) error
	RemoveAll(path string) error
	Rename(oldpath, newpath string) error
	MkdirAll(path string, perm fs.FileMode) error
	ReadDir(name string) ([]fs.DirEntry, error)
	ReadFile(name string) ([]byte, error)
	Stat(name string) (fs.FileInfo, error)
	Chtimes(name string, atime, mtime time.Time) error
	// SyncDir makes a directory's entries (created, renamed, removed
	// files) durable.
	SyncDir(dir string) error
}

// Default is the operating system's filesystem.
var Default FS = osFS{}

// Or returns fsys, or Default if it is nil.
func Or(fsys FS) FS {
	if fsys == nil {
		return Default
	}
	return fsys
}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (osFS) CreateTemp(dir, pattern string) (File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (osFS) Remove(name string) error                          { return os.Remove(name) }
func (osFS) RemoveAll(path string) error                       { return os.RemoveAll(path) }
func (osFS) Rename(o, n string) error                          { return os.Rename(o, n) }
func (osFS) MkdirAll(p string, perm fs.FileMode) error         { return os.MkdirAll(p, perm) }
func (osFS) ReadDir(name string) ([]fs.DirEntry, error)        { return os.ReadDir(name) }
func (osFS) ReadFile(name string) ([]byte, error)              { return os.ReadFile(name) }
func (osFS) Stat(name string) (fs.FileInfo, error)             { return os.Stat(name) }
func (osFS) Chtimes(name string, atime, mtime time.Time) error { return os.Chtimes(name, atime, mtime) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Datasync flushes f's data (and only the metadata needed to read it back).
func Datasync(f File) error {
	if d, ok := f.(interface{ Datasync() error }); ok {
		return d.Datasync()
	}
	return datasync(f)
}

// WritevAt writes bufs one after another at off, without first copying
// them into one buffer: pwritev where the system has it. It may modify
// bufs (not the bytes they hold).
func WritevAt(f File, bufs [][]byte, off int64) error {
	if w, ok := f.(interface {
		WritevAt(bufs [][]byte, off int64) error
	}); ok {
		return w.WritevAt(bufs, off)
	}
	return writevAt(f, bufs, off)
}

// iovMax is IOV_MAX on Linux: the most buffers one pwritev takes.
const iovMax = 1024

// writeJoined is WritevAt through WriteAt, for files without pwritev.
func writeJoined(f File, bufs [][]byte, off int64) error {
	var b []byte
	for _, p := range bufs {
		b = append(b, p...)
	}
	_, err := f.WriteAt(b, off)
	return err
}

// Allocate reserves size bytes for f. Filesystems without fallocate fall
// back to a sparse file of that size.
func Allocate(f File, size int64) error {
	if a, ok := f.(interface{ Allocate(size int64) error }); ok {
		return a.Allocate(size)
	}
	return allocate(f, size)
}

// PunchHole makes [off, off+n) of f read back as zeros, freeing the space
// where the filesystem supports it.
func PunchHole(f File, off, n int64) error {
	if n <= 0 {
		return nil
	}
	if p, ok := f.(interface{ PunchHole(off, n int64) error }); ok {
		return p.PunchHole(off, n)
	}
	return punchHole(f, off, n)
}

// WriteZeros writes n zero bytes at off.
func WriteZeros(f File, off, n int64) error {
	zeros := make([]byte, min(n, 1<<20))
	for n > 0 {
		c := min(n, int64(len(zeros)))
		if _, err := f.WriteAt(zeros[:c], off); err != nil {
			return err
		}
		off += c
		n -= c
	}
	return nil
}
