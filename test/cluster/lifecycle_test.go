package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

// TestLifecycle_SnapshotInstallAfterRetention: every message is consumed,
// a follower is wiped, a leadership transfer leaves barrier entries at the
// end of the log, and deleteExpiredCommitLog makes the group drop the
// head of its CommitLog. The wiped member can only be sent a snapshot:
// afterwards, every new message has the same bytes at the same physical
// offset on it as on the others, and its status says its history begins
// at that snapshot.
func TestLifecycle_SnapshotInstallAfterRetention(t *testing.T) {
	c := cluster.Start(t, cluster.Options{SegmentSize: 512 << 10, Config: map[string]string{"maxMessageSize": "65536"}})
	g := c.Group(0)
	leader := g.WaitLeader(t, 20*time.Second)
	const topic = "Life"
	c.CreateTopic(t, topic, 2)
	w := newWire(t)
	body := string(bytes.Repeat([]byte("l"), 1000))
	for i := 0; i < 3000; i++ {
		r := w.send(leader.ClientAddr(), topic, int32(i%2), fmt.Sprintf("%05d-%s", i, body), nil)
		require.Equal(t, int16(0), r.Code, r.Remark)
	}
	// A consumer group has consumed everything.
	for q := int32(0); q < 2; q++ {
		h := transport.UpdateConsumerOffsetRequestHeader{ConsumerGroup: "LifeGroup", Topic: topic, QueueID: q, CommitOffset: 1500}
		r := w.call(leader.ClientAddr(), transport.NewRequest(transport.ReqUpdateConsumerOffset, h.Encode(), nil))
		require.Equal(t, int16(0), r.Code, r.Remark)
	}
	g.WaitCaughtUp(t, 30*time.Second)

	wiped := g.Follower(leader)
	wiped.Kill()
	ents, err := os.ReadDir(wiped.Dir)
	require.NoError(t, err)
	for _, e := range ents {
		if e.Name() != "broker.conf" && e.Name() != "process.log" {
			require.NoError(t, os.RemoveAll(filepath.Join(wiped.Dir, e.Name())))
		}
	}
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

	wiped.Restart(t)
	for i := 0; i < 200; i++ {
		r := w.send(g.WaitLeader(t, 10*time.Second).ClientAddr(), topic, int32(i%2), fmt.Sprintf("after-%03d", i), nil)
		require.Equal(t, int16(0), r.Code, r.Remark)
	}
	g.WaitCaughtUp(t, 60*time.Second)
	st, err := g.Status(wiped)
	require.NoError(t, err)
	require.Positive(t, st.InstalledSnapshot, "the wiped member says its history starts at a snapshot")
	for q := int32(0); q < 2; q++ {
		ref, err := g.QueueContentFrom(other, topic, q, 1500)
		require.NoError(t, err)
		require.Len(t, ref, 100)
		for _, n := range g.Nodes {
			got, err := g.QueueContentFrom(n, topic, q, 1500)
			require.NoError(t, err)
			require.Equal(t, ref, got, "queue %d on %s: the same bytes at the same offsets", q, n.ID)
		}
	}
}
