package compat

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// TestOfficialClient_TimerMessages: the official producer sets RocketMQ
// 5.x timer properties by hand (the Go client has no timer API); the push
// consumer gets each message once, not before its time, and a too-far
// timer is refused.
func TestOfficialClient_TimerMessages(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	ns := c.NamesrvAddr()
	const topic = "OfficialTimers"
	c.CreateTopic(t, topic, 2)
	p := newProducer(t, ns)
	var mu sync.Mutex
	got := map[string][]time.Time{}
	pc, err := rocketmq.NewPushConsumer(consumer.WithNameServer([]string{ns}), consumer.WithGroupName("OfficialTimerConsumers"),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset))
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, consumer.MessageSelector{}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			got[string(m.Body)] = append(got[string(m.Body)], time.Now())
		}
		return consumer.ConsumeSuccess, nil
	}))
	require.NoError(t, pc.Start())
	defer pc.Shutdown()

	sent := time.Now()
	ms := func(d time.Duration) string { return strconv.FormatInt(sent.Add(d).UnixMilli(), 10) }
	due := map[string]time.Time{}
	for _, tc := range []struct {
		body, key, value string
		in               time.Duration
	}{
		{"sec", "TIMER_DELAY_SEC", "2", 2 * time.Second},
		{"ms", "TIMER_DELAY_MS", "1200", 1200 * time.Millisecond},
		{"deliver", "TIMER_DELIVER_MS", ms(1500 * time.Millisecond), 1500 * time.Millisecond},
		{"ons", "__STARTDELIVERTIME", ms(1800 * time.Millisecond), 1800 * time.Millisecond},
		{"now", "TIMER_DELAY_MS", "0", 0},
	} {
		m := primitive.NewMessage(topic, []byte(tc.body))
		m.WithProperty(tc.key, tc.value)
		r, err := p.SendSync(context.Background(), m)
		require.NoError(t, err, tc.body)
		require.Equal(t, primitive.SendOK, r.Status)
		due[tc.body] = sent.Add(tc.in)
	}
	far := primitive.NewMessage(topic, []byte("far"))
	far.WithProperty("TIMER_DELAY_SEC", strconv.Itoa(4*86400))
	_, err = p.SendSync(context.Background(), far)
	require.ErrorContains(t, err, "timerMaxDelaySec", "a timer beyond 3 days is refused")

	cluster.Eventually(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) < len(due) {
			return fmt.Errorf("consumed %d of %d", len(got), len(due))
		}
		return nil
	})
	time.Sleep(time.Second) // no second delivery
	mu.Lock()
	defer mu.Unlock()
	for body, at := range due {
		require.Len(t, got[body], 1, "%s delivered once", body)
		require.False(t, got[body][0].Before(at), "%s consumed %v before its time", body, at.Sub(got[body][0]))
	}
}
