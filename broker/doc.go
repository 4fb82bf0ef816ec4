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
//     port: raft RPCs, raftnet's AppendEntries and the peer channel on one
//     port, member TLS),
//     register.go (NameServer registration), disk.go (followers' disks).
//   - metrics.go: the Prometheus registry and /metrics; metrics_rocketmq.go
//     rocketmq-exporter's metrics computed from the group's state at scrape
//     time (leader only for replicated state); metrics_raft.go raft and
//     catch-up health from one group.Status per scrape.
//   - registry.go: client registrations made group-wide (consumer lists
//     asked of every member, consumer changes passed on) over the peer
//     channel; groupaddr.go: the group address (brokerGroupAddr), which
//     a leader steps out of while it leads.
//
// Any member serves any client. Writes are forwarded to the leader; reads
// are served from the member's committed state, except
// QUERY_CONSUMER_OFFSET: the leader answers it after raft's VerifyLeader
// (a heartbeat round), so the offset includes every commit any leader
// acknowledged and a consumer taking over a queue never rewinds past it.
//
// Following one message: send.go (fastSend, on the connection's reader)
// builds the stored record and calls group.ProposeAsync; the group's
// proposer packs it into a raft entry, raftlog stores it, fsm applies it
// to a ConsumeQueue, and the proposer's resolver answers the send. A send
// that would have to wait (a follower forwarding it, a fresh leader, a
// topic to create, a full send budget) goes to handleSend on a worker
// instead, with the same checks. pull.go (handlePull) reads the queue and
// the record back.
package broker
