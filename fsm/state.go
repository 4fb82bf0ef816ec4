package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
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
	for k, q := range f.queues {
		st.Queues = append(st.Queues, QueueState{Topic: k.topic, QueueID: k.qid, Min: q.MinOffset(), Max: q.MaxOffset()})
	}
	st.IndexFile = f.index.State() // Put runs under f.mu too: consistent
	if st.Index > 0 {
		p, err := f.log.Position(st.Index)
		switch {
		case err == nil:
			st.CommitLogEnd = p.End()
		case errors.Is(err, raft.ErrLogNotFound):
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
	f.ckMu.Lock()
	defer f.ckMu.Unlock()
	st, err := f.capture()
	if err != nil {
		return nil, err
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
			return nil, err
		}
	}
	if err := f.index.Sync(); err != nil {
		return nil, err
	}
	if st.Index < f.ckIndex {
		return st, nil
	}
	if err := writeJSONAtomic(f.ckPath, st); err != nil {
		return nil, err
	}
	f.ckIndex = st.Index
	return st, nil
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

func writeJSONAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := durable.WriteFile(path, b, 0o644); err != nil {
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

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	ck, err := s.f.Checkpoint()
	if err != nil {
		sink.Cancel()
		return err
	}
	_ = ck
	if err := json.NewEncoder(sink).Encode(s.st); err != nil {
		sink.Cancel()
		return fmt.Errorf("fsm: write snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return err
	}
	// Messages at or below the snapshot are no longer needed by raft.
	if s.f.cfg.OnSnapshot != nil {
		s.f.cfg.OnSnapshot(s.st.Index)
	}
	return nil
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
