package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// Request-reply (RocketMQ 4.6+). Producer.Request sends a message that
// names this client (REPLY_TO_CLIENT) and a fresh CORRELATION_ID; the
// broker stamps the cluster's name on it (CLUSTER). A consumer answers
// with NewReply and Producer.SendReply: the reply goes to the cluster's
// reply topic, is stored, and the broker pushes it to the requester
// (PUSH_REPLY_MESSAGE_TO_CLIENT) over whichever connection the requester
// holds to the group, which matches it to the waiting Request by
// CORRELATION_ID. The requester subscribes to nothing. Both sides
// interoperate with the official clients (producer.Request,
// consumer.CreateReplyMessage).

var (
	// ErrRequestTimeout: a Request's reply did not arrive in time. The
	// request itself was stored; a late reply is dropped.
	ErrRequestTimeout = errors.New("client: no reply before the request's timeout")
	// ErrReplyNotPushed: SendReply stored the reply, but the broker could
	// not hand it to the requester (gone, or not connected to the group).
	// It is not retried: a retry would only store it again.
	ErrReplyNotPushed = errors.New("client: reply stored but not pushed to the requester")
)

// replyWaiters are the Requests waiting for their reply, by correlation id.
type replyWaiters struct {
	mu sync.Mutex
	m  map[string]chan *MessageExt
}

func (w *replyWaiters) add(id string) chan *MessageExt {
	ch := make(chan *MessageExt, 1)
	w.mu.Lock()
	w.m[id] = ch
	w.mu.Unlock()
	return ch
}

func (w *replyWaiters) remove(id string) {
	w.mu.Lock()
	delete(w.m, id)
	w.mu.Unlock()
}

// deliver hands m to the Request waiting for id; false when none is (it
// timed out, or the reply is a duplicate).
func (w *replyWaiters) deliver(id string, m *MessageExt) bool {
	w.mu.Lock()
	ch := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	if ch == nil {
		return false
	}
	ch <- m // buffered, and only the first delivery finds ch
	return true
}

// pending counts the Requests waiting (tests).
func (w *replyWaiters) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.m)
}

// registrations remembers which broker addresses took this client's
// heartbeat on the current connection: a reply can only be pushed over a
// connection the broker knows to be ours.
type registrations struct {
	mu sync.Mutex
	m  map[string]bool
}

func (r *registrations) set(addr string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]bool{}
	}
	if ok {
		r.m[addr] = true
	} else {
		delete(r.m, addr)
	}
}

func (r *registrations) has(addr string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[addr]
}

// newCorrelationID returns a random UUID (version 4), the official
// clients' form.
func newCorrelationID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Request sends msg as a request and waits for its reply: the message a
// consumer of msg's topic answers with (NewReply and SendReply). timeout
// bounds the whole call, the send included; ctx may end it sooner. The
// caller's msg is not modified. Errors: those of Send, ErrRequestTimeout
// (which also matches context.DeadlineExceeded) when no reply came in time,
// ErrShutdown.
func (p *Producer) Request(ctx context.Context, msg *Message, timeout time.Duration) (*MessageExt, error) {
	if timeout <= 0 {
		return nil, fmt.Errorf("%w: request timeout %v must be positive", ErrInvalidMessage, timeout)
	}
	if msg == nil {
		return nil, fmt.Errorf("%w: nil message", ErrInvalidMessage)
	}
	if p.c.isClosed() {
		return nil, ErrShutdown
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	id := newCorrelationID()
	m := *msg
	m.Properties = make(map[string]string, len(msg.Properties)+3)
	for k, v := range msg.Properties {
		m.Properties[k] = v
	}
	m.Properties[message.PropertyCorrelationID] = id
	m.Properties[message.PropertyReplyToClient] = p.c.clientID
	m.Properties[message.PropertyTTL] = strconv.FormatInt(int64((timeout+time.Second-1)/time.Second), 10)
	out, err := p.prepare(&m)
	if err != nil {
		return nil, err
	}
	ch := p.replies.add(id)
	defer p.replies.remove(id)
	if err := p.register(ctx, m.Topic); err != nil {
		return nil, err
	}
	res, err := p.send(ctx, out)
	if err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r, nil
	case <-p.c.ctx.Done():
		return nil, ErrShutdown
	case <-ctx.Done():
		if err := parent.Err(); err != nil {
			return nil, fmt.Errorf("client: request to %s (msgId %s): %w", m.Topic, res.MsgID, err)
		}
		return nil, fmt.Errorf("%w: request to %s (msgId %s, correlation id %s) got no reply within %v: %w",
			ErrRequestTimeout, m.Topic, res.MsgID, id, timeout, context.DeadlineExceeded)
	}
}

// RequestAsync sends msg as a request in the background and calls cb
// exactly once, on a goroutine of its own, with the reply or the error
// Request would return. It returns an error (and never calls cb) when
// the arguments are invalid or the producer is shut down; it blocks while
// maxAsyncInflight asynchronous sends and requests are in flight.
func (p *Producer) RequestAsync(ctx context.Context, msg *Message, timeout time.Duration, cb func(*MessageExt, error)) error {
	if cb == nil {
		return fmt.Errorf("%w: nil callback", ErrInvalidMessage)
	}
	if timeout <= 0 {
		return fmt.Errorf("%w: request timeout %v must be positive", ErrInvalidMessage, timeout)
	}
	if err := msg.validate(); err != nil {
		return err
	}
	return p.goAsync(ctx, func() { cb(p.Request(ctx, msg, timeout)) })
}

// register makes sure every broker address of topic's route took this
// client's heartbeat on its current connection before a request goes out,
// so that the reply finds the requester (the periodic heartbeat may not
// have reached a route fetched just now).
func (p *Producer) register(ctx context.Context, topic string) error {
	r, err := p.c.routes.publishRoute(ctx, topic, p.c.opts.autoCreate)
	if err != nil {
		return err
	}
	var missing []string
	for _, a := range r.addrs() {
		if !p.c.reg.has(a) {
			missing = append(missing, a)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	body, ok := p.c.heartbeatBody()
	if !ok {
		return nil
	}
	var wg sync.WaitGroup
	for _, a := range missing {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A member that does not answer is left to the send's own
			// failover; the reply comes through another member.
			_ = p.c.heartbeat(ctx, a, body)
		}()
	}
	wg.Wait()
	return nil
}

// onPushReply serves PUSH_REPLY_MESSAGE_TO_CLIENT: a broker hands over a
// reply to one of this producer's requests.
func (p *Producer) onPushReply(_ context.Context, conn *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.ReplyMessageRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return transport.NewResponse(transport.RespInvalidParameter, fmt.Sprintf("bad reply header: %v", err))
	}
	m, err := replyFromPush(&h, req.Body, p.c.opts.maxBodySize)
	if err != nil {
		return transport.NewResponse(transport.RespSystemError, err.Error())
	}
	if conn != nil {
		m.Queue.BrokerName = p.c.routes.groupOfHost(conn.RemoteAddr().String())
	}
	id := m.Properties[message.PropertyCorrelationID]
	if !p.replies.deliver(id, m) {
		// As the official clients do: accepted, and dropped.
		p.c.logger.Debug("reply matches no waiting request (timed out, or a duplicate)", "correlation_id", id, "replier", h.BornHost)
	}
	return transport.NewResponse(transport.RespSuccess, "")
}

// replyFromPush builds the received reply from a push.
func replyFromPush(h *transport.ReplyMessageRequestHeader, body []byte, maxBody int) (*MessageExt, error) {
	if h.SysFlag&message.SysFlagCompressed != 0 {
		b, err := message.Decompress(body, maxBody)
		if err != nil {
			return nil, fmt.Errorf("client: inflate reply: %w", err)
		}
		body = b
	}
	props := message.DecodeProperties([]byte(h.Properties))
	if props == nil {
		props = map[string]string{}
	}
	props[message.PropertyReplyArriveTime] = strconv.FormatInt(time.Now().UnixMilli(), 10)
	mm := message.Message{Properties: props}
	m := &MessageExt{
		Message:        Message{Topic: h.Topic, Body: body, Flag: h.Flag, Properties: props, Tags: mm.Tags(), Keys: mm.Keys()},
		MsgID:          props[message.PropertyUniqKey],
		OffsetMsgID:    h.MsgID,
		Queue:          MessageQueue{Topic: h.Topic, QueueID: int(h.QueueID)},
		QueueOffset:    h.QueueOffset,
		BornTimestamp:  time.UnixMilli(h.BornTimestamp),
		StoreTimestamp: time.UnixMilli(h.StoreTimestamp),
		BornHost:       strings.TrimPrefix(h.BornHost, "/"),
		StoreHost:      strings.TrimPrefix(h.StoreHost, "/"),
		ReconsumeTimes: int(h.ReconsumeTimes),
		SysFlag:        h.SysFlag,
	}
	if m.MsgID == "" {
		m.MsgID = h.MsgID
	}
	return m, nil
}

// NewReply builds the reply to a request received by a consumer (a
// message Request or the official producer.Request sent): body for the
// requester, to send with Producer.SendReply. It fails with
// ErrInvalidMessage when req is not a request (no CLUSTER,
// REPLY_TO_CLIENT or CORRELATION_ID property). The body may be empty.
func NewReply(req *MessageExt, body []byte) (*Message, error) {
	if req == nil {
		return nil, fmt.Errorf("%w: nil request", ErrInvalidMessage)
	}
	cluster := req.Properties[message.PropertyCluster]
	to := req.Properties[message.PropertyReplyToClient]
	id := req.Properties[message.PropertyCorrelationID]
	if cluster == "" || to == "" || id == "" {
		return nil, fmt.Errorf("%w: message %s is not a request (properties %s=%q %s=%q %s=%q)", ErrInvalidMessage, req.MsgID,
			message.PropertyCluster, cluster, message.PropertyReplyToClient, to, message.PropertyCorrelationID, id)
	}
	m := &Message{Topic: message.ReplyTopic(cluster), Body: body, Properties: map[string]string{
		message.PropertyMsgType:       message.ReplyMessageFlag,
		message.PropertyCorrelationID: id,
		message.PropertyReplyToClient: to,
	}, replyGroup: req.Queue.BrokerName}
	if ttl := req.Properties[message.PropertyTTL]; ttl != "" {
		m.Properties[message.PropertyTTL] = ttl
	}
	return m, nil
}

// IsReply reports whether m is a reply (MSG_TYPE=reply).
func (m *Message) IsReply() bool {
	return m.Properties[message.PropertyMsgType] == message.ReplyMessageFlag
}

// SendReply sends a reply built by NewReply (or any message with
// MSG_TYPE=reply, REPLY_TO_CLIENT and CORRELATION_ID) with
// SEND_REPLY_MESSAGE: the broker stores it in the reply topic and pushes
// it to the requester. It goes to the broker group the request came from
// when that group serves the reply topic (the requester is connected to
// it). When the reply was stored but could not be pushed the error wraps
// ErrReplyNotPushed and the *BrokerError, and is not retried.
func (p *Producer) SendReply(ctx context.Context, reply *Message) (*SendResult, error) {
	if reply == nil || !reply.IsReply() || reply.Properties[message.PropertyReplyToClient] == "" || reply.Properties[message.PropertyCorrelationID] == "" {
		return nil, fmt.Errorf("%w: not a reply (build it with NewReply)", ErrInvalidMessage)
	}
	out, err := p.prepare(reply)
	if err != nil {
		return nil, err
	}
	out.reply = true
	out.selector, out.msg, out.key = replySelector{group: reply.replyGroup}, reply, reply.Properties[message.PropertyCorrelationID]
	return p.send(ctx, out)
}

// replySelector prefers a queue of the broker group the request came from.
type replySelector struct{ group string }

func (s replySelector) Select(qs []MessageQueue, m *Message, key string) MessageQueue {
	for _, q := range qs {
		if q.BrokerName == s.group {
			return q
		}
	}
	return HashQueueSelector{}.Select(qs, m, key)
}

// replyNotPushed reports whether a SEND_REPLY_MESSAGE answer says the
// reply was stored but not pushed (the remarks of RocketMQ and raftmq).
func replyNotPushed(resp *transport.Command) bool {
	return transport.ResponseCode(resp.Code) == transport.RespSystemError &&
		(strings.HasPrefix(resp.Remark, "push reply message") || strings.HasPrefix(resp.Remark, "reply message properties["))
}
