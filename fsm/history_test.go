package fsm

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/fsm/consumequeue"
	"github.com/raftmq/raftmq/internal/vfs"
	"github.com/raftmq/raftmq/raftlog"
	"github.com/stretchr/testify/require"
)

// importHistory fetches src's retained entries up to the snapshot dst
// installed into dst's CommitLog, as the group does over the wire.
func importHistory(t *testing.T, src, dst *rig) {
	t.Helper()
	hs, ok := dst.fsm.PendingHistory()
	require.True(t, ok)
	info, err := src.log.HistoryInfo(hs.Snapshot)
	require.NoError(t, err)
	h, err := dst.log.OpenHistoryImport(raftlog.HistoryTarget{Index: hs.Snapshot, Term: hs.Term, End: hs.End})
	require.NoError(t, err)
	more, err := h.Begin(info)
	require.NoError(t, err)
	buf := make([]byte, 3000)
	for more && h.Remaining() > 0 {
		n, mt, err := src.log.ReadHistory(buf, h.Next(), hs.Snapshot)
		require.NoError(t, err)
		require.NoError(t, h.Write(h.Next(), buf[:n], mt))
	}
	require.NoError(t, h.Install())
}

func queueUnits(t *testing.T, f *FSM, topic string, qid int32) (int64, []consumequeue.Unit) {
	q := f.Queue(topic, qid)
	require.NotNil(t, q)
	us, err := q.Range(q.MinOffset(), int(q.MaxOffset()-q.MinOffset()), nil)
	require.NoError(t, err)
	return q.MinOffset(), us
}

// TestFSM_RebuildHistory: a replica restores a snapshot, fetches the
// entries before it and rebuilds its queues and IndexFiles: they are
// those of the replica that applied every entry, including a topic
// deleted and recreated inside the fetched range.
func TestFSM_RebuildHistory(t *testing.T) {
	src := newRig(t, t.TempDir())
	send := func(r *rig, topic string, qid int32, body string) {
		var b EntryBuilder
		b.AddRecords(record(t, topic, qid, body, map[string]string{"KEYS": "k-" + body, "TAGS": "tag" + body[len(body)-1:]}),
			record(t, topic, qid, body+"-2", nil))
		r.propose(&b)
	}
	for i := 0; i < 60; i++ {
		send(src, "T", int32(i%3), fmt.Sprintf("m%02d", i))
		send(src, "Gone", 0, fmt.Sprintf("g%02d", i))
		if i == 40 {
			var b EntryBuilder
			b.Add(CmdDeleteTopic, []byte("Gone"))
			src.propose(&b)
		}
	}
	// Retention removed the head of the log; queues were trimmed.
	require.NoError(t, src.log.DeleteRange(1, 30))
	require.NoError(t, src.fsm.TrimBelow(src.log.Stats().MinOffset))
	first, _ := src.log.FirstIndex()
	require.Greater(t, first, uint64(1), "the head went")

	snap, err := src.fsm.Snapshot()
	require.NoError(t, err)
	sink := &memSink{index: src.fsm.AppliedIndex()}
	require.NoError(t, snap.Persist(sink))

	dst := newRig(t, t.TempDir())
	require.NoError(t, dst.fsm.Restore(sink.reader()))
	require.NoError(t, dst.log.DeleteRange(0, 1<<62)) // raft's removeOldLogs
	// Entries after the snapshot reach both.
	for i := 0; i < 5; i++ {
		var b EntryBuilder
		b.AddRecords(record(t, "T", 1, fmt.Sprintf("after%d", i), map[string]string{"KEYS": "late"}))
		last, _ := src.log.LastIndex()
		l := &raft.Log{Index: last + 1, Term: 1, Type: raft.LogCommand, Data: append([]byte(nil), b.Bytes()...)}
		for _, r := range []*rig{src, dst} {
			require.NoError(t, r.log.StoreLogs([]*raft.Log{l}))
			r.fsm.ApplyBatch([]*raft.Log{l})
		}
	}
	_, ok := dst.fsm.PendingHistory()
	require.True(t, ok, "partial until rebuilt")
	min, _ := queueUnits(t, dst.fsm, "T", 0)
	require.Equal(t, int64(40), min, "restarted at the snapshot")

	importHistory(t, src, dst)
	// Crash after the import, before the rebuild: it resumes from the log.
	dst.crash()
	dst.reopen()
	last, _ := dst.log.LastIndex()
	require.NoError(t, dst.fsm.ReplayTo(last)) // what raft replays after its snapshot
	res, err := dst.fsm.RebuildHistory()
	require.NoError(t, err)
	require.Positive(t, res.Messages)
	_, ok = dst.fsm.PendingHistory()
	require.False(t, ok)

	for _, k := range []struct {
		topic string
		qid   int32
	}{{"T", 0}, {"T", 1}, {"T", 2}, {"Gone", 0}} {
		smin, su := queueUnits(t, src.fsm, k.topic, k.qid)
		dmin, du := queueUnits(t, dst.fsm, k.topic, k.qid)
		require.Equal(t, smin, dmin, "%s/%d min", k.topic, k.qid)
		require.Equal(t, su, du, "%s/%d units", k.topic, k.qid)
	}
	// Old messages are found by key, and read back.
	for _, key := range []string{"k-m20", "k-m59", "k-g45"} {
		topic := "T"
		if key[2] == 'g' {
			topic = "Gone"
		}
		want := src.fsm.QueryIndex(topic, key, 10, 0, 1<<62)
		require.NotEmpty(t, want, key)
		require.Equal(t, want, dst.fsm.QueryIndex(topic, key, 10, 0, 1<<62), key)
	}
	require.Empty(t, dst.fsm.QueryIndex("Gone", "k-g10", 10, 0, 1<<62), "deleted with its topic")
	require.Len(t, dst.fsm.QueryIndex("T", "late", 10, 0, 1<<62), 5, "the live index still works")
	u, err := dst.fsm.Queue("T", 0).Get(dst.fsm.Queue("T", 0).MinOffset())
	require.NoError(t, err)
	a, err := src.fsm.ReadMessage(nil, u.PhysOffset, u.Size)
	require.NoError(t, err)
	b, err := dst.fsm.ReadMessage(nil, u.PhysOffset, u.Size)
	require.NoError(t, err)
	require.True(t, bytes.Equal(a, b))

	// It all survives a restart.
	dst.crash()
	dst.reopen()
	require.NoError(t, dst.fsm.ReplayTo(last))
	for q := int32(0); q < 3; q++ {
		_, su := queueUnits(t, src.fsm, "T", q)
		_, du := queueUnits(t, dst.fsm, "T", q)
		require.Equal(t, su, du)
	}
	require.Equal(t, src.fsm.QueryIndex("T", "k-m20", 10, 0, 1<<62), dst.fsm.QueryIndex("T", "k-m20", 10, 0, 1<<62))
}

// TestFSM_RebuildHistoryWithNothingRetained: when no member holds entries
// before the snapshot, the history is complete as it is.
func TestFSM_RebuildHistoryWithNothingRetained(t *testing.T) {
	src := newRig(t, t.TempDir())
	var b EntryBuilder
	b.AddRecords(record(t, "T", 0, "x", nil))
	src.propose(&b)
	snap, err := src.fsm.Snapshot()
	require.NoError(t, err)
	sink := &memSink{index: src.fsm.AppliedIndex()}
	require.NoError(t, snap.Persist(sink))
	dst := newRig(t, t.TempDir())
	require.NoError(t, dst.fsm.Restore(sink.reader()))
	_, ok := dst.fsm.PendingHistory()
	require.True(t, ok)
	_, err = dst.fsm.RebuildHistory()
	require.NoError(t, err)
	_, ok = dst.fsm.PendingHistory()
	require.False(t, ok)
}

// TestFSM_CheckpointCrashAtEveryOperation: a checkpoint cut at any of its
// file operations (temporary file, write, fsync, rename, directory sync)
// leaves the previous checkpoint or the new one, never a torn or missing
// one, and the FSM restarts from it to the same state.
func TestFSM_CheckpointCrashAtEveryOperation(t *testing.T) {
	for k := 1; ; k++ {
		r := newRig(t, t.TempDir())
		for i := 0; i < 5; i++ {
			var b EntryBuilder
			b.AddRecords(record(t, "T", 0, fmt.Sprintf("m%d", i), nil))
			r.propose(&b)
		}
		_, err := r.fsm.Checkpoint()
		require.NoError(t, err)
		for i := 5; i < 9; i++ {
			var b EntryBuilder
			b.AddRecords(record(t, "T", 0, fmt.Sprintf("m%d", i), nil))
			r.propose(&b)
		}
		f := vfs.NewFaultFS(nil)
		f.CrashAt(k)
		r.fsm.cfg.FS = f
		_, err = r.fsm.Checkpoint()
		if !f.Crashed() {
			require.NoError(t, err)
			require.Greater(t, k, 3, "a checkpoint does several file operations")
			return
		}
		require.ErrorIs(t, err, vfs.ErrCrashed)
		r.crash()
		r.reopen()
		last, _ := r.log.LastIndex()
		require.NoError(t, r.fsm.ReplayTo(last), "crash at checkpoint operation %d", k)
		q := r.fsm.Queue("T", 0)
		require.Equal(t, int64(9), q.MaxOffset(), "crash at checkpoint operation %d", k)
		r.close()
	}
}
