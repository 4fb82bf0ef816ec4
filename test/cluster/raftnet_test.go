package cluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// A group upgraded one member at a time: members with
// raftBinaryAppend=false refuse raftnet's AppendEntries as a release
// without it does. A binary leader replicates to them in msgpack, a
// msgpack leader to the binary members, and nothing acknowledged is lost
// or differs between replicas.
func TestRaftnet_MixedGroupReplicates(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Config: map[string]string{"preferredLeaderId": "n0"}})
	g := c.Group(0)
	topics := []string{"MixedAppendBinaryLeader", "MixedAppendMsgpackLeader"}
	for _, tp := range topics {
		c.CreateTopic(t, tp, 4)
	}
	node := func(id string) *cluster.Node {
		for _, n := range g.Nodes {
			if n.ID == id {
				return n
			}
		}
		t.Fatalf("no member %s", id)
		return nil
	}
	waitLeads := func(id string) {
		cluster.Eventually(t, 30*time.Second, func() error {
			if l := g.WaitLeader(t, 10*time.Second); l.ID != id {
				return fmt.Errorf("%s leads, waiting for %s", l.ID, id)
			}
			return nil
		})
	}
	legacy := func(n *cluster.Node) {
		n.Kill()
		n.Set("raftBinaryAppend", "false")
		n.Restart(t)
	}
	hs := []*cluster.History{cluster.NewHistory(), cluster.NewHistory()}
	load := func(phase int) {
		l, err := cluster.StartLoad(context.Background(), hs[phase], c.NamesrvAddr(), topics[phase], 4, 300, 200, 60*time.Second)
		require.NoError(t, err, topics[phase])
		l.Wait()
		require.Empty(t, l.FirstError(), topics[phase])
		_, acked, _ := hs[phase].Counts()
		require.Equal(t, 4*300, acked, topics[phase])
	}

	waitLeads("n0")
	legacy(node("n1")) // binary leader n0 -> legacy n1
	g.WaitCaughtUp(t, 60*time.Second)
	load(0)

	legacy(node("n0")) // n2 (binary) leads while n0 restarts, then n0 (legacy) again
	waitLeads("n0")
	g.WaitCaughtUp(t, 60*time.Second)
	load(1)

	g.WaitCaughtUp(t, 60*time.Second)
	for i, tp := range topics {
		c.CheckAll(t, hs[i], tp, 30*time.Second)
		g.RequireIdenticalQueues(t, tp, 4)
	}
	// n0 led with raftnet before its own downgrade: it fell back for n1.
	require.Contains(t, node("n0").LogTail(100000), "refused the binary AppendEntries protocol")
}
