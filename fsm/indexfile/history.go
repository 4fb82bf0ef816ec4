package indexfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/raftmq/raftmq/internal/durable"
)

// historyPrefix names files being built by a History; Open removes them
// (a rebuild cut short starts over).
const historyPrefix = "history-"

// History builds index files for messages older than every file in the
// store: the fetched history of a replica that joined from a snapshot. It
// is filled outside the store's lock, in increasing phys order, and the
// finished files become the store's oldest with Install.
type History struct {
	s     *Store
	files []*file // built, oldest first; the last one is being filled
}

// NewHistory starts a history for the messages below phys. Index files
// that only hold messages below phys (an earlier rebuild's) are removed:
// the new history replaces them.
func (s *Store) NewHistory(below int64) (*History, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for len(s.files) > 0 && s.files[0].hdr.count > 0 && s.files[0].hdr.endPhys < below {
		x := s.files[0]
		s.files = s.files[1:]
		errs = append(errs, x.close(), os.Remove(x.path))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("indexfile: %w", err)
	}
	return &History{s: s}, nil
}

// Put indexes key for the message at phys stored at storeTS (ms).
func (h *History) Put(key string, phys, storeTS int64) error {
	return h.PutHash(KeyHash(key), phys, storeTS)
}

// PutHash is Put of a key hashed already (KeyHashOf).
func (h *History) PutHash(hash uint32, phys, storeTS int64) error {
	n := len(h.files)
	if n == 0 || int(h.files[n-1].hdr.count) >= h.s.cfg.MaxEntries {
		if n > 0 {
			if err := h.seal(h.files[n-1]); err != nil {
				return err
			}
		}
		x, err := h.s.openFile(fmt.Sprintf("%s%d", historyPrefix, n), true)
		if err != nil {
			return err
		}
		h.files = append(h.files, x)
	}
	return h.files[len(h.files)-1].add(hash, phys, storeTS)
}

func (h *History) seal(x *file) error {
	if err := x.persist(); err != nil {
		return err
	}
	x.slots, x.dirtyPages, x.pending = nil, nil, nil
	return nil
}

// Install makes the built files the store's oldest, named (by their first
// store time) before every file already there.
func (h *History) Install() error {
	if len(h.files) == 0 {
		return nil
	}
	if err := h.seal(h.files[len(h.files)-1]); err != nil {
		return err
	}
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, len(h.files))
	next := ""
	if len(s.files) > 0 {
		next = s.files[0].name
	}
	for i := len(h.files) - 1; i >= 0; i-- {
		n := tsName(h.files[i].hdr.beginTS)
		if next != "" && n >= next {
			n = nameBefore(next)
		}
		names[i], next = n, n
	}
	for i, x := range h.files {
		path := filepath.Join(s.dir, names[i])
		if err := os.Rename(x.path, path); err != nil {
			return fmt.Errorf("indexfile: %w", err)
		}
		x.name, x.path = names[i], path
	}
	if err := durable.SyncDir(s.dir); err != nil {
		return fmt.Errorf("indexfile: %w", err)
	}
	s.files = append(append([]*file(nil), h.files...), s.files...)
	h.files = nil
	return nil
}

// Abort removes the files built so far.
func (h *History) Abort() {
	for _, x := range h.files {
		x.close()
		os.Remove(x.path)
	}
	h.files = nil
}

func tsName(ts int64) string {
	t := time.UnixMilli(ts)
	return t.Format("20060102150405") + fmt.Sprintf("%03d", t.Nanosecond()/1e6)
}

// nameBefore returns the millisecond name before name.
func nameBefore(name string) string {
	t, err := time.ParseInLocation(nameLayout, insertDot(name), time.Local)
	if err != nil {
		return name
	}
	return tsName(t.Add(-time.Millisecond).UnixMilli())
}

// removeHistoryLeftovers deletes files a History did not finish.
func removeHistoryLeftovers(dir string, names []os.DirEntry) error {
	var errs []error
	for _, e := range names {
		if strings.HasPrefix(e.Name(), historyPrefix) {
			errs = append(errs, os.Remove(filepath.Join(dir, e.Name())))
		}
	}
	return errors.Join(errs...)
}
