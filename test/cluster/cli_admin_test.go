package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// TestCLI_AdminConsumerConfigDrain drives the consumer inspection, live
// config, drain and queue-reading admin commands through the binary
// against a three-member group with a live push consumer.
func TestCLI_AdminConsumerConfigDrain(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	const topic, group = "CliAdmTopic", "CliAdmGroup"
	_, stderr, err := cli(t, c, "admin", "updateTopic", "-t", topic, "-r", "2", "-w", "2")
	require.NoError(t, err, stderr)
	_, stderr, err = cli(t, c, "produce", "-t", topic, "--body", "adm", "--count", "10")
	require.NoError(t, err, stderr)

	var consumed atomic.Int64
	pc, err := client.NewPushConsumer(client.WithNameServers(c.NamesrvAddr()), client.WithGroup(group),
		client.WithConsumeFromWhere(client.ConsumeFromFirstOffset))
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, "*", func(_ context.Context, msgs []*client.MessageExt) client.ConsumeResult {
		consumed.Add(int64(len(msgs)))
		return client.ConsumeSuccess
	}))
	require.NoError(t, pc.Start(context.Background()))
	defer pc.Shutdown(context.Background())
	cluster.Eventually(t, 20*time.Second, func() error {
		if n := consumed.Load(); n < 10 {
			return fmt.Errorf("consumed %d of 10", n)
		}
		return nil
	})

	// consumerConnection: RocketMQ's ConsumerConnection, each connection
	// with the member holding it.
	var cc struct {
		ConnectionSet []struct {
			ClientID, ClientAddr, Language, Member string
			Version                                int
		}
		SubscriptionTable map[string]struct{ SubString string }
		ConsumeType       string
		MessageModel      string
	}
	cliJSON(t, c, &cc, "admin", "consumerConnection", "-g", group)
	require.Len(t, cc.ConnectionSet, 1)
	require.Equal(t, pc.ClientID(), cc.ConnectionSet[0].ClientID)
	require.NotEmpty(t, cc.ConnectionSet[0].Member)
	require.Equal(t, "GO", cc.ConnectionSet[0].Language)
	require.Equal(t, "*", cc.SubscriptionTable[topic].SubString)
	require.Equal(t, "CONSUME_PASSIVELY", cc.ConsumeType)
	require.Equal(t, "CLUSTERING", cc.MessageModel)

	// consumerStatus: the broker relays GET_CONSUMER_RUNNING_INFO to the
	// consumer over its connection.
	var st []struct {
		ClientID string
		Info     struct {
			Properties map[string]string
			MQTable    []map[string]any
		}
		Error string
	}
	cliJSON(t, c, &st, "admin", "consumerStatus", "-g", group)
	require.Len(t, st, 1)
	require.Empty(t, st[0].Error)
	require.Equal(t, "CONSUME_PASSIVELY", st[0].Info.Properties["PROP_CONSUME_TYPE"])
	require.NotEmpty(t, st[0].Info.MQTable)
	out, stderr, err := cli(t, c, "admin", "consumerStatus", "-g", group, "-i", pc.ClientID())
	require.NoError(t, err, stderr)
	require.Contains(t, out, topic)

	// getBrokerConfig / updateBrokerConfig: a change reaches every member.
	confs := func() map[string]map[string]string {
		var m map[string]map[string]string
		cliJSON(t, c, &m, "admin", "getBrokerConfig", "-b", "broker-a")
		require.Len(t, m, 3)
		return m
	}
	for addr, kv := range confs() {
		require.Equal(t, "true", kv["autoCreateTopicEnable"], addr)
		require.Equal(t, "broker-a", kv["brokerName"], addr)
		require.NotContains(t, kv, "namesrvSecretKey")
	}
	out, stderr, err = cli(t, c, "admin", "updateBrokerConfig", "-b", "broker-a", "-k", "autoCreateTopicEnable", "-v", "false")
	require.NoError(t, err, stderr)
	require.Contains(t, out, "update broker config success")
	for addr, kv := range confs() {
		require.Equal(t, "false", kv["autoCreateTopicEnable"], addr)
	}
	_, stderr, err = cli(t, c, "produce", "-t", "CliAdmNoAuto", "--body", "x", "--count", "1")
	require.Error(t, err, "auto-created a topic with autoCreateTopicEnable=false")
	_, stderr, err = cli(t, c, "admin", "updateBrokerConfig", "-c", "TestCluster", "-k", "listenPort", "-v", "1")
	require.Error(t, err)
	require.Contains(t, stderr, "cannot change while running")

	perm := func() int32 {
		var route struct{ Queues []struct{ Perm int32 } }
		cliJSON(t, c, &route, "admin", "topicRoute", "-t", topic)
		return route.Queues[0].Perm
	}
	// brokerPermission=4: the brokers register read-only and refuse sends.
	_, stderr, err = cli(t, c, "admin", "updateBrokerConfig", "-b", "broker-a", "-k", "brokerPermission", "-v", "4")
	require.NoError(t, err, stderr)
	cluster.Eventually(t, 15*time.Second, func() error {
		if p := perm(); p != 4 {
			return fmt.Errorf("perm %d", p)
		}
		return nil
	})
	_, stderr, err = cli(t, c, "admin", "updateBrokerConfig", "-b", "broker-a", "-k", "brokerPermission", "-v", "6")
	require.NoError(t, err, stderr)
	cluster.Eventually(t, 15*time.Second, func() error {
		if p := perm(); p != 6 {
			return fmt.Errorf("perm %d", p)
		}
		return nil
	})

	// wipeWritePerm / addWritePerm: the NameServer's route loses and
	// regains the write bit, whatever the brokers register meanwhile.
	out, stderr, err = cli(t, c, "admin", "wipeWritePerm", "-b", "broker-a")
	require.NoError(t, err, stderr)
	require.Contains(t, out, "wipe write perm of broker[broker-a]")
	require.EqualValues(t, 4, perm())
	time.Sleep(3 * time.Second) // a few registrations
	require.EqualValues(t, 4, perm())
	_, stderr, err = cli(t, c, "admin", "addWritePerm", "-b", "broker-a")
	require.NoError(t, err, stderr)
	require.EqualValues(t, 6, perm())

	// queryMsgByOffset and printMsg read queues.
	var status []struct {
		Queue                struct{ QueueID int }
		MinOffset, MaxOffset int64
	}
	cliJSON(t, c, &status, "admin", "topicStatus", "-t", topic)
	q := -1
	for _, s := range status {
		if s.MaxOffset > 0 {
			q = s.Queue.QueueID
		}
	}
	require.GreaterOrEqual(t, q, 0)
	var m map[string]any
	cliJSON(t, c, &m, "admin", "queryMsgByOffset", "-t", topic, "-b", "broker-a", "-i", fmt.Sprint(q), "-o", "0")
	require.Equal(t, "adm", m["body"])
	require.EqualValues(t, 0, m["queueOffset"])
	var msgs []map[string]any
	cliJSON(t, c, &msgs, "admin", "printMsg", "-t", topic)
	require.Len(t, msgs, 10)
	cliJSON(t, c, &msgs, "admin", "printMsg", "-t", topic, "-a", "broker-a", "-i", fmt.Sprint(q), "--from", "1", "--to", "2")
	require.Len(t, msgs, 1)
	require.EqualValues(t, 1, msgs[0]["queueOffset"])

	// statsAll: the topic with its consumer group's accumulation.
	var stats []struct {
		Topic, Group           string
		Messages, Accumulation int64
	}
	cluster.Eventually(t, 20*time.Second, func() error {
		cliJSON(t, c, &stats, "admin", "statsAll", "--interval", "0")
		for _, s := range stats {
			if s.Topic == topic && s.Group == group && s.Messages == 10 && s.Accumulation == 0 {
				return nil
			}
		}
		return fmt.Errorf("stats %+v", stats)
	})

	// brokerStatus carries RocketMQ's runtime keys.
	var bs []struct{ Runtime map[string]string }
	cliJSON(t, c, &bs, "admin", "brokerStatus", "-c", "TestCluster")
	for _, k := range []string{"putTps", "getTransferedTps", "getTotalTps", "msgPutTotalTodayMorning", "msgGetTotalTodayNow", "commitLogDiskRatio", "brokerVersionDesc", "runtime"} {
		require.Contains(t, bs[0].Runtime, k)
	}
	require.Len(t, strings.Fields(bs[0].Runtime["getTotalTps"]), 3)
}
