package raftlog

import (
	"github.com/raftmq/raftmq/internal/vfs"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// copyDir copies a log directory tree (small test logs only).
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	require.NoError(t, filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		defer out.Close()
		_, err = io.Copy(out, in)
		return err
	}))
}

// buildLog writes batches of entries and closes the log; it returns the
// entries and the config.
func buildLog(t testing.TB, dir string, batches [][2]int, maxData int, seed int64) ([]*raft.Log, Config) {
	t.Helper()
	cfg := testConfig(dir)
	cfg.SegmentSize = 2 * MinSegmentSize
	l, err := Open(cfg)
	require.NoError(t, err)
	rng := rand.New(rand.NewSource(seed))
	var all []*raft.Log
	for _, b := range batches {
		n, size := b[0], b[1]
		batch := genLogs(rng, uint64(len(all)+1), 1, n, 0)
		for _, lg := range batch {
			lg.Data = make([]byte, size)
			rng.Read(lg.Data)
		}
		require.NoError(t, l.StoreLogs(batch))
		all = append(all, batch...)
	}
	require.NoError(t, l.Close())
	return all, cfg
}

func requirePrefix(t testing.TB, l *Log, all []*raft.Log, last uint64) {
	t.Helper()
	requireIndexes(t, l, 1, last)
	requireEntries(t, l, all, last)
}

func requireEntries(t testing.TB, l *Log, all []*raft.Log, last uint64) {
	t.Helper()
	for i := uint64(1); i <= last; i++ {
		var got raft.Log
		require.NoError(t, l.GetLog(i, &got))
		requireSameLog(t, all[i-1], &got)
	}
}

func segPath(cfg Config, base int64) string {
	return filepath.Join(cfg.Dir, "commitlog", segmentName(base))
}

func positionOf(t testing.TB, cfg Config, index uint64) Position {
	t.Helper()
	l, err := Open(cfg)
	require.NoError(t, err)
	defer l.Close()
	p, err := l.Position(index)
	require.NoError(t, err)
	return p
}

// TestRecover_CutLastRecordAtEveryByte simulates a crash at every byte of
// the last record, both as a short file and as zeros (preallocated file):
// the torn record goes, everything before it stays, and the log accepts new
// appends that survive a restart.
func TestRecover_CutLastRecordAtEveryByte(t *testing.T) {
	src := t.TempDir()
	all, cfg := buildLog(t, src, [][2]int{{3, 200}, {3, 150}, {3, 120}}, 0, 10)
	n := uint64(len(all))
	last := positionOf(t, cfg, n)
	base := last.Offset / cfg.SegmentSize * cfg.SegmentSize
	for _, mode := range []string{"truncate", "zero"} {
		for cut := last.Offset; cut <= last.End(); cut++ {
			dir := t.TempDir()
			copyDir(t, src, dir)
			c := cfg
			c.Dir = dir
			f, err := os.OpenFile(segPath(c, base), os.O_RDWR, 0)
			require.NoError(t, err)
			if mode == "truncate" {
				require.NoError(t, f.Truncate(cut-base))
			} else {
				require.NoError(t, vfs.WriteZeros(f, cut-base, base+c.SegmentSize-cut))
			}
			require.NoError(t, f.Close())

			l, err := Open(c)
			require.NoError(t, err, "%s at %d", mode, cut)
			want := n - 1
			if cut == last.End() {
				want = n
			}
			requirePrefix(t, l, all, want)
			// The log goes on from there, durably.
			next := &raft.Log{Index: want + 1, Term: 2, Type: raft.LogCommand, Data: []byte("after the crash")}
			require.NoError(t, l.StoreLogs([]*raft.Log{next}))
			require.NoError(t, l.Close())
			l, err = Open(c)
			require.NoError(t, err)
			requireIndexes(t, l, 1, want+1)
			requireEntries(t, l, all, want)
			var got raft.Log
			require.NoError(t, l.GetLog(want+1, &got))
			requireSameLog(t, next, &got)
			require.NoError(t, l.Close())
		}
	}
}

// TestRecover_FlipBytes flips every byte of the last record (a torn last
// batch: cut), then bytes of an earlier batch of the last segment
// (corruption: refused unless Repair) and of a sealed segment (reported on
// read).
func TestRecover_FlipBytes(t *testing.T) {
	src := t.TempDir()
	// Two 4-entry batches of ~1 KiB in segment 0, then three more batches;
	// the last segment holds several batches.
	all, cfg := buildLog(t, src, [][2]int{{4, 1000}, {4, 900}, {3, 700}, {3, 700}, {3, 300}}, 0, 11)
	n := uint64(len(all))
	flip := func(dir string, off int64) {
		c := cfg
		c.Dir = dir
		base := off / c.SegmentSize * c.SegmentSize
		f, err := os.OpenFile(segPath(c, base), os.O_RDWR, 0)
		require.NoError(t, err)
		defer f.Close()
		b := make([]byte, 1)
		_, err = f.ReadAt(b, off-base)
		require.NoError(t, err)
		b[0] ^= 0x5A
		_, err = f.WriteAt(b, off-base)
		require.NoError(t, err)
	}
	open := func(dir string, mut func(*Config)) (*Log, error) {
		c := cfg
		c.Dir = dir
		if mut != nil {
			mut(&c)
		}
		return Open(c)
	}

	t.Run("last record", func(t *testing.T) {
		p := positionOf(t, cfg, n)
		for off := p.Offset; off < p.End(); off++ {
			dir := t.TempDir()
			copyDir(t, src, dir)
			flip(dir, off)
			l, err := open(dir, nil)
			require.NoError(t, err, "flip at %d", off)
			requirePrefix(t, l, all, n-1)
			require.NoError(t, l.Close())
		}
	})

	t.Run("earlier batch in last segment", func(t *testing.T) {
		lastSeg := positionOf(t, cfg, n).Offset / cfg.SegmentSize
		victim := n - 3 // last record of the previous batch
		p := positionOf(t, cfg, victim)
		require.Equal(t, lastSeg, p.Offset/cfg.SegmentSize, "test layout: victim must be in the last segment")
		for _, off := range []int64{p.Offset, p.Offset + 5, p.Offset + 20, p.DataOffset() + 7, p.End() - 1} {
			dir := t.TempDir()
			copyDir(t, src, dir)
			flip(dir, off)
			_, err := open(dir, nil)
			require.ErrorIs(t, err, ErrCorrupt, "flip at %d", off)
			var ce *CorruptError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, victim, ce.Index)

			l, err := open(dir, func(c *Config) { c.Repair = true })
			require.NoError(t, err)
			requirePrefix(t, l, all, victim-1)
			require.NoError(t, l.Close())
		}
	})

	t.Run("sealed segment", func(t *testing.T) {
		dir := t.TempDir()
		copyDir(t, src, dir)
		p := positionOf(t, cfg, 2)
		require.Zero(t, p.Offset/cfg.SegmentSize)
		flip(dir, p.DataOffset()+10)
		c := cfg
		c.Dir = dir
		c.CacheEntries = 0
		l, err := Open(c)
		require.NoError(t, err)
		defer l.Close()
		var got raft.Log
		err = l.GetLog(2, &got)
		require.ErrorIs(t, err, ErrCorrupt)
		require.NoError(t, l.GetLog(3, &got))
	})
}

// TestRecover_TornRotation: the last segment was created but nothing valid
// reached it (all zeros, or garbage from one torn batch).
func TestRecover_TornRotation(t *testing.T) {
	src := t.TempDir()
	all, cfg := buildLog(t, src, [][2]int{{4, 1500}, {4, 1500}}, 0, 12)
	n := uint64(len(all))
	lastSeg := positionOf(t, cfg, n).Offset / cfg.SegmentSize * cfg.SegmentSize
	firstInLast := uint64(0)
	for i := uint64(1); i <= n; i++ {
		if positionOf(t, cfg, i).Offset >= lastSeg {
			firstInLast = i
			break
		}
	}
	require.NotZero(t, firstInLast)
	for _, garbage := range []bool{false, true} {
		dir := t.TempDir()
		copyDir(t, src, dir)
		c := cfg
		c.Dir = dir
		f, err := os.OpenFile(segPath(c, lastSeg), os.O_RDWR, 0)
		require.NoError(t, err)
		require.NoError(t, vfs.WriteZeros(f, 0, c.SegmentSize))
		if garbage {
			_, err = f.WriteAt([]byte("torn write garbage"), 100)
			require.NoError(t, err)
		}
		require.NoError(t, f.Close())
		l, err := Open(c)
		require.NoError(t, err)
		requirePrefix(t, l, all, firstInLast-1)
		require.NoError(t, l.StoreLogs(all[firstInLast-1:]))
		require.NoError(t, l.Close())
		l, err = Open(c)
		require.NoError(t, err)
		requirePrefix(t, l, all, n)
		require.NoError(t, l.Close())
	}
}

// TestRecover_TruncatedTailNeverResurrects: after a conflict truncation and
// shorter new entries, a restart shows the new entries only.
func TestRecover_TruncatedTailNeverResurrects(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	l, err := Open(cfg)
	require.NoError(t, err)
	rng := rand.New(rand.NewSource(13))
	require.NoError(t, l.StoreLogs(genLogs(rng, 1, 1, 30, 600)))
	require.NoError(t, l.DeleteRange(12, 30))
	fresh := genLogs(rng, 12, 2, 2, 10)
	require.NoError(t, l.StoreLogs(fresh))
	require.NoError(t, l.Close())
	l, err = Open(cfg)
	require.NoError(t, err)
	defer l.Close()
	requireIndexes(t, l, 1, 13)
	for _, want := range fresh {
		var got raft.Log
		require.NoError(t, l.GetLog(want.Index, &got))
		requireSameLog(t, want, &got)
	}
}
