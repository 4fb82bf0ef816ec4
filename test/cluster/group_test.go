package cluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

// wire is a bare remoting client for group-level tests.
type wire struct {
	t *testing.T
	c *transport.Client
}

func newWire(t *testing.T) *wire {
	c, err := transport.NewClient(transport.DefaultClientConfig())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &wire{t: t, c: c}
}

func (w *wire) call(addr string, req *transport.Command) *transport.Command {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := w.c.Invoke(ctx, addr, req)
	require.NoError(w.t, err)
	return resp
}

// send stores one message with SEND_MESSAGE_V2 and returns the response.
func (w *wire) send(addr, topic string, qid int32, body string, props map[string]string) *transport.Command {
	w.t.Helper()
	if props == nil {
		props = map[string]string{}
	}
	props[message.PropertyUniqKey] = message.NewUniqKey()
	p, err := message.EncodeProperties(props)
	require.NoError(w.t, err)
	h := transport.SendMessageRequestHeader{ProducerGroup: "PG", Topic: topic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: qid, BornTimestamp: time.Now().UnixMilli(), Properties: p}
	return w.call(addr, transport.NewRequest(transport.ReqSendMessageV2, h.EncodeV2(), []byte(body)))
}

// pullAll reads a queue from offset 0 to its end from one node.
func (w *wire) pullAll(addr, topic string, qid int32) []*message.MessageExt {
	w.t.Helper()
	var out []*message.MessageExt
	off := int64(0)
	for i := 0; i < 100000; i++ {
		h := transport.PullMessageRequestHeader{ConsumerGroup: "reader", Topic: topic, QueueID: qid, QueueOffset: off, MaxMsgNums: 256}
		resp := w.call(addr, transport.NewRequest(transport.ReqPullMessage, h.Encode(), nil))
		var rh transport.PullMessageResponseHeader
		require.NoError(w.t, rh.Decode(resp.ExtFields))
		switch transport.ResponseCode(resp.Code) {
		case transport.RespSuccess:
			msgs, err := message.DecodeRecords(resp.Body)
			require.NoError(w.t, err)
			out = append(out, msgs...)
			off = rh.NextBeginOffset
		case transport.RespPullNotFound:
			return out
		default:
			w.t.Fatalf("pull %s/%d@%d from %s: code %d %s", topic, qid, off, addr, resp.Code, resp.Remark)
		}
	}
	w.t.Fatal("pull loop did not end")
	return nil
}

// TestGroup_FollowerCatchesUpAndServes: a follower SIGKILLed, 10k messages
// produced without it, restarted on the same data dir: it catches up and
// serves every message itself, byte for byte, at the same physical offsets.
func TestGroup_FollowerCatchesUpAndServes(t *testing.T) {
	total := 10000
	if testing.Short() {
		total = 2000
	}
	c := cluster.Start(t, cluster.Options{})
	g := c.Group(0)
	leader := g.WaitLeader(t, 10*time.Second)
	follower := g.Follower(leader)
	w := newWire(t)
	require.Equal(t, int16(0), w.send(leader.ClientAddr(), "CatchUp", 0, "before", nil).Code)
	follower.Kill()

	const queues = 4
	for i := 0; i < total; i++ {
		r := w.send(leader.ClientAddr(), "CatchUp", int32(i%queues), fmt.Sprintf("msg-%d", i), map[string]string{"KEYS": fmt.Sprint(i)})
		require.Equal(t, int16(0), r.Code, "send %d: %s", i, r.Remark)
	}
	follower.Restart(t)
	g.WaitCaughtUp(t, 60*time.Second)

	for q := int32(0); q < queues; q++ {
		fromLeader := w.pullAll(leader.ClientAddr(), "CatchUp", q)
		fromFollower := w.pullAll(follower.ClientAddr(), "CatchUp", q)
		require.Equal(t, len(fromLeader), len(fromFollower), "queue %d", q)
		for i := range fromLeader {
			a, b := fromLeader[i], fromFollower[i]
			require.Equal(t, a.Body, b.Body)
			require.Equal(t, a.QueueOffset, b.QueueOffset)
			require.Equal(t, a.CommitLogOffset, b.CommitLogOffset, "physical offsets are the same on every replica")
			require.Equal(t, a.StoreHost, b.StoreHost)
		}
	}
	n := 0
	for q := int32(0); q < queues; q++ {
		n += len(w.pullAll(follower.ClientAddr(), "CatchUp", q))
	}
	require.Equal(t, total+1, n)
}

// TestGroup_QueryByKeyAndIDAfterFailover: QUERY_MESSAGE and
// VIEW_MESSAGE_BY_ID find a message on the leader, and on the new leader
// after the old one is SIGKILLed (the offset msg id stays valid because
// physical offsets are identical on every replica).
func TestGroup_QueryByKeyAndIDAfterFailover(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	g := c.Group(0)
	leader := g.WaitLeader(t, 10*time.Second)
	w := newWire(t)
	var ids []string
	for i := 0; i < 50; i++ {
		r := w.send(leader.ClientAddr(), "Query", int32(i%2), fmt.Sprintf("q-%d", i), map[string]string{"KEYS": fmt.Sprintf("order-%d shared", i)})
		require.Equal(t, int16(0), r.Code, r.Remark)
		var sh transport.SendMessageResponseHeader
		require.NoError(t, sh.Decode(r.ExtFields))
		ids = append(ids, sh.MsgID)
	}
	check := func(addr string) {
		t.Helper()
		qh := transport.QueryMessageRequestHeader{Topic: "Query", Key: "order-7", MaxNum: 32, EndTimestamp: time.Now().Add(time.Hour).UnixMilli()}
		r := w.call(addr, transport.NewRequest(transport.ReqQueryMessage, qh.Encode(), nil))
		require.Equal(t, int16(0), r.Code, r.Remark)
		msgs, err := message.DecodeRecords(r.Body)
		require.NoError(t, err)
		require.Len(t, msgs, 1)
		require.Equal(t, "q-7", string(msgs[0].Body))

		qh.Key = "shared"
		r = w.call(addr, transport.NewRequest(transport.ReqQueryMessage, qh.Encode(), nil))
		msgs, err = message.DecodeRecords(r.Body)
		require.NoError(t, err)
		require.Len(t, msgs, 32, "capped at maxNum")

		_, off, err := message.DecodeOffsetMsgID(ids[7])
		require.NoError(t, err)
		vh := transport.ViewMessageRequestHeader{Offset: off}
		r = w.call(addr, transport.NewRequest(transport.ReqViewMessageByID, vh.Encode(), nil))
		require.Equal(t, int16(0), r.Code, r.Remark)
		m, _, err := message.DecodeRecord(r.Body)
		require.NoError(t, err)
		require.Equal(t, "q-7", string(m.Body))
		require.Equal(t, ids[7], m.OffsetMsgID())
		require.Equal(t, int64(3), m.QueueOffset)

		qh = transport.QueryMessageRequestHeader{Topic: "Query", Key: "order-404", MaxNum: 32, EndTimestamp: time.Now().Add(time.Hour).UnixMilli()}
		r = w.call(addr, transport.NewRequest(transport.ReqQueryMessage, qh.Encode(), nil))
		require.Equal(t, int16(transport.RespQueryNotFound), r.Code)
	}
	check(leader.ClientAddr())
	g.WaitCaughtUp(t, 10*time.Second)
	leader.Kill()
	next := g.WaitNewLeader(t, leader, 15*time.Second)
	check(next.ClientAddr())
	// Any replica answers, not only the leader.
	for _, n := range g.Nodes {
		if n.Running() && n != next {
			check(n.ClientAddr())
		}
	}
}
