package raftnet

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

func sampleRequest() *raft.AppendEntriesRequest {
	return &raft.AppendEntriesRequest{
		RPCHeader:    raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("n1"), Addr: []byte("127.0.0.1:5001")},
		Term:         7,
		Leader:       []byte("127.0.0.1:5001"),
		PrevLogEntry: 41, PrevLogTerm: 6, LeaderCommitIndex: 40,
		Entries: []*raft.Log{
			{Index: 42, Term: 7, Type: raft.LogCommand, Data: []byte("hello"), AppendedAt: time.Unix(1700000000, 123456789)},
			{Index: 43, Term: 7, Type: raft.LogNoop},
			{Index: 44, Term: 7, Type: raft.LogConfiguration, Data: bytes.Repeat([]byte{0xAB}, 70000), Extensions: []byte{1, 2, 3}},
		},
	}
}

func encodeRequest(t testing.TB, a *raft.AppendEntriesRequest) []byte {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	require.NoError(t, writeAppendRequest(w, a))
	require.NoError(t, w.Flush())
	return buf.Bytes()
}

func TestAppendRequest_RoundTrip(t *testing.T) {
	in := sampleRequest()
	wire := encodeRequest(t, in)
	frame, err := readFrame(bytes.NewReader(wire))
	require.NoError(t, err)
	out, err := decodeAppendRequest(frame)
	require.NoError(t, err)
	require.Equal(t, in.RPCHeader, out.RPCHeader)
	require.Equal(t, in.Term, out.Term)
	require.Equal(t, in.Leader, out.Leader)
	require.Equal(t, []uint64{in.PrevLogEntry, in.PrevLogTerm, in.LeaderCommitIndex}, []uint64{out.PrevLogEntry, out.PrevLogTerm, out.LeaderCommitIndex})
	require.Len(t, out.Entries, len(in.Entries))
	for i, l := range in.Entries {
		o := out.Entries[i]
		require.Equal(t, l.Index, o.Index)
		require.Equal(t, l.Term, o.Term)
		require.Equal(t, l.Type, o.Type)
		require.Equal(t, l.Data, o.Data)
		require.Equal(t, l.Extensions, o.Extensions)
		require.True(t, l.AppendedAt.Equal(o.AppendedAt), "entry %d appended at %v, decoded %v", i, l.AppendedAt, o.AppendedAt)
		require.Equal(t, l.AppendedAt.IsZero(), o.AppendedAt.IsZero())
	}

	// A heartbeat: no entries, no commit index.
	hb := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{Addr: []byte("x")}, Term: 3}
	frame, err = readFrame(bytes.NewReader(encodeRequest(t, hb)))
	require.NoError(t, err)
	out, err = decodeAppendRequest(frame)
	require.NoError(t, err)
	require.Empty(t, out.Entries)
	require.Equal(t, uint64(3), out.Term)
}

func TestAppendResponse_RoundTrip(t *testing.T) {
	for _, in := range []*raft.AppendEntriesResponse{
		{RPCHeader: raft.RPCHeader{ProtocolVersion: 3, ID: []byte("n2"), Addr: []byte("a:1")}, Term: 9, LastLog: 1234, Success: true},
		{Term: 10, LastLog: 5, NoRetryBackoff: true},
	} {
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		require.NoError(t, writeAppendResponse(w, in, nil))
		require.NoError(t, w.Flush())
		frame, err := readFrame(&buf)
		require.NoError(t, err)
		var out raft.AppendEntriesResponse
		require.NoError(t, decodeAppendResponse(frame, &out))
		require.Equal(t, *in, out)
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	require.NoError(t, writeAppendResponse(w, nil, errors.New("log not found")))
	require.NoError(t, w.Flush())
	frame, err := readFrame(&buf)
	require.NoError(t, err)
	var out raft.AppendEntriesResponse
	var remote *RemoteError
	require.ErrorAs(t, decodeAppendResponse(frame, &out), &remote)
	require.Equal(t, "log not found", remote.Msg)
}

// Every truncation of a valid request, and lengths that claim more than
// the frame holds, are errors, never panics or large allocations.
func TestAppendRequest_MalformedFrames(t *testing.T) {
	wire := encodeRequest(t, sampleRequest())
	body := wire[4:]
	for n := 0; n < len(body); n += 1 + n/50 {
		_, err := decodeAppendRequest(body[:n])
		require.ErrorIs(t, err, ErrFrame, "truncated to %d bytes", n)
	}
	_, err := decodeAppendRequest(append(append([]byte(nil), body...), 0))
	require.ErrorIs(t, err, ErrFrame, "a trailing byte")

	bad := append([]byte(nil), body...)
	bad[0] = 9
	_, err = decodeAppendRequest(bad)
	require.ErrorIs(t, err, ErrFrame, "unknown kind")

	// The entry count claims 2^32-1 entries.
	countAt := 1 + 4 + (4 + 2) + (4 + 14) + 8 + (4 + 14) + 8 + 8 + 8
	huge := append([]byte(nil), body...)
	binary.BigEndian.PutUint32(huge[countAt:], 0xFFFFFFFF)
	_, err = decodeAppendRequest(huge)
	require.ErrorIs(t, err, ErrFrame)
	require.Contains(t, err.Error(), "cannot fit")

	// The first entry's data claims 4 GiB.
	dataAt := countAt + 4 + 8 + 8 + 1 + 8
	huge = append([]byte(nil), body...)
	binary.BigEndian.PutUint32(huge[dataAt:], 0xFFFFFFFF)
	_, err = decodeAppendRequest(huge)
	require.ErrorIs(t, err, ErrFrame)
}

// A length prefix alone does not size an allocation: the buffer grows with
// the bytes that arrive.
func TestReadFrame_ClaimedLengthIsNotAllocated(t *testing.T) {
	claim := []byte{0xFF, 0xFF, 0xFF, 0xF0, 1, 2, 3}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readFrame(bytes.NewReader(claim))
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(firstChunk+64<<10), "a 4 GiB claim with 3 bytes behind it allocates at most the first chunk")

	_, err = readFrame(bytes.NewReader([]byte{0, 0, 0, 0}))
	require.ErrorIs(t, err, ErrFrame, "an empty frame")

	// A frame larger than the first chunk still reads whole.
	payload := bytes.Repeat([]byte{7}, 3*firstChunk+5)
	wire := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
	got, err := readFrame(bytes.NewReader(append(wire, payload...)))
	require.NoError(t, err)
	require.Equal(t, payload, got)
}

// A response that fails to decode leaves the caller's struct as it was:
// raft's pipeline reads Success without the error.
func TestAppendResponse_BadFrameLeavesResponseUntouched(t *testing.T) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	require.NoError(t, writeAppendResponse(w, &raft.AppendEntriesResponse{Term: 4, Success: true}, nil))
	require.NoError(t, w.Flush())
	frame, err := readFrame(&buf)
	require.NoError(t, err)
	var out raft.AppendEntriesResponse
	require.ErrorIs(t, decodeAppendResponse(append(frame, 0), &out), ErrFrame, "a trailing byte")
	require.Equal(t, raft.AppendEntriesResponse{}, out)
}
