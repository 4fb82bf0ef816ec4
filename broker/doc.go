// Package broker is the protocol side of a broker group member: it serves
// the RocketMQ remoting protocol on the client port and talks to its
// replicated Group (package group) only through the Group's face.
//
// Files, by job:
//   - broker.go: the Broker (Start, Shutdown) and its loops; config.go the
//     typed configuration and its one mapping from the file schema.
//   - handlers.go: the request codes; send.go, pull.go, offsets.go,
//     messages.go (lookups, send-back), topics.go (topic and group
//     configuration), sessions.go and clients.go (heartbeats, consumer
//     lists, queue locks), admin.go (statistics, status, offset resets,
//     leadership transfer), schedule.go (delay levels).
//   - errors.go: the one table from internal errors to wire codes, and
//     forwarding: a member that does not lead forwards writes to the leader
//     over the peer channel and waits through an election.
//   - validate.go (names and counts), acl.go (plain ACL), mux.go (the raft
//     port: raft RPCs and the peer channel on one port, member TLS),
//     register.go (NameServer registration), disk.go (followers' disks).
//
// Following one message: send.go (handleSend) builds the stored record and
// calls group.Propose; the group's proposer packs it into a raft entry,
// raftlog stores it, fsm applies it to a ConsumeQueue; pull.go
// (handlePull) reads the queue and the record back.
package broker
