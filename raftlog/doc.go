// Package raftlog is raftmq's CommitLog, and at the same time the
// raft.LogStore (and raft.MonotonicLogStore) of the broker group's
// hashicorp/raft instance: a produced message is stored once, inside a raft
// entry, in a segment file; there is no second copy of message bytes.
//
// # Files
//
//	<Dir>/commitlog/00000000000000000000   segment: records from physical offset 0
//	<Dir>/commitlog/00000000001073741824   next segment (named by 20-digit start offset)
//	<Dir>/commitlog/.prealloc              the next segment, zero-filled ahead of time
//	<Dir>/raftlog/index/<20-digit index>   dense index: 16-byte units per raft index
//	<Dir>/raftlog/meta                     first index, start offset, segment size (JSON + CRC)
//	<Dir>/raftlog/stable.db                raft term and vote (raft-boltdb; no log entries)
//
// Every segment is SegmentSize bytes (mappedFileSizeCommitLog). A segment
// holds whole records back to back:
//
//	+--------+--------+--------+------+-------+----------+-------+-------+------------+--------+--------+------+------+
//	| magic  | size   | crc32c | type | flags | batchOff | index | term  | appendedAt | dataLn | extLen | data | ext  |
//	| 4      | 4      | 4      | 1    | 1     | 2        | 8     | 8     | 8          | 4      | 4      | ...  | ...  |
//	+--------+--------+--------+------+-------+----------+-------+-------+------------+--------+--------+------+------+
//
// big-endian; the CRC-32C covers everything after the crc field. Data comes
// first, so an entry's Data[0] is always HeaderSize bytes after the record,
// and a message inside an entry has physical offset
// Position(index).DataOffset() + its offset within Data.
//
// A record never straddles two segments: when the next record does not fit
// in the rest of a segment, an 8-byte blank marker (magic, gap length) is
// written if there is room and the record starts at the next segment. The
// physical offset of every record is therefore a pure function of the
// sequence of records and SegmentSize, identical on every replica;
// SegmentSize is recorded in the meta file and cannot change.
// A replica that starts from a snapshot learns the offset of its first entry
// from the FSM (SetNextStart). Every byte of a segment is the same on every
// replica at the same offset except two header fields of each record,
// batchOff and the CRC over it, which describe how that replica's own
// StoreLogs calls were batched.
//
// Index units are {physical offset 8, record size 4, reserved 4} at
// (index - fileFirst) * 16 in memory-mapped files of IndexFileEntries units,
// so GetLog is one unit read plus one positioned read, O(1).
//
// # Writes and durability
//
// StoreLogs encodes a batch into one buffer and writes it with one pwrite
// (two when it crosses into a new segment) and, under SyncFlush, one
// fdatasync: an entry raft counts toward a commit is on disk. Under
// AsyncFlush the fdatasync runs every FlushInterval in the background: a
// process crash loses nothing (the page cache survives), a power loss loses
// the unflushed tail of that node; only a power loss of a majority within one
// interval can lose a committed entry.
//
// Before the first write into a new segment the previous segment and every
// index unit are made durable ("sealing"). Hence after a crash only the last
// segment needs scanning; earlier segments and their units are trusted, and
// every read still verifies the record's CRC.
//
// # Recovery
//
// Open scans the last segment from its first record, checking magic, size,
// CRC, dense indexes and non-decreasing terms. At the first invalid record:
//   - if no valid record of a later StoreLogs batch follows it, it is a torn
//     write of the last batch (never acknowledged under SyncFlush): the bytes
//     are zeroed and the log ends there;
//   - otherwise a record that was made durable went bad: Open fails with a
//     *CorruptError naming the file, offset and index, unless Config.Repair
//     (or AsyncFlush, where later batches can survive a power loss that tore
//     an earlier one) says to cut the log there. Corruption is never skipped.
//
// A last segment with no valid record (a rotation cut short) is removed.
//
// # Deletion, compaction and retention
//
// DeleteRange accepts a suffix (raft's conflict truncation after a leader
// change: later segments are removed first, then the rest of the holding
// segment is zeroed, so a crash leaves a prefix of the old log, never a mix)
// or a prefix (raft's compaction, or retention: the new first index is made
// durable in the meta file, then whole segments below it are removed).
// Anything else returns ErrInvalidRange.
//
// The log is the data, so raft's compaction must not delete messages
// consumers still need: the broker runs raft with TrailingLogs effectively
// infinite and small, frequent FSM snapshots (they hold queue offsets and
// configuration, never messages). Messages go away only through retention
// (RetentionConfig): whole segments older than FileReservedTime at the
// DeleteWhen hours, or at any hour when the disk is fuller than
// DiskMaxUsedSpaceRatio; above DiskForceCleanRatio, younger segments whose
// messages every consumer group consumed (SetRetentionGuard), and
// unconsumed ones only with CleanForcibly; never the active segment and
// never past the bound set with SetRetentionBound (the latest snapshot
// index). At DiskRejectRatio, when the disk cannot hold one more segment
// and index file, or for 30 s after an append failed with ErrDiskFull
// (the filesystem refused what the space reading allowed: quotas, reserved
// blocks, members sharing a disk), DiskFull reports it (the broker then
// refuses new messages); appends fail only when a new segment or index
// file truly has no room, with ErrDiskFull, and can be retried.
// StoreFailure names the failed append's error for the transport, so a
// leader retries a follower that ran out of space instead of taking the
// refusal for a log mismatch.
//
// # History import (catch-up after a snapshot install)
//
// A replica that installed a snapshot at index S (new, wiped, or behind the
// leader's first entry) holds no entry up to S, while other members may
// retain entries [F, S]. It fetches them (group: historyLoop) before they
// count as its history:
//
//  1. HistoryInfo(S) on each member gives F, F's offset, and S's term and
//     end offset; the donor holding most is used, and its S must be the
//     snapshot's (same term, same end offset).
//  2. ReadHistory streams raw bytes [off(F), end(S)) in chunks of at most
//     1 MiB, never across a segment end, with each segment's mtime.
//  3. HistoryImport.Write stages them in <Dir>/raftlog/history/<20-digit
//     base> (whole preallocated segments) and every 16 MiB, at each segment
//     end and at the end fdatasyncs and records its progress
//     (history/progress: target, first entry, bytes durable). After a crash
//     of either side the import resumes from the durable progress, from
//     the same or another donor (offsets are the group's, so any donor's
//     bytes are the same); a new target (another snapshot) discards it.
//  4. Install verifies every staged record (checksum, dense indexes from
//     F, non-decreasing terms, ending exactly at S with S's term), writes
//     their index units, fills the part of the log's first segment below
//     its first record, moves the other staged segments in below the first
//     one (highest first, so the segments present stay contiguous) with
//     the donor's mtimes (retention ages them as the donor does), and then
//     writes the meta file (start = F): the commit point. Recovery removes
//     segments that lie wholly below the log's start, so an install cut
//     short leaves the log as it was. Bytes that do not verify are
//     discarded (HistoryMismatchError) and fetched again.
//
// Memory is bounded by one chunk and one read-ahead buffer. The FSM then
// rebuilds its queues and IndexFiles over [F, S] (fsm.RebuildHistory);
// HoldRetention keeps retention from deleting the range meanwhile.
//
// # Reading
//
// GetLog serves the most recently appended entries from memory (the leader
// re-reads each entry once per follower right after appending it) and
// everything else from the files. ReadAt reads message bytes by physical
// offset for the broker and FSM, refusing any byte past the end of the
// caller's limit index (the applied index): uncommitted bytes are never
// handed to consumers.
//
// # Filesystem seam and fault tests
//
// Every file operation goes through Config.FS (internal/vfs; the
// operating system's by default). Tests wrap it in vfs.FaultFS to fail
// chosen operations or to crash at any one of them (faults_test.go): the
// log is cut at each file operation of a workload that seals, rotates,
// truncates and deletes heads, and must reopen with every acknowledged
// entry; an fdatasync failure is sticky (fsyncgate); ENOSPC creating a
// segment is ErrDiskFull and retried, inside a segment it fails the log
// and reopening cuts the torn bytes. A crash there keeps what was written
// (a process crash); the loss of unsynced bytes (power loss) is covered by
// the recovery tests that cut and corrupt the tail at every byte.
//
// # Concurrency
//
// Mutators are serialized by one mutex; readers take a read lock only to
// locate a record and read files without it. Every background goroutine
// (AsyncFlush flusher, retention loop, segment preparer) is owned by the
// Log and stopped by Close.
package raftlog
