// Package transport speaks the RocketMQ remoting protocol: frames, the
// RemotingCommand with its JSON and binary headers, request and response
// codes, typed ext-field headers, the JSON bodies clients exchange, a
// Server and a Client. It has no business logic and imports none of
// raftmq's packages; broker, namesrv and client build on it.
//
// # Frame (big-endian)
//
//	+--------+------------------------------+--------+------+
//	| length | serializeType<<24 | headerLen| header | body |
//	|   4    |              4               |  hl    | rest |
//	+--------+------------------------------+--------+------+
//
// length counts everything after itself (4 + hl + body). serializeType 0 is
// a JSON header, 1 the binary ROCKETMQ header. Frames longer than the
// configured maximum (default 16 MiB, like Java) are refused before any
// memory is allocated for them.
//
// JSON header, written in this field order:
//
//	{"code":105,"language":"GO","version":317,"opaque":1,"flag":0,"remark":"","extFields":{"topic":"T"}}
//
// Flag bit 0 marks a response, bit 1 a oneway request. extFields values are
// always written as JSON strings (a number there makes the official client
// drop the response). On input the decoder is lenient like the client: keys
// match case-insensitively, language and remark may be absent, null or
// numbers, extFields may be null, numeric and boolean ext values are taken
// as their text, unknown keys are skipped.
//
// # Invariants
//
//   - Per connection, one reader goroutine decodes frames; each request runs
//     on its own goroutine (bounded per connection; beyond the bound the
//     request is answered SYSTEM_BUSY), so a parked long-poll never delays
//     a heartbeat or send on the same socket.
//   - Writes are serialized per connection: whole frames, never interleaved.
//     Concurrent frames are combined into one write when possible.
//   - A response carries its request's opaque and flag bit 0; oneway
//     requests get no response; unknown codes get REQUEST_CODE_NOT_SUPPORTED
//     ("request type N not supported"); a handler panic becomes SYSTEM_ERROR.
//   - An oversized or malformed frame closes only its connection, with a
//     logged reason.
//   - Every goroutine has an owner that stops and waits for it:
//     Server.Shutdown and Client.Close return only when their readers,
//     handlers and callbacks are done.
//   - Pending requests fail fast with ErrConnClosed when their connection
//     dies; ErrTimeout when their context's deadline (or InvokeTimeout's
//     timeout) passes; ErrClosed when the client's Context ends.
//
// # Memory
//
// Server-side request frames are read into pooled buffers and decoded into
// pooled Commands whose ExtFields maps are reused; ext keys and recently
// seen values are interned per connection, and the remaining new strings of
// a header share one allocation. A send request's ext fields stay pairs,
// read straight into the typed header (SendMessageRequestHeader.
// DecodeCommand); the map is built only if something asks (Fields: ACL,
// forwarding). A send's request and response headers are likewise encoded
// from sorted pairs (EncodeTo) without a map. Handlers must not keep the
// request (see HandlerFunc). Commands handed to callers (responses from
// Invoke, Conn.Request) are theirs.
package transport
