package broker

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// Reading stored messages (by offset, by key) and sending a message back
// for a later retry (CONSUMER_SEND_MSG_BACK).

// readRecord reads the stored record at a commitlog offset (bounded by the
// applied index) and patches in its physical offset and, when the queue
// still has it, its queue offset.
func (b *Broker) readRecord(phys int64) ([]byte, *message.RecordView, error) {
	head, err := b.g.ReadMessage(nil, phys, 4)
	if err != nil {
		return nil, nil, err
	}
	size := int32(binary.BigEndian.Uint32(head))
	if size < message.MinRecordSize || int(size) > b.cfg.MaxMessageSize+1<<16 {
		return nil, nil, fmt.Errorf("%w at commitlog offset %d", errNoMessage, phys)
	}
	rec, err := b.g.ReadMessage(nil, phys, size)
	if err != nil {
		return nil, nil, err
	}
	v, err := message.ParseRecord(rec)
	if err != nil {
		return nil, nil, fmt.Errorf("%w at commitlog offset %d: %w", errNoMessage, phys, err)
	}
	message.SetRecordPhysOffset(rec, phys)
	if off, ok := b.g.QueueOffsetOf(string(v.Topic), v.QueueID, phys); ok {
		message.SetRecordQueueOffset(rec, off)
		v.QueueOffset = off
	}
	v.PhysOffset = phys
	return rec, &v, nil
}

func (b *Broker) handleViewMessage(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.ViewMessageRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad view message header: %v", err)
	}
	rec, _, err := b.readRecord(h.Offset)
	if err != nil {
		return b.statusFromErr(fmt.Sprintf("can not find message by the offset %d", h.Offset), err)
	}
	r := transport.NewResponse(transport.RespSuccess, "")
	r.Body = rec
	return r
}

func (b *Broker) handleQueryMessage(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.QueryMessageRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad query message header: %v", err)
	}
	maxNum := int(h.MaxNum)
	if maxNum <= 0 || maxNum > 64 {
		maxNum = 64
	}
	end := h.EndTimestamp
	if end <= 0 {
		end = 1<<63 - 1
	}
	var body []byte
	found := 0
	for _, phys := range b.g.QueryIndex(h.Topic, h.Key, maxNum*4, h.BeginTimestamp, end) {
		rec, v, err := b.readRecord(phys)
		if err != nil || string(v.Topic) != h.Topic {
			continue // removed by retention, or a hash collision
		}
		uk, _ := v.Property(message.PropertyUniqKey)
		keys, _ := v.Property(message.PropertyKeys)
		match := string(uk) == h.Key
		for _, k := range strings.Fields(string(keys)) {
			match = match || k == h.Key
		}
		if !match {
			continue
		}
		body = append(body, rec...)
		if found++; found >= maxNum {
			break
		}
	}
	if found == 0 {
		return respond(transport.RespQueryNotFound, "can not find message, maybe time range not correct (topic %s, key %s)", h.Topic, h.Key)
	}
	r := transport.NewResponse(transport.RespSuccess, "")
	r.ExtFields = (&transport.QueryMessageResponseHeader{IndexLastUpdateTimestamp: time.Now().UnixMilli(),
		IndexLastUpdatePhyoffset: b.commitLogEnd()}).Encode()
	r.Body = body
	return r
}

// handleSendBack stores a copy of a message the consumer could not process
// in the group's %RETRY% topic (or %DLQ% once it was retried
// maxReconsumeTimes), as RocketMQ's CONSUMER_SEND_MSG_BACK does.
func (b *Broker) handleSendBack(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.ConsumerSendMsgBackRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad send back header: %v", err)
	}
	if _, err := retryTopicFor(h.Group, false); err != nil {
		return invalidName(err)
	}
	if !b.waitLeaderReady(ctx) {
		return b.forward(ctx, c, req)
	}
	if err := b.g.DiskRefusal(); err != nil {
		return b.statusFromErr("send back", err)
	}
	rec, _, err := b.readRecord(h.Offset)
	if err != nil {
		return b.statusFromErr(fmt.Sprintf("send back: look message by offset %d", h.Offset), err)
	}
	m, _, err := message.DecodeRecord(rec)
	if err != nil {
		return b.statusFromErr(fmt.Sprintf("send back: decode message at %d", h.Offset), fmt.Errorf("%w: %w", errNoMessage, err))
	}
	maxTimes := h.MaxReconsumeTimes
	if maxTimes <= 0 {
		maxTimes = 16
		if g, ok := b.g.Group(h.Group); ok && g.RetryMaxTimes > 0 {
			maxTimes = g.RetryMaxTimes
		}
	}
	dlq := m.ReconsumeTimes >= maxTimes || h.DelayLevel < 0
	topic, err := retryTopicFor(h.Group, dlq)
	if err != nil {
		return invalidName(err)
	}
	delay := h.DelayLevel
	if dlq {
		delay = 0
	} else if delay == 0 {
		delay = 3 + m.ReconsumeTimes
	}
	if _, ok := b.g.Topic(topic); !ok {
		tc := fsm.TopicConfig{TopicName: topic, ReadQueueNums: 1, WriteQueueNums: 1, Perm: transport.PermRead | transport.PermWrite}
		if _, err := b.proposeTopic(ctx, tc, true); err != nil {
			return b.statusFromErr("send back", err)
		}
	}
	props := m.Properties
	if props == nil {
		props = map[string]string{}
	}
	if props[message.PropertyRetryTopic] == "" {
		props[message.PropertyRetryTopic] = m.Topic
	}
	if props[message.PropertyOriginMessageID] == "" {
		props[message.PropertyOriginMessageID] = orDefault(h.OriginMsgID, m.MsgID())
	}
	// The copy keeps every property, UNIQ_KEY included (as Java does): the
	// message keeps its MsgID across redeliveries.
	if props[message.PropertyUniqKey] == "" {
		props[message.PropertyUniqKey] = b.uniq.Next()
	}
	qid := int32(0)
	if delay > 0 {
		// Redelivered after the level's delay, through the schedule queue.
		level := min(delay, int32(len(b.delays)))
		props[message.PropertyDelayLevel] = strconv.Itoa(int(level))
		props[message.PropertyRealTopic] = topic
		props[message.PropertyRealQueueID] = "0"
		topic, qid = message.ScheduleTopic, level-1
	} else {
		delete(props, message.PropertyDelayLevel)
	}
	nm := &message.MessageExt{
		Message:        message.Message{Topic: topic, Flag: m.Flag, Body: m.Body, Properties: props},
		QueueID:        qid,
		SysFlag:        m.SysFlag,
		BornTimestamp:  m.BornTimestamp,
		BornHost:       m.BornHost,
		ReconsumeTimes: m.ReconsumeTimes + 1,
	}
	b.stamp(nm, time.Now())
	nrec, err := message.AppendRecord(nil, nm)
	if err != nil {
		return b.statusFromErr("send back", err)
	}
	if _, err := b.g.Propose(ctx, len(nrec), func(eb *fsm.EntryBuilder) error {
		eb.AddRecords(nrec)
		return nil
	}); err != nil {
		return b.statusFromErr("send back", err)
	}
	return transport.NewResponse(transport.RespSuccess, "")
}
