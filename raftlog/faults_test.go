package raftlog

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/internal/vfs"
	"github.com/stretchr/testify/require"
)

// faultConfig is a log on fsys with tiny segments and index files, so a
// short workload seals, rotates and creates index files many times, and
// with no background file operations (their order would not repeat).
func faultConfig(dir string, fsys vfs.FS) Config {
	c := testConfig(dir)
	c.FS = fsys
	c.Preallocate = PreallocFallocate
	return c
}

// model is what the log must hold: acknowledged state, plus the operation
// in flight when a fault hit (its effect may be whole, partial or none).
type model struct {
	entries     map[uint64]*raft.Log // acknowledged
	first, last uint64
	// In flight: a batch being stored, or a deletion.
	batch       []*raft.Log
	delMin      uint64 // suffix deletion from delMin
	headDelTo   uint64 // head deletion up to headDelTo
	inflightOp  string
	inflightErr error
}

// workload runs a deterministic sequence of appends, suffix truncations
// (raft's conflict resolution) and head deletions (retention) until an
// operation fails; m records what was acknowledged.
func workload(l *Log, m *model) {
	rng := rand.New(rand.NewSource(42))
	m.entries = map[uint64]*raft.Log{}
	term := uint64(1)
	for step := 0; step < 60; step++ {
		switch {
		case step%17 == 16 && m.last-m.first > 6: // conflict truncation of the last 3
			min := m.last - 2
			m.inflightOp, m.delMin = "truncate", min
			if err := l.DeleteRange(min, m.last); err != nil {
				m.inflightErr = err
				return
			}
			for i := min; i <= m.last; i++ {
				delete(m.entries, i)
			}
			m.last = min - 1
			m.delMin = 0
			term++
		case step%23 == 22 && m.last-m.first > 10: // head deletion
			to := m.first + 4
			m.inflightOp, m.headDelTo = "delete head", to
			if err := l.DeleteRange(m.first, to); err != nil {
				m.inflightErr = err
				return
			}
			for i := m.first; i <= to; i++ {
				delete(m.entries, i)
			}
			m.first = to + 1
			m.headDelTo = 0
		default:
			b := genLogs(rng, m.last+1, term, 1+rng.Intn(5), 1500)
			m.inflightOp, m.batch = "store", b
			if err := l.StoreLogs(b); err != nil {
				m.inflightErr = err
				return
			}
			for _, e := range b {
				m.entries[e.Index] = e
			}
			if m.first == 0 {
				m.first = b[0].Index
			}
			m.last = b[len(b)-1].Index
			m.batch = nil
		}
		m.inflightOp = ""
	}
}

// check verifies a reopened log against the model: every acknowledged
// entry is there unless the deletion in flight may have removed it, and
// nothing else is, but for a prefix of the batch in flight.
func (m *model) check(t *testing.T, l *Log, what string) {
	t.Helper()
	first, _ := l.FirstIndex()
	last, _ := l.LastIndex()
	wantLast := m.last
	switch m.inflightOp {
	case "store":
		require.GreaterOrEqual(t, last, m.last, "%s: acknowledged entries lost", what)
		require.LessOrEqual(t, last, m.last+uint64(len(m.batch)), what)
		wantLast = last
	case "truncate":
		require.True(t, last == m.last || (last >= m.delMin-1 && last <= m.last), "%s: last %d after truncating from %d (was %d)", what, last, m.delMin, m.last)
		wantLast = last
	default:
		require.Equal(t, m.last, last, "%s: last index", what)
	}
	if m.inflightOp == "delete head" {
		require.True(t, first >= m.first && first <= m.headDelTo+1, "%s: first %d while deleting [%d,%d]", what, first, m.first, m.headDelTo)
	} else if m.first > 0 {
		require.Equal(t, m.first, first, "%s: first index", what)
	}
	for i := first; i <= wantLast && i > 0; i++ {
		var got raft.Log
		require.NoError(t, l.GetLog(i, &got), "%s: entry %d", what, i)
		want := m.entries[i]
		if want == nil && len(m.batch) > 0 && i >= m.batch[0].Index {
			want = m.batch[i-m.batch[0].Index]
		}
		require.NotNil(t, want, "%s: entry %d was never written", what, i)
		requireSameLog(t, want, &got)
	}
	// The log takes the next entry.
	next := &raft.Log{Index: last + 1, Term: 1 << 40, Type: raft.LogCommand, Data: []byte("after")}
	require.NoError(t, l.StoreLogs([]*raft.Log{next}), what)
}

// TestFaults_CrashBetweenAnyTwoOperations: the workload is cut at every
// one of its file operations (segment and index file creation, writes,
// fdatasyncs, seals, rotations, suffix truncations, head deletions and
// their meta updates, directory syncs); whatever was written before stays
// (a process crash: the page cache survives). Reopened, the log always
// recovers, holds every acknowledged entry and nothing it should not.
func TestFaults_CrashBetweenAnyTwoOperations(t *testing.T) {
	counter := vfs.NewFaultFS(nil)
	l, err := Open(faultConfig(t.TempDir(), counter))
	require.NoError(t, err)
	var full model
	workload(l, &full)
	require.NoError(t, full.inflightErr)
	total := counter.Ops() // the workload's; Close's own are not crash points here
	require.NoError(t, l.Close())
	require.Greater(t, total, 100, "the workload does file operations")
	kinds := map[vfs.OpKind]bool{}
	rec := vfs.NewFaultFS(nil)
	rec.Record(true)
	l, err = Open(faultConfig(t.TempDir(), rec))
	require.NoError(t, err)
	workload(l, &model{})
	l.Close()
	for _, op := range rec.Log() {
		kinds[op.Kind] = true
	}
	for _, k := range []vfs.OpKind{vfs.OpCreate, vfs.OpWrite, vfs.OpDatasync, vfs.OpAllocate, vfs.OpPunchHole, vfs.OpRemove, vfs.OpSyncDir, vfs.OpRename} {
		require.True(t, kinds[k], "the workload does %s", k)
	}

	for k := 1; k <= total; k++ {
		dir := memDir(t)
		f := vfs.NewFaultFS(nil)
		f.CrashAt(k)
		var m model
		l, err := Open(faultConfig(dir, f))
		if err != nil {
			require.ErrorIs(t, err, vfs.ErrCrashed) // crashed while creating the log
		} else {
			workload(l, &m)
			require.True(t, f.Crashed(), "crash point %d", k)
			require.ErrorIs(t, m.inflightErr, vfs.ErrCrashed, "crash point %d", k)
			l.Close()
		}
		what := fmt.Sprintf("crash at operation %d of %d (in %s)", k, total, m.inflightOp)
		l2, err := Open(faultConfig(dir, nil))
		require.NoError(t, err, what)
		m.check(t, l2, what)
		require.NoError(t, l2.Close())
	}
}

// memDir is a temporary directory in memory when the machine has one
// (hundreds of logs are created; their fdatasyncs need not reach a disk).
func memDir(t *testing.T) string {
	d, err := os.MkdirTemp("/dev/shm", "raftlog-faults-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// TestFaults_FsyncFailureIsSticky: after an fdatasync fails, the state of
// the file is unknown (fsyncgate): the batch is not acknowledged and the
// log refuses every later write until reopened; reopened, it holds every
// acknowledged entry.
func TestFaults_FsyncFailureIsSticky(t *testing.T) {
	dir := t.TempDir()
	f := vfs.NewFaultFS(nil)
	syncs := 0
	f.Inject(func(op vfs.Op) error {
		if op.Kind == vfs.OpDatasync && strings.Contains(op.Path, "commitlog") {
			if syncs++; syncs == 20 {
				return syscall.EIO
			}
		}
		return nil
	})
	l, err := Open(faultConfig(dir, f))
	require.NoError(t, err)
	var m model
	workload(l, &m)
	require.ErrorIs(t, m.inflightErr, syscall.EIO)
	next := &raft.Log{Index: m.last + 1, Term: 99, Type: raft.LogCommand}
	require.ErrorIs(t, l.StoreLogs([]*raft.Log{next}), syscall.EIO, "sticky")
	l.Close()
	l, err = Open(faultConfig(dir, nil))
	require.NoError(t, err)
	m.check(t, l, "after an fdatasync failure")
	l.Close()
}

// TestFaults_DiskFull: ENOSPC creating a segment is ErrDiskFull and not
// sticky (nothing was written: the append is retried); ENOSPC or a short
// write inside a segment fails the log (sticky), and reopening cuts the
// torn bytes.
func TestFaults_DiskFull(t *testing.T) {
	t.Run("segment creation", func(t *testing.T) {
		f := vfs.NewFaultFS(nil)
		full := false
		f.Inject(func(op vfs.Op) error {
			if full && op.Kind == vfs.OpAllocate && strings.Contains(op.Path, "commitlog") {
				return syscall.ENOSPC
			}
			return nil
		})
		cfg := faultConfig(t.TempDir(), f)
		cfg.Retention.DiskRejectRatio = 1 // DiskFull below follows the refusal, not this host's disk
		l := openT(t, cfg)
		rng := rand.New(rand.NewSource(1))
		idx := uint64(1)
		refused := 0
		for n := 0; n < 30; n++ {
			b := genLogs(rng, idx, 1, 1, 1000)
			full = n >= 10
			err := l.StoreLogs(b)
			if err != nil {
				refused++
				require.ErrorIs(t, err, ErrDiskFull, "entry %d", idx)
				// The transport tells the leader why, for this batch only.
				require.ErrorIs(t, l.StoreFailure(b), ErrDiskFull)
				require.NoError(t, l.StoreFailure(genLogs(rng, idx, 1, 1, 10)), "another request's entries")
				// The filesystem had the last word: full, whatever the
				// space reading says, until an append succeeds.
				_, err := l.refreshSpace()
				require.NoError(t, err)
				require.True(t, l.DiskFull())
				full = false
				require.NoError(t, l.StoreLogs(b), "retried once there is room")
				require.NoError(t, l.StoreFailure(b), "cleared by the successful retry")
				_, err = l.refreshSpace()
				require.NoError(t, err)
				require.False(t, l.DiskFull())
			}
			idx++
		}
		require.Positive(t, refused, "a new segment was refused")
		requireIndexes(t, l, 1, 30)
		// Not a full disk: a mismatch is answered as one.
		gap := genLogs(rng, idx+5, 1, 1, 10)
		require.ErrorIs(t, l.StoreLogs(gap), ErrNonContiguous)
		require.NoError(t, l.StoreFailure(gap))
	})
	for _, tc := range []struct {
		name string
		err  func() error
	}{
		{"ENOSPC on write", func() error { return syscall.ENOSPC }},
		{"short write", func() error { return &vfs.ShortWrite{Err: syscall.ENOSPC} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := vfs.NewFaultFS(nil)
			writes := 0
			f.Inject(func(op vfs.Op) error {
				if op.Kind == vfs.OpWrite && strings.Contains(op.Path, "commitlog") && op.N > 100 {
					if writes++; writes == 25 {
						return tc.err()
					}
				}
				return nil
			})
			l, err := Open(faultConfig(dir, f))
			require.NoError(t, err)
			var m model
			workload(l, &m)
			require.True(t, errors.Is(m.inflightErr, syscall.ENOSPC), "%v", m.inflightErr)
			next := &raft.Log{Index: m.last + 1, Term: 99, Type: raft.LogCommand}
			require.Error(t, l.StoreLogs([]*raft.Log{next}), "sticky")
			l.Close()
			l, err = Open(faultConfig(dir, nil))
			require.NoError(t, err)
			m.check(t, l, tc.name)
			l.Close()
		})
	}
}
