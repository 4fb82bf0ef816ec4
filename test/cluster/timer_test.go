package cluster_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// TestTimers_SpreadOverAMinuteWithLeaderKills: RAFTMQ_TIMER_SPREAD_N
// timer messages due at instants spread evenly over RAFTMQ_TIMER_SPREAD,
// 20,000 over 20 s in make test and 100,000 over 60 s in make
// test-timers (the size: 80 s), with the leader SIGKILLed twice
// while they fall due (and restarted). Every timer is delivered exactly
// once, none before its time; lateness (store time of the delivered copy
// minus the due time) stays within RocketMQ's 1 s precision except around
// the failovers.
func TestTimers_SpreadOverAMinuteWithLeaderKills(t *testing.T) {
	n := cluster.EnvInt("RAFTMQ_TIMER_SPREAD_N", 20_000)
	spread := cluster.EnvDuration("RAFTMQ_TIMER_SPREAD", 20*time.Second)
	c := cluster.Start(t, cluster.Options{SegmentSize: 64 << 20})
	g := c.Group(0)
	const topic = "TimerSpread"
	c.CreateTopic(t, topic, 4)
	p, err := client.NewProducer(client.WithNameServers(c.NamesrvAddr()), client.WithTimeout(10*time.Second))
	require.NoError(t, err)
	defer p.Shutdown(context.Background())

	// The first falls due once everything is sent (about 10k/s here).
	first := time.Now().Add(5*time.Second + time.Duration(n)*time.Second/8000)
	dueOf := func(i int) time.Time { return first.Add(time.Duration(int64(spread) * int64(i) / int64(n))) }
	const senders = 64
	// When a send is acknowledged after its timer's due time (a slow run),
	// the timer is due at once: lateness counts from the acknowledgement.
	acked := make([]time.Time, n)
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for w := 0; w < senders; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += senders {
				m := client.NewMessage(topic, []byte(strconv.Itoa(i))).SetProperty("TIMER_DELIVER_MS", strconv.FormatInt(dueOf(i).UnixMilli(), 10))
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := p.Send(ctx, m)
				cancel()
				if err != nil {
					errs <- fmt.Errorf("timer %d: %w", i, err)
					return
				}
				acked[i] = time.Now()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	if sentBy := time.Now(); sentBy.After(first) {
		t.Logf("sending took until %v after the first due time: those timers are due on acknowledgement", sentBy.Sub(first))
	}

	// Two leader kills while the timers fall due.
	var kills []time.Time
	for _, at := range []time.Duration{spread / 4, spread * 5 / 8} {
		time.Sleep(time.Until(first.Add(at)))
		leader := g.WaitLeader(t, 20*time.Second)
		kills = append(kills, time.Now())
		leader.Kill()
		g.WaitNewLeader(t, leader, 20*time.Second)
		leader.Restart(t)
	}
	time.Sleep(time.Until(first.Add(spread)))

	ad, err := client.NewAdmin(client.WithNameServers(c.NamesrvAddr()))
	require.NoError(t, err)
	defer ad.Shutdown(context.Background())
	cluster.Eventually(t, 60*time.Second, func() error {
		qs, err := ad.TopicStatus(context.Background(), topic)
		if err != nil {
			return err
		}
		var d int64
		for _, q := range qs {
			d += q.MaxOffset
		}
		if d < int64(n) {
			return fmt.Errorf("%d of %d delivered", d, n)
		}
		return nil
	})

	seen := make([]int, n)
	var lags []time.Duration
	var early, late, lateNearKill int
	for _, r := range c.ReadBack(t, topic, 60*time.Second) {
		i, err := strconv.Atoi(string(r.Body))
		require.NoError(t, err)
		require.True(t, i >= 0 && i < n, "unknown body %q", r.Body)
		seen[i]++
	}
	pc, err := client.NewPullConsumer(client.WithNameServers(c.NamesrvAddr()), client.WithGroup("timerspread"))
	require.NoError(t, err)
	defer pc.Shutdown(context.Background())
	ctx := context.Background()
	mqs, err := pc.Queues(ctx, topic)
	require.NoError(t, err)
	for _, mq := range mqs {
		max, err := pc.MaxOffset(ctx, mq)
		require.NoError(t, err)
		for off := int64(0); off < max; {
			r, err := pc.Pull(ctx, mq, off, 256)
			require.NoError(t, err)
			require.NotEmpty(t, r.Messages)
			for _, m := range r.Messages {
				i, _ := strconv.Atoi(string(m.Body))
				due := dueOf(i).Truncate(time.Millisecond)
				if m.StoreTimestamp.Before(due) {
					early++
				}
				if acked[i].After(due) {
					due = acked[i]
				}
				lag := m.StoreTimestamp.Sub(due)
				if lag > time.Second {
					late++
					for _, k := range kills {
						if due.After(k.Add(-2*time.Second)) && due.Before(k.Add(5*time.Second)) {
							lateNearKill++
							break
						}
					}
				}
				lags = append(lags, lag)
			}
			off = r.NextBeginOffset
		}
	}
	for i, k := range seen {
		require.Equal(t, 1, k, "timer %d delivered %d times", i, k)
	}
	require.Zero(t, early, "timers delivered before they were due")
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	q := func(f float64) time.Duration {
		return lags[min(len(lags)-1, int(f*float64(len(lags))))].Round(time.Millisecond)
	}
	t.Logf("TIMERS %d due over %v, 2 leader SIGKILLs: each delivered once, none early; lateness p50 %v p99 %v max %v; %d later than 1 s (%d of them due around a kill)",
		n, spread, q(0.5), q(0.99), lags[len(lags)-1].Round(time.Millisecond), late, lateNearKill)
	require.Equal(t, late, lateNearKill, "timers more than 1 s late away from the failovers")
	require.LessOrEqual(t, q(0.99), time.Second, "p99 lateness above RocketMQ's 1 s precision")
}
