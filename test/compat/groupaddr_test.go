package compat

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/raftmq/raftmq/test/cluster"
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
	if os.Getenv("RAFTMQ_FAILOVER_BENCH") == "" {
		t.Skip("set RAFTMQ_FAILOVER_BENCH=1 (make bench-failover)")
	}
	trials := 20
	if v, err := strconv.Atoi(os.Getenv("RAFTMQ_FAILOVER_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	run := officialFailover(t, true, trials)
	t.Logf("FAILOVER official rocketmq-client-go with a group address, %d leader SIGKILLs: %s; consumed %d, duplicates %d, %s",
		len(run.gaps), cluster.Quantiles(run.gaps), run.consumed, run.dups, run.report)
}
