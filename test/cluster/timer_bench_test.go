package cluster_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// TestBenchTimers: RAFTMQ_TIMERS (default 1,000,000) timer messages due
// RAFTMQ_TIMER_DELAY after their receipt (default 180s) wait in one
// group at once; the leader's memory is sampled while they wait, and
// every delivery's lag (store time of the delivered copy minus its due
// time) is read back. Runs only with RAFTMQ_TIMER_BENCH=1 (make
// bench-timers).
func TestBenchTimers(t *testing.T) {
	cluster.BenchOnly(t, "RAFTMQ_TIMER_BENCH", "bench-timers")
	n := cluster.EnvInt("RAFTMQ_TIMERS", 1_000_000)
	delay := cluster.EnvDuration("RAFTMQ_TIMER_DELAY", 180*time.Second)
	c := cluster.Start(t, cluster.Options{Flush: "ASYNC_FLUSH", SegmentSize: 128 << 20})
	g := c.Group(0)
	const topic = "TimerBench"
	c.CreateTopic(t, topic, 8)
	leader := g.WaitLeader(t, 10*time.Second)
	st0, err := g.Status(leader)
	require.NoError(t, err)
	rssIdle := rssBytes(t, leader.PID())

	var maxRSS atomic.Int64
	stopSample := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		tk := time.NewTicker(500 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stopSample:
				return
			case <-tk.C:
				if pid := leader.PID(); pid > 0 {
					if r := rssBytes(t, pid); r > maxRSS.Load() {
						maxRSS.Store(r)
					}
				}
			}
		}
	}()
	defer func() { close(stopSample); sampler.Wait() }()

	p, err := client.NewProducer(client.WithNameServers(c.NamesrvAddr()), client.WithTimeout(10*time.Second))
	require.NoError(t, err)
	defer p.Shutdown(context.Background())
	const senders = 128
	body := make([]byte, 100)
	var sent atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < senders; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += senders {
				m := client.NewMessage(topic, body).SetProperty("TIMER_DELAY_MS", strconv.FormatInt(delay.Milliseconds(), 10))
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := p.Send(ctx, m)
				cancel()
				if err != nil {
					t.Errorf("timer %d: %v", i, err)
					return
				}
				sent.Add(1)
			}
		}(w)
	}
	wg.Wait()
	sendTook := time.Since(t0)
	require.Equal(t, int64(n), sent.Load())
	rssPending := rssBytes(t, leader.PID())
	require.Less(t, sendTook, delay, "sending took longer than the delay: not all were pending at once")

	ad, err := client.NewAdmin(client.WithNameServers(c.NamesrvAddr()))
	require.NoError(t, err)
	defer ad.Shutdown(context.Background())
	delivered := func() int64 {
		qs, err := ad.TopicStatus(context.Background(), topic)
		if err != nil {
			return -1
		}
		var s int64
		for _, q := range qs {
			s += q.MaxOffset
		}
		return s
	}
	require.Zero(t, delivered(), "timers delivered before their time")
	cluster.Eventually(t, delay+10*time.Minute, func() error {
		if d := delivered(); d < int64(n) {
			return fmt.Errorf("%d of %d delivered", d, n)
		}
		return nil
	})
	allDone := time.Since(t0)
	st1, err := g.Status(g.WaitLeader(t, 10*time.Second))
	require.NoError(t, err)

	pc, err := client.NewPullConsumer(client.WithNameServers(c.NamesrvAddr()), client.WithGroup("timerbench"))
	require.NoError(t, err)
	defer pc.Shutdown(context.Background())
	ctx := context.Background()
	mqs, err := pc.Queues(ctx, topic)
	require.NoError(t, err)
	lags := make([]time.Duration, 0, n)
	early := 0
	for _, mq := range mqs {
		max, err := pc.MaxOffset(ctx, mq)
		require.NoError(t, err)
		for off := int64(0); off < max; {
			r, err := pc.Pull(ctx, mq, off, 256)
			require.NoError(t, err)
			require.NotEmpty(t, r.Messages)
			for _, m := range r.Messages {
				due, err := strconv.ParseInt(m.Properties["TIMER_OUT_MS"], 10, 64)
				require.NoError(t, err)
				lag := m.StoreTimestamp.Sub(time.UnixMilli(due))
				if lag < 0 {
					early++
				}
				lags = append(lags, lag)
			}
			off = r.NextBeginOffset
		}
	}
	require.Len(t, lags, n, "each timer delivered exactly once")
	require.Zero(t, early, "timers delivered before they were due")
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	q := func(f float64) time.Duration {
		return lags[min(len(lags)-1, int(f*float64(len(lags))))].Round(time.Millisecond)
	}
	perTimer := float64(st1.WriteOffset-st0.WriteOffset) / float64(n)
	t.Logf("TIMERS %d pending at once (sent in %v, %.0f/s, due %v after receipt); leader RSS idle %d MiB, all pending %d MiB, max %d MiB; "+
		"delivery lag p50 %v p99 %v max %v, none early; all delivered %v after the first send; CommitLog %.0f bytes per timer (100-byte bodies, every hop)",
		n, sendTook.Round(time.Millisecond), float64(n)/sendTook.Seconds(), delay, rssIdle>>20, rssPending>>20, maxRSS.Load()>>20,
		q(0.5), q(0.99), lags[len(lags)-1].Round(time.Millisecond), allDone.Round(time.Second), perTimer)
}
