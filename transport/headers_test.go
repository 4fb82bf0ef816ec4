package transport

import (
	"errors"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
)

// header is what every typed header implements.
type header interface {
	Encode() map[string]string
	Decode(map[string]string) error
}

func TestHeaders_RoundTrip(t *testing.T) {
	cases := []header{
		&SendMessageRequestHeader{ProducerGroup: "pg", Topic: "T", DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: 3,
			SysFlag: 5, BornTimestamp: 1700000000123, Flag: -2, Properties: "TAGS\x01A\x02", ReconsumeTimes: 1, UnitMode: true,
			MaxReconsumeTimes: 16, Batch: true, BrokerName: "broker-a"},
		&SendMessageResponseHeader{MsgID: "7F00000100002A9F0000000000000000", QueueID: 1, QueueOffset: 99, TransactionID: "tx", MsgRegion: "DefaultRegion", TraceOn: true},
		&PullMessageRequestHeader{ConsumerGroup: "cg", Topic: "T", QueueID: 2, QueueOffset: 1 << 40, MaxMsgNums: 32, SysFlag: PullFlagSuspend | PullFlagCommitOffset,
			CommitOffset: -1, SuspendTimeoutMillis: 20000, Subscription: "A || B", SubVersion: 1795392575525639181, ExpressionType: "TAG", BrokerName: "b"},
		&PullMessageResponseHeader{SuggestWhichBrokerID: 1, NextBeginOffset: 10, MinOffset: 0, MaxOffset: 20},
		&QueueHeader{Topic: "T", QueueID: 7, BrokerName: "b"},
		&SearchOffsetRequestHeader{Topic: "T", QueueID: 1, Timestamp: 1700000000000, BrokerName: "b"},
		&OffsetResponseHeader{Offset: -1},
		&TimestampResponseHeader{Timestamp: 1700000000000},
		&QueryConsumerOffsetRequestHeader{ConsumerGroup: "cg", Topic: "T", QueueID: 1, BrokerName: "b"},
		&UpdateConsumerOffsetRequestHeader{ConsumerGroup: "cg", Topic: "T", QueueID: 1, CommitOffset: 42, BrokerName: "b"},
		&ConsumerSendMsgBackRequestHeader{Offset: 123, Group: "cg", DelayLevel: -1, OriginMsgID: "id", OriginTopic: "T", UnitMode: false, MaxReconsumeTimes: 16, BrokerName: "b"},
		&EndTransactionRequestHeader{ProducerGroup: "pg", TranStateTableOffset: 5, CommitLogOffset: 6, CommitOrRollback: TransactionCommitType,
			FromTransactionCheck: true, MsgID: "m", TransactionID: "t", BrokerName: "b"},
		&CheckTransactionStateRequestHeader{TranStateTableOffset: 1, CommitLogOffset: 2, MsgID: "m", TransactionID: "t", OffsetMsgID: "o", BrokerName: "b"},
		&ConsumerGroupHeader{ConsumerGroup: "cg"},
		&TopicHeader{Topic: "T"},
		&QueryMessageRequestHeader{Topic: "T", Key: "k", MaxNum: 32, BeginTimestamp: 1, EndTimestamp: 2},
		&QueryMessageResponseHeader{IndexLastUpdateTimestamp: 3, IndexLastUpdatePhyoffset: 4},
		&ViewMessageRequestHeader{Offset: 77, Topic: "T"},
		&UnregisterClientRequestHeader{ClientID: "1.2.3.4@1", ProducerGroup: "pg", ConsumerGroup: "cg"},
		&CreateTopicRequestHeader{Topic: "T", DefaultTopic: "TBW102", ReadQueueNums: 8, WriteQueueNums: 8, Perm: 6, TopicFilterType: "SINGLE_TAG", TopicSysFlag: 1, Order: true},
		&RegisterBrokerRequestHeader{BrokerName: "b", BrokerAddr: "1.2.3.4:10911", ClusterName: "c", HaServerAddr: "1.2.3.4:10912", BrokerID: 1,
			HeartbeatTimeoutMillis: 10000, EnableActingMaster: true, Compressed: true, BodyCrc32: -5},
		&RegisterBrokerResponseHeader{HaServerAddr: "h", MasterAddr: "m"},
		&UnregisterBrokerRequestHeader{BrokerName: "b", BrokerAddr: "a", ClusterName: "c", BrokerID: 2},
		&GetConsumeStatsRequestHeader{ConsumerGroup: "cg", Topic: "T"},
		&ResetOffsetRequestHeader{Topic: "T", Group: "g", Timestamp: 5, IsForce: true},
		&GetConsumerRunningInfoRequestHeader{ConsumerGroup: "cg", ClientID: "c", JstackEnable: true},
		&ConsumeMessageDirectlyRequestHeader{ConsumerGroup: "cg", ClientID: "c", MsgID: "m", BrokerName: "b"},
		&GetConsumerStatusRequestHeader{Topic: "T", Group: "g", ClientAddr: "a"},
	}
	for _, h := range cases {
		name := reflect.TypeOf(h).Elem().Name()
		t.Run(name, func(t *testing.T) {
			m := h.Encode()
			// What goes on the wire survives a frame round trip.
			b, err := AppendFrame(nil, &Command{ExtFields: m}, SerializeJSON)
			require.NoError(t, err)
			var c Command
			_, err = DecodeFrame(b, &c, 0)
			require.NoError(t, err)
			got := reflect.New(reflect.TypeOf(h).Elem()).Interface().(header)
			require.NoError(t, got.Decode(c.ExtFields))
			require.Equal(t, h, got)
		})
	}
}

func TestSendMessageHeader_V2AndOfficialClientShape(t *testing.T) {
	// Exactly what the official client's SendMessageRequestV2Header.Encode emits for a batch.
	v2 := map[string]string{"a": "pg", "b": "T", "c": "TBW102", "d": "4", "e": "1", "f": "0", "g": "1700000000000",
		"h": "0", "i": "", "j": "0", "k": "false", "l": "0", "m": "true", "n": "broker-a"}
	var h SendMessageRequestHeader
	require.NoError(t, h.DecodeFor(ReqSendBatchMessage, v2))
	require.Equal(t, SendMessageRequestHeader{ProducerGroup: "pg", Topic: "T", DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: 1, BornTimestamp: 1700000000000, Batch: true, BrokerName: "broker-a"}, h)
	require.Equal(t, v2, h.EncodeV2())

	// And its long-name SEND_MESSAGE header.
	long := map[string]string{"producerGroup": "pg", "topic": "T", "queueId": "2", "sysFlag": "1", "bornTimestamp": "1700000000000",
		"flag": "0", "reconsumeTimes": "0", "unitMode": "false", "maxReconsumeTimes": "0", "defaultTopic": "TBW102",
		"defaultTopicQueueNums": "4", "batch": "false", "properties": "UNIQ_KEY\x01X\x02", "bname": "broker-a"}
	require.NoError(t, h.DecodeFor(ReqSendMessage, long))
	require.Equal(t, int32(2), h.QueueID)
	require.Equal(t, int32(1), h.SysFlag)
	require.Equal(t, long, h.Encode())

	var v SendMessageRequestHeader
	require.NoError(t, v.DecodeFor(ReqSendMessageV2, h.EncodeV2()))
	require.Equal(t, h, v)
}

func TestHeaders_Errors(t *testing.T) {
	var pull PullMessageRequestHeader
	m := (&PullMessageRequestHeader{ConsumerGroup: "cg", Topic: "T"}).Encode()
	delete(m, "queueOffset")
	err := pull.Decode(m)
	require.ErrorIs(t, err, ErrMissingField)
	var he *HeaderError
	require.True(t, errors.As(err, &he))
	require.Equal(t, "PullMessageRequestHeader", he.Header)
	require.Equal(t, "queueOffset", he.Field)
	require.Equal(t, "transport: missing header field: PullMessageRequestHeader.queueOffset", err.Error())

	m["queueOffset"] = "12x"
	err = pull.Decode(m)
	require.ErrorIs(t, err, ErrBadField)
	require.Equal(t, `transport: bad header field: PullMessageRequestHeader.queueOffset = "12x"`, err.Error())

	// int32 overflow and bad booleans are bad fields; optional absent fields are fine.
	var send SendMessageRequestHeader
	sm := (&SendMessageRequestHeader{ProducerGroup: "p", Topic: "T"}).Encode()
	sm["queueId"] = "4294967296"
	require.ErrorIs(t, send.Decode(sm), ErrBadField)
	sm["queueId"] = "1"
	sm["unitMode"] = "maybe"
	require.ErrorIs(t, send.Decode(sm), ErrBadField)
	delete(sm, "unitMode")
	delete(sm, "properties")
	delete(sm, "bname")
	require.NoError(t, send.Decode(sm))
	// The V2 decoder does not accept long names.
	require.ErrorIs(t, send.DecodeV2(sm), ErrMissingField)

	// Send response: TRACE_ON follows the client's rule.
	var sr SendMessageResponseHeader
	require.NoError(t, sr.Decode(map[string]string{"msgId": "x", "queueId": "0", "queueOffset": "0", "TRACE_ON": "yes"}))
	require.True(t, sr.TraceOn)
	require.NoError(t, sr.Decode(map[string]string{"msgId": "x", "queueId": "0", "queueOffset": "0"}))
	require.False(t, sr.TraceOn)
}

func TestHeaders_OptionalOmitted(t *testing.T) {
	m := (&SendMessageResponseHeader{MsgID: "x"}).Encode()
	_, hasTx := m["transactionId"]
	require.False(t, hasTx)
	m = (&QueueHeader{Topic: "T"}).Encode()
	_, hasBname := m["bname"]
	require.False(t, hasBname)
}
