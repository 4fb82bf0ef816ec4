package client

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// Message is what a producer sends.
type Message struct {
	Topic string
	Body  []byte
	// Tags is the message's tag (RocketMQ TAGS), used by consumers to filter.
	Tags string
	// Keys index the message for QueryMsgByKey (RocketMQ KEYS).
	Keys []string
	// DelayLevel asks for delayed delivery (1..18, RocketMQ DELAY); 0 = none.
	DelayLevel int
	// Flag is an opaque user integer stored with the message.
	Flag int32
	// Properties are user properties. On received messages it holds every
	// stored property, system ones (TAGS, KEYS, UNIQ_KEY, ...) included.
	Properties map[string]string

	// replyGroup is the broker group a reply's request came from (NewReply).
	replyGroup string
}

// NewMessage returns a message for topic with body.
func NewMessage(topic string, body []byte) *Message { return &Message{Topic: topic, Body: body} }

// SetProperty sets a user property and returns m.
func (m *Message) SetProperty(key, value string) *Message {
	if m.Properties == nil {
		m.Properties = map[string]string{}
	}
	m.Properties[key] = value
	return m
}

// properties returns the properties to send: user ones, then the system
// ones derived from the fields, and uniq as UNIQ_KEY.
func (m *Message) properties(uniq string) map[string]string {
	p := make(map[string]string, len(m.Properties)+4)
	for k, v := range m.Properties {
		p[k] = v
	}
	if m.Tags != "" {
		p[message.PropertyTags] = m.Tags
	}
	if len(m.Keys) > 0 {
		p[message.PropertyKeys] = strings.Join(m.Keys, message.KeySeparator)
	}
	if m.DelayLevel > 0 {
		p[message.PropertyDelayLevel] = strconv.Itoa(m.DelayLevel)
	}
	if uniq != "" {
		p[message.PropertyUniqKey] = uniq
	}
	return p
}

// encodeProperties is message.EncodeProperties(m.properties(uniq)), the
// same bytes, without building the map: one allocation per send.
func (m *Message) encodeProperties(uniq string) (string, error) {
	var extra [4][2]string
	n := 0
	if m.Tags != "" {
		extra[n], n = [2]string{message.PropertyTags, m.Tags}, n+1
	}
	if len(m.Keys) > 0 {
		extra[n], n = [2]string{message.PropertyKeys, strings.Join(m.Keys, message.KeySeparator)}, n+1
	}
	if m.DelayLevel > 0 {
		extra[n], n = [2]string{message.PropertyDelayLevel, strconv.Itoa(m.DelayLevel)}, n+1
	}
	if uniq != "" {
		extra[n], n = [2]string{message.PropertyUniqKey, uniq}, n+1
	}
	var stack [16][2]string
	pairs := stack[:0]
outer:
	for k, v := range m.Properties {
		for _, e := range extra[:n] {
			if e[0] == k {
				continue outer // set by a field, as in properties
			}
		}
		pairs = append(pairs, [2]string{k, v})
	}
	pairs = append(pairs, extra[:n]...)
	slices.SortFunc(pairs, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	size := 0
	for _, p := range pairs {
		if err := message.CheckProperty(p[0], p[1]); err != nil {
			return "", err
		}
		size += len(p[0]) + len(p[1]) + 2
	}
	var b strings.Builder
	b.Grow(size)
	for _, p := range pairs {
		b.WriteString(p[0])
		b.WriteByte(message.NameValueSeparator)
		b.WriteString(p[1])
		b.WriteByte(message.PropertySeparator)
	}
	return b.String(), nil
}

func (m *Message) validate() error {
	if m == nil {
		return fmt.Errorf("%w: nil message", ErrInvalidMessage)
	}
	if err := message.ValidateSendTopic(m.Topic); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidMessage, err)
	}
	if len(m.Body) == 0 && !m.IsReply() {
		return fmt.Errorf("%w: empty body (topic %s)", ErrInvalidMessage, m.Topic)
	}
	for _, k := range m.Keys {
		if k == "" || strings.ContainsAny(k, " \x01\x02") {
			return fmt.Errorf("%w: key %q is empty or contains a space or separator", ErrInvalidMessage, k)
		}
	}
	return nil
}

// MessageExt is a received message: the message plus what the broker
// assigned.
type MessageExt struct {
	Message
	// MsgID is the producer-assigned id (UNIQ_KEY), or OffsetMsgID.
	MsgID string
	// OffsetMsgID encodes the store host and commit log offset (the
	// broker-side id QueryMsgByID accepts).
	OffsetMsgID     string
	Queue           MessageQueue
	QueueOffset     int64
	CommitLogOffset int64
	BornTimestamp   time.Time
	StoreTimestamp  time.Time
	BornHost        string
	StoreHost       string
	// ReconsumeTimes counts redeliveries through the retry topic.
	ReconsumeTimes int
	SysFlag        int32
}

// Property returns a stored property or "".
func (m *MessageExt) Property(key string) string { return m.Properties[key] }

// decodePulled turns a pull body into messages of mq, dropping those the
// tag expression does not match. The messages share one allocation, as do
// the records they are made from (message.DecodeRecords).
func decodePulled(body []byte, mq MessageQueue, sub *subscription, maxBody int) ([]*MessageExt, error) {
	recs, err := message.DecodeRecords(body)
	if err != nil {
		return nil, err
	}
	slab := make([]MessageExt, len(recs))
	out := make([]*MessageExt, 0, len(recs))
	var hosts hostNames
	for _, r := range recs {
		if !sub.match(r.Tags()) {
			continue
		}
		m := &slab[len(out)]
		if err := fillFromRecord(m, r, mq.BrokerName, maxBody, &hosts); err != nil {
			return nil, err
		}
		m.Queue = mq
		out = append(out, m)
	}
	return out, nil
}

// hostNames remembers the last born and store host strings: the records of
// one pull come from one broker and mostly from few producers.
type hostNames struct {
	born, store         netip.AddrPort
	bornName, storeName string
}

func (h *hostNames) name(addr netip.AddrPort, last *netip.AddrPort, name *string) string {
	if *name == "" || addr != *last {
		*last, *name = addr, addr.String()
	}
	return *name
}

// fromRecord converts a decoded record. Compressed bodies are inflated
// (refusing more than maxBody bytes); a message read from a retry topic
// gets its original topic back (RETRY_TOPIC).
func fromRecord(r *message.MessageExt, brokerName string, maxBody int) (*MessageExt, error) {
	m := new(MessageExt)
	if err := fillFromRecord(m, r, brokerName, maxBody, &hostNames{}); err != nil {
		return nil, err
	}
	return m, nil
}

func fillFromRecord(m *MessageExt, r *message.MessageExt, brokerName string, maxBody int, hosts *hostNames) error {
	body := r.Body
	if r.SysFlag&message.SysFlagCompressed != 0 {
		b, err := message.Decompress(r.Body, maxBody)
		if err != nil {
			return fmt.Errorf("client: inflate message %s/%d@%d: %w", r.Topic, r.QueueID, r.QueueOffset, err)
		}
		body = b
	}
	*m = MessageExt{
		Message: Message{
			Topic: r.Topic, Body: body, Flag: r.Flag, Properties: r.Properties,
			Tags: r.Tags(), Keys: r.Keys(), DelayLevel: r.DelayLevel(),
		},
		MsgID:           r.MsgID(),
		OffsetMsgID:     r.OffsetMsgID(),
		Queue:           MessageQueue{Topic: r.Topic, BrokerName: brokerName, QueueID: int(r.QueueID)},
		QueueOffset:     r.QueueOffset,
		CommitLogOffset: r.CommitLogOffset,
		BornTimestamp:   time.UnixMilli(r.BornTimestamp),
		StoreTimestamp:  time.UnixMilli(r.StoreTimestamp),
		BornHost:        hosts.name(r.BornHost, &hosts.born, &hosts.bornName),
		StoreHost:       hosts.name(r.StoreHost, &hosts.store, &hosts.storeName),
		ReconsumeTimes:  int(r.ReconsumeTimes),
		SysFlag:         r.SysFlag,
	}
	if m.Properties == nil {
		m.Properties = map[string]string{}
	}
	if rt := m.Properties[message.PropertyRetryTopic]; rt != "" && message.IsRetryTopic(r.Topic) {
		m.Topic = rt
	}
	return nil
}

// MessageQueue identifies one queue of a topic on one broker group.
type MessageQueue struct {
	Topic      string
	BrokerName string
	QueueID    int
}

func (q MessageQueue) String() string {
	return fmt.Sprintf("%s@%s/%d", q.Topic, q.BrokerName, q.QueueID)
}

func (q MessageQueue) less(o MessageQueue) bool {
	if q.Topic != o.Topic {
		return q.Topic < o.Topic
	}
	if q.BrokerName != o.BrokerName {
		return q.BrokerName < o.BrokerName
	}
	return q.QueueID < o.QueueID
}

func (q MessageQueue) wire() transport.MessageQueue {
	return transport.MessageQueue{Topic: q.Topic, BrokerName: q.BrokerName, QueueID: int32(q.QueueID)}
}

// SendStatus is the outcome of a successful send.
type SendStatus int

const (
	_ SendStatus = iota // zero is invalid
	// SendOK: stored and replicated to a majority of the group.
	SendOK
	// SendFlushDiskTimeout, SendFlushSlaveTimeout, SendSlaveNotAvailable:
	// stored, but the broker reports a weaker guarantee (RocketMQ codes
	// 10, 12, 11). raftmq brokers do not use them.
	SendFlushDiskTimeout
	SendFlushSlaveTimeout
	SendSlaveNotAvailable
)

func (s SendStatus) String() string {
	switch s {
	case SendOK:
		return "SEND_OK"
	case SendFlushDiskTimeout:
		return "FLUSH_DISK_TIMEOUT"
	case SendFlushSlaveTimeout:
		return "FLUSH_SLAVE_TIMEOUT"
	case SendSlaveNotAvailable:
		return "SLAVE_NOT_AVAILABLE"
	}
	return "INVALID"
}

// SendResult describes a stored message (or batch).
type SendResult struct {
	Status SendStatus
	// MsgID is the message's UNIQ_KEY (comma-joined for a batch).
	MsgID string
	// OffsetMsgID is the broker's id of the stored message (comma-joined
	// for a batch).
	OffsetMsgID string
	Queue       MessageQueue
	// QueueOffset is the message's slot in its queue (the first one's for
	// a batch).
	QueueOffset int64
}

// MsgIDs splits MsgID (a batch has one per message).
func (r *SendResult) MsgIDs() []string { return splitIDs(r.MsgID) }

// OffsetMsgIDs splits OffsetMsgID (a batch has one per message).
func (r *SendResult) OffsetMsgIDs() []string { return splitIDs(r.OffsetMsgID) }

func splitIDs(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func (r *SendResult) String() string {
	return fmt.Sprintf("%s msgId=%s offsetMsgId=%s queue=%s offset=%d", r.Status, r.MsgID, r.OffsetMsgID, r.Queue, r.QueueOffset)
}

// MessageModel is how a consumer group shares messages.
type MessageModel int

const (
	_ MessageModel = iota // zero is invalid
	// Clustering: each message goes to one member of the group; queues are
	// divided among the members; offsets are kept by the brokers.
	Clustering
	// Broadcasting: every member gets every message; offsets are kept in
	// the member's memory.
	Broadcasting
)

func (m MessageModel) String() string {
	switch m {
	case Clustering:
		return "CLUSTERING"
	case Broadcasting:
		return "BROADCASTING"
	}
	return "INVALID"
}

// ConsumeFromWhere is where a group without a committed offset starts.
type ConsumeFromWhere int

const (
	_ ConsumeFromWhere = iota // zero is invalid
	// ConsumeFromLastOffset starts after the last stored message.
	ConsumeFromLastOffset
	// ConsumeFromFirstOffset starts at the first stored message.
	ConsumeFromFirstOffset
	// ConsumeFromTimestamp starts at the first message stored at or after
	// WithConsumeTimestamp.
	ConsumeFromTimestamp
)

func (w ConsumeFromWhere) String() string {
	switch w {
	case ConsumeFromLastOffset:
		return "CONSUME_FROM_LAST_OFFSET"
	case ConsumeFromFirstOffset:
		return "CONSUME_FROM_FIRST_OFFSET"
	case ConsumeFromTimestamp:
		return "CONSUME_FROM_TIMESTAMP"
	}
	return "INVALID"
}

// ConsumeResult is what a push consumer's handler returns.
type ConsumeResult int

const (
	_ ConsumeResult = iota // zero is invalid
	// ConsumeSuccess: the messages are consumed; the offset moves past them.
	ConsumeSuccess
	// ConsumeRetryLater: redeliver the messages later (through the group's
	// %RETRY% topic in clustering mode; in place, a second later, for an
	// orderly consumer). An unknown value counts as ConsumeRetryLater.
	ConsumeRetryLater
)

func (r ConsumeResult) String() string {
	switch r {
	case ConsumeSuccess:
		return "CONSUME_SUCCESS"
	case ConsumeRetryLater:
		return "RECONSUME_LATER"
	}
	return "INVALID"
}
