package group

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
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
	// done receives the result, exactly once.
	done func(Proposal, error)
}

type proposalResult struct {
	res   any    // the command's result from the FSM
	index uint64 // the raft index of the entry
	err   error
}

// entry is a proposed raft entry and the proposals packed into it.
type entry struct {
	fut  raft.ApplyFuture
	kept []*proposal
}

// proposer is the group-commit batcher and the one path into raft.Apply.
// Two goroutines of its own form a pipeline: the applier packs every
// pending proposal (bounded by bytes) into one entry and hands it to raft,
// and the resolver waits for each entry's commit, in raft order, and hands
// every proposal its result. Proposals arriving while entries replicate
// pile up and share the next entry and its fsync.
//
// Callers do not wait on a goroutine of their own: proposeAsync returns at
// once and done runs on the resolver, so a connection's reader can submit
// a send and go on reading (the send path hands no goroutine a message).
type proposer struct {
	r        *raft.Raft
	maxBytes int
	logger   hclog.Logger
	// slots bounds the entries in flight (proposed, not yet resolved). The
	// applier waits for a slot before taking the pending proposals, so
	// under load proposals pile up meanwhile and entries grow, while a
	// lone send finds a free slot and goes at once.
	slots   chan struct{}
	kick    chan struct{} // one slot: proposals are pending
	entries chan entry    // applier to resolver, in raft order
	stop    chan struct{} // closed by shutdown
	// down is closed once raft has shut down: a future it has not
	// answered by then it never will (an entry still in its apply
	// channel, or committed but not yet handed to the FSM).
	down     chan struct{}
	downOnce sync.Once
	wg       sync.WaitGroup

	mu      sync.Mutex
	pending []*proposal
	closed  bool

	// onEntry observes each proposed entry (metrics).
	onEntry func(cmds, bytes int)
	// durable, if set, waits until an entry is on the leader's disk
	// (deferred sync); results are handed out only after it returns.
	durable func(index uint64) error
	// stalled, if set, says why the group cannot commit now (a full disk:
	// DiskRefusal). A waiting proposal asks it every stallAfter and, once
	// it answers, returns that error instead of waiting on: an entry a
	// full disk holds up may wait for hours, and the client should hear
	// why well before its own timeout.
	stalled    func() error
	stallAfter time.Duration
}

func newProposer(r *raft.Raft, maxBytes, inflight int, logger hclog.Logger) *proposer {
	return &proposer{r: r, maxBytes: maxBytes, logger: logger, slots: make(chan struct{}, inflight),
		kick: make(chan struct{}, 1), entries: make(chan entry, inflight), stop: make(chan struct{}), down: make(chan struct{}),
		stallAfter: 2 * time.Second}
}

// start runs the applier and the resolver until shutdown (and raft's
// shutdown, which resolves the entries in flight).
func (p *proposer) start() {
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		defer close(p.entries)
		p.applyLoop()
	}()
	go func() {
		defer p.wg.Done()
		for e := range p.entries {
			p.resolveEntry(e)
			<-p.slots
		}
	}()
}

var errShutdown = errors.New("group: shutting down")

// errOutcomeUnknown: the command may or may not have been committed.
var errOutcomeUnknown = errors.New("group: outcome unknown")

// propose submits one command and waits for its result.
func (p *proposer) propose(ctx context.Context, size int, add func(*fsm.EntryBuilder) error) (Proposal, error) {
	type outcome struct {
		p   Proposal
		err error
	}
	ch := make(chan outcome, 1) // the resolver never blocks on it
	if err := p.proposeAsync(size, add, func(pr Proposal, err error) { ch <- outcome{pr, err} }); err != nil {
		return Proposal{}, err
	}
	var check <-chan time.Time
	if p.stalled != nil {
		tk := time.NewTicker(p.stallAfter)
		defer tk.Stop()
		check = tk.C
	}
	for waited := p.stallAfter; ; waited += p.stallAfter {
		select {
		case o := <-ch:
			return o.p, o.err
		case <-ctx.Done():
			// The entry may still commit: the caller reports an unknown outcome.
			return Proposal{}, fmt.Errorf("%w: %w", errOutcomeUnknown, ctx.Err())
		case <-check:
			if err := p.stalled(); err != nil {
				// As above, it may still commit once space returns.
				return Proposal{}, fmt.Errorf("%w: not committed within %v: %w", errOutcomeUnknown, waited, err)
			}
		}
	}
}

// proposeAsync submits one command; done gets its result, once, on the
// proposer's goroutines (it must not block: it holds up every later
// result). Results of what reached raft come in raft order; a refusal
// while packing or a failure at shutdown comes from the applier, possibly
// ahead of them. It fails at once, without calling done, after shutdown.
func (p *proposer) proposeAsync(size int, add func(*fsm.EntryBuilder) error, done func(Proposal, error)) error {
	pr := &proposal{add: add, size: size, done: done}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errShutdown
	}
	p.pending = append(p.pending, pr)
	first := len(p.pending) == 1
	p.mu.Unlock()
	if first {
		select {
		case p.kick <- struct{}{}:
		default: // already kicked
		}
	}
	return nil
}

func (p *proposer) applyLoop() {
	for {
		select {
		case <-p.kick:
		case <-p.stop:
			p.failPending()
			return
		}
		for {
			select {
			case p.slots <- struct{}{}:
			case <-p.stop:
				p.failPending()
				return
			}
			e, ok := p.next()
			if !ok {
				<-p.slots
				break
			}
			if e.fut == nil { // every add failed
				<-p.slots
				continue
			}
			p.entries <- e // never blocks: it holds no more than the slots
		}
	}
}

// next packs the pending proposals into an entry and proposes it; false
// if none are pending.
func (p *proposer) next() (entry, bool) {
	p.mu.Lock()
	n, size := 0, 0
	for n < len(p.pending) && (n == 0 || size+p.pending[n].size <= p.maxBytes) {
		size += p.pending[n].size
		n++
	}
	if n == 0 {
		p.mu.Unlock()
		return entry{}, false
	}
	batch := append([]*proposal(nil), p.pending[:n]...)
	clear(p.pending[:n])
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
			p.finish(pr, proposalResult{err: err})
			continue
		}
		pr.first, pr.n = before, b.Count()-before
		kept = append(kept, pr)
	}
	if len(kept) == 0 {
		return entry{}, true
	}
	if p.onEntry != nil {
		p.onEntry(len(kept), b.Len())
	}
	return entry{fut: p.r.Apply(b.Bytes(), 0), kept: kept}, true
}

// errNoAnswer: raft shut down without answering an entry's future.
var errNoAnswer = fmt.Errorf("%w: raft shut down before answering", errOutcomeUnknown)

// await is fut.Error(), unless raft shuts down without answering it. The
// waiting goroutine of a future raft never answers stays blocked: raft
// offers no way to end it, and it ends with the process (at most
// MaxInflightEntries of them, only after a shutdown). A resolver that
// hung instead would hold every later answer and the server's drain.
func (p *proposer) await(fut raft.ApplyFuture) error {
	ch := make(chan error, 1)
	go func() { ch <- fut.Error() }()
	select {
	case err := <-ch:
		return err
	case <-p.down:
		select {
		case err := <-ch:
			return err
		case <-time.After(100 * time.Millisecond): // answers raft sent as it stopped
			return errNoAnswer
		}
	}
}

// raftStopped: raft has shut down (Group.stopRaft).
func (p *proposer) raftStopped() { p.downOnce.Do(func() { close(p.down) }) }

// resolveEntry waits for an entry's commit and hands out its results.
func (p *proposer) resolveEntry(e entry) {
	if err := p.await(e.fut); err != nil {
		for _, pr := range e.kept {
			p.finish(pr, proposalResult{err: err})
		}
		return
	}
	idx := e.fut.Index()
	if p.durable != nil {
		if err := p.durable(idx); err != nil {
			for _, pr := range e.kept {
				p.finish(pr, proposalResult{err: fmt.Errorf("%w: committed but not confirmed on the leader's disk: %w", errOutcomeUnknown, err)})
			}
			return
		}
	}
	er, _ := e.fut.Response().(*fsm.EntryResult)
	for _, pr := range e.kept {
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
		p.finish(pr, r)
	}
}

// finish hands pr its result. A panicking callback is logged, not allowed
// to stop the results of every later proposal.
func (p *proposer) finish(pr *proposal, r proposalResult) {
	defer func() {
		if v := recover(); v != nil {
			p.logger.Error("proposal callback panicked", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	pr.done(Proposal{Result: r.res, Index: r.index}, r.err)
}

// failPending fails what was never proposed (after shutdown).
func (p *proposer) failPending() {
	p.mu.Lock()
	pending := p.pending
	p.pending = nil
	p.mu.Unlock()
	for _, pr := range pending {
		p.finish(pr, proposalResult{err: errShutdown})
	}
}

// shutdown refuses new proposals and fails those not proposed yet; raft's
// shutdown fails those in flight.
func (p *proposer) shutdown() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.stop)
	}
	p.mu.Unlock()
}

// wait waits for the applier and the resolver to exit (after raft shut
// down, the entries in flight resolve at once).
func (p *proposer) wait() { p.wg.Wait() }
