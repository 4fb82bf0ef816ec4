package compat

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	rlog.SetLogLevel("error")
	os.Exit(m.Run())
}

func newProducer(t *testing.T, ns string, opts ...producer.Option) rocketmq.Producer {
	t.Helper()
	opts = append([]producer.Option{
		producer.WithNameServer(strings.Split(ns, ";")),
		// Subtest names have '/' and '=', which group names may not.
		producer.WithGroupName(fmt.Sprintf("P_%s_%d", strings.NewReplacer("/", "_", "=", "_").Replace(t.Name()), time.Now().UnixNano())),
		producer.WithRetry(3),
		producer.WithSendMsgTimeout(5 * time.Second),
	}, opts...)
	p, err := rocketmq.NewProducer(opts...)
	require.NoError(t, err)
	require.NoError(t, p.Start())
	t.Cleanup(func() { p.Shutdown() })
	return p
}

// received collects messages by body.
type received struct {
	mu   sync.Mutex
	msgs map[string]*primitive.MessageExt
	dups int
}

func (r *received) add(m *primitive.MessageExt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.msgs[string(m.Body)]; ok {
		r.dups++
		return
	}
	r.msgs[string(m.Body)] = m
}

// missing counts the ids (cluster.IDOf of a body) not received.
func (r *received) missing(ids []string) int {
	r.mu.Lock()
	got := make(map[string]bool, len(r.msgs))
	for body := range r.msgs {
		got[cluster.IDOf([]byte(body))] = true
	}
	r.mu.Unlock()
	n := 0
	for _, id := range ids {
		if !got[id] {
			n++
		}
	}
	return n
}

func (r *received) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func newPushConsumer(t *testing.T, ns, group, topic string, sel consumer.MessageSelector, r *received, opts ...consumer.Option) rocketmq.PushConsumer {
	t.Helper()
	c, err := rocketmq.NewPushConsumer(append([]consumer.Option{
		consumer.WithNameServer(strings.Split(ns, ";")),
		consumer.WithGroupName(group),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
		consumer.WithConsumerModel(consumer.Clustering),
	}, opts...)...)
	require.NoError(t, err)
	require.NoError(t, c.Subscribe(topic, sel, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		for _, m := range msgs {
			r.add(m)
		}
		return consumer.ConsumeSuccess, nil
	}))
	require.NoError(t, c.Start())
	t.Cleanup(func() { c.Shutdown() })
	return c
}

func TestOfficialClient_Smoke(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	ns := c.NamesrvAddr()
	p := newProducer(t, ns)
	const n = 200
	topic := "SmokeTopic"
	for i := 0; i < n; i++ {
		m := primitive.NewMessage(topic, []byte(fmt.Sprintf("body-%d", i)))
		m.WithTag("TagA")
		m.WithKeys([]string{fmt.Sprintf("key-%d", i)})
		m.WithProperty("p", fmt.Sprint(i))
		res, err := p.SendSync(context.Background(), m)
		require.NoError(t, err)
		require.Equal(t, primitive.SendOK, res.Status, "send %d: %v", i, res)
	}
	r := &received{msgs: map[string]*primitive.MessageExt{}}
	newPushConsumer(t, ns, "SmokeGroup", topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "TagA"}, r)
	cluster.Eventually(t, 60*time.Second, func() error {
		if got := r.count(); got < n {
			return fmt.Errorf("consumed %d of %d", got, n)
		}
		return nil
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := 0; i < n; i++ {
		m := r.msgs[fmt.Sprintf("body-%d", i)]
		require.NotNil(t, m)
		require.Equal(t, "TagA", m.GetTags())
		require.Equal(t, fmt.Sprintf("key-%d", i), m.GetKeys())
		require.Equal(t, fmt.Sprint(i), m.GetProperty("p"))
	}

	// A SQL92 subscription is filtered by the broker on properties.
	sql := &received{msgs: map[string]*primitive.MessageExt{}}
	newPushConsumer(t, ns, "SmokeSQLGroup", topic, consumer.MessageSelector{Type: consumer.SQL92,
		Expression: "p >= 150 AND TAGS = 'TagA' AND KEYS STARTSWITH 'key-1'"}, sql)
	cluster.Eventually(t, 60*time.Second, func() error {
		if got := sql.count(); got < 50 {
			return fmt.Errorf("SQL92 consumer got %d of 50", got)
		}
		return nil
	})
	time.Sleep(time.Second) // anything unfiltered would show up by now
	sql.mu.Lock()
	defer sql.mu.Unlock()
	require.Equal(t, 50, len(sql.msgs), "only the selected messages")
	for i := 150; i < n; i++ {
		require.NotNil(t, sql.msgs[fmt.Sprintf("body-%d", i)], i)
	}
}
