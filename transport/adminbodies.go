package transport

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Admin bodies in RocketMQ's layout (the Java classes' field names), so
// that mqadmin and rocketmq-dashboard parse them. raftmq's own fields are
// extra keys, which those tools ignore.

// OffsetWrapper is one queue of ConsumeStats (Java OffsetWrapper).
type OffsetWrapper struct {
	BrokerOffset int64 `json:"brokerOffset"` // the queue's max offset
	// ConsumerOffset is the committed offset, 0 when none (as RocketMQ;
	// Committed tells the two apart).
	ConsumerOffset int64 `json:"consumerOffset"`
	PullOffset     int64 `json:"pullOffset"`
	// LastTimestamp is the store time of the last consumed message (0:
	// none consumed).
	LastTimestamp int64 `json:"lastTimestamp"`
	// raftmq: the queue's min offset, whether the group committed an
	// offset, and the store time of the queue's last message.
	MinOffset    int64 `json:"minOffset"`
	Committed    bool  `json:"committed"`
	MaxTimestamp int64 `json:"maxTimestamp,omitempty"`
}

// ConsumeStats answers GET_CONSUME_STATS (Java ConsumeStats).
type ConsumeStats struct {
	OffsetTable map[MessageQueue]OffsetWrapper
	ConsumeTps  float64
}

// EncodeBody writes fastjson's layout (MessageQueue object keys).
func (s *ConsumeStats) EncodeBody() ([]byte, error) {
	out := []byte(`{"consumeTps":`)
	out = strconv.AppendFloat(out, s.ConsumeTps, 'f', -1, 64)
	out = append(out, `,"offsetTable":`...)
	out, err := appendMQMap(out, s.OffsetTable)
	if err != nil {
		return nil, err
	}
	return append(out, '}'), nil
}

// DecodeConsumeStats parses a GET_CONSUME_STATS body (fastjson or gson
// layout).
func DecodeConsumeStats(b []byte) (*ConsumeStats, error) {
	f, err := looseFields(b)
	if err != nil {
		return nil, fmt.Errorf("transport: decode ConsumeStats: %w", err)
	}
	s := &ConsumeStats{OffsetTable: map[MessageQueue]OffsetWrapper{}}
	if v, ok := f["consumeTps"]; ok {
		_ = json.Unmarshal(v, &s.ConsumeTps)
	}
	err = decodeMQMap(f["offsetTable"], func(mq MessageQueue, v []byte) error {
		var w OffsetWrapper
		if err := json.Unmarshal(v, &w); err != nil {
			return err
		}
		s.OffsetTable[mq] = w
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("transport: decode ConsumeStats: %w", err)
	}
	return s, nil
}

// TopicOffset is one queue of TopicStatsTable (Java TopicOffset).
type TopicOffset struct {
	MinOffset           int64 `json:"minOffset"`
	MaxOffset           int64 `json:"maxOffset"`
	LastUpdateTimestamp int64 `json:"lastUpdateTimestamp"` // store time of the last message, 0 when empty
}

// TopicStatsTable answers GET_TOPIC_STATS_INFO (Java TopicStatsTable).
type TopicStatsTable struct {
	OffsetTable map[MessageQueue]TopicOffset
	TopicPutTps float64
}

// EncodeBody writes fastjson's layout.
func (t *TopicStatsTable) EncodeBody() ([]byte, error) {
	out := []byte(`{"offsetTable":`)
	out, err := appendMQMap(out, t.OffsetTable)
	if err != nil {
		return nil, err
	}
	out = append(out, `,"topicPutTps":`...)
	out = strconv.AppendFloat(out, t.TopicPutTps, 'f', -1, 64)
	return append(out, '}'), nil
}

// DecodeTopicStatsTable parses a GET_TOPIC_STATS_INFO body.
func DecodeTopicStatsTable(b []byte) (*TopicStatsTable, error) {
	f, err := looseFields(b)
	if err != nil {
		return nil, fmt.Errorf("transport: decode TopicStatsTable: %w", err)
	}
	t := &TopicStatsTable{OffsetTable: map[MessageQueue]TopicOffset{}}
	if v, ok := f["topicPutTps"]; ok {
		_ = json.Unmarshal(v, &t.TopicPutTps)
	}
	err = decodeMQMap(f["offsetTable"], func(mq MessageQueue, v []byte) error {
		var o TopicOffset
		if err := json.Unmarshal(v, &o); err != nil {
			return err
		}
		t.OffsetTable[mq] = o
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("transport: decode TopicStatsTable: %w", err)
	}
	return t, nil
}

// Connection is one client connection (Java Connection).
type Connection struct {
	ClientID   string `json:"clientId"`
	ClientAddr string `json:"clientAddr"`
	Language   string `json:"language"` // JAVA, GO, CPP, ...
	Version    int32  `json:"version"`
	// Member (raftmq) is the raft node id of the group member holding the
	// connection.
	Member string `json:"member,omitempty"`
}

// ConsumerConnection answers GET_CONSUMER_CONNECTION_LIST (Java
// ConsumerConnection).
type ConsumerConnection struct {
	ConnectionSet     []Connection                `json:"connectionSet"`
	SubscriptionTable map[string]SubscriptionData `json:"subscriptionTable"`
	ConsumeType       string                      `json:"consumeType,omitempty"`
	MessageModel      string                      `json:"messageModel,omitempty"`
	ConsumeFromWhere  string                      `json:"consumeFromWhere,omitempty"`
}

// LocalConsumers answers ReqLocalConsumers: the consumers of a group that
// heartbeat to one member. ConsumerIDList alone is what older members
// send; the rest describes their connections and registration.
type LocalConsumers struct {
	ConsumerIDList   []string           `json:"consumerIdList"`
	Connections      []Connection       `json:"connections,omitempty"`
	Subscriptions    []SubscriptionData `json:"subscriptions,omitempty"`
	ConsumeType      string             `json:"consumeType,omitempty"`
	MessageModel     string             `json:"messageModel,omitempty"`
	ConsumeFromWhere string             `json:"consumeFromWhere,omitempty"`
}

// ProcessQueueInfo is a consumer's view of one of its queues (Java
// ProcessQueueInfo).
type ProcessQueueInfo struct {
	CommitOffset            int64 `json:"commitOffset"`
	CachedMsgMinOffset      int64 `json:"cachedMsgMinOffset"`
	CachedMsgMaxOffset      int64 `json:"cachedMsgMaxOffset"`
	CachedMsgCount          int32 `json:"cachedMsgCount"`
	CachedMsgSizeInMiB      int32 `json:"cachedMsgSizeInMiB"`
	TransactionMsgMinOffset int64 `json:"transactionMsgMinOffset"`
	TransactionMsgMaxOffset int64 `json:"transactionMsgMaxOffset"`
	TransactionMsgCount     int32 `json:"transactionMsgCount"`
	Locked                  bool  `json:"locked"`
	TryUnlockTimes          int64 `json:"tryUnlockTimes"`
	LastLockTimestamp       int64 `json:"lastLockTimestamp"`
	Dropped                 bool  `json:"droped"` // RocketMQ's spelling
	LastPullTimestamp       int64 `json:"lastPullTimestamp"`
	LastConsumeTimestamp    int64 `json:"lastConsumeTimestamp"`
}

// ConsumeStatus is a consumer's rates on one topic (Java ConsumeStatus).
type ConsumeStatus struct {
	PullRT            float64 `json:"pullRT"`
	PullTPS           float64 `json:"pullTPS"`
	ConsumeRT         float64 `json:"consumeRT"`
	ConsumeOKTPS      float64 `json:"consumeOKTPS"`
	ConsumeFailedTPS  float64 `json:"consumeFailedTPS"`
	ConsumeFailedMsgs int64   `json:"consumeFailedMsgs"`
}

// Property keys of ConsumerRunningInfo (Java's).
const (
	PropNameServerAddr         = "PROP_NAMESERVER_ADDR"
	PropThreadPoolCoreSize     = "PROP_THREADPOOL_CORE_SIZE"
	PropConsumeOrderly         = "PROP_CONSUMEORDERLY"
	PropConsumeType            = "PROP_CONSUME_TYPE"
	PropClientVersion          = "PROP_CLIENT_VERSION"
	PropConsumerStartTimestamp = "PROP_CONSUMER_START_TIMESTAMP"
)

// ConsumerRunningInfo is a consumer's answer to GET_CONSUMER_RUNNING_INFO
// (Java ConsumerRunningInfo), which brokers relay to admin tools.
type ConsumerRunningInfo struct {
	Properties      map[string]string
	SubscriptionSet []SubscriptionData
	MQTable         map[MessageQueue]ProcessQueueInfo
	StatusTable     map[string]ConsumeStatus
	JStack          string
}

// EncodeBody writes fastjson's layout (mqTable keyed by MessageQueue
// objects), as Java and the official Go client do.
func (r *ConsumerRunningInfo) EncodeBody() ([]byte, error) {
	part := func(out []byte, name string, v any) ([]byte, error) {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		out = append(out, '"')
		out = append(out, name...)
		out = append(out, `":`...)
		return append(out, b...), nil
	}
	props, subs, status := r.Properties, r.SubscriptionSet, r.StatusTable
	if props == nil {
		props = map[string]string{}
	}
	if subs == nil {
		subs = []SubscriptionData{}
	}
	if status == nil {
		status = map[string]ConsumeStatus{}
	}
	out := []byte{'{'}
	out = appendJSONStringField(out, "jstack", r.JStack)
	out = append(out, `,"mqTable":`...)
	out, err := appendMQMap(out, r.MQTable)
	if err != nil {
		return nil, err
	}
	out = append(out, ',')
	if out, err = part(out, "properties", props); err != nil {
		return nil, err
	}
	out = append(out, ',')
	if out, err = part(out, "statusTable", status); err != nil {
		return nil, err
	}
	out = append(out, ',')
	if out, err = part(out, "subscriptionSet", subs); err != nil {
		return nil, err
	}
	return append(out, '}'), nil
}

func appendJSONStringField(out []byte, name, v string) []byte {
	out = appendJSONString(out, name)
	out = append(out, ':')
	return appendJSONString(out, v)
}

// DecodeConsumerRunningInfo parses a consumer's GET_CONSUMER_RUNNING_INFO
// answer (Java's, the official Go client's or raftmq's).
func DecodeConsumerRunningInfo(b []byte) (*ConsumerRunningInfo, error) {
	f, err := looseFields(b)
	if err != nil {
		return nil, fmt.Errorf("transport: decode ConsumerRunningInfo: %w", err)
	}
	r := &ConsumerRunningInfo{Properties: map[string]string{}, MQTable: map[MessageQueue]ProcessQueueInfo{}, StatusTable: map[string]ConsumeStatus{}}
	if v, ok := f["properties"]; ok {
		// Java's Properties may hold non-string values.
		var raw map[string]any
		if err := json.Unmarshal(v, &raw); err != nil {
			return nil, fmt.Errorf("transport: decode ConsumerRunningInfo properties: %w", err)
		}
		for k, x := range raw {
			if s, ok := x.(string); ok {
				r.Properties[k] = s
			} else {
				r.Properties[k] = fmt.Sprint(x)
			}
		}
	}
	if v, ok := f["subscriptionSet"]; ok {
		if err := json.Unmarshal(v, &r.SubscriptionSet); err != nil {
			return nil, fmt.Errorf("transport: decode ConsumerRunningInfo subscriptionSet: %w", err)
		}
	}
	if v, ok := f["statusTable"]; ok {
		if err := json.Unmarshal(v, &r.StatusTable); err != nil {
			return nil, fmt.Errorf("transport: decode ConsumerRunningInfo statusTable: %w", err)
		}
	}
	if v, ok := f["jstack"]; ok {
		_ = json.Unmarshal(v, &r.JStack)
	}
	err = decodeMQMap(f["mqTable"], func(mq MessageQueue, v []byte) error {
		var p ProcessQueueInfo
		if err := json.Unmarshal(v, &p); err != nil {
			return err
		}
		r.MQTable[mq] = p
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("transport: decode ConsumerRunningInfo mqTable: %w", err)
	}
	return r, nil
}

// MarshalJSON writes standard JSON (for tools' --json output, not the
// wire): mqTable becomes a list of queues with their info.
func (r ConsumerRunningInfo) MarshalJSON() ([]byte, error) {
	type queue struct {
		MessageQueue
		ProcessQueueInfo
	}
	qs := make([]queue, 0, len(r.MQTable))
	for _, mq := range sortedMQs(r.MQTable) {
		qs = append(qs, queue{mq, r.MQTable[mq]})
	}
	return json.Marshal(struct {
		Properties      map[string]string        `json:"properties"`
		SubscriptionSet []SubscriptionData       `json:"subscriptionSet"`
		MQTable         []queue                  `json:"mqTable"`
		StatusTable     map[string]ConsumeStatus `json:"statusTable"`
		JStack          string                   `json:"jstack,omitempty"`
	}{r.Properties, r.SubscriptionSet, qs, r.StatusTable, r.JStack})
}
