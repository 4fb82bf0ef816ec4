package compat

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

type sentMsg struct {
	tag, keys string
	prop      string
	bodyLen   int
}

// body makes a unique body; every 40th is 5000 bytes, which the official
// producer zlib-compresses (sysFlag bit 0): the broker stores and returns
// it as sent and the consumer inflates it.
func body(i int) []byte {
	b := []byte(fmt.Sprintf("m-%07d-", i))
	if i%40 == 0 {
		return append(b, bytes.Repeat([]byte("compressible "), 384)...)
	}
	return append(b, bytes.Repeat([]byte{'x'}, 100)...)
}

func newMessage(topic string, i int) (*primitive.Message, sentMsg) {
	tags := []string{"TagA", "TagB", "TagC"}
	m := primitive.NewMessage(topic, body(i))
	s := sentMsg{tag: tags[i%3], keys: fmt.Sprintf("k%d", i), prop: fmt.Sprintf("v%d", i), bodyLen: len(body(i))}
	m.WithTag(s.tag)
	m.WithKeys([]string{s.keys})
	m.WithProperty("user", s.prop)
	return m, s
}

// TestOfficialClient_ProduceAndConsume is issue 4's acceptance run: the
// official producer (SendSync, SendAsync, SendOneWay, batch; tags, keys,
// user properties, compressed bodies) against a 3-node group, and two push
// consumers in one group with a tag subscription that split the queues
// and together receive every matching message exactly, with identical
// body, tags, keys and properties.
func TestOfficialClient_ProduceAndConsume(t *testing.T) {
	total := 100_000
	if testing.Short() {
		total = 10_000
	}
	c := cluster.Start(t, cluster.Options{})
	ns := c.NamesrvAddr()
	topic := "Acceptance"
	p := newProducer(t, ns)

	var mu sync.Mutex
	sent := map[string]sentMsg{}
	record := func(i int, s sentMsg) {
		mu.Lock()
		sent[string(body(i))] = s
		mu.Unlock()
	}
	var failed atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		if failed.Add(1) == 1 {
			firstErr.Store(err)
		}
	}
	start := time.Now()
	const workers = 48
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			ctx := context.Background()
			for i := w * 10; i < total; i += workers * 10 {
				// Ten messages per step, in one of four ways.
				switch (i / 10) % 4 {
				case 0: // sync, one by one
					for j := i; j < i+10 && j < total; j++ {
						m, s := newMessage(topic, j)
						if r, err := p.SendSync(ctx, m); err != nil || r.Status != primitive.SendOK {
							fail(fmt.Errorf("sync %d: %v %v", j, r, err))
							continue
						}
						record(j, s)
					}
				case 1: // async
					var aw sync.WaitGroup
					for j := i; j < i+10 && j < total; j++ {
						m, s := newMessage(topic, j)
						aw.Add(1)
						j := j
						if err := p.SendAsync(ctx, func(_ context.Context, r *primitive.SendResult, err error) {
							defer aw.Done()
							if err != nil || r.Status != primitive.SendOK {
								fail(fmt.Errorf("async %d: %v %v", j, r, err))
								return
							}
							record(j, s)
						}, m); err != nil {
							aw.Done()
							fail(err)
						}
					}
					aw.Wait()
				case 2: // oneway: no acknowledgement, but nothing is lost without faults
					for j := i; j < i+10 && j < total; j++ {
						m, s := newMessage(topic, j)
						if err := p.SendOneWay(ctx, m); err != nil {
							fail(fmt.Errorf("oneway %d: %v", j, err))
							continue
						}
						record(j, s)
					}
				case 3: // one batch (never compressed by the client)
					var ms []*primitive.Message
					var ss []sentMsg
					var idx []int
					for j := i; j < i+10 && j < total; j++ {
						m, s := newMessage(topic, j)
						if j%40 == 0 {
							m.Body = m.Body[:20]
							s.bodyLen = 20
						}
						ms, ss, idx = append(ms, m), append(ss, s), append(idx, j)
					}
					if r, err := p.SendSync(ctx, ms...); err != nil || r.Status != primitive.SendOK {
						fail(fmt.Errorf("batch %d: %v %v", i, r, err))
						continue
					}
					mu.Lock()
					for k, j := range idx {
						sent[string(ms[k].Body)] = ss[k]
						_ = j
					}
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if v := firstErr.Load(); v != nil {
		t.Fatalf("%d sends failed; first: %v", failed.Load(), v)
	}
	require.Len(t, sent, total)
	t.Logf("produced %d messages with the official client in %v (%.0f msgs/s)", total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())

	// Two consumers in one group, subscribed to TagA || TagB.
	want := 0
	for _, s := range sent {
		if s.tag != "TagC" {
			want++
		}
	}
	group := "AcceptanceGroup"
	r1 := &received{msgs: map[string]*primitive.MessageExt{}}
	r2 := &received{msgs: map[string]*primitive.MessageExt{}}
	sel := consumer.MessageSelector{Type: consumer.TAG, Expression: "TagA || TagB"}
	newInstanceConsumer(t, ns, group, topic, "c1", sel, r1)
	newInstanceConsumer(t, ns, group, topic, "c2", sel, r2)
	cstart := time.Now()
	// Distinct messages over both consumers: during a rebalance both may
	// get the same message, so the sum of their counts overstates.
	distinct := func() int {
		r1.mu.Lock()
		defer r1.mu.Unlock()
		r2.mu.Lock()
		defer r2.mu.Unlock()
		n := len(r1.msgs)
		for b := range r2.msgs {
			if _, ok := r1.msgs[b]; !ok {
				n++
			}
		}
		return n
	}
	cluster.Eventually(t, 120*time.Second, func() error {
		if got := distinct(); got < want {
			return fmt.Errorf("consumed %d distinct of %d (c1 %d, c2 %d)", got, want, r1.count(), r2.count())
		}
		return nil
	})
	t.Logf("consumed %d messages with two official push consumers in %v", want, time.Since(cstart).Round(time.Millisecond))
	require.Positive(t, r1.count(), "c1 got no queue")
	require.Positive(t, r2.count(), "c2 got no queue")
	// At-least-once: while the second consumer joins, the first may already
	// have consumed (but not yet committed) messages of the queues it hands
	// over; those are delivered again. Count them.
	seen := map[string]bool{}
	both := 0
	// The consumers still run (redeliveries may still arrive): read under
	// their locks.
	r1.mu.Lock()
	defer r1.mu.Unlock()
	r2.mu.Lock()
	defer r2.mu.Unlock()
	for _, r := range []*received{r1, r2} {
		for b, m := range r.msgs {
			if seen[b] {
				both++
			}
			seen[b] = true
			s, ok := sent[b]
			require.True(t, ok, "unknown message %q", b[:12])
			require.NotEqual(t, "TagC", s.tag, "TagC must be filtered out")
			require.Equal(t, s.tag, m.GetTags())
			require.Equal(t, s.keys, m.GetKeys())
			require.Equal(t, s.prop, m.GetProperty("user"))
			require.Len(t, m.Body, s.bodyLen)
		}
	}
	require.Equal(t, want, len(seen), "distinct messages consumed")
	t.Logf("redelivered: %d to both consumers (rebalance), %d within c1, %d within c2", both, r1.dups, r2.dups)
}

func newInstanceConsumer(t *testing.T, ns, group, topic, instance string, sel consumer.MessageSelector, r *received) rocketmq.PushConsumer {
	t.Helper()
	c, err := rocketmq.NewPushConsumer(
		consumer.WithNameServer(strings.Split(ns, ";")),
		consumer.WithGroupName(group),
		consumer.WithInstance(instance),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
		consumer.WithConsumerModel(consumer.Clustering),
		consumer.WithPullBatchSize(64),
		consumer.WithConsumeMessageBatchMaxSize(64),
	)
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
