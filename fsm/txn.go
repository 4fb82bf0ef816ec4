package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/raftmq/raftmq/message"
)

// Transactions (RocketMQ half messages). A half message is an ordinary
// append to message.TransHalfTopic queue 0; applying it opens a
// transaction keyed by the half message's CommitLog offset (what the
// producer echoes back in END_TRANSACTION). The open transactions are
// replicated state (State.Txns), so every member knows which are still
// undecided and how often each was checked; RocketMQ's op topic is not
// needed. A CmdTxn "end" closes one; it carries the commands right after
// it in its entry (With: the commit's message, a CmdAppend), and when it
// is rejected (the transaction is not open: unknown, or ended by a racing
// END_TRANSACTION or check-back) those are rejected too, so a committed
// message is stored at most once. (An entry may hold several proposals:
// With scopes the rejection to this one.)

// Transaction outcomes (TxnCommand.Outcome).
const (
	TxnCommit   = "commit"
	TxnRollback = "rollback"
	// TxnDiscard: checked transactionCheckMax times without an answer.
	TxnDiscard = "discard"
)

// Transaction command operations (TxnCommand.Op).
const (
	TxnOpEnd   = "end"
	TxnOpCheck = "check"
)

// ErrTxnNotOpen rejects a CmdTxn for a transaction that is not open.
var ErrTxnNotOpen = errors.New("no open transaction at this commitlog offset (unknown, or already ended)")

// maxTxnChecks bounds one check command.
const maxTxnChecks = 4096

// TxnCommand is the CmdTxn payload.
type TxnCommand struct {
	Op string `json:"op"`
	// Half is the half message's CommitLog offset (end).
	Half    int64  `json:"half,omitempty"`
	Outcome string `json:"outcome,omitempty"`
	// With is how many commands after this one belong to this end and
	// are rejected with it.
	With int `json:"with,omitempty"`
	// Checked lists the transactions a check-back pass asked about, At
	// when (leader's clock, ms).
	Checked []int64 `json:"checked,omitempty"`
	At      int64   `json:"at,omitempty"`
}

// TxnState is one open transaction.
type TxnState struct {
	// Half is the half message's CommitLog offset; QueueOffset its
	// offset in the half queue (the producer's tranStateTableOffset).
	Half          int64  `json:"half"`
	Size          int32  `json:"size"`
	QueueOffset   int64  `json:"queueOffset"`
	ProducerGroup string `json:"producerGroup"`
	Topic         string `json:"topic"`
	QueueID       int32  `json:"queueId"`
	StoreTime     int64  `json:"storeTime"`
	Checks        int    `json:"checks,omitempty"`
	LastCheck     int64  `json:"lastCheck,omitempty"`
}

// openTxn records the half message rec (applied at phys, queue offset qo).
// Caller holds f.mu.
func (f *FSM) openTxn(v *message.RecordView, phys, qo int64) {
	t := &TxnState{Half: phys, Size: v.Size, QueueOffset: qo, StoreTime: v.StoreTimestamp}
	if p, ok := v.Property(message.PropertyProducerGroup); ok {
		t.ProducerGroup = string(p)
	}
	if p, ok := v.Property(message.PropertyRealTopic); ok {
		t.Topic = string(p)
	}
	if p, ok := v.Property(message.PropertyRealQueueID); ok {
		if n, err := strconv.ParseInt(string(p), 10, 32); err == nil {
			t.QueueID = int32(n)
		}
	}
	f.txns[phys] = t
}

// ErrStaleAdvance rejects a CmdAdvance whose offset moved meanwhile.
var ErrStaleAdvance = errors.New("the offset is not where the move expected it")

// maxWith bounds the commands a guard carries (a scheduler entry moves up
// to 256 messages).
const maxWith = 1024

// guardWith is the With of a CmdTxn or CmdAdvance payload: how many
// commands after it are rejected with it (0 if it does not decode).
func guardWith(c Command) int {
	var w struct {
		With int `json:"with"`
	}
	if json.Unmarshal(c.Payload, &w) != nil || w.With < 0 {
		return 0
	}
	return min(w.With, maxWith)
}

// applyTxn applies a CmdTxn. Caller holds f.mu.
func (f *FSM) applyTxn(p []byte) (any, error) {
	var tc TxnCommand
	if err := json.Unmarshal(p, &tc); err != nil {
		return nil, fmt.Errorf("txn payload: %w", err)
	}
	switch tc.Op {
	case TxnOpEnd:
		switch tc.Outcome {
		case TxnCommit, TxnRollback, TxnDiscard:
		default:
			return nil, fmt.Errorf("txn: unknown outcome %q", tc.Outcome)
		}
		t := f.txns[tc.Half]
		if t == nil {
			return nil, ErrTxnNotOpen
		}
		delete(f.txns, tc.Half)
		cp := *t
		return &cp, nil
	case TxnOpCheck:
		if len(tc.Checked) > maxTxnChecks {
			return nil, fmt.Errorf("txn: %d checks in one command (max %d)", len(tc.Checked), maxTxnChecks)
		}
		for _, h := range tc.Checked {
			if t := f.txns[h]; t != nil {
				t.Checks++
				t.LastCheck = tc.At
			}
		}
		return nil, nil
	}
	return nil, fmt.Errorf("txn: unknown op %q", tc.Op)
}

// Txn returns the open transaction whose half message is at phys.
func (f *FSM) Txn(phys int64) (TxnState, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if t := f.txns[phys]; t != nil {
		return *t, true
	}
	return TxnState{}, false
}

// Txns returns the open transactions in half message order.
func (f *FSM) Txns() []TxnState {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.txnsLocked()
}

func (f *FSM) txnsLocked() []TxnState {
	out := make([]TxnState, 0, len(f.txns))
	for _, t := range f.txns {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b TxnState) int { return int(min(max(a.Half-b.Half, -1), 1)) })
	return out
}

// OpenTxns is the number of open transactions.
func (f *FSM) OpenTxns() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.txns)
}

// lowestOpenTxn is the CommitLog offset of the oldest open half message
// (math.MaxInt64 if none): retention keeps it. Caller holds f.mu.
func (f *FSM) lowestOpenTxn() int64 {
	low := int64(math.MaxInt64)
	for h := range f.txns {
		low = min(low, h)
	}
	return low
}

func (f *FSM) adoptTxns(ts []TxnState) {
	f.txns = make(map[int64]*TxnState, len(ts))
	for i := range ts {
		t := ts[i]
		f.txns[t.Half] = &t
	}
}
