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

// TestProducer_LeaderKill_NoAckedLoss keeps two producers sending while the
// group's leader is SIGKILLed. Every send that returned OK must be consumed
// by a push consumer that runs throughout; sends must resume within a few
// seconds; the group's consumer progress must reach lag 0 on the new
// leader; messages stored before the kill are still found by key and by
// both kinds of id.
func TestProducer_LeaderKill_NoAckedLoss(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	g := c.Group(0)
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

	var (
		mu       sync.Mutex
		acked    = map[string]time.Time{}
		failures []string
		killAt   time.Time
	)
	ackedAfterKill := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, at := range acked {
			if !killAt.IsZero() && at.After(killAt) {
				n++
			}
		}
		return n
	}
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
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
				body := fmt.Sprintf("w%d-%05d", w, i)
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
	cluster.Eventually(t, 20*time.Second, func() error {
		if n := ackedCount(); n < 100 {
			return fmt.Errorf("%d acked", n)
		}
		return nil
	})
	old := g.Leader()
	require.NotNil(t, old)
	mu.Lock()
	killAt = time.Now()
	mu.Unlock()
	old.Kill()
	newLeader := g.WaitNewLeader(t, old, 15*time.Second)
	electedIn := time.Since(killAt)
	cluster.Eventually(t, 30*time.Second, func() error {
		if n := ackedAfterKill(); n < 200 {
			return fmt.Errorf("%d acked since the kill", n)
		}
		return nil
	})
	close(stop)
	wg.Wait()

	mu.Lock()
	var times []time.Time
	nAfter := 0
	for _, at := range acked {
		times = append(times, at)
		if at.After(killAt) {
			nAfter++
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	// The longest stretch without any acknowledgement: the outage the
	// producers saw.
	var gap time.Duration
	for i := 1; i < len(times); i++ {
		gap = max(gap, times[i].Sub(times[i-1]))
	}
	t.Logf("acked %d (%d after the kill), %d failed sends; new leader %s serving %v after the kill; longest gap between acks %v",
		len(acked), nAfter, len(failures), newLeader.ID, electedIn.Round(time.Millisecond), gap.Round(time.Millisecond))
	for i, f := range failures {
		if i < 5 {
			t.Logf("failed send: %s", f)
		}
	}
	bodies := make([]string, 0, len(acked))
	for b := range acked {
		bodies = append(bodies, b)
	}
	mu.Unlock()
	require.Less(t, gap, 5*time.Second, "sends resume within a few seconds of the kill")

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
