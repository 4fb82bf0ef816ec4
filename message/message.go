package message

import (
	"net/netip"
	"strconv"
	"strings"
)

// Property names with a meaning to brokers or clients (RocketMQ MessageConst).
const (
	PropertyTags                 = "TAGS"
	PropertyKeys                 = "KEYS"
	PropertyUniqKey              = "UNIQ_KEY"
	PropertyDelayLevel           = "DELAY"
	PropertyTimerDeliverMS       = "TIMER_DELIVER_MS"
	PropertyTimerDelaySec        = "TIMER_DELAY_SEC"
	PropertyTimerDelayMS         = "TIMER_DELAY_MS"
	PropertyStartDeliverTime     = "__STARTDELIVERTIME" // Aliyun ONS clients: epoch ms
	PropertyTimerOutMS           = "TIMER_OUT_MS"       // on a delivered timer message: when it was due
	PropertyWaitStoreOK          = "WAIT"
	PropertyTransactionPrepared  = "TRAN_MSG"
	PropertyProducerGroup        = "PGROUP"
	PropertyTransactionID        = "__transactionId__"
	PropertyRetryTopic           = "RETRY_TOPIC"
	PropertyOriginMessageID      = "ORIGIN_MESSAGE_ID"
	PropertyRealTopic            = "REAL_TOPIC"
	PropertyRealQueueID          = "REAL_QID"
	PropertyReconsumeTime        = "RECONSUME_TIME"
	PropertyMaxReconsumeTimes    = "MAX_RECONSUME_TIMES"
	PropertyShardingKey          = "SHARDING_KEY"
	PropertyMinOffset            = "MIN_OFFSET"
	PropertyMaxOffset            = "MAX_OFFSET"
	PropertyConsumeStartTime     = "CONSUME_START_TIME"
	PropertyCluster              = "CLUSTER"
	PropertyMsgRegion            = "MSG_REGION"
	PropertyTraceOn              = "TRACE_ON"
	PropertyCorrelationID        = "CORRELATION_ID"
	PropertyReplyToClient        = "REPLY_TO_CLIENT"
	PropertyTTL                  = "TTL"
	PropertyMsgType              = "MSG_TYPE"
	PropertyTranPreparedQueueOff = "TRAN_PREPARED_QUEUE_OFFSET"
	PropertyTransactionCheckTime = "TRANSACTION_CHECK_TIMES"
)

// KeySeparator separates the keys inside the KEYS property.
const KeySeparator = " "

// SysFlag bits of a stored record and of the SEND_MESSAGE sysFlag header.
const (
	SysFlagCompressed          int32 = 0x1
	SysFlagMultiTags           int32 = 0x2
	SysFlagTransactionPrepared int32 = 0x4
	SysFlagTransactionCommit   int32 = 0x8
	SysFlagTransactionRollback int32 = 0xC
	// SysFlagTransactionMask selects the transaction type bits (2-3).
	SysFlagTransactionMask int32 = 0xC
	SysFlagBornHostV6      int32 = 0x10
	SysFlagStoreHostV6     int32 = 0x20
)

// Message is what a producer sends: no broker-assigned fields.
type Message struct {
	Topic      string
	Flag       int32
	Body       []byte
	Properties map[string]string
}

// GetProperty returns the property or "".
func (m *Message) GetProperty(key string) string { return m.Properties[key] }

// SetProperty sets a property, creating the map when needed.
func (m *Message) SetProperty(key, value string) {
	if m.Properties == nil {
		m.Properties = make(map[string]string)
	}
	m.Properties[key] = value
}

// DeleteProperty removes a property.
func (m *Message) DeleteProperty(key string) { delete(m.Properties, key) }

// Tags returns the TAGS property.
func (m *Message) Tags() string { return m.Properties[PropertyTags] }

// Keys returns the space-separated KEYS property split into its keys.
func (m *Message) Keys() []string { return splitKeys(m.Properties[PropertyKeys]) }

// UniqKey returns the client-assigned message id (UNIQ_KEY), or "".
func (m *Message) UniqKey() string { return m.Properties[PropertyUniqKey] }

// DelayLevel returns the DELAY property (1..18 in RocketMQ), 0 when absent
// or not a number.
func (m *Message) DelayLevel() int {
	v := m.Properties[PropertyDelayLevel]
	if v == "" {
		return 0 // most messages; Atoi would allocate its error
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0
	}
	return n
}

func splitKeys(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Fields(s)
}

// MessageExt is a decoded stored record: the message plus everything the
// broker assigned. Field names follow RocketMQ's MessageExt.
type MessageExt struct {
	Message
	QueueID     int32
	QueueOffset int64 // slot in the ConsumeQueue
	// CommitLogOffset is the record's PHYSICALOFFSET field (PhysOffset):
	// the per-broker locator echoed in offset message ids and send-back.
	CommitLogOffset           int64
	SysFlag                   int32
	BornTimestamp             int64 // ms since epoch
	BornHost                  netip.AddrPort
	StoreTimestamp            int64 // ms since epoch
	StoreHost                 netip.AddrPort
	ReconsumeTimes            int32
	PreparedTransactionOffset int64
	BodyCRC                   uint32
	StoreSize                 int32
}

// OffsetMsgID is the broker-side id: store host and commit log offset (§7.4).
func (m *MessageExt) OffsetMsgID() string {
	return EncodeOffsetMsgID(m.StoreHost, m.CommitLogOffset)
}

// MsgID is what clients call the message id: UNIQ_KEY when present, else
// the offset message id.
func (m *MessageExt) MsgID() string {
	if k := m.UniqKey(); k != "" {
		return k
	}
	return m.OffsetMsgID()
}
