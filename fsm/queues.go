package fsm

import (
	"fmt"

	"github.com/raftmq/raftmq/fsm/consumequeue"
)

// Unit is one ConsumeQueue entry: where a message is in the CommitLog.
type Unit = consumequeue.Unit

// ErrQueueOffset reports a queue offset outside the queue's extent.
var ErrQueueOffset = consumequeue.ErrOffset

// Committed reads of the ConsumeQueues, by topic and queue id, so that
// readers never hold a queue object. A queue that does not exist is empty.

// QueueBounds returns a queue's [min, max) offsets (0, 0 if none).
func (f *FSM) QueueBounds(topic string, qid int32) (min, max int64) {
	if q := f.Queue(topic, qid); q != nil {
		return q.MinOffset(), q.MaxOffset()
	}
	return 0, 0
}

// QueueRange appends up to max units from offset to dst.
func (f *FSM) QueueRange(topic string, qid int32, offset int64, max int, dst []Unit) ([]Unit, error) {
	q := f.Queue(topic, qid)
	if q == nil {
		return dst, fmt.Errorf("%w: no queue %s/%d", ErrQueueOffset, topic, qid)
	}
	return q.Range(offset, max, dst)
}

// QueueUnit returns the unit at offset.
func (f *FSM) QueueUnit(topic string, qid int32, offset int64) (Unit, error) {
	q := f.Queue(topic, qid)
	if q == nil {
		return Unit{}, fmt.Errorf("%w: no queue %s/%d", ErrQueueOffset, topic, qid)
	}
	return q.Get(offset)
}

// QueueSearch returns the first offset whose unit satisfies pred (which
// must be monotonic in the commitlog offset), or the queue's max offset.
func (f *FSM) QueueSearch(topic string, qid int32, pred func(Unit) bool) int64 {
	q := f.Queue(topic, qid)
	if q == nil {
		return 0
	}
	return q.Search(pred)
}

// QueueOffsetOf returns the queue offset of the message at commitlog
// offset phys, if the queue holds it.
func (f *FSM) QueueOffsetOf(topic string, qid int32, phys int64) (int64, bool) {
	q := f.Queue(topic, qid)
	if q == nil {
		return 0, false
	}
	off := q.FirstPhysAtOrAfter(phys)
	if u, err := q.Get(off); err == nil && u.PhysOffset == phys {
		return off, true
	}
	return 0, false
}

// QueueFirstAtOrAfter returns the first queue offset whose message is at
// or after commitlog offset phys.
func (f *FSM) QueueFirstAtOrAfter(topic string, qid int32, phys int64) int64 {
	q := f.Queue(topic, qid)
	if q == nil {
		return 0
	}
	return q.FirstPhysAtOrAfter(phys)
}
