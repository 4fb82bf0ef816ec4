package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/fsm"
)

// proposal is one command waiting to be packed into a raft entry.
type proposal struct {
	// add appends exactly one command to the entry.
	add  func(*fsm.EntryBuilder) error
	size int
	done chan proposalResult
}

type proposalResult struct {
	res   any    // the command's result from the FSM
	index uint64 // the raft index of the entry
	err   error
}

// proposer is the group-commit batcher and the one path into raft.Apply:
// concurrent proposals are packed into one entry (bounded by bytes), and
// several entries stay in flight so raft can also batch them per fsync.
type proposer struct {
	r        *raft.Raft
	in       chan *proposal
	inflight chan *pendingEntry
	maxBytes int
	linger   time.Duration
	timeout  time.Duration
	stop     chan struct{}
	wg       sync.WaitGroup
	b        fsm.EntryBuilder
	// metrics hooks
	onEntry func(cmds, bytes int)
}

type pendingEntry struct {
	fut   raft.ApplyFuture
	batch []*proposal
}

func newProposer(r *raft.Raft, maxBytes int, linger time.Duration) *proposer {
	p := &proposer{
		r:        r,
		in:       make(chan *proposal, 16384),
		inflight: make(chan *pendingEntry, 64),
		maxBytes: maxBytes,
		linger:   linger,
		timeout:  5 * time.Second,
		stop:     make(chan struct{}),
	}
	p.wg.Add(2)
	go func() { defer p.wg.Done(); p.loop() }()
	go func() { defer p.wg.Done(); p.resolve() }()
	return p
}

var errShutdown = errors.New("broker: shutting down")

// propose submits one command and waits for its result.
func (p *proposer) propose(ctx context.Context, size int, add func(*fsm.EntryBuilder) error) (proposalResult, error) {
	pr := &proposal{add: add, size: size, done: make(chan proposalResult, 1)}
	select {
	case p.in <- pr:
	case <-ctx.Done():
		return proposalResult{}, ctx.Err()
	case <-p.stop:
		return proposalResult{}, errShutdown
	}
	select {
	case r := <-pr.done:
		return r, r.err
	case <-ctx.Done():
		// The entry may still commit; the caller reports an unknown outcome.
		return proposalResult{}, fmt.Errorf("%w: %w", errOutcomeUnknown, ctx.Err())
	}
}

// errOutcomeUnknown: the command may or may not have been committed.
var errOutcomeUnknown = errors.New("broker: outcome unknown")

func (p *proposer) loop() {
	defer close(p.inflight)
	for {
		var first *proposal
		select {
		case first = <-p.in:
		case <-p.stop:
			p.failQueued()
			return
		}
		batch := []*proposal{first}
		size := first.size
		var lingerC <-chan time.Time
		var lingerT *time.Timer
		if p.linger > 0 {
			lingerT = time.NewTimer(p.linger)
			lingerC = lingerT.C
		}
	drain:
		for size < p.maxBytes && len(batch) < 8192 {
			select {
			case pr := <-p.in:
				batch = append(batch, pr)
				size += pr.size
			default:
				if lingerC == nil {
					break drain
				}
				select {
				case pr := <-p.in:
					batch = append(batch, pr)
					size += pr.size
				case <-lingerC:
					break drain
				}
			}
		}
		if lingerT != nil {
			lingerT.Stop()
		}
		p.b.Reset()
		kept := batch[:0]
		for _, pr := range batch {
			if err := pr.add(&p.b); err != nil {
				pr.done <- proposalResult{err: err}
				continue
			}
			kept = append(kept, pr)
		}
		if len(kept) == 0 {
			continue
		}
		data := append([]byte(nil), p.b.Bytes()...)
		if p.onEntry != nil {
			p.onEntry(len(kept), len(data))
		}
		fut := p.r.Apply(data, p.timeout)
		select {
		case p.inflight <- &pendingEntry{fut: fut, batch: kept}:
		case <-p.stop:
			for _, pr := range kept {
				pr.done <- proposalResult{err: errShutdown}
			}
			p.failQueued()
			return
		}
	}
}

func (p *proposer) failQueued() {
	for {
		select {
		case pr := <-p.in:
			pr.done <- proposalResult{err: errShutdown}
		default:
			return
		}
	}
}

func (p *proposer) resolve() {
	for pe := range p.inflight {
		err := pe.fut.Error()
		if err != nil {
			for _, pr := range pe.batch {
				pr.done <- proposalResult{err: err}
			}
			continue
		}
		idx := pe.fut.Index()
		er, _ := pe.fut.Response().(*fsm.EntryResult)
		for i, pr := range pe.batch {
			r := proposalResult{index: idx}
			switch {
			case er == nil:
				r.err = fmt.Errorf("broker: entry %d produced no result", idx)
			case er.Err != nil:
				r.err = er.Err
			case i < len(er.Results):
				r.res = er.Results[i]
			}
			pr.done <- r
		}
	}
}

func (p *proposer) shutdown() {
	close(p.stop)
	p.wg.Wait()
}
