package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/fsm/consumequeue"
	"github.com/raftmq/raftmq/fsm/indexfile"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/raftlog"
	"github.com/stretchr/testify/require"
)

type rig struct {
	t   *testing.T
	dir string
	log *raftlog.Log
	fsm *FSM
}

func testFSMConfig(dir string, log *raftlog.Log) Config {
	c := DefaultConfig(dir, log)
	c.OnSnapshot = log.SetRetentionBound
	c.OnRestore = func(index uint64, end int64) error { return log.SetNextStart(index+1, end) }
	c.ConsumeQueueFileEntries = 8
	c.Index = indexfile.Config{SlotCount: 64, MaxEntries: 50}
	return c
}

func newRig(t *testing.T, dir string) *rig {
	t.Helper()
	lc := raftlog.DefaultConfig(dir)
	lc.SegmentSize = 16 << 10
	lc.IndexFileEntries = 64
	lc.Retention.CheckInterval = 0
	l, err := raftlog.Open(lc)
	require.NoError(t, err)
	f, err := Open(testFSMConfig(dir, l))
	require.NoError(t, err)
	r := &rig{t: t, dir: dir, log: l, fsm: f}
	t.Cleanup(r.close)
	return r
}

func (r *rig) close() {
	if r.fsm != nil {
		r.fsm.Close()
		r.fsm = nil
	}
	if r.log != nil {
		r.log.Close()
		r.log = nil
	}
}

// crash drops the FSM without a final checkpoint (as SIGKILL would).
func (r *rig) crash() {
	r.fsm.mu.Lock()
	for _, q := range r.fsm.queues {
		q.Close()
	}
	r.fsm.mu.Unlock()
	r.fsm.index.Close()
	r.fsm = nil
	r.log.Close()
	r.log = nil
}

func (r *rig) reopen() {
	r.t.Helper()
	lc := raftlog.DefaultConfig(r.dir)
	lc.SegmentSize = 16 << 10
	lc.IndexFileEntries = 64
	lc.Retention.CheckInterval = 0
	var err error
	r.log, err = raftlog.Open(lc)
	require.NoError(r.t, err)
	r.fsm, err = Open(testFSMConfig(r.dir, r.log))
	require.NoError(r.t, err)
}

func record(t testing.TB, topic string, qid int32, body string, props map[string]string) []byte {
	t.Helper()
	m := &message.MessageExt{
		Message:        message.Message{Topic: topic, Body: []byte(body), Properties: props},
		QueueID:        qid,
		BornTimestamp:  1700000000000,
		BornHost:       netip.MustParseAddrPort("127.0.0.1:5000"),
		StoreTimestamp: 1700000000100,
		StoreHost:      netip.MustParseAddrPort("127.0.0.1:10911"),
	}
	rec, err := message.AppendRecord(nil, m)
	require.NoError(t, err)
	return rec
}

// propose stores an entry in the log and applies it, as raft would.
func (r *rig) propose(b *EntryBuilder) *EntryResult {
	r.t.Helper()
	last, _ := r.log.LastIndex()
	l := &raft.Log{Index: last + 1, Term: 1, Type: raft.LogCommand, Data: append([]byte(nil), b.Bytes()...)}
	require.NoError(r.t, r.log.StoreLogs([]*raft.Log{l}))
	out := r.fsm.ApplyBatch([]*raft.Log{l})
	return out[0].(*EntryResult)
}

func TestFSM_AppendAssignsOffsetsAndServesReads(t *testing.T) {
	r := newRig(t, t.TempDir())
	var b EntryBuilder
	var recs [][]byte
	for i := 0; i < 3; i++ {
		rec := record(t, "T", 1, fmt.Sprintf("m%d", i), map[string]string{"TAGS": "A", "KEYS": fmt.Sprintf("k%d shared", i), "UNIQ_KEY": fmt.Sprintf("U%d", i)})
		recs = append(recs, rec)
	}
	b.AddRecords(recs[0], recs[1]) // one batch request
	b.AddRecords(recs[2])          // another request in the same entry
	require.NoError(t, b.AddJSON(CmdTopic, TopicCommand{Config: TopicConfig{TopicName: "T", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6}}))
	res := r.propose(&b)
	require.Len(t, res.Results, 3)
	a0 := res.Results[0].(*AppendResult)
	a1 := res.Results[1].(*AppendResult)
	require.Equal(t, int64(0), a0.QueueOffset)
	require.Len(t, a0.PhysOffsets, 2)
	require.Equal(t, int64(2), a1.QueueOffset)
	tc, ok := r.fsm.Topic("T")
	require.True(t, ok)
	require.Equal(t, int32(4), tc.WriteQueueNums)

	q := r.fsm.Queue("T", 1)
	require.Equal(t, int64(3), q.MaxOffset())
	units, err := q.Range(0, 10, nil)
	require.NoError(t, err)
	for i, u := range units {
		got, err := r.fsm.ReadMessage(nil, u.PhysOffset, u.Size)
		require.NoError(t, err)
		want := append([]byte(nil), recs[i]...)
		require.Equal(t, want, got, "record %d bytes are stored once and read back verbatim", i)
		require.Equal(t, message.TagsHashCode("A"), u.TagHash)
	}
	// Appended after what dst holds, in its spare capacity too; a failed
	// or nonsensical read leaves dst as it was.
	dst := make([]byte, 3, 4096)
	copy(dst, "abc")
	both, err := r.fsm.ReadMessage(dst, units[0].PhysOffset, units[0].Size)
	require.NoError(t, err)
	require.Equal(t, append([]byte("abc"), recs[0]...), both)
	kept, err := r.fsm.ReadMessage(dst, units[0].PhysOffset, -1)
	require.Error(t, err, "a negative size (a corrupt unit) is an error, not a panic")
	require.Equal(t, []byte("abc"), kept)
	kept, err = r.fsm.ReadMessage(dst, units[0].PhysOffset, 1<<30)
	require.Error(t, err)
	require.Equal(t, []byte("abc"), kept)
	require.ElementsMatch(t, []int64{units[1].PhysOffset}, r.fsm.QueryIndex("T", "k1", 10, 0, 1<<62))
	require.Len(t, r.fsm.QueryIndex("T", "shared", 10, 0, 1<<62), 3)
	require.Equal(t, []int64{units[2].PhysOffset}, r.fsm.QueryIndex("T", "U2", 10, 0, 1<<62))
}

func TestFSM_CrashReplayIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, dir)
	apply := func(n int, from int) {
		for i := 0; i < n; i++ {
			var b EntryBuilder
			b.AddRecords(record(t, "T", int32(i%2), fmt.Sprintf("m%d", from+i), map[string]string{"KEYS": fmt.Sprintf("k%d", from+i)}))
			require.NoError(t, b.AddJSON(CmdOffsets, []OffsetCommit{{Group: "G", Topic: "T", QueueID: 0, Offset: int64(from + i)}}))
			r.propose(&b)
		}
	}
	apply(10, 0)
	_, err := r.fsm.Checkpoint()
	require.NoError(t, err)
	apply(10, 10) // after the checkpoint: in the queues, not in the checkpoint
	r.crash()
	r.reopen()
	// Back at the checkpoint...
	require.Equal(t, int64(5), r.fsm.Queue("T", 0).MaxOffset())
	// ...and the log replays the rest exactly once.
	last, _ := r.log.LastIndex()
	require.NoError(t, r.fsm.ReplayTo(last))
	require.Equal(t, int64(10), r.fsm.Queue("T", 0).MaxOffset())
	require.Equal(t, int64(10), r.fsm.Queue("T", 1).MaxOffset())
	off, ok := r.fsm.ConsumerOffset("G", "T", 0)
	require.True(t, ok)
	require.Equal(t, int64(19), off)
	for i := 0; i < 20; i++ {
		require.Len(t, r.fsm.QueryIndex("T", fmt.Sprintf("k%d", i), 10, 0, 1<<62), 1, "key k%d indexed once", i)
	}
	// Re-applying an already applied entry (raft replays after its snapshot)
	// changes nothing.
	var l raft.Log
	require.NoError(t, r.log.GetLog(last, &l))
	r.fsm.mu.Lock()
	r.fsm.skipTo = last
	r.fsm.mu.Unlock()
	r.fsm.ApplyBatch([]*raft.Log{&l})
	require.Equal(t, int64(10), r.fsm.Queue("T", 1).MaxOffset())
}

func TestFSM_SnapshotRestoreOnEmptyReplica(t *testing.T) {
	src := newRig(t, t.TempDir())
	for i := 0; i < 7; i++ {
		var b EntryBuilder
		b.AddRecords(record(t, "T", 0, fmt.Sprintf("m%d", i), nil))
		src.propose(&b)
	}
	require.NoError(t, func() error {
		var b EntryBuilder
		return b.AddJSON(CmdOffsets, []OffsetCommit{{Group: "G", Topic: "T", QueueID: 0, Offset: 4}})
	}())
	snap, err := src.fsm.Snapshot()
	require.NoError(t, err)
	sink := &memSink{index: src.fsm.AppliedIndex()}
	require.NoError(t, snap.Persist(sink))

	dst := newRig(t, t.TempDir())
	require.NoError(t, dst.fsm.Restore(sink.reader()))
	require.NoError(t, dst.log.DeleteRange(0, 1<<62)) // raft's removeOldLogs
	q := dst.fsm.Queue("T", 0)
	require.Equal(t, int64(7), q.MinOffset())
	require.Equal(t, int64(7), q.MaxOffset())

	// The next entry lands at the same physical offset on both replicas.
	var b EntryBuilder
	b.AddRecords(record(t, "T", 0, "after", nil))
	l := &raft.Log{Index: snap.(*snapshot).st.Index + 1, Term: 1, Type: raft.LogCommand, Data: append([]byte(nil), b.Bytes()...)}
	require.NoError(t, src.log.StoreLogs([]*raft.Log{l}))
	require.NoError(t, dst.log.StoreLogs([]*raft.Log{l}))
	ra := src.fsm.ApplyBatch([]*raft.Log{l})[0].(*EntryResult).Results[0].(*AppendResult)
	rb := dst.fsm.ApplyBatch([]*raft.Log{l})[0].(*EntryResult).Results[0].(*AppendResult)
	require.Equal(t, ra, rb)
	require.Equal(t, int64(7), rb.QueueOffset)
	u, err := dst.fsm.Queue("T", 0).Get(7)
	require.NoError(t, err)
	got, err := dst.fsm.ReadMessage(nil, u.PhysOffset, u.Size)
	require.NoError(t, err)
	require.True(t, bytes.Contains(got, []byte("after")))
	_, err = dst.fsm.Queue("T", 0).Get(6)
	require.ErrorIs(t, err, consumequeue.ErrOffset)
}

func TestEntry_DecodeRejectsGarbage(t *testing.T) {
	var b EntryBuilder
	b.Add(CmdDeleteTopic, []byte("T"))
	b.Add(CmdDeleteGroup, []byte("G"))
	cmds, err := DecodeEntry(b.Bytes(), nil)
	require.NoError(t, err)
	require.Len(t, cmds, 2)
	require.Equal(t, "G", string(cmds[1].Payload))
	for _, bad := range [][]byte{nil, {0xE7}, append(append([]byte(nil), b.Bytes()...), 1), b.Bytes()[:len(b.Bytes())-1]} {
		_, err := DecodeEntry(bad, nil)
		require.ErrorIs(t, err, ErrBadEntry)
	}
}

type memSink struct {
	bytes.Buffer
	closed bool
	index  uint64 // the raft index of the snapshot
}

func (s *memSink) Index() uint64 { return s.index }

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { return nil }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) reader() *readCloser {
	return &readCloser{bytes.NewReader(s.Bytes())}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// FuzzDecodeEntry: arbitrary entry bytes never panic the decoder, and the
// commands it accepts re-encode to the same bytes.
func FuzzDecodeEntry(f *testing.F) {
	var b EntryBuilder
	b.Add(CmdDeleteTopic, []byte("T"))
	f.Add(append([]byte(nil), b.Bytes()...))
	b.Reset()
	b.AddRecords([]byte("not a record"))
	b.AddJSON(CmdOffsets, []OffsetCommit{{Group: "G", Topic: "T", Offset: 3}})
	f.Add(append([]byte(nil), b.Bytes()...))
	f.Add([]byte{0xE7, 1, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		cmds, err := DecodeEntry(data, nil)
		if err != nil {
			return
		}
		var eb EntryBuilder
		for _, c := range cmds {
			eb.Add(c.Type, c.Payload)
			if c.Type == CmdAppend {
				WalkRecords(c.Payload, func(int, []byte, *message.RecordView) error { return nil })
			}
		}
		if len(cmds) > 0 && !bytes.Equal(eb.Bytes(), data) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func TestFSM_TrimBelowMovesMinOffsets(t *testing.T) {
	r := newRig(t, t.TempDir())
	for i := 0; i < 20; i++ {
		var b EntryBuilder
		b.AddRecords(record(t, "T", 0, fmt.Sprintf("m%d", i), map[string]string{"KEYS": fmt.Sprint(i)}))
		r.propose(&b)
	}
	q := r.fsm.Queue("T", 0)
	u, err := q.Get(12)
	require.NoError(t, err)
	require.NoError(t, r.fsm.TrimBelow(u.PhysOffset))
	require.Equal(t, int64(12), q.MinOffset())
	require.Equal(t, int64(20), q.MaxOffset())
	_, err = q.Get(11)
	require.ErrorIs(t, err, consumequeue.ErrOffset)
	// Survives a restart.
	_, err = r.fsm.Checkpoint()
	require.NoError(t, err)
	r.crash()
	r.reopen()
	require.Equal(t, int64(12), r.fsm.Queue("T", 0).MinOffset())
	require.Equal(t, int64(20), r.fsm.Queue("T", 0).MaxOffset())
}

// LowestUnconsumed follows the slowest consumer group of each queue, and
// treats queues nobody committed on as unconsumed from their start.
func TestFSM_LowestUnconsumed(t *testing.T) {
	r := newRig(t, t.TempDir())
	require.Equal(t, int64(math.MaxInt64), r.fsm.LowestUnconsumed())
	var phys [2][]int64
	for i := 0; i < 6; i++ {
		var b EntryBuilder
		b.AddRecords(record(t, "T", int32(i%2), fmt.Sprintf("m%d", i), nil))
		res := r.propose(&b)
		a := res.Results[0].(*AppendResult)
		phys[i%2] = append(phys[i%2], a.PhysOffsets[0])
	}
	require.Equal(t, phys[0][0], r.fsm.LowestUnconsumed(), "no group: everything is needed")
	commit := func(oc ...OffsetCommit) {
		var b EntryBuilder
		require.NoError(t, b.AddJSON(CmdOffsets, oc))
		r.propose(&b)
	}
	commit(OffsetCommit{Group: "A", Topic: "T", QueueID: 0, Offset: 2})
	require.Equal(t, phys[1][0], r.fsm.LowestUnconsumed(), "queue 1 has no offset of A")
	commit(OffsetCommit{Group: "A", Topic: "T", QueueID: 1, Offset: 3})
	require.Equal(t, phys[0][2], r.fsm.LowestUnconsumed())
	commit(OffsetCommit{Group: "B", Topic: "T", QueueID: 0, Offset: 1}, OffsetCommit{Group: "B", Topic: "T", QueueID: 1, Offset: 3})
	require.Equal(t, phys[0][1], r.fsm.LowestUnconsumed(), "the slowest group counts")
	commit(OffsetCommit{Group: "B", Topic: "T", QueueID: 0, Offset: 3}, OffsetCommit{Group: "A", Topic: "T", QueueID: 0, Offset: 3})
	require.Equal(t, int64(math.MaxInt64), r.fsm.LowestUnconsumed(), "all consumed")
}

// raft counts barrier and no-op entries in a snapshot's index but never
// applies them: the snapshot must still describe its own index, so that a
// replica installing it continues the CommitLog where the others do.
func TestFSM_SnapshotAtABarrierIndex(t *testing.T) {
	src := newRig(t, t.TempDir())
	for i := 0; i < 3; i++ {
		var b EntryBuilder
		b.AddRecords(record(t, "T", 0, fmt.Sprintf("m%d", i), nil))
		src.propose(&b)
	}
	snap, err := src.fsm.Snapshot()
	require.NoError(t, err)
	// Two barriers after the last command; raft snapshots at the second.
	last, _ := src.log.LastIndex()
	barriers := []*raft.Log{{Index: last + 1, Term: 2, Type: raft.LogBarrier}, {Index: last + 2, Term: 2, Type: raft.LogNoop}}
	require.NoError(t, src.log.StoreLogs(barriers))
	sink := &memSink{index: last + 2}
	require.NoError(t, snap.Persist(sink))
	var st State
	require.NoError(t, json.Unmarshal(sink.Bytes(), &st))
	require.Equal(t, last+2, st.Index)
	require.Equal(t, uint64(2), st.Term)
	p, err := src.log.Position(last + 2)
	require.NoError(t, err)
	require.Equal(t, p.End(), st.CommitLogEnd)
	ck, err := loadCheckpoint(src.fsm.ckPath)
	require.NoError(t, err)
	require.Equal(t, last+2, ck.Index, "the checkpoint is not older than the snapshot")
	require.Equal(t, last, ck.LastCommand)

	dst := newRig(t, t.TempDir())
	require.NoError(t, dst.fsm.Restore(sink.reader()))
	require.NoError(t, dst.log.DeleteRange(0, 1<<62))
	var b EntryBuilder
	b.AddRecords(record(t, "T", 0, "after", nil))
	l := &raft.Log{Index: last + 3, Term: 2, Type: raft.LogCommand, Data: append([]byte(nil), b.Bytes()...)}
	require.NoError(t, src.log.StoreLogs([]*raft.Log{l}))
	require.NoError(t, dst.log.StoreLogs([]*raft.Log{l}))
	pa, _ := src.log.Position(last + 3)
	pb, _ := dst.log.Position(last + 3)
	require.Equal(t, pa, pb, "the same physical offset on both replicas")

	// A command between the captured state and the snapshot's index is a
	// bug: refused, not papered over.
	snap2, err := src.fsm.Snapshot()
	require.NoError(t, err)
	var c EntryBuilder
	c.AddRecords(record(t, "T", 0, "unapplied", nil))
	require.NoError(t, src.log.StoreLogs([]*raft.Log{{Index: last + 4, Term: 2, Type: raft.LogCommand, Data: c.Bytes()}}))
	require.Error(t, snap2.Persist(&memSink{index: last + 4}))
}

// A message with more keys than indexBuf holds is indexed under all of
// them, and so is the message after it in the same entry.
func TestFSM_ManyKeysAreAllIndexed(t *testing.T) {
	r := newRig(t, t.TempDir())
	// Short distinct keys (base 62), to fit the rig's 16 KiB segments.
	const digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	keys := make([]string, indexBufMax+10)
	for i := range keys {
		k := ""
		for n := i + 1; n > 0; n /= len(digits) {
			k += string(digits[n%len(digits)])
		}
		keys[i] = k
	}
	var b EntryBuilder
	b.AddRecords(record(t, "T", 0, "many", map[string]string{"KEYS": strings.Join(keys, " ")}),
		record(t, "T", 0, "next", map[string]string{"KEYS": "after"}))
	res := r.propose(&b)
	a := res.Results[0].(*AppendResult)
	require.Len(t, a.PhysOffsets, 2)
	for _, k := range []string{keys[0], keys[indexBufMax-1], keys[indexBufMax], keys[len(keys)-1]} {
		require.Equal(t, []int64{a.PhysOffsets[0]}, r.fsm.QueryIndex("T", k, 10, 0, 1<<62), k)
	}
	require.Equal(t, []int64{a.PhysOffsets[1]}, r.fsm.QueryIndex("T", "after", 10, 0, 1<<62))
	require.Zero(t, r.fsm.IndexErrors.Load())
}
