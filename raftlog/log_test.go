package raftlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

func testConfig(dir string) Config {
	c := DefaultConfig(dir)
	c.SegmentSize = MinSegmentSize
	c.IndexFileEntries = 16
	c.CacheEntries = 8
	c.CacheBytes = 1 << 20
	c.Retention.CheckInterval = 0
	c.Retention.DiskCheckInterval = 0
	return c
}

func openT(t testing.TB, cfg Config) *Log {
	t.Helper()
	l, err := Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

var logTypes = []raft.LogType{raft.LogCommand, raft.LogNoop, raft.LogConfiguration, raft.LogBarrier}

// genLogs makes n contiguous entries from index with random payloads.
func genLogs(rng *rand.Rand, index, term uint64, n, maxData int) []*raft.Log {
	out := make([]*raft.Log, n)
	for i := range out {
		l := &raft.Log{Index: index + uint64(i), Term: term, Type: logTypes[rng.Intn(len(logTypes))]}
		if sz := rng.Intn(maxData + 1); sz > 0 {
			l.Data = make([]byte, sz)
			rng.Read(l.Data)
		}
		if rng.Intn(3) == 0 {
			l.Extensions = []byte(fmt.Sprintf("ext-%d", l.Index))
		}
		if rng.Intn(4) != 0 {
			l.AppendedAt = time.Unix(1700000000+int64(rng.Intn(1e6)), int64(rng.Intn(1e9)))
		}
		out[i] = l
	}
	return out
}

func requireSameLog(t testing.TB, want, got *raft.Log) {
	t.Helper()
	require.Equal(t, want.Index, got.Index, "index")
	require.Equal(t, want.Term, got.Term, "term of %d", want.Index)
	require.Equal(t, want.Type, got.Type, "type of %d", want.Index)
	require.True(t, bytes.Equal(want.Data, got.Data), "data of %d", want.Index)
	require.True(t, bytes.Equal(want.Extensions, got.Extensions), "extensions of %d", want.Index)
	require.True(t, want.AppendedAt.Equal(got.AppendedAt), "appendedAt of %d: %v vs %v", want.Index, want.AppendedAt, got.AppendedAt)
}

func requireIndexes(t testing.TB, l *Log, first, last uint64) {
	t.Helper()
	f, err := l.FirstIndex()
	require.NoError(t, err)
	la, err := l.LastIndex()
	require.NoError(t, err)
	require.Equal(t, first, f, "first index")
	require.Equal(t, last, la, "last index")
}

func TestLog_RoundTripEveryField(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.CacheEntries = 0 // force disk reads
	l := openT(t, cfg)
	rng := rand.New(rand.NewSource(1))
	var all []*raft.Log
	for i := 0; i < 40; i++ {
		batch := genLogs(rng, uint64(len(all)+1), uint64(1+i/10), 1+rng.Intn(5), 900)
		require.NoError(t, l.StoreLogs(batch))
		all = append(all, batch...)
	}
	// Every type, an empty entry and a segment-spanning history.
	check := func(l *Log) {
		requireIndexes(t, l, 1, uint64(len(all)))
		for _, want := range all {
			var got raft.Log
			require.NoError(t, l.GetLog(want.Index, &got))
			requireSameLog(t, want, &got)
		}
		var got raft.Log
		require.ErrorIs(t, l.GetLog(0, &got), raft.ErrLogNotFound)
		require.ErrorIs(t, l.GetLog(uint64(len(all)+1), &got), raft.ErrLogNotFound)
	}
	check(l)
	require.Greater(t, l.Stats().Segments, 3)
	require.NoError(t, l.Close())
	l2 := openT(t, cfg)
	check(l2)
	// Segment files are named by 20-digit start offsets.
	ents, err := os.ReadDir(filepath.Join(dir, "commitlog"))
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		if e.Name()[0] != '.' { // .prealloc: the next segment, zero-filled ahead of time
			names = append(names, e.Name())
		}
	}
	require.Equal(t, "00000000000000000000", names[0])
	require.Equal(t, "00000000000000004096", names[1])
}

func TestLog_FirstAppendAtAnyIndex(t *testing.T) {
	l := openT(t, testConfig(t.TempDir()))
	rng := rand.New(rand.NewSource(2))
	require.NoError(t, l.StoreLogs(genLogs(rng, 1000, 3, 4, 100)))
	requireIndexes(t, l, 1000, 1003)
	require.ErrorIs(t, l.StoreLogs(genLogs(rng, 1005, 3, 1, 10)), ErrNonContiguous)
	require.ErrorIs(t, l.StoreLogs(genLogs(rng, 1003, 3, 1, 10)), ErrNonContiguous)
	bad := genLogs(rng, 1004, 3, 3, 10)
	bad[2].Index = 1009
	require.ErrorIs(t, l.StoreLogs(bad), ErrNonContiguous)
	requireIndexes(t, l, 1000, 1003)
}

func TestLog_DeleteRangeRules(t *testing.T) {
	l := openT(t, testConfig(t.TempDir()))
	rng := rand.New(rand.NewSource(3))
	require.NoError(t, l.StoreLogs(genLogs(rng, 1, 1, 50, 300)))
	require.ErrorIs(t, l.DeleteRange(10, 20), ErrInvalidRange)
	require.ErrorIs(t, l.DeleteRange(20, 10), ErrInvalidRange)
	requireIndexes(t, l, 1, 50)
	require.NoError(t, l.DeleteRange(0, 9)) // head, min below first
	requireIndexes(t, l, 10, 50)
	require.NoError(t, l.DeleteRange(45, 1000)) // tail, max beyond last
	requireIndexes(t, l, 10, 44)
	require.NoError(t, l.DeleteRange(100, 200)) // outside: no-op
	requireIndexes(t, l, 10, 44)
	require.NoError(t, l.DeleteRange(10, 44)) // everything
	requireIndexes(t, l, 0, 0)
	require.NoError(t, l.StoreLogs(genLogs(rng, 300, 2, 3, 10)))
	requireIndexes(t, l, 300, 302)
}

// TestLog_Oracle drives the log and raft's in-memory store with the same
// random operations (appends, gets, head and tail deletes, reopen) and
// requires the same answers.
func TestLog_Oracle(t *testing.T) {
	seeds := 6
	steps := 400
	if testing.Short() {
		seeds, steps = 4, 250
	}
	for seed := int64(1); seed <= int64(seeds); seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			dir := t.TempDir()
			cfg := testConfig(dir)
			cfg.CacheEntries = rng.Intn(10)
			if rng.Intn(2) == 0 {
				cfg.Flush = AsyncFlush
				cfg.FlushInterval = time.Millisecond
			}
			l, err := Open(cfg)
			require.NoError(t, err)
			defer func() { l.Close() }()
			oracle := raft.NewInmemStore()
			term := uint64(1)
			for step := 0; step < steps; step++ {
				first, _ := oracle.FirstIndex()
				last, _ := oracle.LastIndex()
				switch op := rng.Intn(100); {
				case op < 45: // append
					start := last + 1
					if last == 0 {
						start = uint64(1 + rng.Intn(50))
					}
					if rng.Intn(5) == 0 {
						term++
					}
					batch := genLogs(rng, start, term, 1+rng.Intn(12), rng.Intn(1500))
					require.NoError(t, oracle.StoreLogs(batch))
					require.NoError(t, l.StoreLogs(batch), "step %d", step)
				case op < 55 && last > first: // head delete
					max := first + uint64(rng.Int63n(int64(last-first)))
					require.NoError(t, oracle.DeleteRange(first, max))
					require.NoError(t, l.DeleteRange(first, max), "step %d", step)
				case op < 68 && last > first: // tail delete
					min := first + 1 + uint64(rng.Int63n(int64(last-first)))
					require.NoError(t, oracle.DeleteRange(min, last))
					require.NoError(t, l.DeleteRange(min, last), "step %d", step)
				case op < 71 && last > 0: // everything
					require.NoError(t, oracle.DeleteRange(first, last))
					require.NoError(t, l.DeleteRange(first, last))
				case op < 76 && last > first+1: // a middle range is refused
					require.ErrorIs(t, l.DeleteRange(first+1, last-1), ErrInvalidRange)
				case op < 82: // reopen
					require.NoError(t, l.Close())
					l, err = Open(cfg)
					require.NoError(t, err, "reopen at step %d", step)
				default: // reads
					for i := 0; i < 5; i++ {
						idx := uint64(rng.Int63n(int64(last+3))) + first - min(first, 1)
						var want, got raft.Log
						werr := oracle.GetLog(idx, &want)
						gerr := l.GetLog(idx, &got)
						if werr != nil {
							require.ErrorIs(t, gerr, raft.ErrLogNotFound, "index %d", idx)
							continue
						}
						require.NoError(t, gerr, "index %d step %d", idx, step)
						requireSameLog(t, &want, &got)
					}
				}
				first, _ = oracle.FirstIndex()
				last, _ = oracle.LastIndex()
				requireIndexes(t, l, first, last)
			}
			// Full comparison at the end, through a fresh open.
			require.NoError(t, l.Close())
			l, err = Open(cfg)
			require.NoError(t, err)
			first, _ := oracle.FirstIndex()
			last, _ := oracle.LastIndex()
			requireIndexes(t, l, first, last)
			for i := first; i <= last && last > 0; i++ {
				var want, got raft.Log
				require.NoError(t, oracle.GetLog(i, &want))
				require.NoError(t, l.GetLog(i, &got))
				requireSameLog(t, &want, &got)
			}
		})
	}
}

// TestLog_PhysicalOffsetsDeterministic: two replicas that end with the same
// entries give them the same physical offsets, even when one of them had an
// uncommitted tail truncated and rewritten, crossing segment boundaries.
func TestLog_PhysicalOffsetsDeterministic(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	a := openT(t, testConfig(t.TempDir()))
	b := openT(t, testConfig(t.TempDir()))
	common := genLogs(rng, 1, 1, 30, 700)
	require.NoError(t, a.StoreLogs(common))
	require.NoError(t, b.StoreLogs(common[:20]))
	// b gets a divergent tail from a deposed leader, then truncates it.
	require.NoError(t, b.StoreLogs(genLogs(rng, 21, 1, 15, 1200)))
	require.NoError(t, b.DeleteRange(21, 35))
	require.NoError(t, b.StoreLogs(common[20:]))
	more := genLogs(rng, 31, 2, 20, 900)
	require.NoError(t, a.StoreLogs(more))
	require.NoError(t, b.Close())
	b = openT(t, b.cfg) // and a restart in between
	require.NoError(t, b.StoreLogs(more))
	for i := uint64(1); i <= 50; i++ {
		pa, err := a.Position(i)
		require.NoError(t, err)
		pb, err := b.Position(i)
		require.NoError(t, err)
		require.Equal(t, pa, pb, "index %d", i)
	}
}

// TestLog_HintPlacesSnapshotJoiner: a replica that starts empty at a
// snapshot index places entries where the hint says, i.e. where the rest of
// the group has them.
func TestLog_HintPlacesSnapshotJoiner(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	leader := openT(t, testConfig(t.TempDir()))
	all := genLogs(rng, 1, 1, 40, 800)
	require.NoError(t, leader.StoreLogs(all))
	snap := uint64(25)
	p, err := leader.Position(snap)
	require.NoError(t, err)

	cfg := testConfig(t.TempDir())
	joiner := openT(t, cfg)
	require.NoError(t, joiner.StoreLogs(genLogs(rng, 1, 1, 3, 100))) // stale history
	require.NoError(t, joiner.SetNextStart(snap+1, p.End()))
	require.NoError(t, joiner.DeleteRange(1, 3)) // raft's removeOldLogs
	require.NoError(t, joiner.Close())           // crash before the first append
	joiner = openT(t, cfg)
	require.NoError(t, joiner.StoreLogs(all[snap:]))
	require.NoError(t, joiner.Close())
	joiner = openT(t, cfg)
	requireIndexes(t, joiner, snap+1, 40)
	for i := snap + 1; i <= 40; i++ {
		pl, _ := leader.Position(i)
		pj, err := joiner.Position(i)
		require.NoError(t, err)
		require.Equal(t, pl, pj, "index %d", i)
		var got raft.Log
		require.NoError(t, joiner.GetLog(i, &got))
		requireSameLog(t, all[i-1], &got)
	}
}

func TestLog_ReadAtBoundedByLimit(t *testing.T) {
	l := openT(t, testConfig(t.TempDir()))
	rng := rand.New(rand.NewSource(6))
	logs := genLogs(rng, 1, 1, 10, 300)
	for _, lg := range logs {
		lg.Data = append([]byte("payload-"), lg.Data...)
	}
	require.NoError(t, l.StoreLogs(logs))
	for _, lg := range logs {
		p, err := l.Position(lg.Index)
		require.NoError(t, err)
		buf := make([]byte, len(lg.Data))
		require.NoError(t, l.ReadAt(buf, p.DataOffset(), lg.Index))
		require.Equal(t, lg.Data, buf)
		if lg.Index > 1 {
			// Not visible below its own index: uncommitted for that reader.
			require.ErrorIs(t, l.ReadAt(buf, p.DataOffset(), lg.Index-1), ErrBeyondLimit)
		}
	}
	require.ErrorIs(t, l.ReadAt(make([]byte, 1), 0, 11), ErrBeyondLimit)
}

func TestLog_RejectsTooLargeAndChangedSegmentSize(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	l := openT(t, cfg)
	big := &raft.Log{Index: 1, Term: 1, Data: make([]byte, cfg.SegmentSize)}
	require.ErrorIs(t, l.StoreLogs([]*raft.Log{big}), ErrTooLarge)
	exact := &raft.Log{Index: 1, Term: 1, Data: make([]byte, cfg.SegmentSize-HeaderSize)}
	require.NoError(t, l.StoreLogs([]*raft.Log{exact}))
	require.NoError(t, l.StoreLogs([]*raft.Log{{Index: 2, Term: 1, Data: []byte("x")}}))
	require.NoError(t, l.Close())
	cfg.SegmentSize *= 2
	_, err := Open(cfg)
	require.ErrorIs(t, err, ErrConfigChanged)
}

func TestLog_ConcurrentReadersAndWriter(t *testing.T) {
	l := openT(t, testConfig(t.TempDir()))
	rng := rand.New(rand.NewSource(7))
	require.NoError(t, l.StoreLogs(genLogs(rng, 1, 1, 20, 200)))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rr := rand.New(rand.NewSource(seed))
			for {
				select {
				case <-stop:
					return
				default:
				}
				first, _ := l.FirstIndex()
				last, _ := l.LastIndex()
				if last == 0 {
					continue
				}
				idx := first + uint64(rr.Int63n(int64(last-first+1)))
				var got raft.Log
				err := l.GetLog(idx, &got)
				if err != nil && !errors.Is(err, raft.ErrLogNotFound) {
					t.Errorf("GetLog(%d): %v", idx, err)
					return
				}
				if err == nil && got.Index != idx {
					t.Errorf("GetLog(%d) returned %d", idx, got.Index)
					return
				}
			}
		}(int64(r))
	}
	term := uint64(1)
	for i := 0; i < 300; i++ {
		last, _ := l.LastIndex()
		first, _ := l.FirstIndex()
		switch rng.Intn(10) {
		case 0:
			if last > first+5 {
				require.NoError(t, l.DeleteRange(last-3, last))
				term++
			}
		case 1:
			if last > first+10 {
				require.NoError(t, l.DeleteRange(first, first+3))
			}
		default:
			require.NoError(t, l.StoreLogs(genLogs(rng, last+1, term, 1+rng.Intn(4), 400)))
		}
	}
	close(stop)
	wg.Wait()
}

func TestLog_DeferredSync(t *testing.T) {
	l := openT(t, testConfig(t.TempDir()))
	rng := rand.New(rand.NewSource(30))
	require.NoError(t, l.StoreLogs(genLogs(rng, 1, 1, 3, 100)))
	require.Equal(t, uint64(3), l.SyncedIndex(), "synchronous appends are synced on return")
	require.NoError(t, l.SetDeferredSync(true))
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			require.NoError(t, l.WaitSynced(ctx, 40))
		}()
	}
	for i := uint64(4); i <= 40; i += 4 {
		require.NoError(t, l.StoreLogs(genLogs(rng, i, 1, 4, 100)))
	}
	wg.Wait()
	require.GreaterOrEqual(t, l.SyncedIndex(), uint64(40))
	// Truncation takes the synced mark back with it.
	require.NoError(t, l.DeleteRange(30, 43))
	require.LessOrEqual(t, l.SyncedIndex(), uint64(29))
	require.NoError(t, l.SetDeferredSync(false))
	require.NoError(t, l.StoreLogs(genLogs(rng, 30, 2, 1, 10)))
	require.Equal(t, uint64(30), l.SyncedIndex())
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	require.Error(t, l.WaitSynced(ctx, 99))
}
