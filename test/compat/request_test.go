package compat

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

// Request-reply with the official client: producer.Request against a
// push consumer answering with consumer.CreateReplyMessage and SendSync,
// as the client's own examples/consumer/rpc does.

// emptyEvery: every emptyEvery-th request is answered with the reply
// CreateReplyMessage builds as it is, which has no body (it parses the
// body as properties instead of setting it); RocketMQ stores and pushes it.
const emptyEvery = 100

// officialReplier is an official push consumer of topic that replies to
// every request, and the official producer its replies go out through,
// both with one instance name (one client, one connection per address).
type officialReplier struct {
	consumer rocketmq.PushConsumer
	producer rocketmq.Producer
	mu       sync.Mutex
	answered int
	errs     []string
}

func startOfficialReplier(t *testing.T, ns, group, topic, instance string) *officialReplier {
	t.Helper()
	r := &officialReplier{}
	r.producer = newProducer(t, ns, producer.WithInstanceName(instance), producer.WithRetry(2))
	pc, err := rocketmq.NewPushConsumer(consumer.WithNameServer(strings.Split(ns, ";")), consumer.WithGroupName(group),
		consumer.WithInstance(instance), consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset))
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, consumer.MessageSelector{}, func(ctx context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		for _, m := range msgs {
			reply, err := consumer.CreateReplyMessage(m, []byte("rep:"+string(m.Body)))
			if err == nil {
				// "official-0000", "official-0100"...: left as built.
				if b := string(m.Body); !strings.HasPrefix(b, "official-") || !strings.HasSuffix(b, "00") {
					reply.Body = []byte("rep:" + b)
				}
				reply.WithProperty("for", string(m.Body))
				var res *primitive.SendResult
				res, err = r.producer.SendSync(ctx, reply)
				if err == nil && res.Status != primitive.SendOK {
					err = fmt.Errorf("status %v", res.Status)
				}
			}
			r.mu.Lock()
			r.answered++
			if err != nil {
				r.errs = append(r.errs, fmt.Sprintf("%s: %v", m.Body, err))
			}
			r.mu.Unlock()
		}
		return consumer.ConsumeSuccess, nil
	}))
	require.NoError(t, pc.Start())
	r.consumer = pc
	t.Cleanup(func() { pc.Shutdown() })
	return r
}

func (r *officialReplier) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Empty(t, r.errs, "replier errors")
}

// officialRequests sends n requests from workers goroutines with the
// official producer and checks each got its own reply.
func officialRequests(t *testing.T, p rocketmq.Producer, topic, prefix string, n, workers int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int, n)
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if ctx.Err() != nil {
					errs <- ctx.Err()
					return
				}
				body := fmt.Sprintf("%s-%04d", prefix, i)
				msg := primitive.NewMessage(topic, []byte(body))
				reply, err := p.Request(ctx, 10*time.Second, msg)
				if err != nil {
					errs <- fmt.Errorf("%s: %w", body, err)
					continue
				}
				want := "rep:" + body
				if prefix == "official" && i%emptyEvery == 0 {
					want = ""
				}
				corr := msg.GetProperty(primitive.PropertyCorrelationID)
				switch {
				case string(reply.Body) != want:
					errs <- fmt.Errorf("%s: reply body %q, want %q", body, reply.Body, want)
				case reply.GetProperty("for") != body:
					errs <- fmt.Errorf("%s: reply is for %q", body, reply.GetProperty("for"))
				case corr == "" || reply.GetProperty(primitive.PropertyCorrelationID) != corr:
					errs <- fmt.Errorf("%s: reply correlation id %q, request's %q", body, reply.GetProperty(primitive.PropertyCorrelationID), corr)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	var all []string
	for err := range errs {
		all = append(all, err.Error())
	}
	require.Empty(t, all, "%d of %d requests failed", len(all), n)
}

// ownRequests sends n requests with raftmq's client and checks the replies.
func ownRequests(t *testing.T, ns, topic string, n int) {
	t.Helper()
	p, err := client.NewProducer(client.WithNameServers(ns), client.WithInstanceName("OwnRequester"), client.WithGroup("OwnRequesters"))
	require.NoError(t, err)
	defer p.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := 0; i < n; i++ {
		body := fmt.Sprintf("own-%04d", i)
		r, err := p.Request(ctx, client.NewMessage(topic, []byte(body)), 10*time.Second)
		require.NoError(t, err, body)
		require.Equal(t, "rep:"+body, string(r.Body))
		require.Equal(t, body, r.Property("for"))
	}
}

// TestOfficialClient_RequestReply: 1,000 official producer.Requests on a
// 3-node group, each answered by an official push consumer; every
// request gets its own reply (body and correlation id); some through
// RequestAsync; raftmq's client's Request against the same replier.
func TestOfficialClient_RequestReply(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	ns := c.NamesrvAddr()
	const topic = "OfficialRequests"
	c.CreateTopic(t, topic, 4)
	rep := startOfficialReplier(t, ns, "OfficialRepliers", topic, "Replier")
	p := newProducer(t, ns, producer.WithInstanceName("Requester"))
	start := time.Now()
	officialRequests(t, p, topic, "official", 1000, 8)
	t.Logf("1000 official requests answered in %v", time.Since(start).Round(time.Millisecond))

	const async = 50
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]string{}
	for i := 0; i < async; i++ {
		body := fmt.Sprintf("async-%04d", i)
		wg.Add(1)
		// The client calls the callback twice for one reply (once on
		// arrival, once more when it removes the request from its cache).
		var once sync.Once
		require.NoError(t, p.RequestAsync(ctx, 10*time.Second, func(_ context.Context, m *primitive.Message, err error) {
			once.Do(func() {
				defer wg.Done()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					got[body] = err.Error()
				} else {
					got[body] = string(m.Body)
				}
			})
		}, primitive.NewMessage(topic, []byte(body))))
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("RequestAsync callbacks did not all run")
	}
	for i := 0; i < async; i++ {
		body := fmt.Sprintf("async-%04d", i)
		require.Equal(t, "rep:"+body, got[body])
	}

	ownRequests(t, ns, topic, 100)
	rep.check(t)
}

// TestOfficialClient_RequestReplyAcrossMembers: with a group address each
// official client holds one connection, to one follower. The requester
// and the replier are placed on different members, so every reply is
// stored through the leader and pushed to the requester by the member
// holding its connection (ReqPushToClient on the peer channel).
func TestOfficialClient_RequestReplyAcrossMembers(t *testing.T) {
	c := cluster.Start(t, cluster.Options{GroupAddr: true})
	g := c.Group(0)
	ns := c.NamesrvAddr()
	const topic, probe = "CrossRequests", "CrossProbe"
	c.CreateTopic(t, topic, 4)
	c.CreateTopic(t, probe, 1)
	// memberOf is the member holding the connection of group's consumer.
	memberOf := func(group string) string {
		for _, n := range g.Nodes {
			r, err := g.Call(n, transport.NewRequest(transport.ReqGetConsumerConnectionList, map[string]string{"consumerGroup": group}, nil), 2*time.Second)
			if err != nil || r.Code != int16(transport.RespSuccess) {
				continue
			}
			var cc transport.ConsumerConnection
			if transport.DecodeBody(r.Body, &cc) == nil {
				for _, conn := range cc.ConnectionSet {
					if conn.Member != "" {
						return conn.Member
					}
				}
			}
		}
		return ""
	}
	waitMember := func(group string) string {
		var m string
		cluster.Eventually(t, 20*time.Second, func() error {
			if m = memberOf(group); m == "" {
				return fmt.Errorf("%s not registered", group)
			}
			return nil
		})
		return m
	}
	// The requester: a producer, and a consumer of the same client only to
	// see where its connection landed.
	p := newProducer(t, ns, producer.WithInstanceName("CrossRequester"))
	newPushConsumer(t, ns, "CrossRequesterProbe", probe, consumer.MessageSelector{}, &received{msgs: map[string]*primitive.MessageExt{}},
		consumer.WithInstance("CrossRequester"))
	reqAt := waitMember("CrossRequesterProbe")
	var rep *officialReplier
	for i := 0; ; i++ {
		require.Less(t, i, 20, "the replier always lands on the requester's member")
		rep = startOfficialReplier(t, ns, "CrossRepliers", topic, fmt.Sprintf("CrossReplier%d", i))
		at := waitMember("CrossRepliers")
		if at != reqAt {
			t.Logf("requester on %s, replier on %s (leader %s)", reqAt, at, g.Leader().ID)
			break
		}
		rep.consumer.Shutdown()
		rep.producer.Shutdown()
		cluster.Eventually(t, 20*time.Second, func() error {
			if m := memberOf("CrossRepliers"); m != "" {
				return fmt.Errorf("old replier still registered on %s", m)
			}
			return nil
		})
	}
	officialRequests(t, p, topic, "cross", 300, 4)
	require.Equal(t, reqAt, memberOf("CrossRequesterProbe"), "the requester stayed on its member")
	ownRequests(t, ns, topic, 50)
	rep.check(t)
}
