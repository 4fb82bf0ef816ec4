package broker

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// Request-reply, as RocketMQ's ReplyMessageProcessor does it. A requester
// sends an ordinary message with CORRELATION_ID and REPLY_TO_CLIENT (its
// client id); the leader stamps CLUSTER on it, which is how the replier
// finds the reply topic, <cluster>_REPLY_TOPIC. The replier sends its
// reply with SEND_REPLY_MESSAGE(_V2): the member that receives it stores
// it like any send (forwarded to the leader when it is a follower) and
// then pushes it with PUSH_REPLY_MESSAGE_TO_CLIENT to the requester,
// wherever in the group the requester is connected (push.go). RocketMQ
// pushes first and stores after; raftmq stores first, so that a push never
// announces a reply the group could still lose and a replier's retry
// after a failed store does not push twice.
//
// When the push fails the answer is SYSTEM_ERROR with RocketMQ's remark,
// although the reply is stored (it stays, for whoever reads the topic).

const (
	// replyPushTimeout bounds the push to the requester (its answer
	// included), under the replier's own send timeout.
	replyPushTimeout = 3 * time.Second
	// replyLogEvery spaces the warnings about undeliverable replies.
	replyLogEvery = 10 * time.Second
)

// replyState is the broker's request-reply bookkeeping.
type replyState struct {
	log        rateLog        // warnings about replies that could not be pushed
	requesters requesterTable // where requests came from
}

// requesterTable maps a requester's client id to the connection its last
// request came in on (on this member). RocketMQ finds a requester only by
// its producer heartbeat, which the official clients send up to a second
// after start and then every 30 s, so a first request's reply could find
// no channel; the connection the request itself came on is where the
// requester is now. It is only a fallback to the heartbeat registrations.
type requesterTable struct {
	mu      sync.Mutex
	m       map[string]*transport.Conn
	pruneAt int
}

// note records that client id sent a request on c.
func (t *requesterTable) note(id string, c *transport.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]*transport.Conn{}
	}
	if t.m[id] == c {
		return
	}
	t.m[id] = c
	if len(t.m) <= t.pruneAt {
		return
	}
	// Amortized: drop closed connections whenever the table doubled.
	for k, v := range t.m {
		if connClosed(v) {
			delete(t.m, k)
		}
	}
	t.pruneAt = max(2*len(t.m), 64)
}

// conn is client id's last request connection, nil if none is open.
func (t *requesterTable) conn(id string) *transport.Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.m[id]
	if c != nil && connClosed(c) {
		delete(t.m, id)
		return nil
	}
	return c
}

func connClosed(c *transport.Conn) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// noteRequester remembers the connection a request came in on, when it
// came from the client itself (not forwarded by another member).
func (b *Broker) noteRequester(c *transport.Conn, req *transport.Command, h *transport.SendMessageRequestHeader) {
	if c == nil || req.Ext(transport.ExtForwarded) != "" || h.Batch {
		return
	}
	if !strings.Contains(h.Properties, message.PropertyReplyToClient) {
		return // the common case, without copying the properties
	}
	props := []byte(h.Properties)
	if !message.IsRequest(props) {
		return
	}
	if id, _ := message.LookupProperty(props, message.PropertyReplyToClient); len(id) > 0 {
		b.reply.requesters.note(string(id), c)
	}
}

// replyTopic is this cluster's reply topic.
func (b *Broker) replyTopic() string { return message.ReplyTopic(b.cfg.ClusterName) }

// replyTopicConfig is the reply topic as RocketMQ creates it at start: one
// queue, read and write, whatever autoCreateTopicEnable says.
func (b *Broker) replyTopicConfig() fsm.TopicConfig {
	return fsm.TopicConfig{TopicName: b.replyTopic(), ReadQueueNums: 1, WriteQueueNums: 1,
		Perm: transport.PermRead | transport.PermWrite, TopicFilterType: "SINGLE_TAG"}
}

// stampRequest adds CLUSTER to the properties of a request message (one
// with REPLY_TO_CLIENT that is not a reply), as RocketMQ stamps it on
// every message it stores: repliers build the reply topic's name from it.
// Other messages are left as they are.
func (b *Broker) stampRequest(props []byte, sp *message.SendProps) ([]byte, error) {
	if !sp.IsRequest() {
		return props, nil
	}
	if v, ok := sp.Cluster(); ok && string(v) == b.cfg.ClusterName {
		return props, nil
	}
	out := make([]byte, 0, len(props)+len(message.PropertyCluster)+len(b.cfg.ClusterName)+3)
	out = append(out, props...)
	if len(out) > 0 && out[len(out)-1] != message.PropertySeparator {
		out = append(out, message.PropertySeparator)
	}
	return message.AppendProperty(out, message.PropertyCluster, b.cfg.ClusterName)
}

// emptyBodyAllowed: RocketMQ stores a reply with an empty body (the
// official Go client's consumer.CreateReplyMessage leaves the body out).
func emptyBodyAllowed(h *transport.SendMessageRequestHeader) bool {
	return message.IsReply([]byte(h.Properties))
}

// handleReply serves SEND_REPLY_MESSAGE and SEND_REPLY_MESSAGE_V2.
func (b *Broker) handleReply(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	sendCode := transport.ReqSendMessage
	sysFlagKey := "sysFlag"
	if transport.RequestCode(req.Code) == transport.ReqSendReplyMessageV2 {
		sendCode, sysFlagKey = transport.ReqSendMessageV2, "f"
	}
	var h transport.SendMessageRequestHeader
	if err := h.DecodeFor(sendCode, req.ExtFields); err != nil {
		return respond(transport.RespMessageIllegal, "bad send reply request header: %v", err)
	}
	ext := req.ExtFields
	if h.SysFlag&message.SysFlagCompressed != 0 && !inflates(req.Body, b.cfg.MaxMessageSize) {
		// The official Go client flags a reply over 4 KiB as compressed
		// but sends its body as it is: store and push what was sent.
		h.SysFlag &^= message.SysFlagCompressed
		ext = make(map[string]string, len(req.ExtFields))
		for k, v := range req.ExtFields {
			ext[k] = v
		}
		ext[sysFlagKey] = fmt.Sprint(h.SysFlag)
	}
	// Stored exactly like a send; a follower forwards it to the leader.
	resp := b.handleSend(ctx, c, transport.NewRequest(sendCode, ext, req.Body))
	if resp.Code != int16(transport.RespSuccess) {
		return resp
	}
	remark := b.pushReply(ctx, c, req, &h, resp)
	if remark == "" {
		return resp
	}
	out := transport.NewResponse(transport.RespSystemError, remark)
	out.ExtFields = resp.Fields()
	return out
}

// pushReply pushes a stored reply to its requester. It returns "" once the
// requester took it, else the remark of the failure (RocketMQ's).
func (b *Broker) pushReply(ctx context.Context, c *transport.Conn, req *transport.Command, h *transport.SendMessageRequestHeader, stored *transport.Command) string {
	props := []byte(h.Properties)
	target, _ := message.LookupProperty(props, message.PropertyReplyToClient)
	corr, _ := message.LookupProperty(props, message.PropertyCorrelationID)
	if len(target) == 0 {
		remark := "reply message properties[" + message.PropertyReplyToClient + "] is null"
		b.reply.log.warn(b, "reply not pushed: it names no requester", "topic", h.Topic, "correlation_id", string(corr))
		return remark
	}
	var sh transport.SendMessageResponseHeader
	_ = sh.Decode(stored.Fields()) // handleSend's own success header
	storeHost := b.storeHost
	if ap, _, err := message.DecodeOffsetMsgID(sh.MsgID); err == nil {
		storeHost = ap
	}
	now := time.Now()
	pushProps := make([]byte, 0, len(props)+32)
	pushProps = append(pushProps, props...)
	if len(pushProps) > 0 && pushProps[len(pushProps)-1] != message.PropertySeparator {
		pushProps = append(pushProps, message.PropertySeparator)
	}
	pushProps, _ = message.AppendProperty(pushProps, message.PropertyPushReplyTime, fmt.Sprint(now.UnixMilli()))
	ph := transport.ReplyMessageRequestHeader{
		ProducerGroup: h.ProducerGroup, Topic: h.Topic, DefaultTopic: h.DefaultTopic, DefaultTopicQueueNums: h.DefaultTopicQueueNums,
		QueueID: sh.QueueID, SysFlag: h.SysFlag, BornTimestamp: h.BornTimestamp, Flag: h.Flag, Properties: string(pushProps),
		ReconsumeTimes: h.ReconsumeTimes, UnitMode: h.UnitMode, BornHost: b.bornHost(c, req).String(),
		StoreHost: storeHost.String(), StoreTimestamp: now.UnixMilli(), MsgID: sh.MsgID, QueueOffset: sh.QueueOffset,
	}
	pctx, cancel := context.WithTimeout(ctx, replyPushTimeout)
	defer cancel()
	presp, err := b.push(pctx, pushTarget{clientID: string(target)}, transport.NewRequest(transport.ReqPushReplyMessageToClient, ph.Encode(), req.Body), true)
	switch {
	case errors.Is(err, errNoClient):
		b.reply.log.warn(b, "reply stored but not pushed: no member of the group holds a connection to the requester (gone, or not heartbeating here)",
			"requester", string(target), "correlation_id", string(corr), "msg_id", sh.MsgID)
		return "push reply message fail, channel of <" + string(target) + "> not found."
	case err != nil:
		b.reply.log.warn(b, "reply stored but not pushed", "requester", string(target), "correlation_id", string(corr), "msg_id", sh.MsgID, "error", err)
		return "push reply message to <" + string(target) + "> fail: " + err.Error()
	case presp.Code != int16(transport.RespSuccess):
		b.reply.log.warn(b, "reply stored but the requester refused the push", "requester", string(target), "correlation_id", string(corr),
			"code", presp.Code, "remark", presp.Remark)
		return "push reply message to <" + string(target) + "> fail."
	}
	return ""
}

// inflates reports whether body is a complete zlib stream (reading at
// most limit inflated bytes: a longer one counts as one).
func inflates(body []byte, limit int) bool {
	r, err := zlib.NewReader(bytes.NewReader(body))
	if err != nil {
		return false
	}
	defer r.Close()
	_, err = io.Copy(io.Discard, io.LimitReader(r, int64(limit)))
	return err == nil
}

// rateLog logs one warning per interval and counts the ones it dropped,
// so that a requester that went away cannot flood the log.
type rateLog struct {
	mu         sync.Mutex
	next       time.Time
	suppressed int
}

func (l *rateLog) warn(b *Broker, msg string, kv ...any) {
	now := time.Now()
	l.mu.Lock()
	if now.Before(l.next) {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.next, l.suppressed = now.Add(replyLogEvery), 0
	l.mu.Unlock()
	if n > 0 {
		kv = append(kv, "similar_suppressed", n, "suppressed_over", replyLogEvery)
	}
	b.logger.Warn(msg, kv...)
}
