package compat

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/stretchr/testify/require"

	"github.com/raftmq/raftmq/message"
)

// These tests check our encoders against the official client's own
// decoders (and the reverse), byte for byte where the format allows.

func hostString(ap netip.AddrPort) string {
	// The client formats hosts as net.IP.String() + ":" + port, without
	// IPv6 brackets.
	return fmt.Sprintf("%s:%d", ap.Addr().Unmap().String(), ap.Port())
}

func TestRecord_DecodedByOfficialClient(t *testing.T) {
	compressed, err := message.Compress(bytes.Repeat([]byte("compressible "), 500), zlib.BestSpeed)
	require.NoError(t, err)
	cases := []struct {
		name     string
		m        *message.MessageExt
		wantBody []byte // after the client inflates; nil means m.Body
	}{
		{name: "ipv4, uniq key, tags, keys", m: &message.MessageExt{
			Message: message.Message{Topic: "TopicTest", Flag: 3, Body: []byte("hello"), Properties: map[string]string{
				message.PropertyTags: "TagA", message.PropertyKeys: "k1 k2", message.PropertyUniqKey: message.NewUniqKey(),
				message.PropertyWaitStoreOK: "true", "custom": "välue"}},
			QueueID: 2, QueueOffset: 17, CommitLogOffset: 123456789, SysFlag: message.SysFlagMultiTags,
			BornTimestamp: 1700000000001, BornHost: netip.MustParseAddrPort("10.1.2.3:50123"),
			StoreTimestamp: 1700000000009, StoreHost: netip.MustParseAddrPort("127.0.0.1:10911"),
			ReconsumeTimes: 4, PreparedTransactionOffset: 0,
		}},
		{name: "ipv6 hosts, no uniq key: MsgId is the offset id", m: &message.MessageExt{
			Message: message.Message{Topic: "%RETRY%group", Body: []byte{0, 1, 2, 255}, Properties: map[string]string{
				message.PropertyRetryTopic: "TopicTest", message.PropertyDelayLevel: "3"}},
			QueueID: 0, QueueOffset: 0, CommitLogOffset: 1 << 50,
			BornTimestamp: 1, BornHost: netip.MustParseAddrPort("[2001:db8::7]:1"),
			StoreTimestamp: 2, StoreHost: netip.MustParseAddrPort("[fd00::1]:10911"),
			PreparedTransactionOffset: 99,
		}},
		{name: "mixed: ipv6 born, ipv4 store", m: &message.MessageExt{
			Message:  message.Message{Topic: "T", Body: []byte("x")},
			BornHost: netip.MustParseAddrPort("[::1]:9"), StoreHost: netip.MustParseAddrPort("192.168.0.1:10911"),
		}},
		{name: "empty body and properties", m: &message.MessageExt{
			Message:  message.Message{Topic: "T"},
			BornHost: netip.MustParseAddrPort("1.1.1.1:1"), StoreHost: netip.MustParseAddrPort("2.2.2.2:2"),
		}},
		{name: "compressed body is inflated by the client", m: &message.MessageExt{
			Message:  message.Message{Topic: "Big", Body: compressed, Properties: map[string]string{message.PropertyUniqKey: "AB"}},
			SysFlag:  message.SysFlagCompressed | message.SysFlagTransactionPrepared,
			BornHost: netip.MustParseAddrPort("1.1.1.1:1"), StoreHost: netip.MustParseAddrPort("2.2.2.2:2"),
		}, wantBody: bytes.Repeat([]byte("compressible "), 500)},
		{name: "longest topic", m: &message.MessageExt{
			Message:  message.Message{Topic: strings.Repeat("t", 127), Body: []byte("b")},
			BornHost: netip.MustParseAddrPort("1.1.1.1:1"), StoreHost: netip.MustParseAddrPort("2.2.2.2:65535"),
		}},
	}
	// All records back to back, as a PULL_MESSAGE body: the client must
	// walk from one to the next without TOTALSIZE.
	var body []byte
	for _, tc := range cases {
		body, err = message.AppendRecord(body, tc.m)
		require.NoError(t, err, tc.name)
	}
	got := primitive.DecodeMessage(body)
	require.Len(t, got, len(cases))
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, g := tc.m, got[i]
			size, err := message.RecordSize(m)
			require.NoError(t, err)
			want := tc.wantBody
			if want == nil {
				want = m.Body
			}
			require.Equal(t, m.Topic, g.Topic)
			require.Equal(t, string(want), string(g.Body))
			require.Equal(t, m.Flag, g.Flag)
			wantProps := m.Properties
			if wantProps == nil {
				wantProps = map[string]string{}
			}
			require.Equal(t, wantProps, g.GetProperties())
			require.Equal(t, m.Tags(), g.GetTags())
			require.Equal(t, m.Properties[message.PropertyKeys], g.GetKeys())
			require.Equal(t, int(m.QueueID), g.Queue.QueueId)
			require.Equal(t, m.QueueOffset, g.QueueOffset)
			require.Equal(t, m.CommitLogOffset, g.CommitLogOffset)
			wantSys := m.SysFlag
			if m.BornHost.Addr().Unmap().Is6() {
				wantSys |= message.SysFlagBornHostV6
			}
			if m.StoreHost.Addr().Unmap().Is6() {
				wantSys |= message.SysFlagStoreHostV6
			}
			require.Equal(t, wantSys, g.SysFlag)
			require.Equal(t, m.BornTimestamp, g.BornTimestamp)
			require.Equal(t, m.StoreTimestamp, g.StoreTimestamp)
			require.Equal(t, hostString(m.BornHost), g.BornHost)
			require.Equal(t, hostString(m.StoreHost), g.StoreHost)
			require.Equal(t, m.ReconsumeTimes, g.ReconsumeTimes)
			require.Equal(t, m.PreparedTransactionOffset, g.PreparedTransactionOffset)
			require.Equal(t, int32(size), g.StoreSize)
			require.Equal(t, m.OffsetMsgID(), g.OffsetMsgId)
			require.Equal(t, m.MsgID(), g.MsgId)

			// Our decoder agrees with theirs on the same bytes.
			ours, _, err := message.DecodeRecord(mustRecord(t, m))
			require.NoError(t, err)
			require.Equal(t, int32(ours.BodyCRC), g.BodyCRC)
		})
	}

	// The two fields a pull patches after storage.
	rec := mustRecord(t, cases[0].m)
	message.SetRecordQueueOffset(rec, 424242)
	message.SetRecordPhysOffset(rec, 999)
	patched := primitive.DecodeMessage(rec)
	require.Len(t, patched, 1)
	require.Equal(t, int64(424242), patched[0].QueueOffset)
	require.Equal(t, int64(999), patched[0].CommitLogOffset)
	require.Equal(t, message.EncodeOffsetMsgID(cases[0].m.StoreHost, 999), patched[0].OffsetMsgId)
}

func mustRecord(t *testing.T, m *message.MessageExt) []byte {
	t.Helper()
	rec, err := message.AppendRecord(nil, m)
	require.NoError(t, err)
	return rec
}

func TestBatch_OfficialMarshalDecodedByUs(t *testing.T) {
	msgs := []*primitive.Message{
		primitive.NewMessage("T", []byte("first")),
		primitive.NewMessage("T", []byte{}),
		primitive.NewMessage("T", bytes.Repeat([]byte{7}, 10000)),
	}
	msgs[0].WithTag("TagA")
	msgs[0].WithKeys([]string{"a", "b"})
	msgs[0].WithProperty(message.PropertyUniqKey, "7F000001000000000000000000000001")
	msgs[0].Flag = 5
	msgs[2].WithShardingKey("shard")
	msgs[2].Flag = -1

	// producer.MarshalMessageBatch is exactly this concatenation.
	var body []byte
	for _, m := range msgs {
		body = append(body, m.Marshal()...)
	}
	items, err := message.DecodeBatch(body)
	require.NoError(t, err)
	require.Len(t, items, len(msgs))
	for i, it := range items {
		require.Equal(t, msgs[i].Flag, it.Flag)
		require.Equal(t, string(msgs[i].Body), string(it.Body))
		want := msgs[i].GetProperties()
		if len(want) == 0 {
			require.Empty(t, it.Properties)
		} else {
			require.Equal(t, want, it.DecodeProperties())
		}
	}

	// Our encoder writes the same bytes (byte-equal when property order
	// cannot differ: at most one property per message).
	single := []*primitive.Message{primitive.NewMessage("T", []byte("a")), primitive.NewMessage("T", []byte("bb"))}
	single[0].WithTag("X")
	single[1].Flag = 9
	var theirs []byte
	for _, m := range single {
		theirs = append(theirs, m.Marshal()...)
	}
	ours, err := message.EncodeBatch([]*message.Message{
		{Body: []byte("a"), Properties: map[string]string{message.PropertyTags: "X"}},
		{Body: []byte("bb"), Flag: 9},
	})
	require.NoError(t, err)
	require.Equal(t, theirs, ours)
}

func TestProperties_BothWays(t *testing.T) {
	props := map[string]string{
		message.PropertyTags: "TagA", message.PropertyKeys: "k1 k2", message.PropertyUniqKey: "X",
		"with space": "v a l", "unicode": "中文", message.PropertyTransactionPrepared: "true",
	}
	// Theirs to ours.
	m := primitive.NewMessage("T", nil)
	m.WithProperties(props)
	require.Equal(t, props, message.DecodeProperties([]byte(m.MarshallProperties())))

	// Ours to theirs.
	s, err := message.EncodeProperties(props)
	require.NoError(t, err)
	var back primitive.Message
	back.UnmarshalProperties([]byte(s))
	require.Equal(t, props, back.GetProperties())

	// Odd inputs decode the same way on both sides.
	for _, odd := range []string{"", "a\x01", "\x01v\x02", "a\x01b\x01c\x02d\x01e", "noval\x02k\x01v\x02\x02"} {
		var p primitive.Message
		p.UnmarshalProperties([]byte(odd))
		ours := message.DecodeProperties([]byte(odd))
		if ours == nil {
			ours = map[string]string{}
		}
		require.Equal(t, p.GetProperties(), ours, "%q", odd)
	}
}

func TestOffsetMsgID_BothWays(t *testing.T) {
	for _, tc := range []struct {
		host string
		off  int64
	}{
		{"127.0.0.1:10911", 0},
		{"10.20.30.40:65535", 1<<62 + 3},
		{"[2001:db8::1]:10911", 12345},
	} {
		ap := netip.MustParseAddrPort(tc.host)
		id := message.EncodeOffsetMsgID(ap, tc.off)
		ip := ap.Addr().AsSlice()
		require.Equal(t, primitive.CreateMessageId(ip, int32(ap.Port()), tc.off), id)

		parsed, err := primitive.UnmarshalMsgID([]byte(id))
		require.NoError(t, err)
		wantAddr := ap.Addr().String()
		if ap.Addr().Is6() {
			wantAddr = "[" + wantAddr + "]"
		}
		require.Equal(t, wantAddr, parsed.Addr)
		require.Equal(t, int(ap.Port()), parsed.Port)
		require.Equal(t, tc.off, parsed.Offset)

		gotHost, gotOff, err := message.DecodeOffsetMsgID(id)
		require.NoError(t, err)
		require.Equal(t, ap, gotHost)
		require.Equal(t, tc.off, gotOff)
	}
}

func TestUniqKey_SameShapeAsOfficial(t *testing.T) {
	shape := regexp.MustCompile(`^[0-9A-F]{20}[0-9a-f]{12}$`)
	require.Regexp(t, shape, primitive.CreateUniqID())
	require.Regexp(t, shape, message.NewUniqKey())
}
