package client_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// faultRun is what sendAcrossFault observed.
type faultRun struct {
	acked, failed int
	electedIn     time.Duration // fault to new serving leader
	gap           time.Duration // longest stretch without an acknowledged send
}

// sendAcrossFault keeps two producers sending to topic while fault hits the
// group's leader, until 200 sends were acknowledged after it. Every
// acknowledged message must then be consumed by rec's push consumer (which
// runs throughout), and sends must resume within a few seconds.
func sendAcrossFault(t *testing.T, c *cluster.Cluster, p *client.Producer, topic string, rec *received, fault func(leader *cluster.Node)) faultRun {
	g := c.Group(0)
	for _, n := range g.Nodes {
		// cluster.Start waits for a leader, not for every member: a member
		// that failed to start (e.g. its port was taken) leaves no quorum
		// once the leader is hit.
		require.True(t, n.Running(), "harness: %s is not running:\n%s", n.Name, n.LogTail(5))
	}
	g.WaitCaughtUp(t, 10*time.Second)
	ctx := ctxT(t, 60*time.Second)
	var (
		mu       sync.Mutex
		acked    = map[string]time.Time{}
		failures []string
		faultAt  time.Time
	)
	count := func(sinceFault bool) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, at := range acked {
			if !sinceFault || (!faultAt.IsZero() && at.After(faultAt)) {
				n++
			}
		}
		return n
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 3000; i++ { // bounded in count, and in time by ctx
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				body := fmt.Sprintf("%s-w%d-%05d", topic, w, i)
				sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := p.Send(sctx, client.NewMessage(topic, []byte(body)))
				cancel()
				mu.Lock()
				if err == nil {
					acked[body] = time.Now()
				} else {
					failures = append(failures, err.Error())
				}
				mu.Unlock()
			}
		}()
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	cluster.Eventually(t, 20*time.Second, func() error {
		if n := count(false); n < 100 {
			return fmt.Errorf("%d acked", n)
		}
		return nil
	})
	old := g.Leader()
	require.NotNil(t, old)
	mu.Lock()
	faultAt = time.Now()
	mu.Unlock()
	fault(old)
	newLeader := g.WaitNewLeader(t, old, 15*time.Second)
	var run faultRun
	run.electedIn = time.Since(faultAt)
	cluster.Eventually(t, 30*time.Second, func() error {
		if n := count(true); n < 200 {
			return fmt.Errorf("%d acked since the fault", n)
		}
		return nil
	})
	close(stop)
	wg.Wait()

	mu.Lock()
	var times []time.Time
	bodies := make([]string, 0, len(acked))
	for b, at := range acked {
		times = append(times, at)
		bodies = append(bodies, b)
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	for i := 1; i < len(times); i++ {
		run.gap = max(run.gap, times[i].Sub(times[i-1]))
	}
	run.acked, run.failed = len(acked), len(failures)
	t.Logf("acked %d, %d failed sends; new leader %s serving %v after the fault; longest gap between acks %v",
		run.acked, run.failed, newLeader.ID, run.electedIn.Round(time.Millisecond), run.gap.Round(time.Millisecond))
	for i, f := range failures {
		if i < 3 {
			t.Logf("failed send: %s", f)
		}
	}
	mu.Unlock()
	require.Less(t, run.gap, 5*time.Second, "sends resume within a few seconds of the fault")

	// Every acknowledged message is consumed (duplicates allowed: at least once).
	cluster.Eventually(t, 30*time.Second, func() error {
		missing := 0
		for _, b := range bodies {
			if rec.get(b) == nil {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d acknowledged messages not consumed yet", missing, len(bodies))
		}
		return nil
	})
	t.Logf("consumer saw %d deliveries of %d distinct messages (%d duplicates)", rec.seen, rec.count(), rec.duplicates())
	return run
}

// TestProducer_LeaderKill_NoAckedLoss SIGKILLs the leader under load: no
// acknowledged message is lost, sends resume within seconds, the group's
// consumer progress reaches lag 0 on the new leader, and messages stored
// before the kill are still found by key and by both kinds of id.
func TestProducer_LeaderKill_NoAckedLoss(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	topic := uniqueName("Kill")
	createTopic(t, c, topic, 4)
	p := newProducer(t, c)
	a := newAdmin(t, c)
	ctx := ctxT(t, 60*time.Second)
	rec := newReceived()
	group := uniqueName("GKill")
	newPushConsumer(t, c, topic, "*", rec.handler(), fastConsumer(group)...)
	keyed, err := p.Send(ctx, &client.Message{Topic: topic, Body: []byte("keyed"), Keys: []string{"kill-key"}})
	require.NoError(t, err)

	sendAcrossFault(t, c, p, topic, rec, func(leader *cluster.Node) { leader.Kill() })

	// The progress is committed through the new leader.
	cluster.Eventually(t, 15*time.Second, func() error {
		cp, err := a.ConsumerProgress(ctx, group, topic)
		if err != nil {
			return err
		}
		if cp.TotalLag != 0 {
			return fmt.Errorf("lag %d", cp.TotalLag)
		}
		return nil
	})
	// Stored before the kill, by a node that is gone: still found.
	m, err := a.QueryMsgByID(ctx, "", keyed.OffsetMsgID)
	require.NoError(t, err)
	require.Equal(t, "keyed", string(m.Body))
	m, err = a.QueryMsgByID(ctx, topic, keyed.MsgID)
	require.NoError(t, err)
	require.Equal(t, "keyed", string(m.Body))
	ms, err := a.QueryMsgByKey(ctx, topic, "kill-key", 4, time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Len(t, ms, 1)
	require.Equal(t, keyed.OffsetMsgID, ms[0].OffsetMsgID)
}

// TestProducer_LeaderPartition_NoAckedLoss cuts the leader off from its
// peers and from clients (its NameServer connection stays, so it is still
// advertised until the new leader registers): clients move to the other
// members, and nothing acknowledged is lost, also after healing.
func TestProducer_LeaderPartition_NoAckedLoss(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	topic := uniqueName("Part")
	createTopic(t, c, topic, 4)
	p := newProducer(t, c)
	rec := newReceived()
	newPushConsumer(t, c, topic, "*", rec.handler(), fastConsumer(uniqueName("GPart"))...)
	sendAcrossFault(t, c, p, topic, rec, func(leader *cluster.Node) { leader.Partition() })
	c.Group(0).Heal()
	c.Group(0).WaitCaughtUp(t, 15*time.Second)
	// Nothing acknowledged was truncated away by the old leader's return.
	got := pullAll(t, c, topic)
	bodies := map[string]bool{}
	for _, m := range got {
		bodies[string(m.Body)] = true
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for b := range rec.msgs {
		require.True(t, bodies[b], "%s consumed but not in the log after healing", b)
	}
}
