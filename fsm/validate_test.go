package fsm

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Commands with hostile names or counts are rejected without side effects
// and without a panic, and the rejection is reported per command, so the
// other commands of the same entry still apply.
func TestFSM_RejectsHostileCommandsDeterministically(t *testing.T) {
	dir := t.TempDir()
	canary := filepath.Join(filepath.Dir(dir), filepath.Base(dir)+"-canary")
	require.NoError(t, os.MkdirAll(canary, 0o755))
	t.Cleanup(func() { os.RemoveAll(canary) })
	r := newRig(t, dir)

	var b EntryBuilder
	b.AddRecords(record(t, "T", 0, "kept", nil))
	require.NoError(t, b.AddJSON(CmdTopic, TopicCommand{Config: TopicConfig{TopicName: "T", ReadQueueNums: 2, WriteQueueNums: 2, Perm: 6}}))
	res := r.propose(&b)
	require.IsType(t, &AppendResult{}, res.Results[0])

	var bad EntryBuilder
	bad.Add(CmdDeleteTopic, []byte(""))
	bad.Add(CmdDeleteTopic, []byte(".."))
	bad.Add(CmdDeleteTopic, []byte("../../"+filepath.Base(canary)))
	bad.Add(CmdDeleteTopic, []byte("TBW102"))
	require.NoError(t, bad.AddJSON(CmdTopic, TopicCommand{Config: TopicConfig{TopicName: "Huge", ReadQueueNums: 1<<31 - 1, WriteQueueNums: 1<<31 - 1}}))
	require.NoError(t, bad.AddJSON(CmdTopic, TopicCommand{Config: TopicConfig{TopicName: "../x", ReadQueueNums: 1, WriteQueueNums: 1}}))
	require.NoError(t, bad.AddJSON(CmdGroup, GroupCommand{Config: GroupConfig{GroupName: "/../../x"}}))
	bad.Add(CmdDeleteGroup, []byte("a/b"))
	require.NoError(t, bad.AddJSON(CmdOffsets, []OffsetCommit{{Group: "G", Topic: "../T", QueueID: 0, Offset: 1}}))
	require.NoError(t, bad.AddJSON(CmdOffsets, []OffsetCommit{{Group: "G", Topic: "T", QueueID: MaxQueueNums, Offset: 1}}))
	bad.AddRecords(record(t, "T", MaxQueueNums+5, "bad queue", nil))
	b2 := len(bad.Bytes())
	require.NoError(t, bad.AddJSON(CmdTopic, TopicCommand{Config: TopicConfig{TopicName: "Fine", ReadQueueNums: 1, WriteQueueNums: 1}}))
	require.Greater(t, len(bad.Bytes()), b2)

	res = r.propose(&bad)
	require.Len(t, res.Results, 12)
	for i, v := range res.Results[:11] {
		err, ok := v.(error)
		require.True(t, ok, "command %d: want a rejection, got %#v", i, v)
		require.True(t, errors.Is(err, ErrRejected), "command %d: %v", i, err)
	}
	require.IsType(t, &TopicConfig{}, res.Results[11], "a valid command after rejected ones applies")

	_, ok := r.fsm.Topic("Huge")
	require.False(t, ok)
	_, ok = r.fsm.Topic("T")
	require.True(t, ok)
	_, ok = r.fsm.Topic("Fine")
	require.True(t, ok)
	require.NotNil(t, r.fsm.Queue("T", 0))
	require.Equal(t, int64(1), r.fsm.Queue("T", 0).MaxOffset())
	_, err := os.Stat(canary)
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, "consumequeue", "T", "0"))
	require.NoError(t, err)
}

// A checkpoint written before the limits existed is repaired on load.
func TestFSM_LoadClampsOldState(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, dir)
	r.fsm.mu.Lock()
	r.fsm.topics["Huge"] = TopicConfig{TopicName: "Huge", ReadQueueNums: 1<<31 - 1, WriteQueueNums: 1<<31 - 1}
	r.fsm.topics["../x"] = TopicConfig{TopicName: "../x", ReadQueueNums: 1, WriteQueueNums: 1}
	r.fsm.mu.Unlock()
	r.close()
	r.reopen()
	tc, ok := r.fsm.Topic("Huge")
	require.True(t, ok)
	require.Equal(t, int32(MaxQueueNums), tc.WriteQueueNums)
	_, ok = r.fsm.Topic("../x")
	require.False(t, ok)
}
