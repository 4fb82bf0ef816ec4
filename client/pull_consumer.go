package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// PullStatus is the outcome of a pull.
type PullStatus int

const (
	_ PullStatus = iota // zero is invalid
	// PullFound: Messages holds what was found.
	PullFound
	// PullNoNewMsg: nothing at or after the offset yet.
	PullNoNewMsg
	// PullNoMatched: messages exist but none matched the tag expression.
	PullNoMatched
	// PullOffsetIllegal: the offset is outside [MinOffset, MaxOffset];
	// NextBeginOffset is where to continue.
	PullOffsetIllegal
)

func (s PullStatus) String() string {
	switch s {
	case PullFound:
		return "FOUND"
	case PullNoNewMsg:
		return "NO_NEW_MSG"
	case PullNoMatched:
		return "NO_MATCHED_MSG"
	case PullOffsetIllegal:
		return "OFFSET_ILLEGAL"
	}
	return "INVALID"
}

// PullResult is what one pull returned.
type PullResult struct {
	Status          PullStatus
	Messages        []*MessageExt
	NextBeginOffset int64
	MinOffset       int64
	MaxOffset       int64
}

// PullConsumer reads queues at offsets the caller chooses, and stores the
// group's offsets when asked. It does not rebalance or heartbeat.
type PullConsumer struct {
	c     *core
	group string
}

// NewPullConsumer builds a pull consumer of group (WithGroup, required).
func NewPullConsumer(opts ...Option) (*PullConsumer, error) {
	o := defaultOptions()
	for _, f := range opts {
		f(&o)
	}
	if o.group == "" {
		return nil, errors.New("client: a pull consumer needs a group (WithGroup)")
	}
	if err := message.ValidateGroup(o.group); err != nil {
		return nil, fmt.Errorf("client: consumer group: %w", err)
	}
	c, err := newCore(o)
	if err != nil {
		return nil, err
	}
	c.goFunc(c.refreshLoop)
	return &PullConsumer{c: c, group: o.group}, nil
}

// Queues lists topic's readable queues (freshly from the NameServer).
func (pc *PullConsumer) Queues(ctx context.Context, topic string) ([]MessageQueue, error) {
	ctx, cancel := pc.c.opCtx(ctx)
	defer cancel()
	r, err := pc.c.routes.refresh(ctx, topic)
	if err != nil {
		return nil, err
	}
	return append([]MessageQueue(nil), r.readQs...), nil
}

// Pull reads up to max messages of mq from offset, without waiting for new
// ones. It asks the group's leader, or any member when the leader is
// unreachable or none is advertised.
func (pc *PullConsumer) Pull(ctx context.Context, mq MessageQueue, offset int64, max int) (*PullResult, error) {
	return pc.PullFiltered(ctx, mq, "*", offset, max)
}

// PullFiltered is Pull keeping only messages whose tag matches expr ("*"
// or "TagA || TagB"); the broker filters by tag hash, the client by exact
// tag.
func (pc *PullConsumer) PullFiltered(ctx context.Context, mq MessageQueue, expr string, offset int64, max int) (*PullResult, error) {
	sub, err := parseExpr(expr)
	if err != nil {
		return nil, err
	}
	return pc.pull(ctx, mq, sub, offset, max)
}

// PullSQL is Pull keeping only messages selected by a SQL92 selector on
// their properties (see package filter), evaluated by the broker.
func (pc *PullConsumer) PullSQL(ctx context.Context, mq MessageQueue, sql string, offset int64, max int) (*PullResult, error) {
	sub, err := newSQLSubscription(mq.Topic, sql, nil)
	if err != nil {
		return nil, err
	}
	return pc.pull(ctx, mq, sub, offset, max)
}

func (pc *PullConsumer) pull(ctx context.Context, mq MessageQueue, sub *subscription, offset int64, max int) (*PullResult, error) {
	if max <= 0 || max > 512 {
		return nil, fmt.Errorf("client: pull: max %d out of [1, 512]", max)
	}
	ctx, cancel := pc.c.opCtx(ctx)
	defer cancel()
	mk := func() *transport.Command {
		return pullRequest(pc.group, mq, offset, max, transport.PullFlagSubscription, -1, 0, sub)
	}
	resp, addr, err := pc.c.invokeGroup(ctx, mq.Topic, mq.BrokerName, 0, mk)
	if err != nil {
		return nil, err
	}
	code := transport.ResponseCode(resp.Code)
	var st PullStatus
	switch code {
	case transport.RespSuccess:
		st = PullFound
	case transport.RespPullNotFound:
		st = PullNoNewMsg
	case transport.RespPullRetryImmediately:
		st = PullNoMatched
	case transport.RespPullOffsetMoved:
		st = PullOffsetIllegal
	default:
		be := brokerErr("pull "+mq.String(), addr, resp)
		if be.Retriable() || be.Code == transport.RespTopicNotExist {
			pc.c.routes.refresh(ctx, mq.Topic)
		}
		return nil, be
	}
	var h transport.PullMessageResponseHeader
	if err := h.Decode(resp.ExtFields); err != nil {
		return nil, fmt.Errorf("client: pull %s from %s: %w", mq, addr, err)
	}
	res := &PullResult{Status: st, NextBeginOffset: h.NextBeginOffset, MinOffset: h.MinOffset, MaxOffset: h.MaxOffset}
	if st != PullFound {
		return res, nil
	}
	msgs, err := decodePulled(resp.Body, mq, sub, pc.c.opts.maxBodySize)
	if err != nil {
		return nil, fmt.Errorf("client: pull %s from %s: %w", mq, addr, err)
	}
	res.Messages = msgs
	if len(res.Messages) == 0 {
		res.Status = PullNoMatched
	}
	return res, nil
}

// CommitOffset stores offset (the next one to consume) as the group's
// progress on mq.
func (pc *PullConsumer) CommitOffset(ctx context.Context, mq MessageQueue, offset int64) error {
	ctx, cancel := pc.c.opCtx(ctx)
	defer cancel()
	return pc.c.updateConsumerOffset(ctx, pc.group, mq, offset)
}

// FetchOffset returns the group's committed offset of mq, or -1 when none
// is stored. As in RocketMQ, a broker answers 0 instead of "none" while mq
// was never trimmed and its first message is recent (the broker's
// accessMessageInMemoryMaxRatio): a new group starts there.
func (pc *PullConsumer) FetchOffset(ctx context.Context, mq MessageQueue) (int64, error) {
	ctx, cancel := pc.c.opCtx(ctx)
	defer cancel()
	off, _, err := pc.c.queryConsumerOffset(ctx, pc.group, mq)
	return off, err
}

// MaxOffset returns the offset the next message of mq will get.
func (pc *PullConsumer) MaxOffset(ctx context.Context, mq MessageQueue) (int64, error) {
	ctx, cancel := pc.c.opCtx(ctx)
	defer cancel()
	return pc.c.queueOffset(ctx, transport.ReqGetMaxOffset, mq)
}

// MinOffset returns the offset of the oldest message of mq still stored.
func (pc *PullConsumer) MinOffset(ctx context.Context, mq MessageQueue) (int64, error) {
	ctx, cancel := pc.c.opCtx(ctx)
	defer cancel()
	return pc.c.queueOffset(ctx, transport.ReqGetMinOffset, mq)
}

// SearchOffset returns the offset of the first message of mq stored at or
// after t (MaxOffset if none).
func (pc *PullConsumer) SearchOffset(ctx context.Context, mq MessageQueue, t time.Time) (int64, error) {
	ctx, cancel := pc.c.opCtx(ctx)
	defer cancel()
	return pc.c.searchOffset(ctx, mq, t)
}

// Shutdown closes every connection and goroutine. ctx is not needed (the
// pull consumer has nothing to flush) but kept for symmetry.
func (pc *PullConsumer) Shutdown(context.Context) error {
	pc.c.shutdown()
	return nil
}
