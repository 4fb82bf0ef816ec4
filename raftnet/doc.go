// Package raftnet carries hashicorp/raft's AppendEntries (heartbeats,
// single and pipelined replication) in a binary encoding, and hands every
// other RPC (votes, pre-votes, snapshots, TimeoutNow) to an inner
// raft.NetworkTransport.
//
// Why: AppendEntries is almost all of a group's raft traffic, and
// NetworkTransport encodes it with reflection-driven msgpack: 12 % of a
// 3-node group's CPU under 256-in-flight sends (pprof of every member),
// most of it decoding each entry's Data into a fresh slice on followers.
// Here a request is one length-prefixed frame read into one buffer, and
// each entry's Data and Extensions alias that buffer (it is never reused,
// so the log store may keep them).
//
// Connection: the dialer's stream layer has already told the port which
// protocol follows (the broker's mux byte). The dialer then writes the
// 5-byte hello "RMQA" + version; the server answers with the same five
// bytes. A member that does not speak the protocol (an older release)
// closes the connection instead: the dialer then sends that peer's
// AppendEntries through the inner transport for legacyRetry before it
// tries again, so a group can be upgraded one member at a time.
//
// Frames, big-endian, after the hello:
//
//	request:  u32 n | u8 kind (1: AppendEntries) | body (n-1 bytes)
//	response: u32 n | u8 status (0: ok, 1: error) | body (n-1 bytes)
//
//	AppendEntries request body:
//	  u32 protocolVersion | bytes id | bytes addr | u64 term | bytes leader |
//	  u64 prevLogEntry | u64 prevLogTerm | u64 leaderCommitIndex |
//	  u32 count | count × entry
//	entry: u64 index | u64 term | u8 type | i64 appendedAt (Unix ns;
//	  math.MinInt64: zero time) | bytes data | bytes extensions
//	bytes: u32 length | length bytes
//	ok response body: u32 protocolVersion | bytes id | bytes addr |
//	  u64 term | u64 lastLog | u8 flags (1: success, 2: noRetryBackoff)
//	error response body: bytes message
//
// A refusal that is no log mismatch: when raft answers Success=false
// because this member's log store failed to append the request's entries
// (a full disk; SetStoreFailure says so), the server sends an error
// response with the store's error instead. Raft's leader walks its next
// index back one entry per Success=false retry, so a follower short of
// disk would otherwise be sent ever older entries for as long as the disk
// stays full; on an error it keeps its next index and retries the same
// entries with its backoff.
//
// Invariants: every length is checked against the bytes left in its frame
// before anything is sized by it, and a frame's buffer grows only as its
// bytes arrive, so a peer that claims a large frame must send it. Responses
// on a connection come back in request order, each flushed as soon as raft
// answers. After a pipeline's first failed response the connection is
// closed: a late response could otherwise be matched to the next request.
package raftnet
