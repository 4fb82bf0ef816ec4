package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// Handler consumes messages of one queue, in queue order, at most
// WithConsumeBatchSize at a time. ctx ends when the consumer is shut down
// (and Shutdown's own context expires). Returning ConsumeRetryLater (or
// panicking) has the messages redelivered later through the group's
// %RETRY% topic; messages redelivered that way keep their original Topic.
// An orderly consumer (WithConsumeOrderly) hands them to the handler again
// instead, before any later message of the queue.
type Handler func(ctx context.Context, msgs []*MessageExt) ConsumeResult

// innerProducerGroup is the producer group of messages a consumer re-sends
// to its retry topic itself.
const innerProducerGroup = "CLIENT_INNER_PRODUCER"

const (
	pullBackoff  = time.Second // after a failed pull
	startBackoff = time.Second // after failing to find a queue's start offset
)

// PushConsumer receives the messages of its subscriptions and hands them to
// handlers, per queue, in order. In Clustering mode the queues of every
// broker group serving a subscribed topic are divided among the group's
// live members (rebalanced every WithRebalanceInterval and whenever a
// broker reports the membership changed); progress is committed to the
// brokers (replicated through raft, so a failover does not rewind it).
// In Broadcasting mode every member consumes every queue and keeps its
// offsets in memory.
//
// Delivery is at least once: after a crash, a rebalance or a failover, the
// messages since the last committed offset are delivered again.
//
// WithConsumeOrderly makes it take the brokers' queue locks, so that a
// queue is never handled by two members at once, and retry refused
// messages in place.
type PushConsumer struct {
	c       *core
	o       *options
	group   string
	inner   sender
	subs    map[string]*subscription // by topic, %RETRY% included
	version int64                    // subscription version sent in heartbeats

	state atomic.Int32 // 0 new, 1 started, 2 shut down
	kick  chan struct{}
	stop  chan struct{}
	// loopCtx is the rebalance and commit loops' context: Shutdown ends
	// it first so that no rebalance starts queues behind its back.
	loopCtx    context.Context
	loopCancel context.CancelFunc
	loops      sync.WaitGroup
	rebMu      sync.Mutex // one rebalance at a time
	mu         sync.Mutex // guards queues, local
	queues     map[MessageQueue]*processQueue
	local      map[MessageQueue]int64 // broadcasting offsets
}

// processQueue is one assigned queue and its pulling goroutine.
type processQueue struct {
	mq        MessageQueue
	cancel    context.CancelFunc
	done      chan struct{}
	consumed  atomic.Int64 // next offset to consume; -1 until known
	committed atomic.Int64 // last offset committed to the broker; -1 none
	fastEmpty int          // consecutive PULL_NOT_FOUND answered at once (puller only)
	// lockedUntil is the monoNow time until which the queue's broker lock
	// is trusted (orderly Clustering consumers); 0: not held.
	lockedUntil atomic.Int64
}

// lockHeld reports whether the queue's lock is trusted now.
func (pq *processQueue) lockHeld() bool { return monoNow() < pq.lockedUntil.Load() }

// NewPushConsumer builds a consumer of group (WithGroup, required). Add
// subscriptions with Subscribe, then Start it.
func NewPushConsumer(opts ...Option) (*PushConsumer, error) {
	o := defaultOptions()
	for _, f := range opts {
		f(&o)
	}
	if o.group == "" {
		return nil, errors.New("client: a push consumer needs a group (WithGroup)")
	}
	if err := message.ValidateGroup(o.group); err != nil {
		return nil, fmt.Errorf("client: consumer group: %w", err)
	}
	c, err := newCore(o)
	if err != nil {
		return nil, err
	}
	pc := &PushConsumer{c: c, o: &c.opts, group: o.group, inner: sender{c: c, group: innerProducerGroup},
		subs: map[string]*subscription{}, kick: make(chan struct{}, 1), stop: make(chan struct{}),
		queues: map[MessageQueue]*processQueue{}, local: map[MessageQueue]int64{}}
	if pc.o.fromWhere == ConsumeFromTimestamp && pc.o.fromTimestamp.IsZero() {
		pc.o.fromTimestamp = time.Now().Add(-30 * time.Minute)
	}
	c.onRoute = pc.kickRebalance
	c.rpc.Handle(transport.ReqNotifyConsumerIDsChanged, func(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
		if g := req.Ext("consumerGroup"); g == "" || g == pc.group {
			c.logger.Debug("consumer ids changed", "group", pc.group)
			pc.kickRebalance()
		}
		return nil
	})
	c.rpc.Handle(transport.ReqGetConsumerRunningInfo, pc.handleRunningInfo)
	return pc, nil
}

// ClientID is the id this consumer is known by in its group.
func (pc *PushConsumer) ClientID() string { return pc.c.clientID }

// Subscribe adds a subscription before Start: messages of topic whose tag
// matches expr ("*" for all, or "TagA || TagB") go to h.
func (pc *PushConsumer) Subscribe(topic, expr string, h Handler) error {
	return pc.subscribe(topic, h, func() (*subscription, error) { return newSubscription(topic, expr, h) })
}

// SubscribeSQL adds a subscription before Start: messages of topic that a
// SQL92 selector on their properties selects ("a > 5 AND TAGS IN ('A')",
// see package filter) go to h. The broker evaluates it; the selector is
// checked here first.
func (pc *PushConsumer) SubscribeSQL(topic, sql string, h Handler) error {
	return pc.subscribe(topic, h, func() (*subscription, error) { return newSQLSubscription(topic, sql, h) })
}

func (pc *PushConsumer) subscribe(topic string, h Handler, mk func() (*subscription, error)) error {
	if pc.state.Load() != 0 {
		return fmt.Errorf("client: subscribe to %s: consumer already started", topic)
	}
	if err := message.ValidateTopic(topic); err != nil {
		return fmt.Errorf("client: subscribe: %w", err)
	}
	if h == nil {
		return fmt.Errorf("client: subscribe to %s: nil handler", topic)
	}
	s, err := mk()
	if err != nil {
		return err
	}
	pc.subs[topic] = s
	return nil
}

// Start looks up the subscribed topics (failing with ErrTopicNotExist for
// one the NameServer does not know), heartbeats their brokers, takes its
// share of the queues and starts consuming. In Clustering mode the group's
// %RETRY% topic is subscribed too.
func (pc *PushConsumer) Start(ctx context.Context) error {
	if len(pc.subs) == 0 {
		return errors.New("client: start: no subscription")
	}
	if !pc.state.CompareAndSwap(0, 1) {
		return errors.New("client: push consumer already started or shut down")
	}
	for topic := range pc.subs {
		if _, err := pc.c.routes.refresh(ctx, topic); err != nil {
			pc.state.Store(0)
			return fmt.Errorf("client: start consumer %s: %w", pc.group, err)
		}
	}
	if pc.o.model == Clustering {
		rt := message.RetryTopic(pc.group)
		if _, ok := pc.subs[rt]; !ok {
			pc.subs[rt] = &subscription{topic: rt, expr: "*"}
		}
		// The broker creates the retry topic on our heartbeat; its route
		// is picked up by the first rebalances.
		pc.c.routes.refresh(ctx, rt)
	}
	pc.version = time.Now().UnixNano()
	pc.c.mu.Lock()
	pc.c.consumer = pc.consumerData
	pc.c.mu.Unlock()
	pc.loopCtx, pc.loopCancel = context.WithCancel(pc.c.ctx)
	pc.c.heartbeatAll(ctx)
	incomplete := pc.rebalance(ctx)
	pc.c.startLoops()
	pc.goLoop(func() { pc.rebalanceLoop(incomplete) })
	pc.goLoop(pc.commitLoop)
	return nil
}

func (pc *PushConsumer) goLoop(f func()) {
	pc.loops.Add(1)
	if !pc.c.goFunc(func() {
		defer pc.loops.Done()
		f()
	}) {
		pc.loops.Done()
	}
}

func (pc *PushConsumer) consumerData() transport.ConsumerData {
	cd := transport.ConsumerData{GroupName: pc.group, ConsumeType: "CONSUME_PASSIVELY", MessageModel: pc.o.model.String(),
		ConsumeFromWhere: pc.o.fromWhere.String(), SubscriptionDataSet: []transport.SubscriptionData{}}
	for _, topic := range slices.Sorted(maps.Keys(pc.subs)) {
		cd.SubscriptionDataSet = append(cd.SubscriptionDataSet, pc.subs[topic].data(pc.version))
	}
	return cd
}

func (pc *PushConsumer) kickRebalance() {
	select {
	case pc.kick <- struct{}{}:
	default:
	}
}

// Assignment lists the queues this consumer currently owns (an orderly
// Clustering consumer: those it also holds the lock of).
func (pc *PushConsumer) Assignment() []MessageQueue {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	out := slices.Collect(maps.Keys(pc.queues))
	sortQueues(out)
	return out
}

// rebalanceLoop rebalances every WithRebalanceInterval, when kicked, and
// every second while the last rebalance was incomplete; an orderly
// consumer's loop also renews its queue locks.
func (pc *PushConsumer) rebalanceLoop(incomplete bool) {
	next := func() time.Duration {
		if incomplete {
			return time.Second
		}
		return pc.o.rebalanceInterval
	}
	t := time.NewTimer(next())
	defer t.Stop()
	var lt *time.Timer
	var lockC <-chan time.Time // nil: no locks
	if pc.locking() {
		lt = time.NewTimer(pc.o.lockInterval)
		defer lt.Stop()
		lockC = lt.C
	}
	for {
		select {
		case <-pc.stop:
			return
		case <-lockC:
			d := pc.o.lockInterval
			if pc.renewLocks(pc.loopCtx) {
				d = min(d, lockRetry)
			}
			lt.Reset(d)
			continue
		case <-t.C:
		case <-pc.kick:
		}
		incomplete = pc.rebalance(pc.loopCtx)
		t.Reset(next())
	}
}

// rebalance computes this member's queues and starts and stops queue
// goroutines to match. It reports whether some topic could not be
// balanced (no route yet, or the brokers do not list us yet), in which
// case it should run again soon. Queues of such topics are kept.
//
// An orderly consumer stops, commits and then unlocks the queues it gives
// up before it locks the new ones; it starts only the queues it could
// lock (the others are still another member's: incomplete, so they are
// tried again soon).
func (pc *PushConsumer) rebalance(ctx context.Context) (incomplete bool) {
	pc.rebMu.Lock()
	defer pc.rebMu.Unlock()
	desired := map[MessageQueue]bool{}
	done := map[string]bool{}
	for _, topic := range slices.Sorted(maps.Keys(pc.subs)) {
		r, err := pc.c.routes.get(ctx, topic)
		if err != nil {
			pc.c.logger.Debug("rebalance: no route", "group", pc.group, "topic", topic, "error", err)
			incomplete = true
			continue
		}
		mine := r.readQs
		if pc.o.model == Clustering {
			ids, err := pc.c.consumerIDs(ctx, pc.group, r, pc.c.clientID)
			if err != nil {
				pc.c.logger.Debug("rebalance: consumer list", "group", pc.group, "topic", topic, "error", err)
				pc.c.kickHeartbeat()
				incomplete = true
				continue
			}
			mine = allocateAveragely(r.readQs, ids, pc.c.clientID)
		}
		done[topic] = true
		for _, mq := range mine {
			desired[mq] = true
		}
	}
	if ctx.Err() != nil {
		return false
	}
	var removed []*processQueue
	var wanted []MessageQueue
	pc.mu.Lock()
	for mq, pq := range pc.queues {
		if done[mq.Topic] && !desired[mq] {
			removed = append(removed, pq)
			delete(pc.queues, mq)
		}
	}
	for mq := range desired {
		if _, ok := pc.queues[mq]; !ok {
			wanted = append(wanted, mq)
		}
	}
	pc.mu.Unlock()
	if pc.locking() {
		pc.release(removed)
	} else {
		for _, pq := range removed {
			pc.stopQueue(pq)
			pc.commit(ctx, pq)
		}
	}
	var until int64
	if pc.locking() && len(wanted) > 0 {
		var held map[MessageQueue]bool
		held, _, until = pc.lockQueues(ctx, wanted)
		n := len(wanted)
		wanted = slices.DeleteFunc(wanted, func(mq MessageQueue) bool { return !held[mq] })
		if len(wanted) < n {
			pc.c.logger.Debug("rebalance: queues still locked by another client", "group", pc.group, "client", pc.c.clientID, "queues", n-len(wanted))
			incomplete = true
		}
	}
	added := make([]*processQueue, 0, len(wanted))
	pc.mu.Lock()
	for _, mq := range wanted {
		pq := &processQueue{mq: mq, done: make(chan struct{})}
		pq.consumed.Store(-1)
		pq.committed.Store(-1)
		pq.lockedUntil.Store(until)
		pc.queues[mq] = pq
		added = append(added, pq)
	}
	owned := len(pc.queues)
	pc.mu.Unlock()
	for _, pq := range added {
		qctx, cancel := context.WithCancel(pc.c.ctx)
		pq.cancel = cancel
		if !pc.c.goFunc(func() { pc.runQueue(qctx, pq) }) {
			cancel()
			close(pq.done)
		}
	}
	if len(removed)+len(added) > 0 {
		pc.c.logger.Info("rebalanced", "group", pc.group, "client", pc.c.clientID, "added", len(added), "removed", len(removed), "owned", owned)
		pc.c.kickHeartbeat()
	}
	return incomplete
}

// release gives up queues an orderly consumer no longer owns: each is
// stopped (after the handler call in flight) and its offset committed,
// and only then are their locks released, so that the next holder starts
// where this one stopped. It is bounded by the request timeout, not by
// the rebalance's context, so that a Shutdown starting meanwhile does not
// leave the queues locked until their locks expire.
func (pc *PushConsumer) release(pqs []*processQueue) {
	if len(pqs) == 0 {
		return
	}
	for _, pq := range pqs {
		if pq.cancel != nil {
			pq.cancel() // all at once; stopQueue waits for each
		}
	}
	mqs := make([]MessageQueue, 0, len(pqs))
	for _, pq := range pqs {
		pc.stopQueue(pq)
		pq.lockedUntil.Store(0)
		ctx, cancel := context.WithTimeout(pc.c.ctx, 2*pc.o.timeout)
		pc.commit(ctx, pq) // a failed commit means redeliveries, not disorder
		cancel()
		mqs = append(mqs, pq.mq)
	}
	ctx, cancel := context.WithTimeout(pc.c.ctx, 2*pc.o.timeout)
	defer cancel()
	pc.unlockQueues(ctx, mqs)
}

// stopQueue cancels a queue's goroutine and waits for it; its offset is
// final afterwards.
func (pc *PushConsumer) stopQueue(pq *processQueue) {
	if pq.cancel != nil {
		pq.cancel()
	}
	<-pq.done
	if pc.o.model == Broadcasting {
		if off := pq.consumed.Load(); off >= 0 {
			pc.mu.Lock()
			pc.local[pq.mq] = off
			pc.mu.Unlock()
		}
	}
}

func (pc *PushConsumer) commitLoop() {
	t := time.NewTicker(pc.o.commitInterval)
	defer t.Stop()
	for {
		select {
		case <-pc.stop:
			return
		case <-t.C:
		}
		pc.commitAll(pc.loopCtx)
	}
}

func (pc *PushConsumer) commitAll(ctx context.Context) {
	pc.mu.Lock()
	pqs := slices.Collect(maps.Values(pc.queues))
	pc.mu.Unlock()
	for _, pq := range pqs {
		pc.commit(ctx, pq)
	}
}

// commit sends a queue's offset to its broker group when it moved.
func (pc *PushConsumer) commit(ctx context.Context, pq *processQueue) {
	if pc.o.model != Clustering {
		return
	}
	off := pq.consumed.Load()
	if off < 0 || off == pq.committed.Load() {
		return
	}
	if err := pc.c.updateConsumerOffset(ctx, pc.group, pq.mq, off); err != nil {
		pc.c.logger.Warn("commit offset failed", "queue", pq.mq.String(), "offset", off, "error", err)
		return
	}
	pq.committed.Store(off)
}

// startOffset is where a newly assigned queue starts: the committed
// offset, else (none stored) the consume-from-where policy.
func (pc *PushConsumer) startOffset(ctx context.Context, pq *processQueue) (int64, error) {
	mq := pq.mq
	if pc.o.model == Clustering {
		off, ok, err := pc.c.queryConsumerOffset(ctx, pc.group, mq)
		if err != nil {
			return 0, err
		}
		if ok {
			pq.committed.Store(off)
			return off, nil
		}
	} else {
		pc.mu.Lock()
		off, ok := pc.local[mq]
		pc.mu.Unlock()
		if ok {
			return off, nil
		}
	}
	if message.IsRetryTopic(mq.Topic) {
		return 0, nil
	}
	switch pc.o.fromWhere {
	case ConsumeFromFirstOffset:
		return 0, nil
	case ConsumeFromTimestamp:
		return pc.c.searchOffset(ctx, mq, pc.o.fromTimestamp)
	}
	return pc.c.queueOffset(ctx, transport.ReqGetMaxOffset, mq)
}

// pulled is what a queue's puller hands its consumer, in queue order.
type pulled struct {
	msgs []*MessageExt // may be empty (all filtered out)
	next int64         // the queue offset after them
	// reset: the broker moved the offset (PULL_OFFSET_MOVED); store next
	// and commit it at once.
	reset bool
}

// runQueue consumes one queue until ctx ends. A puller goroutine long-polls
// the broker group one pull ahead, so the next messages are on their way
// while the handler works; this goroutine hands them to the handler in
// order and moves the queue's offset.
func (pc *PushConsumer) runQueue(ctx context.Context, pq *processQueue) {
	defer close(pq.done)
	for {
		off, err := pc.startOffset(ctx, pq)
		if err == nil {
			pq.consumed.Store(off)
			break
		}
		if ctx.Err() != nil {
			return
		}
		pc.c.logger.Warn("cannot find start offset, retrying", "queue", pq.mq.String(), "error", err)
		if !sleep(ctx, startBackoff) {
			return
		}
	}
	ch := make(chan pulled, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pc.pullLoop(ctx, pq, ch)
	}()
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-ch:
			if b.reset {
				pq.consumed.Store(b.next)
				pc.commit(ctx, pq)
				continue
			}
			if !pc.consume(ctx, pq, b.msgs) {
				return // stopped; the offset stays at the first unconsumed message
			}
			pq.consumed.Store(b.next)
		}
	}
}

// pullLoop pulls mq from the queue's consumed offset on, sending what it
// gets to out, until ctx ends.
func (pc *PushConsumer) pullLoop(ctx context.Context, pq *processQueue, out chan<- pulled) {
	sub := pc.subs[pq.mq.Topic]
	off := pq.consumed.Load()
	for ctx.Err() == nil {
		b, ok := pc.pullOnce(ctx, pq, sub, off)
		if !ok {
			if !sleep(ctx, pullBackoff) {
				return
			}
			continue
		}
		if b == nil {
			continue
		}
		select {
		case out <- *b:
		case <-ctx.Done():
			return
		}
		off = b.next
	}
}

// pullOnce does one pull at offset. It returns what to hand the consumer
// (nil: nothing, pull again) and false when the next pull should wait a
// moment.
func (pc *PushConsumer) pullOnce(ctx context.Context, pq *processQueue, sub *subscription, offset int64) (*pulled, bool) {
	mq := pq.mq
	sysFlag := transport.PullFlagSuspend | transport.PullFlagSubscription
	commitOff := int64(-1)
	if c := pq.consumed.Load(); pc.o.model == Clustering && c > 0 {
		sysFlag |= transport.PullFlagCommitOffset
		commitOff = c
	}
	mk := func() *transport.Command {
		return pullRequest(pc.group, mq, offset, pc.o.pullBatch, sysFlag, commitOff, pc.o.suspend, sub)
	}
	t0 := time.Now()
	resp, addr, err := pc.c.invokeGroup(ctx, mq.Topic, mq.BrokerName, pc.o.suspend, mk)
	if err != nil {
		if ctx.Err() == nil {
			pc.c.logger.Debug("pull failed", "queue", mq.String(), "error", err)
		}
		return nil, false
	}
	var h transport.PullMessageResponseHeader
	code := transport.ResponseCode(resp.Code)
	switch code {
	case transport.RespSuccess, transport.RespPullNotFound, transport.RespPullRetryImmediately, transport.RespPullOffsetMoved:
		if err := h.Decode(resp.ExtFields); err != nil {
			pc.c.logger.Warn("bad pull response", "queue", mq.String(), "addr", addr, "error", err)
			return nil, false
		}
	}
	switch code {
	case transport.RespSuccess:
		pq.fastEmpty = 0
		msgs, err := decodePulled(resp.Body, mq, sub, pc.o.maxBodySize)
		if err != nil {
			pc.c.logger.Error("cannot decode pulled messages", "queue", mq.String(), "addr", addr, "offset", offset, "error", err)
			return nil, false
		}
		return &pulled{msgs: msgs, next: h.NextBeginOffset}, true
	case transport.RespPullNotFound, transport.RespPullRetryImmediately:
		var b *pulled
		if h.NextBeginOffset != offset {
			b = &pulled{next: h.NextBeginOffset}
		}
		if code == transport.RespPullNotFound && time.Since(t0) < 20*time.Millisecond {
			// A long poll that did not park: do not spin.
			if pq.fastEmpty++; pq.fastEmpty >= 3 {
				if !sleep(ctx, 100*time.Millisecond) {
					return nil, true
				}
			}
		} else {
			pq.fastEmpty = 0
		}
		return b, true
	case transport.RespPullOffsetMoved:
		if h.NextBeginOffset < offset && !pc.c.serving(ctx, addr) {
			// Only the serving leader has applied everything committed; a
			// follower (advertised as id 0 during an election, or asked
			// because the leader is unreachable) may lag behind what we
			// consumed: do not rewind on its word.
			pc.c.logger.Debug("offset moved backwards by a non-leader; retrying", "queue", mq.String(), "addr", addr, "offset", offset, "next", h.NextBeginOffset)
			return nil, false
		}
		pc.c.logger.Warn("offset moved", "queue", mq.String(), "addr", addr, "offset", offset, "next", h.NextBeginOffset,
			"min", h.MinOffset, "max", h.MaxOffset)
		return &pulled{next: h.NextBeginOffset, reset: true}, true
	}
	be := brokerErr("pull "+mq.String(), addr, resp)
	if be.Retriable() || be.Code == transport.RespTopicNotExist {
		pc.c.routes.refresh(ctx, mq.Topic)
	}
	pc.c.logger.Debug("pull refused", "error", be)
	return nil, false
}

// consume hands msgs to their handlers in order, in batches, and moves the
// queue's offset past each batch once it is consumed (or sent back for
// redelivery). It returns false if ctx ended first.
func (pc *PushConsumer) consume(ctx context.Context, pq *processQueue, msgs []*MessageExt) bool {
	if pc.o.orderly {
		return pc.consumeOrderly(ctx, pq, msgs)
	}
	for i := 0; i < len(msgs); {
		j := pc.batchEnd(msgs, i)
		batch := msgs[i:j]
		sub := pc.subs[batch[0].Topic]
		if sub == nil || sub.handler == nil {
			pc.c.logger.Warn("no handler for redelivered messages; skipping", "topic", batch[0].Topic, "count", len(batch))
		} else if res := pc.call(sub.handler, batch); res != ConsumeSuccess {
			if pc.o.model == Broadcasting {
				pc.c.logger.Warn("broadcast messages not consumed; they are not redelivered", "queue", pq.mq.String(), "count", len(batch))
			} else {
				for _, m := range batch {
					if !pc.sendBack(ctx, pq.mq, m, false) {
						return false
					}
				}
			}
		}
		pq.consumed.Store(batch[len(batch)-1].QueueOffset + 1)
		i = j
	}
	return true
}

// batchEnd is where the handler batch starting at msgs[i] ends: at most
// consumeBatch messages, all of one topic.
func (pc *PushConsumer) batchEnd(msgs []*MessageExt, i int) int {
	j := i + 1
	for j < len(msgs) && j-i < pc.o.consumeBatch && msgs[j].Topic == msgs[i].Topic {
		j++
	}
	return j
}

// orderlySuspend is how long an orderly consumer waits before handing a
// refused batch to the handler again (RocketMQ's
// suspendCurrentQueueTimeMillis).
const orderlySuspend = time.Second

// consumeOrderly is consume for orderly consumers (RocketMQ's
// ConsumeMessageOrderlyService): before each handler call it checks that
// the queue is still this consumer's (ctx) and, in Clustering mode, that
// its lock is still trusted, waiting while a renewal is overdue; so a
// queue given up or lost is left right after the call in flight. A batch
// the handler refuses is handed to it again after orderlySuspend, its
// messages' ReconsumeTimes incremented, until a message was retried
// maxReconsume times: that one goes to the dead-letter queue (dropped in
// Broadcasting mode) and the rest of the batch is retried. It returns
// false if ctx ended first.
func (pc *PushConsumer) consumeOrderly(ctx context.Context, pq *processQueue, msgs []*MessageExt) bool {
	for i := 0; i < len(msgs); {
		j := pc.batchEnd(msgs, i)
		batch := msgs[i:j]
		sub := pc.subs[batch[0].Topic]
		if sub == nil || sub.handler == nil {
			pc.c.logger.Warn("no handler for redelivered messages; skipping", "topic", batch[0].Topic, "count", len(batch))
		}
		for sub != nil && sub.handler != nil && len(batch) > 0 {
			if !pc.waitLock(ctx, pq) {
				return false
			}
			if pc.call(sub.handler, batch) == ConsumeSuccess {
				break
			}
			again := make([]*MessageExt, 0, len(batch))
			for _, m := range batch {
				switch {
				case m.ReconsumeTimes < pc.o.maxReconsume:
					m.ReconsumeTimes++
					again = append(again, m)
				case pc.o.model == Broadcasting:
					pc.c.logger.Warn("orderly broadcast message not consumed after its retries; dropped", "queue", pq.mq.String(), "msgId", m.MsgID)
				default:
					if !pc.sendBack(ctx, pq.mq, m, true) {
						return false
					}
				}
			}
			batch = again
			if len(batch) > 0 && !sleep(ctx, orderlySuspend) {
				return false
			}
		}
		pq.consumed.Store(msgs[j-1].QueueOffset + 1)
		i = j
	}
	return true
}

// waitLock reports whether the next handler call of an orderly queue may
// run: ctx has not ended and the queue's lock (Clustering) is trusted. An
// overdue lock is waited for (the next renewal may bring it back); false
// once ctx ends.
func (pc *PushConsumer) waitLock(ctx context.Context, pq *processQueue) bool {
	for logged := false; ; logged = true {
		if ctx.Err() != nil {
			return false
		}
		if !pc.locking() || pq.lockHeld() {
			return true
		}
		if !logged {
			pc.c.logger.Warn("queue lock not renewed in time; consumption paused", "group", pc.group, "queue", pq.mq.String())
		}
		if !sleep(ctx, lockWait) {
			return false
		}
	}
}

// call runs a handler, turning a panic into ConsumeRetryLater.
func (pc *PushConsumer) call(h Handler, msgs []*MessageExt) (res ConsumeResult) {
	defer func() {
		if p := recover(); p != nil {
			pc.c.logger.Error("message handler panicked; messages will be redelivered", "panic", p)
			res = ConsumeRetryLater
		}
	}()
	return h(pc.c.ctx, msgs)
}

// sendBack has a message redelivered later: CONSUMER_SEND_MSG_BACK to its
// broker group, or, when that fails, a copy sent to the group's %RETRY%
// topic (%DLQ% after WithMaxReconsumeTimes, or at once with dlq). It
// retries until one works or ctx ends (false: the queue's offset must not
// move past the message).
func (pc *PushConsumer) sendBack(ctx context.Context, mq MessageQueue, m *MessageExt, dlq bool) bool {
	for attempt := 0; ; attempt++ {
		err := pc.trySendBack(ctx, mq, m, dlq)
		if err == nil {
			return true
		}
		pc.c.logger.Warn("cannot send message back for redelivery; retrying", "msgId", m.MsgID, "queue", mq.String(), "error", err)
		if !sleep(ctx, min(time.Second<<attempt, 10*time.Second)) {
			return false
		}
	}
}

func (pc *PushConsumer) trySendBack(ctx context.Context, mq MessageQueue, m *MessageExt, dlq bool) error {
	delay := int32(pc.o.retryDelay)
	if dlq {
		delay = -1 // straight to %DLQ%
	}
	mk := func() *transport.Command {
		h := transport.ConsumerSendMsgBackRequestHeader{Offset: m.CommitLogOffset, Group: pc.group, OriginMsgID: m.MsgID,
			OriginTopic: m.Topic, DelayLevel: delay, MaxReconsumeTimes: int32(pc.o.maxReconsume), BrokerName: mq.BrokerName}
		return transport.NewRequest(transport.ReqConsumerSendMsgBack, h.Encode(), nil)
	}
	resp, addr, err := pc.c.invokeGroup(ctx, mq.Topic, mq.BrokerName, 0, mk)
	if err == nil && resp.Code == int16(transport.RespSuccess) {
		return nil
	}
	if err == nil {
		err = brokerErr("send back "+m.MsgID, addr, resp)
	}
	if ctx.Err() != nil {
		return err
	}
	pc.c.logger.Debug("send back refused; re-sending to the retry topic", "msgId", m.MsgID, "error", err)
	topic := message.RetryTopic(pc.group)
	if dlq || m.ReconsumeTimes >= pc.o.maxReconsume {
		topic = message.DLQTopic(pc.group)
	}
	cp := &Message{Topic: topic, Body: m.Body, Flag: m.Flag, Properties: maps.Clone(m.Properties)}
	if cp.Properties[message.PropertyRetryTopic] == "" {
		cp.Properties[message.PropertyRetryTopic] = m.Topic
	}
	if cp.Properties[message.PropertyOriginMessageID] == "" {
		cp.Properties[message.PropertyOriginMessageID] = m.MsgID
	}
	cp.DelayLevel = 3 + m.ReconsumeTimes
	if pc.o.retryDelay > 0 {
		cp.DelayLevel = pc.o.retryDelay
	}
	if dlq {
		cp.DelayLevel = 0
	}
	delete(cp.Properties, message.PropertyDelayLevel)
	out, perr := pc.inner.prepare(cp)
	if perr != nil {
		return errors.Join(err, perr)
	}
	out.reconsume = int32(m.ReconsumeTimes + 1)
	if _, serr := pc.inner.send(ctx, out); serr != nil {
		return errors.Join(err, serr)
	}
	return nil
}

// Shutdown stops rebalancing and pulling, waits for handlers to return
// (cancelling their context if ctx ends first), commits every queue's
// offset, releases an orderly consumer's queue locks and closes every
// connection. Other members of the group take the queues over at once
// (the brokers see the connections close). When ctx ends before the
// handlers return, offsets are not committed and locks are left to expire
// on the brokers (60 s).
func (pc *PushConsumer) Shutdown(ctx context.Context) error {
	switch pc.state.Swap(2) {
	case 2:
		return nil
	case 0:
		pc.c.shutdown()
		return nil
	}
	close(pc.stop)
	pc.loopCancel()
	pc.loops.Wait()
	pc.rebMu.Lock()
	pc.mu.Lock()
	pqs := slices.Collect(maps.Values(pc.queues))
	pc.queues = map[MessageQueue]*processQueue{}
	pc.mu.Unlock()
	pc.rebMu.Unlock()
	for _, pq := range pqs {
		pq.cancel()
	}
	all := make(chan struct{})
	go func() {
		for _, pq := range pqs {
			<-pq.done
		}
		close(all)
	}()
	var err error
	select {
	case <-all:
	case <-ctx.Done():
		err = ctx.Err()
		pc.c.cancel() // handlers see their context end
		<-all
	}
	if err == nil {
		cctx, cancel := context.WithTimeout(ctx, pc.o.timeout)
		for _, pq := range pqs {
			pc.commit(cctx, pq)
		}
		cancel()
		if pc.locking() && len(pqs) > 0 {
			mqs := make([]MessageQueue, 0, len(pqs))
			for _, pq := range pqs {
				pq.lockedUntil.Store(0)
				mqs = append(mqs, pq.mq)
			}
			uctx, cancel := context.WithTimeout(ctx, 2*pc.o.timeout)
			pc.unlockQueues(uctx, mqs)
			cancel()
		}
	}
	pc.c.shutdown()
	return err
}
