package broker

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/raftlog"
	"github.com/raftmq/raftmq/transport"
)

// BenchmarkHandleSend runs 1 KiB SEND_MESSAGE_V2 requests through the send
// handler of a one-member group (ASYNC_FLUSH): header decode, checks,
// record encoding, the proposer, raft and the FSM's apply, without the
// network. parallel-256 keeps 256 requests in flight, as the cluster
// benchmark does, so proposals share entries. allocs/op are per message.
func BenchmarkHandleSend(b *testing.B) {
	g := startGroup(b, 1, func(c *Config) { c.Log.Flush = raftlog.AsyncFlush })
	l := g.leader()
	body := bytes.Repeat([]byte("x"), 1024)
	req := func() *transport.Command {
		r := sendReq("Bench", 0, body, map[string]string{"TAGS": "TagA", "KEYS": "order-1"})
		var h transport.SendMessageRequestHeader
		if err := h.Decode(r.ExtFields); err != nil {
			b.Fatal(err)
		}
		r.Code = int16(transport.ReqSendMessageV2)
		r.ExtFields = h.EncodeV2()
		return r
	}
	ctx := context.Background()
	if r := l.handleSend(ctx, nil, req()); r.Code != 0 {
		b.Fatal(r.Remark)
	}
	b.Run("serial", func(b *testing.B) {
		r := req()
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if resp := l.handleSend(ctx, nil, r); resp.Code != 0 {
				b.Fatal(resp.Remark)
			}
		}
	})
	b.Run("parallel-256", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		b.SetParallelism(128)
		b.RunParallel(func(pb *testing.PB) {
			r := req()
			for pb.Next() {
				if resp := l.handleSend(ctx, nil, r); resp.Code != 0 {
					b.Error(resp.Remark)
					return
				}
			}
		})
	})
}

// BenchmarkBuildSendBatch is the leader's work on a SEND_BATCH_MESSAGE of
// 32 × 1 KiB before raft: header decode, checks, the records, and their
// copy into an entry. allocs/op are per request.
func BenchmarkBuildSendBatch(b *testing.B) {
	g := startGroup(b, 1, func(c *Config) { c.Log.Flush = raftlog.AsyncFlush })
	l := g.leader()
	msgs := make([]*message.Message, 32)
	for i := range msgs {
		msgs[i] = &message.Message{Topic: "Bench", Body: bytes.Repeat([]byte("x"), 1024),
			Properties: map[string]string{"TAGS": "TagA", "UNIQ_KEY": fmt.Sprintf("7F0000010001%020X", i)}}
	}
	body, err := message.EncodeBatch(msgs)
	if err != nil {
		b.Fatal(err)
	}
	h := transport.SendMessageRequestHeader{ProducerGroup: "PG", Topic: "Bench", Batch: true}
	req := transport.NewRequest(transport.ReqSendBatchMessage, h.EncodeV2(), body)
	if r := l.handleSend(context.Background(), nil, req); r.Code != 0 {
		b.Fatal(r.Remark)
	}
	benchBuildSend(b, l, req, len(msgs))
}

// BenchmarkBuildSend is BenchmarkBuildSendBatch for one SEND_MESSAGE_V2 of
// 1 KiB with the properties our client sets.
func BenchmarkBuildSend(b *testing.B) {
	g := startGroup(b, 1, func(c *Config) { c.Log.Flush = raftlog.AsyncFlush })
	l := g.leader()
	props, err := message.EncodeProperties(map[string]string{"TAGS": "TagA", "KEYS": "order-42",
		"UNIQ_KEY": "7F0000010001B4AAC2E0000000000000", "WAIT": "true"})
	if err != nil {
		b.Fatal(err)
	}
	h := transport.SendMessageRequestHeader{ProducerGroup: "PG", Topic: "Bench", Properties: props}
	req := transport.NewRequest(transport.ReqSendMessageV2, h.EncodeV2(), bytes.Repeat([]byte("x"), 1024))
	if r := l.handleSend(context.Background(), nil, req); r.Code != 0 {
		b.Fatal(r.Remark)
	}
	benchBuildSend(b, l, req, 1)
}

// benchBuildSend times decode, checks, buildSend and add of req, which
// holds n messages, on leader l (its topic exists already).
func benchBuildSend(b *testing.B, l *Broker, req *transport.Command, n int) {
	tc, ok := l.g.Topic("Bench")
	if !ok {
		b.Fatal("no topic")
	}
	var eb fsm.EntryBuilder
	b.ReportAllocs()
	b.SetBytes(int64(len(req.Body)))
	for b.Loop() {
		p := &sendPrep{}
		if err := p.h.DecodeCommand(req); err != nil {
			b.Fatal(err)
		}
		if r := l.checkSend(req, p); r != nil {
			b.Fatal(r.Remark)
		}
		if r := l.buildSend(nil, req, tc, p); r != nil {
			b.Fatal(r.Remark)
		}
		eb.Reset()
		if err := p.add(&eb); err != nil || p.count != n {
			b.Fatal(err, p.count)
		}
	}
}

// BenchmarkHandlePull is a pull of 256 × 1 KiB stored records from one of
// four queues (their records interleaved in the CommitLog, as round-robin
// sends leave them): the ConsumeQueue range, the reads and the response
// body (222 records: the 256 KiB bound ends it). allocs/op are per pull.
func BenchmarkHandlePull(b *testing.B) {
	g := startGroup(b, 1, func(c *Config) { c.Log.Flush = raftlog.AsyncFlush })
	l := g.leader()
	body := bytes.Repeat([]byte("x"), 1024)
	ctx := context.Background()
	const queues, perQueue = 4, 256 // an auto-created topic has 4
	for i := range queues * perQueue {
		if r := l.handleSend(ctx, nil, sendReq("BenchPull", int32(i%queues), body, map[string]string{"TAGS": "TagA"})); r.Code != 0 {
			b.Fatal(r.Remark)
		}
	}
	h := transport.PullMessageRequestHeader{ConsumerGroup: "G", Topic: "BenchPull", QueueID: 3, MaxMsgNums: perQueue}
	req := transport.NewRequest(transport.ReqPullMessage, h.Encode(), nil)
	// maxPullBytes (256 KiB) ends the response before the 256th record.
	want := bytes.Count(l.handlePull(ctx, nil, req).Body, body)
	if want < perQueue*3/4 {
		b.Fatalf("a pull returned %d messages", want)
	}
	b.ReportAllocs()
	b.SetBytes(int64(want * len(body)))
	for b.Loop() {
		r := l.handlePull(ctx, nil, req)
		if r.Code != 0 {
			b.Fatal(r.Remark)
		}
		if n := bytes.Count(r.Body, body); n != want {
			b.Fatalf("pulled %d messages, want %d", n, want)
		}
	}
}
