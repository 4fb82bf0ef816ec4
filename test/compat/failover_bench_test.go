package compat

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// TestBenchFailover is the official client's side of the failover
// benchmark: leader SIGKILL -> first acknowledged send issued after it.
// The official Go producer sends only to the brokerId-0 address of its
// cached route and refreshes routes every 30 s (_PullNameServerInterval,
// not configurable in the Go client; Java's pollNameServerInterval), so a
// dead leader is retried until the next refresh. Runs only with
// RAFTMQ_FAILOVER_BENCH=1 (make bench-failover); RAFTMQ_FAILOVER_TRIALS
// (default 5: each trial can take 30 s).
func TestBenchFailover(t *testing.T) {
	if os.Getenv("RAFTMQ_FAILOVER_BENCH") == "" {
		t.Skip("set RAFTMQ_FAILOVER_BENCH=1 (make bench-failover)")
	}
	trials := 5
	if v, err := strconv.Atoi(os.Getenv("RAFTMQ_FAILOVER_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	c := cluster.Start(t, cluster.Options{})
	g := c.Group(0)
	p, err := rocketmq.NewProducer(producer.WithNameServer(strings.Split(c.NamesrvAddr(), ";")),
		producer.WithGroupName("FailoverBench"), producer.WithRetry(2), producer.WithSendMsgTimeout(time.Second))
	require.NoError(t, err)
	require.NoError(t, p.Start())
	defer p.Shutdown()
	// Warm the route cache.
	for i := 0; i < 10; i++ {
		_, err := p.SendSync(context.Background(), primitive.NewMessage("OfficialFailover", []byte("warm")))
		require.NoError(t, err)
	}
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
			r, err := p.SendSync(context.Background(), primitive.NewMessage("OfficialFailover", []byte(fmt.Sprintf("m%d", i))))
			if err == nil && r.Status == primitive.SendOK {
				mu.Lock()
				acks = append(acks, ack{start, time.Now()})
				mu.Unlock()
			} else {
				time.Sleep(10 * time.Millisecond) // failures are instant: do not spin
			}
		}
	}()
	defer func() { close(stop); <-done }()

	var gaps []time.Duration
	for i := 0; i < trials; i++ {
		time.Sleep(1500 * time.Millisecond)
		old := g.WaitLeader(t, 10*time.Second)
		killed := time.Now()
		old.Kill()
		var first time.Time
		cluster.Eventually(t, 90*time.Second, func() error {
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
		gaps = append(gaps, first.Sub(killed))
		t.Logf("trial %2d: killed %s; first ack after %v", i+1, old.ID, first.Sub(killed).Round(time.Millisecond))
		old.Restart(t)
		g.WaitCaughtUp(t, 60*time.Second)
		mu.Lock()
		acks = acks[:0]
		mu.Unlock()
	}
	sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
	t.Logf("FAILOVER official rocketmq-client-go, %d leader SIGKILLs: p50 %v  max %v  min %v",
		len(gaps), gaps[len(gaps)/2].Round(time.Millisecond), gaps[len(gaps)-1].Round(time.Millisecond), gaps[0].Round(time.Millisecond))
}
