package raftlog

import (
	"errors"
	"fmt"
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
	// DiskForceCleanRatio: above it, the oldest segments are deleted before
	// they expire, until usage falls below it (0.85), but only segments
	// whose messages every consumer group has consumed (see
	// SetRetentionGuard), unless CleanForcibly.
	DiskForceCleanRatio float64
	// CleanForcibly is RocketMQ's cleanFileForciblyEnable: above
	// DiskForceCleanRatio, delete the oldest segments even when they hold
	// messages nobody consumed yet. Off by default here: a full disk then
	// refuses new messages instead of dropping acknowledged ones. Every
	// such deletion is logged at error level.
	CleanForcibly bool
	// DiskRejectRatio: at or above it the log reports DiskFull, and the
	// broker refuses new messages (0.90). So does too little room for one
	// more segment and index file.
	DiskRejectRatio float64
	// CheckInterval is how often the rules run (0 disables the loop; call
	// RunRetention directly).
	CheckInterval time.Duration
	// DiskCheckInterval is how often disk space is read (0 disables; it is
	// also read before every segment or index file is created).
	DiskCheckInterval time.Duration
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
		DiskCheckInterval:     time.Second,
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
	if c.CheckInterval < 0 || c.DiskCheckInterval < 0 {
		return errors.New("retention: CheckInterval and DiskCheckInterval must not be negative")
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

// SetRetentionGuard installs needed, which returns the lowest physical
// offset some consumer group has not consumed yet (the FSM computes it
// from queues and committed offsets). Without a guard, no segment is
// deleted before it expires unless CleanForcibly.
func (l *Log) SetRetentionGuard(needed func() int64) { l.guard.Store(&needed) }

// DiskFull reports whether the disk is too full to accept new messages.
func (l *Log) DiskFull() bool { return l.diskFull.Load() }

// RetentionResult reports one retention pass.
type RetentionResult struct {
	DiskUsage       float64
	DeletedSegments int
	// Forced counts deleted segments that held unconsumed messages
	// younger than FileReservedTime (CleanForcibly only).
	Forced        int
	NewFirstIndex uint64
	// Blocked is set when the disk is above DiskForceCleanRatio and the
	// oldest segment may not go: it holds messages still needed.
	Blocked bool
}

// RunRetention applies the retention rules once at time now:
//   - a segment older than FileReservedTime goes at a DeleteWhen hour, or
//     at any hour when the disk is above DiskMaxUsedSpaceRatio;
//   - above DiskForceCleanRatio, a younger segment goes if every consumer
//     group has consumed all its messages, or (CleanForcibly) anyway;
//   - never the active segment, never past the retention bound.
func (l *Log) RunRetention(now time.Time) (RetentionResult, error) {
	var res RetentionResult
	rc := l.cfg.Retention
	sp, err := l.refreshSpace()
	if err != nil {
		return res, err
	}
	res.DiskUsage = sp.Used()
	atHour := false
	for _, h := range rc.DeleteWhen {
		atHour = atHour || now.Hour() == h
	}
	needed := int64(-1) // unknown
	if g := l.guard.Load(); g != nil {
		needed = (*g)()
	}
	for {
		usage := res.DiskUsage
		force := usage >= rc.DiskForceCleanRatio
		early := usage >= rc.DiskMaxUsedSpaceRatio
		var why string
		ok, newFirst, err := l.deleteOldestSegment(func(mtime time.Time, end int64) bool {
			switch {
			case now.Sub(mtime) >= rc.FileReservedTime && (atHour || early):
				why = "expired"
			case force && needed >= 0 && end <= needed:
				why = "consumed"
			case force && rc.CleanForcibly:
				why = "forced"
			default:
				return false
			}
			return true
		})
		if err != nil {
			return res, err
		}
		if !ok {
			res.Blocked = force
			if force && now.Sub(l.lastBlockedLog) > 10*time.Minute {
				l.lastBlockedLog = now
				l.logger.Error("disk above the force-clean ratio, but the oldest segment holds messages a consumer group has not consumed "+
					"and that are younger than fileReservedTime: keeping them; new messages are refused once the disk reaches the reject ratio "+
					"(free space, add consumers, or set cleanFileForciblyEnable=true to delete unconsumed messages)",
					"used", fmt.Sprintf("%.1f%%", 100*usage), "force_clean_ratio", rc.DiskForceCleanRatio, "reject_ratio", rc.DiskRejectRatio)
			}
			return res, nil
		}
		res.DeletedSegments++
		res.NewFirstIndex = newFirst
		if why == "forced" {
			res.Forced++
			l.logger.Error("retention: DELETED A SEGMENT HOLDING UNCONSUMED MESSAGES younger than fileReservedTime, because the disk is above "+
				"the force-clean ratio and cleanFileForciblyEnable=true; consumers behind it lose those messages",
				"new_first_index", newFirst, "used", fmt.Sprintf("%.1f%%", 100*usage))
		}
		if sp, err = l.refreshSpace(); err != nil {
			return res, err
		}
		res.DiskUsage = sp.Used()
	}
}

// DeleteOlder runs retention now, at any hour (mqadmin
// deleteExpiredCommitLog): oldest first, it deletes segments last written
// more than olderThan ago that are expired (older than FileReservedTime),
// or whose messages every consumer group consumed, or any with
// CleanForcibly; never the active segment, never past the retention bound.
func (l *Log) DeleteOlder(olderThan time.Duration, now time.Time) (RetentionResult, error) {
	var res RetentionResult
	rc := l.cfg.Retention
	needed := int64(-1)
	if g := l.guard.Load(); g != nil {
		needed = (*g)()
	}
	for {
		forced := false
		ok, newFirst, err := l.deleteOldestSegment(func(mtime time.Time, end int64) bool {
			age := now.Sub(mtime)
			if age < olderThan {
				return false
			}
			switch {
			case age >= rc.FileReservedTime, needed >= 0 && end <= needed:
				return true
			case rc.CleanForcibly:
				forced = true
				return true
			}
			return false
		})
		if err != nil || !ok {
			if sp, serr := l.refreshSpace(); serr == nil {
				res.DiskUsage = sp.Used()
			}
			return res, err
		}
		res.DeletedSegments++
		res.NewFirstIndex = newFirst
		if forced {
			res.Forced++
			l.logger.Error("retention: DELETED A SEGMENT HOLDING UNCONSUMED MESSAGES on request (cleanFileForciblyEnable=true)",
				"new_first_index", newFirst)
		}
	}
}

// deleteOldestSegment deletes the first segment if it is not the active
// one, every entry in it is at or below the retention bound, and
// want(mtime, end) says so (end: the physical offset after the segment).
func (l *Log) deleteOldestSegment(want func(mtime time.Time, end int64) bool) (bool, uint64, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() || l.failed != nil || len(l.segs) < 2 || l.retHold.Load() > 0 {
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
	st, err := l.fs.Stat(l.segs[0].path)
	if err != nil {
		return false, 0, fmt.Errorf("raftlog: %w", err)
	}
	if !want(st.ModTime(), next.base) {
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
