package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// TestProducer_SendPaths sends through every path (sync, async, oneway,
// batch, ordered, compressed) and reads everything back with a pull
// consumer: bodies, tags, keys, properties, ids, queues and offsets must
// be what the producer sent and was told.
func TestProducer_SendPaths(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	topic := uniqueName("Paths")
	createTopic(t, c, topic, 4)
	p := newProducer(t, c)
	ctx := ctxT(t, 60*time.Second)

	type sent struct {
		msg *client.Message
		res *client.SendResult // nil for oneway
	}
	var mu sync.Mutex
	all := map[string]*sent{}
	record := func(m *client.Message, r *client.SendResult) {
		mu.Lock()
		defer mu.Unlock()
		all[string(m.Body)] = &sent{m, r}
	}
	mk := func(kind string, i int) *client.Message {
		m := &client.Message{Topic: topic, Body: []byte(fmt.Sprintf("%s-%03d", kind, i)), Tags: "T" + kind,
			Keys: []string{fmt.Sprintf("key-%s-%d", kind, i), "shared"}, Flag: int32(i)}
		m.SetProperty("kind", kind).SetProperty("i", fmt.Sprint(i))
		return m
	}

	// sync
	for i := 0; i < 20; i++ {
		m := mk("sync", i)
		r, err := p.Send(ctx, m)
		require.NoError(t, err)
		require.Equal(t, client.SendOK, r.Status)
		require.Len(t, r.MsgID, 32)
		require.NotEmpty(t, r.OffsetMsgID)
		require.Equal(t, topic, r.Queue.Topic)
		require.Equal(t, "broker-a", r.Queue.BrokerName)
		record(m, r)
	}
	// compressed (above the 4 KiB threshold) and incompressible-looking
	big := &client.Message{Topic: topic, Body: bytes.Repeat([]byte("compress me please "), 1000), Tags: "Tbig"}
	rbig, err := p.Send(ctx, big)
	require.NoError(t, err)
	record(big, rbig)

	// async
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		m := mk("async", i)
		wg.Add(1)
		require.NoError(t, p.SendAsync(ctx, m, func(r *client.SendResult, err error) {
			defer wg.Done()
			if err != nil {
				errs <- err
				return
			}
			record(m, r)
		}))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	// oneway
	for i := 0; i < 20; i++ {
		m := mk("oneway", i)
		require.NoError(t, p.SendOneway(ctx, m))
		record(m, nil)
	}

	// batch
	var batch []*client.Message
	for i := 0; i < 10; i++ {
		batch = append(batch, mk("batch", i))
	}
	rb, err := p.SendBatch(ctx, batch)
	require.NoError(t, err)
	require.Len(t, rb.MsgIDs(), 10)
	require.Len(t, rb.OffsetMsgIDs(), 10)
	for i, m := range batch {
		r := *rb
		r.MsgID, r.OffsetMsgID = rb.MsgIDs()[i], rb.OffsetMsgIDs()[i]
		r.QueueOffset = rb.QueueOffset + int64(i)
		record(m, &r)
	}

	// ordered: same key, same queue, send order
	keyQueue := map[string]client.MessageQueue{}
	for i := 0; i < 30; i++ {
		key := fmt.Sprintf("order-%d", i%3)
		m := mk("ordered-"+key, i)
		r, err := p.SendOrderly(ctx, m, key)
		require.NoError(t, err)
		if q, ok := keyQueue[key]; ok {
			require.Equal(t, q, r.Queue, "key %s moved queue", key)
		}
		keyQueue[key] = r.Queue
		record(m, r)
	}

	// Read everything back.
	var got []*client.MessageExt
	cluster.Eventually(t, 10*time.Second, func() error {
		got = pullAll(t, c, topic)
		if len(got) < len(all) {
			return fmt.Errorf("read %d of %d", len(got), len(all))
		}
		return nil
	})
	require.Len(t, got, len(all), "no duplicates, nothing extra")
	orderedIdx := map[string][]int{} // per key, send index in queue order
	for _, m := range got {
		s := all[string(m.Body)]
		require.NotNil(t, s, "unexpected body %.40q", m.Body)
		require.Equal(t, s.msg.Body, m.Body)
		require.Equal(t, topic, m.Topic)
		require.Equal(t, s.msg.Tags, m.Tags)
		require.Equal(t, s.msg.Keys, m.Keys)
		require.Equal(t, s.msg.Flag, m.Flag)
		for k, v := range s.msg.Properties {
			require.Equal(t, v, m.Properties[k], "property %s", k)
		}
		require.Equal(t, m.MsgID, m.Properties[message.PropertyUniqKey])
		if s.res != nil {
			require.Equal(t, s.res.MsgID, m.MsgID)
			require.Equal(t, s.res.OffsetMsgID, m.OffsetMsgID)
			require.Equal(t, s.res.Queue, m.Queue)
			require.Equal(t, s.res.QueueOffset, m.QueueOffset)
		}
		if kind := s.msg.Properties["kind"]; strings.HasPrefix(kind, "ordered-") {
			require.Equal(t, keyQueue[strings.TrimPrefix(kind, "ordered-")], m.Queue)
			orderedIdx[kind] = append(orderedIdx[kind], int(s.msg.Flag))
		}
	}
	require.Len(t, orderedIdx, 3)
	for kind, idx := range orderedIdx {
		require.Len(t, idx, 10)
		require.IsIncreasing(t, idx, "%s stored out of send order", kind)
	}
	bigGot := got[0]
	for _, m := range got {
		if m.Tags == "Tbig" {
			bigGot = m
		}
	}
	require.Equal(t, big.Body, bigGot.Body)
	require.NotZero(t, bigGot.SysFlag&message.SysFlagCompressed, "large body stored compressed")
}

// TestProducer_OrderedSameKeySameQueue checks the hash selector is stable
// and spreads keys.
func TestProducer_HashQueueSelector(t *testing.T) {
	var qs []client.MessageQueue
	for i := 0; i < 8; i++ {
		qs = append(qs, client.MessageQueue{Topic: "T", BrokerName: "b", QueueID: i})
	}
	sel := client.HashQueueSelector{}
	used := map[int]bool{}
	for i := 0; i < 100; i++ {
		key := fmt.Sprintf("order-%d", i)
		q := sel.Select(qs, nil, key)
		require.Equal(t, q, sel.Select(qs, nil, key))
		used[q.QueueID] = true
	}
	require.Len(t, used, 8)
}

// TestProducer_AutoCreate sends to a topic nobody created: the producer
// uses TBW102's route and the broker creates the topic with 4 queues.
func TestProducer_AutoCreate(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	// The first NameServer listed is dead: the client moves on to the next.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	ln.Close()
	p := newProducer(t, c, client.WithNameServers(dead+";"+c.NamesrvAddr()))
	a := newAdmin(t, c)
	ctx := ctxT(t, 20*time.Second)
	topic := uniqueName("Auto")
	for i := 0; i < 8; i++ {
		_, err := p.Send(ctx, client.NewMessage(topic, []byte(fmt.Sprint(i))))
		require.NoError(t, err)
	}
	cluster.Eventually(t, 5*time.Second, func() error {
		r, err := a.TopicRoute(ctx, topic)
		if err != nil {
			return err
		}
		if len(r.Queues) != 1 || r.Queues[0].WriteQueues != 4 {
			return fmt.Errorf("route %+v", r.Queues)
		}
		return nil
	})
	require.Len(t, pullAll(t, c, topic), 8)
}

// TestTopicNotExist_AutoCreateOff: with auto-creation off on the brokers, a send
// to an unknown topic fails fast with ErrTopicNotExist, and so does a
// producer that does not auto-create.
func TestTopicNotExist_AutoCreateOff(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Config: map[string]string{"autoCreateTopicEnable": "false"}})
	p := newProducer(t, c)
	ctx := ctxT(t, 20*time.Second)
	t0 := time.Now()
	_, err := p.Send(ctx, client.NewMessage("NoSuchTopic", []byte("x")))
	require.ErrorIs(t, err, client.ErrTopicNotExist)
	require.Less(t, time.Since(t0), 2*time.Second)
	require.Contains(t, err.Error(), "NoSuchTopic")

	p2 := newProducer(t, c, client.WithAutoCreateTopic(false))
	_, err = p2.Send(ctx, client.NewMessage("NoSuchTopic", []byte("x")))
	require.ErrorIs(t, err, client.ErrTopicNotExist)
	require.ErrorIs(t, p2.SendOneway(ctx, client.NewMessage("NoSuchTopic", []byte("x"))), client.ErrTopicNotExist)

	// A consumer of an unknown topic does not start.
	pc, err := client.NewPushConsumer(opts(t, c, client.WithGroup(uniqueName("GNone")))...)
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe("NoSuchTopic", "*", func(context.Context, []*client.MessageExt) client.ConsumeResult { return client.ConsumeSuccess }))
	require.ErrorIs(t, pc.Start(ctx), client.ErrTopicNotExist)

	// A created topic works, for both.
	topic := uniqueName("Exists")
	createTopic(t, c, topic, 2)
	_, err = p.Send(ctx, client.NewMessage(topic, []byte("x")))
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, "*", func(context.Context, []*client.MessageExt) client.ConsumeResult { return client.ConsumeSuccess }))
	require.ErrorIs(t, pc.Start(ctx), client.ErrTopicNotExist, "still subscribed to the unknown topic")
	pc2 := newPushConsumer(t, c, topic, "*", newReceived().handler(), client.WithGroup(uniqueName("GExists")))
	require.Error(t, pc2.Start(ctx), "started twice")
	require.Error(t, pc2.Subscribe(topic, "*", newReceived().handler()), "subscribe after start")
	require.NoError(t, pc.Shutdown(ctx))
}

// TestProducer_Errors covers failures without a cluster: unreachable name
// servers, invalid messages, use after shutdown.
func TestProducer_Errors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	ln.Close()
	p, err := client.NewProducer(client.WithNameServers(dead+";"+dead), client.WithTimeout(500*time.Millisecond), client.WithLogger(testLogger(t)))
	require.NoError(t, err)
	ctx := ctxT(t, 10*time.Second)
	_, err = p.Send(ctx, client.NewMessage("T", []byte("x")))
	require.ErrorIs(t, err, client.ErrNameServerUnreachable)
	require.Contains(t, err.Error(), dead)

	for _, m := range []*client.Message{nil, {Topic: "", Body: []byte("x")}, {Topic: "T", Body: nil}, {Topic: "bad topic", Body: []byte("x")},
		{Topic: "T", Body: []byte("x"), Keys: []string{"a b"}}, {Topic: "T", Body: []byte("x"), Properties: map[string]string{"k": "\x01"}}} {
		_, err := p.Send(ctx, m)
		require.ErrorIs(t, err, client.ErrInvalidMessage)
	}
	_, err = p.SendBatch(ctx, []*client.Message{client.NewMessage("A", []byte("x")), client.NewMessage("B", []byte("x"))})
	require.ErrorIs(t, err, client.ErrInvalidMessage)

	require.NoError(t, p.Shutdown(ctx))
	require.NoError(t, p.Shutdown(ctx))
	_, err = p.Send(ctx, client.NewMessage("T", []byte("x")))
	require.ErrorIs(t, err, client.ErrShutdown)
	require.ErrorIs(t, p.SendAsync(ctx, client.NewMessage("T", []byte("x")), func(*client.SendResult, error) {}), client.ErrShutdown)

	_, err = client.NewProducer(client.WithNameServers("localhost"))
	require.Error(t, err)
	t.Setenv("NAMESRV_ADDR", "")
	_, err = client.NewProducer()
	require.ErrorIs(t, err, client.ErrNoNameServer)
	_, err = client.NewPushConsumer(client.WithNameServers(dead))
	require.Error(t, err, "a push consumer needs a group")
}

// errorsIs is a compile check that BrokerError works with errors.As.
var _ = func(err error) bool { var be *client.BrokerError; return errors.As(err, &be) && be.Retriable() }
