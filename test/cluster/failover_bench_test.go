package cluster_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
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
	if os.Getenv("RAFTMQ_FAILOVER_BENCH") == "" {
		t.Skip("set RAFTMQ_FAILOVER_BENCH=1 (make bench-failover)")
	}
	trials := 20
	if v, err := strconv.Atoi(os.Getenv("RAFTMQ_FAILOVER_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	c := cluster.Start(t, cluster.Options{Config: map[string]string{"registerInterval": "3s"}})
	g := c.Group(0)
	createTopic(t, c, "Failover", 4)
	p, err := client.NewProducer(client.WithNameServers(c.NamesrvAddr()), client.WithTimeout(time.Second))
	require.NoError(t, err)
	defer p.Shutdown(context.Background())

	// One sender, one send in flight, as fast as it can; it records when
	// each acknowledged send started and finished.
	type ack struct{ start, end time.Time }
	var mu sync.Mutex
	var acks []ack
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := p.Send(ctx, client.NewMessage("Failover", []byte(fmt.Sprintf("m%d", i))))
			cancel()
			if err == nil {
				mu.Lock()
				acks = append(acks, ack{start, time.Now()})
				mu.Unlock()
			}
		}
	}()
	defer func() { close(stop); <-done }()

	var gaps []time.Duration
	for i := 0; i < trials; i++ {
		time.Sleep(1500 * time.Millisecond) // steady state
		old := g.WaitLeader(t, 10*time.Second)
		killed := time.Now()
		old.Kill()
		var first time.Time
		cluster.Eventually(t, 60*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			for _, a := range acks {
				if a.start.After(killed) {
					first = a.end
					return nil
				}
			}
			return fmt.Errorf("no acknowledged send since the kill")
		})
		gap := first.Sub(killed)
		gaps = append(gaps, gap)
		next := g.WaitLeader(t, 10*time.Second)
		t.Logf("trial %2d: killed %s, %s leads; first ack after %v", i+1, old.ID, next.ID, gap.Round(time.Millisecond))
		old.Restart(t)
		g.WaitCaughtUp(t, 60*time.Second)
		mu.Lock()
		acks = acks[:0]
		mu.Unlock()
	}
	sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
	q := func(f float64) time.Duration { return gaps[min(len(gaps)-1, int(f*float64(len(gaps))))] }
	t.Logf("FAILOVER raftmq client, %d leader SIGKILLs: p50 %v  p99 %v  max %v  min %v",
		len(gaps), q(0.5).Round(time.Millisecond), q(0.99).Round(time.Millisecond), gaps[len(gaps)-1].Round(time.Millisecond), gaps[0].Round(time.Millisecond))
}
