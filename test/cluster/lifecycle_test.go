package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

// TestLifecycle_SnapshotInstallAfterRetention: half of every queue is
// consumed, a follower is wiped, a leadership transfer leaves barrier
// entries at the end of the log, and deleteExpiredCommitLog makes the
// group drop the head of its CommitLog. The wiped member can only be sent
// a snapshot; it then fetches the retained history before it from another
// member. Afterwards every member holds the same CommitLog bytes at every
// offset they retain and serves the same queues; made leader, the rejoined
// member serves a consumer from the earliest retained offset with no
// OFFSET_MOVED, and finds old messages by key and by offset id.
func TestLifecycle_SnapshotInstallAfterRetention(t *testing.T) {
	c := cluster.Start(t, cluster.Options{SegmentSize: 512 << 10, Config: map[string]string{"maxMessageSize": "65536"}})
	g := c.Group(0)
	leader := g.WaitLeader(t, 20*time.Second)
	const topic = "Life"
	c.CreateTopic(t, topic, 2)
	w := newWire(t)
	body := string(bytes.Repeat([]byte("l"), 1000))
	ids := map[int]string{}
	for i := 0; i < 3000; i++ {
		r := w.send(leader.ClientAddr(), topic, int32(i%2), fmt.Sprintf("%05d-%s", i, body), map[string]string{"KEYS": fmt.Sprintf("key-%05d", i)})
		require.Equal(t, int16(0), r.Code, r.Remark)
		var sh transport.SendMessageResponseHeader
		require.NoError(t, sh.Decode(r.ExtFields))
		ids[i] = sh.MsgID
	}
	// A consumer group has consumed the first half of each queue.
	for q := int32(0); q < 2; q++ {
		h := transport.UpdateConsumerOffsetRequestHeader{ConsumerGroup: "LifeGroup", Topic: topic, QueueID: q, CommitOffset: 750}
		r := w.call(leader.ClientAddr(), transport.NewRequest(transport.ReqUpdateConsumerOffset, h.Encode(), nil))
		require.Equal(t, int16(0), r.Code, r.Remark)
	}
	g.WaitCaughtUp(t, 30*time.Second)

	wiped := g.Follower(leader)
	wiped.Kill()
	require.NoError(t, wiped.Wipe())
	ad, err := client.NewAdmin(client.WithNameServers(c.NamesrvAddr()), client.WithTimeout(10*time.Second))
	require.NoError(t, err)
	defer ad.Shutdown(context.Background())
	ctx := context.Background()
	other := g.Follower(leader)
	require.NoError(t, ad.TransferLeader(ctx, g.Name, other.ID))
	reps, err := ad.DeleteExpiredCommitLog(ctx, g.Name, 0)
	require.NoError(t, err)
	deleted := 0
	for _, r := range reps {
		t.Logf("retention on %s: %+v", r.Node, r)
		deleted += r.DeletedSegments
	}
	require.Positive(t, deleted, "the head segments went")

	wiped.RestartJoin(t)
	for i := 0; i < 200; i++ {
		r := w.send(g.WaitLeader(t, 10*time.Second).ClientAddr(), topic, int32(i%2), fmt.Sprintf("after-%03d", i), nil)
		require.Equal(t, int16(0), r.Code, r.Remark)
	}
	g.WaitCaughtUp(t, 60*time.Second)
	st := g.WaitHistory(t, wiped, 60*time.Second)
	require.Positive(t, st.InstalledSnapshot, "the wiped member installed a snapshot")
	require.Positive(t, st.History.Messages, "and rebuilt its queues over the fetched history: %+v", st.History)
	t.Logf("catch-up: %+v", st.History)
	from, to := g.RequireIdenticalCommitLogs(t)
	require.Positive(t, from, "retention removed the head")
	t.Logf("identical CommitLogs over [%d, %d)", from, to)
	ost, err := g.Status(other)
	require.NoError(t, err)
	require.Equal(t, ost.MinOffset, st.MinOffset, "the rejoined member retains what the others do")
	g.RequireIdenticalQueues(t, topic, 2)

	// Lead with it: a consumer from the earliest retained offset reads
	// every retained message.
	require.NoError(t, ad.TransferLeader(ctx, g.Name, wiped.ID))
	cluster.Eventually(t, 20*time.Second, func() error {
		if l := g.Leader(); l != wiped {
			return fmt.Errorf("leader is %v", l)
		}
		return nil
	})
	firstKept := -1
	for q := int32(0); q < 2; q++ {
		ref, err := g.QueueContent(other, topic, q)
		require.NoError(t, err)
		got, err := g.QueueContent(wiped, topic, q)
		require.NoError(t, err)
		require.Equal(t, len(ref), len(got))
		require.Greater(t, len(got), 100+150, "old messages are served, not only those after the snapshot")
		m, _, err := message.DecodeRecord(got[0])
		require.NoError(t, err)
		var seq int
		_, err = fmt.Sscanf(string(m.Body), "%05d-", &seq)
		require.NoError(t, err)
		firstKept = max(firstKept, seq)
	}
	reads := c.ReadBack(t, topic, 60*time.Second)
	require.GreaterOrEqual(t, len(reads), 200+2*100, "read back through the route")
	// An old message by key and by offset id, on the rejoined member.
	old := firstKept + 10
	qh := transport.QueryMessageRequestHeader{Topic: topic, Key: fmt.Sprintf("key-%05d", old), MaxNum: 32, EndTimestamp: time.Now().Add(time.Hour).UnixMilli()}
	r := w.call(wiped.ClientAddr(), transport.NewRequest(transport.ReqQueryMessage, qh.Encode(), nil))
	require.Equal(t, int16(0), r.Code, r.Remark)
	msgs, err := message.DecodeRecords(r.Body)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.True(t, strings.HasPrefix(string(msgs[0].Body), fmt.Sprintf("%05d-", old)))
	_, off, err := message.DecodeOffsetMsgID(ids[old])
	require.NoError(t, err)
	vh := transport.ViewMessageRequestHeader{Offset: off}
	r = w.call(wiped.ClientAddr(), transport.NewRequest(transport.ReqViewMessageByID, vh.Encode(), nil))
	require.Equal(t, int16(0), r.Code, r.Remark)
	m, _, err := message.DecodeRecord(r.Body)
	require.NoError(t, err)
	require.Equal(t, ids[old], m.OffsetMsgID())
}

// TestLifecycle_GrowShrinkReplace: under steady produce load, a 3-member
// group grows to 5 (members started with --join, added with addMember and
// promoted once caught up), shrinks back to 3 (removeMember, the leader
// among the removed), and has its leader's machine replaced
// (replaceMember). No acknowledged message is lost; the members left
// serve identical queues; the NameServer routes only the current members.
func TestLifecycle_GrowShrinkReplace(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	g := c.Group(0)
	g.WaitLeader(t, 20*time.Second)
	const topic = "Members"
	c.CreateTopic(t, topic, 4)
	h := cluster.NewHistory()
	load, err := cluster.StartLoad(context.Background(), h, c.NamesrvAddr(), topic, 4, 1_000_000, 256, 3*time.Minute)
	require.NoError(t, err)
	defer load.Stop()
	ad, err := client.NewAdmin(client.WithNameServers(c.NamesrvAddr()), client.WithTimeout(10*time.Second))
	require.NoError(t, err)
	defer ad.Shutdown(context.Background())
	ctx := context.Background()
	voters := func(ms []client.Member) (n int) {
		for _, m := range ms {
			if m.Voter {
				n++
			}
		}
		return n
	}

	var ms []client.Member
	for _, id := range []string{"n3", "n4"} {
		n := g.AddNode(t, id)
		ms, err = ad.AddMember(ctx, g.Name, id, n.RaftAddr(), time.Minute)
		require.NoError(t, err)
		t.Logf("after adding %s: %+v", id, ms)
	}
	require.Equal(t, 5, voters(ms), "5 voters: %+v", ms)

	leader := g.WaitLeader(t, 10*time.Second)
	toRemove := []string{leader.ID}
	for _, id := range []string{"n0", "n1", "n2"} {
		if id != leader.ID && len(toRemove) < 2 {
			toRemove = append(toRemove, id)
		}
	}
	for _, id := range toRemove {
		ms, err = ad.RemoveMember(ctx, g.Name, id)
		require.NoError(t, err, "remove %s", id)
		t.Logf("after removing %s: %+v", id, ms)
		require.NoError(t, g.Node(id).Stop())
	}
	require.Len(t, ms, 3)

	// Replace the current leader's machine.
	leader = g.WaitLeader(t, 20*time.Second)
	n5 := g.AddNode(t, "n5")
	ms, err = ad.ReplaceMember(ctx, g.Name, leader.ID, "n5", n5.RaftAddr(), time.Minute)
	require.NoError(t, err)
	require.Len(t, ms, 3)
	require.NoError(t, leader.Stop())
	cluster.Eventually(t, 30*time.Second, func() error {
		ci, err := ad.ClusterInfo(ctx)
		if err != nil {
			return err
		}
		got := ci.Groups[g.Name].Members()
		if len(got) != 3 {
			return fmt.Errorf("the NameServer routes %d members: %v", len(got), got)
		}
		return nil
	})

	time.Sleep(2 * time.Second) // some load on the final membership
	load.Stop()
	require.Empty(t, load.FirstError())
	g.WaitCaughtUp(t, 60*time.Second)
	rep := c.CheckAll(t, h, topic, 60*time.Second)
	require.Positive(t, rep.Acked)
	g.RequireIdenticalQueues(t, topic, 4)
}
