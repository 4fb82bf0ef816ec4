package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

// orderlyTracker records the handler calls of an orderly group on one
// topic: how many handlers run at once per queue (overlaps counts calls
// that found another one of their queue running) and, per queue, the
// handled offsets in the order they were handled, with who handled them.
type orderlyTracker struct {
	topic    string
	inFlight []atomic.Int32
	overlaps atomic.Int32
	mu       sync.Mutex
	seq      map[int][]handledMsg
	ch       chan struct{}
}

type handledMsg struct {
	off int64
	by  string
}

func newOrderlyTracker(topic string, queues int) *orderlyTracker {
	return &orderlyTracker{topic: topic, inFlight: make([]atomic.Int32, queues), seq: map[int][]handledMsg{}, ch: make(chan struct{}, 1)}
}

// handler records each message for consumer by and holds it for hold,
// while counting as in the handler of its queue.
func (tr *orderlyTracker) handler(by string, hold time.Duration) client.Handler {
	return func(_ context.Context, msgs []*client.MessageExt) client.ConsumeResult {
		for _, m := range msgs {
			if m.Queue.Topic != tr.topic {
				continue // nothing is sent back in these tests
			}
			q := m.Queue.QueueID
			if tr.inFlight[q].Add(1) != 1 {
				tr.overlaps.Add(1)
			}
			tr.mu.Lock()
			tr.seq[q] = append(tr.seq[q], handledMsg{off: m.QueueOffset, by: by})
			tr.mu.Unlock()
			if hold > 0 {
				time.Sleep(hold)
			}
			tr.inFlight[q].Add(-1)
		}
		select {
		case tr.ch <- struct{}{}:
		default:
		}
		return client.ConsumeSuccess
	}
}

// distinct counts the distinct offsets handled of queue q (q < 0: all
// queues).
func (tr *orderlyTracker) distinct(q int) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for qid, s := range tr.seq {
		if q >= 0 && qid != q {
			continue
		}
		seen := map[int64]bool{}
		for _, h := range s {
			seen[h.off] = true
		}
		n += len(seen)
	}
	return n
}

func (tr *orderlyTracker) handled(q int) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.seq[q])
}

// waitDistinct waits until cond holds for the tracker, checking after
// every handler call.
func (tr *orderlyTracker) wait(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-tr.ch:
		case <-time.After(50 * time.Millisecond):
		case <-deadline.C:
			t.Fatalf("not within %v: %s (handled %d distinct)", timeout, what, tr.distinct(-1))
		}
	}
}

func (tr *orderlyTracker) waitDistinct(t testing.TB, q, n int, timeout time.Duration) {
	t.Helper()
	tr.wait(t, timeout, fmt.Sprintf("%d messages of queue %d", n, q), func() bool { return tr.distinct(q) >= n })
}

// check asserts that no two handlers of one queue ever ran at once and
// that each queue q was consumed in order, all of want[q] messages
// (offsets 0..want[q]-1): each consumer's run of a queue goes offset by
// offset, and a run taking a queue over starts at most one past the last
// handled offset (an earlier start is an at-least-once redelivery, never a
// skip). It returns the redeliveries and the owner changes.
func (tr *orderlyTracker) check(t testing.TB, want map[int]int64) (redelivered, handovers int) {
	t.Helper()
	require.Zero(t, tr.overlaps.Load(), "a queue was in two handlers at once")
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for q, n := range want {
		s := tr.seq[q]
		require.NotEmpty(t, s, "queue %d not consumed", q)
		require.Equal(t, int64(0), s[0].off, "queue %d starts at %d", q, s[0].off)
		seen := map[int64]bool{0: true}
		maxOff := int64(0)
		for i := 1; i < len(s); i++ {
			prev, cur := s[i-1], s[i]
			if cur.by == prev.by {
				require.Equal(t, prev.off+1, cur.off, "queue %d: %s handled %d after %d", q, cur.by, cur.off, prev.off)
			} else {
				handovers++
				require.LessOrEqual(t, cur.off, maxOff+1, "queue %d: %s took over at %d, past %d", q, cur.by, cur.off, maxOff+1)
			}
			if seen[cur.off] {
				redelivered++
			}
			seen[cur.off] = true
			maxOff = max(maxOff, cur.off)
		}
		require.Equal(t, n-1, maxOff, "queue %d: last offset", q)
		require.Len(t, seen, int(n), "queue %d: every offset handled", q)
	}
	return redelivered, handovers
}

// perQueue counts sent messages per queue id (their offsets are 0..n-1
// on a new topic).
func perQueue(res []*client.SendResult) map[int]int64 {
	out := map[int]int64{}
	for _, r := range res {
		out[r.Queue.QueueID] = max(out[r.Queue.QueueID], r.QueueOffset+1)
	}
	return out
}

// lockAs sends LOCK_BATCH_MQ or UNLOCK_BATCH_MQ for group as clientID
// straight to node n and returns the queues locked (LOCK).
func lockAs(t testing.TB, c *cluster.Cluster, n *cluster.Node, code transport.RequestCode, group, clientID string, mqs ...client.MessageQueue) []client.MessageQueue {
	t.Helper()
	body := transport.LockBatchRequestBody{ConsumerGroup: group, ClientID: clientID}
	for _, q := range mqs {
		body.MQSet = append(body.MQSet, transport.MessageQueue{Topic: q.Topic, BrokerName: q.BrokerName, QueueID: int32(q.QueueID)})
	}
	b, err := transport.EncodeBody(body)
	require.NoError(t, err)
	resp, err := c.Group(0).Call(n, transport.NewRequest(code, nil, b), 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, int16(transport.RespSuccess), resp.Code, resp.Remark)
	if code != transport.ReqLockBatchMQ {
		return nil
	}
	var rb transport.LockBatchResponseBody
	require.NoError(t, transport.DecodeBody(resp.Body, &rb))
	out := []client.MessageQueue{}
	for _, q := range rb.LockOKMQSet {
		out = append(out, client.MessageQueue{Topic: q.Topic, BrokerName: q.BrokerName, QueueID: int(q.QueueID)})
	}
	return out
}

func orderly(group string, more ...client.Option) []client.Option {
	return fastConsumer(group, append([]client.Option{client.WithConsumeOrderly(true), client.WithConsumeBatchSize(1)}, more...)...)
}

// TestPushConsumer_OrderlyRebalance: two orderly members of a group share
// a topic's 8 queues while messages flow: a starts alone, b joins (a gives
// half the queues up, b takes them once a unlocked them), a leaves (b
// takes the rest). No queue is ever in two handlers at once, and every
// message is handled, per queue in order.
func TestPushConsumer_OrderlyRebalance(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	const queues = 8
	topic := uniqueName("OrdReb")
	createTopic(t, c, topic, queues)
	group := uniqueName("GOrdReb")
	tr := newOrderlyTracker(topic, queues)
	const hold = 2 * time.Millisecond // long enough for a second handler to overlap

	p := newProducer(t, c)
	ctx := ctxT(t, 60*time.Second)
	var (
		mu      sync.Mutex
		results []*client.SendResult
		sendErr error
	)
	sentCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(results)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 4000; i++ { // bounded; stopped much earlier
			select {
			case <-stop:
				return
			default:
			}
			r, err := p.Send(ctx, client.NewMessage(topic, []byte(fmt.Sprintf("o-%05d", i))))
			mu.Lock()
			if err != nil {
				sendErr = err
			} else {
				results = append(results, r)
			}
			mu.Unlock()
			if err != nil {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	stopSending := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopSending()

	ca := newPushConsumer(t, c, topic, "*", tr.handler("a", hold), orderly(group, client.WithInstanceName("a"))...)
	tr.wait(t, 20*time.Second, "a consumes", func() bool { return tr.distinct(-1) >= 50 })

	var want []client.MessageQueue
	for i := 0; i < queues; i++ {
		want = append(want, client.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueID: i})
	}
	cb := newPushConsumer(t, c, topic, "*", tr.handler("b", hold), orderly(group, client.WithInstanceName("b"))...)
	cluster.Eventually(t, 15*time.Second, assignedAll(t, want, ca, cb))
	n := tr.distinct(-1)
	tr.wait(t, 20*time.Second, "both consume", func() bool { return tr.distinct(-1) >= n+100 })

	require.NoError(t, ca.Shutdown(ctxT(t, 10*time.Second)))
	cluster.Eventually(t, 15*time.Second, assignedAll(t, want, cb))
	n = tr.distinct(-1)
	tr.wait(t, 20*time.Second, "b consumes alone", func() bool { return tr.distinct(-1) >= n+100 })

	stopSending()
	require.NoError(t, sendErr)
	require.NotZero(t, sentCount())
	tr.wait(t, 30*time.Second, "every message", func() bool { return tr.distinct(-1) >= sentCount() })
	redelivered, handovers := tr.check(t, perQueue(results))
	t.Logf("%d messages, %d handovers, %d redelivered", sentCount(), handovers, redelivered)
	require.GreaterOrEqual(t, handovers, queues, "every queue changed hands at least once")
}

// TestPushConsumer_OrderlyLockHeldElsewhere: a queue whose lock another
// client holds is not consumed (the others are) until that client lets it
// go; then it is, in order, and the broker refuses its lock to the other
// client.
func TestPushConsumer_OrderlyLockHeldElsewhere(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	topic := uniqueName("OrdHeld")
	createTopic(t, c, topic, 4)
	group := uniqueName("GOrdHeld")
	const holder = "127.0.0.1@1@other-holder"
	q0 := client.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueID: 0}
	leader := c.Group(0).Leader()
	require.NotNil(t, leader)
	require.Equal(t, []client.MessageQueue{q0}, lockAs(t, c, leader, transport.ReqLockBatchMQ, group, holder, q0))

	tr := newOrderlyTracker(topic, 4)
	pc := newPushConsumer(t, c, topic, "*", tr.handler("a", 0), orderly(group)...)
	p := newProducer(t, c)
	want := perQueue(sendN(t, p, topic, "h", 40, nil))
	require.Len(t, want, 4)
	for q := 1; q < 4; q++ {
		tr.waitDistinct(t, q, int(want[q]), 20*time.Second)
	}
	time.Sleep(1500 * time.Millisecond) // the consumer tries to lock q0 every second
	require.Zero(t, tr.handled(0), "a queue locked by another client was consumed")
	require.NotContains(t, pc.Assignment(), q0)

	lockAs(t, c, leader, transport.ReqUnlockBatchMQ, group, holder, q0)
	tr.waitDistinct(t, 0, int(want[0]), 10*time.Second)
	tr.check(t, want)
	require.Contains(t, pc.Assignment(), q0)
	require.Empty(t, lockAs(t, c, leader, transport.ReqLockBatchMQ, group, holder, q0), "the consumer holds q0 now")
}

// TestPushConsumer_OrderlyLockLost: when a lock renewal finds a queue's
// lock taken by another client (here after a leadership change emptied
// the brokers' locks), the consumer stops the queue and consumes it again
// only once the other client let it go, from where it stopped.
func TestPushConsumer_OrderlyLockLost(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	topic := uniqueName("OrdLost")
	createTopic(t, c, topic, 2)
	group := uniqueName("GOrdLost")
	const holder = "127.0.0.1@1@thief"
	q0 := client.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueID: 0}
	q1 := client.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueID: 1}
	tr := newOrderlyTracker(topic, 2)
	pc := newPushConsumer(t, c, topic, "*", tr.handler("a", 0), orderly(group, client.WithLockRenewInterval(2*time.Second))...)
	p := newProducer(t, c)
	first := sendN(t, p, topic, "before", 10, nil)
	tr.wait(t, 20*time.Second, "first messages", func() bool { return tr.distinct(-1) >= 10 })

	// A new leader starts without locks; the other client locks q0 before
	// the consumer's next renewal (every 2 s), which usually comes later.
	g := c.Group(0)
	stolen := false
	for attempt := 0; attempt < 3 && !stolen; attempt++ {
		old := g.Leader()
		require.NotNil(t, old)
		resp, err := g.Call(old, transport.NewRequest(transport.ReqTransferLeader, map[string]string{"target": ""}, nil), 15*time.Second)
		require.NoError(t, err)
		require.Equal(t, int16(transport.RespSuccess), resp.Code, resp.Remark)
		stolen = len(lockAs(t, c, g.WaitNewLeader(t, old, 15*time.Second), transport.ReqLockBatchMQ, group, holder, q0)) == 1
	}
	require.True(t, stolen, "the consumer renewed its lock first three times")
	cluster.Eventually(t, 10*time.Second, func() error {
		if a := pc.Assignment(); slices.Contains(a, q0) || !slices.Contains(a, q1) {
			return fmt.Errorf("assignment %v, want q1 without q0", a)
		}
		return nil
	})
	before := tr.handled(0)
	more := sendN(t, p, topic, "after", 20, nil)
	want := perQueue(append(first, more...))
	tr.waitDistinct(t, 1, int(want[1]), 20*time.Second)
	time.Sleep(time.Second)
	require.Equal(t, before, tr.handled(0), "q0 consumed while another client holds its lock")

	lockAs(t, c, g.Leader(), transport.ReqUnlockBatchMQ, group, holder, q0)
	tr.waitDistinct(t, 0, int(want[0]), 15*time.Second)
	redelivered, _ := tr.check(t, want)
	require.Zero(t, redelivered, "offsets were committed as consumed")
}

// TestPushConsumer_OrderlyRetryInPlace: a message the handler refuses is
// handed to it again (ReconsumeTimes incremented) before any later
// message of its queue, not sent to %RETRY%; after WithMaxReconsumeTimes
// retries it goes to the group's %DLQ% and the queue moves on.
func TestPushConsumer_OrderlyRetryInPlace(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	topic := uniqueName("OrdRetry")
	createTopic(t, c, topic, 1)
	group := uniqueName("GOrdRetry")
	p := newProducer(t, c)
	sendN(t, p, topic, "r", 8, nil)
	type call struct {
		body    string
		times   int
		topic   string
		success bool
	}
	var mu sync.Mutex
	var calls []call
	done := make(chan struct{})
	h := func(_ context.Context, msgs []*client.MessageExt) client.ConsumeResult {
		m := msgs[0]
		mu.Lock()
		defer mu.Unlock()
		// r-0002 succeeds on its third call; r-0005 never does.
		ok := !(string(m.Body) == "r-0002" && m.ReconsumeTimes < 2) && string(m.Body) != "r-0005"
		calls = append(calls, call{body: string(m.Body), times: m.ReconsumeTimes, topic: m.Queue.Topic, success: ok})
		if string(m.Body) == "r-0007" {
			close(done)
		}
		if !ok {
			return client.ConsumeRetryLater
		}
		return client.ConsumeSuccess
	}
	newPushConsumer(t, c, topic, "*", h, orderly(group, client.WithMaxReconsumeTimes(2))...)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the queue did not get past its refused messages")
	}
	mu.Lock()
	var got []string
	for _, cl := range calls {
		require.Equal(t, topic, cl.topic)
		got = append(got, fmt.Sprintf("%s/%d/%v", cl.body, cl.times, cl.success))
	}
	mu.Unlock()
	require.Equal(t, []string{"r-0000/0/true", "r-0001/0/true",
		"r-0002/0/false", "r-0002/1/false", "r-0002/2/true",
		"r-0003/0/true", "r-0004/0/true",
		"r-0005/0/false", "r-0005/1/false", "r-0005/2/false",
		"r-0006/0/true", "r-0007/0/true"}, got)

	// r-0005 is in the dead-letter queue.
	pull, err := client.NewPullConsumer(opts(t, c, client.WithGroup(uniqueName("GDLQ")))...)
	require.NoError(t, err)
	defer pull.Shutdown(context.Background())
	dlq := message.DLQTopic(group)
	cluster.Eventually(t, 15*time.Second, func() error {
		ctx := ctxT(t, 5*time.Second)
		qs, err := pull.Queues(ctx, dlq)
		if err != nil {
			return err
		}
		for _, q := range qs {
			res, err := pull.Pull(ctx, q, 0, 16)
			if err != nil {
				return err
			}
			for _, m := range res.Messages {
				if string(m.Body) == "r-0005" {
					return nil
				}
			}
		}
		return errors.New("r-0005 not in " + dlq + " yet")
	})
}
