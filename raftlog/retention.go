package raftlog

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// RetentionConfig mirrors RocketMQ's CommitLog cleaning rules. Whole
// segments are deleted oldest first, never the active (last) one, and never
// one holding an entry above the bound set with SetRetentionBound (the
// latest snapshot index: raft needs every entry after its snapshot).
type RetentionConfig struct {
	// FileReservedTime is how long a segment is kept after its last write
	// (fileReservedTime, hours in broker.conf; 72 h default).
	FileReservedTime time.Duration
	// DeleteWhen lists the hours of day (0-23) at which expired segments
	// are deleted (deleteWhen, "04" default; "04;16" for two).
	DeleteWhen []int
	// DiskMaxUsedSpaceRatio: above this used fraction of the disk, expired
	// segments are deleted at any hour (diskMaxUsedSpaceRatio, 0.75).
	DiskMaxUsedSpaceRatio float64
	// DiskForceCleanRatio: above it, the oldest segments are deleted even if
	// not expired, until usage falls below it (0.85).
	DiskForceCleanRatio float64
	// DiskRejectRatio: above it, appends of commands fail with ErrDiskFull
	// (0.90). Raft's own small entries still go through.
	DiskRejectRatio float64
	// CheckInterval is how often the rules run (0 disables the loop; call
	// RunRetention directly).
	CheckInterval time.Duration
}

// DefaultRetentionConfig returns RocketMQ's defaults.
func DefaultRetentionConfig() RetentionConfig {
	return RetentionConfig{
		FileReservedTime:      72 * time.Hour,
		DeleteWhen:            []int{4},
		DiskMaxUsedSpaceRatio: 0.75,
		DiskForceCleanRatio:   0.85,
		DiskRejectRatio:       0.90,
		CheckInterval:         10 * time.Second,
	}
}

// Validate reports an inconsistent configuration.
func (c RetentionConfig) Validate() error {
	if c.FileReservedTime <= 0 {
		return errors.New("retention: FileReservedTime must be positive")
	}
	for _, h := range c.DeleteWhen {
		if h < 0 || h > 23 {
			return fmt.Errorf("retention: DeleteWhen hour %d out of range 0-23", h)
		}
	}
	r := []float64{c.DiskMaxUsedSpaceRatio, c.DiskForceCleanRatio, c.DiskRejectRatio}
	for _, v := range r {
		if v <= 0 || v > 1 {
			return fmt.Errorf("retention: disk ratio %v out of range (0, 1]", v)
		}
	}
	if !(r[0] <= r[1] && r[1] <= r[2]) {
		return fmt.Errorf("retention: want DiskMaxUsedSpaceRatio <= DiskForceCleanRatio <= DiskRejectRatio, got %v", r)
	}
	if c.CheckInterval < 0 {
		return errors.New("retention: CheckInterval must not be negative")
	}
	return nil
}

// ParseDeleteWhen parses RocketMQ's deleteWhen ("04", "04;16").
func ParseDeleteWhen(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ";") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		h, err := strconv.Atoi(f)
		if err != nil || h < 0 || h > 23 {
			return nil, fmt.Errorf("deleteWhen %q: %q is not an hour 0-23", s, f)
		}
		out = append(out, h)
	}
	return out, nil
}

// SetRetentionBound sets the highest index retention may delete (the latest
// snapshot index). Nothing is deleted while it is 0.
func (l *Log) SetRetentionBound(index uint64) { l.retBound.Store(index) }

// DiskFull reports whether appends of commands are being refused.
func (l *Log) DiskFull() bool { return l.diskFull.Load() }

// RetentionResult reports one retention pass.
type RetentionResult struct {
	DiskUsage       float64
	DeletedSegments int
	NewFirstIndex   uint64
}

// RunRetention applies the retention rules once at time now.
func (l *Log) RunRetention(now time.Time) (RetentionResult, error) {
	var res RetentionResult
	rc := l.cfg.Retention
	usage, err := l.usage(l.segDir)
	if err != nil {
		return res, fmt.Errorf("raftlog: disk usage: %w", err)
	}
	res.DiskUsage = usage
	full := usage >= rc.DiskRejectRatio
	if full != l.diskFull.Swap(full) {
		if full {
			l.logger.Error("disk nearly full: refusing new messages", "usage", usage, "limit", rc.DiskRejectRatio)
		} else {
			l.logger.Info("disk usage back under the limit: accepting messages", "usage", usage)
		}
	}
	atHour := false
	for _, h := range rc.DeleteWhen {
		atHour = atHour || now.Hour() == h
	}
	for {
		force := usage >= rc.DiskForceCleanRatio
		early := usage >= rc.DiskMaxUsedSpaceRatio
		ok, newFirst, err := l.deleteOldestSegment(func(mtime time.Time) bool {
			expired := now.Sub(mtime) >= rc.FileReservedTime
			return force || (expired && (atHour || early))
		})
		if err != nil || !ok {
			return res, err
		}
		res.DeletedSegments++
		res.NewFirstIndex = newFirst
		if usage, err = l.usage(l.segDir); err != nil {
			return res, fmt.Errorf("raftlog: disk usage: %w", err)
		}
		res.DiskUsage = usage
		l.diskFull.Store(usage >= rc.DiskRejectRatio)
	}
}

// deleteOldestSegment deletes the first segment if it is not the active
// one, every entry in it is at or below the retention bound, and
// want(mtime) says so.
func (l *Log) deleteOldestSegment(want func(mtime time.Time) bool) (bool, uint64, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() || l.failed != nil || len(l.segs) < 2 {
		return false, 0, nil
	}
	next := l.segs[1]
	h, err := l.readHeaderAt(next, l.scanStart(next))
	if err != nil {
		return false, 0, &CorruptError{Path: next.path, Offset: next.base, Reason: "first record: " + err.Error()}
	}
	newFirst := h.index
	if newFirst-1 > l.retBound.Load() || newFirst <= l.first || newFirst > l.last {
		return false, 0, nil
	}
	st, err := os.Stat(l.segs[0].path)
	if err != nil {
		return false, 0, fmt.Errorf("raftlog: %w", err)
	}
	if !want(st.ModTime()) {
		return false, 0, nil
	}
	l.logger.Info("retention: deleting segment", "segment", l.segs[0].path, "modified", st.ModTime(), "new_first_index", newFirst)
	if err := l.deleteHead(newFirst); err != nil {
		return false, 0, err
	}
	return true, newFirst, nil
}

func (l *Log) retentionLoop() {
	t := time.NewTicker(l.cfg.Retention.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stopCh:
			return
		case now := <-t.C:
			if _, err := l.RunRetention(now); err != nil && !errors.Is(err, ErrClosed) {
				l.logger.Error("retention failed", "error", err)
			}
		}
	}
}
