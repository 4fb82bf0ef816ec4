package broker

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/hashicorp/go-hclog"
	"github.com/raftmq/raftmq/config"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

// In-process groups for broker logic under -race; process-level tests
// (SIGKILL, restarts) live in test/cluster.

func freePort(t testing.TB) int { return cluster.FreePort(t) }

type rig struct {
	t       testing.TB
	brokers []*Broker
	client  *transport.Client
}

func startGroup(t testing.TB, n int, mutate func(*Config)) *rig {
	t.Helper()
	var peers []string
	for i := 0; i < n; i++ {
		peers = append(peers, fmt.Sprintf("n%d-127.0.0.1:%d", i, freePort(t)))
	}
	g := &rig{t: t}
	for i := 0; i < n; i++ {
		fc := config.DefaultBroker()
		fc.ListenPort = freePort(t)
		fc.StorePathRootDir = t.TempDir()
		fc.DLegerPeers = strings.Join(peers, ";")
		fc.DLegerSelfID = fmt.Sprintf("n%d", i)
		fc.MappedFileSizeCommitLog = 4 << 20
		fc.MaxMessageSize = 64 << 10
		// Slack for -race on 2 busy cores: a spurious election mid-test
		// would turn exact-offset assertions into flakes.
		fc.RaftHeartbeatTimeout = 750 * time.Millisecond
		fc.RaftElectionTimeout = 750 * time.Millisecond
		fc.RaftLeaderLeaseTimeout = 750 * time.Millisecond
		cfg, err := FromFile(fc)
		require.NoError(t, err)
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}})
		if mutate != nil {
			mutate(&cfg)
		}
		b, err := New(cfg)
		require.NoError(t, err)
		require.NoError(t, b.Start())
		g.brokers = append(g.brokers, b)
	}
	c, err := transport.NewClient(transport.DefaultClientConfig())
	require.NoError(t, err)
	g.client = c
	t.Cleanup(func() {
		c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for _, b := range g.brokers {
			b.Shutdown(ctx)
		}
	})
	return g
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (g *rig) leader() *Broker {
	g.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, b := range g.brokers {
			if b.IsLeader() {
				return b
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	g.t.Fatal("no leader")
	return nil
}

func (g *rig) follower() *Broker {
	l := g.leader()
	for _, b := range g.brokers {
		if b != l {
			return b
		}
	}
	return nil
}

func (g *rig) call(addr string, req *transport.Command) *transport.Command {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		r, err := g.client.Invoke(ctx, addr, req)
		require.NoError(g.t, err)
		// SERVICE_NOT_AVAILABLE means the request was not applied (not the
		// leader, enqueue timeout): retrying it is what clients do and
		// cannot duplicate anything.
		if r.Code != int16(transport.RespServiceNotAvailable) || ctx.Err() != nil {
			return r
		}
		select {
		case <-ctx.Done():
			return r
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func sendReq(topic string, qid int32, body []byte, props map[string]string) *transport.Command {
	if props == nil {
		props = map[string]string{}
	}
	if _, ok := props[message.PropertyUniqKey]; !ok {
		props[message.PropertyUniqKey] = message.NewUniqKey()
	}
	p, _ := message.EncodeProperties(props)
	h := transport.SendMessageRequestHeader{ProducerGroup: "PG", Topic: topic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: qid, BornTimestamp: time.Now().UnixMilli(), Properties: p}
	return transport.NewRequest(transport.ReqSendMessage, h.Encode(), body)
}

func pull(g *rig, addr, topic string, qid int32, off int64) (*transport.Command, transport.PullMessageResponseHeader) {
	h := transport.PullMessageRequestHeader{ConsumerGroup: "G", Topic: topic, QueueID: qid, QueueOffset: off, MaxMsgNums: 64}
	r := g.call(addr, transport.NewRequest(transport.ReqPullMessage, h.Encode(), nil))
	var rh transport.PullMessageResponseHeader
	require.NoError(g.t, rh.Decode(r.ExtFields))
	return r, rh
}

func TestBroker_SendPullOffsetsAndForwarding(t *testing.T) {
	g := startGroup(t, 3, nil)
	l, f := g.leader(), g.follower()
	// Through the leader and through a follower (forwarded to the leader).
	for i := 0; i < 20; i++ {
		addr := l.Addr()
		if i%2 == 1 {
			addr = f.Addr()
		}
		r := g.call(addr, sendReq("T", 1, []byte(fmt.Sprintf("m%d", i)), map[string]string{"TAGS": "A", "KEYS": fmt.Sprint(i)}))
		require.Equal(t, int16(0), r.Code, r.Remark)
		var sh transport.SendMessageResponseHeader
		require.NoError(t, sh.Decode(r.ExtFields))
		require.Equal(t, int64(i), sh.QueueOffset, "dense queue offsets in acknowledgement order")
		require.Equal(t, int32(1), sh.QueueID)
		host, _, err := message.DecodeOffsetMsgID(sh.MsgID)
		require.NoError(t, err)
		require.Equal(t, l.Addr(), host.String(), "store host is the leader")
	}
	// Any member serves the committed messages, in order.
	for _, b := range g.brokers {
		require.Eventually(t, func() bool {
			_, rh := pull(g, b.Addr(), "T", 1, 0)
			return rh.MaxOffset == 20
		}, 10*time.Second, 10*time.Millisecond)
		r, rh := pull(g, b.Addr(), "T", 1, 0)
		require.Equal(t, int16(0), r.Code, r.Remark)
		msgs, err := message.DecodeRecords(r.Body)
		require.NoError(t, err)
		require.Len(t, msgs, 20)
		for i, m := range msgs {
			require.Equal(t, fmt.Sprintf("m%d", i), string(m.Body))
			require.Equal(t, int64(i), m.QueueOffset)
			require.Equal(t, "A", m.Tags())
		}
		require.Equal(t, int64(20), rh.NextBeginOffset)
		// Offset at the end: nothing new; beyond: moved back.
		r, rh = pull(g, b.Addr(), "T", 1, 20)
		require.Equal(t, int16(transport.RespPullNotFound), r.Code)
		require.Equal(t, int64(20), rh.NextBeginOffset)
		r, rh = pull(g, b.Addr(), "T", 1, 99)
		if b == l {
			require.Equal(t, int16(transport.RespPullOffsetMoved), r.Code)
		} else {
			// A follower may be behind: it never rewinds a consumer.
			require.Equal(t, int16(transport.RespPullNotFound), r.Code)
			require.Equal(t, int64(99), rh.NextBeginOffset)
		}
	}

	// Consumer offsets go through raft and are readable on every member.
	uh := transport.UpdateConsumerOffsetRequestHeader{ConsumerGroup: "G", Topic: "T", QueueID: 1, CommitOffset: 7}
	require.Equal(t, int16(0), g.call(f.Addr(), transport.NewRequest(transport.ReqUpdateConsumerOffset, uh.Encode(), nil)).Code)
	for _, b := range g.brokers {
		require.Eventually(t, func() bool {
			qh := transport.QueryConsumerOffsetRequestHeader{ConsumerGroup: "G", Topic: "T", QueueID: 1}
			r := g.call(b.Addr(), transport.NewRequest(transport.ReqQueryConsumerOffset, qh.Encode(), nil))
			var oh transport.OffsetResponseHeader
			return r.Code == 0 && oh.Decode(r.ExtFields) == nil && oh.Offset == 7
		}, 10*time.Second, 10*time.Millisecond)
	}
	// A group with no offset on a young, never-trimmed queue starts at 0
	// (RocketMQ's in-memory rule; TestBroker_NewGroupOffset has the rest).
	qh := transport.QueryConsumerOffsetRequestHeader{ConsumerGroup: "Unknown", Topic: "T", QueueID: 1}
	r0 := g.call(l.Addr(), transport.NewRequest(transport.ReqQueryConsumerOffset, qh.Encode(), nil))
	var oh0 transport.OffsetResponseHeader
	require.Equal(t, int16(0), r0.Code, r0.Remark)
	require.NoError(t, oh0.Decode(r0.ExtFields))
	require.Zero(t, oh0.Offset)

	mh := transport.QueueHeader{Topic: "T", QueueID: 1}
	r := g.call(f.Addr(), transport.NewRequest(transport.ReqGetMaxOffset, mh.Encode(), nil))
	var oh transport.OffsetResponseHeader
	require.NoError(t, oh.Decode(r.ExtFields))
	require.Equal(t, int64(20), oh.Offset)
}

func TestBroker_TagFilterAndLongPoll(t *testing.T) {
	g := startGroup(t, 1, nil)
	l := g.leader()
	require.Equal(t, int16(0), g.call(l.Addr(), sendReq("F", 0, []byte("a"), map[string]string{"TAGS": "A"})).Code)
	require.Equal(t, int16(0), g.call(l.Addr(), sendReq("F", 0, []byte("b"), map[string]string{"TAGS": "B"})).Code)
	h := transport.PullMessageRequestHeader{ConsumerGroup: "G", Topic: "F", QueueOffset: 0, MaxMsgNums: 32,
		SysFlag: transport.PullFlagSubscription, Subscription: "B", ExpressionType: "TAG"}
	r := g.call(l.Addr(), transport.NewRequest(transport.ReqPullMessage, h.Encode(), nil))
	msgs, err := message.DecodeRecords(r.Body)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.Equal(t, "b", string(msgs[0].Body))

	// A parked pull wakes when a message arrives.
	h = transport.PullMessageRequestHeader{ConsumerGroup: "G", Topic: "F", QueueOffset: 2, MaxMsgNums: 32,
		SysFlag: transport.PullFlagSuspend, SuspendTimeoutMillis: 10000}
	got := make(chan *transport.Command, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		r, err := g.client.Invoke(ctx, l.Addr(), transport.NewRequest(transport.ReqPullMessage, h.Encode(), nil))
		if err == nil {
			got <- r
		}
		close(got)
	}()
	require.Eventually(t, func() bool {
		var m dto.Metric
		return l.metrics.parkedPulls.Write(&m) == nil && m.GetGauge().GetValue() == 1
	}, 10*time.Second, time.Millisecond,
		"the pull must park before the message arrives")
	start := time.Now()
	require.Equal(t, int16(0), g.call(l.Addr(), sendReq("F", 0, []byte("c"), nil)).Code)
	r = <-got
	require.NotNil(t, r)
	require.Equal(t, int16(0), r.Code, r.Remark)
	require.Less(t, time.Since(start), 5*time.Second)
	msgs, err = message.DecodeRecords(r.Body)
	require.NoError(t, err)
	require.Equal(t, "c", string(msgs[0].Body))
}

func TestBroker_BadInputGetsClearCodes(t *testing.T) {
	g := startGroup(t, 1, func(c *Config) { c.AutoCreateTopic = false })
	l := g.leader()
	r := g.call(l.Addr(), sendReq("NoSuchTopic", 0, []byte("x"), nil))
	require.Equal(t, int16(transport.RespTopicNotExist), r.Code)
	require.Contains(t, r.Remark, "not exist")

	ch := transport.CreateTopicRequestHeader{Topic: "Made", ReadQueueNums: 2, WriteQueueNums: 2, Perm: 6}
	require.Equal(t, int16(0), g.call(l.Addr(), transport.NewRequest(transport.ReqUpdateAndCreateTopic, ch.Encode(), nil)).Code)
	r = g.call(l.Addr(), sendReq("Made", 0, bytes.Repeat([]byte("x"), 65<<10), nil))
	require.Equal(t, int16(transport.RespMessageIllegal), r.Code)
	require.Contains(t, r.Remark, "body size over max value")
	r = g.call(l.Addr(), sendReq("Made", 5, []byte("x"), nil))
	require.Equal(t, int16(transport.RespSystemError), r.Code)
	require.Contains(t, r.Remark, "queueId[5] is illegal")
	r = g.call(l.Addr(), sendReq("bad topic!", 0, []byte("x"), nil))
	require.Equal(t, int16(transport.RespMessageIllegal), r.Code)
	require.Equal(t, int16(0), g.call(l.Addr(), sendReq("Made", 1, []byte("ok"), nil)).Code)
	r = g.call(l.Addr(), transport.NewRequest(transport.RequestCode(4242), nil, nil))
	require.Equal(t, int16(transport.RespRequestCodeNotSupported), r.Code)
	bad := transport.NewRequest(transport.ReqSendMessage, map[string]string{"topic": "Made"}, []byte("x"))
	require.Equal(t, int16(transport.RespMessageIllegal), g.call(l.Addr(), bad).Code)
}

func TestBroker_ConcurrentSendsShareEntries(t *testing.T) {
	g := startGroup(t, 3, nil)
	l := g.leader()
	const workers, per = 32, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	offsets := make(chan int64, workers*per)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				r, err := g.client.Invoke(ctx, l.Addr(), sendReq("C", 0, []byte(fmt.Sprintf("%d-%d", w, i)), nil))
				cancel()
				if err != nil || r.Code != 0 {
					errs <- fmt.Errorf("send: %v %v", err, r)
					return
				}
				var sh transport.SendMessageResponseHeader
				sh.Decode(r.ExtFields)
				offsets <- sh.QueueOffset
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	close(offsets)
	for err := range errs {
		require.NoError(t, err)
	}
	seen := map[int64]bool{}
	for o := range offsets {
		require.False(t, seen[o], "queue offset %d acknowledged twice", o)
		seen[o] = true
	}
	require.Len(t, seen, workers*per)
	for o := int64(0); o < workers*per; o++ {
		require.True(t, seen[o], "offset %d missing: offsets must be dense", o)
	}
}

func TestBroker_DelayLevels(t *testing.T) {
	g := startGroup(t, 3, func(c *Config) { c.DelayLevels = []time.Duration{time.Second, 2 * time.Second} })
	l := g.leader()
	sent := time.Now()
	require.Equal(t, int16(0), g.call(g.follower().Addr(), sendReq("D", 1, []byte("later"), map[string]string{"DELAY": "1", "KEYS": "k"})).Code)
	require.Equal(t, int16(0), g.call(l.Addr(), sendReq("D", 1, []byte("now"), nil)).Code)
	r, _ := pull(g, l.Addr(), "D", 1, 0)
	msgs, err := message.DecodeRecords(r.Body)
	require.NoError(t, err)
	require.Len(t, msgs, 1, "the delayed message is not visible before its time")
	require.Equal(t, "now", string(msgs[0].Body))
	var m *message.MessageExt
	require.Eventually(t, func() bool {
		r, _ := pull(g, l.Addr(), "D", 1, 1)
		if r.Code != 0 {
			return false
		}
		msgs, err := message.DecodeRecords(r.Body)
		if err != nil || len(msgs) != 1 {
			return false
		}
		m = msgs[0]
		return true
	}, 10*time.Second, 20*time.Millisecond)
	require.GreaterOrEqual(t, time.Since(sent), time.Second)
	require.Equal(t, "later", string(m.Body))
	require.Equal(t, "k", m.GetProperty("KEYS"))
	require.Empty(t, m.GetProperty("DELAY"))
	require.Empty(t, m.GetProperty("REAL_TOPIC"))
	// Delivered once, even across the next scheduler passes.
	passes := l.schedulePasses.Load()
	require.Eventually(t, func() bool { return l.schedulePasses.Load() >= passes+3 }, 10*time.Second, 5*time.Millisecond)
	_, rh := pull(g, l.Addr(), "D", 1, 0)
	require.Equal(t, int64(2), rh.MaxOffset)
	// Delay levels are refused in batches.
	body, _ := message.EncodeBatch([]*message.Message{{Topic: "D", Body: []byte("x"), Properties: map[string]string{"DELAY": "1"}}})
	h := transport.SendMessageRequestHeader{ProducerGroup: "PG", Topic: "D", QueueID: 0, Batch: true}
	r = g.call(l.Addr(), transport.NewRequest(transport.ReqSendBatchMessage, h.EncodeV2(), body))
	require.Equal(t, int16(transport.RespMessageIllegal), r.Code)
}

// Sends taken on the connection's reader keep one connection's order, and
// what the reader cannot serve without waiting (a full send budget) goes
// to a worker and gets the same answers as before.
func TestBroker_FastSendOrderAndBudgetFallback(t *testing.T) {
	g := startGroup(t, 1, func(c *Config) { c.SendQueueWait = 200 * time.Millisecond })
	l := g.leader()
	require.Equal(t, int16(transport.RespSuccess), g.call(l.Addr(), sendReq("F", 0, []byte("create"), nil)).Code)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 400
	type res struct {
		i   int
		off int64
		err error
	}
	got := make(chan res, n)
	for i := range n {
		req := sendReq("F", 0, []byte(fmt.Sprintf("m%03d", i)), nil)
		require.NoError(t, g.client.InvokeAsync(ctx, l.Addr(), req, func(r *transport.Command, err error) {
			if err == nil && r.Code != 0 {
				err = fmt.Errorf("code %d: %s", r.Code, r.Remark)
			}
			var sh transport.SendMessageResponseHeader
			if err == nil {
				err = sh.Decode(r.ExtFields)
			}
			got <- res{i, sh.QueueOffset, err}
		}))
	}
	for range n {
		r := <-got
		require.NoError(t, r.err)
		require.Equal(t, int64(r.i+1), r.off, "message %d: stored in the order sent on the connection", r.i)
	}

	// A full budget: the reader passes the send on; the worker waits
	// sendQueueWait and refuses it as RocketMQ does.
	require.True(t, l.pending.acquire(ctx, l.pending.limit, 0))
	r := g.call(l.Addr(), sendReq("F", 0, []byte("busy"), nil))
	require.Equal(t, int16(transport.RespSystemBusy), r.Code, r.Remark)
	require.Contains(t, r.Remark, "[TIMEOUT_CLEAN_QUEUE]")
	l.pending.release(l.pending.limit)
	r = g.call(l.Addr(), sendReq("F", 0, []byte("after"), nil))
	require.Equal(t, int16(transport.RespSuccess), r.Code, r.Remark)
	var sh transport.SendMessageResponseHeader
	require.NoError(t, sh.Decode(r.ExtFields))
	require.Equal(t, int64(n+1), sh.QueueOffset)
}

// A group with no offset starts at 0 only while the queue's first message
// is within NewGroupWindow bytes of the CommitLog's end (RocketMQ:
// accessMessageInMemoryMaxRatio of RAM); further back, or with the rule
// off, the broker answers QUERY_NOT_FOUND and the client's
// consumeFromWhere decides.
func TestBroker_NewGroupOffset(t *testing.T) {
	for _, tc := range []struct {
		name   string
		window int64
		want   transport.ResponseCode
	}{
		{"within the window", 1 << 30, transport.RespSuccess},
		{"beyond it", 2048, transport.RespQueryNotFound},
		{"rule off", 0, transport.RespQueryNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGroup(t, 1, func(c *Config) { c.NewGroupWindow = tc.window })
			l := g.leader()
			query := func(qid int32) *transport.Command {
				qh := transport.QueryConsumerOffsetRequestHeader{ConsumerGroup: "New", Topic: "T", QueueID: qid}
				return g.call(l.Addr(), transport.NewRequest(transport.ReqQueryConsumerOffset, qh.Encode(), nil))
			}
			for i := 0; i < 4; i++ { // 4 KiB after queue 0's first message
				r := g.call(l.Addr(), sendReq("T", 0, bytes.Repeat([]byte{'x'}, 1024), nil))
				require.Equal(t, int16(0), r.Code, r.Remark)
			}
			r := query(0)
			require.Equal(t, int16(tc.want), r.Code, r.Remark)
			if tc.want == transport.RespSuccess {
				var oh transport.OffsetResponseHeader
				require.NoError(t, oh.Decode(r.ExtFields))
				require.Zero(t, oh.Offset)
			}
			// An empty queue: 0 is also its end, whenever the rule is on.
			if tc.window > 0 {
				require.Equal(t, int16(0), query(1).Code)
			}
			// A committed offset always wins.
			uh := transport.UpdateConsumerOffsetRequestHeader{ConsumerGroup: "New", Topic: "T", QueueID: 0, CommitOffset: 3}
			require.Equal(t, int16(0), g.call(l.Addr(), transport.NewRequest(transport.ReqUpdateConsumerOffset, uh.Encode(), nil)).Code)
			r = query(0)
			var oh transport.OffsetResponseHeader
			require.Equal(t, int16(0), r.Code, r.Remark)
			require.NoError(t, oh.Decode(r.ExtFields))
			require.Equal(t, int64(3), oh.Offset)
		})
	}
}
