package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

// Failover scenarios of issue 5, short versions. Each ends with the
// checker: no acknowledged message lost, dense offsets, ack order = offset
// order, no altered content, duplicates only from retried sends.

func waitSent(t *testing.T, l *cluster.Load, n int64, timeout time.Duration) {
	t.Helper()
	cluster.Eventually(t, timeout, func() error {
		if s := l.Sent(); s < n {
			return fmt.Errorf("load sent %d of %d (first error: %s)", s, n, l.FirstError())
		}
		return nil
	})
}

// Scenario 1: leader SIGKILL under steady produce/consume load; then the
// old leader restarts and rejoins.
func TestFailover_LeaderKillUnderLoad(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	g := c.Group(0)
	const topic = "S1"
	c.CreateTopic(t, topic, 4)
	h := cluster.NewHistory()
	var consumed atomic.Int64
	pc, err := client.NewPushConsumer(client.WithNameServers(c.NamesrvAddr()), client.WithGroup("S1G"),
		client.WithConsumeFromWhere(client.ConsumeFromFirstOffset))
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, "*", func(_ context.Context, msgs []*client.MessageExt) client.ConsumeResult {
		consumed.Add(int64(len(msgs)))
		return client.ConsumeSuccess
	}))
	require.NoError(t, pc.Start(context.Background()))
	defer pc.Shutdown(context.Background())

	load, err := cluster.StartLoad(context.Background(), h, c.NamesrvAddr(), topic, 4, 5000, 256, 60*time.Second)
	require.NoError(t, err)
	defer load.Stop()
	waitSent(t, load, 400, 20*time.Second)
	old := g.WaitLeader(t, 5*time.Second)
	killedAt := time.Now()
	old.Kill()
	next := g.WaitNewLeader(t, old, 10*time.Second)
	t.Logf("leader %s killed; %s serves after %v", old.ID, next.ID, time.Since(killedAt).Round(time.Millisecond))
	before := load.Sent()
	waitSent(t, load, before+400, 20*time.Second)
	old.Restart(t)
	waitSent(t, load, load.Sent()+200, 20*time.Second)
	load.Stop()
	g.WaitCaughtUp(t, 30*time.Second)
	c.CheckAll(t, h, topic, 30*time.Second)
	g.RequireIdenticalQueues(t, topic, 4)
	cluster.Eventually(t, 30*time.Second, func() error {
		_, acked, _ := h.Counts()
		if consumed.Load() < int64(acked) {
			return fmt.Errorf("push consumer got %d of %d acked", consumed.Load(), acked)
		}
		return nil
	})
}

// Scenario 2: a follower killed, messages produced, restarted: it catches
// up and serves identical queues.
func TestFailover_FollowerKilledCatchesUp(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 3000
	}
	c := cluster.Start(t, cluster.Options{})
	g := c.Group(0)
	const topic = "S2"
	c.CreateTopic(t, topic, 4)
	leader := g.WaitLeader(t, 5*time.Second)
	var follower *cluster.Node
	for _, m := range g.Nodes {
		if m != leader {
			follower = m
		}
	}
	follower.Kill()
	h := cluster.NewHistory()
	load, err := cluster.StartLoad(context.Background(), h, c.NamesrvAddr(), topic, 8, n/8, 200, 120*time.Second)
	require.NoError(t, err)
	load.Wait()
	_, acked, failed := h.Counts()
	require.Equal(t, n, acked, "failed %d, first error %s", failed, load.FirstError())
	follower.Restart(t)
	g.WaitCaughtUp(t, 60*time.Second)
	c.CheckAll(t, h, topic, 30*time.Second)
	g.RequireIdenticalQueues(t, topic, 4)
}

// Scenario 3: two of three killed: sends fail (with a retriable code, no
// acknowledgement, no split brain); one restarted: sends resume.
func TestFailover_TwoOfThreeDown(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	g := c.Group(0)
	const topic = "S3"
	c.CreateTopic(t, topic, 2)
	h := cluster.NewHistory()
	p, err := client.NewProducer(client.WithNameServers(c.NamesrvAddr()), client.WithTimeout(2*time.Second), client.WithRetries(1))
	require.NoError(t, err)
	defer p.Shutdown(context.Background())
	send := func(seq int) error {
		m, id := h.NewMessage(topic, "p", seq, 64)
		h.Sending(id, m)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		r, err := p.Send(ctx, m)
		h.Result(id, r, err)
		return err
	}
	for i := 0; i < 20; i++ {
		require.NoError(t, send(i))
	}
	leader := g.WaitLeader(t, 5*time.Second)
	var survivor *cluster.Node
	for _, n := range g.Nodes {
		if n != leader && survivor == nil {
			survivor = n
			continue
		}
		n.Kill()
	}
	// The survivor alone must not become a serving leader, nor acknowledge.
	for i := 20; i < 25; i++ {
		start := time.Now()
		err := send(i)
		require.Error(t, err, "a send was acknowledged by a minority")
		require.Less(t, time.Since(start), 10*time.Second)
		t.Logf("send with 2 of 3 down failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	}
	r, err := g.Call(survivor, transport.NewRequest(transport.ReqSendMessageV2,
		(&transport.SendMessageRequestHeader{ProducerGroup: "P", Topic: topic, BornTimestamp: time.Now().UnixMilli()}).EncodeV2(), []byte("x|direct")), 10*time.Second)
	require.NoError(t, err)
	require.Contains(t, []int16{int16(transport.RespServiceNotAvailable), int16(transport.RespSystemError)}, r.Code, "retriable code, got %d %s", r.Code, r.Remark)
	t.Logf("direct send to the survivor: code %d %q", r.Code, r.Remark)
	st, err := g.Status(survivor)
	require.NoError(t, err)
	require.False(t, st.Serving)

	// One comes back: a majority again, sends resume.
	for _, n := range g.Nodes {
		if !n.Running() {
			n.Restart(t)
			break
		}
	}
	g.WaitLeader(t, 20*time.Second)
	cluster.Eventually(t, 20*time.Second, func() error { return send(100) })
	for i := 101; i < 120; i++ {
		require.NoError(t, send(i))
	}
	c.CheckAll(t, h, topic, 30*time.Second)
}

// Scenario 4: the leader partitioned away acknowledges nothing while the
// majority elects and serves; after healing it rejoins.
func TestFailover_LeaderPartitioned(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	g := c.Group(0)
	const topic = "S4"
	c.CreateTopic(t, topic, 4)
	h := cluster.NewHistory()
	load, err := cluster.StartLoad(context.Background(), h, c.NamesrvAddr(), topic, 4, 5000, 128, 60*time.Second)
	require.NoError(t, err)
	defer load.Stop()
	waitSent(t, load, 300, 20*time.Second)
	old := g.WaitLeader(t, 5*time.Second)
	old.Partition()
	partitionedAt := time.Now()

	// Straight to the cut-off leader (bypassing its proxy): nothing it
	// receives now is acknowledged.
	var directAcks int
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			h2 := transport.SendMessageRequestHeader{ProducerGroup: "P", Topic: topic, QueueID: int32(i % 4), BornTimestamp: time.Now().UnixMilli()}
			r, err := g.Call(old, transport.NewRequest(transport.ReqSendMessageV2, h2.EncodeV2(), []byte(fmt.Sprintf("partitioned-%d|x", i))), 10*time.Second)
			if err == nil && r.Code == 0 {
				directAcks++
			}
		}(i)
	}
	next := g.WaitNewLeader(t, old, 15*time.Second)
	t.Logf("majority elected %s %v after the partition", next.ID, time.Since(partitionedAt).Round(time.Millisecond))
	before := load.Sent()
	waitSent(t, load, before+300, 30*time.Second)
	wg.Wait()
	require.Zero(t, directAcks, "the partitioned leader acknowledged a send")
	g.Heal()
	waitSent(t, load, load.Sent()+200, 30*time.Second)
	load.Stop()
	g.WaitCaughtUp(t, 30*time.Second)
	c.CheckAll(t, h, topic, 30*time.Second)
	g.RequireIdenticalQueues(t, topic, 4)
}

// Scenario 5: all three SIGKILLed at once and restarted: every acknowledged
// message is there, and consumers resume from their committed offsets.
func TestFailover_AllKilledAndRestarted(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	g := c.Group(0)
	const topic, group = "S5", "S5G"
	c.CreateTopic(t, topic, 4)
	h := cluster.NewHistory()
	load, err := cluster.StartLoad(context.Background(), h, c.NamesrvAddr(), topic, 4, 500, 128, 60*time.Second)
	require.NoError(t, err)
	load.Wait()
	// A consumer reads part of it and commits.
	var consumed atomic.Int64
	pc, err := client.NewPushConsumer(client.WithNameServers(c.NamesrvAddr()), client.WithGroup(group),
		client.WithConsumeFromWhere(client.ConsumeFromFirstOffset), client.WithCommitInterval(100*time.Millisecond))
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, "*", func(_ context.Context, msgs []*client.MessageExt) client.ConsumeResult {
		consumed.Add(int64(len(msgs)))
		return client.ConsumeSuccess
	}))
	require.NoError(t, pc.Start(context.Background()))
	cluster.Eventually(t, 30*time.Second, func() error {
		if consumed.Load() < 2000 {
			return fmt.Errorf("consumed %d", consumed.Load())
		}
		return nil
	})
	require.NoError(t, pc.Shutdown(context.Background())) // commits on shutdown
	committed := committedOffsets(t, c, group, topic)

	for _, n := range g.Nodes {
		n.Kill()
	}
	for _, n := range g.Nodes {
		n.Restart(t)
	}
	g.WaitLeader(t, 30*time.Second)
	c.CheckAll(t, h, topic, 30*time.Second)
	after := committedOffsets(t, c, group, topic)
	for q, off := range committed {
		require.GreaterOrEqual(t, after[q], off, "queue %d rewound from %d to %d", q, off, after[q])
	}
	g.WaitCaughtUp(t, 30*time.Second)
	g.RequireIdenticalQueues(t, topic, 4)
}

func committedOffsets(t *testing.T, c *cluster.Cluster, group, topic string) map[int]int64 {
	t.Helper()
	pc, err := client.NewPullConsumer(client.WithNameServers(c.NamesrvAddr()), client.WithGroup(group))
	require.NoError(t, err)
	defer pc.Shutdown(context.Background())
	out := map[int]int64{}
	cluster.Eventually(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		mqs, err := pc.Queues(ctx, topic)
		if err != nil {
			return err
		}
		for _, mq := range mqs {
			off, err := pc.FetchOffset(ctx, mq)
			if err != nil {
				return err
			}
			out[mq.QueueID] = off
		}
		return nil
	})
	return out
}

// Scenario 6: a node's data dir deleted: it rejoins and ends with every
// retained message readable.
func TestFailover_DataDirDeleted(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	g := c.Group(0)
	const topic = "S6"
	c.CreateTopic(t, topic, 4)
	h := cluster.NewHistory()
	load, err := cluster.StartLoad(context.Background(), h, c.NamesrvAddr(), topic, 4, 500, 200, 60*time.Second)
	require.NoError(t, err)
	load.Wait()
	leader := g.WaitLeader(t, 5*time.Second)
	var victim *cluster.Node
	for _, n := range g.Nodes {
		if n != leader {
			victim = n
		}
	}
	victim.Kill()
	for _, sub := range []string{"commitlog", "raftlog", "consumequeue", "index", "config", "raft"} {
		require.NoError(t, os.RemoveAll(victim.Dir+"/"+sub))
	}
	victim.Restart(t)
	g.WaitCaughtUp(t, 60*time.Second)
	c.CheckAll(t, h, topic, 30*time.Second)
	g.RequireIdenticalQueues(t, topic, 4)
}

// Scenario 7: consumer offsets committed before a failover are honoured
// after it: a new consumer of the group gets only what was not consumed.
func TestFailover_OffsetsHonouredAfterFailover(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	g := c.Group(0)
	const topic, group = "S7", "S7G"
	c.CreateTopic(t, topic, 4)
	h := cluster.NewHistory()
	load, err := cluster.StartLoad(context.Background(), h, c.NamesrvAddr(), topic, 2, 300, 64, 60*time.Second)
	require.NoError(t, err)
	load.Wait()
	seen := map[string]bool{}
	var mu sync.Mutex
	consume := func() *client.PushConsumer {
		pc, err := client.NewPushConsumer(client.WithNameServers(c.NamesrvAddr()), client.WithGroup(group),
			client.WithConsumeFromWhere(client.ConsumeFromFirstOffset), client.WithCommitInterval(100*time.Millisecond))
		require.NoError(t, err)
		require.NoError(t, pc.Subscribe(topic, "*", func(_ context.Context, msgs []*client.MessageExt) client.ConsumeResult {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				seen[string(m.Body)] = true
			}
			return client.ConsumeSuccess
		}))
		require.NoError(t, pc.Start(context.Background()))
		return pc
	}
	pc := consume()
	cluster.Eventually(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) < 600 {
			return fmt.Errorf("consumed %d of 600", len(seen))
		}
		return nil
	})
	require.NoError(t, pc.Shutdown(context.Background()))
	committed := committedOffsets(t, c, group, topic)
	var total int64
	for _, o := range committed {
		total += o
	}
	require.EqualValues(t, 600, total, "everything consumed is committed")

	old := g.WaitLeader(t, 5*time.Second)
	old.Kill()
	g.WaitNewLeader(t, old, 15*time.Second)
	require.Equal(t, committed, committedOffsets(t, c, group, topic))

	// New messages after the failover; a fresh consumer instance of the
	// group receives only those.
	mu.Lock()
	seen = map[string]bool{}
	mu.Unlock()
	load2, err := cluster.StartLoad(context.Background(), h, c.NamesrvAddr(), topic, 1, 50, 64, 30*time.Second)
	require.NoError(t, err)
	load2.Wait()
	pc = consume()
	defer pc.Shutdown(context.Background())
	cluster.Eventually(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) < 50 {
			return fmt.Errorf("consumed %d of the 50 new", len(seen))
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 50, "messages consumed before the failover were delivered again")
	_ = errors.New
}
