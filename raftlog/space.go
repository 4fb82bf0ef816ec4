package raftlog

import (
	"fmt"
	"time"
)

// DiskSpace is what the filesystem holding the log reports.
type DiskSpace struct {
	Total int64 // bytes
	Avail int64 // bytes an unprivileged writer may still use
}

// Used is the used fraction of the filesystem (0..1).
func (s DiskSpace) Used() float64 {
	if s.Total <= 0 {
		return 0
	}
	return float64(s.Total-s.Avail) / float64(s.Total)
}

// The log never lets its own writes fail for lack of space on the append
// path once a segment exists: segments are allocated whole before records
// go in, index files too. What can run out is room for the next segment
// or index file; that is checked before it is created (ErrDiskFull, not
// sticky: the append is retried and succeeds once space returns), and the
// log reports itself full early enough (DiskRejectRatio, or too little
// room for one more segment and index file) that the broker refuses new
// messages before it comes to that.

// spaceFloor is space the log leaves to everything else on the disk
// (checkpoints, logs, the operator's shell).
func (l *Log) setSpace(f func(string) (DiskSpace, error)) { l.spaceFn.Store(&f) }

func (l *Log) space(path string) (DiskSpace, error) { return (*l.spaceFn.Load())(path) }

func spaceFloor(total int64) int64 { return min(64<<20, total/100) }

func (l *Log) indexFileBytes() int64 { return l.cfg.IndexFileEntries * unitSize }

// refreshSpace reads the disk space and updates DiskFull. The prepared
// next segment counts as free: it is the log's own, ready to be used, so
// preparing it after the operator freed space does not flip the log back
// to full.
func (l *Log) refreshSpace() (DiskSpace, error) {
	sp, err := l.space(l.segDir)
	if err != nil {
		return sp, fmt.Errorf("raftlog: disk space: %w", err)
	}
	l.lastSpace.Store(&sp)
	prepared := int64(0)
	if l.alloc != nil && l.alloc.isReady() {
		prepared = l.cfg.SegmentSize
	}
	free := sp.Avail + prepared
	used := 0.0
	if sp.Total > 0 {
		used = float64(sp.Total-free) / float64(sp.Total)
	}
	reserve := max(0, l.cfg.SegmentSize-prepared) + l.indexFileBytes() + spaceFloor(sp.Total)
	limit := l.cfg.Retention.DiskRejectRatio
	wasFull := l.diskFull.Load()
	if wasFull {
		limit -= 0.01 // leave the full state a little below where it began
	}
	refused := l.appendRefused(time.Now())
	full := used >= limit || free < reserve || refused
	if full != l.diskFull.Swap(full) {
		if full {
			l.logger.Error("disk nearly full: refusing new messages until space returns",
				"used", fmt.Sprintf("%.1f%%", 100*used), "limit", fmt.Sprintf("%.0f%%", 100*l.cfg.Retention.DiskRejectRatio),
				"avail_bytes", sp.Avail, "needed_bytes", reserve, "append_refused", refused)
		} else {
			l.logger.Info("disk space back: accepting messages", "used", fmt.Sprintf("%.1f%%", 100*used), "avail_bytes", sp.Avail)
		}
	}
	return sp, nil
}

// roomFor checks, before the log creates a file of n bytes, that the disk
// has it and more (spaceFloor). Caller holds wmu.
func (l *Log) roomFor(n int64, what string) error {
	sp, err := l.refreshSpace()
	if err != nil {
		return err
	}
	if sp.Avail-n < spaceFloor(sp.Total) {
		l.diskFull.Store(true)
		return fmt.Errorf("%w: %s needs %d bytes, %d available on the log's disk", ErrDiskFull, what, n, sp.Avail)
	}
	return nil
}

// Space is the latest disk space reading (zero before the first).
func (l *Log) Space() DiskSpace {
	if p := l.lastSpace.Load(); p != nil {
		return *p
	}
	return DiskSpace{}
}

// roomToPrepare says whether the allocator may prepare the next segment:
// after it the disk must still hold an index file and the floor.
func (l *Log) roomToPrepare() error {
	sp, err := l.space(l.segDir)
	if err != nil {
		return fmt.Errorf("raftlog: disk space: %w", err)
	}
	if need := l.cfg.SegmentSize + l.indexFileBytes() + spaceFloor(sp.Total); sp.Avail < need {
		return fmt.Errorf("%w: preparing the next segment needs %d bytes, %d available", ErrDiskFull, need, sp.Avail)
	}
	return nil
}

func (l *Log) spaceLoop() {
	t := time.NewTicker(l.cfg.Retention.DiskCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stopCh:
			return
		case <-t.C:
			if _, err := l.refreshSpace(); err != nil {
				l.logger.Warn("cannot read disk space", "error", err)
			}
			if l.alloc != nil && !l.alloc.isReady() {
				l.alloc.wake() // space may have come back
			}
		}
	}
}
