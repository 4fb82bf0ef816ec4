package fsm

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/fsm/consumequeue"
	"github.com/raftmq/raftmq/fsm/indexfile"
	"github.com/raftmq/raftmq/message"
)

// HistoryState is recorded while this replica's history before the
// snapshot it installed is incomplete (State.History): the snapshot's
// entry and where each of its queues restarted.
type HistoryState struct {
	Snapshot uint64       `json:"snapshot"`
	Term     uint64       `json:"term"`
	End      int64        `json:"end"` // CommitLog offset after the snapshot's entry
	Queues   []QueueState `json:"queues"`
}

// ErrHistoryChanged: another snapshot was installed during a rebuild.
var ErrHistoryChanged = errors.New("fsm: another snapshot was installed while the history was rebuilt")

// PendingHistory returns the history this replica lacks, if any.
func (f *FSM) PendingHistory() (HistoryState, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.history == nil {
		return HistoryState{}, false
	}
	return *f.history, true
}

// HistoryRebuild reports a rebuild.
type HistoryRebuild struct {
	FromIndex uint64
	Entries   uint64 // command entries walked
	Messages  int64  // queue units written
}

// RebuildHistory rebuilds the ConsumeQueue units and IndexFile entries of
// the entries the CommitLog holds before the installed snapshot (fetched
// from another member), and marks the history complete. With none held
// (no member retains any), the history is as complete as the group's.
//
// Queue offsets are not stored in the CommitLog: they follow from the
// log. A message of queue q in the fetched range is the k-th from the end
// of q's messages there, so its offset is q's restart offset minus k
// (appends are refused only for names and ids, which do not depend on
// state; a topic deleted inside the range restarts its queues). The
// caller keeps retention from deleting the range meanwhile.
func (f *FSM) RebuildHistory() (HistoryRebuild, error) {
	hs, ok := f.PendingHistory()
	if !ok {
		return HistoryRebuild{}, nil
	}
	first, err := f.log.FirstIndex()
	if err != nil {
		return HistoryRebuild{}, err
	}
	res := HistoryRebuild{FromIndex: first}
	if first == 0 || first > hs.Snapshot {
		return res, f.completeHistory(hs.Snapshot, nil, nil)
	}
	restart := map[queueKey]int64{}
	for _, q := range hs.Queues {
		restart[queueKey{q.Topic, q.QueueID}] = q.Max
	}

	// Pass 1: how many messages of each queue the range holds after the
	// last deletion of its topic there (the n-th command is ord n).
	counts := map[queueKey]int64{}
	deleted := map[string]int{} // topic -> ord of its last deletion
	ord := 0
	err = f.walkHistory(first, hs.Snapshot, func(c Command, dataOff int64) error {
		ord++
		switch c.Type {
		case CmdAppend:
			if k, n, err := appendQueue(c); err == nil && n > 0 {
				counts[k] += n
			}
		case CmdDeleteTopic:
			topic := string(c.Payload)
			if validTopic(topic) == nil && !message.IsSystemTopic(topic) {
				deleted[topic] = ord
				for k := range counts {
					if k.topic == topic {
						delete(counts, k)
					}
				}
			}
		}
		return nil
	}, &res)
	if err != nil {
		return res, err
	}
	next := map[queueKey]int64{}
	for k, n := range counts {
		r, ok := restart[k]
		if !ok {
			continue // deleted since the snapshot
		}
		if n > r {
			return res, fmt.Errorf("fsm: history holds %d messages of %s/%d, but the queue restarted at %d", n, k.topic, k.qid, r)
		}
		next[k] = r - n
	}
	start := make(map[queueKey]int64, len(next))
	for k, v := range next {
		start[k] = v
	}

	// Pass 2: write the units below each queue's start, and index keys.
	hist, err := f.index.NewHistory(hs.End)
	if err != nil {
		return res, err
	}
	defer hist.Abort()
	bufs := map[queueKey][]consumequeue.Unit{}
	flush := func(k queueKey) error {
		units := bufs[k]
		if len(units) == 0 {
			return nil
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.history == nil || f.history.Snapshot != hs.Snapshot {
			return ErrHistoryChanged
		}
		// A queue deleted since, or extended by an earlier rebuild that
		// was cut short after it, is left alone.
		if q := f.queues[k]; q != nil && f.historyHas(k) && q.MinOffset() == restart[k] {
			if err := q.WriteBelow(next[k], units); err != nil {
				return err
			}
		}
		next[k] += int64(len(units))
		bufs[k] = units[:0]
		return nil
	}
	ord, res.Entries = 0, 0
	err = f.walkHistory(first, hs.Snapshot, func(c Command, dataOff int64) error {
		ord++
		if c.Type != CmdAppend {
			return nil
		}
		k, n, err := appendQueue(c)
		if err != nil || n == 0 {
			return nil // refused when applied
		}
		if _, ok := next[k]; !ok || ord < deleted[k.topic] {
			return nil
		}
		return WalkRecords(c.Payload, func(off int, rec []byte, v *message.RecordView) error {
			phys := dataOff + int64(c.Pos+off)
			var tagHash int64
			if tags, ok := v.Property(message.PropertyTags); ok && len(tags) > 0 {
				tagHash = message.TagsHashCode(string(tags))
			}
			bufs[k] = append(bufs[k], consumequeue.Unit{PhysOffset: phys, Size: v.Size, TagHash: tagHash})
			res.Messages++
			if err := indexHistoryKeys(hist, k.topic, v, phys); err != nil {
				f.IndexErrors.Add(1)
			}
			if len(bufs[k]) >= 8192 {
				return flush(k)
			}
			return nil
		})
	}, &res)
	if err != nil {
		return res, err
	}
	for k := range bufs {
		if err := flush(k); err != nil {
			return res, err
		}
	}
	return res, f.completeHistory(hs.Snapshot, start, hist)
}

// completeHistory makes the rebuilt units readable (each queue's new
// start), installs the IndexFiles and clears the pending history, then
// checkpoints.
func (f *FSM) completeHistory(snapshot uint64, start map[queueKey]int64, hist *indexfile.History) error {
	f.mu.Lock()
	if f.history == nil || f.history.Snapshot != snapshot {
		f.mu.Unlock()
		return ErrHistoryChanged
	}
	keys := make([]queueKey, 0, len(start))
	for k := range start {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b queueKey) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return int(a.qid - b.qid)
	})
	for _, k := range keys {
		if q := f.queues[k]; q != nil && f.historyHas(k) {
			if err := q.ExtendDown(start[k]); err != nil {
				f.mu.Unlock()
				return err
			}
		}
	}
	if hist != nil {
		if err := hist.Install(); err != nil {
			f.mu.Unlock()
			return err
		}
	}
	f.history = nil
	f.mu.Unlock()
	_, err := f.Checkpoint()
	return err
}

// historyHas reports whether queue k restarted at the pending snapshot
// (and was not deleted since). Caller holds f.mu.
func (f *FSM) historyHas(k queueKey) bool {
	for _, q := range f.history.Queues {
		if q.Topic == k.topic && q.QueueID == k.qid {
			return true
		}
	}
	return false
}

// walkHistory calls fn for every command of the entries [from, to].
func (f *FSM) walkHistory(from, to uint64, fn func(c Command, dataOff int64) error, res *HistoryRebuild) error {
	var l raft.Log
	var cmds []Command
	for i := from; i <= to; i++ {
		if err := f.log.GetLog(i, &l); err != nil {
			return fmt.Errorf("fsm: history entry %d: %w", i, err)
		}
		if l.Type != raft.LogCommand {
			continue
		}
		var err error
		if cmds, err = DecodeEntry(l.Data, cmds[:0]); err != nil {
			return fmt.Errorf("fsm: history entry %d does not decode: %w", i, err)
		}
		p, err := f.log.Position(i)
		if err != nil {
			return fmt.Errorf("fsm: history entry %d: %w", i, err)
		}
		res.Entries++
		for _, c := range cmds {
			if err := fn(c, p.DataOffset()); err != nil {
				return err
			}
		}
	}
	return nil
}

// appendQueue returns the queue an append command's records go to and
// their count, or an error if applying it was refused.
func appendQueue(c Command) (queueKey, int64, error) {
	var k queueKey
	var n int64
	err := WalkRecords(c.Payload, func(off int, rec []byte, v *message.RecordView) error {
		if n == 0 {
			if err := validTopic(string(v.Topic)); err != nil {
				return err
			}
			if err := validQueueID(v.QueueID); err != nil {
				return err
			}
			k = queueKey{string(v.Topic), v.QueueID}
		}
		n++
		return nil
	})
	return k, n, err
}

func indexHistoryKeys(h *indexfile.History, topic string, v *message.RecordView, phys int64) error {
	var props applyProps
	props.lookup(v)
	return forEachIndexKey(topic, &props, func(hash uint32) error { return h.PutHash(hash, phys, v.StoreTimestamp) })
}
