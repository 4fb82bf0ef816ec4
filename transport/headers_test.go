package transport

import (
	"encoding/binary"
	"errors"
	"reflect"
	"strconv"
	"strings"
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

// binaryHeaderFrame builds a frame with a ROCKETMQ binary header whose ext
// fields come in the given order, repeats allowed (a map cannot say that).
func binaryHeaderFrame(code RequestCode, pairs [][2]string, body []byte) []byte {
	var h []byte
	h = binary.BigEndian.AppendUint16(h, uint16(code))
	h = append(h, languageByte("GO"))
	h = binary.BigEndian.AppendUint16(h, 317)
	h = binary.BigEndian.AppendUint32(h, 9) // opaque
	h = binary.BigEndian.AppendUint32(h, 0) // flag: a request
	h = binary.BigEndian.AppendUint32(h, 0) // no remark
	var ext []byte
	for _, p := range pairs {
		ext = binary.BigEndian.AppendUint16(ext, uint16(len(p[0])))
		ext = append(ext, p[0]...)
		ext = binary.BigEndian.AppendUint32(ext, uint32(len(p[1])))
		ext = append(ext, p[1]...)
	}
	h = binary.BigEndian.AppendUint32(h, uint32(len(ext)))
	return rawFrame(SerializeRocketMQ, append(h, ext...), body)
}

// A send request's ext fields stay pairs (no map); the typed decode from
// them, Ext and Fields agree with the map in every case, errors included.
func TestSendHeader_DecodedFromPairs(t *testing.T) {
	want := SendMessageRequestHeader{ProducerGroup: "pg", Topic: "T", DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: 3, SysFlag: 1, BornTimestamp: 1_700_000_000_123, Properties: "UNIQ_KEY\x01X\x02", ReconsumeTimes: 2,
		MaxReconsumeTimes: 16, BrokerName: "broker-a"}
	for _, code := range []RequestCode{ReqSendMessage, ReqSendMessageV2, ReqSendBatchMessage} {
		ext, topicKey := want.Encode(), "topic"
		if code != ReqSendMessage {
			ext, topicKey = want.EncodeV2(), "b"
		}
		for _, st := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
			frame, err := AppendFrame(nil, NewRequest(code, ext, []byte("body")), st)
			require.NoError(t, err)
			var c Command
			_, err = DecodeFrame(frame, &c, 0)
			require.NoError(t, err)
			require.Nil(t, c.ExtFields, "%v %v: no map built", code, st)
			require.Equal(t, "T", c.Ext(topicKey))
			var h SendMessageRequestHeader
			require.NoError(t, h.DecodeCommand(&c))
			require.Equal(t, want, h, "%v %v", code, st)
			require.Equal(t, ext, c.Fields())
			require.NoError(t, h.DecodeCommand(&c)) // from the map now
			require.Equal(t, want, h)
		}
	}

	// Other requests and every response get the map.
	var c Command
	frame, err := AppendFrame(nil, NewRequest(ReqPullMessage, map[string]string{"topic": "T"}, nil), SerializeRocketMQ)
	require.NoError(t, err)
	_, err = DecodeFrame(frame, &c, 0)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"topic": "T"}, c.ExtFields)
	resp := &Command{Code: int16(ReqSendMessage), Flag: FlagResponse, ExtFields: map[string]string{"msgId": "x"}}
	frame, err = AppendFrame(nil, resp, SerializeRocketMQ)
	require.NoError(t, err)
	_, err = DecodeFrame(frame, &c, 0)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"msgId": "x"}, c.ExtFields)

	// A repeated field: the last value wins, in Ext, Fields and the typed
	// decode alike, as it does in the map.
	pairs := [][2]string{{"a", "pg"}, {"b", "First"}, {"c", "TBW102"}, {"d", "4"}, {"e", "1"}, {"f", "0"}, {"g", "5"}, {"h", "0"}, {"b", "Last"}}
	_, err = DecodeFrame(binaryHeaderFrame(ReqSendMessageV2, pairs, nil), &c, 0)
	require.NoError(t, err)
	require.Equal(t, "Last", c.Ext("b"))
	var h SendMessageRequestHeader
	require.NoError(t, h.DecodeCommand(&c))
	require.Equal(t, "Last", h.Topic)
	require.Equal(t, "Last", c.Fields()["b"])

	// Errors name the same field as the map decode: the first bad or
	// missing one in header order, whatever the order on the wire.
	for _, tc := range []struct {
		name  string
		pairs [][2]string
		field string
		err   error
	}{
		{"missing", [][2]string{{"a", "pg"}, {"b", "T"}, {"c", "TBW102"}, {"d", "4"}, {"e", "1"}, {"g", "5"}, {"h", "0"}}, "f", ErrMissingField},
		{"bad-late-and-missing-early", [][2]string{{"h", "x"}, {"a", "pg"}, {"b", "T"}, {"c", "TBW102"}, {"d", "4"}, {"f", "0"}, {"g", "5"}}, "e", ErrMissingField},
		{"bad", [][2]string{{"a", "pg"}, {"b", "T"}, {"c", "TBW102"}, {"d", "4"}, {"e", "99999999999"}, {"f", "0"}, {"g", "5"}, {"h", "0"}}, "e", ErrBadField},
		{"bad-bool", [][2]string{{"a", "pg"}, {"b", "T"}, {"c", "TBW102"}, {"d", "4"}, {"e", "1"}, {"f", "0"}, {"g", "5"}, {"h", "0"}, {"m", "maybe"}}, "m", ErrBadField},
		{"long-names-in-v2", [][2]string{{"producerGroup", "pg"}, {"topic", "T"}}, "a", ErrMissingField},
	} {
		_, err = DecodeFrame(binaryHeaderFrame(ReqSendMessageV2, tc.pairs, nil), &c, 0)
		require.NoError(t, err)
		errPairs := h.DecodeCommand(&c)
		require.ErrorIs(t, errPairs, tc.err, tc.name)
		var he *HeaderError
		require.True(t, errors.As(errPairs, &he), tc.name)
		require.Equal(t, tc.field, he.Field, tc.name)
		errMap := h.DecodeFor(ReqSendMessageV2, c.Fields())
		require.Equal(t, errMap.Error(), errPairs.Error(), tc.name)
	}
}

// sendFieldIndex's switch must list exactly sendFieldNames.
func TestSendFieldIndex(t *testing.T) {
	for i, names := range sendFieldNames {
		require.Equal(t, i, sendFieldIndex(names[0], 0), names[0])
		require.Equal(t, i, sendFieldIndex(names[1], 1), names[1])
		require.Equal(t, -1, sendFieldIndex(names[1], 0), names[1])
		require.Equal(t, -1, sendFieldIndex(names[0], 1), names[0])
	}
	require.Equal(t, -1, sendFieldIndex("o", 1))
	require.Equal(t, -1, sendFieldIndex("", 1))
}

// parseDecimal agrees with strconv.ParseInt, errors included.
func TestParseDecimal(t *testing.T) {
	for _, v := range []string{"0", "7", "-1", "-", "", "+5", "007", "1700000000123", "2147483647", "2147483648", "-2147483648",
		"-2147483649", "999999999999999999", "9223372036854775807", "9223372036854775808", "1_000", "12x", " 1", "١"} {
		for _, bits := range []int{32, 64} {
			got, gotErr := parseDecimal(v, bits)
			want, wantErr := strconv.ParseInt(v, 10, bits)
			require.Equal(t, want, got, "%q/%d", v, bits)
			require.Equal(t, wantErr, gotErr, "%q/%d", v, bits)
		}
	}
}

// A send response encoded from sorted pairs is byte for byte the frame its
// map encodes to, in both header types; Fields and Ext see the same.
func TestSendResponseHeader_EncodeTo(t *testing.T) {
	for _, h := range []SendMessageResponseHeader{
		{MsgID: "C0A8000100002A9F0000000000000000", QueueID: 3, QueueOffset: 1 << 40, MsgRegion: "DefaultRegion", TraceOn: true, TransactionID: "U1"},
		{MsgID: "a,b", QueueID: 0, QueueOffset: 0},
		{MsgID: "x", QueueID: -1, QueueOffset: 7, TransactionID: "T"},
	} {
		for _, st := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
			viaMap := NewResponse(RespSuccess, "")
			viaMap.ExtFields = h.Encode()
			want, err := AppendFrame(nil, viaMap, st)
			require.NoError(t, err)
			viaPairs := NewResponse(RespSuccess, "")
			h.EncodeTo(viaPairs)
			require.Nil(t, viaPairs.ExtFields)
			require.True(t, viaPairs.sorted, "the pairs are in key order")
			got, err := AppendFrame(nil, viaPairs, st)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got))
			require.Equal(t, h.MsgID, viaPairs.Ext("msgId"))
			require.Equal(t, h.Encode(), viaPairs.Fields())
		}
	}
	// Pairs out of order go to the map: the same bytes again.
	c := NewResponse(RespSuccess, "")
	c.SetSortedPairs([]ExtPair{{"b", "2"}, {"a", "1"}, {"b", "3"}})
	require.Equal(t, map[string]string{"a": "1", "b": "3"}, c.ExtFields)
}

// A reused Command does not keep the storage of a huge header's pairs.
func TestCommand_HugePairsNotKept(t *testing.T) {
	var pairs [][2]string
	for i := 0; i < 1000; i++ {
		pairs = append(pairs, [2]string{"k" + strconv.Itoa(i), "v"})
	}
	var c Command
	_, err := DecodeFrame(binaryHeaderFrame(ReqSendMessageV2, pairs, nil), &c, 0)
	require.NoError(t, err)
	require.Len(t, c.pairs, 1000)
	require.Equal(t, "v", c.Ext("k999"))
	_, err = DecodeFrame(binaryHeaderFrame(ReqSendMessageV2, pairs[:3], nil), &c, 0)
	require.NoError(t, err)
	require.Len(t, c.pairs, 3)
	require.LessOrEqual(t, cap(c.pairs), maxReusedExt)
	c.reset()
	require.LessOrEqual(t, cap(c.pairs), maxReusedExt)
}

// A send request encoded from sorted pairs is byte for byte the frame its
// map encodes to, in both namings and both header types.
func TestSendRequestHeader_EncodeTo(t *testing.T) {
	for _, h := range []SendMessageRequestHeader{
		{ProducerGroup: "pg", Topic: "T", DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: 3, SysFlag: 1,
			BornTimestamp: 1_700_000_000_123, Flag: 2, Properties: "UNIQ_KEY\x01X\x02", ReconsumeTimes: 1, UnitMode: true,
			MaxReconsumeTimes: 16, Batch: true, BrokerName: "broker-a"},
		{ProducerGroup: "pg", Topic: "T"},
	} {
		for _, v2 := range []bool{false, true} {
			want := h.Encode()
			if v2 {
				want = h.EncodeV2()
			}
			for _, st := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
				viaMap, err := AppendFrame(nil, NewRequest(ReqSendMessageV2, want, []byte("b")), st)
				require.NoError(t, err)
				c := NewRequest(ReqSendMessageV2, nil, []byte("b"))
				h.EncodeTo(c, v2)
				require.True(t, c.sorted, "the pairs are in key order")
				viaPairs, err := AppendFrame(nil, c, st)
				require.NoError(t, err)
				require.Equal(t, string(viaMap), string(viaPairs), "v2 %v %v", v2, st)
				require.Equal(t, want, c.Fields())
			}
		}
	}
}

// ref looks strings up only up to maxLookupLen: every well-known string
// must fit, or it would never be found.
func TestWellKnownFitLookups(t *testing.T) {
	for s := range wellKnown {
		require.LessOrEqual(t, len(s), maxLookupLen, s)
	}
}

// A send response read from a lazily decoded frame's pairs decodes as from
// the map: the same header, the same errors, the last of a repeated key.
func TestSendResponseHeader_DecodeCommand(t *testing.T) {
	decodeBoth := func(t *testing.T, pairs []ExtPair, st SerializeType) (SendMessageResponseHeader, error, SendMessageResponseHeader, error) {
		t.Helper()
		out := NewResponse(RespSuccess, "")
		out.Opaque, out.Flag = 9, FlagResponse
		// A frame may repeat a key: the pairs go out as given.
		out.pairs, out.lazy = pairs, true
		frame, err := AppendFrame(nil, out, st)
		require.NoError(t, err)
		fr := NewFrameReader(strings.NewReader(string(frame)), 0)
		fr.dec.lazyResponses = true
		var lazy Command
		require.NoError(t, fr.ReadFrame(&lazy))
		if len(pairs) > 0 {
			require.True(t, lazy.lazy, "a client's response keeps its pairs")
		}
		var viaPairs, viaMap SendMessageResponseHeader
		errPairs := viaPairs.DecodeCommand(&lazy)
		errMap := viaMap.Decode(lazy.Fields())
		return viaPairs, errPairs, viaMap, errMap
	}
	cases := [][]ExtPair{
		{{"msgId", "AB"}, {"queueId", "3"}, {"queueOffset", "1099511627776"}, {"TRACE_ON", "true"}, {"MSG_REGION", "DefaultRegion"}, {"transactionId", "U1"}},
		{{"msgId", "a,b"}, {"queueId", "0"}, {"queueOffset", "0"}, {"TRACE_ON", "false"}},
		{{"msgId", "x"}, {"queueId", "1"}, {"queueOffset", "5"}, {"queueOffset", "6"}}, // repeated: the last wins
		{{"msgId", "x"}, {"queueOffset", "5"}},                             // queueId missing
		{{"msgId", "x"}, {"queueId", "q"}, {"queueOffset", "5"}},           // not a number
		{{"msgId", "x"}, {"queueId", "99999999999"}, {"queueOffset", "5"}}, // beyond int32
		{},
	}
	for i, pairs := range cases {
		for _, st := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
			hp, ep, hm, em := decodeBoth(t, pairs, st)
			require.Equal(t, hm, hp, "case %d", i)
			if em == nil {
				require.NoError(t, ep, "case %d", i)
			} else {
				require.EqualError(t, ep, em.Error(), "case %d", i)
			}
		}
	}
	hp, ep, _, _ := decodeBoth(t, cases[2], SerializeRocketMQ)
	require.NoError(t, ep)
	require.Equal(t, int64(6), hp.QueueOffset)
}
