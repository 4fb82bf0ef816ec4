package raftnet

import (
	"bufio"
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
)

// benchRequest is what the leader sends under 256 in-flight 1 KiB sends:
// entries of a few dozen packed messages.
func benchRequest(entries, size int) *raft.AppendEntriesRequest {
	a := &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("n0"), Addr: []byte("127.0.0.1:50911")},
		Term:      3, PrevLogEntry: 1000, PrevLogTerm: 3, LeaderCommitIndex: 999,
	}
	for i := 0; i < entries; i++ {
		a.Entries = append(a.Entries, &raft.Log{Index: uint64(1001 + i), Term: 3, Type: raft.LogCommand,
			Data: bytes.Repeat([]byte{byte(i)}, size), AppendedAt: time.Now()})
	}
	return a
}

// BenchmarkAppendEntries: encoding a request on the leader and decoding
// it on a follower, raftnet against NetworkTransport's msgpack (the same
// codec and handle it uses), per request.
func BenchmarkAppendEntries(b *testing.B) {
	for _, shape := range []struct{ entries, size int }{{4, 40 << 10}, {64, 1100}, {1, 64}} {
		req := benchRequest(shape.entries, shape.size)
		name := fmt.Sprintf("%dx%dB", shape.entries, shape.size)
		b.Run("raftnet/"+name, func(b *testing.B) {
			var buf bytes.Buffer
			w := bufio.NewWriterSize(&buf, 64<<10)
			b.ReportAllocs()
			b.SetBytes(int64(appendRequestSize(req)))
			for i := 0; i < b.N; i++ {
				buf.Reset()
				if err := writeAppendRequest(w, req); err != nil {
					b.Fatal(err)
				}
				w.Flush()
				frame, err := readFrame(&buf)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := decodeAppendRequest(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("msgpack/"+name, func(b *testing.B) {
			var buf bytes.Buffer
			w := bufio.NewWriterSize(&buf, 64<<10)
			mp := &codec.MsgpackHandle{}
			mp.TimeNotBuiltin = true // NetworkTransport's default time format
			enc := codec.NewEncoder(w, mp)
			dec := codec.NewDecoder(bufio.NewReader(&buf), &codec.MsgpackHandle{}) // one per connection, as there
			b.ReportAllocs()
			b.SetBytes(int64(appendRequestSize(req)))
			for i := 0; i < b.N; i++ {
				if err := enc.Encode(req); err != nil {
					b.Fatal(err)
				}
				w.Flush()
				var out raft.AppendEntriesRequest
				if err := dec.Decode(&out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
