package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// DefaultProducerGroup is the producer group when WithGroup is not given.
const DefaultProducerGroup = "DEFAULT_PRODUCER"

// retryPause times the attempt number is how long a send waits after a
// retriable answer (SYSTEM_ERROR, SERVICE_NOT_AVAILABLE) before retrying:
// with the default 2 retries the attempts span about one raft election.
const retryPause = 50 * time.Millisecond

// maxAsyncInflight bounds concurrent SendAsync calls; beyond it SendAsync
// blocks until one finishes (or its context ends).
const maxAsyncInflight = 4096

// Producer sends messages. It is safe for concurrent use.
//
// Every send goes to the leader of the broker group owning the chosen
// queue (brokerId 0 in the route). On a connection failure, a timeout or
// a retriable answer (SYSTEM_ERROR, SERVICE_NOT_AVAILABLE: "not the
// leader", "outcome unknown") it refreshes the topic's route at once and
// retries, on another group when several serve the topic, up to WithRetries
// times. While no group of the topic has a leader (an election is under
// way) it waits for one, polling the NameServer, until the context or the
// send's budget ends. The message keeps its UNIQ_KEY across retries, so a
// retry after an unknown outcome may store a duplicate with the same
// MsgID, never lose an acknowledged message.
type Producer struct {
	sender
	sem     chan struct{}
	async   sync.WaitGroup
	replies *replyWaiters // Requests waiting for their reply
}

// sender is the send machinery, shared with the push consumer (which
// re-sends messages to the retry topic when CONSUMER_SEND_MSG_BACK fails).
type sender struct {
	c     *core
	group string
	rr    atomic.Uint32
}

// NewProducer builds a producer and starts its route refresh and heartbeat
// loops. It does no I/O until the first send.
func NewProducer(opts ...Option) (*Producer, error) {
	o := defaultOptions()
	for _, f := range opts {
		f(&o)
	}
	if o.group == "" {
		o.group = DefaultProducerGroup
	}
	if err := message.ValidateGroup(o.group); err != nil {
		return nil, fmt.Errorf("client: producer group: %w", err)
	}
	c, err := newCore(o)
	if err != nil {
		return nil, err
	}
	c.producer = o.group
	p := &Producer{sender: sender{c: c, group: o.group}, sem: make(chan struct{}, maxAsyncInflight),
		replies: &replyWaiters{m: map[string]chan *MessageExt{}}}
	c.rpc.Handle(transport.ReqPushReplyMessageToClient, p.onPushReply)
	c.startLoops()
	return p, nil
}

// ClientID is the id this producer heartbeats with.
func (p *Producer) ClientID() string { return p.c.clientID }

// outgoing is a message (or batch) encoded once for all attempts.
type outgoing struct {
	topic   string
	body    []byte
	props   string
	flag    int32
	sysFlag int32
	ids     string // UNIQ_KEY(s), comma-joined
	// reconsume is the RECONSUMETIMES of a message re-sent to a retry topic.
	reconsume int32
	batch     bool
	oneway    bool
	reply     bool // SEND_REPLY_MESSAGE
	// ordered sends pick their queue with the selector and never move.
	selector QueueSelector
	msg      *Message
	key      string
}

// prepare validates and encodes a single message. The UNIQ_KEY is taken
// from Properties when the caller set one, else generated once here.
func (p *sender) prepare(m *Message) (*outgoing, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	uniq := m.Properties[message.PropertyUniqKey]
	if uniq == "" {
		uniq = message.NewUniqKey()
	}
	props, err := m.encodeProperties(uniq)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidMessage, err)
	}
	if len(props) > message.MaxPropertiesLen {
		return nil, fmt.Errorf("%w: %v", ErrInvalidMessage, message.ErrPropertiesTooLong)
	}
	out := &outgoing{topic: m.Topic, body: m.Body, props: props, flag: m.Flag, ids: uniq}
	if t := p.c.opts.compressThreshold; t > 0 && len(m.Body) >= t {
		if z, err := message.Compress(m.Body, p.c.opts.compressLevel); err == nil && len(z) < len(m.Body) {
			out.body, out.sysFlag = z, message.SysFlagCompressed
		}
	}
	return out, nil
}

// Send sends msg and waits until the broker group stored it (replicated to
// a majority). ctx bounds the whole call, retries included; without a
// deadline the call is bounded by (retries+1) times the per-call timeout.
func (p *Producer) Send(ctx context.Context, msg *Message) (*SendResult, error) {
	out, err := p.prepare(msg)
	if err != nil {
		return nil, err
	}
	return p.send(ctx, out)
}

// SendAsync sends msg in the background and calls cb exactly once with the
// result, on a goroutine of its own. ctx bounds the whole send. It returns
// an error (and never calls cb) when msg is invalid or the producer is shut
// down; it blocks while maxAsyncInflight sends are in flight.
func (p *Producer) SendAsync(ctx context.Context, msg *Message, cb func(*SendResult, error)) error {
	if cb == nil {
		return fmt.Errorf("%w: nil callback", ErrInvalidMessage)
	}
	out, err := p.prepare(msg)
	if err != nil {
		return err
	}
	return p.goAsync(ctx, func() {
		r, err := p.send(ctx, out)
		cb(r, err)
	})
}

// goAsync runs f on a goroutine that Shutdown waits for, holding one of the
// maxAsyncInflight slots (it blocks while none is free).
func (p *Producer) goAsync(ctx context.Context, f func()) error {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.c.ctx.Done():
		return ErrShutdown
	}
	p.async.Add(1)
	ok := p.c.goFunc(func() {
		defer p.async.Done()
		defer func() { <-p.sem }()
		f()
	})
	if !ok {
		p.async.Done()
		<-p.sem
		return ErrShutdown
	}
	return nil
}

// SendOneway sends msg without waiting for the broker's answer: fastest,
// and the message may be lost. It retries only when the connection could
// not be made.
func (p *Producer) SendOneway(ctx context.Context, msg *Message) error {
	out, err := p.prepare(msg)
	if err != nil {
		return err
	}
	out.oneway = true
	_, err = p.send(ctx, out)
	return err
}

// SendOrderly sends msg to the queue the producer's QueueSelector picks
// for shardingKey (by default a hash of the key over the topic's queues):
// messages with the same key go to the same queue, in send order, as long
// as the topic's queues do not change. Retries stay on that queue.
func (p *Producer) SendOrderly(ctx context.Context, msg *Message, shardingKey string) (*SendResult, error) {
	out, err := p.prepare(msg)
	if err != nil {
		return nil, err
	}
	out.selector, out.msg, out.key = p.c.opts.selector, msg, shardingKey
	return p.send(ctx, out)
}

// SendBatch sends msgs, all to one topic, as one SEND_BATCH_MESSAGE: they
// are stored together in one queue, consecutively. Batches are never
// compressed. The result's MsgID and OffsetMsgID list one id per message,
// comma-separated; QueueOffset is the first message's.
func (p *Producer) SendBatch(ctx context.Context, msgs []*Message) (*SendResult, error) {
	if len(msgs) == 0 {
		return nil, fmt.Errorf("%w: empty batch", ErrInvalidMessage)
	}
	topic := msgs[0].Topic
	if message.IsRetryTopic(topic) {
		return nil, fmt.Errorf("%w: batches cannot go to retry topic %s", ErrInvalidMessage, topic)
	}
	enc := make([]*message.Message, len(msgs))
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		if err := m.validate(); err != nil {
			return nil, fmt.Errorf("batch message %d: %w", i, err)
		}
		if m.Topic != topic {
			return nil, fmt.Errorf("%w: batch mixes topics %s and %s", ErrInvalidMessage, topic, m.Topic)
		}
		if m.DelayLevel > 0 {
			return nil, fmt.Errorf("%w: batch message %d has a delay level", ErrInvalidMessage, i)
		}
		ids[i] = m.Properties[message.PropertyUniqKey]
		if ids[i] == "" {
			ids[i] = message.NewUniqKey()
		}
		enc[i] = &message.Message{Topic: topic, Flag: m.Flag, Body: m.Body, Properties: m.properties(ids[i])}
	}
	body, err := message.EncodeBatch(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidMessage, err)
	}
	return p.send(ctx, &outgoing{topic: topic, body: body, ids: strings.Join(ids, ","), batch: true})
}

// request builds the send request for queue mq.
func (o *outgoing) request(mq MessageQueue, group string) *transport.Command {
	h := transport.SendMessageRequestHeader{
		ProducerGroup:         group,
		Topic:                 o.topic,
		DefaultTopic:          message.AutoCreateTopicKey,
		DefaultTopicQueueNums: defaultTopicQueueNums,
		QueueID:               int32(mq.QueueID),
		SysFlag:               o.sysFlag,
		BornTimestamp:         time.Now().UnixMilli(),
		Flag:                  o.flag,
		Properties:            o.props,
		ReconsumeTimes:        o.reconsume,
		BrokerName:            mq.BrokerName,
	}
	// SEND_MESSAGE_V2's one-letter names, as the Java client sends by
	// default (sendSmartMsg): a smaller header to encode, send and decode.
	code, v2 := transport.ReqSendMessageV2, true
	switch {
	case o.batch:
		h.Batch = true
		code = transport.ReqSendBatchMessage
	case o.reply:
		code, v2 = transport.ReqSendReplyMessage, false
	}
	req := transport.NewRequest(code, nil, o.body)
	h.EncodeTo(req, v2)
	return req
}

// pick chooses the queue and address of the next attempt. Ordered sends
// use the selector; others go round-robin over the queues of groups that
// have a leader, skipping the group that failed last when another exists.
// ok is false when no usable group has a leader now.
func (p *sender) pick(r *topicRoute, o *outgoing, avoid string) (MessageQueue, string, bool) {
	qs := r.writeQs
	if len(qs) == 0 {
		return MessageQueue{}, "", false
	}
	if o.selector != nil {
		mq := o.selector.Select(qs, o.msg, o.key)
		addr := p.target(r, mq.BrokerName)
		return mq, addr, addr != ""
	}
	n := uint32(len(qs))
	start := p.rr.Add(1)
	var fallback *MessageQueue
	for i := uint32(0); i < n; i++ {
		mq := qs[(start+i)%n]
		if r.leader(mq.BrokerName) == "" {
			continue
		}
		if mq.BrokerName == avoid {
			if fallback == nil {
				fallback = &mq
			}
			continue
		}
		return mq, p.target(r, mq.BrokerName), true
	}
	if fallback != nil {
		return *fallback, p.target(r, fallback.BrokerName), true
	}
	return MessageQueue{}, "", false
}

// target is the address to send a group's messages to: its leader, unless
// a connection to it failed lately and another member is fine (members
// forward to the leader, waiting for an election to end).
func (p *sender) target(r *topicRoute, brokerName string) string {
	leader := r.leader(brokerName)
	if leader == "" || !p.c.recentlyFailed(leader) {
		return leader
	}
	for _, a := range r.members(brokerName) {
		if !p.c.recentlyFailed(a) {
			return a
		}
	}
	return leader
}

// send runs the attempts of one send.
func (p *sender) send(ctx context.Context, o *outgoing) (*SendResult, error) {
	if p.c.isClosed() {
		return nil, ErrShutdown
	}
	// No context derived from the core's: its shutdown ends requests in
	// flight (the transport's Context), and the loop and its pauses check
	// it themselves.
	if _, ok := ctx.Deadline(); !ok {
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(ctx, time.Duration(p.c.opts.retries+1)*p.c.opts.timeout)
		defer c2()
	}
	var lastErr error
	fail := func(err error) (*SendResult, error) {
		if p.c.ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", ErrShutdown, err)
		}
		return nil, err
	}
	avoid := ""
	attempts := 0
	for {
		if err := cmp.Or(p.c.ctx.Err(), ctx.Err()); err != nil {
			if lastErr == nil {
				lastErr = err
			}
			return fail(fmt.Errorf("client: send to %s: %w (last error: %w)", o.topic, err, lastErr))
		}
		r, err := p.c.routes.publishRoute(ctx, o.topic, p.c.opts.autoCreate)
		if err != nil {
			if lastErr != nil && ctx.Err() != nil {
				err = fmt.Errorf("%w (last error: %v)", err, lastErr)
			}
			return fail(err)
		}
		if len(r.writeQs) == 0 {
			return fail(fmt.Errorf("%w: topic %s has no writable queue", ErrNoRoute, o.topic))
		}
		mq, addr, ok := p.pick(r, o, avoid)
		if !ok {
			// No leader advertised (election or registration under way):
			// poll the route until one appears or the budget ends.
			lastErr = fmt.Errorf("%w: no leader advertised for the broker groups of %s", ErrNoRoute, o.topic)
			if !p.c.sleep(ctx, 100*time.Millisecond) {
				continue
			}
			p.c.routes.refresh(ctx, o.topic)
			continue
		}
		req := o.request(mq, p.group)
		if o.oneway {
			cctx, ccancel := p.c.callCtx(ctx, 0)
			err = p.c.rpc.InvokeOneway(cctx, addr, req)
			ccancel()
			if err == nil {
				return nil, nil
			}
			p.c.markFailed(addr, err)
			lastErr = fmt.Errorf("client: oneway send to %s (%s): %w", addr, mq, err)
		} else {
			resp, err := p.c.invokePairs(ctx, addr, req)
			if err == nil {
				switch transport.ResponseCode(resp.Code) {
				case transport.RespSuccess, transport.RespFlushDiskTimeout, transport.RespFlushSlaveTimeout, transport.RespSlaveNotAvailable:
					return sendResult(o, mq, resp)
				}
				be := brokerErr("send to "+mq.String(), addr, resp)
				if o.reply && replyNotPushed(resp) {
					return nil, fmt.Errorf("%w: %w", ErrReplyNotPushed, be)
				}
				if !be.Retriable() {
					return nil, be
				}
				lastErr = be
			} else {
				if errors.Is(err, ErrShutdown) {
					return nil, err
				}
				p.c.markFailed(addr, err)
				lastErr = fmt.Errorf("client: send to %s (%s): %w", addr, mq, err)
			}
		}
		attempts++
		if attempts > p.c.opts.retries {
			return fail(lastErr)
		}
		p.c.logger.Debug("send failed, retrying", "topic", o.topic, "queue", mq.String(), "addr", addr, "attempt", attempts, "error", lastErr)
		avoid = mq.BrokerName
		// After a connection failure the next attempt goes to another
		// member (or group) at once. A retriable answer means the group is
		// changing leaders; members already hold a forwarded request until
		// the election ends (bounded), so only a short pause here. Then take
		// the route afresh.
		pause := time.Duration(attempts) * 20 * time.Millisecond
		if _, ok := lastErr.(*BrokerError); ok {
			pause = time.Duration(attempts) * retryPause
		}
		if !p.c.sleep(ctx, pause) {
			continue
		}
		p.c.routes.refresh(ctx, o.topic)
	}
}

func sendResult(o *outgoing, mq MessageQueue, resp *transport.Command) (*SendResult, error) {
	var h transport.SendMessageResponseHeader
	if err := h.DecodeCommand(resp); err != nil {
		return nil, fmt.Errorf("client: send response: %w", err)
	}
	st := SendOK
	switch transport.ResponseCode(resp.Code) {
	case transport.RespFlushDiskTimeout:
		st = SendFlushDiskTimeout
	case transport.RespFlushSlaveTimeout:
		st = SendFlushSlaveTimeout
	case transport.RespSlaveNotAvailable:
		st = SendSlaveNotAvailable
	}
	mq.QueueID = int(h.QueueID)
	return &SendResult{Status: st, MsgID: o.ids, OffsetMsgID: h.MsgID, Queue: mq, QueueOffset: h.QueueOffset}, nil
}

// Shutdown stops the producer: new sends fail with ErrShutdown, sends in
// flight (SendAsync included) may finish until ctx ends, then everything
// is cancelled and every goroutine and connection is gone when it returns.
func (p *Producer) Shutdown(ctx context.Context) error {
	if !p.c.markClosed() {
		return nil
	}
	done := make(chan struct{})
	go func() {
		p.async.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.c.shutdown()
	<-done
	return err
}

// QueueSelector picks the queue of an ordered send.
type QueueSelector interface {
	// Select returns one of queues (sorted by broker group and queue id,
	// never empty) for msg and its sharding key.
	Select(queues []MessageQueue, msg *Message, shardingKey string) MessageQueue
}

// HashQueueSelector maps a sharding key to a queue by its FNV-1a hash:
// the same key always picks the same queue of the same queue list.
type HashQueueSelector struct{}

// Select implements QueueSelector.
func (HashQueueSelector) Select(queues []MessageQueue, _ *Message, key string) MessageQueue {
	h := fnv.New32a()
	h.Write([]byte(key))
	return queues[h.Sum32()%uint32(len(queues))]
}

// QueueSelectorFunc adapts a function to QueueSelector.
type QueueSelectorFunc func(queues []MessageQueue, msg *Message, shardingKey string) MessageQueue

// Select implements QueueSelector.
func (f QueueSelectorFunc) Select(queues []MessageQueue, msg *Message, key string) MessageQueue {
	return f(queues, msg, key)
}
