package broker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// handleSend serves SEND_MESSAGE, SEND_MESSAGE_V2 and SEND_BATCH_MESSAGE.
// The reply is sent only after the entry holding the message(s) is
// committed by a majority (and fdatasynced under SYNC_FLUSH) and applied.
func (b *Broker) handleSend(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	start := time.Now()
	code := transport.RequestCode(req.Code)
	var h transport.SendMessageRequestHeader
	if err := h.DecodeCommand(req); err != nil {
		return respond(transport.RespMessageIllegal, "bad send request header: %v", err)
	}
	b.noteRequester(c, req, &h)
	if !b.live.writeable() {
		return respond(transport.RespNoPermission, "the broker[%s] sending message is forbidden (brokerPermission %d)", b.clientAddr, b.live.perm.Load())
	}
	if !b.waitLeaderReady(ctx) {
		if b.g.RaftLeader() || b.isLeader() {
			return b.statusFromErr("send", ErrNotLeader)
		}
		return b.forward(ctx, c, req)
	}
	if err := message.ValidateSendTopic(h.Topic); err != nil {
		return respond(transport.RespMessageIllegal, "%v", err)
	}
	if len(req.Body) > b.cfg.MaxMessageSize {
		return respond(transport.RespMessageIllegal, "the message body size over max value, MAX: %d (got %d bytes)", b.cfg.MaxMessageSize, len(req.Body))
	}
	if len(req.Body) == 0 && !emptyBodyAllowed(&h) {
		return respond(transport.RespMessageIllegal, "the message body is empty")
	}
	batch := code == transport.ReqSendBatchMessage
	var props []byte // a single send's properties, converted once
	if !batch {
		props = []byte(h.Properties)
	}
	txn := !batch && isTransactional(h.SysFlag, props)
	if txn && b.g.OpenTxns() >= int(b.live.txnMaxOpen.Load()) {
		return respond(transport.RespSystemBusy, "[TRANSACTION]too many open transactions in this broker group (%d, transactionMaxOpen): commit or roll back first, or retry later", b.g.OpenTxns())
	}
	if batch && message.IsRetryTopic(h.Topic) {
		return respond(transport.RespMessageIllegal, "batch request does not support retry group %s", h.Topic)
	}
	if err := b.g.DiskRefusal(); err != nil {
		return b.statusFromErr("send", err)
	}
	tc, resp := b.topicForSend(ctx, &h)
	if resp != nil {
		return resp
	}
	if tc.Perm&transport.PermWrite == 0 {
		return respond(transport.RespNoPermission, "the topic[%s] sending message is forbidden", h.Topic)
	}
	if h.QueueID < 0 || h.QueueID >= tc.WriteQueueNums {
		return respond(transport.RespSystemError, "queueId[%d] is illegal, topic:[%s] topicConfig.writeQueueNums:[%d]", h.QueueID, h.Topic, tc.WriteQueueNums)
	}

	born := b.bornHost(c, req)
	now := time.Now()
	var records [][]byte
	var buf []byte   // the request's records, back to back: one allocation, not one each
	var uniq0 string // the first message's UNIQ_KEY (the single send's transactionId)
	size := 0
	add := func(flag int32, body, props []byte, sysFlag int32) error {
		topic, qid := h.Topic, h.QueueID
		props, err := b.stampRequest(props)
		if err != nil {
			return err
		}
		due, timer, err := message.TimerDue(props, now)
		if err != nil {
			return err
		}
		if batch && isTransactional(sysFlag, props) {
			return errTxnInBatch
		}
		if txn {
			if timer || b.delayLevel(props) > 0 {
				return errTxnDelayed
			}
			// Invisible until END_TRANSACTION commits it.
			if props, err = halfProps(props, topic, qid, h.ProducerGroup); err != nil {
				return err
			}
			topic, qid = message.TransHalfTopic, 0
			sysFlag = sysFlag&^message.SysFlagTransactionMask | message.SysFlagTransactionPrepared
		} else if timer {
			if b.delayLevel(props) > 0 {
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
		} else if level := b.delayLevel(props); level > 0 {
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
		u, ok := message.LookupProperty(props, message.PropertyUniqKey)
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
		rec := buf[start:len(buf):len(buf)]
		records = append(records, rec)
		if len(records) == 1 {
			uniq0 = string(u)
		}
		size += len(rec)
		return nil
	}
	if batch {
		items, err := message.DecodeBatch(req.Body)
		if err != nil {
			return respond(transport.RespMessageIllegal, "bad batch body: %v", err)
		}
		// The records: about the body plus a head each (properties the
		// broker adds, UNIQ_KEY, fit in the slack; more only grows it).
		buf = make([]byte, 0, len(req.Body)+len(items)*message.RecordLen(0, len(h.Topic), 64, true, true))
		for i := range items {
			if err := add(items[i].Flag, items[i].Body, items[i].Properties, h.SysFlag&^message.SysFlagCompressed); err != nil {
				return respond(transport.RespMessageIllegal, "batch message %d: %v", i, err)
			}
		}
	} else {
		buf = make([]byte, 0, message.RecordLen(len(req.Body), len(h.Topic), len(h.Properties)+64, true, true))
		if err := add(h.Flag, req.Body, props, h.SysFlag); err != nil {
			return respond(transport.RespMessageIllegal, "%v", err)
		}
	}

	wait := b.cfg.SendQueueWait
	if !b.pending.acquire(ctx, int64(size), wait) {
		return respond(transport.RespSystemBusy, "[TIMEOUT_CLEAN_QUEUE]broker busy: %d bytes of messages already wait for commit (sendMaxPendingBytes), waited %v; retry later",
			b.pending.limit, wait)
	}
	defer b.pending.release(int64(size))
	pr, err := b.g.Propose(ctx, size, func(eb *fsm.EntryBuilder) error {
		eb.AddRecords(records...)
		return nil
	})
	if err != nil {
		b.metrics.sendErrors.Inc()
		return b.statusFromErr("send", err)
	}
	ar, ok := pr.Result.(*fsm.AppendResult)
	if !ok || len(ar.PhysOffsets) != len(records) {
		return b.statusFromErr("send", fmt.Errorf("unexpected apply result %T", pr.Result))
	}
	ids := make([]string, len(ar.PhysOffsets))
	for i, p := range ar.PhysOffsets {
		ids[i] = message.EncodeOffsetMsgID(b.storeHost, p)
	}
	rh := transport.SendMessageResponseHeader{
		MsgID:       strings.Join(ids, ","),
		QueueID:     ar.QueueID,
		QueueOffset: ar.QueueOffset,
		MsgRegion:   "DefaultRegion",
		TraceOn:     true,
	}
	if !batch {
		rh.TransactionID = uniq0
	}
	if txn {
		// The producer's queue, and the half message's offset in the half
		// queue (its END_TRANSACTION's tranStateTableOffset).
		rh.QueueID = h.QueueID
	}
	b.metrics.sent(len(records), size, h.Topic, time.Since(start))
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
