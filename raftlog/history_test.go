package raftlog

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// donorAndJoiner builds a donor holding entries [first, n] (the head
// deleted by retention) and a joiner that installed a snapshot at snap and
// holds (snap, n] (or nothing after snap when empty is set).
func donorAndJoiner(t *testing.T, seed int64, n, deleteBelow, snap uint64, empty bool) (donor, joiner *Log, jcfg Config, all []*raft.Log) {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	dcfg := testConfig(t.TempDir())
	donor = openT(t, dcfg)
	for i := uint64(1); i <= n; {
		k := min(uint64(1+rng.Intn(6)), n-i+1)
		batch := genLogs(rng, i, 1+i/50, int(k), 900)
		all = append(all, batch...)
		require.NoError(t, donor.StoreLogs(batch))
		i += k
	}
	if deleteBelow > 1 {
		require.NoError(t, donor.DeleteRange(1, deleteBelow-1))
	}
	jcfg = testConfig(t.TempDir())
	joiner = openT(t, jcfg)
	p, err := donor.Position(snap)
	require.NoError(t, err)
	require.NoError(t, joiner.SetNextStart(snap+1, p.End()))
	if !empty {
		require.NoError(t, joiner.StoreLogs(all[snap:]))
	}
	return donor, joiner, jcfg, all
}

// fetch copies the history in chunks of random sizes, stopping after
// stopAfter bytes (-1: all).
func fetch(t *testing.T, rng *rand.Rand, donor *Log, h *HistoryImport, limit uint64, stopAfter int64) {
	t.Helper()
	copied := int64(0)
	buf := make([]byte, 8192)
	for h.Remaining() > 0 && (stopAfter < 0 || copied < stopAfter) {
		k, mt, err := donor.ReadHistory(buf[:1+rng.Intn(len(buf))], h.Next(), limit)
		require.NoError(t, err)
		require.NoError(t, h.Write(h.Next(), buf[:k], mt))
		copied += int64(k)
	}
}

func target(t *testing.T, donor *Log, snap uint64) HistoryTarget {
	info, err := donor.HistoryInfo(snap)
	require.NoError(t, err)
	return HistoryTarget{Index: snap, Term: info.Term, End: info.End}
}

// requireSameBytes checks that both logs hold the same CommitLog bytes
// over the donor's retained range, at the same physical offsets, but for
// the two header fields that describe a replica's own write batches
// (batchOff, and the CRC over it).
func requireSameBytes(t *testing.T, a, b *Log) {
	t.Helper()
	sa, sb := a.Stats(), b.Stats()
	require.Equal(t, sa.MinOffset, sb.MinOffset, "first retained offset")
	end := min(sa.WriteOffset, sb.WriteOffset)
	ba, bb := readRange(t, a, sa.MinOffset, end), readRange(t, b, sa.MinOffset, end)
	for i := sa.FirstIndex; i <= min(sa.LastIndex, sb.LastIndex); i++ {
		pa, err := a.Position(i)
		require.NoError(t, err)
		pb, err := b.Position(i)
		require.NoError(t, err)
		require.Equal(t, pa, pb, "position of %d", i)
		for _, f := range [][2]int64{{8, 12}, {14, 16}} {
			clear(ba[pa.Offset-sa.MinOffset+f[0] : pa.Offset-sa.MinOffset+f[1]])
			clear(bb[pa.Offset-sa.MinOffset+f[0] : pa.Offset-sa.MinOffset+f[1]])
		}
	}
	if !bytes.Equal(ba, bb) {
		i := 0
		for ba[i] == bb[i] {
			i++
		}
		t.Fatalf("bytes differ first at %d: %x vs %x", sa.MinOffset+int64(i), ba[i:min(i+16, len(ba))], bb[i:min(i+16, len(bb))])
	}
}

func readRange(t *testing.T, l *Log, from, to int64) []byte {
	var out []byte
	ss := l.cfg.SegmentSize
	for off := from; off < to; {
		n := min(to, (off/ss+1)*ss) - off
		out = append(out, readSeg(t, l, off, n)...)
		off += n
	}
	return out
}

func readSeg(t *testing.T, l *Log, off, n int64) []byte {
	base := off / l.cfg.SegmentSize * l.cfg.SegmentSize
	b, err := os.ReadFile(filepath.Join(l.segDir, segmentName(base)))
	require.NoError(t, err)
	return b[off-base : off-base+n]
}

func TestHistory_ImportIsByteIdentical(t *testing.T) {
	for _, empty := range []bool{false, true} {
		donor, joiner, jcfg, all := donorAndJoiner(t, 1, 400, 37, 300, empty)
		rng := rand.New(rand.NewSource(2))
		tg := target(t, donor, 300)
		h, err := joiner.OpenHistoryImport(tg)
		require.NoError(t, err)
		info, _ := donor.HistoryInfo(300)
		more, err := h.Begin(info)
		require.NoError(t, err)
		require.True(t, more)
		fetch(t, rng, donor, h, 300, -1)
		require.NoError(t, h.Install())
		last := uint64(400)
		if empty {
			last = 300
			require.NoError(t, joiner.StoreLogs(all[300:])) // the append raft sends next
		}
		requireIndexes(t, joiner, 37, 400)
		requireSameBytes(t, donor, joiner)
		_ = last
		// It survives a restart, and every entry reads back.
		require.NoError(t, joiner.Close())
		joiner = openT(t, jcfg)
		requireIndexes(t, joiner, 37, 400)
		for i := uint64(37); i <= 400; i++ {
			var got raft.Log
			require.NoError(t, joiner.GetLog(i, &got))
			requireSameLog(t, all[i-1], &got)
			pd, _ := donor.Position(i)
			pj, _ := joiner.Position(i)
			require.Equal(t, pd, pj, "position of %d", i)
		}
		requireSameBytes(t, donor, joiner)
		_, err = os.Stat(joiner.historyDir())
		require.True(t, errors.Is(err, os.ErrNotExist), "staging removed")
	}
}

func TestHistory_ResumesAfterACrash(t *testing.T) {
	donor, joiner, jcfg, _ := donorAndJoiner(t, 3, 300, 20, 250, false)
	rng := rand.New(rand.NewSource(4))
	tg := target(t, donor, 250)
	info, _ := donor.HistoryInfo(250)
	h, err := joiner.OpenHistoryImport(tg)
	require.NoError(t, err)
	_, err = h.Begin(info)
	require.NoError(t, err)
	fetch(t, rng, donor, h, 250, h.Bytes()/2)
	// Crash: unsynced staged bytes are refetched, synced ones kept.
	h.Close()
	require.NoError(t, joiner.Close())
	joiner = openT(t, jcfg)
	requireIndexes(t, joiner, 251, 300)
	h, err = joiner.OpenHistoryImport(tg)
	require.NoError(t, err)
	require.Greater(t, h.Next(), info.FirstOffset, "progress kept")
	more, err := h.Begin(info)
	require.NoError(t, err)
	require.True(t, more)
	fetch(t, rng, donor, h, 250, -1)
	require.NoError(t, h.Install())
	requireIndexes(t, joiner, 20, 300)
	requireSameBytes(t, donor, joiner)

	// Another target discards what was staged.
	h, err = joiner.OpenHistoryImport(HistoryTarget{Index: 9, Term: 1, End: 1})
	require.NoError(t, err)
	require.Zero(t, h.Next())
	require.NoError(t, h.Discard())
}

func TestHistory_BadBytesAreRefused(t *testing.T) {
	donor, joiner, _, _ := donorAndJoiner(t, 5, 200, 10, 150, false)
	tg := target(t, donor, 150)
	info, _ := donor.HistoryInfo(150)
	h, err := joiner.OpenHistoryImport(tg)
	require.NoError(t, err)
	_, err = h.Begin(info)
	require.NoError(t, err)
	buf := make([]byte, 4096)
	flipped := false
	for h.Remaining() > 0 {
		k, mt, err := donor.ReadHistory(buf, h.Next(), 150)
		require.NoError(t, err)
		if !flipped && h.Next()-info.FirstOffset > 5000 {
			buf[k/2] ^= 0x40
			flipped = true
		}
		require.NoError(t, h.Write(h.Next(), buf[:k], mt))
	}
	err = h.Install()
	var mm *HistoryMismatchError
	require.ErrorAs(t, err, &mm)
	requireIndexes(t, joiner, 151, 200) // unchanged
	_, err = os.Stat(joiner.historyDir())
	require.True(t, errors.Is(err, os.ErrNotExist), "bad staging discarded")

	// A donor whose entry at the snapshot is another one is refused.
	h, err = joiner.OpenHistoryImport(tg)
	require.NoError(t, err)
	bad := info
	bad.Term++
	_, err = h.Begin(bad)
	require.Error(t, err)
}

func TestHistory_InterruptedInstallLeavesTheLogAsItWas(t *testing.T) {
	donor, joiner, jcfg, all := donorAndJoiner(t, 7, 300, 1, 260, false)
	// Simulate a crash after some staged segments were moved in but before
	// the meta update: segments below the log's start are removed on open.
	info, _ := donor.HistoryInfo(260)
	ss := jcfg.SegmentSize
	first := joiner.segs[0].base
	require.Greater(t, first, info.FirstOffset+ss, "several segments of history")
	for b := first - ss; b >= first-2*ss; b -= ss {
		src, err := os.ReadFile(filepath.Join(donor.segDir, segmentName(b)))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(joiner.segDir, segmentName(b)), src, 0o644))
	}
	require.NoError(t, joiner.Close())
	joiner = openT(t, jcfg)
	requireIndexes(t, joiner, 261, 300)
	for i := uint64(261); i <= 300; i++ {
		var got raft.Log
		require.NoError(t, joiner.GetLog(i, &got))
		requireSameLog(t, all[i-1], &got)
	}
	_, err := os.Stat(filepath.Join(joiner.segDir, segmentName(first-ss)))
	require.True(t, errors.Is(err, os.ErrNotExist))
}

func TestHistory_RetentionHold(t *testing.T) {
	l, _, usage := retentionLog(t)
	l.SetRetentionBound(1 << 40)
	*usage = 0.99
	l.cfg.Retention.CleanForcibly = true
	release := l.HoldRetention()
	res, err := l.RunRetention(timeAt(4))
	require.NoError(t, err)
	require.Zero(t, res.DeletedSegments, "held")
	release()
	res, err = l.RunRetention(timeAt(4))
	require.NoError(t, err)
	require.Positive(t, res.DeletedSegments)
}

func timeAt(h int) time.Time { return time.Date(2026, 11, 23, h, 30, 0, 0, time.Local) }
