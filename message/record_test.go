package message

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func sampleExt(born, store string) *MessageExt {
	return &MessageExt{
		Message: Message{
			Topic: "TopicTest",
			Flag:  7,
			Body:  []byte("hello raftmq"),
			Properties: map[string]string{
				PropertyTags:    "TagA",
				PropertyKeys:    "k1 k2",
				PropertyUniqKey: "7F0000010C5A18B4AAC27D0E5A1B0000",
			},
		},
		QueueID:                   3,
		QueueOffset:               42,
		CommitLogOffset:           1 << 40,
		SysFlag:                   SysFlagMultiTags,
		BornTimestamp:             1700000000123,
		BornHost:                  netip.MustParseAddrPort(born),
		StoreTimestamp:            1700000000456,
		StoreHost:                 netip.MustParseAddrPort(store),
		ReconsumeTimes:            2,
		PreparedTransactionOffset: 99,
	}
}

func TestRecord_RoundTrip(t *testing.T) {
	cases := []struct {
		name         string
		born, store  string
		wantSize     int
		wantV6Flags  int32
		emptyPayload bool
	}{
		{name: "ipv4 both", born: "10.0.0.1:50000", store: "192.168.1.2:10911", wantV6Flags: 0},
		{name: "ipv6 born", born: "[2001:db8::1]:50000", store: "192.168.1.2:10911", wantV6Flags: SysFlagBornHostV6},
		{name: "ipv6 store", born: "10.0.0.1:1", store: "[::1]:10911", wantV6Flags: SysFlagStoreHostV6},
		{name: "ipv6 both", born: "[fe80::1]:2", store: "[2001:db8::2]:3", wantV6Flags: SysFlagBornHostV6 | SysFlagStoreHostV6},
		{name: "ipv4-mapped is written as ipv4", born: "[::ffff:10.1.2.3]:5", store: "10.0.0.9:6", wantV6Flags: 0},
		{name: "empty body topic props", born: "1.2.3.4:5", store: "5.6.7.8:9", emptyPayload: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := sampleExt(tc.born, tc.store)
			if tc.emptyPayload {
				m.Topic, m.Body, m.Properties = "", nil, nil
			}
			size, err := RecordSize(m)
			require.NoError(t, err)
			rec, err := AppendRecord([]byte("prefix"), m)
			require.NoError(t, err)
			require.Equal(t, "prefix", string(rec[:6]))
			rec = rec[6:]
			require.Len(t, rec, size)
			if tc.emptyPayload {
				require.Equal(t, MinRecordSize, size)
			}

			got, n, err := DecodeRecord(rec)
			require.NoError(t, err)
			require.Equal(t, size, n)
			require.Equal(t, m.Topic, got.Topic)
			require.Equal(t, m.Flag, got.Flag)
			require.Equal(t, string(m.Body), string(got.Body))
			if len(m.Properties) == 0 {
				require.Empty(t, got.Properties)
			} else {
				require.Equal(t, m.Properties, got.Properties)
			}
			require.Equal(t, m.QueueID, got.QueueID)
			require.Equal(t, m.QueueOffset, got.QueueOffset)
			require.Equal(t, m.CommitLogOffset, got.CommitLogOffset)
			require.Equal(t, m.SysFlag|tc.wantV6Flags, got.SysFlag)
			require.Equal(t, m.BornTimestamp, got.BornTimestamp)
			require.Equal(t, m.StoreTimestamp, got.StoreTimestamp)
			require.Equal(t, m.BornHost.Addr().Unmap(), got.BornHost.Addr())
			require.Equal(t, m.BornHost.Port(), got.BornHost.Port())
			require.Equal(t, m.StoreHost.Addr().Unmap(), got.StoreHost.Addr())
			require.Equal(t, m.StoreHost.Port(), got.StoreHost.Port())
			require.Equal(t, m.ReconsumeTimes, got.ReconsumeTimes)
			require.Equal(t, m.PreparedTransactionOffset, got.PreparedTransactionOffset)
			require.Equal(t, int32(size), got.StoreSize)

			v, err := ParseRecord(rec)
			require.NoError(t, err)
			require.Equal(t, got.BodyCRC, v.BodyCRC)
			require.Equal(t, m.Topic, string(v.Topic))
			require.Equal(t, string(m.Body), string(v.Body))
			tags, ok := v.Property(PropertyTags)
			require.Equal(t, !tc.emptyPayload, ok)
			if ok {
				require.Equal(t, "TagA", string(tags))
			}
		})
	}
}

func TestRecord_WithPropertiesMatchesMap(t *testing.T) {
	m := sampleExt("10.0.0.1:1", "10.0.0.2:2")
	props, err := AppendProperties(nil, m.Properties)
	require.NoError(t, err)
	a, err := AppendRecord(nil, m)
	require.NoError(t, err)
	b, err := AppendRecordWithProperties(nil, m, props)
	require.NoError(t, err)
	require.Equal(t, a, b)
}

func TestRecord_Patch(t *testing.T) {
	for _, hosts := range [][2]string{{"10.0.0.1:1", "10.0.0.2:2"}, {"[::1]:1", "[::2]:2"}} {
		m := sampleExt(hosts[0], hosts[1])
		rec, err := AppendRecord(nil, m)
		require.NoError(t, err)
		before := bytes.Clone(rec)
		SetRecordQueueOffset(rec, 123456789)
		SetRecordPhysOffset(rec, -5)
		got, _, err := DecodeRecord(rec)
		require.NoError(t, err)
		require.Equal(t, int64(123456789), got.QueueOffset)
		require.Equal(t, int64(-5), got.CommitLogOffset)
		// Only the two 8-byte fields changed.
		diff := 0
		for i := range rec {
			if rec[i] != before[i] {
				require.True(t, i >= RecordQueueOffsetPos && i < RecordPhysOffsetPos+8, "byte %d changed", i)
				diff++
			}
		}
		require.NotZero(t, diff)
	}
}

func TestRecord_MsgIDs(t *testing.T) {
	m := sampleExt("10.0.0.1:1", "127.0.0.1:10911")
	m.CommitLogOffset = 0x1234
	require.Equal(t, "7F00000100002A9F0000000000001234", m.OffsetMsgID())
	require.Equal(t, m.Properties[PropertyUniqKey], m.MsgID())
	delete(m.Properties, PropertyUniqKey)
	require.Equal(t, m.OffsetMsgID(), m.MsgID())
}

func TestRecord_EncodeErrors(t *testing.T) {
	m := sampleExt("10.0.0.1:1", "10.0.0.2:2")
	m.Topic = strings.Repeat("t", 128)
	_, err := AppendRecord(nil, m)
	require.ErrorIs(t, err, ErrTopicTooLong)
	_, err = RecordSize(m)
	require.ErrorIs(t, err, ErrTopicTooLong)

	m = sampleExt("10.0.0.1:1", "10.0.0.2:2")
	m.Topic = strings.Repeat("t", 127)
	_, err = AppendRecord(nil, m)
	require.NoError(t, err)

	m.Properties = map[string]string{"big": strings.Repeat("v", MaxPropertiesLen)}
	_, err = AppendRecord(nil, m)
	require.ErrorIs(t, err, ErrPropertiesTooLong)
	_, err = AppendRecordWithProperties(nil, m, make([]byte, MaxPropertiesLen+1))
	require.ErrorIs(t, err, ErrPropertiesTooLong)

	m.Properties = map[string]string{"k": "a\x02b"}
	dst := []byte("keep")
	out, err := AppendRecord(dst, m)
	require.ErrorIs(t, err, ErrInvalidProperty)
	require.Equal(t, "keep", string(out))
}

func TestRecord_DecodeErrors(t *testing.T) {
	good, err := AppendRecord(nil, sampleExt("10.0.0.1:1", "10.0.0.2:2"))
	require.NoError(t, err)
	// Offset of BODYLEN in an IPv4 record.
	bodyLenPos := RecordBornHostPos + 8 + 8 + 8 + 4 + 8
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name  string
		in    []byte
		want  error
		field string
	}{
		{"empty", nil, ErrTruncated, "TOTALSIZE"},
		{"three bytes", good[:3], ErrTruncated, "TOTALSIZE"},
		{"cut in the middle", good[:len(good)-1], ErrTruncated, "TOTALSIZE"},
		{"size below minimum", mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b, 90); return b }), ErrCorrupt, "TOTALSIZE"},
		{"negative size", mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b, 0xFFFFFFFF); return b }), ErrCorrupt, "TOTALSIZE"},
		{"size larger than fields", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b, uint32(len(b)+1))
			return append(b, 0)
		}), ErrCorrupt, "TOTALSIZE"},
		{"bad magic", mutate(func(b []byte) []byte { b[RecordMagicPos] ^= 1; return b }), ErrCorrupt, "MAGICCODE"},
		{"crc mismatch", mutate(func(b []byte) []byte { b[RecordBodyCRCPos] ^= 1; return b }), ErrCorrupt, "BODYCRC"},
		{"negative body length", mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[bodyLenPos:], 0x80000000); return b }), ErrCorrupt, "BODYLEN"},
		{"body length beyond record", mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[bodyLenPos:], 1<<20); return b }), ErrTruncated, "BODY"},
		{"bad born port", mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[RecordBornHostPos+4:], 70000); return b }), ErrCorrupt, "BORNHOST port"},
		{"v6 flag on v4 record", mutate(func(b []byte) []byte { b[RecordSysFlagPos+3] |= byte(SysFlagBornHostV6); return b }), nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := DecodeRecord(tc.in)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			} else {
				require.True(t, errors.Is(err, ErrTruncated) || errors.Is(err, ErrCorrupt), "%v", err)
			}
			var de *DecodeError
			require.True(t, errors.As(err, &de))
			if tc.field != "" {
				require.Equal(t, tc.field, de.Field, err.Error())
			}
			require.Contains(t, err.Error(), "message:")
		})
	}
}

func TestDecodeRecords(t *testing.T) {
	var body []byte
	var err error
	for i := range 5 {
		m := sampleExt("10.0.0.1:1", "[::1]:2")
		m.QueueOffset = int64(i)
		body, err = AppendRecord(body, m)
		require.NoError(t, err)
	}
	msgs, err := DecodeRecords(body)
	require.NoError(t, err)
	require.Len(t, msgs, 5)
	for i, m := range msgs {
		require.Equal(t, int64(i), m.QueueOffset)
	}
	_, err = DecodeRecords(append(body, 1, 2, 3))
	require.ErrorIs(t, err, ErrTruncated)
	require.Contains(t, err.Error(), "record 5")

	// The topic copy is shared only while it repeats.
	var mixed []byte
	for i, topic := range []string{"A", "A", "B", "A"} {
		m := sampleExt("10.0.0.1:1", "[::1]:2")
		m.Topic, m.QueueOffset = topic, int64(i)
		mixed, err = AppendRecord(mixed, m)
		require.NoError(t, err)
	}
	msgs, err = DecodeRecords(mixed)
	require.NoError(t, err)
	require.Equal(t, []string{"A", "A", "B", "A"}, []string{msgs[0].Topic, msgs[1].Topic, msgs[2].Topic, msgs[3].Topic})

	// A record whose size overstates what follows: the records before it
	// come back with the error, whatever the size claims.
	size := len(body) / 5
	bad := bytes.Clone(body)
	binary.BigEndian.PutUint32(bad[2*size:], uint32(1<<31-1))
	msgs, err = DecodeRecords(bad)
	require.Error(t, err)
	require.Contains(t, err.Error(), "record 2")
	require.Len(t, msgs, 2)
	require.Equal(t, int64(1), msgs[1].QueueOffset)
}

func TestParseRecord_NoAlloc(t *testing.T) {
	rec, err := AppendRecord(nil, sampleExt("10.0.0.1:1", "[::1]:2"))
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() {
		v, err := ParseRecord(rec)
		if err != nil || v.QueueID != 3 {
			panic("bad parse")
		}
		if _, ok := LookupProperty(v.Properties, PropertyUniqKey); !ok {
			panic("no key")
		}
		SetRecordQueueOffset(rec, 9)
		SetRecordPhysOffset(rec, 10)
	})
	require.Zero(t, allocs)
}

func TestAppendRecord_NoAllocWithCapacity(t *testing.T) {
	m := sampleExt("10.0.0.1:1", "10.0.0.2:2")
	props, err := AppendProperties(nil, m.Properties)
	require.NoError(t, err)
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		buf, _ = AppendRecordWithProperties(buf[:0], m, props)
	})
	require.Zero(t, allocs)
}
