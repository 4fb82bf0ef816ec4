// Package durable writes small files atomically and durably: a reader
// (after a crash too) sees the old content or the new, never a mix.
package durable

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/raftmq/raftmq/internal/vfs"
)

// WriteFile replaces path with data: written to a temporary file of its
// own in the same directory (concurrent writers never share one),
// fsynced, renamed over path, and the directory fsynced.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return WriteFileFS(vfs.Default, path, data, perm)
}

// WriteFileFS is WriteFile on fsys.
func WriteFileFS(fsys vfs.FS, path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := fsys.CreateTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("durable: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			fsys.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("durable: write %s: %w", tmp, err)
	}
	if err = fsys.Rename(tmp, path); err != nil {
		return fmt.Errorf("durable: %w", err)
	}
	return SyncDirFS(fsys, dir)
}

// SyncDir makes directory entries (created, renamed, removed files)
// durable.
func SyncDir(dir string) error { return SyncDirFS(vfs.Default, dir) }

// SyncDirFS is SyncDir on fsys.
func SyncDirFS(fsys vfs.FS, dir string) error {
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("durable: %w", err)
	}
	return nil
}
