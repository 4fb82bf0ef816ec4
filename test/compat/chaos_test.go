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
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/raftmq/raftmq/transport"
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

	gap := 1500 * time.Millisecond // between faults: gap + up to 5/3 gap
	if d, err := time.ParseDuration(os.Getenv("RAFTMQ_CHAOS_GAP")); err == nil && d > 0 {
		gap = d
	}
	// Small segments: retention has something to delete, so wiped members
	// rejoin from a snapshot and catch up the history.
	c := cluster.Start(t, cluster.Options{SegmentSize: 1 << 20, Config: map[string]string{"maxMessageSize": "262144",
		"transactionTimeOut": "1000", "transactionCheckInterval": "1000", "transactionCheckMax": "60"}})
	g := c.Group(0)
	ns := c.NamesrvAddr()
	const topic = "Chaos"
	admin, err := client.NewAdmin(client.WithNameServers(ns))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	require.NoError(t, admin.CreateTopic(ctx, client.TopicConfig{Topic: topic, ReadQueues: 8, WriteQueues: 8}, client.Target{}))
	for _, tp := range []string{chaosTxnTopic, chaosTimerTopic} {
		require.NoError(t, admin.CreateTopic(ctx, client.TopicConfig{Topic: tp, ReadQueues: 4, WriteQueues: 4}, client.Target{}))
	}
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
	official := startOfficialLoad(h, op, topic, 2)
	defer official.Stop()
	side, err := startSideLoad(ns)
	require.NoError(t, err)
	defer side.shutdown()

	// The push consumer's reads count as reads: retention deletes what it
	// has consumed, so the final read-back cannot see all of it.
	var consumed atomic.Int64
	var consumedMu sync.Mutex
	var consumedReads []cluster.Read
	pc, err := client.NewPushConsumer(client.WithNameServers(ns), client.WithGroup("ChaosConsumers"),
		client.WithConsumeFromWhere(client.ConsumeFromFirstOffset))
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, "*", func(_ context.Context, msgs []*client.MessageExt) client.ConsumeResult {
		consumed.Add(int64(len(msgs)))
		consumedMu.Lock()
		for _, m := range msgs {
			consumedReads = append(consumedReads, cluster.Read{Broker: m.Queue.BrokerName, QueueID: int32(m.Queue.QueueID),
				QueueOffset: m.QueueOffset, MsgID: m.MsgID, Body: append([]byte(nil), m.Body...)})
		}
		consumedMu.Unlock()
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
	adm, err := client.NewAdmin(client.WithNameServers(ns), client.WithTimeout(15*time.Second))
	require.NoError(t, err)
	defer adm.Shutdown(context.Background())
	nextID := len(g.Nodes)
	// catchingUp polls n until it is fetching history (up to 5 s).
	catchingUp := func(n *cluster.Node) (*transport.GroupStatus, bool) {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if st, err := g.Status(n); err == nil && st.PartialHistory && st.History.Fetched > 0 {
				return st, true
			}
			time.Sleep(20 * time.Millisecond)
		}
		return nil, false
	}
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		time.Sleep(gap + time.Duration(rng.Int63n(int64(gap)*5/3)))
		leader := g.WaitLeader(t, 30*time.Second)
		switch k := rng.Intn(100); {
		case k < 6: // retention now: consumed segments go
			faults["retention (deleteExpired)"]++
			rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
			adm.DeleteExpiredCommitLog(rctx, "broker-a", 0)
			rcancel()
		case k < 14: // a follower's disk replaced: wiped, rejoins (--join)
			faults["member wipe"]++
			var f *cluster.Node
			for _, n := range running() {
				if n != leader {
					f = n
					break
				}
			}
			f.Kill()
			require.NoError(t, f.Wipe())
			f.RestartJoin(t)
			if rng.Intn(2) == 0 {
				break
			}
			st, ok := catchingUp(f)
			if !ok {
				break
			}
			if d := g.Node(st.History.Donor); d != nil && rng.Intn(2) == 0 {
				faults["donor SIGKILL in catch-up"]++
				at := time.Now()
				d.Kill()
				if d == leader {
					awaitLeader(at, leader)
				}
				time.Sleep(time.Duration(rng.Intn(1500)) * time.Millisecond)
				d.Restart(t)
			} else {
				faults["SIGKILL in catch-up"]++
				f.Kill()
				time.Sleep(time.Duration(rng.Intn(1500)) * time.Millisecond)
				f.Restart(t)
			}
		case k < 20: // a member added under load, then removed
			faults["member add+remove"]++
			id := fmt.Sprintf("n%d", nextID)
			nextID++
			n := g.AddNode(t, id)
			actx, acancel := context.WithTimeout(context.Background(), 2*time.Minute)
			_, err := adm.AddMember(actx, "broker-a", id, n.RaftAddr(), time.Minute)
			acancel()
			require.NoError(t, err, "add %s", id)
			time.Sleep(time.Duration(500+rng.Intn(2500)) * time.Millisecond)
			rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
			_, err = adm.RemoveMember(rctx, "broker-a", id)
			rcancel()
			require.NoError(t, err, "remove %s", id)
			require.NoError(t, n.Stop())
			g.Forget(n)
		case k < 44: // leader SIGKILL, restart later
			faults["leader SIGKILL"]++
			at := time.Now()
			leader.Kill()
			awaitLeader(at, leader)
			time.Sleep(time.Duration(rng.Intn(2000)) * time.Millisecond)
			leader.Restart(t)
		case k < 56: // follower SIGKILL and restart
			faults["follower SIGKILL"]++
			for _, n := range running() {
				if n != leader {
					n.Kill()
					time.Sleep(time.Duration(500+rng.Intn(2000)) * time.Millisecond)
					n.Restart(t)
					break
				}
			}
		case k < 68: // leader partitioned, then healed
			faults["leader partition"]++
			at := time.Now()
			leader.Partition()
			awaitLeader(at, leader)
			time.Sleep(time.Duration(rng.Intn(2000)) * time.Millisecond)
			g.Heal()
		case k < 76: // follower partitioned
			faults["follower partition"]++
			for _, n := range running() {
				if n != leader {
					n.Partition()
					time.Sleep(time.Duration(500+rng.Intn(2500)) * time.Millisecond)
					g.Heal()
					break
				}
			}
		case k < 82: // graceful restart of the leader (SIGTERM)
			faults["leader SIGTERM"]++
			at := time.Now()
			require.NoError(t, leader.Stop())
			awaitLeader(at, leader)
			leader.Restart(t)
		case k < 88: // two of three down for a moment: no quorum
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
	official.Stop()
	op.Shutdown()
	load.Stop()
	side.stopSending()
	g.WaitCaughtUp(t, 60*time.Second)
	for _, n := range g.Nodes {
		g.WaitHistory(t, n, 2*time.Minute)
	}

	// Open transactions are checked back (1 s) and timers fall due (5 s).
	var sideRep sideReport
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if sideRep = side.report(); sideRep.ok() {
			break
		}
	}
	if !sideRep.ok() {
		// Tell a timer that never fired from one the consumer skipped.
		t.Logf("side load: %s", sideRep)
		t.Log(side.whereMissing(c.ReadBack(t, chaosTimerTopic, 60*time.Second), c.ReadBack(t, chaosTxnTopic, 60*time.Second)))
		t.FailNow()
	}
	readBack := c.ReadBack(t, topic, 60*time.Second)
	pc.Shutdown(context.Background())
	consumedMu.Lock()
	rep := h.Check(cluster.MergeReads(readBack, consumedReads))
	consumedMu.Unlock()
	g.RequireIdenticalRetainedQueues(t, topic, 8) // retention on request runs against each member's own snapshot
	clFrom, clTo := g.RequireIdenticalCommitLogs(t)

	sort.Slice(failovers, func(i, j int) bool { return failovers[i] < failovers[j] })
	var b strings.Builder
	fmt.Fprintf(&b, "\n==== chaos summary (seed %d, %v) ====\n", seed, dur)
	fmt.Fprintf(&b, "%-28s %d\n", "sends attempted", rep.Sent)
	fmt.Fprintf(&b, "%-28s %d (official client: %d)\n", "acknowledged", rep.Acked, official.acks.Load())
	fmt.Fprintf(&b, "%-28s %d\n", "failed (not acknowledged)", rep.Failed)
	fmt.Fprintf(&b, "%-28s %d\n", "failed but stored", rep.FailedButStored)
	fmt.Fprintf(&b, "%-28s %d\n", "LOST (must be 0)", rep.Lost)
	fmt.Fprintf(&b, "%-28s %d\n", "retry duplicates", rep.RetryDuplicates)
	fmt.Fprintf(&b, "%-28s %d (after retention; with the push consumer's reads %d)\n", "read back", len(readBack), rep.Read)
	fmt.Fprintf(&b, "%-28s %d\n", "consumed by push consumer", consumed.Load())
	fmt.Fprintf(&b, "%-28s %d\n", "checker problems", len(rep.Problems))
	fmt.Fprintf(&b, "%-28s %s\n", "transactions and timers", sideRep)
	fmt.Fprintf(&b, "%-28s [%d, %d) on %d members\n", "identical CommitLogs", clFrom, clTo, len(g.Nodes))
	keys := make([]string, 0, len(faults))
	for k := range faults {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	total := 0
	for _, k := range keys {
		fmt.Fprintf(&b, "fault %-26s %d\n", k, faults[k])
		total += faults[k]
	}
	fmt.Fprintf(&b, "%-32s %d\n", "faults in total", total)
	if n := len(failovers); n > 0 {
		fmt.Fprintf(&b, "%-28s %d: min %v  p50 %v  max %v\n", "failovers (fault->leader)", n,
			failovers[0].Round(time.Millisecond), failovers[n/2].Round(time.Millisecond), failovers[n-1].Round(time.Millisecond))
	}
	t.Log(b.String())
	fmt.Println(b.String())
	require.True(t, rep.OK(), "checker: %s", rep)
}
