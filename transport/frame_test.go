package transport

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// rawFrame builds a frame around an arbitrary header.
func rawFrame(st SerializeType, header, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(4+len(header)+len(body)))
	b = binary.BigEndian.AppendUint32(b, uint32(st)<<24|uint32(len(header)))
	b = append(b, header...)
	return append(b, body...)
}

func TestAppendFrame_JSONGolden(t *testing.T) {
	// The bytes the official client sent for a route query (captured).
	c := &Command{Code: 105, Language: "GO", Version: 317, Opaque: 1, ExtFields: map[string]string{"topic": "CapTopic"}}
	b, err := AppendFrame(nil, c, SerializeJSON)
	require.NoError(t, err)
	want := `{"code":105,"language":"GO","version":317,"opaque":1,"flag":0,"remark":"","extFields":{"topic":"CapTopic"}}`
	require.Equal(t, rawFrame(SerializeJSON, []byte(want), nil), b)

	// Response: sorted keys, numbers as strings, escapes.
	r := &Command{Code: 0, Language: "GO", Version: 317, Opaque: 3, Flag: 1, Remark: "a \"q\"\n\x01",
		ExtFields: map[string]string{"queueOffset": "0", "msgId": "7F", "TRACE_ON": "true"}}
	b, err = AppendFrame(nil, r, SerializeJSON)
	require.NoError(t, err)
	want = `{"code":0,"language":"GO","version":317,"opaque":3,"flag":1,"remark":"a \"q\"\n\u0001","extFields":{"TRACE_ON":"true","msgId":"7F","queueOffset":"0"}}`
	require.Equal(t, want, string(b[8:]))
	require.True(t, json.Valid(b[8:]))
}

func TestFrame_RoundTrip(t *testing.T) {
	cmds := []*Command{
		{Code: 10, Language: "GO", Version: 317, Opaque: 7, ExtFields: map[string]string{"topic": "T", "properties": "TAGS\x01A\x02", "é": "ü\u2028"}, Body: []byte("body")},
		{Code: 0, Language: "JAVA", Version: 453, Opaque: -5, Flag: 1, Remark: "ok", ExtFields: map[string]string{}},
		{Code: -1, Language: "RUST", Opaque: 1 << 30, Flag: 3, Body: bytes.Repeat([]byte{0, 1, 2}, 1000)},
	}
	for _, st := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
		var stream []byte
		for _, c := range cmds {
			var err error
			stream, err = AppendFrame(stream, c, st)
			require.NoError(t, err)
		}
		check := func(got, want *Command) {
			require.Equal(t, want.Code, got.Code)
			require.Equal(t, want.Language, got.Language)
			require.Equal(t, want.Version, got.Version)
			require.Equal(t, want.Opaque, got.Opaque)
			require.Equal(t, want.Flag, got.Flag)
			require.Equal(t, want.Remark, got.Remark)
			require.Equal(t, len(want.ExtFields), len(got.Fields()))
			for k, v := range want.ExtFields {
				require.Equal(t, v, got.ExtFields[k], k)
			}
			require.Equal(t, string(want.Body), string(got.Body))
		}
		// DecodeFrame over a buffer.
		rest := stream
		for _, want := range cmds {
			var got Command
			n, err := DecodeFrame(rest, &got, 0)
			require.NoError(t, err, st)
			check(&got, want)
			rest = rest[n:]
		}
		require.Empty(t, rest)
		// FrameReader over a stream delivered one byte at a time, reusing one Command.
		fr := NewFrameReader(iotest.OneByteReader(bytes.NewReader(stream)), 0)
		got := getCommand()
		for _, want := range cmds {
			require.NoError(t, fr.ReadFrame(got))
			check(got, want)
		}
		require.ErrorIs(t, fr.ReadFrame(got), io.EOF)
		putCommand(got)
	}
}

func TestDecodeJSONHeader_Lenient(t *testing.T) {
	cases := []struct {
		name   string
		header string
		want   Command
	}{
		{"java response", `{"code":0,"extFields":{"msgId":"X","queueId":"1"},"flag":1,"language":"JAVA","opaque":3,"serializeTypeCurrentRPC":"JSON","version":453}`,
			Command{Code: 0, Flag: 1, Language: "JAVA", Opaque: 3, Version: 453, ExtFields: map[string]string{"msgId": "X", "queueId": "1"}}},
		{"upper-case keys", `{"CODE":17,"Opaque":9,"FLAG":1,"Remark":"no route","ExtFields":null}`,
			Command{Code: 17, Opaque: 9, Flag: 1, Remark: "no route", ExtFields: map[string]string{}}},
		{"numeric language, null remark", `{"code":1,"language":9,"remark":null,"opaque":1}`,
			Command{Code: 1, Language: "9", Opaque: 1, ExtFields: map[string]string{}}},
		{"numbers and booleans in extFields", `{"code":0,"extFields":{"offset":12,"neg":-3.5e2,"b":true,"n":null}}`,
			Command{ExtFields: map[string]string{"offset": "12", "neg": "-3.5e2", "b": "true"}}},
		{"whitespace and nested unknowns", " {\n \"code\" : 34 , \"x\":{\"y\":[1,{\"z\":\"\\\"}\"}]} , \"version\":null }\t",
			Command{Code: 34, ExtFields: map[string]string{}}},
		{"escapes", `{"remark":"a\u00e9\ud83d\ude00\n\/\\","extFields":{"k\"":"\u0001"}}`,
			Command{Remark: "aé😀\n/\\", ExtFields: map[string]string{"k\"": "\x01"}}},
		{"lone surrogate", `{"remark":"\ud800x"}`, Command{Remark: "\uFFFDx", ExtFields: map[string]string{}}},
		{"duplicate keys: last wins", `{"code":1,"code":2,"extFields":{"a":"1","a":"2"}}`,
			Command{Code: 2, ExtFields: map[string]string{"a": "2"}}},
		{"empty object", `{}`, Command{ExtFields: map[string]string{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got Command
			_, err := DecodeFrame(rawFrame(SerializeJSON, []byte(tc.header), nil), &got, 0)
			require.NoError(t, err)
			require.Equal(t, SerializeJSON, got.wire.or(SerializeRocketMQ), "a response goes out as the request came in")
			got.buf, got.wire = nil, 0
			if got.ExtFields == nil {
				got.ExtFields = map[string]string{}
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestDecodeFrame_Errors(t *testing.T) {
	good, err := AppendFrame(nil, NewRequest(ReqHeartbeat, nil, []byte("x")), SerializeJSON)
	require.NoError(t, err)
	cases := []struct {
		name  string
		frame []byte
		want  error
		msg   string
	}{
		{"short length word", good[:3], ErrIncompleteFrame, ""},
		{"partial frame", good[:len(good)-1], ErrIncompleteFrame, ""},
		{"length below 4", []byte{0, 0, 0, 3, 0, 0, 0}, ErrMalformedFrame, "shorter than"},
		{"negative length", []byte{0x80, 0, 0, 0}, ErrMalformedFrame, "negative"},
		{"too large", []byte{0x01, 0, 0, 0}, ErrFrameTooLarge, "exceeds limit"},
		{"header longer than frame", []byte{0, 0, 0, 4, 0, 0, 0, 9}, ErrMalformedFrame, "header length"},
		{"unknown serialize type", rawFrame(2, []byte("{}"), nil), ErrMalformedFrame, "serialize type 2"},
		{"not json", rawFrame(SerializeJSON, []byte("nope"), nil), ErrMalformedFrame, "expected '{'"},
		{"unterminated", rawFrame(SerializeJSON, []byte(`{"code":1`), nil), ErrMalformedFrame, ""},
		{"trailing data", rawFrame(SerializeJSON, []byte(`{}x`), nil), ErrMalformedFrame, "trailing"},
		{"code out of range", rawFrame(SerializeJSON, []byte(`{"code":40000}`), nil), ErrMalformedFrame, "code 40000"},
		{"fractional opaque", rawFrame(SerializeJSON, []byte(`{"opaque":1.5}`), nil), ErrMalformedFrame, "opaque"},
		{"object ext value", rawFrame(SerializeJSON, []byte(`{"extFields":{"a":{}}}`), nil), ErrMalformedFrame, "expected a string"},
		{"ext not object", rawFrame(SerializeJSON, []byte(`{"extFields":[]}`), nil), ErrMalformedFrame, "not an object"},
		{"control char", rawFrame(SerializeJSON, []byte("{\"remark\":\"a\x01\"}"), nil), ErrMalformedFrame, "control"},
		{"bad escape", rawFrame(SerializeJSON, []byte(`{"remark":"\x"}`), nil), ErrMalformedFrame, "escape"},
		{"deep nesting", rawFrame(SerializeJSON, []byte(`{"x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}`), nil), ErrMalformedFrame, "nesting"},
		{"binary too short", rawFrame(SerializeRocketMQ, make([]byte, 20), nil), ErrMalformedFrame, "fixed 21"},
		{"binary remark overflow", rawFrame(SerializeRocketMQ, append(make([]byte, 13), 0x7F, 0, 0, 0, 0, 0, 0, 0), nil), ErrMalformedFrame, "remark length"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c Command
			_, err := DecodeFrame(tc.frame, &c, 1<<20)
			require.ErrorIs(t, err, tc.want)
			var fe *FrameError
			require.True(t, errors.As(err, &fe))
			require.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestRocketMQHeader_ExtErrors(t *testing.T) {
	base := func(ext []byte) []byte {
		h := make([]byte, 13)
		h = binary.BigEndian.AppendUint32(h, 0) // remark
		h = binary.BigEndian.AppendUint32(h, uint32(len(ext)))
		return append(h, ext...)
	}
	for name, ext := range map[string][]byte{
		"key length beyond":   {0, 9, 'a'},
		"negative key length": {0x80, 0, 'a'},
		"missing value len":   {0, 1, 'a', 0, 0},
		"value beyond":        {0, 1, 'a', 0, 0, 0, 5, 'x'},
		"truncated key len":   {0},
	} {
		var c Command
		_, err := DecodeFrame(rawFrame(SerializeRocketMQ, base(ext), nil), &c, 0)
		require.ErrorIs(t, err, ErrMalformedFrame, name)
	}
	// Declared ext length disagreeing with the header size.
	h := base(nil)
	binary.BigEndian.PutUint32(h[17:], 4)
	var c Command
	_, err := DecodeFrame(rawFrame(SerializeRocketMQ, h, nil), &c, 0)
	require.ErrorIs(t, err, ErrMalformedFrame)
}

func TestRocketMQHeader_Languages(t *testing.T) {
	for _, lang := range []string{"JAVA", "GO", "RUST", "NODE_JS"} {
		b, err := AppendFrame(nil, &Command{Language: lang}, SerializeRocketMQ)
		require.NoError(t, err)
		var c Command
		_, err = DecodeFrame(b, &c, 0)
		require.NoError(t, err)
		require.Equal(t, lang, c.Language)
	}
	b, err := AppendFrame(nil, &Command{Language: "KLINGON"}, SerializeRocketMQ)
	require.NoError(t, err)
	require.Equal(t, byte(127), b[8+2])
}

func TestAppendFrame_Errors(t *testing.T) {
	_, err := AppendFrame([]byte("keep"), &Command{}, SerializeType(7))
	require.ErrorIs(t, err, ErrEncode)
	out, err := AppendFrame([]byte("keep"), &Command{ExtFields: map[string]string{strings.Repeat("k", 40000): "v"}}, SerializeRocketMQ)
	require.ErrorIs(t, err, ErrEncode)
	require.Equal(t, "keep", string(out))
}

func TestFrameReader_LimitsAllocationBeforeReading(t *testing.T) {
	// A 4-byte length claiming 1 GiB must fail without allocating it.
	r := bytes.NewReader(nil)
	fr := NewFrameReader(r, 1<<20)
	var c Command
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 100 {
		r.Reset([]byte{0x40, 0, 0, 0})
		require.ErrorIs(t, fr.ReadFrame(&c), ErrFrameTooLarge)
	}
	runtime.ReadMemStats(&after)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(100<<10), "only error values are allocated")
	// A truncated body is io.ErrUnexpectedEOF, not io.EOF.
	good, _ := AppendFrame(nil, NewRequest(ReqHeartbeat, nil, []byte("body")), SerializeJSON)
	fr = NewFrameReader(bytes.NewReader(good[:len(good)-2]), 0)
	require.ErrorIs(t, fr.ReadFrame(&c), io.ErrUnexpectedEOF)
}

// pullRequestFrame is a typical long-poll pull as the official client sends it.
func pullRequestFrame(opaque int32, offset int64) []byte {
	h := PullMessageRequestHeader{ConsumerGroup: "SmokeConsumerGroup", Topic: "SmokeTopic", QueueID: 1, QueueOffset: offset,
		MaxMsgNums: 32, SysFlag: 2, CommitOffset: 0, SuspendTimeoutMillis: 20000, SubVersion: 0, ExpressionType: "TAG", BrokerName: "broker-a"}
	c := NewRequest(ReqPullMessage, h.Encode(), nil)
	c.Opaque = opaque
	b, _ := AppendFrame(nil, c, SerializeJSON)
	return b
}

func TestFrameReader_SteadyStateAllocations(t *testing.T) {
	// Same strings every time (a heartbeat-like or repeated pull): zero.
	same := pullRequestFrame(1, 7)
	r := bytes.NewReader(nil)
	fr := NewFrameReader(r, 0)
	c := getCommand()
	defer putCommand(c)
	allocs := testing.AllocsPerRun(200, func() {
		r.Reset(same)
		if err := fr.ReadFrame(c); err != nil {
			panic(err)
		}
	})
	require.Zero(t, allocs, "repeated frame")

	// Pulls whose offset changes each time: the new value costs one string.
	frames := make([][]byte, 300)
	for i := range frames {
		frames[i] = pullRequestFrame(int32(i), int64(1_000_000+i))
	}
	i := 0
	allocs = testing.AllocsPerRun(200, func() {
		r.Reset(frames[i%len(frames)])
		i++
		if err := fr.ReadFrame(c); err != nil {
			panic(err)
		}
	})
	require.LessOrEqual(t, allocs, 1.0, "pull with a new offset")

	// New message IDs in every frame (send results): one string, and the
	// intern table is left to the strings that do repeat.
	for i := range frames {
		c := NewRequest(ReqSendMessage, map[string]string{
			"msgId":       fmt.Sprintf("7F0000010C5A18B4AAC27D0E5A1B%04X", i),
			"offsetMsgId": fmt.Sprintf("7F00000100002A9F%016x", i),
			"queueId":     "3",
		}, nil)
		frames[i], _ = AppendFrame(nil, c, SerializeRocketMQ)
	}
	interned := len(fr.dec.intern)
	allocs = testing.AllocsPerRun(200, func() {
		r.Reset(frames[i%len(frames)])
		i++
		if err := fr.ReadFrame(c); err != nil {
			panic(err)
		}
	})
	require.LessOrEqual(t, allocs, 1.0, "frame with new message IDs")
	require.Equal(t, interned, len(fr.dec.intern), "message IDs interned")
}

func TestUnique(t *testing.T) {
	for s, want := range map[string]bool{
		"1700000000123": true, "-12345": true, "1234": false,
		"7F0000010C5A18B4AAC27D0E5A1B0001": true, "7f00000100002a9f": true, "7F00000100002A9": false,
		"SmokeTopic": false, "DEFAULT_CONSUMER": false, "0123456789abcdefg": false,
	} {
		require.Equal(t, want, unique(s), s)
	}
}

func TestFrameReader_BufferedStream(t *testing.T) {
	// Many frames through a bufio.Reader as the server reads them.
	var stream []byte
	for i := range 100 {
		stream = append(stream, pullRequestFrame(int32(i), int64(i))...)
	}
	fr := NewFrameReader(bufio.NewReaderSize(iotest.HalfReader(bytes.NewReader(stream)), 64), 0)
	c := getCommand()
	defer putCommand(c)
	for i := range 100 {
		require.NoError(t, fr.ReadFrame(c))
		require.Equal(t, int32(i), c.Opaque)
		var h PullMessageRequestHeader
		require.NoError(t, h.Decode(c.ExtFields))
		require.Equal(t, int64(i), h.QueueOffset)
	}
}

func TestCodes_String(t *testing.T) {
	require.Equal(t, "GET_ROUTEINFO_BY_TOPIC", ReqGetRouteInfoByTopic.String())
	require.Equal(t, "SEND_BATCH_MESSAGE", ReqSendBatchMessage.String())
	require.Equal(t, "RequestCode(9999)", RequestCode(9999).String())
	require.Equal(t, "REQUEST_CODE_NOT_SUPPORTED", RespRequestCodeNotSupported.String())
	require.Equal(t, "ResponseCode(-7)", ResponseCode(-7).String())
	// Spot-check numbers against apache/rocketmq RequestCode.java / ResponseCode.java.
	for code, want := range map[RequestCode]int16{
		ReqSendMessage: 10, ReqPullMessage: 11, ReqQueryMessage: 12, ReqQueryConsumerOffset: 14,
		ReqUpdateConsumerOffset: 15, ReqUpdateAndCreateTopic: 17, ReqGetAllTopicConfig: 21,
		ReqGetBrokerRuntimeInfo: 28, ReqSearchOffsetByTimestamp: 29, ReqGetMaxOffset: 30, ReqGetMinOffset: 31,
		ReqGetEarliestMsgStoreTime: 32, ReqViewMessageByID: 33, ReqHeartbeat: 34, ReqUnregisterClient: 35,
		ReqConsumerSendMsgBack: 36, ReqEndTransaction: 37, ReqGetConsumerListByGroup: 38,
		ReqCheckTransactionState: 39, ReqNotifyConsumerIDsChanged: 40, ReqLockBatchMQ: 41, ReqUnlockBatchMQ: 42,
		ReqRegisterBroker: 103, ReqUnregisterBroker: 104, ReqGetRouteInfoByTopic: 105, ReqGetBrokerClusterInfo: 106,
		ReqUpdateAndCreateSubscriptionGroup: 200, ReqGetAllTopicListFromNameServer: 206, ReqGetConsumeStats: 208,
		ReqDeleteTopicInBroker: 215, ReqDeleteTopicInNameSrv: 216, ReqResetConsumerClientOffset: 220,
		ReqInvokeBrokerToResetOffset: 222, ReqGetConsumerRunningInfo: 307, ReqConsumeMessageDirectly: 309,
		ReqSendMessageV2: 310, ReqSendBatchMessage: 320, ReqSendReplyMessage: 324, ReqPushReplyMessageToClient: 326,
	} {
		require.Equal(t, want, int16(code), code.String())
	}
	for code, want := range map[ResponseCode]int16{
		RespSuccess: 0, RespSystemError: 1, RespSystemBusy: 2, RespRequestCodeNotSupported: 3,
		RespFlushDiskTimeout: 10, RespSlaveNotAvailable: 11, RespFlushSlaveTimeout: 12, RespServiceNotAvailable: 14,
		RespNoPermission: 16, RespTopicNotExist: 17, RespPullNotFound: 19, RespPullRetryImmediately: 20,
		RespPullOffsetMoved: 21, RespQueryNotFound: 22, RespSubscriptionParseFailed: 23, RespSubscriptionNotExist: 24,
		RespSubscriptionGroupNotExist: 26,
	} {
		require.Equal(t, want, int16(code), code.String())
	}
}

func TestCommand_Helpers(t *testing.T) {
	c := NewRequest(ReqSendMessage, nil, nil)
	require.False(t, c.IsResponse())
	require.False(t, c.IsOneway())
	c.SetExt("topic", "T")
	require.Equal(t, "T", c.Ext("topic"))
	require.Equal(t, ReqSendMessage, c.RequestCode())
	require.Contains(t, c.String(), "SEND_MESSAGE")
	r := NewResponse(RespTopicNotExist, "nope")
	r.Flag = FlagResponse | FlagOneway
	require.True(t, r.IsResponse())
	require.True(t, r.IsOneway())
	require.Equal(t, RespTopicNotExist, r.ResponseCode())
	require.Contains(t, r.String(), "TOPIC_NOT_EXIST")
	require.Equal(t, "ROCKETMQ", SerializeRocketMQ.String())
}
