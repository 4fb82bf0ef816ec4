package consumequeue

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func units(from, n int) []Unit {
	var out []Unit
	for i := from; i < from+n; i++ {
		out = append(out, Unit{PhysOffset: int64(i * 100), Size: int32(90 + i), TagHash: int64(i)})
	}
	return out
}

func TestQueue_AppendRangeReopenAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(dir, "T", 3, 4)
	require.NoError(t, err)
	off, err := q.Append(units(0, 10)...)
	require.NoError(t, err)
	require.Equal(t, int64(0), off)
	got, err := q.Range(2, 5, nil)
	require.NoError(t, err)
	require.Equal(t, units(2, 5), got)
	require.Equal(t, int64(900), q.LastPhysOffset())
	require.NoError(t, q.Close())

	q, err = Open(dir, "T", 3, 4)
	require.NoError(t, err)
	defer q.Close()
	require.Equal(t, int64(0), q.MinOffset())
	require.Equal(t, int64(10), q.MaxOffset())
	all, err := q.Range(0, 100, nil)
	require.NoError(t, err)
	require.Equal(t, units(0, 10), all)
	_, err = q.Range(11, 1, nil)
	require.ErrorIs(t, err, ErrOffset)
	require.Equal(t, int64(5), q.FirstPhysAtOrAfter(450))
}

func TestQueue_TruncateResetDeleteBefore(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(dir, "T", 0, 4)
	require.NoError(t, err)
	_, err = q.Append(units(0, 10)...)
	require.NoError(t, err)
	require.NoError(t, q.TruncatePhys(700))
	require.Equal(t, int64(7), q.MaxOffset())
	_, err = q.Append(units(7, 1)...)
	require.NoError(t, err)
	require.NoError(t, q.DeleteBefore(5))
	require.Equal(t, int64(5), q.MinOffset())
	require.NoError(t, q.Close())
	q, err = Open(dir, "T", 0, 4)
	require.NoError(t, err)
	require.Equal(t, int64(5), q.MinOffset())
	require.Equal(t, int64(8), q.MaxOffset())
	require.NoError(t, q.Reset(42))
	require.Equal(t, int64(42), q.MinOffset())
	require.Equal(t, int64(42), q.MaxOffset())
	off, err := q.Append(units(42, 3)...)
	require.NoError(t, err)
	require.Equal(t, int64(42), off)
	require.NoError(t, q.Close())
	q, err = Open(dir, "T", 0, 4)
	require.NoError(t, err)
	defer q.Close()
	require.Equal(t, int64(42), q.MinOffset())
	require.Equal(t, int64(45), q.MaxOffset())
}

func TestQueue_WaitWakes(t *testing.T) {
	q, err := Open(t.TempDir(), "T", 0, 4)
	require.NoError(t, err)
	defer q.Close()
	ch := q.Wait(0)
	select {
	case <-ch:
		t.Fatal("woke before any unit")
	default:
	}
	_, err = q.Append(units(0, 1)...)
	require.NoError(t, err)
	q.Notify()
	<-ch
	<-q.Wait(0) // already satisfied
}

// Appended units are readable before Flush writes them, Flush writes them
// across file boundaries, and what was not flushed is simply absent after
// a crash (the FSM replays from its checkpoint).
func TestQueue_PendingUnitsAndFlush(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(dir, "T", 0, 4)
	require.NoError(t, err)
	_, err = q.Append(units(0, 6)...)
	require.NoError(t, err)
	got, err := q.Range(0, 10, nil)
	require.NoError(t, err)
	require.Equal(t, units(0, 6), got, "pending units are readable")
	require.NoError(t, q.Flush())
	_, err = q.Append(units(6, 3)...)
	require.NoError(t, err)
	got, err = q.Range(4, 10, nil)
	require.NoError(t, err)
	require.Equal(t, units(4, 5), got, "flushed and pending units read together")

	// Another opener sees only what was flushed (a crash loses the rest).
	q2, err := Open(dir, "T", 0, 4)
	require.NoError(t, err)
	require.Equal(t, int64(6), q2.MaxOffset())
	require.NoError(t, q2.Close())

	// Truncation flushes first, then zeroes the cut units on disk.
	require.NoError(t, q.TruncatePhys(700))
	require.Equal(t, int64(7), q.MaxOffset())
	require.NoError(t, q.Close())
	q, err = Open(dir, "T", 0, 4)
	require.NoError(t, err)
	require.Equal(t, int64(7), q.MaxOffset())
	got, err = q.Range(0, 10, nil)
	require.NoError(t, err)
	require.Equal(t, units(0, 7), got)
	require.NoError(t, q.Close())
}

// FlushIfOver writes only once the given bytes of units wait.
func TestQueue_FlushIfOver(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(dir, "T", 0, 64)
	require.NoError(t, err)
	_, err = q.Append(units(0, 4)...)
	require.NoError(t, err)
	require.NoError(t, q.FlushIfOver(5*UnitSize))
	q2, err := Open(dir, "T", 0, 64)
	require.NoError(t, err)
	require.Equal(t, int64(0), q2.MaxOffset(), "4 units wait below the bound")
	require.NoError(t, q2.Close())
	_, err = q.Append(units(4, 1)...)
	require.NoError(t, err)
	require.NoError(t, q.FlushIfOver(5*UnitSize))
	q2, err = Open(dir, "T", 0, 64)
	require.NoError(t, err)
	require.Equal(t, int64(5), q2.MaxOffset(), "5 units reach it")
	require.NoError(t, q2.Close())
	require.NoError(t, q.Close())
}
