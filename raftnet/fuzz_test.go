package raftnet

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/hashicorp/raft"
)

// FuzzDecodeAppendRequest: any frame body either fails with ErrFrame or
// decodes to a request that encodes back to the same bytes.
// Seed corpus: testdata/fuzz/FuzzDecodeAppendRequest.
func FuzzDecodeAppendRequest(f *testing.F) {
	f.Add(encodeRequest(f, sampleRequest())[4:])
	f.Add(encodeRequest(f, &raft.AppendEntriesRequest{Term: 1, RPCHeader: raft.RPCHeader{Addr: []byte("a")}})[4:])
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := decodeAppendRequest(body)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		if err := writeAppendRequest(w, a); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		w.Flush()
		if got := buf.Bytes()[4:]; !bytes.Equal(got, body) {
			t.Fatalf("re-encoded %x, decoded from %x", got, body)
		}
	})
}

// FuzzDecodeAppendResponse: no input panics.
func FuzzDecodeAppendResponse(f *testing.F) {
	f.Add([]byte{statusOK, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 5, flagSuccess})
	f.Add([]byte{statusError, 0, 0, 0, 2, 'n', 'o'})
	f.Fuzz(func(t *testing.T, body []byte) {
		var r raft.AppendEntriesResponse
		_ = decodeAppendResponse(body, &r)
	})
}
