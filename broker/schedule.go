package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// Delayed messages (RocketMQ delay levels, messageDelayLevel). A message
// sent with property DELAY=n is stored in SCHEDULE_TOPIC_XXXX queue n-1
// with its real topic and queue in REAL_TOPIC/REAL_QID. The leader's
// scheduler reads each level's queue in order and, once a message's store
// time plus the level's delay has passed, appends the real message and
// advances the level's offset in one raft entry: a failover neither loses
// nor duplicates a delivery. Levels, and so due times, come from the
// leader's configuration; queue order is store order, so a level's queue
// is due in order.
//
// Timer messages (TIMER_DELIVER_MS and the like) use the same move through
// queues of message.TimerTopic, whose queue k waits 100 ms·2^k: a message
// not due yet when it ripens goes to the queue for what is left.
const scheduleGroup = "%RAFTMQ_SCHEDULE%"

// delayLevel returns a message's requested delay level (0: none), clamped
// to the configured levels.
func (b *Broker) delayLevel(sp *message.SendProps) int {
	v, ok := sp.DelayLevel()
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || n <= 0 {
		return 0
	}
	return min(n, len(b.delays))
}

// schedulePass runs on every node and works while this node leads.
func (b *Broker) schedulePass(time.Time) {
	if !b.isLeader() || b.g.DiskRefusal() != nil {
		return // not leading, or delivered once space returns
	}
	b.schedulePasses.Add(1)
	for level := 1; level <= len(b.delays); level++ {
		if err := b.deliverDue(waitQueue{message.ScheduleTopic, int32(level - 1), b.delays[level-1]}); err != nil {
			b.logger.Warn("delayed delivery failed; will retry", "level", level, "error", err)
			break
		}
	}
	for k, wait := range message.TimerLevels {
		if err := b.deliverDue(waitQueue{message.TimerTopic, int32(k), wait}); err != nil {
			b.logger.Warn("timer delivery failed; will retry", "queue", k, "error", err)
			break
		}
	}
}

// waitQueue is a queue whose messages wait the same time, so that they
// ripen in queue order: a delay level, or one of TimerTopic's queues.
type waitQueue struct {
	topic string
	qid   int32
	wait  time.Duration
}

// deliverDue moves the ripe messages of one waiting queue on, up to 256
// per entry: to their real topic, or (a timer message not due yet) to the
// timer queue for what is left of its wait.
func (b *Broker) deliverDue(wq waitQueue) error {
	mn, mx := b.g.QueueBounds(wq.topic, wq.qid)
	stored, ok := b.g.ConsumerOffset(scheduleGroup, wq.topic, wq.qid)
	if !ok {
		stored = -1
	}
	if max(stored, 0) < mn && b.g.PartialHistory() {
		// This leader installed a snapshot and lacks the messages before
		// it; some of this queue's waiting ones are among them. Moving
		// the ones it holds would advance the offset past them: wait for
		// the catch-up (later, never lost).
		return nil
	}
	off := max(stored, mn)
	now := time.Now()
	for off < mx {
		units, err := b.g.QueueRange(wq.topic, wq.qid, off, 256, nil)
		if err != nil {
			return err
		}
		var outs [][]byte
		next := off
		for _, u := range units {
			rec, err := b.g.ReadMessage(nil, u.PhysOffset, u.Size)
			if err != nil {
				return err
			}
			m, _, err := message.DecodeRecord(rec)
			if err != nil {
				return err
			}
			if now.Before(time.UnixMilli(m.StoreTimestamp).Add(wq.wait)) {
				break
			}
			var out []byte
			if wq.topic == message.TimerTopic {
				out, err = b.timerNext(m, now)
			} else {
				out, err = b.realMessage(m)
			}
			if err != nil {
				b.logger.Error("dropping malformed waiting message", "topic", wq.topic, "queue", wq.qid, "offset", next, "error", err)
			} else {
				outs = append(outs, out)
			}
			next++
		}
		if next == off {
			return nil // the oldest is not due yet
		}
		// The offset moves from where this pass found it, and the moves
		// ride with it: a proposal that timed out but committed after all
		// makes the next pass's identical one a no-op (fsm.CmdAdvance).
		var eb fsm.EntryBuilder
		adv := fsm.AdvanceCommand{OffsetCommit: fsm.OffsetCommit{Group: scheduleGroup, Topic: wq.topic, QueueID: wq.qid, Offset: next},
			From: stored, With: len(outs)}
		if err := eb.AddJSON(fsm.CmdAdvance, adv); err != nil {
			return err
		}
		for _, out := range outs {
			eb.AddRecords(out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = b.g.Propose(ctx, eb.Len(), func(e *fsm.EntryBuilder) error {
			e.Append(&eb) // the offset and the moves: one entry
			return nil
		})
		cancel()
		if err != nil {
			var rej *fsm.RejectedError
			if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || (errors.As(err, &rej) && rej.Cmd == fsm.CmdAdvance) {
				return nil // not leading, or moved already: the next pass reads the offset afresh
			}
			return err
		}
		stored, off = next, next
	}
	return nil
}

// timerNext moves a ripe timer message on: into its real topic once due,
// else into the timer queue for what is left.
func (b *Broker) timerNext(m *message.MessageExt, now time.Time) ([]byte, error) {
	ms, err := strconv.ParseInt(m.Properties[message.PropertyTimerDeliverMS], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("timer message without %s: %w", message.PropertyTimerDeliverMS, err)
	}
	due := time.UnixMilli(ms)
	if left := due.Sub(now); left > 0 {
		again := *m
		again.QueueID = message.TimerLevel(left)
		b.stamp(&again, now)
		return message.AppendRecord(nil, &again)
	}
	props := m.Properties
	for _, k := range []string{message.PropertyTimerDeliverMS, message.PropertyTimerDelaySec, message.PropertyTimerDelayMS, message.PropertyStartDeliverTime} {
		delete(props, k)
	}
	props[message.PropertyTimerOutMS] = strconv.FormatInt(ms, 10)
	return b.realMessage(m)
}

// realMessage turns a scheduled record back into its real message.
func (b *Broker) realMessage(m *message.MessageExt) ([]byte, error) {
	props := m.Properties
	topic := props[message.PropertyRealTopic]
	qid, err := strconv.Atoi(props[message.PropertyRealQueueID])
	if topic == "" || err != nil {
		return nil, strconv.ErrSyntax
	}
	if _, ok := b.g.Topic(topic); !ok {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n := int32(max(qid+1, b.cfg.DefaultTopicQueueNums))
		if message.IsRetryTopic(topic) {
			n = int32(qid + 1)
		}
		tc := fsm.TopicConfig{TopicName: topic, ReadQueueNums: n, WriteQueueNums: n, Perm: transport.PermRead | transport.PermWrite}
		if _, err := b.proposeTopic(ctx, tc, true); err != nil {
			return nil, err
		}
	}
	delete(props, message.PropertyRealTopic)
	delete(props, message.PropertyRealQueueID)
	delete(props, message.PropertyDelayLevel)
	out := &message.MessageExt{
		Message:        message.Message{Topic: topic, Flag: m.Flag, Body: m.Body, Properties: props},
		QueueID:        int32(qid),
		SysFlag:        m.SysFlag,
		BornTimestamp:  m.BornTimestamp,
		BornHost:       m.BornHost,
		ReconsumeTimes: m.ReconsumeTimes,
	}
	b.stamp(out, time.Now())
	return message.AppendRecord(nil, out)
}

// timerProps rewrites a timer message's encoded properties for its wait:
// REAL_TOPIC and REAL_QID as for delays, and its due time as
// TIMER_DELIVER_MS (however it was asked for).
func timerProps(props []byte, topic string, qid int32, due time.Time) ([]byte, error) {
	p, err := scheduleProps(props, topic, qid)
	if err != nil {
		return nil, err
	}
	if v, ok := message.LookupProperty(props, message.PropertyTimerDeliverMS); ok && string(v) == strconv.FormatInt(due.UnixMilli(), 10) {
		return p, nil
	}
	return message.AppendProperty(p, message.PropertyTimerDeliverMS, strconv.FormatInt(due.UnixMilli(), 10))
}

// scheduleProps rewrites a message's encoded properties for the schedule
// queue: REAL_TOPIC and REAL_QID keep where it goes when due.
func scheduleProps(props []byte, topic string, qid int32) ([]byte, error) {
	p, err := message.AppendProperty(append([]byte(nil), props...), message.PropertyRealTopic, topic)
	if err != nil {
		return nil, err
	}
	return message.AppendProperty(p, message.PropertyRealQueueID, strconv.Itoa(int(qid)))
}
