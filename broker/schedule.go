package broker

import (
	"context"
	"errors"
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
const scheduleGroup = "%RAFTMQ_SCHEDULE%"

// delayLevel returns a message's requested delay level (0: none), clamped
// to the configured levels.
func (b *Broker) delayLevel(props []byte) int {
	v, ok := message.LookupProperty(props, message.PropertyDelayLevel)
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
		if err := b.deliverDue(level); err != nil {
			b.logger.Warn("delayed delivery failed; will retry", "level", level, "error", err)
			break
		}
	}
}

// deliverDue delivers the due messages of one level, up to 256 per entry.
func (b *Broker) deliverDue(level int) error {
	qid := int32(level - 1)
	mn, mx := b.g.QueueBounds(message.ScheduleTopic, qid)
	off, ok := b.g.ConsumerOffset(scheduleGroup, message.ScheduleTopic, qid)
	if !ok || off < mn {
		off = mn
	}
	delay := b.delays[level-1]
	now := time.Now()
	for off < mx {
		units, err := b.g.QueueRange(message.ScheduleTopic, qid, off, 256, nil)
		if err != nil {
			return err
		}
		var eb fsm.EntryBuilder
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
			if now.Before(time.UnixMilli(m.StoreTimestamp).Add(delay)) {
				break
			}
			real, err := b.realMessage(m)
			if err != nil {
				b.logger.Error("dropping malformed delayed message", "offset", next, "error", err)
			} else {
				eb.AddRecords(real)
			}
			next++
		}
		if next == off {
			return nil // the oldest is not due yet
		}
		if err := eb.AddJSON(fsm.CmdOffsets, []fsm.OffsetCommit{{Group: scheduleGroup, Topic: message.ScheduleTopic, QueueID: qid, Offset: next}}); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = b.g.Propose(ctx, eb.Len(), func(e *fsm.EntryBuilder) error {
			e.Append(&eb) // the deliveries and the offset move: one entry
			return nil
		})
		cancel()
		if err != nil {
			if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
				return nil
			}
			return err
		}
		off = next
	}
	return nil
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

// scheduleProps rewrites a message's encoded properties for the schedule
// queue: REAL_TOPIC and REAL_QID keep where it goes when due.
func scheduleProps(props []byte, topic string, qid int32) ([]byte, error) {
	p, err := message.AppendProperty(append([]byte(nil), props...), message.PropertyRealTopic, topic)
	if err != nil {
		return nil, err
	}
	return message.AppendProperty(p, message.PropertyRealQueueID, strconv.Itoa(int(qid)))
}
