package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// TestProducer_RequestReply: Request and RequestAsync get the reply a push
// consumer sends with NewReply and SendReply, each its own; a request
// nobody answers times out cleanly; a reply to a requester that is gone
// is stored and reported as ErrReplyNotPushed, without retries.
func TestProducer_RequestReply(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	topic := uniqueName("Requests")
	createTopic(t, c, topic, 4)
	replier := newProducer(t, c, client.WithGroup(uniqueName("Repliers")))
	var replyErrs sync.Map
	newPushConsumer(t, c, topic, "*", func(ctx context.Context, msgs []*client.MessageExt) client.ConsumeResult {
		for _, m := range msgs {
			rep, err := client.NewReply(m, []byte("re: "+string(m.Body)))
			if err == nil {
				rep.SetProperty("question", string(m.Body))
				_, err = replier.SendReply(ctx, rep)
			}
			if err != nil {
				replyErrs.Store(string(m.Body), err)
			}
		}
		return client.ConsumeSuccess
	}, client.WithGroup(uniqueName("Answerers")))

	p := newProducer(t, c)
	ctx := ctxT(t, 120*time.Second)
	const n = 100
	for i := 0; i < n; i++ {
		body := fmt.Sprintf("q-%03d", i)
		r, err := p.Request(ctx, client.NewMessage(topic, []byte(body)), 10*time.Second)
		require.NoError(t, err, body)
		require.Equal(t, "re: "+body, string(r.Body))
		require.Equal(t, body, r.Property("question"))
		require.Equal(t, message.ReplyTopic("TestCluster"), r.Topic)
		require.Equal(t, p.ClientID(), r.Property(message.PropertyReplyToClient))
		require.NotEmpty(t, r.OffsetMsgID)
		require.Equal(t, "broker-a", r.Queue.BrokerName)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]string{}
	for i := 0; i < n; i++ {
		body := fmt.Sprintf("async-%03d", i)
		wg.Add(1)
		require.NoError(t, p.RequestAsync(ctx, client.NewMessage(topic, []byte(body)), 20*time.Second, func(r *client.MessageExt, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				got[body] = err.Error()
				return
			}
			got[body] = string(r.Body)
		}))
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		body := fmt.Sprintf("async-%03d", i)
		require.Equal(t, "re: "+body, got[body])
	}
	replyErrs.Range(func(k, v any) bool {
		t.Errorf("reply to %v: %v", k, v)
		return true
	})

	// Nobody answers this topic: the request times out.
	silent := uniqueName("Silent")
	createTopic(t, c, silent, 1)
	start := time.Now()
	_, err := p.Request(ctx, client.NewMessage(silent, []byte("anyone?")), time.Second)
	require.ErrorIs(t, err, client.ErrRequestTimeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second)

	// A reply to a requester that is gone: stored, not retried.
	gone := &client.MessageExt{Message: client.Message{Topic: topic, Properties: map[string]string{
		message.PropertyCluster: "TestCluster", message.PropertyReplyToClient: "127.0.0.1@gone", message.PropertyCorrelationID: "x"}}}
	rep, err := client.NewReply(gone, []byte("too late"))
	require.NoError(t, err)
	_, err = replier.SendReply(ctx, rep)
	require.ErrorIs(t, err, client.ErrReplyNotPushed)
	var be *client.BrokerError
	require.True(t, errors.As(err, &be))
	require.Contains(t, be.Remark, "channel of <127.0.0.1@gone> not found")
	stored := 0
	for _, m := range pullAll(t, c, message.ReplyTopic("TestCluster")) {
		if string(m.Body) == "too late" {
			stored++
		}
	}
	require.Equal(t, 1, stored, "stored once: a reply that was not pushed is not retried")

	_, err = client.NewReply(&client.MessageExt{Message: client.Message{Topic: topic}}, nil)
	require.ErrorIs(t, err, client.ErrInvalidMessage)
	_, err = replier.SendReply(ctx, client.NewMessage(message.ReplyTopic("TestCluster"), []byte("x")))
	require.ErrorIs(t, err, client.ErrInvalidMessage)
}
