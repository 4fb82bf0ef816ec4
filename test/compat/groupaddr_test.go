package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

// failoverRun is one series of leader SIGKILLs under the official producer
// (SendSync, one in flight, default retries and timeout) and push consumer.
type failoverRun struct {
	gaps     []time.Duration
	report   cluster.Report
	consumed int
	dups     int
}

func officialFailover(t *testing.T, groupAddr bool, trials int) failoverRun {
	c := cluster.Start(t, cluster.Options{GroupAddr: groupAddr})
	g := c.Group(0)
	ns := c.NamesrvAddr()
	topic := fmt.Sprintf("OfficialFailover%v", groupAddr)
	c.CreateTopic(t, topic, 4)
	p := newProducer(t, ns, producer.WithRetry(2), producer.WithSendMsgTimeout(3*time.Second))
	r := &received{msgs: map[string]*primitive.MessageExt{}}
	newPushConsumer(t, ns, topic+"Consumers", topic, consumer.MessageSelector{}, r)
	h := cluster.NewHistory()
	send := func(ctx context.Context, i int) error {
		id, body := h.Body("official", i, 200)
		h.SendingBody(id, topic, body)
		m := primitive.NewMessage(topic, body)
		m.WithKeys([]string{id})
		res, err := p.SendSync(ctx, m)
		if err == nil && res.Status != primitive.SendOK {
			err = fmt.Errorf("status %v", res.Status)
		}
		if err != nil {
			h.Record(id, err, "", "", 0, 0)
			return err
		}
		h.Record(id, nil, res.MsgID, res.MessageQueue.BrokerName, int32(res.MessageQueue.QueueId), res.QueueOffset)
		return nil
	}
	for i := 0; i < 10; i++ { // warm the route cache
		require.NoError(t, send(context.Background(), -1-i))
	}
	out := failoverRun{gaps: cluster.MeasureFailover(t, g, trials, send)}
	g.WaitCaughtUp(t, 60*time.Second)
	out.report = h.Check(c.ReadBack(t, topic, 60*time.Second))
	require.True(t, out.report.OK(), "%s", out.report)
	acked := h.AckedIDs()
	cluster.Eventually(t, 60*time.Second, func() error {
		if missing := r.missing(acked); missing > 0 {
			return fmt.Errorf("push consumer: %d of %d acknowledged messages not consumed", missing, len(acked))
		}
		return nil
	})
	r.mu.Lock()
	out.consumed, out.dups = len(r.msgs), r.dups
	r.mu.Unlock()
	return out
}

// TestOfficialClient_GroupAddressFailover: with a group address the
// official producer keeps sending across leader SIGKILLs without waiting
// for its 30 s route refresh, nothing acknowledged is lost and the push
// consumer consumes every acknowledged message. (The timings are
// measured by make bench-failover; the bound here only tells the group
// address from the route refresh.)
func TestOfficialClient_GroupAddressFailover(t *testing.T) {
	run := officialFailover(t, true, 3)
	t.Logf("official client with a group address, %d leader SIGKILLs: %s; %s; consumed %d, duplicates %d",
		len(run.gaps), cluster.Quantiles(run.gaps), run.report, run.consumed, run.dups)
	for i, gap := range run.gaps {
		require.Less(t, gap, 10*time.Second, "kill %d: the producer waited for a route refresh", i+1)
	}
}

// TestBenchFailoverGroupAddr is make bench-failover's official-client
// rows: with and without a group address (RAFTMQ_FAILOVER_TRIALS, default
// 20 and 5).
func TestBenchFailoverGroupAddr(t *testing.T) {
	cluster.BenchOnly(t, "RAFTMQ_FAILOVER_BENCH", "bench-failover")
	trials := cluster.EnvInt("RAFTMQ_FAILOVER_TRIALS", 20)
	run := officialFailover(t, true, trials)
	t.Logf("FAILOVER official rocketmq-client-go with a group address, %d leader SIGKILLs: %s; consumed %d, duplicates %d, %s",
		len(run.gaps), cluster.Quantiles(run.gaps), run.consumed, run.dups, run.report)
}

// queueOwners records which consumer consumed each queue's messages of a
// phase (bodies start with the phase name).
type queueOwners struct {
	mu     sync.Mutex
	owners map[string]map[int]map[string]bool // phase -> queue -> consumers
	count  map[string]int
}

func (q *queueOwners) add(consumer string, m *primitive.MessageExt) {
	phase, _, _ := strings.Cut(string(m.Body), "-")
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.owners[phase] == nil {
		q.owners[phase] = map[int]map[string]bool{}
	}
	if q.owners[phase][m.Queue.QueueId] == nil {
		q.owners[phase][m.Queue.QueueId] = map[string]bool{}
	}
	q.owners[phase][m.Queue.QueueId][consumer] = true
	q.count[phase]++
}

// TestOfficialClient_GroupAddressSplitsQueues: two official push consumers
// of one group, connected through the group address to different members,
// split the queues (no queue consumed by both), and again after the
// member holding one of them is killed and it re-registers elsewhere.
func TestOfficialClient_GroupAddressSplitsQueues(t *testing.T) {
	c := cluster.Start(t, cluster.Options{GroupAddr: true})
	g := c.Group(0)
	ns := c.NamesrvAddr()
	const topic, group = "SplitQueues", "SplitConsumers"
	c.CreateTopic(t, topic, 8)
	own := &queueOwners{owners: map[string]map[int]map[string]bool{}, count: map[string]int{}}
	start := func(name string) rocketmq.PushConsumer {
		pc, err := rocketmq.NewPushConsumer(consumer.WithNameServer(strings.Split(ns, ";")), consumer.WithGroupName(group),
			consumer.WithInstance(name), consumer.WithConsumeFromWhere(consumer.ConsumeFromLastOffset))
		require.NoError(t, err)
		require.NoError(t, pc.Subscribe(topic, consumer.MessageSelector{}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			for _, m := range msgs {
				own.add(name, m)
			}
			return consumer.ConsumeSuccess, nil
		}))
		require.NoError(t, pc.Start())
		return pc
	}
	// where maps each consumer to the member holding its connection.
	where := func() map[string]string {
		out := map[string]string{}
		var r *transport.Command
		for _, n := range g.Nodes { // the first live member answers
			var err error
			if r, err = g.Call(n, transport.NewRequest(transport.ReqGetConsumerConnectionList, map[string]string{"consumerGroup": group}, nil), 2*time.Second); err == nil {
				break
			}
		}
		if r == nil || r.Code != int16(transport.RespSuccess) {
			return out
		}
		// RocketMQ's ConsumerConnection; raftmq tags each connection
		// with the member holding it.
		var cc struct {
			ConnectionSet []struct{ ClientID, Member string }
		}
		if json.Unmarshal(r.Body, &cc) == nil {
			for _, cn := range cc.ConnectionSet {
				_, inst, _ := strings.Cut(cn.ClientID, "@")
				out[inst] = cn.Member
			}
		}
		return out
	}
	a := start("A")
	defer a.Shutdown()
	var b rocketmq.PushConsumer
	for i := 0; ; i++ {
		b = start("B")
		var w map[string]string
		cluster.Eventually(t, 10*time.Second, func() error {
			if w = where(); w["A"] == "" || w["B"] == "" {
				return fmt.Errorf("registrations: %v", w)
			}
			return nil
		})
		if w["A"] != w["B"] {
			t.Logf("A on %s, B on %s", w["A"], w["B"])
			break
		}
		require.Less(t, i, 20, "B always lands on A's member")
		b.Shutdown()
	}
	defer b.Shutdown()
	p := newProducer(t, ns)
	phase := func(name string, n int) {
		time.Sleep(3 * time.Second) // rebalances settle after the last change
		for i := 0; i < n; i++ {
			_, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(fmt.Sprintf("%s-%d", name, i))))
			require.NoError(t, err)
		}
		cluster.Eventually(t, 90*time.Second, func() error {
			own.mu.Lock()
			defer own.mu.Unlock()
			if own.count[name] < n {
				return fmt.Errorf("%s: %d of %d consumed", name, own.count[name], n)
			}
			return nil
		})
		own.mu.Lock()
		defer own.mu.Unlock()
		users := map[string]bool{}
		for q, cs := range own.owners[name] {
			require.Len(t, cs, 1, "%s: queue %d consumed by %v", name, q, cs)
			for c := range cs {
				users[c] = true
			}
		}
		require.Len(t, users, 2, "%s: both consumers have queues", name)
	}
	phase("before", 400)

	w := where()
	victim := g.Node(w["A"])
	victim.Kill()
	cluster.Eventually(t, 60*time.Second, func() error { // A's next heartbeat (30 s) reaches a live member
		if w := where(); w["A"] == "" || w["A"] == victim.ID {
			return fmt.Errorf("A not registered elsewhere yet: %v", w)
		}
		return nil
	})
	phase("after", 400)
}
