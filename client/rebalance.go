package client

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/raftmq/raftmq/transport"
)

// allocateAveragely is RocketMQ's AllocateMessageQueueAveragely: queues
// (sorted) are cut into contiguous runs, one per consumer id (sorted), the
// first len(queues) % len(ids) consumers getting one more.
func allocateAveragely(queues []MessageQueue, ids []string, self string) []MessageQueue {
	idx := slices.Index(ids, self)
	if idx < 0 || len(queues) == 0 {
		return nil
	}
	n, m := len(queues), len(ids)
	mod := n % m
	size := n / m
	if n <= m {
		size = 1
	} else if mod > 0 && idx < mod {
		size++
	}
	start := idx*size + mod
	if mod > 0 && idx < mod {
		start = idx * size
	}
	var out []MessageQueue
	for i := 0; i < min(size, n-start); i++ {
		out = append(out, queues[(start+i)%n])
	}
	return out
}

// consumerIDs asks the group's members (GET_CONSUMER_LIST_BY_GROUP) from
// the leader of the route's first broker group, so every member of the
// consumer group asks the same broker and sees the same list; other groups
// and members are asked when it fails or does not list self yet.
func (c *core) consumerIDs(ctx context.Context, group string, r *topicRoute, self string) ([]string, error) {
	names := make([]string, 0, len(r.brokers))
	for n := range r.brokers {
		names = append(names, n)
	}
	slices.Sort(names)
	var lastErr error
	for _, name := range names {
		for _, addr := range r.members(name) {
			req := transport.NewRequest(transport.ReqGetConsumerListByGroup, (&transport.ConsumerGroupHeader{ConsumerGroup: group}).Encode(), nil)
			resp, err := c.invoke(ctx, addr, req)
			if err != nil {
				lastErr = err
				if ctx.Err() != nil {
					return nil, err
				}
				continue
			}
			if resp.Code != int16(transport.RespSuccess) {
				lastErr = brokerErr("get consumer list of "+group, addr, resp)
				continue
			}
			var body transport.ConsumerListBody
			if err := json.Unmarshal(resp.Body, &body); err != nil {
				lastErr = fmt.Errorf("client: consumer list of %s from %s: %w", group, addr, err)
				continue
			}
			if slices.Contains(body.ConsumerIDList, self) {
				slices.Sort(body.ConsumerIDList)
				return body.ConsumerIDList, nil
			}
			lastErr = fmt.Errorf("client: %s does not list %s in consumer group %s yet", addr, self, group)
		}
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("%w: no broker serves %s", ErrNoRoute, r.topic)
	}
	return nil, lastErr
}

// Orderly consumers' queue locks (RocketMQ's RebalanceImpl.lock/lockAll).
const (
	// brokerLockTTL is how long a broker keeps a queue lock its holder
	// stopped renewing (raftmq's broker/locks.go; RocketMQ's
	// rocketmq.broker.rebalance.lockMaxLiveTime): 60 s.
	brokerLockTTL = 60 * time.Second
	// lockTrust is how long after sending the request that took or renewed
	// a lock the consumer trusts it (RocketMQ: 30 s): a consumer whose
	// renewals fail stops handing the queue's messages to its handler well
	// before the broker can give the queue to another client.
	lockTrust = brokerLockTTL / 2
	// lockRenewInterval is how often held locks are renewed (RocketMQ:
	// 20 s), so one failed renewal leaves time for another before
	// lockTrust runs out.
	lockRenewInterval = brokerLockTTL / 3
	// lockRetry is when a renewal some broker group did not answer is
	// tried again.
	lockRetry = time.Second
	// lockWait is how often a queue whose lock is no longer trusted checks
	// whether a renewal brought it back.
	lockWait = 100 * time.Millisecond
)

// monoBase anchors monoNow, a monotonic clock for lock deadlines.
var monoBase = time.Now()

func monoNow() int64 { return int64(time.Since(monoBase)) }

// locking reports whether this consumer takes queue locks: orderly
// consumers in Clustering mode.
func (pc *PushConsumer) locking() bool { return pc.o.orderly && pc.o.model == Clustering }

// byBroker groups queues by broker group, each group's queues sorted.
func byBroker(mqs []MessageQueue) map[string][]MessageQueue {
	out := map[string][]MessageQueue{}
	for _, mq := range mqs {
		out[mq.BrokerName] = append(out[mq.BrokerName], mq)
	}
	for _, qs := range out {
		sortQueues(qs)
	}
	return out
}

// lockQueues locks (or renews the locks of) mqs, one LOCK_BATCH_MQ per
// broker group. held are the queues this client now holds, trusted until
// the returned monoNow deadline; unknown are those of broker groups that
// did not answer. The others are held by another client.
func (pc *PushConsumer) lockQueues(ctx context.Context, mqs []MessageQueue) (held, unknown map[MessageQueue]bool, until int64) {
	until = monoNow() + int64(lockTrust) // before any request is sent
	held, unknown = map[MessageQueue]bool{}, map[MessageQueue]bool{}
	groups := byBroker(mqs)
	for _, name := range slices.Sorted(maps.Keys(groups)) {
		qs := groups[name]
		got, err := pc.c.lockBatch(ctx, pc.group, name, qs[0].Topic, qs)
		if err != nil {
			if ctx.Err() == nil {
				pc.c.logger.Warn("cannot lock queues", "group", pc.group, "broker", name, "queues", len(qs), "error", err)
			}
			for _, mq := range qs {
				unknown[mq] = true
			}
			continue
		}
		for _, mq := range qs {
			if got[mq] {
				held[mq] = true
			}
		}
	}
	return held, unknown, until
}

// unlockQueues releases this client's locks of mqs, one UNLOCK_BATCH_MQ
// per broker group. A lock that cannot be released expires on the broker.
func (pc *PushConsumer) unlockQueues(ctx context.Context, mqs []MessageQueue) {
	groups := byBroker(mqs)
	for _, name := range slices.Sorted(maps.Keys(groups)) {
		qs := groups[name]
		if err := pc.c.unlockBatch(ctx, pc.group, name, qs[0].Topic, qs); err != nil {
			pc.c.logger.Warn("cannot unlock queues; the broker frees them when they expire", "group", pc.group, "broker", name,
				"queues", len(qs), "error", err)
		}
	}
}

// renewLocks renews the locks of every owned queue (RocketMQ's lockAll).
// A queue the broker now says another client holds is stopped at once
// (after the handler call in flight) and dropped without committing its
// offset, which belongs to the new holder; a later rebalance takes it back
// once it is free, if it is still this member's. It reports whether some
// broker group did not answer, so that renewal should be retried soon;
// the queues of such a group keep their lock only until it expires here.
func (pc *PushConsumer) renewLocks(ctx context.Context) (retry bool) {
	pc.rebMu.Lock()
	defer pc.rebMu.Unlock()
	pc.mu.Lock()
	pqs := slices.Collect(maps.Values(pc.queues))
	pc.mu.Unlock()
	if len(pqs) == 0 {
		return false
	}
	mqs := make([]MessageQueue, 0, len(pqs))
	for _, pq := range pqs {
		mqs = append(mqs, pq.mq)
	}
	held, unknown, until := pc.lockQueues(ctx, mqs)
	if ctx.Err() != nil {
		return false
	}
	var lost []*processQueue
	pc.mu.Lock()
	for _, pq := range pqs {
		switch {
		case held[pq.mq]:
			pq.lockedUntil.Store(until)
		case unknown[pq.mq]:
			retry = true
		case pc.queues[pq.mq] == pq:
			delete(pc.queues, pq.mq)
			lost = append(lost, pq)
		}
	}
	pc.mu.Unlock()
	for _, pq := range lost {
		pq.lockedUntil.Store(0)
		pc.c.logger.Warn("queue lock taken by another client; queue stopped", "group", pc.group, "queue", pq.mq.String())
		pc.stopQueue(pq)
	}
	if len(lost) > 0 {
		pc.kickRebalance()
	}
	return retry
}
