package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// TestPullConsumer reads a queue at chosen offsets and manages the group's
// committed offset.
func TestPullConsumer(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	topic := uniqueName("Pull")
	createTopic(t, c, topic, 1)
	p := newProducer(t, c)
	before := time.Now()
	sendN(t, p, topic, "p", 30, func(i int, m *client.Message) { m.Tags = []string{"X", "Y"}[i%2] })
	group := uniqueName("GPull")
	pc, err := client.NewPullConsumer(opts(t, c, client.WithGroup(group))...)
	require.NoError(t, err)
	t.Cleanup(func() { pc.Shutdown(context.Background()) })
	ctx := ctxT(t, 20*time.Second)

	qs, err := pc.Queues(ctx, topic)
	require.NoError(t, err)
	require.Equal(t, []client.MessageQueue{{Topic: topic, BrokerName: "broker-a", QueueID: 0}}, qs)
	q := qs[0]
	mx, err := pc.MaxOffset(ctx, q)
	require.NoError(t, err)
	require.EqualValues(t, 30, mx)
	mn, err := pc.MinOffset(ctx, q)
	require.NoError(t, err)
	require.EqualValues(t, 0, mn)
	off, err := pc.SearchOffset(ctx, q, before)
	require.NoError(t, err)
	require.EqualValues(t, 0, off)
	off, err = pc.SearchOffset(ctx, q, time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 30, off)

	res, err := pc.Pull(ctx, q, 0, 10)
	require.NoError(t, err)
	require.Equal(t, client.PullFound, res.Status)
	require.Len(t, res.Messages, 10)
	require.EqualValues(t, 10, res.NextBeginOffset)
	require.EqualValues(t, 30, res.MaxOffset)
	for i, m := range res.Messages {
		require.Equal(t, fmt.Sprintf("p-%04d", i), string(m.Body))
		require.EqualValues(t, i, m.QueueOffset)
		require.Equal(t, q, m.Queue)
	}
	res, err = pc.PullFiltered(ctx, q, "Y", 10, 32)
	require.NoError(t, err)
	require.Equal(t, client.PullFound, res.Status)
	require.Len(t, res.Messages, 10)
	for _, m := range res.Messages {
		require.Equal(t, "Y", m.Tags)
	}
	require.EqualValues(t, 30, res.NextBeginOffset)
	res, err = pc.PullSQL(ctx, q, "TAGS = 'X' AND KEYS IS NULL", 0, 32)
	require.NoError(t, err)
	require.Equal(t, client.PullFound, res.Status)
	require.Len(t, res.Messages, 15)
	for _, m := range res.Messages {
		require.Equal(t, "X", m.Tags)
	}
	_, err = pc.PullSQL(ctx, q, "TAGS = ", 0, 32)
	require.ErrorContains(t, err, "SQL92 selector")
	res, err = pc.PullFiltered(ctx, q, "Z", 0, 32)
	require.NoError(t, err)
	require.Equal(t, client.PullNoMatched, res.Status)
	res, err = pc.Pull(ctx, q, 30, 10)
	require.NoError(t, err)
	require.Equal(t, client.PullNoNewMsg, res.Status)
	require.EqualValues(t, 30, res.NextBeginOffset)
	res, err = pc.Pull(ctx, q, 1000, 10)
	require.NoError(t, err)
	require.Equal(t, client.PullOffsetIllegal, res.Status)

	got, err := pc.FetchOffset(ctx, q)
	require.NoError(t, err)
	// Nothing committed yet, on a young queue: where a new group starts
	// (RocketMQ's rule; -1 once the history is large, see
	// TestBroker_NewGroupOffset).
	require.EqualValues(t, 0, got, "nothing committed yet")
	require.NoError(t, pc.CommitOffset(ctx, q, 17))
	got, err = pc.FetchOffset(ctx, q)
	require.NoError(t, err)
	require.EqualValues(t, 17, got)

	_, err = pc.Queues(ctx, "NoSuchTopicAtAll")
	require.ErrorIs(t, err, client.ErrTopicNotExist)
	_, err = pc.Pull(ctx, q, 0, 0)
	require.Error(t, err)
}
