package compat

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// TestOfficialClient_MembershipUnderLoad, with and without a group
// address: a group grows from 3 to 5
// members and shrinks back to 3 (the leader among the removed), then has
// its leader's machine replaced, while the official producer sends and
// the official push consumer consumes. Every acknowledged message is read
// back and consumed; the members left serve identical queues.
func TestOfficialClient_MembershipUnderLoad(t *testing.T) {
	for _, groupAddr := range []bool{false, true} {
		t.Run(fmt.Sprintf("groupAddr=%v", groupAddr), func(t *testing.T) { membershipUnderLoad(t, groupAddr) })
	}
}

func membershipUnderLoad(t *testing.T, groupAddr bool) {
	c := cluster.Start(t, cluster.Options{GroupAddr: groupAddr})
	g := c.Group(0)
	g.WaitLeader(t, 20*time.Second)
	ns := c.NamesrvAddr()
	const topic = "MembersOfficial"
	c.CreateTopic(t, topic, 4)
	h := cluster.NewHistory()
	p := newProducer(t, ns, producer.WithRetry(2), producer.WithSendMsgTimeout(3*time.Second))
	load := startOfficialLoad(h, p, topic, 2)
	defer load.Stop()
	r := &received{msgs: map[string]*primitive.MessageExt{}}
	newPushConsumer(t, ns, "MembersOfficialConsumers", topic, consumer.MessageSelector{}, r)

	ad, err := client.NewAdmin(client.WithNameServers(ns), client.WithTimeout(10*time.Second))
	require.NoError(t, err)
	defer ad.Shutdown(context.Background())
	ctx := context.Background()
	time.Sleep(time.Second)
	for _, id := range []string{"n3", "n4"} {
		n := g.AddNode(t, id)
		_, err := ad.AddMember(ctx, g.Name, id, n.RaftAddr(), time.Minute)
		require.NoError(t, err, "add %s", id)
	}
	leader := g.WaitLeader(t, 10*time.Second)
	remove := []*cluster.Node{leader, g.Follower(leader)}
	for _, n := range remove {
		ms, err := ad.RemoveMember(ctx, g.Name, n.ID)
		require.NoError(t, err, "remove %s", n.ID)
		t.Logf("after removing %s: %+v", n.ID, ms)
		require.NoError(t, n.Stop())
		g.Forget(n)
	}
	leader = g.WaitLeader(t, 20*time.Second)
	n5 := g.AddNode(t, "n5")
	ms, err := ad.ReplaceMember(ctx, g.Name, leader.ID, "n5", n5.RaftAddr(), time.Minute)
	require.NoError(t, err)
	require.Len(t, ms, 3)
	require.NoError(t, leader.Stop())
	g.Forget(leader)

	// Load on the final membership, past the official client's 30 s route
	// refresh, so it sends to the new leader again.
	g.WaitLeader(t, 20*time.Second)
	before := load.acks.Load()
	cluster.Eventually(t, 90*time.Second, func() error {
		if load.acks.Load() < before+200 {
			return fmt.Errorf("official producer: %d acknowledged since the last change", load.acks.Load()-before)
		}
		return nil
	})
	load.Stop()
	g.WaitCaughtUp(t, 60*time.Second)
	rep := h.Check(c.ReadBack(t, topic, 60*time.Second))
	t.Logf("official producer: %s", rep)
	require.True(t, rep.OK(), "%s", rep)
	require.Positive(t, rep.Acked)
	acked := h.AckedIDs()
	cluster.Eventually(t, 90*time.Second, func() error {
		if missing := r.missing(acked); missing > 0 {
			return fmt.Errorf("the official push consumer has not received %d of %d acknowledged messages (%d received)", missing, len(acked), r.count())
		}
		return nil
	})
	g.RequireIdenticalQueues(t, topic, 4)
}
