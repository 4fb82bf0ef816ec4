package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"
)

// OpKind names a mutating file operation (reads are never failed).
type OpKind int

const (
	OpCreate OpKind = iota // OpenFile with O_CREATE, CreateTemp
	OpWrite
	OpSync
	OpDatasync
	OpTruncate
	OpAllocate
	OpPunchHole
	OpChmod
	OpRemove
	OpRename
	OpMkdir
	OpSyncDir
	OpChtimes
)

var opNames = [...]string{"create", "write", "sync", "datasync", "truncate", "allocate", "punch-hole", "chmod", "remove",
	"rename", "mkdir", "sync-dir", "chtimes"}

func (k OpKind) String() string { return opNames[k] }

// Op is one mutating operation.
type Op struct {
	Seq  int // 1-based, in the order the FS saw them
	Kind OpKind
	Path string
	Off  int64 // writes
	N    int   // bytes written
}

func (o Op) String() string {
	if o.Kind == OpWrite {
		return fmt.Sprintf("#%d %s %s [%d,+%d)", o.Seq, o.Kind, o.Path, o.Off, o.N)
	}
	return fmt.Sprintf("#%d %s %s", o.Seq, o.Kind, o.Path)
}

// ErrCrashed is what every operation returns once a FaultFS crashed.
var ErrCrashed = errors.New("vfs: crashed (injected)")

// ShortWrite, returned by an injector for a write, makes the write store
// the first half of its bytes and then fail with Err.
type ShortWrite struct{ Err error }

func (s *ShortWrite) Error() string { return "short write: " + s.Err.Error() }
func (s *ShortWrite) Unwrap() error { return s.Err }

// FaultFS wraps an FS: it numbers mutating operations, fails those its
// injector picks, and can crash: from a chosen operation on, nothing
// reaches the wrapped FS and every mutation fails with ErrCrashed (what
// was written before stays, as after a process crash).
type FaultFS struct {
	fs FS

	mu      sync.Mutex
	n       int
	crashAt int
	crashed bool
	inject  func(Op) error
	record  bool
	log     []Op
}

// NewFaultFS wraps fsys (nil: Default).
func NewFaultFS(fsys FS) *FaultFS { return &FaultFS{fs: Or(fsys)} }

// CrashAt makes operation n and every later one fail with ErrCrashed
// (0: never).
func (f *FaultFS) CrashAt(n int) {
	f.mu.Lock()
	f.crashAt = n
	f.mu.Unlock()
}

// Inject sets the injector: a non-nil error fails the operation before
// it happens (a *ShortWrite half-does a write).
func (f *FaultFS) Inject(fn func(Op) error) {
	f.mu.Lock()
	f.inject = fn
	f.mu.Unlock()
}

// Record keeps every operation (Log returns them).
func (f *FaultFS) Record(on bool) {
	f.mu.Lock()
	f.record = on
	f.mu.Unlock()
}

// Log returns the recorded operations.
func (f *FaultFS) Log() []Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Op(nil), f.log...)
}

// Ops is the number of mutating operations so far.
func (f *FaultFS) Ops() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// Crashed reports whether the crash point was reached.
func (f *FaultFS) Crashed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crashed
}

func (f *FaultFS) check(op Op) error {
	f.mu.Lock()
	f.n++
	op.Seq = f.n
	if f.record {
		f.log = append(f.log, op)
	}
	if f.crashed || (f.crashAt > 0 && f.n >= f.crashAt) {
		f.crashed = true
		f.mu.Unlock()
		return fmt.Errorf("%s: %w", op, ErrCrashed)
	}
	inject := f.inject
	f.mu.Unlock()
	if inject != nil {
		return inject(op)
	}
	return nil
}

func (f *FaultFS) wrap(file File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

func (f *FaultFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if flag&os.O_CREATE != 0 {
		if err := f.check(Op{Kind: OpCreate, Path: name}); err != nil {
			return nil, err
		}
	}
	return f.wrap(f.fs.OpenFile(name, flag, perm))
}

func (f *FaultFS) CreateTemp(dir, pattern string) (File, error) {
	if err := f.check(Op{Kind: OpCreate, Path: dir + "/" + pattern}); err != nil {
		return nil, err
	}
	return f.wrap(f.fs.CreateTemp(dir, pattern))
}

func (f *FaultFS) Remove(name string) error {
	if err := f.check(Op{Kind: OpRemove, Path: name}); err != nil {
		return err
	}
	return f.fs.Remove(name)
}

func (f *FaultFS) RemoveAll(path string) error {
	if err := f.check(Op{Kind: OpRemove, Path: path}); err != nil {
		return err
	}
	return f.fs.RemoveAll(path)
}

func (f *FaultFS) Rename(oldpath, newpath string) error {
	if err := f.check(Op{Kind: OpRename, Path: oldpath + " -> " + newpath}); err != nil {
		return err
	}
	return f.fs.Rename(oldpath, newpath)
}

func (f *FaultFS) MkdirAll(path string, perm fs.FileMode) error {
	if err := f.check(Op{Kind: OpMkdir, Path: path}); err != nil {
		return err
	}
	return f.fs.MkdirAll(path, perm)
}

func (f *FaultFS) Chtimes(name string, atime, mtime time.Time) error {
	if err := f.check(Op{Kind: OpChtimes, Path: name}); err != nil {
		return err
	}
	return f.fs.Chtimes(name, atime, mtime)
}

func (f *FaultFS) SyncDir(dir string) error {
	if err := f.check(Op{Kind: OpSyncDir, Path: dir}); err != nil {
		return err
	}
	return f.fs.SyncDir(dir)
}

func (f *FaultFS) ReadDir(name string) ([]fs.DirEntry, error) { return f.fs.ReadDir(name) }
func (f *FaultFS) ReadFile(name string) ([]byte, error)       { return f.fs.ReadFile(name) }
func (f *FaultFS) Stat(name string) (fs.FileInfo, error)      { return f.fs.Stat(name) }

type faultFile struct {
	File
	fs *FaultFS
}

func (f *faultFile) write(b []byte, off int64, do func([]byte) (int, error)) (int, error) {
	err := f.fs.check(Op{Kind: OpWrite, Path: f.Name(), Off: off, N: len(b)})
	var sw *ShortWrite
	if errors.As(err, &sw) {
		n, werr := do(b[:len(b)/2])
		if werr != nil {
			return n, werr
		}
		return n, sw
	}
	if err != nil {
		return 0, err
	}
	return do(b)
}

func (f *faultFile) WriteAt(b []byte, off int64) (int, error) {
	return f.write(b, off, func(p []byte) (int, error) { return f.File.WriteAt(p, off) })
}

// WritevAt goes through WriteAt, so that its faults apply to it.
func (f *faultFile) WritevAt(bufs [][]byte, off int64) error { return writeJoined(f, bufs, off) }

func (f *faultFile) Write(b []byte) (int, error) {
	return f.write(b, -1, f.File.Write)
}

func (f *faultFile) Sync() error {
	if err := f.fs.check(Op{Kind: OpSync, Path: f.Name()}); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) Datasync() error {
	if err := f.fs.check(Op{Kind: OpDatasync, Path: f.Name()}); err != nil {
		return err
	}
	return datasync(f.File)
}

func (f *faultFile) Allocate(size int64) error {
	if err := f.fs.check(Op{Kind: OpAllocate, Path: f.Name(), N: int(size)}); err != nil {
		return err
	}
	return allocate(f.File, size)
}

func (f *faultFile) PunchHole(off, n int64) error {
	if err := f.fs.check(Op{Kind: OpPunchHole, Path: f.Name(), Off: off, N: int(n)}); err != nil {
		return err
	}
	return punchHole(f.File, off, n)
}

func (f *faultFile) Truncate(size int64) error {
	if err := f.fs.check(Op{Kind: OpTruncate, Path: f.Name(), N: int(size)}); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *faultFile) Chmod(mode fs.FileMode) error {
	if err := f.fs.check(Op{Kind: OpChmod, Path: f.Name()}); err != nil {
		return err
	}
	return f.File.Chmod(mode)
}
