package client_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// Benchmarks against a real 3-node group on loopback (1 KiB messages):
//
//	go test -run '^$' -bench . -benchtime 3000x ./client/
func BenchmarkProducer_Send(b *testing.B) {
	c := cluster.Start(b, cluster.Options{})
	topic := uniqueName("BenchSync")
	createTopic(b, c, topic, 8)
	p := newProducer(b, c)
	body := bytes.Repeat([]byte("x"), 1024)
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.Send(ctx, client.NewMessage(topic, body)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProducer_SendAsync(b *testing.B) {
	c := cluster.Start(b, cluster.Options{})
	topic := uniqueName("BenchAsync")
	createTopic(b, c, topic, 8)
	p := newProducer(b, c)
	body := bytes.Repeat([]byte("x"), 1024)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sem := make(chan struct{}, 256) // in flight
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sem <- struct{}{}
		wg.Add(1)
		err := p.SendAsync(ctx, client.NewMessage(topic, body), func(_ *client.SendResult, err error) {
			defer wg.Done()
			<-sem
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		})
		require.NoError(b, err)
	}
	wg.Wait()
	b.StopTimer()
	require.NoError(b, firstErr)
}

func BenchmarkPushConsumer(b *testing.B) {
	c := cluster.Start(b, cluster.Options{})
	topic := uniqueName("BenchConsume")
	createTopic(b, c, topic, 8)
	p := newProducer(b, c)
	body := bytes.Repeat([]byte("x"), 1024)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		require.NoError(b, p.SendAsync(ctx, client.NewMessage(topic, body), func(_ *client.SendResult, err error) {
			defer wg.Done()
			if err != nil {
				b.Error(err)
			}
		}))
	}
	wg.Wait()
	r := newReceived()
	n := 0
	var mu sync.Mutex
	done := make(chan struct{})
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	newPushConsumer(b, c, topic, "*", func(_ context.Context, msgs []*client.MessageExt) client.ConsumeResult {
		mu.Lock()
		defer mu.Unlock()
		n += len(msgs)
		if n >= b.N && n-len(msgs) < b.N {
			close(done)
		}
		return client.ConsumeSuccess
	}, fastConsumer(uniqueName("GBench"))...)
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatal("timeout")
	}
	b.StopTimer()
	_ = r
}
