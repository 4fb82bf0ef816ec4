// Package group is one member of a replicated broker group: a
// hashicorp/raft node whose log is the CommitLog (raftlog), with the FSM
// (fsm) that applies committed entries to ConsumeQueues, IndexFiles and
// the replicated configuration, and the proposer that packs commands into
// raft entries. Request processing lives elsewhere (package broker); it
// talks to a Group only through its face: Propose, the committed reads of
// State, Status, leadership and disk state.
//
// Glossary:
//   - raft index: an entry's position in the raft log (and CommitLog).
//   - physical offset: a byte position in the CommitLog, the same on every
//     replica for the same content (a message's offsetMsgId names it).
//   - queue offset: a message's position in its ConsumeQueue, assigned by
//     the FSM in log order.
//
// Rules the Group owns:
//   - Propose is the only path into raft.Apply. A proposal's result is
//     handed out only after its entry is committed by a majority, applied,
//     and under SYNC_FLUSH on the leader's disk too (the leader may flush
//     in parallel with replication; WaitSynced closes the gap).
//   - A new leader serves (IsLeader) only after a Barrier: everything
//     committed before its term is applied, so its state is current.
//   - Start: the FSM loads its checkpoint, then entries between the
//     checkpoint and the latest snapshot are replayed from the CommitLog
//     (raft replays only those after the snapshot). Retention may delete
//     entries up to the latest snapshot only; early deletion under disk
//     pressure stops at the lowest message a consumer group still needs.
//   - A snapshot installed from the leader places the CommitLog's next
//     entry where the rest of the group has it (OnRestore), so physical
//     offsets stay identical.
//
// The raft transport is injected (Config.Transport): the broker uses its
// raft port; tests use raft.InmemTransport.
package group
