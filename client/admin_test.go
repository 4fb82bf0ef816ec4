package client_test

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// TestAdmin runs every admin call against two broker groups and checks the
// results against what was produced and consumed.
func TestAdmin(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Groups: 2, Replicas: 2})
	a := newAdmin(t, c)
	ctx := ctxT(t, 60*time.Second)

	ci, err := a.ClusterInfo(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string][]string{"TestCluster": {"broker-a", "broker-b"}}, ci.Clusters)
	for i, name := range []string{"broker-a", "broker-b"} {
		g := ci.Groups[name]
		require.Len(t, g.Members(), 2)
		require.Equal(t, c.Group(i).Leader().ClientAddr(), g.Leader())
	}

	// CreateTopic on every group; the route shows both at once.
	topic := uniqueName("Adm")
	require.NoError(t, a.CreateTopic(ctx, client.TopicConfig{Topic: topic, ReadQueues: 3, WriteQueues: 3}, client.Target{Cluster: "TestCluster"}))
	r, err := a.TopicRoute(ctx, topic)
	require.NoError(t, err)
	require.Len(t, r.Groups, 2)
	require.Equal(t, []client.QueueData{{BrokerName: "broker-a", ReadQueues: 3, WriteQueues: 3, Perm: 6}, {BrokerName: "broker-b", ReadQueues: 3, WriteQueues: 3, Perm: 6}}, r.Queues)
	topics, err := a.TopicList(ctx)
	require.NoError(t, err)
	require.Contains(t, topics, topic)
	// A topic on one named group only.
	one := uniqueName("AdmOne")
	require.NoError(t, a.CreateTopic(ctx, client.TopicConfig{Topic: one, ReadQueues: 2, WriteQueues: 2}, client.Target{BrokerGroup: "broker-b"}))
	r, err = a.TopicRoute(ctx, one)
	require.NoError(t, err)
	require.Equal(t, []client.QueueData{{BrokerName: "broker-b", ReadQueues: 2, WriteQueues: 2, Perm: 6}}, r.Queues)

	// Produce; TopicStatus max offsets are what the sends were told.
	p := newProducer(t, c)
	perQueue := map[client.MessageQueue]int64{}
	res := sendN(t, p, topic, "adm", 60, func(i int, m *client.Message) { m.Keys = []string{fmt.Sprintf("k%d", i)} })
	for _, r := range res {
		perQueue[r.Queue] = max(perQueue[r.Queue], r.QueueOffset+1)
	}
	require.Len(t, perQueue, 6, "sends spread over both groups' queues")
	st, err := a.TopicStatus(ctx, topic)
	require.NoError(t, err)
	require.Len(t, st, 6)
	var total int64
	for _, q := range st {
		require.Equal(t, perQueue[q.Queue], q.MaxOffset, "queue %s", q.Queue)
		require.EqualValues(t, 0, q.MinOffset)
		require.False(t, q.LastUpdate.IsZero())
		total += q.MaxOffset
	}
	require.EqualValues(t, 60, total)

	// ConsumerProgress: lag 60 before, 0 after a consumer read everything.
	group := uniqueName("GAdm")
	require.NoError(t, a.UpdateSubGroup(ctx, client.SubGroupConfig{GroupName: group, ConsumeEnable: true, RetryQueueNums: 1, RetryMaxTimes: 5,
		ConsumeBroadcastEnable: true, NotifyConsumerIDsChangedEnable: true}, client.Target{}))
	for _, bg := range []string{"broker-a", "broker-b"} {
		sgs, err := a.SubGroups(ctx, bg)
		require.NoError(t, err)
		i := slices.IndexFunc(sgs, func(s client.SubGroupConfig) bool { return s.GroupName == group })
		require.GreaterOrEqual(t, i, 0, "group on %s", bg)
		require.EqualValues(t, 5, sgs[i].RetryMaxTimes)
	}
	rec := newReceived()
	cons := newPushConsumer(t, c, topic, "*", rec.handler(), fastConsumer(group)...)
	rec.waitCount(t, 60, 20*time.Second)
	cluster.Eventually(t, 10*time.Second, func() error {
		cp, err := a.ConsumerProgress(ctx, group, topic)
		if err != nil {
			return err
		}
		if len(cp.Queues) != 6 || cp.TotalLag != 0 || cp.TotalBroker != 60 || cp.TotalConsumer != 60 {
			return fmt.Errorf("progress %+v", cp)
		}
		return nil
	})
	cp, err := a.ConsumerProgress(ctx, group, "")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(cp.Queues), 6, "all of the group's topics, %%RETRY%% included")

	// QueryMsgByKey over both groups; QueryMsgByID both ways.
	want := res[7]
	found, err := a.QueryMsgByKey(ctx, topic, "k7", 10, time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Len(t, found, 1)
	require.Equal(t, "adm-0007", string(found[0].Body))
	require.Equal(t, want.MsgID, found[0].MsgID)
	_, err = a.QueryMsgByKey(ctx, topic, "no-such-key", 10, time.Time{}, time.Time{})
	require.ErrorIs(t, err, client.ErrMessageNotFound)
	for _, r := range res[:12] { // both groups
		m, err := a.QueryMsgByID(ctx, "", r.OffsetMsgID)
		require.NoError(t, err)
		require.Equal(t, r.MsgID, m.MsgID)
		require.Equal(t, r.Queue, m.Queue)
		m, err = a.QueryMsgByID(ctx, topic, r.MsgID)
		require.NoError(t, err)
		require.Equal(t, r.OffsetMsgID, m.OffsetMsgID)
	}

	// ResetOffsetByTime rewinds the stopped group to the beginning.
	require.NoError(t, cons.Shutdown(ctx))
	reset, err := a.ResetOffsetByTime(ctx, group, topic, time.Now().Add(-time.Hour))
	require.NoError(t, err)
	require.Len(t, reset, 6)
	for _, q := range reset {
		require.EqualValues(t, 0, q.Offset)
	}
	cp, err = a.ConsumerProgress(ctx, group, topic)
	require.NoError(t, err)
	require.EqualValues(t, 60, cp.TotalLag)
	again := newReceived()
	newPushConsumer(t, c, topic, "*", again.handler(), fastConsumer(group)...)
	again.waitCount(t, 60, 20*time.Second)

	// BrokerStatus of a leader and a follower.
	lead := c.Group(0).Leader()
	bs, err := a.BrokerStatus(ctx, lead.ClientAddr())
	require.NoError(t, err)
	require.Equal(t, "broker-a", bs.Runtime["brokerName"])
	require.Equal(t, "Leader", bs.Raft.State)
	require.True(t, bs.Raft.Serving)
	require.Equal(t, lead.ID, bs.Raft.NodeID)

	// TransferLeader to the other member of broker-b.
	gb := c.Group(1)
	old := gb.WaitLeader(t, 10*time.Second)
	var target *cluster.Node
	for _, n := range gb.Nodes {
		if n != old {
			target = n
		}
	}
	require.NoError(t, a.TransferLeader(ctx, "broker-b", target.ID))
	require.Equal(t, target, gb.WaitNewLeader(t, old, 10*time.Second))
	cluster.Eventually(t, 10*time.Second, func() error {
		ci, err := a.ClusterInfo(ctx)
		if err != nil {
			return err
		}
		if got := ci.Groups["broker-b"].Leader(); got != target.ClientAddr() {
			return fmt.Errorf("leader advertised %s, want %s", got, target.ClientAddr())
		}
		return nil
	})
	// Messages stored before the transfer are still found by offset id.
	m, err := a.QueryMsgByID(ctx, "", res[1].OffsetMsgID)
	require.NoError(t, err)
	require.Equal(t, res[1].MsgID, m.MsgID)

	// DeleteTopic: gone from the route and the list.
	require.NoError(t, a.DeleteTopic(ctx, one, client.Target{}))
	_, err = a.TopicRoute(ctx, one)
	require.ErrorIs(t, err, client.ErrTopicNotExist)
	topics, err = a.TopicList(ctx)
	require.NoError(t, err)
	require.NotContains(t, topics, one)

	// Errors: unknown topic, unknown group, unreachable name servers.
	_, err = a.TopicStatus(ctx, "NoSuchTopicAtAll")
	require.ErrorIs(t, err, client.ErrTopicNotExist)
	err = a.CreateTopic(ctx, client.TopicConfig{Topic: "X"}, client.Target{BrokerGroup: "broker-z"})
	require.ErrorIs(t, err, client.ErrNoRoute)
	var be *client.BrokerError
	err = a.TransferLeader(ctx, "broker-a", "n9")
	require.True(t, errors.As(err, &be), "%v", err)
	require.False(t, be.Retriable())

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	ln.Close()
	bad, err := client.NewAdmin(client.WithNameServers(dead), client.WithTimeout(300*time.Millisecond), client.WithLogger(testLogger(t)))
	require.NoError(t, err)
	defer bad.Shutdown(ctx)
	_, err = bad.TopicList(ctx)
	require.ErrorIs(t, err, client.ErrNameServerUnreachable)
	_, err = bad.ClusterInfo(ctx)
	require.ErrorIs(t, err, client.ErrNameServerUnreachable)
}
