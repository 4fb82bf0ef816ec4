package cluster

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
)

// CreateTopic creates topic with the given queue count on every group,
// through our admin client.
func (c *Cluster) CreateTopic(t testing.TB, topic string, queues int) {
	t.Helper()
	a, err := client.NewAdmin(client.WithNameServers(c.NamesrvAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := a.CreateTopic(ctx, client.TopicConfig{Topic: topic, ReadQueues: queues, WriteQueues: queues}, client.Target{}); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// ReadBack reads every queue of topic with a pull consumer, retrying for
// up to timeout while members catch up.
func (c *Cluster) ReadBack(t testing.TB, topic string, timeout time.Duration) []Read {
	t.Helper()
	pc, err := client.NewPullConsumer(client.WithNameServers(c.NamesrvAddr()), client.WithGroup("checker"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Shutdown(context.Background())
	var reads []Read
	Eventually(t, timeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		reads, err = ReadAll(ctx, pc, topic)
		return err
	})
	return reads
}

// CheckAll reads topic back (ReadBack) and checks the reads against h.
// A read can come up short without any loss: a queue's end is read from
// the member the route names, which after a restart may still be applying
// (the NameServer names a new leader a moment after it is elected). So
// while acknowledged messages are missing it reads again, until timeout;
// a message truly lost stays missing and fails the test then.
func (c *Cluster) CheckAll(t testing.TB, h *History, topic string, timeout time.Duration) Report {
	t.Helper()
	deadline := time.Now().Add(timeout)
	rep := h.Check(c.ReadBack(t, topic, timeout))
	for reads := 1; rep.Lost > 0 && time.Now().Before(deadline); reads++ {
		t.Logf("checker: read %d missed %d acknowledged messages; reading again while members catch up", reads, rep.Lost)
		time.Sleep(250 * time.Millisecond)
		rep = h.Check(c.ReadBack(t, topic, max(time.Until(deadline), time.Second)))
	}
	t.Logf("checker: %s", rep)
	if !rep.OK() {
		t.Fatalf("checker found problems:\n%s", rep)
	}
	return rep
}

// MeasureFailover kills the leader of g trials times while send runs in a
// loop (one in flight) and returns, per trial, the time from the kill to
// the end of the first acknowledged send issued after it. The killed
// member is restarted and caught up before the next trial.
func MeasureFailover(t testing.TB, g *Group, trials int, send func(ctx context.Context, i int) error) []time.Duration {
	t.Helper()
	type ack struct{ start, end time.Time }
	var mu sync.Mutex
	var acks []ack
	// gate pauses the sender while the restarted member catches up:
	// WaitCaughtUp needs every member idle at one instant, which a
	// sender that never stops makes a matter of luck.
	var gate sync.Mutex
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
			gate.Lock()
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := send(ctx, i)
			cancel()
			gate.Unlock()
			if err == nil {
				mu.Lock()
				acks = append(acks, ack{start, time.Now()})
				mu.Unlock()
			} else if time.Since(start) < 10*time.Millisecond {
				time.Sleep(10 * time.Millisecond) // an instant failure: do not spin
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
		Eventually(t, 90*time.Second, func() error {
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
		func() { // unlocked also when WaitCaughtUp fails the test
			gate.Lock()
			defer gate.Unlock()
			g.WaitCaughtUp(t, 60*time.Second)
		}()
		mu.Lock()
		acks = acks[:0]
		mu.Unlock()
	}
	return gaps
}

// Quantiles formats p50, p99, max and min of durations.
func Quantiles(d []time.Duration) string {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	q := func(f float64) time.Duration { return s[min(len(s)-1, int(f*float64(len(s))))].Round(time.Millisecond) }
	return fmt.Sprintf("p50 %v  p99 %v  max %v  min %v", q(0.5), q(0.99), s[len(s)-1].Round(time.Millisecond), s[0].Round(time.Millisecond))
}

// BenchOnly skips t unless env is set: benchmarks and soak runs live
// behind make targets, not in make test.
func BenchOnly(t testing.TB, env, target string) {
	t.Helper()
	if os.Getenv(env) == "" {
		t.Skipf("set %s=1 (make %s)", env, target)
	}
}

// EnvInt is env's positive integer value, or def.
func EnvInt(env string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(env)); err == nil && v > 0 {
		return v
	}
	return def
}

// EnvDuration is env's positive duration value, or def.
func EnvDuration(env string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(env)); err == nil && d > 0 {
		return d
	}
	return def
}
