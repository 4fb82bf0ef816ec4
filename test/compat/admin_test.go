package compat

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

// TestOfficialAdmin calls every method of the official Go client's admin
// package against a three-member group, and has raftmq's admin reach an
// official push consumer through the brokers (GET_CONSUMER_CONNECTION_LIST,
// GET_CONSUMER_RUNNING_INFO answered in the official client's encoding).
func TestOfficialAdmin(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	g := c.Group(0)
	leader := g.WaitLeader(t, 10*time.Second)
	ns := strings.Split(c.NamesrvAddr(), ";")
	ad, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver(ns)))
	require.NoError(t, err)
	defer ad.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic, group = "OfficialAdminTopic", "OfficialAdminGroup"

	// CreateTopic on the leader, and again (an update) through a follower,
	// which forwards it.
	require.NoError(t, ad.CreateTopic(ctx, admin.WithTopicCreate(topic), admin.WithBrokerAddrCreate(leader.ClientAddr()),
		admin.WithReadQueueNums(4), admin.WithWriteQueueNums(4)))
	require.NoError(t, ad.CreateTopic(ctx, admin.WithTopicCreate(topic), admin.WithBrokerAddrCreate(g.Follower(leader).ClientAddr()),
		admin.WithReadQueueNums(4), admin.WithWriteQueueNums(4)))

	cluster.Eventually(t, 20*time.Second, func() error {
		mqs, err := ad.FetchPublishMessageQueues(ctx, topic)
		if err != nil {
			return err
		}
		if len(mqs) != 4 {
			return fmt.Errorf("%d publish queues", len(mqs))
		}
		for _, mq := range mqs {
			if mq.Topic != topic || mq.BrokerName != "broker-a" {
				return fmt.Errorf("queue %v", mq)
			}
		}
		return nil
	})
	tl, err := ad.FetchAllTopicList(ctx)
	require.NoError(t, err)
	require.Contains(t, tl.TopicList, topic)
	clusters, err := ad.FetchClusterList(topic)
	require.NoError(t, err)
	require.Equal(t, []string{"TestCluster"}, clusters)

	// An official push consumer registers its group.
	pc, err := rocketmq.NewPushConsumer(consumer.WithNameServer(ns), consumer.WithGroupName(group),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset))
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, consumer.MessageSelector{}, func(context.Context, ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		return consumer.ConsumeSuccess, nil
	}))
	require.NoError(t, pc.Start())
	defer pc.Shutdown()

	cluster.Eventually(t, 20*time.Second, func() error {
		w, err := ad.GetAllSubscriptionGroup(ctx, leader.ClientAddr(), 3*time.Second)
		if err != nil {
			return err
		}
		if _, ok := w.SubscriptionGroupTable[group]; !ok {
			return fmt.Errorf("groups %v", w.SubscriptionGroupTable)
		}
		if cfg := w.SubscriptionGroupTable[group]; !cfg.ConsumeEnable || cfg.RetryMaxTimes != 16 || cfg.GroupName != group {
			return fmt.Errorf("group config %+v", cfg)
		}
		return nil
	})

	// raftmq's admin reaches the official consumer through the brokers.
	ra, err := client.NewAdmin(client.WithNameServers(c.NamesrvAddr()))
	require.NoError(t, err)
	defer ra.Shutdown(context.Background())
	var cc *client.ConsumerConnection
	cluster.Eventually(t, 20*time.Second, func() error {
		cc, err = ra.ConsumerConnection(ctx, group)
		if err != nil {
			return err
		}
		if len(cc.ConnectionSet) != 1 || cc.SubscriptionTable[topic].Topic != topic {
			return fmt.Errorf("connections %+v", cc)
		}
		return nil
	})
	require.Equal(t, "GO", cc.ConnectionSet[0].Language)
	require.Equal(t, "CONSUME_PASSIVELY", cc.ConsumeType)
	var info *client.ConsumerRunningInfo
	cluster.Eventually(t, 20*time.Second, func() error {
		info, err = ra.ConsumerRunningInfo(ctx, group, cc.ConnectionSet[0].ClientID, false)
		if err != nil {
			return err
		}
		// The topic's 4 queues (the consumer holds its %RETRY% queue too,
		// once it rebalanced that topic).
		n := 0
		for mq := range info.MQTable {
			if mq.Topic == topic {
				n++
			}
		}
		if n != 4 {
			return fmt.Errorf("mqTable %v", info.MQTable)
		}
		return nil
	})
	require.Equal(t, "CONSUME_PASSIVELY", info.Properties[transport.PropConsumeType])
	require.True(t, slices.ContainsFunc(info.SubscriptionSet, func(s transport.SubscriptionData) bool { return s.Topic == topic }))

	// DeleteTopic from the broker group (through a follower) and the
	// NameServers.
	require.NoError(t, pc.Shutdown())
	require.NoError(t, ad.DeleteTopic(ctx, admin.WithTopicDelete(topic), admin.WithBrokerAddrDelete(g.Follower(leader).ClientAddr())))
	tl, err = ad.FetchAllTopicList(ctx)
	require.NoError(t, err)
	require.NotContains(t, tl.TopicList, topic)
	cluster.Eventually(t, 10*time.Second, func() error {
		for _, n := range g.Nodes {
			r, err := g.Call(n, transport.NewRequest(transport.ReqGetTopicStatsInfo, map[string]string{"topic": topic}, nil), 2*time.Second)
			if err != nil {
				return err
			}
			if r.Code != int16(transport.RespTopicNotExist) {
				return fmt.Errorf("%s still has %s (code %d)", n.ID, topic, r.Code)
			}
		}
		return nil
	})
}
