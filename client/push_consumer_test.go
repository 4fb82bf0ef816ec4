package client_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// fast consumer settings for tests.
func fastConsumer(group string, more ...client.Option) []client.Option {
	return append([]client.Option{client.WithGroup(group), client.WithConsumeFromWhere(client.ConsumeFromFirstOffset),
		client.WithCommitInterval(200 * time.Millisecond), client.WithRebalanceInterval(2 * time.Second)}, more...)
}

func sendN(t testing.TB, p *client.Producer, topic, prefix string, n int, mod func(i int, m *client.Message)) []*client.SendResult {
	t.Helper()
	ctx := ctxT(t, 60*time.Second)
	var out []*client.SendResult
	for i := 0; i < n; i++ {
		m := client.NewMessage(topic, []byte(fmt.Sprintf("%s-%04d", prefix, i)))
		if mod != nil {
			mod(i, m)
		}
		r, err := p.Send(ctx, m)
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}

func assignedAll(t testing.TB, want []client.MessageQueue, cs ...*client.PushConsumer) func() error {
	return func() error {
		var got []client.MessageQueue
		for _, c := range cs {
			a := c.Assignment()
			if len(a) == 0 {
				return fmt.Errorf("%s owns nothing", c.ClientID())
			}
			got = append(got, a...)
		}
		var user []client.MessageQueue
		for _, q := range got {
			if !message.IsRetryTopic(q.Topic) {
				user = append(user, q)
			}
		}
		slices.SortFunc(user, func(a, b client.MessageQueue) int { return a.QueueID - b.QueueID })
		if !slices.Equal(user, want) {
			return fmt.Errorf("assignment %v, want %v exactly once", user, want)
		}
		return nil
	}
}

// TestPushConsumer_ClusteringSplit: two members of a group divide the
// queues, together get every message exactly once, and when one leaves the
// other takes its queues over (NOTIFY_CONSUMER_IDS_CHANGED) and gets the
// rest.
func TestPushConsumer_ClusteringSplit(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	topic := uniqueName("Split")
	createTopic(t, c, topic, 8)
	p := newProducer(t, c)
	group := uniqueName("GSplit")
	ra, rb := newReceived(), newReceived()
	all := newReceived()
	h := func(r *received) client.Handler {
		return func(ctx context.Context, msgs []*client.MessageExt) client.ConsumeResult {
			r.add(msgs...)
			all.add(msgs...)
			return client.ConsumeSuccess
		}
	}
	ca := newPushConsumer(t, c, topic, "*", h(ra), fastConsumer(group, client.WithInstanceName("a"))...)
	cb, err := client.NewPushConsumer(opts(t, c, fastConsumer(group, client.WithInstanceName("b"))...)...)
	require.NoError(t, err)
	require.NoError(t, cb.Subscribe(topic, "*", h(rb)))
	require.NoError(t, cb.Start(ctxT(t, 10*time.Second)))
	var want []client.MessageQueue
	for i := 0; i < 8; i++ {
		want = append(want, client.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueID: i})
	}
	cluster.Eventually(t, 10*time.Second, assignedAll(t, want, ca, cb))
	const n = 200
	sendN(t, p, topic, "m", n, nil)
	all.waitCount(t, n, 20*time.Second)
	require.Zero(t, all.duplicates(), "no duplicates without faults")
	require.NotZero(t, ra.count())
	require.NotZero(t, rb.count())
	require.Equal(t, n, ra.count()+rb.count())
	owned := func(pc *client.PushConsumer, r *received) {
		qs := pc.Assignment()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, m := range r.msgs {
			require.Contains(t, qs, m.Queue)
		}
	}
	owned(ca, ra)
	owned(cb, rb)

	// b leaves: a takes everything over.
	require.NoError(t, cb.Shutdown(ctxT(t, 10*time.Second)))
	cluster.Eventually(t, 10*time.Second, assignedAll(t, want, ca))
	sendN(t, p, topic, "after", 50, nil)
	all.waitCount(t, n+50, 20*time.Second)
	require.Zero(t, all.duplicates())
}

// TestPushConsumer_TagFilter: a "A || B" subscription gets exactly the A
// and B messages.
func TestPushConsumer_TagFilter(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	topic := uniqueName("Tags")
	createTopic(t, c, topic, 4)
	p := newProducer(t, c)
	tags := []string{"A", "B", "C", ""}
	sendN(t, p, topic, "t", 80, func(i int, m *client.Message) { m.Tags = tags[i%4]; m.SetProperty("n", fmt.Sprint(i)) })

	// A SQL92 selector, evaluated by the broker on properties.
	sr := newReceived()
	sc, err := client.NewPushConsumer(opts(t, c, fastConsumer(uniqueName("GSQL"))...)...)
	require.NoError(t, err)
	require.ErrorContains(t, sc.SubscribeSQL(topic, "n >", sr.handler()), "SQL92 selector")
	require.NoError(t, sc.SubscribeSQL(topic, "TAGS IN ('A', 'C') AND n >= 40", sr.handler()))
	require.NoError(t, sc.Start(ctxT(t, 10*time.Second)))
	t.Cleanup(func() { require.NoError(t, sc.Shutdown(context.Background())) })

	r := newReceived()
	newPushConsumer(t, c, topic, "A || B", r.handler(), fastConsumer(uniqueName("GTags"))...)
	r.waitCount(t, 40, 20*time.Second)
	// Everything after the last A/B message was filtered too: a marker
	// sent last proves the consumer went past the filtered ones.
	sendN(t, p, topic, "marker", 1, func(_ int, m *client.Message) { m.Tags = "B" })
	r.waitCount(t, 41, 10*time.Second)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		require.Contains(t, []string{"A", "B"}, m.Tags, "body %s", m.Body)
	}
	require.Zero(t, r.dups)

	sr.waitCount(t, 20, 20*time.Second)
	sendN(t, p, topic, "sqlmarker", 1, func(_ int, m *client.Message) { m.Tags = "C"; m.SetProperty("n", "1000") })
	sr.waitCount(t, 21, 10*time.Second)
	sr.mu.Lock()
	defer sr.mu.Unlock()
	require.Equal(t, 21, len(sr.msgs))
	for _, m := range sr.msgs {
		n, err := strconv.Atoi(m.Properties["n"])
		require.NoError(t, err)
		require.True(t, (m.Tags == "A" || m.Tags == "C") && n >= 40, "body %s tags %s n %d", m.Body, m.Tags, n)
	}
}

// TestPushConsumer_Broadcasting: every member gets every message.
func TestPushConsumer_Broadcasting(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	topic := uniqueName("Bcast")
	createTopic(t, c, topic, 4)
	p := newProducer(t, c)
	group := uniqueName("GBcast")
	r1, r2 := newReceived(), newReceived()
	c1 := newPushConsumer(t, c, topic, "*", r1.handler(), fastConsumer(group, client.WithMessageModel(client.Broadcasting), client.WithInstanceName("x"))...)
	c2 := newPushConsumer(t, c, topic, "*", r2.handler(), fastConsumer(group, client.WithMessageModel(client.Broadcasting), client.WithInstanceName("y"))...)
	require.Len(t, c1.Assignment(), 4, "broadcasting owns every queue, no retry topic")
	require.Len(t, c2.Assignment(), 4)
	sendN(t, p, topic, "b", 60, nil)
	r1.waitCount(t, 60, 20*time.Second)
	r2.waitCount(t, 60, 20*time.Second)
	require.Zero(t, r1.duplicates())
	require.Zero(t, r2.duplicates())
}

// TestPushConsumer_RetryLater: messages the handler refuses once come back
// through %RETRY%<group> with their original topic, body, properties and
// an incremented reconsume count.
func TestPushConsumer_RetryLater(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	topic := uniqueName("Retry")
	createTopic(t, c, topic, 2)
	p := newProducer(t, c)
	const n = 10
	sendN(t, p, topic, "r", n, func(i int, m *client.Message) { m.Tags = "R"; m.SetProperty("p", fmt.Sprint(i)) })
	var mu sync.Mutex
	attempts := map[string][]*client.MessageExt{}
	done := make(chan struct{})
	var finished atomic.Int32
	h := func(_ context.Context, msgs []*client.MessageExt) client.ConsumeResult {
		mu.Lock()
		defer mu.Unlock()
		res := client.ConsumeSuccess
		for _, m := range msgs {
			attempts[string(m.Body)] = append(attempts[string(m.Body)], m)
			if len(attempts[string(m.Body)]) == 1 {
				res = client.ConsumeRetryLater
			}
		}
		if res == client.ConsumeSuccess {
			for range msgs {
				if finished.Add(1) == n {
					close(done)
				}
			}
		}
		return res
	}
	t0 := time.Now()
	newPushConsumer(t, c, topic, "R", h, fastConsumer(uniqueName("GRetry"), client.WithConsumeBatchSize(1), client.WithRetryDelayLevel(1))...)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("only %d of %d messages redelivered", finished.Load(), n)
	}
	require.GreaterOrEqual(t, time.Since(t0), time.Second, "delay level 1 is 1 s")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, attempts, n)
	for body, ms := range attempts {
		require.Len(t, ms, 2, body)
		first, again := ms[0], ms[1]
		require.Equal(t, topic, again.Topic)
		require.Equal(t, first.Body, again.Body)
		require.Equal(t, first.Tags, again.Tags)
		require.Equal(t, first.Properties["p"], again.Properties["p"])
		require.Equal(t, 0, first.ReconsumeTimes)
		require.Equal(t, 1, again.ReconsumeTimes)
		require.Equal(t, topic, again.Properties[message.PropertyRetryTopic])
		require.True(t, message.IsRetryTopic(again.Queue.Topic), "redelivered from %s", again.Queue)
		require.Equal(t, first.MsgID, again.Properties[message.PropertyOriginMessageID])
	}
}

// TestPushConsumer_ResumeAndFromWhere: offsets committed on Shutdown make
// the next member resume exactly where the last one stopped; a new group
// with CONSUME_FROM_LAST_OFFSET skips what was stored before it started;
// CONSUME_FROM_TIMESTAMP starts at the first message stored at or after
// the timestamp. accessMessageInMemoryMaxRatio=0 makes every history count
// as large: by default a new group on a young queue starts at 0 whatever
// its consumeFromWhere, as in RocketMQ (TestPushConsumer_NewGroupOnYoungTopic).
func TestPushConsumer_ResumeAndFromWhere(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Config: map[string]string{"accessMessageInMemoryMaxRatio": "0"}})
	topic := uniqueName("Resume")
	createTopic(t, c, topic, 4)
	p := newProducer(t, c)
	group := uniqueName("GResume")
	sendN(t, p, topic, "first", 40, nil)

	r1 := newReceived()
	pc1, err := client.NewPushConsumer(opts(t, c, fastConsumer(group, client.WithCommitInterval(time.Hour))...)...)
	require.NoError(t, err)
	require.NoError(t, pc1.Subscribe(topic, "*", r1.handler()))
	require.NoError(t, pc1.Start(ctxT(t, 10*time.Second)))
	r1.waitCount(t, 40, 20*time.Second)
	require.NoError(t, pc1.Shutdown(ctxT(t, 10*time.Second))) // commits

	mid := time.Now()
	sendN(t, p, topic, "second", 40, nil)
	r2 := newReceived()
	newPushConsumer(t, c, topic, "*", r2.handler(), fastConsumer(group)...)
	r2.waitCount(t, 40, 20*time.Second)
	require.Zero(t, r2.duplicates())
	r2.mu.Lock()
	for body := range r2.msgs {
		require.Contains(t, body, "second", "resumed member re-got an old message")
	}
	r2.mu.Unlock()

	// New group from the last offset: only what is sent after it started.
	r3 := newReceived()
	newPushConsumer(t, c, topic, "*", r3.handler(), client.WithGroup(uniqueName("GLast")), client.WithConsumeFromWhere(client.ConsumeFromLastOffset))
	// New group from a timestamp: the second batch and later.
	r4 := newReceived()
	newPushConsumer(t, c, topic, "*", r4.handler(), client.WithGroup(uniqueName("GTime")),
		client.WithConsumeFromWhere(client.ConsumeFromTimestamp), client.WithConsumeTimestamp(mid))
	sendN(t, p, topic, "third", 20, nil)
	r3.waitCount(t, 20, 20*time.Second)
	r4.waitCount(t, 60, 20*time.Second)
	require.Equal(t, 20, r3.count())
	require.Nil(t, r3.get("first-0000"))
	require.Nil(t, r3.get("second-0000"))
	require.Nil(t, r4.get("first-0000"))
	require.NotNil(t, r4.get("second-0000"))
}

// TestPushConsumer_NewGroupOnYoungTopic: a new group with the default
// CONSUME_FROM_LAST_OFFSET on a topic whose messages are still "in memory"
// (RocketMQ's rule) gets the messages sent before it started too, so none
// sent while it was taking its queues is skipped.
func TestPushConsumer_NewGroupOnYoungTopic(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	topic := uniqueName("Young")
	createTopic(t, c, topic, 4)
	p := newProducer(t, c)
	sendN(t, p, topic, "early", 40, nil)
	r := newReceived()
	newPushConsumer(t, c, topic, "*", r.handler(), client.WithGroup(uniqueName("GYoung")))
	sendN(t, p, topic, "late", 10, nil)
	r.waitCount(t, 50, 20*time.Second)
	require.NotNil(t, r.get("early-0000"))
	require.Zero(t, r.duplicates())
}

// TestPushConsumer_DelayedMessage: a message sent with delay level 2 (2 s
// with this cluster's messageDelayLevel) is delivered no earlier than
// that, with its original topic and properties.
func TestPushConsumer_DelayedMessage(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Config: map[string]string{"messageDelayLevel": "1s 2s 3s"}})
	topic := uniqueName("Delay")
	createTopic(t, c, topic, 2)
	p := newProducer(t, c)
	r := newReceived()
	newPushConsumer(t, c, topic, "*", r.handler(), fastConsumer(uniqueName("GDelay"))...)
	t0 := time.Now()
	sendN(t, p, topic, "now", 1, nil)
	sendN(t, p, topic, "later", 1, func(_ int, m *client.Message) { m.DelayLevel = 2; m.SetProperty("x", "y") })
	r.waitCount(t, 2, 15*time.Second)
	now, later := r.get("now-0000"), r.get("later-0000")
	require.NotNil(t, later)
	require.Equal(t, topic, later.Topic)
	require.Equal(t, "y", later.Properties["x"])
	require.GreaterOrEqual(t, later.StoreTimestamp.Sub(now.StoreTimestamp), 1500*time.Millisecond)
	require.GreaterOrEqual(t, time.Since(t0), 2*time.Second)
}
