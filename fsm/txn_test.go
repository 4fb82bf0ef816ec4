package fsm

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/raftmq/raftmq/message"
	"github.com/stretchr/testify/require"
)

func halfRecord(t *testing.T, topic string, qid int, body string) []byte {
	return record(t, message.TransHalfTopic, 0, body, map[string]string{
		message.PropertyProducerGroup: "PG", message.PropertyRealTopic: topic,
		message.PropertyRealQueueID: fmt.Sprint(qid), message.PropertyTransactionPrepared: "true"})
}

func (r *rig) txnEntry(half int64, outcome string, then ...[]byte) *EntryResult {
	var b EntryBuilder
	require.NoError(r.t, b.AddJSON(CmdTxn, TxnCommand{Op: TxnOpEnd, Half: half, Outcome: outcome, With: len(then)}))
	for _, rec := range then {
		b.AddRecords(rec)
	}
	// Another proposal batched into the same entry is not affected.
	b.AddRecords(record(r.t, "Other", 0, "x", nil))
	return r.propose(&b)
}

func TestFSM_Transactions(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, dir)
	var halves []int64
	for i := 0; i < 3; i++ {
		var b EntryBuilder
		b.AddRecords(halfRecord(t, "T", 1, fmt.Sprintf("h%d", i)))
		res := r.propose(&b)
		ar := res.Results[0].(*AppendResult)
		require.Equal(t, int64(i), ar.QueueOffset)
		halves = append(halves, ar.PhysOffsets[0])
	}
	open := r.fsm.Txns()
	require.Len(t, open, 3)
	require.Equal(t, TxnState{Half: halves[1], Size: open[1].Size, QueueOffset: 1, ProducerGroup: "PG", Topic: "T", QueueID: 1,
		StoreTime: 1700000000100}, open[1])
	require.Equal(t, halves[0], r.fsm.LowestUnconsumed(), "an open half message is retained")

	// Commit: the message is appended once; a second commit (a racing
	// check-back answer) is rejected with its message.
	res := r.txnEntry(halves[0], TxnCommit, record(t, "T", 1, "h0", nil))
	require.IsType(t, &TxnState{}, res.Results[0])
	committed := res.Results[1].(*AppendResult).PhysOffsets[0]
	res = r.txnEntry(halves[0], TxnCommit, record(t, "T", 1, "h0", nil))
	var rej *RejectedError
	require.True(t, errors.As(res.Results[0].(error), &rej))
	require.True(t, errors.As(res.Results[1].(error), &rej), "the commit's message is rejected with its end")
	require.IsType(t, &AppendResult{}, res.Results[2], "a rejected end rejects only what it carries")
	require.Equal(t, int64(1), r.fsm.Queue("T", 1).MaxOffset(), "committed exactly once")

	// Checks are counted; a rollback ends without a message.
	var b EntryBuilder
	require.NoError(t, b.AddJSON(CmdTxn, TxnCommand{Op: TxnOpCheck, Checked: []int64{halves[1], halves[2], 12345}, At: 99}))
	r.propose(&b)
	st, ok := r.fsm.Txn(halves[1])
	require.True(t, ok)
	require.Equal(t, 1, st.Checks)
	require.Equal(t, int64(99), st.LastCheck)
	res = r.txnEntry(halves[1], TxnRollback)
	require.IsType(t, &TxnState{}, res.Results[0])
	_, ok = r.fsm.Txn(halves[1])
	require.False(t, ok)
	res = r.txnEntry(halves[1], "maybe")
	require.True(t, errors.As(res.Results[0].(error), &rej), "an unknown outcome is rejected")

	// The open set survives a crash (checkpoint + replay) and a snapshot.
	_, err := r.fsm.Checkpoint()
	require.NoError(t, err)
	var b2 EntryBuilder
	b2.AddRecords(halfRecord(t, "T", 0, "h3"))
	r.propose(&b2)
	r.crash()
	r.reopen()
	last, _ := r.log.LastIndex()
	require.NoError(t, r.fsm.ReplayTo(last))
	open = r.fsm.Txns()
	require.Len(t, open, 2)
	require.Equal(t, halves[2], open[0].Half)
	require.Equal(t, 1, open[0].Checks)
	require.Equal(t, int64(3), open[1].QueueOffset)

	r.txnEntry(open[0].Half, TxnDiscard)
	r.txnEntry(open[1].Half, TxnRollback)
	require.Zero(t, r.fsm.OpenTxns())
	var b3 EntryBuilder
	require.NoError(t, b3.AddJSON(CmdOffsets, []OffsetCommit{{Group: "G", Topic: "Other", QueueID: 0, Offset: 100}}))
	r.propose(&b3)
	require.Equal(t, committed, r.fsm.LowestUnconsumed(), "the half queue does not hold retention once every transaction ended")
	b3.Reset()
	require.NoError(t, b3.AddJSON(CmdOffsets, []OffsetCommit{{Group: "G", Topic: "T", QueueID: 1, Offset: 1}}))
	r.propose(&b3)
	require.Equal(t, int64(math.MaxInt64), r.fsm.LowestUnconsumed())
}

// TestFSM_AdvanceAtMostOnce: a scheduler move (offset from an expected
// value, with the moved messages) proposed twice applies once; the second
// is rejected with its messages, and a neighbour in the entry is not.
func TestFSM_AdvanceAtMostOnce(t *testing.T) {
	r := newRig(t, t.TempDir())
	move := func(from, to int64) *EntryResult {
		var b EntryBuilder
		require.NoError(t, b.AddJSON(CmdAdvance, AdvanceCommand{OffsetCommit: OffsetCommit{Group: "%S%", Topic: "W", QueueID: 0, Offset: to}, From: from, With: 2}))
		b.AddRecords(record(t, "Real", 0, "a", nil))
		b.AddRecords(record(t, "Real", 1, "b", nil))
		b.AddRecords(record(t, "Other", 0, "c", nil))
		return r.propose(&b)
	}
	res := move(-1, 2)
	require.Nil(t, res.Results[0])
	require.IsType(t, &AppendResult{}, res.Results[1])
	off, ok := r.fsm.ConsumerOffset("%S%", "W", 0)
	require.True(t, ok)
	require.Equal(t, int64(2), off)
	res = move(-1, 2) // the same move again (a timed-out proposal re-proposed)
	var rej *RejectedError
	require.True(t, errors.As(res.Results[0].(error), &rej))
	require.ErrorContains(t, res.Results[1].(error), "not applied")
	require.ErrorContains(t, res.Results[2].(error), "not applied")
	require.IsType(t, &AppendResult{}, res.Results[3], "the guard carries only its own commands")
	require.Equal(t, int64(1), r.fsm.Queue("Real", 0).MaxOffset(), "moved once")
	require.Equal(t, int64(1), r.fsm.Queue("Real", 1).MaxOffset())
	res = move(2, 4)
	require.Nil(t, res.Results[0])
	require.Equal(t, int64(2), r.fsm.Queue("Real", 0).MaxOffset())
}
