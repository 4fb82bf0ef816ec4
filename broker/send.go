package broker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/group"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// sendPrep is a send validated and turned into the records to store.
type sendPrep struct {
	start   time.Time
	h       transport.SendMessageRequestHeader
	batch   bool
	txn     bool
	props   []byte // a single send's properties
	records []byte // the records back to back, in a recordBufs buffer until add
	count   int    // records
	size    int
	uniq0   string // the first message's UNIQ_KEY (the single send's transactionId)
}

// recordBufs recycles the buffers sends build their records in. A batch's
// is as large as its request, and allocating (and zeroing) one per request
// cost the leader 4 % of its CPU under batched sends. A buffer goes back
// once add has copied it into the raft entry; nothing reads it after.
// Small and large buffers have pools of their own, so that single sends
// do not fill the pool batches draw from.
var recordBufs [2]sync.Pool // *[]byte

const (
	smallRecordBuf     = 16 << 10
	maxPooledRecordBuf = 4 << 20 // the rare huge batch's buffer is not kept
)

func recordPool(n int) *sync.Pool {
	if n <= smallRecordBuf {
		return &recordBufs[0]
	}
	return &recordBufs[1]
}

func getRecordBuf(n int) []byte {
	if v, ok := recordPool(n).Get().(*[]byte); ok && cap(*v) >= n {
		return (*v)[:0]
	}
	return make([]byte, 0, n)
}

func putRecordBuf(b []byte) {
	if cap(b) <= maxPooledRecordBuf {
		b = b[:0]
		recordPool(cap(b)).Put(&b)
	}
}

// handleSend serves SEND_MESSAGE, SEND_MESSAGE_V2 and SEND_BATCH_MESSAGE
// on a worker: what fastSend passes on (a follower's forwarding, a fresh
// leader's wait, topic auto-creation, a full send budget) and the reply
// path. The reply is sent only after the entry holding the message(s) is
// committed by a majority (and fdatasynced under SYNC_FLUSH) and applied.
func (b *Broker) handleSend(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	p := &sendPrep{start: time.Now()}
	if err := p.h.DecodeCommand(req); err != nil {
		return respond(transport.RespMessageIllegal, "bad send request header: %v", err)
	}
	b.noteRequester(c, req, &p.h)
	if !b.live.writeable() {
		return b.sendForbidden()
	}
	if !b.waitLeaderReady(ctx) {
		if b.g.RaftLeader() || b.isLeader() {
			return b.statusFromErr("send", ErrNotLeader)
		}
		return b.forward(ctx, c, req)
	}
	if resp := b.checkSend(req, p); resp != nil {
		return resp
	}
	tc, resp := b.topicForSend(ctx, &p.h)
	if resp != nil {
		return resp
	}
	if resp := b.buildSend(c, req, tc, p); resp != nil {
		return resp
	}
	wait := b.cfg.SendQueueWait
	if !b.pending.acquire(ctx, int64(p.size), wait) {
		return respond(transport.RespSystemBusy, "[TIMEOUT_CLEAN_QUEUE]broker busy: %d bytes of messages already wait for commit (sendMaxPendingBytes), waited %v; retry later",
			b.pending.limit, wait)
	}
	defer b.pending.release(int64(p.size))
	pr, err := b.g.Propose(ctx, p.size, p.add)
	return b.sendResult(p, pr, err)
}

// fastSend serves a send on the connection's reader when nothing in it
// has to wait: this member leads and serves, the topic exists and the
// send budget has room. It proposes the records without waiting, and the
// group's proposer answers once the entry is committed, with the same
// checks, order and answers as handleSend. Anything else it passes on to
// handleSend on a worker.
func (b *Broker) fastSend(c *transport.Conn, req *transport.Command, d transport.Deferred) bool {
	if !b.isLeader() {
		return false // forwarded, or a fresh leader's wait: on a worker
	}
	p := &sendPrep{start: time.Now()}
	if err := p.h.DecodeCommand(req); err != nil {
		d.Reply(respond(transport.RespMessageIllegal, "bad send request header: %v", err))
		return true
	}
	tc, ok := b.g.Topic(p.h.Topic)
	if !ok {
		return false // auto-creation proposes and waits
	}
	b.noteRequester(c, req, &p.h)
	if !b.live.writeable() {
		d.Reply(b.sendForbidden())
		return true
	}
	if resp := b.checkSend(req, p); resp != nil {
		d.Reply(resp)
		return true
	}
	if resp := b.buildSend(c, req, tc, p); resp != nil {
		d.Reply(resp)
		return true
	}
	if !b.pending.tryAcquire(int64(p.size)) {
		return false // the worker waits for room, up to sendQueueWait
	}
	err := b.g.ProposeAsync(p.size, p.add, func(pr group.Proposal, err error) {
		b.pending.release(int64(p.size))
		d.Reply(b.safeSendResult(p, pr, err))
	})
	if err != nil {
		b.pending.release(int64(p.size))
		d.Reply(b.sendResult(p, group.Proposal{}, err))
	}
	return true
}

func (b *Broker) sendForbidden() *transport.Command {
	return respond(transport.RespNoPermission, "the broker[%s] sending message is forbidden (brokerPermission %d)", b.clientAddr, b.live.perm.Load())
}

// checkSend validates a send before its topic is looked up.
func (b *Broker) checkSend(req *transport.Command, p *sendPrep) *transport.Command {
	h := &p.h
	if err := message.ValidateSendTopic(h.Topic); err != nil {
		return respond(transport.RespMessageIllegal, "%v", err)
	}
	if len(req.Body) > b.cfg.MaxMessageSize {
		return respond(transport.RespMessageIllegal, "the message body size over max value, MAX: %d (got %d bytes)", b.cfg.MaxMessageSize, len(req.Body))
	}
	if len(req.Body) == 0 && !emptyBodyAllowed(h) {
		return respond(transport.RespMessageIllegal, "the message body is empty")
	}
	p.batch = transport.RequestCode(req.Code) == transport.ReqSendBatchMessage
	if !p.batch {
		p.props = []byte(h.Properties) // converted once
	}
	// TRAN_MSG alone here; buildSend reads the rest in one pass (a
	// SendProps in sendPrep would make every send's allocation 250 B larger).
	p.txn = !p.batch && isTransactional(h.SysFlag, message.TranPrepared(p.props))
	if p.txn && b.g.OpenTxns() >= int(b.live.txnMaxOpen.Load()) {
		return respond(transport.RespSystemBusy, "[TRANSACTION]too many open transactions in this broker group (%d, transactionMaxOpen): commit or roll back first, or retry later", b.g.OpenTxns())
	}
	if p.batch && message.IsRetryTopic(h.Topic) {
		return respond(transport.RespMessageIllegal, "batch request does not support retry group %s", h.Topic)
	}
	if err := b.g.DiskRefusal(); err != nil {
		return b.statusFromErr("send", err)
	}
	return nil
}

// buildSend checks the send against its topic and builds its records.
func (b *Broker) buildSend(c *transport.Conn, req *transport.Command, tc fsm.TopicConfig, p *sendPrep) *transport.Command {
	h := &p.h
	if tc.Perm&transport.PermWrite == 0 {
		return respond(transport.RespNoPermission, "the topic[%s] sending message is forbidden", h.Topic)
	}
	if h.QueueID < 0 || h.QueueID >= tc.WriteQueueNums {
		return respond(transport.RespSystemError, "queueId[%d] is illegal, topic:[%s] topicConfig.writeQueueNums:[%d]", h.QueueID, h.Topic, tc.WriteQueueNums)
	}
	batch, txn, props := p.batch, p.txn, p.props
	born := b.bornHost(c, req)
	now := time.Now()
	var buf []byte // the request's records, back to back
	count := 0
	var uniq0 string // the first message's UNIQ_KEY (the single send's transactionId)
	size := 0
	// sp is props scanned; the rewrites below only append properties it
	// does not read again (CLUSTER, REAL_*, TIMER_DELIVER_MS, PGROUP,
	// TRAN_MSG), so its values hold for the record that is stored.
	add := func(flag int32, body, props []byte, sysFlag int32, sp *message.SendProps) error {
		topic, qid := h.Topic, h.QueueID
		props, err := b.stampRequest(props, sp)
		if err != nil {
			return err
		}
		due, timer, err := sp.TimerDue(now)
		if err != nil {
			return err
		}
		if batch && isTransactional(sysFlag, sp.TranPrepared()) {
			return errTxnInBatch
		}
		if txn {
			if timer || b.delayLevel(sp) > 0 {
				return errTxnDelayed
			}
			// Invisible until END_TRANSACTION commits it.
			if props, err = halfProps(props, topic, qid, h.ProducerGroup); err != nil {
				return err
			}
			topic, qid = message.TransHalfTopic, 0
			sysFlag = sysFlag&^message.SysFlagTransactionMask | message.SysFlagTransactionPrepared
		} else if timer {
			if b.delayLevel(sp) > 0 {
				return fmt.Errorf("%w: a message cannot have both a delay level (DELAY) and a delivery time (TIMER_*)", message.ErrTimer)
			}
			if wait := due.Sub(now); wait > 0 {
				if batch {
					return errTimerInBatch
				}
				if wait > time.Duration(b.live.timerMaxDelay.Load()) {
					return fmt.Errorf("%w: due in %v, more than timerMaxDelaySec (%v)", message.ErrTimer, wait.Round(time.Second), time.Duration(b.live.timerMaxDelay.Load()))
				}
				if props, err = timerProps(props, topic, qid, due); err != nil {
					return err
				}
				topic, qid = message.TimerTopic, message.TimerLevel(wait)
			}
			// Due already: delivered at once, as RocketMQ does.
		} else if level := b.delayLevel(sp); level > 0 {
			if batch {
				return errDelayInBatch
			}
			// Delayed: parked in the schedule queue of its level.
			var err error
			if props, err = scheduleProps(props, topic, qid); err != nil {
				return err
			}
			topic, qid = message.ScheduleTopic, int32(level-1)
		}
		u, ok := sp.UniqKey()
		if !ok || len(u) == 0 {
			// Batched messages come without one; every stored message gets
			// an id so it can be queried and deduplicated.
			key := b.uniq.Next()
			var err error
			if props, err = message.AppendProperty(append([]byte(nil), props...), message.PropertyUniqKey, key); err != nil {
				return err
			}
			u = []byte(key)
		}
		m := &message.MessageExt{
			Message:        message.Message{Topic: topic, Flag: flag, Body: body},
			QueueID:        qid,
			SysFlag:        sysFlag,
			BornTimestamp:  h.BornTimestamp,
			BornHost:       born,
			ReconsumeTimes: h.ReconsumeTimes,
		}
		b.stamp(m, now)
		start := len(buf)
		buf, err = message.AppendRecordWithProperties(buf, m, props)
		if err != nil {
			return err
		}
		if count++; count == 1 {
			uniq0 = string(u)
		}
		size += len(buf) - start
		return nil
	}
	if batch {
		items, err := message.DecodeBatch(req.Body)
		if err != nil {
			return respond(transport.RespMessageIllegal, "bad batch body: %v", err)
		}
		// The records: about the body plus a head each (properties the
		// broker adds, UNIQ_KEY, fit in the slack; more only grows it).
		buf = getRecordBuf(len(req.Body) + len(items)*message.RecordLen(0, len(h.Topic), 64, true, true))
		for i := range items {
			sp := message.ScanSendProps(items[i].Properties)
			if err := add(items[i].Flag, items[i].Body, items[i].Properties, h.SysFlag&^message.SysFlagCompressed, &sp); err != nil {
				return respond(transport.RespMessageIllegal, "batch message %d: %v", i, err)
			}
		}
	} else {
		buf = getRecordBuf(message.RecordLen(len(req.Body), len(h.Topic), len(h.Properties)+64, true, true))
		sp := message.ScanSendProps(props)
		if err := add(h.Flag, req.Body, props, h.SysFlag, &sp); err != nil {
			return respond(transport.RespMessageIllegal, "%v", err)
		}
	}

	p.records, p.count, p.size, p.uniq0 = buf, count, size, uniq0
	return nil
}

// add appends the send's records to the entry being built (the proposer
// calls it once) and recycles their buffer.
func (p *sendPrep) add(eb *fsm.EntryBuilder) error {
	eb.AddRecords(p.records)
	putRecordBuf(p.records)
	p.records = nil
	return nil
}

// safeSendResult is sendResult for the proposer's goroutine: a panic
// becomes an error response, so the request is answered (and released)
// whatever happens.
func (b *Broker) safeSendResult(p *sendPrep, pr group.Proposal, err error) (resp *transport.Command) {
	defer func() {
		if v := recover(); v != nil {
			b.logger.Error("building a send's response panicked", "panic", v, "stack", string(debug.Stack()))
			resp = respond(transport.RespSystemError, "internal error answering the send (it may be stored: check before resending)")
		}
	}()
	return b.sendResult(p, pr, err)
}

// sendResult is the response to a proposed send.
func (b *Broker) sendResult(p *sendPrep, pr group.Proposal, err error) *transport.Command {
	if err != nil {
		b.metrics.sendErrors.Inc()
		return b.statusFromErr("send", err)
	}
	ar, ok := pr.Result.(*fsm.AppendResult)
	if !ok || len(ar.PhysOffsets) != p.count {
		return b.statusFromErr("send", fmt.Errorf("unexpected apply result %T", pr.Result))
	}
	ids := make([]string, len(ar.PhysOffsets))
	for i, off := range ar.PhysOffsets {
		ids[i] = message.EncodeOffsetMsgID(b.storeHost, off)
	}
	rh := transport.SendMessageResponseHeader{
		MsgID:       strings.Join(ids, ","),
		QueueID:     ar.QueueID,
		QueueOffset: ar.QueueOffset,
		MsgRegion:   "DefaultRegion",
		TraceOn:     true,
	}
	if !p.batch {
		rh.TransactionID = p.uniq0
	}
	if p.txn {
		// The producer's queue, and the half message's offset in the half
		// queue (its END_TRANSACTION's tranStateTableOffset).
		rh.QueueID = p.h.QueueID
	}
	b.metrics.sent(p.count, p.size, p.h.Topic, time.Since(p.start))
	out := transport.NewResponse(transport.RespSuccess, "")
	rh.EncodeTo(out)
	return out
}

// stamp sets what only the leader knows when it stores a message: the
// store time and its own address. It is stamped into the record before
// the entry is proposed, so every replica applies the same bytes.
func (b *Broker) stamp(m *message.MessageExt, now time.Time) {
	m.StoreTimestamp = now.UnixMilli()
	m.StoreHost = b.storeHost
}

var (
	errDelayInBatch = errors.New("delayed messages (property DELAY) cannot be sent in a batch; send them one by one")
	errTimerInBatch = errors.New("timer messages (TIMER_* properties) cannot be sent in a batch; send them one by one")
)

func (b *Broker) bornHost(c *transport.Conn, req *transport.Command) netip.AddrPort {
	if s := req.Ext(transport.ExtBornHost); s != "" {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			return ap
		}
	}
	if c != nil {
		if ap, ok := c.RemoteAddrPort(); ok {
			return ap
		}
	}
	return netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
}

// topicForSend returns the topic's config, creating it from the template
// when auto-creation is on (the official producer sends to a topic the
// NameServer does not know yet using TBW102's route).
func (b *Broker) topicForSend(ctx context.Context, h *transport.SendMessageRequestHeader) (fsm.TopicConfig, *transport.Command) {
	if tc, ok := b.g.Topic(h.Topic); ok {
		return tc, nil
	}
	retry := message.IsRetryTopic(h.Topic) || message.IsDLQTopic(h.Topic)
	if !b.live.autoCreateTopic.Load() && !retry {
		return fsm.TopicConfig{}, respond(transport.RespTopicNotExist,
			"topic[%s] not exist, apply first please! (autoCreateTopicEnable=false; create it with: raftmq admin updateTopic -t %s)", h.Topic, h.Topic)
	}
	// The queue count comes from configuration, never from the request:
	// a queueId outside it is refused below like any other.
	n := int32(b.cfg.DefaultTopicQueueNums)
	if h.DefaultTopicQueueNums > 0 && h.DefaultTopicQueueNums < n {
		n = h.DefaultTopicQueueNums
	}
	if retry {
		n = 1
	}
	tc := fsm.TopicConfig{TopicName: h.Topic, ReadQueueNums: n, WriteQueueNums: n,
		Perm: transport.PermRead | transport.PermWrite, TopicFilterType: "SINGLE_TAG"}
	got, err := b.proposeTopic(ctx, tc, true)
	if err != nil {
		return fsm.TopicConfig{}, b.statusFromErr("create topic "+h.Topic, err)
	}
	b.logger.Info("auto-created topic", "topic", h.Topic, "queues", got.WriteQueueNums)
	return got, nil
}

// proposeTopic creates (createOnly) or updates a topic through raft and
// re-registers with the NameServers.
func (b *Broker) proposeTopic(ctx context.Context, tc fsm.TopicConfig, createOnly bool) (fsm.TopicConfig, error) {
	pr, err := b.g.Propose(ctx, 256, func(eb *fsm.EntryBuilder) error {
		return eb.AddJSON(fsm.CmdTopic, fsm.TopicCommand{Config: tc, CreateOnly: createOnly})
	})
	if err != nil {
		return fsm.TopicConfig{}, err
	}
	got, ok := pr.Result.(*fsm.TopicConfig)
	if !ok {
		return fsm.TopicConfig{}, fmt.Errorf("broker: unexpected topic result %T", pr.Result)
	}
	b.kickRegister()
	return *got, nil
}

func toWireTopic(tc fsm.TopicConfig) transport.TopicConfig {
	return transport.TopicConfig{TopicName: tc.TopicName, ReadQueueNums: tc.ReadQueueNums, WriteQueueNums: tc.WriteQueueNums,
		Perm: tc.Perm, TopicFilterType: orDefault(tc.TopicFilterType, "SINGLE_TAG"), TopicSysFlag: tc.TopicSysFlag, Order: tc.Order, Attributes: tc.Attributes}
}

func fromWireTopic(tc transport.TopicConfig) fsm.TopicConfig {
	return fsm.TopicConfig{TopicName: tc.TopicName, ReadQueueNums: tc.ReadQueueNums, WriteQueueNums: tc.WriteQueueNums,
		Perm: tc.Perm, TopicFilterType: tc.TopicFilterType, TopicSysFlag: tc.TopicSysFlag, Order: tc.Order, Attributes: tc.Attributes}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
