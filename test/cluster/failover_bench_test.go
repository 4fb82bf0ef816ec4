package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// TestBenchFailover measures, over RAFTMQ_FAILOVER_TRIALS leader SIGKILLs
// (default 20), the time from the kill to the first acknowledged send that
// a client holding the old route issued after it, with the default broker
// configuration. It runs only when RAFTMQ_FAILOVER_BENCH=1 (make
// bench-failover): it takes minutes.
func TestBenchFailover(t *testing.T) {
	cluster.BenchOnly(t, "RAFTMQ_FAILOVER_BENCH", "bench-failover")
	trials := cluster.EnvInt("RAFTMQ_FAILOVER_TRIALS", 20)
	for _, groupAddr := range []bool{false, true} {
		c := cluster.Start(t, cluster.Options{GroupAddr: groupAddr, Config: map[string]string{"registerInterval": "3s"}})
		g := c.Group(0)
		c.CreateTopic(t, "Failover", 4)
		p, err := client.NewProducer(client.WithNameServers(c.NamesrvAddr()), client.WithTimeout(time.Second))
		require.NoError(t, err)
		gaps := cluster.MeasureFailover(t, g, trials, func(ctx context.Context, i int) error {
			_, err := p.Send(ctx, client.NewMessage("Failover", []byte(fmt.Sprintf("m%d", i))))
			return err
		})
		p.Shutdown(context.Background())
		c.Close()
		t.Logf("FAILOVER raftmq client (group address %v), %d leader SIGKILLs: %s", groupAddr, len(gaps), cluster.Quantiles(gaps))
	}
}

// TestBenchFailoverIsolation: two groups; one producer sends to a topic of
// broker-b only (one in flight) while broker-a's leader is SIGKILLed
// RAFTMQ_FAILOVER_TRIALS times (default 10). broker-b's send latency
// within 2 s after each kill is reported next to its latency at other
// times: a kill in one group must not slow the others.
func TestBenchFailoverIsolation(t *testing.T) {
	cluster.BenchOnly(t, "RAFTMQ_FAILOVER_BENCH", "bench-failover")
	trials := min(cluster.EnvInt("RAFTMQ_FAILOVER_TRIALS", 10), 10)
	c := cluster.Start(t, cluster.Options{Groups: 2, GroupAddr: true})
	a, b := c.Group(0), c.Group(1)
	ad, err := client.NewAdmin(client.WithNameServers(c.NamesrvAddr()))
	require.NoError(t, err)
	defer ad.Shutdown(context.Background())
	require.NoError(t, ad.CreateTopic(context.Background(), client.TopicConfig{Topic: "OnlyB", ReadQueues: 4, WriteQueues: 4},
		client.Target{BrokerGroup: b.Name}))
	p, err := client.NewProducer(client.WithNameServers(c.NamesrvAddr()), client.WithTimeout(time.Second))
	require.NoError(t, err)
	defer p.Shutdown(context.Background())

	type sample struct {
		at  time.Time
		lat time.Duration
	}
	var mu sync.Mutex
	var samples []sample
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 10_000_000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := p.Send(ctx, client.NewMessage("OnlyB", []byte(fmt.Sprintf("b%d", i))))
			cancel()
			if err == nil {
				mu.Lock()
				samples = append(samples, sample{t0, time.Since(t0)})
				mu.Unlock()
			}
		}
	}()
	var kills []time.Time
	for i := 0; i < trials; i++ {
		time.Sleep(1500 * time.Millisecond)
		old := a.WaitLeader(t, 10*time.Second)
		kills = append(kills, time.Now())
		old.Kill()
		a.WaitNewLeader(t, old, 10*time.Second)
		time.Sleep(2 * time.Second)
		old.Restart(t)
		a.WaitCaughtUp(t, 60*time.Second)
	}
	close(stop)
	<-done
	var near, far []time.Duration
	for _, s := range samples {
		in := false
		for _, k := range kills {
			if !s.at.Before(k) && s.at.Sub(k) < 2*time.Second {
				in = true
			}
		}
		if in {
			near = append(near, s.lat)
		} else {
			far = append(far, s.lat)
		}
	}
	require.NotEmpty(t, near)
	require.NotEmpty(t, far)
	t.Logf("FAILOVER isolation: broker-b send latency within 2 s of a broker-a leader kill (%d sends, %d kills): %s; at other times (%d sends): %s",
		len(near), len(kills), cluster.Quantiles(near), len(far), cluster.Quantiles(far))
}
