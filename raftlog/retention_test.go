package raftlog

import (
	"math/rand"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

func retentionLog(t *testing.T) (*Log, Config, *float64) {
	t.Helper()
	cfg := testConfig(t.TempDir())
	cfg.Retention.FileReservedTime = time.Hour
	cfg.Retention.DeleteWhen = []int{4}
	cfg.Preallocate = PreallocFallocate // no background reader of the fake disk
	l := openT(t, cfg)
	usage := 0.5
	l.setSpace(fakeSpace(&usage))
	rng := rand.New(rand.NewSource(20))
	for i := 0; i < 20; i++ { // ~10 segments
		last, _ := l.LastIndex()
		require.NoError(t, l.StoreLogs(genLogs(rng, last+1, 1, 4, 500)))
	}
	return l, cfg, &usage
}

// fakeSpace reports a 100 GiB disk used to *usage.
func fakeSpace(usage *float64) func(string) (DiskSpace, error) {
	return func(string) (DiskSpace, error) {
		const total = 100 << 30
		return DiskSpace{Total: total, Avail: int64((1 - *usage) * total)}, nil
	}
}

func ageSegments(t *testing.T, l *Log, age time.Duration, now time.Time) {
	t.Helper()
	for _, s := range l.segs {
		require.NoError(t, os.Chtimes(s.path, now.Add(-age), now.Add(-age)))
	}
}

func firstIndexOfSegment(t *testing.T, l *Log, i int) uint64 {
	t.Helper()
	h, err := l.readHeaderAt(l.segs[i], l.scanStart(l.segs[i]))
	require.NoError(t, err)
	return h.index
}

func TestRetention_TimeHourAndBound(t *testing.T) {
	l, cfg, usage := retentionLog(t)
	segs := len(l.segs)
	require.Greater(t, segs, 6)
	at := func(h int) time.Time { return time.Date(2026, 11, 23, h, 30, 0, 0, time.Local) }
	ageSegments(t, l, 2*time.Hour, at(4))

	// No bound yet (no snapshot): nothing may go.
	res, err := l.RunRetention(at(4))
	require.NoError(t, err)
	require.Zero(t, res.DeletedSegments)

	bound := firstIndexOfSegment(t, l, 3) // entries of segments 0..2 are <= bound-1
	l.SetRetentionBound(bound - 1)
	// Expired, but not the deleteWhen hour and the disk is not full.
	res, err = l.RunRetention(at(3))
	require.NoError(t, err)
	require.Zero(t, res.DeletedSegments)
	// At 04:xx: every expired segment up to the bound.
	res, err = l.RunRetention(at(4))
	require.NoError(t, err)
	require.Equal(t, 3, res.DeletedSegments)
	first, _ := l.FirstIndex()
	require.Equal(t, bound, first)
	var got raft.Log
	require.ErrorIs(t, l.GetLog(bound-1, &got), raft.ErrLogNotFound)
	require.NoError(t, l.GetLog(bound, &got))

	// Disk above diskMaxUsedSpaceRatio: expired segments go at any hour.
	l.SetRetentionBound(firstIndexOfSegment(t, l, 2) - 1)
	*usage = 0.8
	res, err = l.RunRetention(at(13))
	require.NoError(t, err)
	require.Equal(t, 2, res.DeletedSegments)

	// The first index survives a restart.
	first, _ = l.FirstIndex()
	require.NoError(t, l.Close())
	l2 := openT(t, cfg)
	f2, _ := l2.FirstIndex()
	require.Equal(t, first, f2)
}

// Above the force-clean ratio, segments younger than fileReservedTime go
// only if every consumer group consumed them; unconsumed ones stay unless
// CleanForcibly, and never the active one or past the bound.
func TestRetention_ForceCleanKeepsUnconsumed(t *testing.T) {
	l, _, usage := retentionLog(t)
	now := time.Date(2026, 11, 23, 13, 0, 0, 0, time.Local)
	ageSegments(t, l, time.Minute, now) // nothing expired
	last, _ := l.LastIndex()
	l.SetRetentionBound(last)
	*usage = 0.99

	// Without a guard nothing says what was consumed: nothing goes.
	res, err := l.RunRetention(now)
	require.NoError(t, err)
	require.Zero(t, res.DeletedSegments)
	require.True(t, res.Blocked)

	// Consumers are done with everything before segment 3.
	needed := l.segs[3].base
	l.SetRetentionGuard(func() int64 { return needed })
	res, err = l.RunRetention(now)
	require.NoError(t, err)
	require.Equal(t, 3, res.DeletedSegments)
	require.Zero(t, res.Forced)
	require.True(t, res.Blocked)
	require.Equal(t, needed, l.segs[0].base, "the first unconsumed segment is kept")

	// Usage falls as segments go: cleaning stops below the ratio.
	needed = 1 << 62
	n := len(l.segs)
	l.setSpace(func(string) (DiskSpace, error) {
		u := 0.80 + 0.02*float64(len(l.segs)-n+3)
		return DiskSpace{Total: 100 << 30, Avail: int64((1 - u) * (100 << 30))}, nil
	})
	res, err = l.RunRetention(now)
	require.NoError(t, err)
	require.Equal(t, 1, res.DeletedSegments, "deletes until usage < force ratio")
}

func TestRetention_CleanForciblyDeletesUnconsumed(t *testing.T) {
	l, _, usage := retentionLog(t)
	l.cfg.Retention.CleanForcibly = true
	now := time.Date(2026, 11, 23, 13, 0, 0, 0, time.Local)
	ageSegments(t, l, time.Minute, now)
	last, _ := l.LastIndex()
	l.SetRetentionBound(last)
	l.SetRetentionGuard(func() int64 { return 0 }) // nothing consumed
	*usage = 0.99
	res, err := l.RunRetention(now)
	require.NoError(t, err)
	require.Len(t, l.segs, 1, "the active segment stays")
	require.Equal(t, res.DeletedSegments, res.Forced)
	first, _ := l.FirstIndex()
	la, _ := l.LastIndex()
	require.LessOrEqual(t, first, la)
	require.True(t, l.DiskFull())
}

// DiskFull is a signal for the broker, not a refusal by the store: a
// leader whose StoreLogs failed would step down, so raft's appends go on.
func TestSpace_FullIsReportedNotEnforced(t *testing.T) {
	l, _, usage := retentionLog(t)
	*usage = 0.95
	_, err := l.refreshSpace()
	require.NoError(t, err)
	require.True(t, l.DiskFull())
	last, _ := l.LastIndex()
	require.NoError(t, l.StoreLogs([]*raft.Log{{Index: last + 1, Term: 1, Type: raft.LogCommand, Data: []byte("m")}}))
	*usage = 0.895 // within the hysteresis: still full
	_, err = l.refreshSpace()
	require.NoError(t, err)
	require.True(t, l.DiskFull())
	*usage = 0.5
	_, err = l.refreshSpace()
	require.NoError(t, err)
	require.False(t, l.DiskFull())
	require.InDelta(t, 0.5, l.Stats().DiskUsed, 0.01)
}

// When the disk cannot hold the next segment, the append fails with
// ErrDiskFull without failing the log; the same append succeeds once
// space returns, and everything reads back, also after a restart.
func TestSpace_NoRoomForNextSegmentIsNotSticky(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Preallocate = PreallocFallocate
	l := openT(t, cfg)
	avail := int64(1 << 30)
	l.setSpace(func(string) (DiskSpace, error) { return DiskSpace{Total: 2 << 30, Avail: avail}, nil })
	rng := rand.New(rand.NewSource(7))
	var all []*raft.Log
	for len(l.segs) < 2 {
		last, _ := l.LastIndex()
		b := genLogs(rng, last+1, 1, 3, 300)
		require.NoError(t, l.StoreLogs(b))
		all = append(all, b...)
	}
	avail = 1 << 20 // under the 1% floor of 2 GiB
	var refused []*raft.Log
	for i := 0; i < 100 && refused == nil; i++ {
		last, _ := l.LastIndex()
		b := genLogs(rng, last+1, 1, 3, 300)
		err := l.StoreLogs(b)
		if err != nil {
			require.ErrorIs(t, err, ErrDiskFull)
			refused = b
			break
		}
		all = append(all, b...)
	}
	require.NotNil(t, refused, "a new segment was needed and refused")
	require.True(t, l.DiskFull())
	require.Nil(t, l.failed, "running out of room is not a write failure")
	require.ErrorIs(t, l.StoreLogs(refused), ErrDiskFull, "still refused")
	avail = 1 << 30
	require.NoError(t, l.StoreLogs(refused))
	all = append(all, refused...)
	check := func(l *Log) {
		for _, want := range all {
			var got raft.Log
			require.NoError(t, l.GetLog(want.Index, &got))
			requireSameLog(t, want, &got)
		}
	}
	check(l)
	require.NoError(t, l.Close())
	check(openT(t, cfg))
}

func TestParseDeleteWhen(t *testing.T) {
	h, err := ParseDeleteWhen("04;16")
	require.NoError(t, err)
	require.Equal(t, []int{4, 16}, h)
	_, err = ParseDeleteWhen("25")
	require.Error(t, err)
}
