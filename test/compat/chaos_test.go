package compat

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// TestChaos is `make chaos`: a randomized run (RAFTMQ_CHAOS_DURATION,
// default 3m) of SIGKILLs, graceful restarts, partitions, double failures
// and leadership transfers against a 3-node group under steady load from
// raftmq's client and the official rocketmq-client-go, with a push
// consumer reading along. It ends with the checker over everything read
// back and a summary table. Runs only with RAFTMQ_CHAOS=1.
func TestChaos(t *testing.T) {
	if os.Getenv("RAFTMQ_CHAOS") == "" {
		t.Skip("set RAFTMQ_CHAOS=1 (make chaos)")
	}
	dur := 3 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("RAFTMQ_CHAOS_DURATION")); err == nil && d > 0 {
		dur = d
	}
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("chaos seed %d, duration %v", seed, dur)

	c := cluster.Start(t, cluster.Options{})
	g := c.Group(0)
	ns := c.NamesrvAddr()
	const topic = "Chaos"
	admin, err := client.NewAdmin(client.WithNameServers(ns))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	require.NoError(t, admin.CreateTopic(ctx, client.TopicConfig{Topic: topic, ReadQueues: 8, WriteQueues: 8}, client.Target{}))
	cancel()
	admin.Shutdown(context.Background())

	h := cluster.NewHistory()
	load, err := cluster.StartLoad(context.Background(), h, ns, topic, 4, 1_000_000, 256, dur+time.Minute)
	require.NoError(t, err)

	// The official producer: its sends to a dead leader fail until its 30 s
	// route refresh; failures are fine, acknowledged sends must survive.
	op, err := rocketmq.NewProducer(producer.WithNameServer(strings.Split(ns, ";")), producer.WithGroupName("ChaosOfficial"),
		producer.WithRetry(2), producer.WithSendMsgTimeout(3*time.Second))
	require.NoError(t, err)
	require.NoError(t, op.Start())
	officialStop := make(chan struct{})
	var officialWG sync.WaitGroup
	var officialAcks atomic.Int64
	for w := 0; w < 2; w++ {
		officialWG.Add(1)
		go func(w int) {
			defer officialWG.Done()
			name := fmt.Sprintf("official%d", w)
			for seq := 0; seq < 1_000_000; seq++ {
				select {
				case <-officialStop:
					return
				default:
				}
				id, body := h.Body(name, seq, 200)
				h.SendingBody(id, topic, body)
				m := primitive.NewMessage(topic, body)
				m.WithKeys([]string{id})
				r, err := op.SendSync(context.Background(), m)
				if err != nil || r.Status != primitive.SendOK {
					if err == nil {
						err = fmt.Errorf("status %v", r.Status)
					}
					h.Record(id, err, "", "", 0, 0)
					time.Sleep(20 * time.Millisecond)
					continue
				}
				officialAcks.Add(1)
				h.Record(id, nil, r.MsgID, r.MessageQueue.BrokerName, int32(r.MessageQueue.QueueId), r.QueueOffset)
			}
		}(w)
	}

	var consumed atomic.Int64
	pc, err := client.NewPushConsumer(client.WithNameServers(ns), client.WithGroup("ChaosConsumers"),
		client.WithConsumeFromWhere(client.ConsumeFromFirstOffset))
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, "*", func(_ context.Context, msgs []*client.MessageExt) client.ConsumeResult {
		consumed.Add(int64(len(msgs)))
		return client.ConsumeSuccess
	}))
	require.NoError(t, pc.Start(context.Background()))

	faults := map[string]int{}
	var failovers []time.Duration
	running := func() []*cluster.Node {
		var out []*cluster.Node
		for _, n := range g.Nodes {
			if n.Running() {
				out = append(out, n)
			}
		}
		return out
	}
	awaitLeader := func(since time.Time, old *cluster.Node) {
		next := g.WaitNewLeader(t, old, 30*time.Second)
		failovers = append(failovers, time.Since(since))
		_ = next
	}
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		time.Sleep(time.Duration(1500+rng.Intn(2500)) * time.Millisecond)
		leader := g.WaitLeader(t, 30*time.Second)
		switch k := rng.Intn(100); {
		case k < 30: // leader SIGKILL, restart later
			faults["leader SIGKILL"]++
			at := time.Now()
			leader.Kill()
			awaitLeader(at, leader)
			time.Sleep(time.Duration(rng.Intn(2000)) * time.Millisecond)
			leader.Restart(t)
		case k < 45: // follower SIGKILL and restart
			faults["follower SIGKILL"]++
			for _, n := range running() {
				if n != leader {
					n.Kill()
					time.Sleep(time.Duration(500+rng.Intn(2000)) * time.Millisecond)
					n.Restart(t)
					break
				}
			}
		case k < 60: // leader partitioned, then healed
			faults["leader partition"]++
			at := time.Now()
			leader.Partition()
			awaitLeader(at, leader)
			time.Sleep(time.Duration(rng.Intn(2000)) * time.Millisecond)
			g.Heal()
		case k < 70: // follower partitioned
			faults["follower partition"]++
			for _, n := range running() {
				if n != leader {
					n.Partition()
					time.Sleep(time.Duration(500+rng.Intn(2500)) * time.Millisecond)
					g.Heal()
					break
				}
			}
		case k < 78: // graceful restart of the leader (SIGTERM)
			faults["leader SIGTERM"]++
			at := time.Now()
			require.NoError(t, leader.Stop())
			awaitLeader(at, leader)
			leader.Restart(t)
		case k < 86: // two of three down for a moment: no quorum
			faults["two nodes SIGKILL"]++
			ns := running()
			ns[0].Kill()
			ns[1].Kill()
			time.Sleep(time.Duration(500+rng.Intn(1500)) * time.Millisecond)
			ns[0].Restart(t)
			ns[1].Restart(t)
		default: // leadership transfer through the admin API
			faults["leadership transfer"]++
			a, err := client.NewAdmin(client.WithNameServers(ns))
			if err == nil {
				tctx, tcancel := context.WithTimeout(context.Background(), 10*time.Second)
				a.TransferLeader(tctx, "broker-a", "")
				tcancel()
				a.Shutdown(context.Background())
			}
		}
		g.WaitLeader(t, 30*time.Second)
	}
	// Settle: everything back up and healed, then stop the load.
	g.Heal()
	for _, n := range g.Nodes {
		if !n.Running() {
			n.Restart(t)
		}
	}
	g.WaitLeader(t, 30*time.Second)
	time.Sleep(2 * time.Second)
	close(officialStop)
	officialWG.Wait()
	op.Shutdown()
	load.Stop()
	g.WaitCaughtUp(t, 60*time.Second)

	rep := h.Check(c.ReadBack(t, topic, 60*time.Second))
	pc.Shutdown(context.Background())
	g.RequireIdenticalQueues(t, topic, 8)

	sort.Slice(failovers, func(i, j int) bool { return failovers[i] < failovers[j] })
	var b strings.Builder
	fmt.Fprintf(&b, "\n==== chaos summary (seed %d, %v) ====\n", seed, dur)
	fmt.Fprintf(&b, "%-28s %d\n", "sends attempted", rep.Sent)
	fmt.Fprintf(&b, "%-28s %d (official client: %d)\n", "acknowledged", rep.Acked, officialAcks.Load())
	fmt.Fprintf(&b, "%-28s %d\n", "failed (not acknowledged)", rep.Failed)
	fmt.Fprintf(&b, "%-28s %d\n", "failed but stored", rep.FailedButStored)
	fmt.Fprintf(&b, "%-28s %d\n", "LOST (must be 0)", rep.Lost)
	fmt.Fprintf(&b, "%-28s %d\n", "retry duplicates", rep.RetryDuplicates)
	fmt.Fprintf(&b, "%-28s %d\n", "read back", rep.Read)
	fmt.Fprintf(&b, "%-28s %d\n", "consumed by push consumer", consumed.Load())
	fmt.Fprintf(&b, "%-28s %d\n", "checker problems", len(rep.Problems))
	keys := make([]string, 0, len(faults))
	for k := range faults {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "fault %-22s %d\n", k, faults[k])
	}
	if n := len(failovers); n > 0 {
		fmt.Fprintf(&b, "%-28s %d: min %v  p50 %v  max %v\n", "failovers (fault->leader)", n,
			failovers[0].Round(time.Millisecond), failovers[n/2].Round(time.Millisecond), failovers[n-1].Round(time.Millisecond))
	}
	t.Log(b.String())
	fmt.Println(b.String())
	require.True(t, rep.OK(), "checker: %s", rep)
}
