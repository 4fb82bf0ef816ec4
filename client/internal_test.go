package client

import (
	"errors"
	"fmt"
	"testing"

	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

func queues(n int) []MessageQueue {
	var out []MessageQueue
	for i := 0; i < n; i++ {
		out = append(out, MessageQueue{Topic: "T", BrokerName: "b", QueueID: i})
	}
	return out
}

func TestAllocateAveragely(t *testing.T) {
	ids := func(n int) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, fmt.Sprintf("c%d", i))
		}
		return out
	}
	tests := []struct {
		name    string
		queues  int
		members int
		want    [][]int // queue ids per member
	}{
		{"even", 8, 2, [][]int{{0, 1, 2, 3}, {4, 5, 6, 7}}},
		{"uneven", 8, 3, [][]int{{0, 1, 2}, {3, 4, 5}, {6, 7}}},
		{"more members", 2, 3, [][]int{{0}, {1}, nil}},
		{"one member", 5, 1, [][]int{{0, 1, 2, 3, 4}}},
		{"no queues", 0, 2, [][]int{nil, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			qs, ms := queues(tt.queues), ids(tt.members)
			seen := map[int]bool{}
			for i, self := range ms {
				var got []int
				for _, q := range allocateAveragely(qs, ms, self) {
					require.False(t, seen[q.QueueID], "queue %d given twice", q.QueueID)
					seen[q.QueueID] = true
					got = append(got, q.QueueID)
				}
				require.Equal(t, tt.want[i], got, "member %s", self)
			}
			require.Len(t, seen, tt.queues)
		})
	}
	require.Nil(t, allocateAveragely(queues(4), []string{"a"}, "not-a-member"))
}

func TestSubscription(t *testing.T) {
	tests := []struct {
		expr    string
		match   []string
		nomatch []string
		tags    []string
		wantErr bool
	}{
		{expr: "*", match: []string{"A", ""}},
		{expr: "", match: []string{"A", ""}},
		{expr: "A", match: []string{"A"}, nomatch: []string{"B", "", "AA"}, tags: []string{"A"}},
		{expr: "A || B", match: []string{"A", "B"}, nomatch: []string{"C", "A || B"}, tags: []string{"A", "B"}},
		{expr: " B||A ", match: []string{"A", "B"}, tags: []string{"A", "B"}},
		{expr: "A || *", match: []string{"Z"}},
		{expr: "A || ", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			s, err := newSubscription("T", tt.expr, nil)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			for _, m := range tt.match {
				require.True(t, s.match(m), m)
			}
			for _, m := range tt.nomatch {
				require.False(t, s.match(m), m)
			}
			sd := s.data(7)
			if tt.tags == nil {
				tt.tags = []string{}
			}
			require.Equal(t, tt.tags, sd.TagsSet)
			require.Len(t, sd.CodeSet, len(tt.tags))
			for i, tag := range tt.tags {
				require.Equal(t, message.TagsHashCode(tag), sd.CodeSet[i])
			}
			require.EqualValues(t, 7, sd.SubVersion)
			require.Equal(t, "TAG", sd.ExpressionType)
		})
	}
}

func TestBrokerError(t *testing.T) {
	for code, retriable := range map[transport.ResponseCode]bool{
		transport.RespSystemError: true, transport.RespServiceNotAvailable: true, transport.RespSystemBusy: true,
		transport.RespTopicNotExist: false, transport.RespNoPermission: false, transport.RespMessageIllegal: false,
	} {
		be := &BrokerError{Op: "send", Addr: "1.2.3.4:5", Code: code, Remark: "r"}
		require.Equal(t, retriable, be.Retriable(), "%s", code)
		require.Equal(t, code == transport.RespTopicNotExist, errors.Is(fmt.Errorf("wrapped: %w", be), ErrTopicNotExist))
		require.Contains(t, be.Error(), "1.2.3.4:5")
	}
}

func TestRoute(t *testing.T) {
	rd := &transport.TopicRouteData{
		QueueDatas: []transport.QueueData{
			{BrokerName: "b", ReadQueueNums: 2, WriteQueueNums: 3, Perm: transport.PermRead | transport.PermWrite},
			{BrokerName: "a", ReadQueueNums: 8, WriteQueueNums: 8, Perm: transport.PermRead},
			{BrokerName: "gone", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6},
		},
		BrokerDatas: []transport.BrokerData{
			{BrokerName: "a", BrokerAddrs: map[int64]string{1: "a1", 0: "a0"}},
			{BrokerName: "b", BrokerAddrs: map[int64]string{2: "b2", 1: "b1"}},
		},
	}
	r := newTopicRoute("T", rd, false)
	require.Equal(t, []MessageQueue{{"T", "b", 0}, {"T", "b", 1}, {"T", "b", 2}}, r.writeQs, "a is read-only; gone has no broker data")
	require.Len(t, r.readQs, 10)
	require.Equal(t, "a0", r.leader("a"))
	require.Equal(t, "", r.leader("b"))
	require.Equal(t, []string{"a0", "a1"}, r.members("a"))
	require.Equal(t, []string{"b1", "b2"}, r.members("b"))

	def := newTopicRoute("New", rd, true)
	require.Len(t, def.readQs, 4+2, "auto-create routes are clipped to 4 queues")
	require.Equal(t, "New", def.writeQs[0].Topic)
}

func TestOptionsValidate(t *testing.T) {
	base := func() options { o := defaultOptions(); o.nameServers = []string{"127.0.0.1:9876"}; return o }
	bad := []func(*options){
		func(o *options) { o.timeout = 0 },
		func(o *options) { o.retries = -1 },
		func(o *options) { o.pullBatch = 1000 },
		func(o *options) { o.model = 0 },
		func(o *options) { o.fromWhere = 9 },
		func(o *options) { o.retryDelay = 19 },
		func(o *options) { o.nameServers = []string{"no-port"} },
	}
	for i, f := range bad {
		o := base()
		f(&o)
		require.Error(t, o.validate(), "case %d", i)
	}
	o := base()
	require.NoError(t, o.validate())
	WithNameServers("1.1.1.1:1; 2.2.2.2:2", "3.3.3.3:3")(&o)
	require.Equal(t, []string{"1.1.1.1:1", "2.2.2.2:2", "3.3.3.3:3"}, o.nameServers)
}

// encodeProperties must give exactly the bytes of EncodeProperties over the
// map properties builds: brokers and consumers see no difference.
func TestEncodeProperties_MatchesMap(t *testing.T) {
	many := map[string]string{}
	for i := range 40 { // more than the stack array holds
		many[fmt.Sprintf("k%02d", 39-i)] = fmt.Sprint(i)
	}
	cases := []struct {
		name string
		m    Message
		uniq string
	}{
		{"empty", Message{}, ""},
		{"uniq only", Message{}, "7F0000010C5A18B4AAC27D0E5A1B0001"},
		{"fields", Message{Tags: "TagA", Keys: []string{"a", "b"}, DelayLevel: 3}, "U1"},
		{"fields override properties", Message{Tags: "TagA", Keys: []string{"k"}, DelayLevel: 12, Properties: map[string]string{
			message.PropertyTags: "old", message.PropertyKeys: "old", message.PropertyDelayLevel: "1",
			message.PropertyUniqKey: "old", "user": "v"}}, "U2"},
		{"empty key", Message{Properties: map[string]string{"": "y"}}, ""},
		{"properties kept without fields", Message{Properties: map[string]string{message.PropertyTags: "T", "empty": ""}}, ""},
		{"many", Message{Properties: many, Tags: "T"}, "U3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, wantErr := message.EncodeProperties(tc.m.properties(tc.uniq))
			got, err := tc.m.encodeProperties(tc.uniq)
			if wantErr != nil {
				require.ErrorIs(t, err, message.ErrInvalidProperty)
				require.Equal(t, "empty key", tc.name, "unexpected error: %v", wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}
	bad := Message{Properties: map[string]string{"a": "x\x01y"}}
	_, err := bad.encodeProperties("")
	require.ErrorIs(t, err, message.ErrInvalidProperty)
}
