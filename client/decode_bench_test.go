package client

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"

	"github.com/raftmq/raftmq/message"
)

// pullBody is what a broker answers a pull of n 1 KiB messages from one
// producer with: records back to back, each with a UNIQ_KEY, WAIT and
// the tags and keys a typical application sets.
func pullBody(tb testing.TB, n int) []byte {
	tb.Helper()
	var body []byte
	for i := range n {
		m := &message.MessageExt{
			Message: message.Message{
				Topic: "BenchConsume",
				Body:  bytes.Repeat([]byte("x"), 1024),
				Properties: map[string]string{
					message.PropertyUniqKey:     fmt.Sprintf("7F0000010C5A18B4AAC27D0E5A1B%04X", i),
					message.PropertyWaitStoreOK: "true",
					message.PropertyTags:        "TagA",
					message.PropertyKeys:        fmt.Sprintf("order-%d", i),
				},
			},
			QueueID:         3,
			QueueOffset:     int64(i),
			CommitLogOffset: int64(i) * 1200,
			BornTimestamp:   1700000000123,
			BornHost:        netip.MustParseAddrPort("127.0.0.1:50000"),
			StoreTimestamp:  1700000000456,
			StoreHost:       netip.MustParseAddrPort("127.0.0.1:10911"),
		}
		var err error
		if body, err = message.AppendRecord(body, m); err != nil {
			tb.Fatal(err)
		}
	}
	return body
}

// BenchmarkDecodePulled is the consumer's work per pull of 32 messages:
//
//	go test -run '^$' -bench DecodePulled -benchmem ./client/
func BenchmarkDecodePulled(b *testing.B) {
	body := pullBody(b, 32)
	mq := MessageQueue{Topic: "BenchConsume", BrokerName: "broker-a", QueueID: 3}
	sub, err := newSubscription(mq.Topic, "*", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		msgs, err := decodePulled(body, mq, sub, 4<<20)
		if err != nil || len(msgs) != 32 {
			b.Fatal(len(msgs), err)
		}
	}
}
