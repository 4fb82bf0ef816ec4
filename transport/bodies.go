package transport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
)

// JSON bodies used on the wire (§3, §4, §6). Unlike ext fields these carry
// real JSON numbers. Encoders emit no whitespace; decoders use
// encoding/json (field names match case-insensitively).

// Permission bits of a topic or broker.
const (
	PermPriority int32 = 1 << 3
	PermRead     int32 = 1 << 2
	PermWrite    int32 = 1 << 1
	PermInherit  int32 = 1 << 0
)

// MessageQueue identifies a queue in lock bodies and elsewhere.
type MessageQueue struct {
	Topic      string `json:"topic"`
	BrokerName string `json:"brokerName"`
	QueueID    int32  `json:"queueId"`
}

// QueueData is a broker's share of a topic in a route.
type QueueData struct {
	BrokerName     string `json:"brokerName"`
	ReadQueueNums  int32  `json:"readQueueNums"`
	WriteQueueNums int32  `json:"writeQueueNums"`
	Perm           int32  `json:"perm"`
	TopicSysFlag   int32  `json:"topicSysFlag"`
}

// BrokerData lists the addresses of one broker group by broker id (0 is
// the master; in raftmq, the Raft leader).
type BrokerData struct {
	Cluster     string
	BrokerName  string
	BrokerAddrs map[int64]string
}

// MarshalJSON writes brokerAddrs as a whitespace-free object with quoted
// numeric keys in id order, and {} when empty. The official client parses
// that object by hand (strip braces, split on ',' and the first ':'), and
// panics when the key is missing.
func (b BrokerData) MarshalJSON() ([]byte, error) {
	out := []byte(`{"brokerAddrs":`)
	out = appendBrokerAddrs(out, b.BrokerAddrs)
	out = append(out, `,"brokerName":`...)
	out = appendJSONString(out, b.BrokerName)
	out = append(out, `,"cluster":`...)
	out = appendJSONString(out, b.Cluster)
	return append(out, '}'), nil
}

func appendBrokerAddrs(out []byte, addrs map[int64]string) []byte {
	ids := make([]int64, 0, len(addrs))
	for id := range addrs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	out = append(out, '{')
	for i, id := range ids {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = strconv.AppendInt(out, id, 10)
		out = append(out, `":`...)
		out = appendJSONString(out, addrs[id])
	}
	return append(out, '}')
}

// UnmarshalJSON reads brokerAddrs keys as broker ids.
func (b *BrokerData) UnmarshalJSON(data []byte) error {
	var raw struct {
		Cluster     string            `json:"cluster"`
		BrokerName  string            `json:"brokerName"`
		BrokerAddrs map[string]string `json:"brokerAddrs"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	addrs := make(map[int64]string, len(raw.BrokerAddrs))
	for k, v := range raw.BrokerAddrs {
		id, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return fmt.Errorf("transport: brokerAddrs: broker id %q is not a number", k)
		}
		addrs[id] = v
	}
	*b = BrokerData{Cluster: raw.Cluster, BrokerName: raw.BrokerName, BrokerAddrs: addrs}
	return nil
}

// quoteBareKeys rewrites fastjson's numeric object keys ({0:"a"}, what
// Java brokers and name servers send for maps keyed by long) as standard
// JSON ({"0":"a"}). Strings are copied untouched.
func quoteBareKeys(b []byte) []byte {
	out := make([]byte, 0, len(b)+16)
	inStr, keyPos := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inStr:
			if c == '\\' && i+1 < len(b) {
				out = append(out, c, b[i+1])
				i++
				continue
			}
			if c == '"' {
				inStr = false
			}
		case c == '"':
			inStr, keyPos = true, false
		case c == '{' || c == ',':
			keyPos = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		case keyPos && (c == '-' || c >= '0' && c <= '9'):
			j := i + 1
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			out = append(out, '"')
			out = append(out, b[i:j]...)
			out = append(out, '"')
			i, keyPos = j-1, false
			continue
		default:
			keyPos = false
		}
		out = append(out, c)
	}
	return out
}

// TopicRouteData is the GET_ROUTEINFO_BY_TOPIC response body.
type TopicRouteData struct {
	OrderTopicConf    string              `json:"orderTopicConf,omitempty"`
	QueueDatas        []QueueData         `json:"queueDatas"`
	BrokerDatas       []BrokerData        `json:"brokerDatas"`
	FilterServerTable map[string][]string `json:"filterServerTable"`
}

// Encode returns the body with queueDatas, brokerDatas and
// filterServerTable always present (the client fails without queueDatas
// and panics without brokerAddrs).
func (r *TopicRouteData) Encode() ([]byte, error) {
	out := *r
	if out.QueueDatas == nil {
		out.QueueDatas = []QueueData{}
	}
	if out.BrokerDatas == nil {
		out.BrokerDatas = []BrokerData{}
	}
	if out.FilterServerTable == nil {
		out.FilterServerTable = map[string][]string{}
	}
	return json.Marshal(&out)
}

// DecodeTopicRouteData parses a route body.
func DecodeTopicRouteData(b []byte) (*TopicRouteData, error) {
	var r TopicRouteData
	if err := DecodeBody(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// SubscriptionData is one subscription in a heartbeat.
type SubscriptionData struct {
	ClassFilterMode bool     `json:"classFilterMode"`
	Topic           string   `json:"topic"`
	SubString       string   `json:"subString"` // "*" or "A || B"
	TagsSet         []string `json:"tagsSet"`
	CodeSet         CodeSet  `json:"codeSet"`
	SubVersion      int64    `json:"subVersion"`
	ExpressionType  string   `json:"expressionType"` // "TAG" or "SQL92"
}

// CodeSet holds tag hash codes. Java sends numbers, the official Go client
// strings; both decode. It encodes as numbers.
type CodeSet []int64

func (c *CodeSet) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make(CodeSet, 0, len(raw))
	for _, r := range raw {
		s := string(bytes.Trim(r, `"`))
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("transport: codeSet entry %s is not an integer", r)
		}
		out = append(out, v)
	}
	*c = out
	return nil
}

// CheckClientRequestBody is the CHECK_CLIENT_CONFIG request body: a
// consumer asks, before it starts, whether the broker accepts its
// (SQL92) subscription.
type CheckClientRequestBody struct {
	ClientID         string           `json:"clientId"`
	Group            string           `json:"group"`
	SubscriptionData SubscriptionData `json:"subscriptionData"`
}

// ProducerData names a producer group in a heartbeat.
type ProducerData struct {
	GroupName string `json:"groupName"`
}

// ConsumerData describes a consumer group member in a heartbeat.
type ConsumerData struct {
	GroupName           string             `json:"groupName"`
	ConsumeType         string             `json:"consumeType"`      // CONSUME_PASSIVELY (push) | CONSUME_ACTIVELY (pull)
	MessageModel        string             `json:"messageModel"`     // CLUSTERING | BROADCASTING
	ConsumeFromWhere    string             `json:"consumeFromWhere"` // CONSUME_FROM_LAST_OFFSET | ..._FIRST_OFFSET | ..._TIMESTAMP
	SubscriptionDataSet []SubscriptionData `json:"subscriptionDataSet"`
	UnitMode            bool               `json:"unitMode"`
}

// HeartbeatData is the HEART_BEAT request body.
type HeartbeatData struct {
	ClientID        string         `json:"clientID"`
	ProducerDataSet []ProducerData `json:"producerDataSet"`
	ConsumerDataSet []ConsumerData `json:"consumerDataSet"`
}

// ConsumerListBody answers GET_CONSUMER_LIST_BY_GROUP.
type ConsumerListBody struct {
	ConsumerIDList []string `json:"consumerIdList"`
}

// LockBatchRequestBody is the LOCK_BATCH_MQ and UNLOCK_BATCH_MQ body.
type LockBatchRequestBody struct {
	ConsumerGroup  string         `json:"consumerGroup"`
	ClientID       string         `json:"clientId"`
	OnlyThisBroker bool           `json:"onlyThisBroker,omitempty"`
	MQSet          []MessageQueue `json:"mqSet"`
}

// LockBatchResponseBody answers LOCK_BATCH_MQ: the queues now held.
type LockBatchResponseBody struct {
	LockOKMQSet []MessageQueue `json:"lockOKMQSet"`
}

// TopicConfig is a topic's configuration (Java TopicConfig).
type TopicConfig struct {
	TopicName       string            `json:"topicName"`
	ReadQueueNums   int32             `json:"readQueueNums"`
	WriteQueueNums  int32             `json:"writeQueueNums"`
	Perm            int32             `json:"perm"`
	TopicFilterType string            `json:"topicFilterType"` // SINGLE_TAG | MULTI_TAG
	TopicSysFlag    int32             `json:"topicSysFlag"`
	Order           bool              `json:"order"`
	Attributes      map[string]string `json:"attributes,omitempty"`
}

// DataVersion orders a broker's configuration snapshots.
type DataVersion struct {
	Timestamp int64 `json:"timestamp"`
	Counter   int64 `json:"counter"`
}

// TopicConfigWrapper is GET_ALL_TOPIC_CONFIG's body and part of
// REGISTER_BROKER's (Java TopicConfigSerializeWrapper).
type TopicConfigWrapper struct {
	TopicConfigTable map[string]TopicConfig `json:"topicConfigTable"`
	DataVersion      DataVersion            `json:"dataVersion"`
}

// RegisterBrokerBody is the REGISTER_BROKER body.
type RegisterBrokerBody struct {
	TopicConfigSerializeWrapper TopicConfigWrapper `json:"topicConfigSerializeWrapper"`
	FilterServerList            []string           `json:"filterServerList"`
}

// SubscriptionGroupConfig is UPDATE_AND_CREATE_SUBSCRIPTIONGROUP's body.
type SubscriptionGroupConfig struct {
	GroupName                      string `json:"groupName"`
	ConsumeEnable                  bool   `json:"consumeEnable"`
	ConsumeFromMinEnable           bool   `json:"consumeFromMinEnable"`
	ConsumeBroadcastEnable         bool   `json:"consumeBroadcastEnable"`
	ConsumeMessageOrderly          bool   `json:"consumeMessageOrderly"`
	RetryQueueNums                 int32  `json:"retryQueueNums"`
	RetryMaxTimes                  int32  `json:"retryMaxTimes"`
	BrokerID                       int64  `json:"brokerId"`
	WhichBrokerWhenConsumeSlowly   int64  `json:"whichBrokerWhenConsumeSlowly"`
	NotifyConsumerIDsChangedEnable bool   `json:"notifyConsumerIdsChangedEnable"`
}

// ClusterInfo answers GET_BROKER_CLUSTER_INFO.
type ClusterInfo struct {
	BrokerAddrTable  map[string]BrokerData `json:"brokerAddrTable"`
	ClusterAddrTable map[string][]string   `json:"clusterAddrTable"`
}

// TopicList answers GET_ALL_TOPIC_LIST_FROM_NAMESERVER and similar.
type TopicList struct {
	TopicList  []string `json:"topicList"`
	BrokerAddr string   `json:"brokerAddr,omitempty"`
}

// KVTable answers GET_BROKER_RUNTIME_INFO.
type KVTable struct {
	Table map[string]string `json:"table"`
}

// EncodeBody marshals a body without whitespace.
func EncodeBody(v any) ([]byte, error) {
	if r, ok := v.(*TopicRouteData); ok {
		return r.Encode()
	}
	if e, ok := v.(bodyEncoder); ok {
		b, err := e.EncodeBody()
		if err != nil {
			return nil, fmt.Errorf("transport: encode body: %w", err)
		}
		return b, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("transport: encode body: %w", err)
	}
	return b, nil
}

// DecodeBody unmarshals a body into v. Bodies from Java peers with bare
// numeric map keys are accepted.
func DecodeBody(b []byte, v any) error {
	if !json.Valid(b) {
		if fixed := quoteBareKeys(b); json.Valid(fixed) {
			b = fixed
		}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("transport: decode %T body: %w", v, err)
	}
	return nil
}
