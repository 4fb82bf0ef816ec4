package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// Transactional messages (RocketMQ's two-phase send). A send with
// TRAN_MSG=true stores a half message in RMQ_SYS_TRANS_HALF_TOPIC queue 0,
// its real topic and queue in REAL_TOPIC/REAL_QID, invisible to consumers;
// applying it opens a transaction in the replicated state (fsm/txn.go).
// END_TRANSACTION commits (the real message and the end of the transaction
// are one raft entry, and the FSM stores the message only if the
// transaction was still open) or rolls back. The leader checks back with a
// live producer of the group (CHECK_TRANSACTION_STATE, over whichever
// member holds its connection) for transactions open longer than
// transactionTimeOut, every transactionCheckInterval, and after
// transactionCheckMax checks moves the half message to
// TRANS_CHECK_MAX_TIME_TOPIC. Check counts are replicated before the
// checks go out, so a new leader resumes where the old one stopped.

// isTransactional reports whether a send is a half message: by its
// sysFlag, or by TRAN_MSG=true (tranPrepared).
func isTransactional(sysFlag int32, tranPrepared bool) bool {
	return sysFlag&message.SysFlagTransactionMask == message.SysFlagTransactionPrepared || tranPrepared
}

var (
	errTxnInBatch = errors.New("transactional messages (TRAN_MSG) cannot be sent in a batch; send them one by one")
	errTxnDelayed = errors.New("a transactional message cannot be delayed (DELAY or TIMER_*)")
)

// halfProps rewrites a half message's properties: where it goes once
// committed, and its producer group (the check-back asks that group).
func halfProps(props []byte, topic string, qid int32, producerGroup string) ([]byte, error) {
	p, err := scheduleProps(props, topic, qid)
	if err != nil {
		return nil, err
	}
	if v, ok := message.LookupProperty(props, message.PropertyProducerGroup); !ok || len(v) == 0 {
		if p, err = message.AppendProperty(p, message.PropertyProducerGroup, producerGroup); err != nil {
			return nil, err
		}
	}
	if !message.TranPrepared(props) {
		return message.AppendProperty(p, message.PropertyTransactionPrepared, "true")
	}
	return p, nil
}

// handleEndTransaction serves END_TRANSACTION (37). The official clients
// send it oneway; the response matters for ours and for the logs.
func (b *Broker) handleEndTransaction(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.EndTransactionRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad end transaction header: %v", err)
	}
	if !b.waitLeaderReady(ctx) {
		if b.g.RaftLeader() || b.isLeader() {
			return b.statusFromErr("end transaction", ErrNotLeader)
		}
		return b.forward(ctx, c, req)
	}
	var outcome string
	switch h.CommitOrRollback {
	case transport.TransactionCommitType:
		outcome = fsm.TxnCommit
	case transport.TransactionRollbackType:
		outcome = fsm.TxnRollback
	case transport.TransactionNotType:
		// UNKNOW: the producer does not know yet; the check-back asks again.
		b.logger.Debug("transaction state unknown; it will be checked back", "producerGroup", h.ProducerGroup,
			"commitLogOffset", h.CommitLogOffset, "fromCheck", h.FromTransactionCheck, "remark", req.Remark)
		return transport.NewResponse(transport.RespSuccess, "")
	default:
		return respond(transport.RespInvalidParameter, "commitOrRollback %d: want 8 (commit), 12 (rollback) or 0 (unknown)", h.CommitOrRollback)
	}
	t, ok := b.g.Txn(h.CommitLogOffset)
	if !ok {
		return respond(transport.RespSystemError, "no open transaction with its half message at commitLogOffset %d (unknown, or already committed or rolled back)", h.CommitLogOffset)
	}
	if t.ProducerGroup != h.ProducerGroup {
		return respond(transport.RespSystemError, "the producer group wrong: the half message at commitLogOffset %d belongs to %q, not %q", h.CommitLogOffset, t.ProducerGroup, h.ProducerGroup)
	}
	if t.QueueOffset != h.TranStateTableOffset {
		return respond(transport.RespSystemError, "tranStateTableOffset %d does not match the half message at commitLogOffset %d (queue offset %d)", h.TranStateTableOffset, h.CommitLogOffset, t.QueueOffset)
	}
	if err := b.endTxn(ctx, t, outcome); err != nil {
		if errors.Is(err, fsm.ErrTxnNotOpen) {
			return respond(transport.RespSystemError, "the transaction at commitLogOffset %d was ended meanwhile", h.CommitLogOffset)
		}
		return b.statusFromErr("end transaction", err)
	}
	b.metrics.txnEnded(outcome)
	return transport.NewResponse(transport.RespSuccess, "")
}

// endTxn ends t: the commit's message (or the discarded copy) and the end
// are one raft entry, and the FSM drops the message if t is no longer
// open (fsm.ErrTxnNotOpen).
func (b *Broker) endTxn(ctx context.Context, t fsm.TxnState, outcome string) error {
	var rec []byte
	if outcome != fsm.TxnRollback {
		var err error
		if rec, err = b.txnRecord(t, outcome); err != nil {
			if outcome == fsm.TxnDiscard {
				// The half message is gone (retention forced): end it
				// without a copy rather than checking it forever.
				b.logger.Error("discarding a transaction whose half message cannot be read", "commitLogOffset", t.Half, "error", err)
				rec = nil
			} else {
				return err
			}
		}
	}
	with := 0
	if rec != nil {
		with = 1
	}
	_, err := b.g.Propose(ctx, len(rec)+128, func(eb *fsm.EntryBuilder) error {
		if err := eb.AddJSON(fsm.CmdTxn, fsm.TxnCommand{Op: fsm.TxnOpEnd, Half: t.Half, Outcome: outcome, With: with}); err != nil {
			return err
		}
		if rec != nil {
			eb.AddRecords(rec)
		}
		return nil
	})
	var rej *fsm.RejectedError
	if errors.As(err, &rej) && rej.Cmd == fsm.CmdTxn {
		return fmt.Errorf("%w: %s", fsm.ErrTxnNotOpen, rej.Reason)
	}
	return err
}

// txnRecord builds the record a transaction's end stores: the real message
// (commit) or a copy in TRANS_CHECK_MAX_TIME_TOPIC (discard).
func (b *Broker) txnRecord(t fsm.TxnState, outcome string) ([]byte, error) {
	raw, err := b.g.ReadMessage(nil, t.Half, t.Size)
	if err != nil {
		return nil, fmt.Errorf("read half message at %d: %w", t.Half, err)
	}
	m, _, err := message.DecodeRecord(raw)
	if err != nil {
		return nil, fmt.Errorf("half message at %d: %w", t.Half, err)
	}
	if m.Topic != message.TransHalfTopic {
		return nil, fmt.Errorf("commitlog offset %d holds a message of %s, not a half message", t.Half, m.Topic)
	}
	props := m.Properties
	props[message.PropertyTranPreparedQueueOff] = strconv.FormatInt(t.QueueOffset, 10)
	if outcome == fsm.TxnDiscard {
		props[message.PropertyTransactionCheckTime] = strconv.Itoa(t.Checks)
		if _, ok := b.g.Topic(message.TransCheckMaxTopic); !ok {
			// A topic, as in RocketMQ, so operators can read what was discarded.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			tc := fsm.TopicConfig{TopicName: message.TransCheckMaxTopic, ReadQueueNums: 1, WriteQueueNums: 1, Perm: transport.PermRead | transport.PermWrite}
			if _, err := b.proposeTopic(ctx, tc, true); err != nil {
				return nil, err
			}
		}
		out := *m
		out.Topic, out.QueueID = message.TransCheckMaxTopic, 0
		b.stamp(&out, time.Now())
		return message.AppendRecord(nil, &out)
	}
	delete(props, message.PropertyTransactionPrepared)
	delete(props, message.PropertyTransactionCheckTime)
	m.SysFlag = m.SysFlag&^message.SysFlagTransactionMask | message.SysFlagTransactionCommit
	return b.realMessage(m)
}

// txnCheckPass runs on every node and works while this node leads: it
// checks back the transactions open longer than transactionTimeOut (and
// not checked within transactionCheckInterval) and discards those checked
// transactionCheckMax times.
func (b *Broker) txnCheckPass(now time.Time) {
	if !b.isLeader() || b.g.DiskRefusal() != nil || b.g.OpenTxns() == 0 {
		return
	}
	if b.g.PartialHistory() {
		return // half messages before the installed snapshot are not here yet: a check would count without asking
	}
	nowMS := now.UnixMilli()
	var due, discard []fsm.TxnState
	for _, t := range b.g.Txns() {
		if nowMS-t.StoreTime < time.Duration(b.live.txnTimeout.Load()).Milliseconds() ||
			(t.LastCheck > 0 && nowMS-t.LastCheck < time.Duration(b.live.txnCheckInterval.Load()).Milliseconds()) {
			continue
		}
		if t.Checks >= int(b.live.txnCheckMax.Load()) {
			discard = append(discard, t)
		} else if len(due) < 4096 {
			due = append(due, t)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, t := range discard {
		if err := b.endTxn(ctx, t, fsm.TxnDiscard); err != nil {
			if !errors.Is(err, fsm.ErrTxnNotOpen) && !notLeading(err) {
				b.logger.Warn("cannot discard a transaction; will retry", "commitLogOffset", t.Half, "error", err)
			}
			continue
		}
		b.metrics.txnEnded(fsm.TxnDiscard)
		b.logger.Warn("transaction discarded after the maximum number of check-backs (moved to "+message.TransCheckMaxTopic+")",
			"topic", t.Topic, "producerGroup", t.ProducerGroup, "commitLogOffset", t.Half, "checks", t.Checks,
			"open_for", time.Duration(nowMS-t.StoreTime)*time.Millisecond)
	}
	if len(due) == 0 {
		return
	}
	// The count goes through raft before the checks go out: a failover
	// may repeat a check (the producer answers twice; the second end is
	// refused) but never loses count.
	halves := make([]int64, len(due))
	for i, t := range due {
		halves[i] = t.Half
	}
	if _, err := b.g.Propose(ctx, 64+len(halves)*20, func(eb *fsm.EntryBuilder) error {
		return eb.AddJSON(fsm.CmdTxn, fsm.TxnCommand{Op: fsm.TxnOpCheck, Checked: halves, At: nowMS})
	}); err != nil {
		if !notLeading(err) {
			b.logger.Warn("cannot record transaction checks; will retry", "error", err)
		}
		return
	}
	// Each check has its own deadline, and up to checkWorkers go out at
	// once, so that one unreachable member cannot starve the others of
	// their (counted) check.
	work := make(chan fsm.TxnState)
	var wg sync.WaitGroup
	for range min(checkWorkers, len(due)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				cctx, ccancel := context.WithTimeout(context.Background(), checkTimeout)
				err := b.checkBack(cctx, t)
				ccancel()
				if err != nil {
					b.logger.Info("transaction check-back not delivered", "topic", t.Topic, "producerGroup", t.ProducerGroup,
						"commitLogOffset", t.Half, "check", t.Checks+1, "error", err)
				}
				b.metrics.txnChecks.Inc()
			}
		}()
	}
	for _, t := range due {
		work <- t
	}
	close(work)
	wg.Wait()
}

const (
	checkWorkers = 16
	checkTimeout = 2 * time.Second
)

func notLeading(err error) bool {
	return errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, ErrNotLeader)
}

// checkBack asks a live producer of t's group for its state. The body is
// the half message as the real one (topic and queue restored), as
// RocketMQ sends it; the producer answers with END_TRANSACTION.
func (b *Broker) checkBack(ctx context.Context, t fsm.TxnState) error {
	raw, err := b.g.ReadMessage(nil, t.Half, t.Size)
	if err != nil {
		return err
	}
	m, _, err := message.DecodeRecord(raw)
	if err != nil {
		return err
	}
	m.Topic, m.QueueID = t.Topic, t.QueueID
	m.QueueOffset, m.CommitLogOffset = t.QueueOffset, t.Half
	m.Properties[message.PropertyTransactionCheckTime] = strconv.Itoa(t.Checks + 1)
	body, err := message.AppendRecord(nil, m)
	if err != nil {
		return err
	}
	uniq := m.Properties[message.PropertyUniqKey]
	h := transport.CheckTransactionStateRequestHeader{TranStateTableOffset: t.QueueOffset, CommitLogOffset: t.Half,
		MsgID: uniq, TransactionID: uniq, OffsetMsgID: message.EncodeOffsetMsgID(b.storeHost, t.Half), BrokerName: b.cfg.BrokerName}
	_, err = b.push(ctx, pushTarget{producerGroup: t.ProducerGroup}, transport.NewRequest(transport.ReqCheckTransactionState, h.Encode(), body), false)
	return err
}

// handleListTransactions serves ReqListTransactions: the open
// transactions (of "topic", if set) with their check counts.
func (b *Broker) handleListTransactions(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	if !b.waitLeaderReady(ctx) && !b.g.RaftLeader() {
		return b.forward(ctx, c, req)
	}
	topic := req.Ext("topic")
	limit := 1000
	if s := req.Ext("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return respond(transport.RespInvalidParameter, "limit %q: want a positive number", s)
		}
		limit = min(n, 100000)
	}
	out := transport.TransactionList{Open: b.g.OpenTxns(), Transactions: []transport.OpenTransaction{}}
	for _, t := range b.g.Txns() {
		if topic != "" && t.Topic != topic {
			continue
		}
		if len(out.Transactions) == limit {
			out.Truncated = true
			break
		}
		ot := transport.OpenTransaction{Topic: t.Topic, QueueID: t.QueueID, ProducerGroup: t.ProducerGroup, CommitLogOffset: t.Half,
			TranStateTableOffset: t.QueueOffset, OffsetMsgID: message.EncodeOffsetMsgID(b.storeHost, t.Half),
			StoreTimestamp: t.StoreTime, Checks: t.Checks, LastCheck: t.LastCheck}
		if raw, err := b.g.ReadMessage(nil, t.Half, t.Size); err == nil {
			if v, err := message.ParseRecord(raw); err == nil {
				if u, ok := v.Property(message.PropertyUniqKey); ok {
					ot.MsgID = string(u)
				}
				if k, ok := v.Property(message.PropertyKeys); ok {
					ot.Keys = string(k)
				}
			}
		}
		out.Transactions = append(out.Transactions, ot)
	}
	return okBody(out)
}
