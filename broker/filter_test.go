package broker

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

func sqlPull(g *rig, addr, topic string, off int64, sql string, withSub bool) (*transport.Command, transport.PullMessageResponseHeader) {
	h := transport.PullMessageRequestHeader{ConsumerGroup: "SQLG", Topic: topic, QueueOffset: off, MaxMsgNums: 32}
	if withSub {
		h.SysFlag, h.Subscription, h.ExpressionType = transport.PullFlagSubscription, sql, "SQL92"
	}
	r := g.call(addr, transport.NewRequest(transport.ReqPullMessage, h.Encode(), nil))
	var rh transport.PullMessageResponseHeader
	if r.Code == int16(transport.RespSuccess) || r.Code == int16(transport.RespPullRetryImmediately) {
		require.NoError(g.t, rh.Decode(r.ExtFields))
	}
	return r, rh
}

func TestBroker_SQL92Filter(t *testing.T) {
	g := startGroup(t, 1, nil)
	l := g.leader()
	for i := 0; i < 40; i++ {
		props := map[string]string{"a": strconv.Itoa(i), "TAGS": []string{"A", "B"}[i%2]}
		if i%10 == 0 {
			delete(props, "a")
		}
		require.Equal(t, int16(0), g.call(l.Addr(), sendReq("S", 0, []byte(fmt.Sprint(i)), props)).Code)
	}
	const sql = "a BETWEEN 10 AND 29 AND TAGS = 'B'"
	want := []int{11, 13, 15, 17, 19, 21, 23, 25, 27, 29}

	collect := func(withSub bool) []int {
		var got []int
		off := int64(0)
		for off < 40 {
			r, rh := sqlPull(g, l.Addr(), "S", off, sql, withSub)
			switch r.Code {
			case int16(transport.RespSuccess):
				msgs, err := message.DecodeRecords(r.Body)
				require.NoError(t, err)
				for _, m := range msgs {
					i, _ := strconv.Atoi(string(m.Body))
					require.Equal(t, int64(i), m.QueueOffset, "queue offsets survive filtering")
					got = append(got, i)
				}
			case int16(transport.RespPullRetryImmediately):
				// All filtered out: the consumer moves on.
			default:
				t.Fatalf("pull at %d: %d %s", off, r.Code, r.Remark)
			}
			require.Greater(t, rh.NextBeginOffset, off)
			off = rh.NextBeginOffset
		}
		return got
	}
	// The selector in the pull request (the official clients' way).
	require.Equal(t, want, collect(true))

	// The selector from the group's heartbeat.
	hb := transport.HeartbeatData{ClientID: "c1", ConsumerDataSet: []transport.ConsumerData{{GroupName: "SQLG",
		ConsumeType: "CONSUME_PASSIVELY", MessageModel: "CLUSTERING", ConsumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
		SubscriptionDataSet: []transport.SubscriptionData{{Topic: "S", SubString: sql, ExpressionType: "SQL92"}}}}}
	body, err := transport.EncodeBody(hb)
	require.NoError(t, err)
	require.Equal(t, int16(0), g.call(l.Addr(), transport.NewRequest(transport.ReqHeartbeat, nil, body)).Code)
	require.Equal(t, want, collect(false))

	// A selector that does not compile, or an unknown type.
	r, _ := sqlPull(g, l.Addr(), "S", 0, "a >", true)
	require.Equal(t, int16(transport.RespSubscriptionParseFailed), r.Code)
	require.Contains(t, r.Remark, "a >")
	h := transport.PullMessageRequestHeader{ConsumerGroup: "G", Topic: "S", MaxMsgNums: 32,
		SysFlag: transport.PullFlagSubscription, Subscription: "x", ExpressionType: "REGEX"}
	r = g.call(l.Addr(), transport.NewRequest(transport.ReqPullMessage, h.Encode(), nil))
	require.Equal(t, int16(transport.RespSubscriptionParseFailed), r.Code)
	require.Contains(t, r.Remark, "REGEX")

	// CHECK_CLIENT_CONFIG, sent by Java consumers at start.
	check := func(sql string) *transport.Command {
		body, err := transport.EncodeBody(transport.CheckClientRequestBody{ClientID: "c1", Group: "SQLG",
			SubscriptionData: transport.SubscriptionData{Topic: "S", SubString: sql, ExpressionType: "SQL92"}})
		require.NoError(t, err)
		return g.call(l.Addr(), transport.NewRequest(transport.ReqCheckClientConfig, nil, body))
	}
	require.Equal(t, int16(0), check(sql).Code)
	r = check("a = NULL")
	require.Equal(t, int16(transport.RespSubscriptionParseFailed), r.Code)
	require.Contains(t, r.Remark, "IS NULL")
}

func TestBroker_SQL92Disabled(t *testing.T) {
	g := startGroup(t, 1, func(c *Config) { c.EnablePropertyFilter = false })
	l := g.leader()
	require.Equal(t, int16(0), g.call(l.Addr(), sendReq("S", 0, []byte("x"), map[string]string{"a": "1"})).Code)
	r, _ := sqlPull(g, l.Addr(), "S", 0, "a = 1", true)
	require.Equal(t, int16(transport.RespSystemError), r.Code)
	require.Contains(t, r.Remark, "enablePropertyFilter")
	// Tag subscriptions are unaffected.
	r, _ = pull(g, l.Addr(), "S", 0, 0)
	require.Equal(t, int16(0), r.Code, r.Remark)
}
