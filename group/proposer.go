package group

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/fsm"
)

// proposal is one command waiting to be packed into a raft entry.
type proposal struct {
	// add appends the proposal's commands to the entry.
	add  func(*fsm.EntryBuilder) error
	size int
	// first and n locate its commands in the entry (set by the applier).
	first, n int
	// ev carries its two events: the turn (this proposal's goroutine must
	// become the applier for the pending queue; at most once, while it is
	// pending) and its result (once). One channel of two slots: neither
	// send ever blocks, and a send allocates one channel, not two.
	ev chan proposalEvent
}

type proposalEvent struct {
	turn bool // else r is the result
	r    proposalResult
}

func (pr *proposal) resolve(r proposalResult) { pr.ev <- proposalEvent{r: r} }

type proposalResult struct {
	res   any    // the command's result from the FSM
	index uint64 // the raft index of the entry
	err   error
}

// proposer is the group-commit batcher and the one path into raft.Apply.
// It uses no goroutine of its own (flat combining): the first caller to
// find no active applier becomes it, packs every pending proposal (bounded
// by bytes) into one entry, hands raft the entry, passes the applier role
// to the next waiting caller, and then waits for its entry's commit and
// hands every member its result. Concurrent sends therefore share entries
// and fsyncs, and a lone send pays no extra goroutine hand-offs.
type proposer struct {
	r        *raft.Raft
	maxBytes int
	// slots bounds the entries in flight (proposed, not yet resolved). An
	// applier waits for a slot before taking the pending proposals, so
	// under load proposals pile up meanwhile and entries grow, while a
	// lone send finds a free slot and goes at once.
	slots chan struct{}

	// wg owns the goroutines that serve abandoned proposals' turns.
	wg      sync.WaitGroup
	mu      sync.Mutex
	pending []*proposal
	active  bool
	closed  bool

	// onEntry observes each proposed entry (metrics).
	onEntry func(cmds, bytes int)
	// durable, if set, waits until an entry is on the leader's disk
	// (deferred sync); results are handed out only after it returns.
	durable func(index uint64) error
}

func newProposer(r *raft.Raft, maxBytes, inflight int) *proposer {
	return &proposer{r: r, maxBytes: maxBytes, slots: make(chan struct{}, inflight)}
}

var errShutdown = errors.New("group: shutting down")

// errOutcomeUnknown: the command may or may not have been committed.
var errOutcomeUnknown = errors.New("group: outcome unknown")

// propose submits one command and waits for its result.
func (p *proposer) propose(ctx context.Context, size int, add func(*fsm.EntryBuilder) error) (proposalResult, error) {
	pr := &proposal{add: add, size: size, ev: make(chan proposalEvent, 2)}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return proposalResult{}, errShutdown
	}
	p.pending = append(p.pending, pr)
	lead := !p.active
	p.active = true
	p.mu.Unlock()
	if lead {
		p.apply()
	}
	for {
		select {
		case e := <-pr.ev:
			if !e.turn {
				return e.r, e.r.err
			}
			p.apply()
		case <-ctx.Done():
			// Keep the applier role flowing if it reaches us now; the entry
			// may still commit, so the caller reports an unknown outcome.
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.abandon(pr)
			}()
			return proposalResult{}, fmt.Errorf("%w: %w", errOutcomeUnknown, ctx.Err())
		}
	}
}

// abandon serves the applier role on behalf of a caller that stopped
// waiting, until its proposal is resolved.
func (p *proposer) abandon(pr *proposal) {
	for e := range pr.ev {
		if !e.turn {
			return
		}
		p.apply()
	}
}

// apply runs one applier turn: take pending proposals, propose them as one
// entry, pass the role on, then resolve the entry.
func (p *proposer) apply() {
	p.slots <- struct{}{}
	defer func() { <-p.slots }()
	p.mu.Lock()
	n, size := 0, 0
	for n < len(p.pending) && (n == 0 || size+p.pending[n].size <= p.maxBytes) {
		size += p.pending[n].size
		n++
	}
	batch := append([]*proposal(nil), p.pending[:n]...)
	p.pending = p.pending[n:]
	if len(p.pending) == 0 {
		p.pending = nil
	}
	p.mu.Unlock()

	var b fsm.EntryBuilder
	// Each proposal's size bounds its payload; command headers (a few per
	// proposal) and the entry header come on top. One allocation per entry.
	b.Grow(size + len(batch)*16 + 16)
	kept := batch[:0]
	for _, pr := range batch {
		before, mark := b.Count(), b.Len()
		if err := pr.add(&b); err != nil {
			b.Truncate(mark, before) // drop what it added before failing
			pr.resolve(proposalResult{err: err})
			continue
		}
		pr.first, pr.n = before, b.Count()-before
		kept = append(kept, pr)
	}
	var fut raft.ApplyFuture
	if len(kept) > 0 {
		if p.onEntry != nil {
			p.onEntry(len(kept), b.Len())
		}
		fut = p.r.Apply(b.Bytes(), 0)
	}

	// Pass the role on before waiting for the commit, so the next entry
	// reaches raft while this one replicates.
	p.mu.Lock()
	if len(p.pending) > 0 {
		p.pending[0].ev <- proposalEvent{turn: true}
	} else {
		p.active = false
	}
	p.mu.Unlock()

	if fut == nil {
		return
	}
	if err := fut.Error(); err != nil {
		for _, pr := range kept {
			pr.resolve(proposalResult{err: err})
		}
		return
	}
	idx := fut.Index()
	if p.durable != nil {
		if err := p.durable(idx); err != nil {
			for _, pr := range kept {
				pr.resolve(proposalResult{err: fmt.Errorf("%w: committed but not confirmed on the leader's disk: %w", errOutcomeUnknown, err)})
			}
			return
		}
	}
	er, _ := fut.Response().(*fsm.EntryResult)
	for _, pr := range kept {
		r := proposalResult{index: idx}
		switch {
		case er == nil || pr.first+pr.n > len(er.Results):
			r.err = fmt.Errorf("group: entry %d produced no result", idx)
		default:
			res := er.Results[pr.first : pr.first+pr.n]
			for _, v := range res {
				if err, ok := v.(error); ok && r.err == nil {
					r.err = err // rejected by the FSM, on every replica alike
				}
			}
			if len(res) == 1 {
				r.res = res[0]
			} else {
				r.res = append([]any(nil), res...)
			}
		}
		pr.resolve(r)
	}
}

// shutdown refuses new proposals; raft's shutdown fails those in flight.
func (p *proposer) shutdown() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}

// wait waits for abandoned proposals to resolve (after raft shut down,
// they resolve at once).
func (p *proposer) wait() { p.wg.Wait() }
