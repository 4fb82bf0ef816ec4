package broker

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

// requester is a client that heartbeats one member as a producer and
// records the replies pushed to it.
type requester struct {
	id     string
	client *transport.Client
	mu     sync.Mutex
	pushes []*transport.Command
	got    chan struct{}
}

func newRequester(t *testing.T, id string, member *Broker, heartbeat bool) *requester {
	t.Helper()
	c, err := transport.NewClient(transport.DefaultClientConfig())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	r := &requester{id: id, client: c, got: make(chan struct{}, 64)}
	c.Handle(transport.ReqPushReplyMessageToClient, func(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
		cp := *req
		cp.Body = append([]byte(nil), req.Body...)
		r.mu.Lock()
		r.pushes = append(r.pushes, &cp)
		r.mu.Unlock()
		r.got <- struct{}{}
		return transport.NewResponse(transport.RespSuccess, "")
	})
	if !heartbeat {
		return r
	}
	body, err := transport.EncodeBody(transport.HeartbeatData{ClientID: id,
		ProducerDataSet: []transport.ProducerData{{GroupName: "RequesterGroup"}}, ConsumerDataSet: []transport.ConsumerData{}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Invoke(ctx, member.Addr(), transport.NewRequest(transport.ReqHeartbeat, nil, body))
	require.NoError(t, err)
	require.Equal(t, int16(0), resp.Code, resp.Remark)
	return r
}

func (r *requester) wait(t *testing.T) *transport.Command {
	t.Helper()
	select {
	case <-r.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no reply pushed")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pushes[len(r.pushes)-1]
}

// replyReq builds a SEND_REPLY_MESSAGE (v2: SEND_REPLY_MESSAGE_V2).
func replyReq(topic string, body []byte, props map[string]string, sysFlag int32, v2 bool) *transport.Command {
	props[message.PropertyMsgType] = message.ReplyMessageFlag
	props[message.PropertyUniqKey] = message.NewUniqKey()
	p, _ := message.EncodeProperties(props)
	h := transport.SendMessageRequestHeader{ProducerGroup: "ReplierGroup", Topic: topic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: 0, SysFlag: sysFlag, BornTimestamp: time.Now().UnixMilli(), Properties: p}
	if v2 {
		return transport.NewRequest(transport.ReqSendReplyMessageV2, h.EncodeV2(), body)
	}
	return transport.NewRequest(transport.ReqSendReplyMessage, h.Encode(), body)
}

func maxOffset(g *rig, addr, topic string) int64 {
	mh := transport.QueueHeader{Topic: topic, QueueID: 0}
	r := g.call(addr, transport.NewRequest(transport.ReqGetMaxOffset, mh.Encode(), nil))
	var oh transport.OffsetResponseHeader
	require.NoError(g.t, oh.Decode(r.ExtFields))
	return oh.Offset
}

// TestBroker_RequestReply: a request gets CLUSTER stamped; a reply sent to
// any member is stored through raft and pushed to the requester connected
// to another member; a reply to a requester nobody holds is stored and
// answered with RocketMQ's SYSTEM_ERROR remark.
func TestBroker_RequestReply(t *testing.T) {
	g := startGroup(t, 3, nil)
	l := g.leader()
	var fs []*Broker
	for _, b := range g.brokers {
		if b != l {
			fs = append(fs, b)
		}
	}
	cluster := l.cfg.ClusterName
	replyTopic := message.ReplyTopic(cluster)
	for _, b := range g.brokers {
		require.Eventually(t, func() bool { _, ok := b.g.Topic(replyTopic); return ok }, 10*time.Second, 10*time.Millisecond)
		tc, _ := b.g.Topic(replyTopic)
		require.Equal(t, int32(1), tc.WriteQueueNums)
	}
	ch := transport.CreateTopicRequestHeader{Topic: replyTopic, ReadQueueNums: 2, WriteQueueNums: 2, Perm: 6}
	r := g.call(l.Addr(), transport.NewRequest(transport.ReqUpdateAndCreateTopic, ch.Encode(), nil))
	require.Equal(t, int16(transport.RespInvalidParameter), r.Code, "the reply topic is a system topic")

	// The request: CLUSTER stamped on it (and only on requests).
	req := newRequester(t, "127.0.0.1@requester", fs[0], true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := req.client.Invoke(ctx, fs[0].Addr(), sendReq("Q", 0, []byte("question"), map[string]string{
		message.PropertyCorrelationID: "corr-1", message.PropertyReplyToClient: req.id, message.PropertyTTL: "3"}))
	require.NoError(t, err)
	require.Equal(t, int16(0), r.Code, r.Remark)
	require.Equal(t, int16(0), g.call(l.Addr(), sendReq("Q", 0, []byte("plain"), nil)).Code)
	var msgs []*message.MessageExt
	pr, _ := pull(g, l.Addr(), "Q", 0, 0)
	msgs, err = message.DecodeRecords(pr.Body)
	require.NoError(t, err)
	require.Len(t, msgs, 2)
	require.Equal(t, cluster, msgs[0].GetProperty(message.PropertyCluster))
	require.Equal(t, "corr-1", msgs[0].GetProperty(message.PropertyCorrelationID))
	require.Empty(t, msgs[1].GetProperty(message.PropertyCluster))

	// Replies through the other follower, the leader, and the requester's
	// own member; V1 and V2 headers.
	before := maxOffset(g, l.Addr(), replyTopic)
	for i, tc := range []struct {
		via *Broker
		v2  bool
	}{{fs[1], false}, {l, true}, {fs[0], false}} {
		body := []byte("answer-" + string(rune('a'+i)))
		r := g.call(tc.via.Addr(), replyReq(replyTopic, body, map[string]string{
			message.PropertyCorrelationID: "corr-1", message.PropertyReplyToClient: req.id}, 0, tc.v2))
		require.Equal(t, int16(0), r.Code, r.Remark)
		var sh transport.SendMessageResponseHeader
		require.NoError(t, sh.Decode(r.ExtFields))
		push := req.wait(t)
		var ph transport.ReplyMessageRequestHeader
		require.NoError(t, ph.Decode(push.ExtFields))
		require.Equal(t, body, push.Body)
		require.Equal(t, replyTopic, ph.Topic)
		require.Equal(t, "ReplierGroup", ph.ProducerGroup)
		require.Equal(t, int32(0), ph.QueueID)
		require.Equal(t, sh.MsgID, ph.MsgID)
		require.Equal(t, sh.QueueOffset, ph.QueueOffset)
		require.Equal(t, l.Addr(), ph.StoreHost, "stored by the leader")
		require.NotEmpty(t, ph.BornHost)
		props := message.DecodeProperties([]byte(ph.Properties))
		require.Equal(t, "corr-1", props[message.PropertyCorrelationID])
		require.Equal(t, message.ReplyMessageFlag, props[message.PropertyMsgType])
		require.NotEmpty(t, props[message.PropertyPushReplyTime])
	}
	require.Equal(t, before+3, maxOffset(g, l.Addr(), replyTopic))

	// An empty body (the official Go client's CreateReplyMessage) and a
	// "compressed" flag on a plain body (its replies over 4 KiB).
	r = g.call(fs[1].Addr(), replyReq(replyTopic, nil, map[string]string{
		message.PropertyCorrelationID: "corr-2", message.PropertyReplyToClient: req.id}, 0, false))
	require.Equal(t, int16(0), r.Code, r.Remark)
	require.Empty(t, req.wait(t).Body)
	big := bytes.Repeat([]byte("plain reply "), 500)
	r = g.call(fs[1].Addr(), replyReq(replyTopic, big, map[string]string{
		message.PropertyCorrelationID: "corr-3", message.PropertyReplyToClient: req.id}, message.SysFlagCompressed, true))
	require.Equal(t, int16(0), r.Code, r.Remark)
	push := req.wait(t)
	var ph transport.ReplyMessageRequestHeader
	require.NoError(t, ph.Decode(push.ExtFields))
	require.Zero(t, ph.SysFlag&message.SysFlagCompressed)
	require.Equal(t, big, push.Body)
	// A compressed body keeps its flag.
	z, err := message.Compress(big, 5)
	require.NoError(t, err)
	r = g.call(l.Addr(), replyReq(replyTopic, z, map[string]string{
		message.PropertyCorrelationID: "corr-4", message.PropertyReplyToClient: req.id}, message.SysFlagCompressed, false))
	require.Equal(t, int16(0), r.Code, r.Remark)
	push = req.wait(t)
	require.NoError(t, ph.Decode(push.ExtFields))
	require.NotZero(t, ph.SysFlag&message.SysFlagCompressed)
	require.Equal(t, z, push.Body)

	// Nobody holds the requester: stored, and SYSTEM_ERROR.
	before = maxOffset(g, l.Addr(), replyTopic)
	for _, via := range []*Broker{fs[0], l} {
		r = g.call(via.Addr(), replyReq(replyTopic, []byte("lost"), map[string]string{
			message.PropertyCorrelationID: "corr-5", message.PropertyReplyToClient: "127.0.0.1@gone"}, 0, false))
		require.Equal(t, int16(transport.RespSystemError), r.Code)
		require.Equal(t, "push reply message fail, channel of <127.0.0.1@gone> not found.", r.Remark)
	}
	r = g.call(l.Addr(), replyReq(replyTopic, []byte("nobody"), map[string]string{message.PropertyCorrelationID: "corr-6"}, 0, false))
	require.Equal(t, int16(transport.RespSystemError), r.Code)
	require.True(t, strings.HasPrefix(r.Remark, "reply message properties[REPLY_TO_CLIENT]"), r.Remark)
	require.Equal(t, before+3, maxOffset(g, l.Addr(), replyTopic), "undeliverable replies stay stored")

	req.mu.Lock()
	require.Len(t, req.pushes, 6, "each reply pushed exactly once")
	req.mu.Unlock()

	// A requester that has not heartbeated yet (the official clients'
	// first second) gets the reply over the connection its request came on.
	quiet := newRequester(t, "127.0.0.1@quiet", fs[0], false)
	r, err = quiet.client.Invoke(ctx, fs[0].Addr(), sendReq("Q", 1, []byte("question"), map[string]string{
		message.PropertyCorrelationID: "corr-7", message.PropertyReplyToClient: quiet.id}))
	require.NoError(t, err)
	require.Equal(t, int16(0), r.Code, r.Remark)
	r = g.call(fs[1].Addr(), replyReq(replyTopic, []byte("found you"), map[string]string{
		message.PropertyCorrelationID: "corr-7", message.PropertyReplyToClient: quiet.id}, 0, false))
	require.Equal(t, int16(0), r.Code, r.Remark)
	require.Equal(t, []byte("found you"), quiet.wait(t).Body)
	// Once its connection is gone, so is the requester.
	quiet.client.Close()
	require.Eventually(t, func() bool {
		r = g.call(l.Addr(), replyReq(replyTopic, []byte("gone now"), map[string]string{
			message.PropertyCorrelationID: "corr-8", message.PropertyReplyToClient: quiet.id}, 0, false))
		return r.Code == int16(transport.RespSystemError)
	}, 10*time.Second, 50*time.Millisecond)
}
