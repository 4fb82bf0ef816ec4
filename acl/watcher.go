package acl

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Watcher keeps a policy compiled from a plain_acl.yml, read again when
// the file changes (Reload, every few seconds), with replicated changes
// on top (SetChanges). A file that stops compiling leaves the previous
// policy in force: a typo must neither lock everyone out nor let anyone
// in.
type Watcher struct {
	path   string
	policy atomic.Pointer[Policy]

	mu      sync.Mutex
	file    *File
	changes map[string]Change
	modTime time.Time
	size    int64
}

// NewWatcher loads path; an unreadable or invalid file is an error.
func NewWatcher(path string) (*Watcher, error) {
	w := &Watcher{path: path}
	if _, err := w.Reload(); err != nil {
		return nil, err
	}
	return w, nil
}

// Path is the watched file.
func (w *Watcher) Path() string { return w.path }

// Policy is the policy in force.
func (w *Watcher) Policy() *Policy { return w.policy.Load() }

// Reload reads the file again if it changed and reports whether the
// policy changed.
func (w *Watcher) Reload() (bool, error) {
	st, err := os.Stat(w.path)
	if err != nil {
		return false, fmt.Errorf("acl: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.file != nil && st.ModTime().Equal(w.modTime) && st.Size() == w.size {
		return false, nil
	}
	f, err := LoadFile(w.path)
	if err != nil {
		return false, err
	}
	p, err := Compile(f, w.changes)
	if err != nil {
		return false, fmt.Errorf("%s: %w", w.path, err)
	}
	w.file, w.modTime, w.size = f, st.ModTime(), st.Size()
	w.policy.Store(p)
	return true, nil
}

// SetChanges replaces the replicated changes and recompiles.
func (w *Watcher) SetChanges(changes map[string]Change) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	p, err := Compile(w.file, changes)
	if err != nil {
		return err
	}
	w.changes = changes
	w.policy.Store(p)
	return nil
}
