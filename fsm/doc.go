// Package fsm is the broker group's raft state machine (raft.BatchingFSM):
// it applies committed entries to ConsumeQueues (fsm/consumequeue),
// IndexFiles (fsm/indexfile) and the replicated configuration: topics,
// subscription groups, consumer offsets and ACL accounts.
//
// # Entries
//
// An entry (raft.Log.Data) is a list of commands (entry.go): CmdAppend
// carries RocketMQ stored records exactly as a pull returns them, but for
// the queue and physical offsets the FSM assigns; the other commands are
// small JSON payloads (CmdTxn ends or counts checks of transactions:
// txn.go). A record's physical offset is its entry's DataOffset
// in the CommitLog plus its position in Data, so it is the same on every
// replica.
//
// # Invariants
//
//   - Deterministic: queue offsets are assigned in ApplyBatch, in log
//     order; anything that needs a clock (store time) was stamped by the
//     leader into the record before it proposed the entry.
//   - A command is applied whole or rejected whole. A rejection (a bad
//     name, a count out of range: validate.go) depends only on the command
//     and the replicated state, so every replica rejects the same command;
//     it is reported as a *RejectedError in that command's result. Failures
//     that are not the command's fault (I/O, an entry that does not decode)
//     stop the replica (panic) instead of letting it diverge.
//   - Guards: a CmdTxn end and a CmdAdvance carry the commands after them
//     (With: a commit's message; the scheduler's moved delayed and timer
//     messages), rejected with them when the transaction is no longer
//     open or the offset is no longer where the move expected it. So a
//     commit stores its message at most once, and a move proposed again
//     after a timeout that committed after all delivers nothing twice;
//     other proposals batched into the same entry are not affected.
//   - Readers see only applied data: ReadMessage never reads past the
//     applied index, and a queue unit exists only once its entry applied.
//
// # Checkpoints, replay and snapshots
//
// <Dir>/config/fsm.json (State) records, at an applied index, the
// configuration, every queue's extent, the open transactions and where the
// IndexFiles stood. Open
// loads it and cuts the ConsumeQueues back to it; entries after it are
// applied again exactly once (ApplyBatch skips what the checkpoint
// already holds). The group replays, from the CommitLog, the entries
// between the checkpoint and the latest raft snapshot (ReplayTo), because
// raft replays only those after its snapshot. A raft snapshot is the same
// State (small: no messages); Persist reports its index (OnSnapshot) so
// that retention may delete entries up to it. Restore installs a leader's
// snapshot on a replica that lacks the entries before it: queues restart
// empty at the snapshot's offsets, and OnRestore tells the CommitLog
// where the next entry goes, and the state records the pending history
// (State.History: the snapshot's entry and each queue's restart offset).
//
// # History after a snapshot install
//
// Once the CommitLog imported the entries before the snapshot from another
// member (raftlog's history import), RebuildHistory walks them twice: it
// counts each queue's messages (after the last deletion of its topic in
// the range; appends are refused only for names and ids, which do not
// depend on state), so a queue's history is [restart - count, restart);
// then it writes those units below the queue's start (WriteBelow), builds
// IndexFiles for their keys aside, and finally, under the lock, makes each
// queue's new start durable (ExtendDown), installs the IndexFiles as the
// oldest, clears the pending history and checkpoints. A crash anywhere
// repeats the rebuild from the checkpoint; queues already extended are
// left alone.
//
// # Who calls what
//
// raft calls Apply/ApplyBatch, Snapshot and Restore on its FSM goroutine;
// the group calls Open, ReplayTo, Checkpoint, TrimBelow and Close; request
// processors only read (Topic, Queue*, ReadMessage, QueryIndex, ...).
package fsm
