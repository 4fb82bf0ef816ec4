package client_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger sends client logs to the test log, warnings and up only
// unless RAFTMQ_CLIENT_DEBUG is set.
func testLogger(t testing.TB) hclog.Logger {
	level := hclog.Warn
	if os.Getenv("RAFTMQ_CLIENT_DEBUG") != "" {
		level = hclog.Debug
	}
	return hclog.New(&hclog.LoggerOptions{Name: "client", Level: level, Output: &tWriter{t: t}})
}

type tWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func opts(t testing.TB, c *cluster.Cluster, more ...client.Option) []client.Option {
	return append([]client.Option{client.WithNameServers(c.NamesrvAddr()), client.WithLogger(testLogger(t))}, more...)
}

func newProducer(t testing.TB, c *cluster.Cluster, more ...client.Option) *client.Producer {
	t.Helper()
	p, err := client.NewProducer(opts(t, c, more...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return p
}

func newAdmin(t testing.TB, c *cluster.Cluster, more ...client.Option) *client.Admin {
	t.Helper()
	a, err := client.NewAdmin(opts(t, c, more...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, a.Shutdown(context.Background())) })
	return a
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var topicSeq int

func uniqueName(prefix string) string {
	topicSeq++
	return fmt.Sprintf("%s_%d_%d", prefix, time.Now().UnixNano()%1e9, topicSeq)
}

// received collects delivered messages by body and counts redeliveries.
type received struct {
	mu   sync.Mutex
	msgs map[string]*client.MessageExt
	at   map[string]bool // queue@offset delivered
	// dups counts deliveries of a stored message (queue and offset) that
	// was already delivered: the consumer's at-least-once redeliveries.
	// A second stored copy of a body (a producer retry after a leadership
	// change left the first outcome unknown) is not one.
	dups int
	seen int
	ch   chan struct{} // signalled on every delivery
}

func newReceived() *received {
	return &received{msgs: map[string]*client.MessageExt{}, at: map[string]bool{}, ch: make(chan struct{}, 1)}
}

func (r *received) add(ms ...*client.MessageExt) {
	r.mu.Lock()
	for _, m := range ms {
		r.seen++
		at := fmt.Sprintf("%s@%d", m.Queue, m.QueueOffset)
		if r.at[at] {
			r.dups++
		}
		r.at[at] = true
		if _, ok := r.msgs[string(m.Body)]; !ok {
			r.msgs[string(m.Body)] = m
		}
	}
	r.mu.Unlock()
	select {
	case r.ch <- struct{}{}:
	default:
	}
}

func (r *received) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func (r *received) duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dups
}

func (r *received) get(body string) *client.MessageExt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msgs[body]
}

func (r *received) handler() client.Handler {
	return func(_ context.Context, msgs []*client.MessageExt) client.ConsumeResult {
		r.add(msgs...)
		return client.ConsumeSuccess
	}
}

// waitCount waits until n distinct bodies arrived.
func (r *received) waitCount(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for r.count() < n {
		select {
		case <-r.ch:
		case <-deadline.C:
			t.Fatalf("received %d of %d messages within %v", r.count(), n, timeout)
		}
	}
}

// pullAll reads every message of topic from offset 0 with a pull consumer.
func pullAll(t testing.TB, c *cluster.Cluster, topic string) []*client.MessageExt {
	t.Helper()
	pc, err := client.NewPullConsumer(opts(t, c, client.WithGroup(uniqueName("PullAll")))...)
	require.NoError(t, err)
	defer pc.Shutdown(context.Background())
	ctx := ctxT(t, 30*time.Second)
	qs, err := pc.Queues(ctx, topic)
	require.NoError(t, err)
	var out []*client.MessageExt
	for _, q := range qs {
		off := int64(0)
		for {
			res, err := pc.Pull(ctx, q, off, 64)
			require.NoError(t, err)
			if res.Status != client.PullFound {
				break
			}
			out = append(out, res.Messages...)
			off = res.NextBeginOffset
		}
	}
	return out
}

func newPushConsumer(t testing.TB, c *cluster.Cluster, topic, expr string, h client.Handler, more ...client.Option) *client.PushConsumer {
	t.Helper()
	pc, err := client.NewPushConsumer(opts(t, c, more...)...)
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, expr, h))
	require.NoError(t, pc.Start(ctxT(t, 10*time.Second)))
	t.Cleanup(func() { require.NoError(t, pc.Shutdown(context.Background())) })
	return pc
}

func createTopic(t testing.TB, c *cluster.Cluster, topic string, queues int) {
	t.Helper()
	a, err := client.NewAdmin(opts(t, c)...)
	require.NoError(t, err)
	defer a.Shutdown(context.Background())
	require.NoError(t, a.CreateTopic(ctxT(t, 10*time.Second), client.TopicConfig{Topic: topic, ReadQueues: queues, WriteQueues: queues}, client.Target{}))
}
