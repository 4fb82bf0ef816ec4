package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/raftmq/raftmq/internal/vfs"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/fsm/consumequeue"
	"github.com/raftmq/raftmq/fsm/indexfile"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/raftlog"
)

var (
	_ raft.BatchingFSM = (*FSM)(nil)
)

// Config configures the FSM.
type Config struct {
	// Dir is the store root (storePathRootDir).
	Dir string
	// ConsumeQueueFileEntries is the number of 20-byte units per
	// ConsumeQueue file (mappedFileSizeConsumeQueue / 20).
	ConsumeQueueFileEntries int64
	// Index sizes the IndexFiles.
	Index indexfile.Config
	// Log is the CommitLog the entries live in.
	Log Log
	// OnSnapshot, if set, is told the index of each snapshot once it is
	// persisted (the group lets retention delete entries up to it).
	OnSnapshot func(index uint64)
	// OnRestore, if set, is told where the CommitLog must continue after a
	// snapshot from the leader was installed: entry index+1 goes at
	// physical offset commitLogEnd, as on every other replica.
	OnRestore func(index uint64, commitLogEnd int64) error
	// Logger receives recovery events.
	Logger hclog.Logger
	// FS is the filesystem of the checkpoint (nil: the operating
	// system's); tests inject faults through it.
	FS vfs.FS
	// ObserveApply, if set, receives each ApplyBatch's entry count and
	// duration (metrics; called on the FSM goroutine).
	ObserveApply func(entries int, d time.Duration)
	// OnTopicsChanged, if set, is called (on the FSM goroutine; it must not
	// block) after a topic is created, updated or deleted, so every member
	// re-registers with the NameServers at once, not only the proposer.
	OnTopicsChanged func()
	// OnACLChanged, if set, is called (on the FSM goroutine, or while a
	// checkpoint or snapshot is adopted; it must not block) after the
	// replicated ACL accounts changed.
	OnACLChanged func()
}

// Log is what the FSM needs of the CommitLog it is applied from
// (*raftlog.Log is one): where an applied entry's bytes are, and reads of
// committed data.
type Log interface {
	// Position locates an entry's record (its Data starts at DataOffset).
	Position(index uint64) (raftlog.Position, error)
	// ReadAt reads committed bytes at a physical offset, never past the
	// entry limit.
	ReadAt(p []byte, off int64, limit uint64) error
	FirstIndex() (uint64, error)
	GetLog(index uint64, out *raft.Log) error
	// SyncThrough makes entries up to index durable.
	SyncThrough(index uint64) error
}

// DefaultConfig returns RocketMQ's sizes.
func DefaultConfig(dir string, log Log) Config {
	return Config{Dir: dir, ConsumeQueueFileEntries: 300_000, Index: indexfile.DefaultConfig(), Log: log}
}

// Validate reports an unusable configuration.
func (c Config) Validate() error {
	if c.Dir == "" || c.Log == nil {
		return errors.New("fsm: Dir and Log are required")
	}
	if c.ConsumeQueueFileEntries < 1 {
		return fmt.Errorf("fsm: ConsumeQueueFileEntries %d must be positive", c.ConsumeQueueFileEntries)
	}
	return c.Index.Validate()
}

// TopicConfig is a topic's replicated configuration (same JSON as
// RocketMQ's TopicConfig).
type TopicConfig struct {
	TopicName       string            `json:"topicName"`
	ReadQueueNums   int32             `json:"readQueueNums"`
	WriteQueueNums  int32             `json:"writeQueueNums"`
	Perm            int32             `json:"perm"`
	TopicFilterType string            `json:"topicFilterType"`
	TopicSysFlag    int32             `json:"topicSysFlag"`
	Order           bool              `json:"order"`
	Attributes      map[string]string `json:"attributes,omitempty"`
}

// TopicCommand is the CmdTopic payload.
type TopicCommand struct {
	Config TopicConfig `json:"config"`
	// CreateOnly leaves an existing topic untouched (auto-creation races).
	CreateOnly bool `json:"createOnly"`
}

// GroupConfig is a subscription group's replicated configuration (same
// JSON as RocketMQ's SubscriptionGroupConfig).
type GroupConfig struct {
	GroupName              string `json:"groupName"`
	ConsumeEnable          bool   `json:"consumeEnable"`
	ConsumeFromMinEnable   bool   `json:"consumeFromMinEnable"`
	ConsumeBroadcastEnable bool   `json:"consumeBroadcastEnable"`
	ConsumeMessageOrderly  bool   `json:"consumeMessageOrderly"`
	RetryQueueNums         int32  `json:"retryQueueNums"`
	RetryMaxTimes          int32  `json:"retryMaxTimes"`
	BrokerID               int64  `json:"brokerId"`
	WhichBrokerWhenSlowly  int64  `json:"whichBrokerWhenConsumeSlowly"`
	NotifyConsumerIDs      bool   `json:"notifyConsumerIdsChangedEnable"`
}

// GroupCommand is the CmdGroup payload.
type GroupCommand struct {
	Config     GroupConfig `json:"config"`
	CreateOnly bool        `json:"createOnly"`
}

// AppendResult is what a CmdAppend returns: where its messages went.
type AppendResult struct {
	Topic       string
	QueueID     int32
	QueueOffset int64   // queue offset of the first message
	PhysOffsets []int64 // commitlog offset of each message
}

// EntryResult is the apply future's Response() for one entry: one value per
// command (*AppendResult, *TopicConfig, a *RejectedError, or nil).
type EntryResult struct {
	Results []any
}

type queueKey struct {
	topic string
	qid   int32
}

// FSM applies committed entries to ConsumeQueues, IndexFiles and the
// replicated configuration (topics, groups, consumer offsets).
type FSM struct {
	cfg    Config
	log    Log
	logger hclog.Logger
	cqRoot string
	ckPath string

	// mu guards the state below. ApplyBatch takes it per entry; readers
	// copy what they need under RLock.
	mu      sync.RWMutex
	topics  map[string]TopicConfig
	groups  map[string]GroupConfig
	offsets map[string]map[int32]int64 // "topic@group"
	acl     map[string]ACLEntry        // by access key
	txns    map[int64]*TxnState        // open transactions by half offset
	queues  map[queueKey]*consumequeue.Queue
	// skipTo: entries at or below it are already reflected (checkpoint).
	skipTo uint64
	// restoredIndex and restoredEnd: the index of the snapshot this
	// replica last restored (or whose checkpoint it loaded), and where the
	// CommitLog continues after it.
	restoredIndex uint64
	restoredEnd   int64
	// history is set while the history before an installed snapshot is
	// incomplete (RebuildHistory clears it); never mutated in place.
	history *HistoryState

	index   *indexfile.Store
	applied atomic.Uint64
	term    atomic.Uint64

	// Messages applied since start, for metrics.
	Messages atomic.Uint64
	// installed is State.InstalledSnapshot; lastCmd State.LastCommand.
	installed atomic.Uint64
	lastCmd   atomic.Uint64
	// IndexErrors counts IndexFile writes that failed (metrics).
	IndexErrors  atomic.Uint64
	lastIndexErr time.Time // FSM goroutine only
	// indexBuf gathers the IndexFile keys of the command being applied
	// (under mu).
	indexBuf []indexfile.Entry
	// unitBuf gathers the ConsumeQueue units of the command being applied,
	// appended in one call.
	unitBuf []consumequeue.Unit
	// FlushErrors counts ConsumeQueue writes that failed (retried).
	FlushErrors  atomic.Uint64
	lastFlushErr time.Time // FSM goroutine only

	cmds []Command // ApplyBatch scratch (FSM goroutine only)

	// ckMu serializes checkpoints; ckIndex is the last one written.
	ckMu    sync.Mutex
	ckIndex uint64
}

// Open loads the local checkpoint and the ConsumeQueues, cutting them back
// to the checkpoint so entries after it are applied again exactly once.
func Open(cfg Config) (*FSM, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	f := &FSM{
		cfg:     cfg,
		log:     cfg.Log,
		logger:  logger.Named("fsm"),
		cqRoot:  filepath.Join(cfg.Dir, "consumequeue"),
		ckPath:  filepath.Join(cfg.Dir, "config", "fsm.json"),
		topics:  map[string]TopicConfig{},
		groups:  map[string]GroupConfig{},
		offsets: map[string]map[int32]int64{},
		acl:     map[string]ACLEntry{},
		txns:    map[int64]*TxnState{},
		queues:  map[queueKey]*consumequeue.Queue{},
	}
	for _, d := range []string{f.cqRoot, filepath.Dir(f.ckPath)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("fsm: %w", err)
		}
	}
	st, err := loadCheckpoint(f.ckPath)
	if err != nil {
		return nil, err
	}
	f.index, err = indexfile.Open(cfg.Dir, cfg.Index)
	if err != nil {
		return nil, err
	}
	if err := f.load(st); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// adopt takes a checkpoint's or snapshot's configuration and position.
// Caller holds f.mu (or has no concurrent users yet).
func (f *FSM) adopt(st *State) {
	f.topics, f.groups, f.offsets, f.acl = st.Topics, st.Groups, st.Offsets, st.ACL
	f.adoptTxns(st.Txns)
	if f.acl == nil {
		f.acl = map[string]ACLEntry{}
	}
	if f.cfg.OnACLChanged != nil {
		defer f.cfg.OnACLChanged()
	}
	if f.topics == nil {
		f.topics = map[string]TopicConfig{}
	}
	if f.groups == nil {
		f.groups = map[string]GroupConfig{}
	}
	if f.offsets == nil {
		f.offsets = map[string]map[int32]int64{}
	}
	// State written before names and counts were checked may hold what the
	// checks now refuse; every replica holds the same state, so every one
	// repairs it the same way.
	for name, tc := range f.topics {
		if err := validTopic(name); err != nil {
			f.logger.Error("dropping a topic with an invalid name from the state", "topic", name, "error", err)
			delete(f.topics, name)
			continue
		}
		if err := validTopicConfig(tc); err != nil {
			tc.ReadQueueNums = min(max(tc.ReadQueueNums, 1), MaxQueueNums)
			tc.WriteQueueNums = min(max(tc.WriteQueueNums, 1), MaxQueueNums)
			f.logger.Error("clamping a topic's queue counts", "topic", name, "read", tc.ReadQueueNums, "write", tc.WriteQueueNums, "error", err)
			f.topics[name] = tc
		}
	}
	f.skipTo = st.Index
	f.restoredIndex, f.restoredEnd = st.Index, st.CommitLogEnd
	f.installed.Store(st.InstalledSnapshot)
	f.history = st.History
	if st.LastCommand == 0 {
		st.LastCommand = st.Index // a checkpoint from before the field
	}
	f.lastCmd.Store(st.LastCommand)
	f.applied.Store(st.Index)
	f.term.Store(st.Term)
}

func (f *FSM) load(st *State) error {
	if st != nil {
		f.adopt(st)
		f.ckIndex = st.Index
	}
	var end int64
	if st != nil {
		end = st.CommitLogEnd
	}
	// Queues on disk, cut back to the checkpoint.
	topics, err := os.ReadDir(f.cqRoot)
	if err != nil {
		return fmt.Errorf("fsm: %w", err)
	}
	for _, t := range topics {
		if !t.IsDir() {
			continue
		}
		qs, err := os.ReadDir(filepath.Join(f.cqRoot, t.Name()))
		if err != nil {
			return fmt.Errorf("fsm: %w", err)
		}
		for _, qd := range qs {
			id, err := strconv.Atoi(qd.Name())
			if err != nil || !qd.IsDir() {
				continue
			}
			q, err := consumequeue.Open(f.cqRoot, t.Name(), int32(id), f.cfg.ConsumeQueueFileEntries)
			if errors.Is(err, consumequeue.ErrInvalidName) {
				f.logger.Warn("ignoring a directory that cannot be a queue", "dir", filepath.Join(f.cqRoot, t.Name(), qd.Name()), "error", err)
				continue
			}
			if err != nil {
				return err
			}
			if err := q.TruncatePhys(end); err != nil {
				return err
			}
			if st != nil {
				if want, ok := st.queueMax(t.Name(), int32(id)); ok && q.MaxOffset() != want {
					return fmt.Errorf("%w: queue %s/%d has %d units, checkpoint says %d",
						consumequeue.ErrCorrupt, t.Name(), id, q.MaxOffset(), want)
				}
			}
			f.queues[queueKey{t.Name(), int32(id)}] = q
		}
	}
	var ix indexfile.State
	if st != nil {
		ix = st.IndexFile
	}
	if err := f.index.Rewind(ix); err != nil {
		return err
	}
	f.logger.Info("loaded", "checkpoint_index", f.skipTo, "queues", len(f.queues), "topics", len(f.topics))
	return nil
}

// LastCommand is the index of the last command entry applied: the same
// on every replica that applied the same log (AppliedIndex may be
// further, past entries without commands).
func (f *FSM) LastCommand() uint64 { return f.lastCmd.Load() }

// InstalledSnapshot is the index of the last snapshot this replica
// installed from a leader (0: none): it holds no messages before it.
func (f *FSM) InstalledSnapshot() uint64 { return f.installed.Load() }

// AppliedIndex is the last raft index whose commands are reflected.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// Apply implements raft.FSM.
func (f *FSM) Apply(l *raft.Log) interface{} { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch implements raft.BatchingFSM: commands are applied in log
// order; queue offsets are assigned here, deterministically.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	if f.cfg.ObserveApply != nil {
		defer func(t0 time.Time) { f.cfg.ObserveApply(len(logs), time.Since(t0)) }(time.Now())
	}
	out := make([]interface{}, len(logs))
	touched := map[*consumequeue.Queue]bool{}
	for i, l := range logs {
		if l.Type != raft.LogCommand || l.Index <= f.skipTo {
			if l.Index > f.applied.Load() {
				f.applied.Store(l.Index)
				f.term.Store(l.Term)
			}
			continue
		}
		out[i] = f.applyEntry(l, touched)
	}
	for q := range touched {
		// A queue is written a page at a time, not once per batch (one
		// pwrite per queue per batch was most of a member's writes): the
		// units waiting are served from memory, and the checkpoint's Sync
		// writes them before it records them. After a crash, replay from
		// the checkpoint rebuilds them either way. A failed write keeps
		// the units in memory and is retried by the next write or the
		// checkpoint's Sync, which fails loudly.
		if err := q.FlushIfOver(cqWriteAt); err != nil {
			f.FlushErrors.Add(1)
			if now := time.Now(); now.Sub(f.lastFlushErr) > time.Minute {
				f.lastFlushErr = now
				f.logger.Error("cannot write consume queue units; they stay in memory and are retried", "topic", q.Topic,
					"queue", q.QueueID, "error", err, "errors_total", f.FlushErrors.Load())
			}
		}
		q.Notify()
	}
	return out
}

// cqWriteAt is the bytes of units a queue buffers before writing them.
const cqWriteAt = 4096

func (f *FSM) applyEntry(l *raft.Log, touched map[*consumequeue.Queue]bool) *EntryResult {
	cmds, err := DecodeEntry(l.Data, f.cmds[:0])
	f.cmds = cmds[:0]
	if err != nil {
		// Every replica holds the same bytes: an entry the leader encoded
		// that does not decode means a bug or corruption, and going on
		// would diverge silently.
		panic(fmt.Sprintf("fsm: entry %d does not decode: %v", l.Index, err))
	}
	var dataOff int64 = -1
	res := &EntryResult{Results: make([]any, len(cmds))}
	topicsChanged := false
	defer func() {
		if topicsChanged && f.cfg.OnTopicsChanged != nil {
			f.cfg.OnTopicsChanged()
		}
	}()
	f.mu.Lock()
	defer f.mu.Unlock()
	// Readers may read this entry's bytes as soon as its units exist: it is
	// committed.
	f.applied.Store(l.Index)
	f.term.Store(l.Term)
	f.lastCmd.Store(l.Index)
	// A rejected transaction end rejects the commands it carries
	// (TxnCommand.With: the commit's message).
	var ended error
	skip := 0
	for i, c := range cmds {
		var r any
		var err error
		if skip > 0 {
			skip--
			err = fmt.Errorf("not applied: %w", ended)
		} else if r, err = f.applyCommand(l, c, &dataOff, touched, &topicsChanged); err != nil && (c.Type == CmdTxn || c.Type == CmdAdvance) {
			ended, skip = err, guardWith(c)
		}
		if err != nil {
			rej := &RejectedError{Index: l.Index, Cmd: c.Type, Reason: err.Error()}
			f.logger.Warn("rejected a command", "index", l.Index, "command", c.Type, "reason", err)
			r = rej
		}
		res.Results[i] = r
	}
	return res
}

// applyCommand applies one command. An error rejects it without side
// effects (bad names, counts out of range); it must depend only on the
// command and the replicated state. Failures that are not the command's
// fault (I/O, a record the leader built wrong) panic instead: going on
// would let this replica diverge.
func (f *FSM) applyCommand(l *raft.Log, c Command, dataOff *int64, touched map[*consumequeue.Queue]bool, topicsChanged *bool) (any, error) {
	switch c.Type {
	case CmdAppend:
		if *dataOff < 0 {
			p, err := f.log.Position(l.Index)
			if err != nil {
				panic(fmt.Sprintf("fsm: position of applied entry %d: %v", l.Index, err))
			}
			*dataOff = p.DataOffset()
		}
		r, err := f.applyAppend(c, *dataOff, touched)
		var rej *rejection
		if errors.As(err, &rej) {
			return nil, rej.err
		}
		if err != nil {
			panic(fmt.Sprintf("fsm: entry %d: %v", l.Index, err))
		}
		return r, nil
	case CmdOffsets:
		var commits []OffsetCommit
		if err := json.Unmarshal(c.Payload, &commits); err != nil {
			return nil, fmt.Errorf("offsets payload: %w", err)
		}
		for _, oc := range commits {
			if err := validOffsetCommit(oc); err != nil {
				return nil, err
			}
		}
		for _, oc := range commits {
			f.setOffsetLocked(oc)
		}
		return nil, nil
	case CmdTopic:
		var tc TopicCommand
		if err := json.Unmarshal(c.Payload, &tc); err != nil {
			return nil, fmt.Errorf("topic payload: %w", err)
		}
		if err := validTopicConfig(tc.Config); err != nil {
			return nil, err
		}
		cur, ok := f.topics[tc.Config.TopicName]
		if !ok || !tc.CreateOnly {
			cur = tc.Config
			f.topics[cur.TopicName] = cur
		}
		*topicsChanged = true
		cp := cur
		return &cp, nil
	case CmdDeleteTopic:
		topic := string(c.Payload)
		if err := validTopic(topic); err != nil {
			return nil, err
		}
		if message.IsSystemTopic(topic) {
			return nil, fmt.Errorf("topic %s is a system topic", topic)
		}
		f.deleteTopicLocked(topic)
		*topicsChanged = true
		return nil, nil
	case CmdGroup:
		var gc GroupCommand
		if err := json.Unmarshal(c.Payload, &gc); err != nil {
			return nil, fmt.Errorf("group payload: %w", err)
		}
		if err := validGroup(gc.Config.GroupName); err != nil {
			return nil, err
		}
		if _, ok := f.groups[gc.Config.GroupName]; !ok || !gc.CreateOnly {
			f.groups[gc.Config.GroupName] = gc.Config
		}
		return nil, nil
	case CmdDeleteGroup:
		g := string(c.Payload)
		if err := validGroup(g); err != nil {
			return nil, err
		}
		delete(f.groups, g)
		for k := range f.offsets {
			if strings.HasSuffix(k, "@"+g) {
				delete(f.offsets, k)
			}
		}
		return nil, nil
	case CmdTxn:
		return f.applyTxn(c.Payload)
	case CmdAdvance:
		var ac AdvanceCommand
		if err := json.Unmarshal(c.Payload, &ac); err != nil {
			return nil, fmt.Errorf("advance payload: %w", err)
		}
		if err := validOffsetCommit(ac.OffsetCommit); err != nil {
			return nil, err
		}
		k := ac.Topic + "@" + ac.Group
		cur, ok := f.offsets[k][ac.QueueID]
		if !ok {
			cur = -1
		}
		if cur != ac.From {
			return nil, fmt.Errorf("%w: offset of %s on %s/%d is %d, not %d", ErrStaleAdvance, ac.Group, ac.Topic, ac.QueueID, cur, ac.From)
		}
		f.setOffsetLocked(ac.OffsetCommit)
		return nil, nil
	case CmdACL:
		var ac ACLCommand
		if err := json.Unmarshal(c.Payload, &ac); err != nil {
			return nil, fmt.Errorf("acl payload: %w", err)
		}
		if ac.AccessKey == "" || len(ac.AccessKey) > 255 || len(ac.Account) > 64<<10 || (!ac.Deleted && !json.Valid(ac.Account)) {
			return nil, fmt.Errorf("acl: bad account %q", ac.AccessKey)
		}
		f.acl[ac.AccessKey] = ACLEntry{Account: ac.Account, Deleted: ac.Deleted}
		if f.cfg.OnACLChanged != nil {
			defer f.cfg.OnACLChanged()
		}
		return nil, nil
	}
	return nil, fmt.Errorf("unknown command type %d", c.Type)
}

// setOffsetLocked stores a consumer offset. Caller holds f.mu.
func (f *FSM) setOffsetLocked(oc OffsetCommit) {
	k := oc.Topic + "@" + oc.Group
	m := f.offsets[k]
	if m == nil {
		m = map[int32]int64{}
		f.offsets[k] = m
	}
	m[oc.QueueID] = oc.Offset
}

// ACL returns the replicated ACL changes, by access key.
func (f *FSM) ACL() map[string]ACLEntry {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make(map[string]ACLEntry, len(f.acl))
	for k, v := range f.acl {
		out[k] = v
	}
	return out
}

// rejection marks an applyAppend error as the command's fault (detected
// before any side effect).
type rejection struct{ err error }

func (r *rejection) Error() string { return r.err.Error() }

func (f *FSM) applyAppend(c Command, dataOff int64, touched map[*consumequeue.Queue]bool) (*AppendResult, error) {
	var r *AppendResult
	var q *consumequeue.Queue
	err := WalkRecords(c.Payload, func(off int, rec []byte, v *message.RecordView) error {
		phys := dataOff + int64(c.Pos+off)
		if r == nil {
			if err := validTopic(string(v.Topic)); err != nil {
				return &rejection{err}
			}
			if err := validQueueID(v.QueueID); err != nil {
				return &rejection{err}
			}
			r = &AppendResult{Topic: string(v.Topic), QueueID: v.QueueID}
			// Records of one command are about the same size: one
			// allocation for the offsets, not a doubling series.
			r.PhysOffsets = make([]int64, 0, min(len(c.Payload)/len(rec)+1, maxOffsetsGuess))
			var err error
			if q, err = f.queueLocked(r.Topic, r.QueueID); err != nil {
				return err
			}
			r.QueueOffset = q.MaxOffset()
		} else if string(v.Topic) != r.Topic || v.QueueID != r.QueueID {
			return fmt.Errorf("%w: one append command spans queues", ErrBadEntry)
		}
		var props applyProps
		props.lookup(v)
		var tagHash int64
		if tags := props.vals[propTags]; len(tags) > 0 {
			tagHash = message.TagsHashCode(string(tags))
		}
		if v.Size <= 0 { // what q.Append would refuse, refused before the batch
			return fmt.Errorf("%w: record of size %d", ErrBadEntry, v.Size)
		}
		// Appended in one call after the walk: one lock per command.
		f.unitBuf = append(f.unitBuf, consumequeue.Unit{PhysOffset: phys, Size: v.Size, TagHash: tagHash})
		r.PhysOffsets = append(r.PhysOffsets, phys)
		if r.Topic == message.TransHalfTopic {
			f.openTxn(v, phys, r.QueueOffset+int64(len(r.PhysOffsets)-1))
		}
		forEachIndexKey(r.Topic, &props, func(h uint32) error {
			f.indexBuf = append(f.indexBuf, indexfile.Entry{Hash: h, Phys: phys, StoreTS: v.StoreTimestamp})
			if len(f.indexBuf) == indexBufMax { // a message may carry many keys
				f.flushIndex()
			}
			return nil
		})
		f.Messages.Add(1)
		return nil
	})
	// The units and keys of the records walked, also on error: a rejection
	// comes before any, and any other error stops the replica
	// (applyCommand), so no replica goes on with a half-applied command.
	if len(f.unitBuf) > 0 {
		_, qerr := q.Append(f.unitBuf...)
		f.unitBuf = f.unitBuf[:0]
		if cap(f.unitBuf) > maxOffsetsGuess {
			f.unitBuf = nil // a rare huge command's buffer is not kept
		}
		if err == nil {
			err = qerr
		}
	}
	f.flushIndex()
	if err != nil {
		return nil, err
	}
	if q != nil {
		touched[q] = true
	}
	return r, nil
}

// indexBufMax bounds the keys gathered before they are written.
const indexBufMax = 4096

// maxOffsetsGuess bounds the first allocation of an AppendResult's
// offsets, whatever a command's sizes suggest.
const maxOffsetsGuess = 4096

// flushIndex writes the keys gathered in indexBuf to the IndexFile, in
// one call per command so that their slot reads overlap.
func (f *FSM) flushIndex() {
	if len(f.indexBuf) == 0 {
		return
	}
	failed, err := f.index.PutHashes(f.indexBuf)
	f.indexBuf = f.indexBuf[:0]
	if err == nil {
		return
	}
	// The IndexFile only speeds up queries by key; a write it cannot make
	// (a full disk) must not stop the replica.
	f.IndexErrors.Add(uint64(failed))
	if now := time.Now(); now.Sub(f.lastIndexErr) > time.Minute {
		f.lastIndexErr = now
		f.logger.Error("cannot index message keys; queries by key may miss messages", "error", err,
			"errors_total", f.IndexErrors.Load())
	}
}

// applyProps holds the properties applying a record reads, found in one
// pass over them (each lookup used to be a pass of its own).
type applyProps struct {
	vals [3][]byte
}

const (
	propTags = iota
	propKeys
	propUniqKey
)

var applyPropNames = [...]string{propTags: message.PropertyTags, propKeys: message.PropertyKeys, propUniqKey: message.PropertyUniqKey}

func (p *applyProps) lookup(v *message.RecordView) {
	message.LookupProperties(v.Properties, applyPropNames[:], p.vals[:])
}

// forEachIndexKey calls fn with the IndexFile hash of every key a message
// is found by: each of its KEYS (split as strings.Fields does), then its
// UNIQ_KEY. It allocates nothing.
func forEachIndexKey(topic string, p *applyProps, fn func(h uint32) error) error {
	for keys := p.vals[propKeys]; len(keys) > 0; {
		var k []byte
		k, keys = nextField(keys)
		if len(k) > 0 {
			if err := fn(indexfile.KeyHashOf(topic, k)); err != nil {
				return err
			}
		}
	}
	if uk := p.vals[propUniqKey]; len(uk) > 0 {
		return fn(indexfile.KeyHashOf(topic, uk))
	}
	return nil
}

// nextField returns the first field of b as strings.Fields splits it
// (runs of unicode.IsSpace; empty if b is all space) and what follows it.
func nextField(b []byte) (field, rest []byte) {
	start := -1
	for i := 0; i < len(b); {
		r, n := rune(b[i]), 1
		if r >= utf8.RuneSelf {
			r, n = utf8.DecodeRune(b[i:])
		}
		if unicode.IsSpace(r) {
			if start >= 0 {
				return b[start:i], b[i+n:]
			}
		} else if start < 0 {
			start = i
		}
		i += n
	}
	if start < 0 {
		return nil, nil
	}
	return b[start:], nil
}

func (f *FSM) queueLocked(topic string, qid int32) (*consumequeue.Queue, error) {
	k := queueKey{topic, qid}
	if q := f.queues[k]; q != nil {
		return q, nil
	}
	var q *consumequeue.Queue
	var err error
	for try := 0; ; try++ {
		q, err = consumequeue.Open(f.cqRoot, topic, qid, f.cfg.ConsumeQueueFileEntries)
		// Out of file descriptors is usually short: wait (applying stalls on
		// this replica) rather than fail an entry every replica must apply.
		if err == nil || try >= 300 || !(errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) {
			break
		}
		if try == 0 {
			f.logger.Error("out of file descriptors opening a consume queue; retrying", "topic", topic, "queue", qid, "error", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	f.queues[k] = q
	return q, nil
}

func (f *FSM) deleteTopicLocked(topic string) {
	delete(f.topics, topic)
	for k, q := range f.queues {
		if k.topic == topic {
			q.Close()
			delete(f.queues, k)
		}
	}
	if h := f.history; h != nil {
		cp := *h
		cp.Queues = nil
		for _, q := range h.Queues {
			if q.Topic != topic {
				cp.Queues = append(cp.Queues, q)
			}
		}
		f.history = &cp
	}
	if err := consumequeue.RemoveTopic(f.cqRoot, topic); err != nil {
		// The files stay; the topic is gone from the state on every replica.
		f.logger.Error("cannot remove a deleted topic's queue files", "topic", topic, "error", err)
	}
	for k := range f.offsets {
		if strings.HasPrefix(k, topic+"@") {
			delete(f.offsets, k)
		}
	}
}

// Topic returns a topic's configuration.
func (f *FSM) Topic(name string) (TopicConfig, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	t, ok := f.topics[name]
	return t, ok
}

// Topics returns every topic's configuration, sorted by name.
func (f *FSM) Topics() []TopicConfig {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]TopicConfig, 0, len(f.topics))
	for _, t := range f.topics {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TopicName < out[j].TopicName })
	return out
}

// Group returns a subscription group's configuration.
func (f *FSM) Group(name string) (GroupConfig, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	g, ok := f.groups[name]
	return g, ok
}

// Groups returns every subscription group, sorted by name.
func (f *FSM) Groups() []GroupConfig {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]GroupConfig, 0, len(f.groups))
	for _, g := range f.groups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GroupName < out[j].GroupName })
	return out
}

// ConsumerOffset returns a group's committed offset of a queue.
func (f *FSM) ConsumerOffset(group, topic string, qid int32) (int64, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	o, ok := f.offsets[topic+"@"+group][qid]
	return o, ok
}

// GroupOffsets returns every committed offset of a group, by topic.
func (f *FSM) GroupOffsets(group string) map[string]map[int32]int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := map[string]map[int32]int64{}
	for k, m := range f.offsets {
		t, g, ok := strings.Cut(k, "@")
		if !ok || g != group {
			continue
		}
		cp := make(map[int32]int64, len(m))
		for q, o := range m {
			cp[q] = o
		}
		out[t] = cp
	}
	return out
}

// ConsumerGroups returns the groups with committed offsets on topic.
func (f *FSM) ConsumerGroups(topic string) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []string
	for k := range f.offsets {
		if t, g, ok := strings.Cut(k, "@"); ok && t == topic {
			out = append(out, g)
		}
	}
	sort.Strings(out)
	return out
}

// GroupTopic names a consumer group's offsets on one topic.
type GroupTopic struct{ Group, Topic string }

// OffsetTable returns a copy of every committed offset, by group and topic
// (one pass over the table, for metrics).
func (f *FSM) OffsetTable() map[GroupTopic]map[int32]int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make(map[GroupTopic]map[int32]int64, len(f.offsets))
	for k, m := range f.offsets {
		t, g, ok := strings.Cut(k, "@")
		if !ok {
			continue
		}
		cp := make(map[int32]int64, len(m))
		for q, o := range m {
			cp[q] = o
		}
		out[GroupTopic{Group: g, Topic: t}] = cp
	}
	return out
}

// Queue returns a ConsumeQueue if it exists (package internal: readers use
// the Queue* accessors).
func (f *FSM) Queue(topic string, qid int32) *consumequeue.Queue {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.queues[queueKey{topic, qid}]
}

// QueueWait returns a channel closed once the queue has a unit at offset,
// creating the queue if needed so a long poll on an empty queue wakes up.
func (f *FSM) QueueWait(topic string, qid int32, offset int64) (<-chan struct{}, error) {
	if q := f.Queue(topic, qid); q != nil {
		return q.Wait(offset), nil
	}
	f.mu.Lock()
	q, err := f.queueLocked(topic, qid)
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return q.Wait(offset), nil
}

// ReadMessage reads a stored record by physical offset and size, never past
// the applied index.
func (f *FSM) ReadMessage(dst []byte, phys int64, size int32) ([]byte, error) {
	if size < 0 {
		return dst, fmt.Errorf("fsm: read at %d: negative size %d", phys, size)
	}
	limit := f.applied.Load()
	if size > 1<<16 {
		// A size no record of the log has (a corrupt unit) allocates nothing.
		p, err := f.log.Position(limit)
		if err != nil { // ReadAt would fail the same way, after the allocation
			return dst, fmt.Errorf("fsm: read [%d,%d): %w", phys, phys+int64(size), err)
		}
		if phys+int64(size) > p.End() {
			return dst, fmt.Errorf("%w: [%d,%d) ends past the applied entry %d at %d", raftlog.ErrBeyondLimit, phys, phys+int64(size), limit, p.End())
		}
	}
	start := len(dst)
	dst = slices.Grow(dst, int(size))[:start+int(size)] // no zeroing: the read fills it
	if err := f.log.ReadAt(dst[start:], phys, limit); err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// QueryIndex returns commitlog offsets of messages indexed under topic#key.
func (f *FSM) QueryIndex(topic, key string, max int, begin, end int64) []int64 {
	return f.index.Query(indexfile.Key(topic, key), max, begin, end)
}

// Close writes a final checkpoint and closes queues and index files.
func (f *FSM) Close() error {
	var errs []error
	if f.index != nil {
		if _, err := f.Checkpoint(); err != nil {
			errs = append(errs, err)
		}
	}
	f.mu.Lock()
	for _, q := range f.queues {
		errs = append(errs, q.Close())
	}
	f.queues = map[queueKey]*consumequeue.Queue{}
	f.mu.Unlock()
	if f.index != nil {
		errs = append(errs, f.index.Close())
		f.index = nil
	}
	return errors.Join(errs...)
}

// ReplayTo applies committed entries after the checkpoint up to index
// straight from the CommitLog. The broker calls it before starting raft
// with the latest snapshot index: raft replays only entries after its
// snapshot, so anything between the checkpoint and the snapshot is the
// FSM's own job.
func (f *FSM) ReplayTo(index uint64) error {
	from := f.applied.Load() + 1
	if first, err := f.log.FirstIndex(); err != nil {
		return fmt.Errorf("fsm: replay: %w", err)
	} else if from < first && from <= index {
		// Entries the checkpoint lacks were deleted: applying the rest would
		// diverge from the group without a word.
		return fmt.Errorf("fsm: replay: the checkpoint is at %d but the CommitLog starts at %d: entries %d..%d are gone",
			from-1, first, from, first-1)
	}
	for i := from; i <= index; i++ {
		var l raft.Log
		if err := f.log.GetLog(i, &l); err != nil {
			return fmt.Errorf("fsm: replay %d: %w", i, err)
		}
		f.ApplyBatch([]*raft.Log{&l})
	}
	if index >= from {
		f.logger.Info("replayed entries before the snapshot", "from", from, "to", index)
	}
	return nil
}

var _ io.Closer = (*FSM)(nil)

// TrimBelow drops ConsumeQueue units and IndexFiles that point below phys,
// the CommitLog's first retained byte after retention deleted segments:
// queues' min offsets move up, so consumers are told the offset moved.
func (f *FSM) TrimBelow(phys int64) error {
	if phys <= 0 {
		return nil
	}
	f.mu.RLock()
	queues := make([]*consumequeue.Queue, 0, len(f.queues))
	for _, q := range f.queues {
		queues = append(queues, q)
	}
	f.mu.RUnlock()
	var errs []error
	for _, q := range queues {
		if q.MinOffset() == q.MaxOffset() {
			continue
		}
		if off := q.FirstPhysAtOrAfter(phys); off > q.MinOffset() {
			errs = append(errs, q.DeleteBefore(off))
		}
	}
	errs = append(errs, f.index.DeleteBelow(phys))
	return errors.Join(errs...)
}

// LowestUnconsumed returns the lowest CommitLog offset of a message that
// some consumer group has not consumed yet (by committed offsets), or
// math.MaxInt64 if there is none. A queue counts as unconsumed from its
// first message when no group committed an offset on it: a topic nobody
// consumes yet keeps its messages until they expire. Retention deletes
// segments early (under disk pressure) only below this offset.
func (f *FSM) LowestUnconsumed() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	byTopic := map[string][]map[int32]int64{}
	for k, m := range f.offsets {
		if t, _, ok := strings.Cut(k, "@"); ok {
			byTopic[t] = append(byTopic[t], m)
		}
	}
	// Half messages are kept while their transaction is open.
	low := f.lowestOpenTxn()
	for k, q := range f.queues {
		mn, mx := q.MinOffset(), q.MaxOffset()
		if mx <= mn || k.topic == message.TransHalfTopic {
			continue
		}
		groups := byTopic[k.topic]
		consumed := mn
		if len(groups) > 0 {
			consumed = mx
			for _, g := range groups {
				o, ok := g[k.qid]
				if !ok {
					o = mn
				}
				consumed = min(consumed, o)
			}
		}
		consumed = max(consumed, mn)
		if consumed >= mx {
			continue
		}
		if u, err := q.Get(consumed); err == nil {
			low = min(low, u.PhysOffset)
		} else {
			return 0 // unreadable: keep everything
		}
	}
	return low
}
