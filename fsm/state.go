package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/raftmq/raftmq/internal/vfs"
	"io"
	"io/fs"
	"os"

	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/fsm/indexfile"
	"github.com/raftmq/raftmq/internal/durable"
)

// State is the FSM's small, complete description at one applied index: the
// raft snapshot (queue offsets and configuration, never messages) and the
// local checkpoint
// (<Dir>/config/fsm.json).
type State struct {
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	// CommitLogEnd is the physical offset just past entry Index: where the
	// next entry starts on every replica (Config.OnRestore).
	CommitLogEnd int64                      `json:"commitLogEnd"`
	Topics       map[string]TopicConfig     `json:"topics"`
	Groups       map[string]GroupConfig     `json:"groups"`
	Offsets      map[string]map[int32]int64 `json:"offsets"`
	Queues       []QueueState               `json:"queues"`
	// ACL holds accounts changed through the admin API, by access key.
	ACL map[string]ACLEntry `json:"acl,omitempty"`
	// Txns are the open transactions, in half message order (txn.go).
	Txns []TxnState `json:"txns,omitempty"`
	// InstalledSnapshot is the index of the last snapshot this replica
	// installed from a leader (local only): its messages before it were
	// never replicated here.
	InstalledSnapshot uint64 `json:"installedSnapshot,omitempty"`
	// History is set while the messages before InstalledSnapshot that
	// other members retain are not here yet (local only).
	History *HistoryState `json:"history,omitempty"`
	// LastCommand is the index of the last command entry reflected (Index
	// may be later: entries after it carried no commands).
	LastCommand uint64 `json:"lastCommand,omitempty"`
	// IndexFile is local: where this node's IndexFiles stood.
	IndexFile indexfile.State `json:"indexFile"`
}

// QueueState is a ConsumeQueue's extent.
type QueueState struct {
	Topic   string `json:"topic"`
	QueueID int32  `json:"queueId"`
	Min     int64  `json:"min"`
	Max     int64  `json:"max"`
}

func (s *State) queueMax(topic string, qid int32) (int64, bool) {
	for _, q := range s.Queues {
		if q.Topic == topic && q.QueueID == qid {
			return q.Max, true
		}
	}
	return 0, false
}

// capture copies the state under the read lock.
func (f *FSM) capture() (*State, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	st := &State{
		Index:   f.applied.Load(),
		Term:    f.term.Load(),
		Topics:  make(map[string]TopicConfig, len(f.topics)),
		Groups:  make(map[string]GroupConfig, len(f.groups)),
		Offsets: make(map[string]map[int32]int64, len(f.offsets)),
	}
	for k, v := range f.topics {
		st.Topics[k] = v
	}
	for k, v := range f.groups {
		st.Groups[k] = v
	}
	for k, m := range f.offsets {
		cp := make(map[int32]int64, len(m))
		for q, o := range m {
			cp[q] = o
		}
		st.Offsets[k] = cp
	}
	if len(f.acl) > 0 {
		st.ACL = make(map[string]ACLEntry, len(f.acl))
		for k, v := range f.acl {
			st.ACL[k] = v
		}
	}
	if len(f.txns) > 0 {
		st.Txns = f.txnsLocked()
	}
	for k, q := range f.queues {
		st.Queues = append(st.Queues, QueueState{Topic: k.topic, QueueID: k.qid, Min: q.MinOffset(), Max: q.MaxOffset()})
	}
	st.IndexFile = f.index.State() // Put runs under f.mu too: consistent
	st.InstalledSnapshot = f.installed.Load()
	st.History = f.history
	st.LastCommand = f.lastCmd.Load()
	if st.Index > 0 {
		p, err := f.log.Position(st.Index)
		switch {
		case err == nil:
			st.CommitLogEnd = p.End()
		case errors.Is(err, raft.ErrLogNotFound) && st.Index == f.restoredIndex:
			// Restored from a snapshot and nothing appended yet: the
			// log starts at the hint this state came with.
			st.CommitLogEnd = f.restoredEnd
		default:
			return nil, fmt.Errorf("fsm: position of %d: %w", st.Index, err)
		}
	}
	return st, nil
}

// Checkpoint makes the ConsumeQueues and IndexFiles durable and then writes
// the local checkpoint, so that after a crash the FSM restarts from it.
//
// Checkpoints are serialized (maintenance, snapshots and restores all take
// them) and never go back: a checkpoint older than the one on disk is not
// written, since replay after a restart starts from the one on disk.
func (f *FSM) Checkpoint() (*State, error) {
	st, err := f.capture()
	if err != nil {
		return nil, err
	}
	return st, f.writeCheckpoint(st)
}

// writeCheckpoint makes the queues, the IndexFiles and the CommitLog
// durable through st, then writes st as the checkpoint.
func (f *FSM) writeCheckpoint(st *State) error {
	f.ckMu.Lock()
	defer f.ckMu.Unlock()
	if st.Index < f.ckIndex {
		return nil
	}
	// Units written after capture have larger commitlog offsets: Open cuts
	// them back (TruncatePhys), so syncing more than the state is fine.
	f.mu.RLock()
	queues := make([]interface{ Sync() error }, 0, len(f.queues))
	for _, q := range f.queues {
		queues = append(queues, q)
	}
	f.mu.RUnlock()
	for _, q := range queues {
		if err := q.Sync(); err != nil {
			return err
		}
	}
	if err := f.index.Sync(); err != nil {
		return err
	}
	// Never ahead of the CommitLog: after a power loss the log must still
	// hold everything up to the checkpoint.
	if err := f.log.SyncThrough(st.Index); err != nil {
		return fmt.Errorf("fsm: checkpoint: %w", err)
	}
	if err := writeJSONAtomic(vfs.Or(f.cfg.FS), f.ckPath, st); err != nil {
		return err
	}
	f.ckIndex = st.Index
	return nil
}

func loadCheckpoint(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fsm: read checkpoint: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("fsm: checkpoint %s: %w", path, err)
	}
	return &st, nil
}

func writeJSONAtomic(fsys vfs.FS, path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := durable.WriteFileFS(fsys, path, b, 0o644); err != nil {
		return fmt.Errorf("fsm: checkpoint: %w", err)
	}
	return nil
}

// Snapshot implements raft.FSM. It captures the state on the FSM goroutine;
// Persist makes the files durable, writes the local checkpoint and then the
// snapshot, so a checkpoint is never older than raft's latest snapshot.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	st, err := f.capture()
	if err != nil {
		return nil, err
	}
	return &snapshot{f: f, st: st}, nil
}

type snapshot struct {
	f  *FSM
	st *State
}

// IndexedSink is a snapshot sink that knows the raft index of its
// snapshot (the group's snapshot store gives such sinks).
type IndexedSink interface {
	raft.SnapshotSink
	Index() uint64
}

// Persist writes the state for the snapshot's own raft index. raft counts
// barrier and no-op entries in that index but never hands them to the
// FSM, so the captured state may be for an earlier index: the entries in
// between must carry no commands (checked), and the state is re-described
// at the snapshot's index, with the CommitLog position after it, so that a
// replica that installs it continues the log at the same offset. The
// CommitLog is made durable through that index first.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	st, err := s.at(sink)
	if err == nil {
		// The checkpoint must not be older than the snapshot: retention may
		// delete entries up to it.
		err = s.f.writeCheckpoint(st)
	}
	if err == nil {
		err = json.NewEncoder(sink).Encode(st)
	}
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("fsm: snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return err
	}
	// Messages at or below the snapshot are no longer needed by raft.
	if s.f.cfg.OnSnapshot != nil {
		s.f.cfg.OnSnapshot(st.Index)
	}
	return nil
}

// at re-describes the captured state at the sink's raft index.
func (s *snapshot) at(sink raft.SnapshotSink) (*State, error) {
	is, ok := sink.(IndexedSink)
	if !ok {
		return nil, errors.New("the snapshot sink does not say its raft index")
	}
	idx := is.Index()
	st := *s.st
	switch {
	case idx < st.Index:
		return nil, fmt.Errorf("snapshot index %d is below the FSM's applied index %d", idx, st.Index)
	case idx == st.Index:
		return &st, nil
	}
	for i := st.Index + 1; i <= idx; i++ {
		var l raft.Log
		if err := s.f.log.GetLog(i, &l); err != nil {
			return nil, fmt.Errorf("entry %d between the state and the snapshot: %w", i, err)
		}
		if l.Type == raft.LogCommand {
			return nil, fmt.Errorf("entry %d is a command the snapshot's state does not reflect", i)
		}
		if i == idx {
			st.Term = l.Term
		}
	}
	p, err := s.f.log.Position(idx)
	if err != nil {
		return nil, fmt.Errorf("position of snapshot entry %d: %w", idx, err)
	}
	st.Index, st.CommitLogEnd = idx, p.End()
	return &st, nil
}

func (s *snapshot) Release() {}

// Restore implements raft.FSM. raft calls it only to install a snapshot
// from the leader (the broker sets NoSnapshotRestoreOnStart): this replica
// lacks the entries up to the snapshot, so its queues restart empty at the
// snapshot's offsets and the CommitLog's next entry is placed where the
// rest of the group has it.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var st State
	if err := json.NewDecoder(rc).Decode(&st); err != nil {
		return fmt.Errorf("fsm: read snapshot: %w", err)
	}
	if f.cfg.OnRestore != nil {
		if err := f.cfg.OnRestore(st.Index, st.CommitLogEnd); err != nil {
			return err
		}
	}
	f.mu.Lock()
	for k, q := range f.queues {
		q.Close()
		delete(f.queues, k)
	}
	if err := os.RemoveAll(f.cqRoot); err != nil {
		f.mu.Unlock()
		return fmt.Errorf("fsm: restore: %w", err)
	}
	if err := os.MkdirAll(f.cqRoot, 0o755); err != nil {
		f.mu.Unlock()
		return fmt.Errorf("fsm: restore: %w", err)
	}
	for _, qs := range st.Queues {
		q, err := f.queueLocked(qs.Topic, qs.QueueID)
		if err == nil {
			err = q.Reset(qs.Max)
		}
		if err != nil {
			f.mu.Unlock()
			return err
		}
	}
	st.InstalledSnapshot = st.Index
	st.History = &HistoryState{Snapshot: st.Index, Term: st.Term, End: st.CommitLogEnd, Queues: st.Queues}
	f.adopt(&st)
	f.mu.Unlock()
	// The old IndexFiles point at messages this replica no longer has.
	if err := f.index.Rewind(indexfile.State{}); err != nil {
		return err
	}
	// The restored state replaces whatever the checkpoint held.
	f.ckMu.Lock()
	f.ckIndex = 0
	f.ckMu.Unlock()
	_, err := f.Checkpoint()
	f.logger.Info("restored snapshot", "index", st.Index, "queues", len(st.Queues), "commitlog_end", st.CommitLogEnd)
	return err
}
