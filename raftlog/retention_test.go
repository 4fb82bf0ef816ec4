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
	l := openT(t, cfg)
	usage := 0.5
	l.usage = func(string) (float64, error) { return usage, nil }
	rng := rand.New(rand.NewSource(20))
	for i := 0; i < 20; i++ { // ~10 segments
		last, _ := l.LastIndex()
		require.NoError(t, l.StoreLogs(genLogs(rng, last+1, 1, 4, 500)))
	}
	return l, cfg, &usage
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

func TestRetention_ForceCleanNeverTouchesActiveOrUnsnapshotted(t *testing.T) {
	l, _, _ := retentionLog(t)
	now := time.Date(2026, 11, 23, 13, 0, 0, 0, time.Local)
	ageSegments(t, l, time.Minute, now) // nothing expired
	n := len(l.segs)
	// Usage falls as segments go: force-cleaning stops below 85 %.
	l.usage = func(string) (float64, error) { return 0.80 + 0.02*float64(len(l.segs)-n+3), nil }
	last, _ := l.LastIndex()
	l.SetRetentionBound(last)
	res, err := l.RunRetention(now)
	require.NoError(t, err)
	require.Equal(t, 1, res.DeletedSegments, "deletes until usage < force ratio")

	// Far above: everything but the active segment, within the bound.
	l.usage = func(string) (float64, error) { return 0.99, nil }
	res, err = l.RunRetention(now)
	require.NoError(t, err)
	require.Len(t, l.segs, 1, "the active segment stays")
	first, _ := l.FirstIndex()
	la, _ := l.LastIndex()
	require.LessOrEqual(t, first, la)
	require.True(t, l.DiskFull())
}

func TestRetention_DiskFullRefusesCommands(t *testing.T) {
	l, _, usage := retentionLog(t)
	*usage = 0.95
	_, err := l.RunRetention(time.Now())
	require.NoError(t, err)
	require.True(t, l.DiskFull())
	last, _ := l.LastIndex()
	err = l.StoreLogs([]*raft.Log{{Index: last + 1, Term: 1, Type: raft.LogCommand, Data: []byte("m")}})
	require.ErrorIs(t, err, ErrDiskFull)
	// Raft's own bookkeeping still goes through (elections must work).
	require.NoError(t, l.StoreLogs([]*raft.Log{{Index: last + 1, Term: 2, Type: raft.LogNoop}}))
	*usage = 0.5
	_, err = l.RunRetention(time.Now())
	require.NoError(t, err)
	require.False(t, l.DiskFull())
	require.NoError(t, l.StoreLogs([]*raft.Log{{Index: last + 2, Term: 2, Type: raft.LogCommand, Data: []byte("m")}}))
}

func TestParseDeleteWhen(t *testing.T) {
	h, err := ParseDeleteWhen("04;16")
	require.NoError(t, err)
	require.Equal(t, []int{4, 16}, h)
	_, err = ParseDeleteWhen("25")
	require.Error(t, err)
}
