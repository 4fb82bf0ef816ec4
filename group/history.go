package group

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/raftlog"
)

// HistorySource reaches another member's CommitLog (the broker serves it
// on the raft port's peer channel, members only).
type HistorySource interface {
	HistoryInfo(ctx context.Context, addr string, index uint64) (raftlog.HistoryInfo, error)
	// ReadHistory returns up to n bytes from off, never past entry limit
	// nor across a segment end, and the segment's modification time.
	ReadHistory(ctx context.Context, addr string, off int64, n int, limit uint64) ([]byte, time.Time, error)
}

// errNotYet: the catch-up cannot start yet; try again shortly.
var errNotYet = errors.New("not yet")

// HistoryChunk is the most a history read returns.
const HistoryChunk = 1 << 20

// HistoryProgress describes the catch-up of a member that installed a
// snapshot: the retained messages before it are fetched from another
// member, then its queues and IndexFiles are rebuilt for them.
type HistoryProgress struct {
	Pending   bool    `json:"pending"`             // the history before Snapshot is not complete here
	Snapshot  uint64  `json:"snapshot,omitempty"`  // the installed snapshot's index
	FromIndex uint64  `json:"fromIndex,omitempty"` // the first entry being fetched
	Donor     string  `json:"donor,omitempty"`
	Fetched   int64   `json:"fetchedBytes"`
	Total     int64   `json:"totalBytes"`
	MBps      float64 `json:"mbPerSecond,omitempty"`
	Error     string  `json:"error,omitempty"` // the last attempt's
	// Done is when the last catch-up completed, and how long it took.
	Done     time.Time     `json:"done,omitempty"`
	Took     time.Duration `json:"took,omitempty"`
	Messages int64         `json:"messages,omitempty"` // rebuilt queue units
	// The last catch-up's phases: fetching, verifying and installing the
	// segments, rebuilding queues and IndexFiles.
	FetchTook, InstallTook, RebuildTook time.Duration
}

type historyState struct {
	mu sync.Mutex
	p  HistoryProgress
}

func (h *historyState) update(f func(p *HistoryProgress)) {
	h.mu.Lock()
	f(&h.p)
	h.mu.Unlock()
}

func (h *historyState) get() HistoryProgress {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.p
}

// HistoryInfo and ReadHistory serve this member's CommitLog to a member
// catching up (see HistorySource).
func (g *Group) HistoryInfo(index uint64) (raftlog.HistoryInfo, error) {
	return g.log.HistoryInfo(index)
}

func (g *Group) ReadHistory(p []byte, off int64, limit uint64) (int, time.Time, error) {
	return g.log.ReadHistory(p, off, limit)
}

// historyLoop catches up a member whose history is partial.
func (g *Group) historyLoop() {
	wait := time.Second
	soon := 0 // polls left at a short interval after a snapshot install
	for {
		t := time.NewTimer(wait)
		select {
		case <-g.stop:
			t.Stop()
			return
		case <-g.histKick:
			t.Stop()
			soon = 50 // the restore is still completing
		case <-t.C:
		}
		hs, ok := g.fsm.PendingHistory()
		g.hist.update(func(p *HistoryProgress) {
			p.Pending = ok
			if ok {
				p.Snapshot = hs.Snapshot
			}
		})
		if !ok {
			wait = 2 * time.Second
			if soon > 0 {
				soon--
				wait = 100 * time.Millisecond
			}
			continue
		}
		soon = 0
		err := g.catchUp(hs)
		if err == nil {
			wait = time.Second
			continue
		}
		if errors.Is(err, errShutdown) {
			return
		}
		if errors.Is(err, errNotYet) {
			wait = 100 * time.Millisecond
			continue
		}
		g.hist.update(func(p *HistoryProgress) { p.Error = err.Error() })
		g.logger.Warn("catching up the history before the installed snapshot failed; retrying", "snapshot", hs.Snapshot, "error", err)
		wait = 5 * time.Second
	}
}

// catchUp fetches what other members retain before the snapshot, installs
// it and rebuilds the queues over it.
func (g *Group) catchUp(hs fsm.HistoryState) error {
	t0 := time.Now()
	// raft empties the log right after installing the snapshot; start
	// only once that is done.
	if ls, _ := strconv.ParseUint(g.raft.Stats()["last_snapshot_index"], 10, 64); ls < hs.Snapshot {
		return fmt.Errorf("%w: raft has not finished installing snapshot %d", errNotYet, hs.Snapshot)
	}
	first, _ := g.log.FirstIndex()
	if first != 0 && first <= hs.Snapshot {
		return g.rebuild(hs, t0) // fetched and installed before a restart
	}
	if first > hs.Snapshot+1 {
		// Retention here already dropped entries after the snapshot: what
		// came before is older still.
		return g.rebuild(hs, t0)
	}
	if g.cfg.History == nil {
		return errors.New("no history source configured")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-g.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	imp, err := g.log.OpenHistoryImport(raftlog.HistoryTarget{Index: hs.Snapshot, Term: hs.Term, End: hs.End})
	if err != nil {
		return err
	}
	defer imp.Close()
	donors, none, err := g.historyDonors(ctx, hs)
	if err != nil {
		return err
	}
	if none {
		g.logger.Info("no member retains entries before the installed snapshot; the history here is the group's", "snapshot", hs.Snapshot)
		imp.Discard()
		return g.rebuild(hs, t0)
	}
	var lastErr error
	for _, d := range donors {
		more, err := imp.Begin(d.info)
		if err != nil {
			lastErr = err
			continue
		}
		g.hist.update(func(p *HistoryProgress) {
			p.Donor, p.FromIndex, p.Total, p.Error = d.id, imp.From(), imp.Bytes(), ""
			p.Fetched = imp.Bytes() - imp.Remaining()
		})
		g.logger.Info("fetching the history before the installed snapshot", "snapshot", hs.Snapshot, "donor", d.id,
			"from_index", imp.From(), "bytes", imp.Bytes(), "already_staged", imp.Bytes()-imp.Remaining())
		if more {
			if err := g.fetch(ctx, d, imp, hs.Snapshot); err != nil {
				if ctx.Err() != nil {
					return errShutdown
				}
				lastErr = fmt.Errorf("from %s: %w", d.id, err)
				continue
			}
		}
		fetched := time.Now()
		g.hist.update(func(p *HistoryProgress) { p.FetchTook = fetched.Sub(t0) })
		release := g.log.HoldRetention()
		err = imp.Install()
		if err == nil {
			g.hist.update(func(p *HistoryProgress) { p.InstallTook = time.Since(fetched) })
			err = g.rebuild(hs, t0)
		}
		release()
		if err != nil {
			var mm *raftlog.HistoryMismatchError
			if errors.As(err, &mm) {
				lastErr = fmt.Errorf("from %s: %w", d.id, err)
				continue
			}
			return err
		}
		return nil
	}
	if lastErr == nil {
		lastErr = errors.New("no member can serve the history")
	}
	return lastErr
}

// fetch copies the rest of the history from d, a chunk at a time.
func (g *Group) fetch(ctx context.Context, d donor, imp *raftlog.HistoryImport, limit uint64) error {
	t0, from := time.Now(), imp.Next()
	for imp.Remaining() > 0 {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		b, mtime, err := g.cfg.History.ReadHistory(rctx, d.addr, imp.Next(), int(min(HistoryChunk, imp.Remaining())), limit)
		cancel()
		if err != nil {
			return err
		}
		if len(b) == 0 {
			return errors.New("the donor sent nothing")
		}
		if err := imp.Write(imp.Next(), b, mtime); err != nil {
			return err
		}
		done := imp.Next() - from
		g.hist.update(func(p *HistoryProgress) {
			p.Fetched = imp.Bytes() - imp.Remaining()
			if s := time.Since(t0).Seconds(); s > 0 {
				p.MBps = float64(done) / s / 1e6
			}
		})
	}
	return nil
}

func (g *Group) rebuild(hs fsm.HistoryState, t0 time.Time) error {
	release := g.log.HoldRetention()
	defer release()
	t1 := time.Now()
	res, err := g.fsm.RebuildHistory()
	if err != nil {
		return err
	}
	took := time.Since(t0)
	g.hist.update(func(p *HistoryProgress) {
		p.Pending, p.Error, p.Done, p.Took, p.Messages = false, "", time.Now(), took, res.Messages
		p.RebuildTook = time.Since(t1)
	})
	g.logger.Info("history before the installed snapshot is complete", "snapshot", hs.Snapshot, "from_index", res.FromIndex,
		"messages", res.Messages, "took", took.Round(time.Millisecond))
	return nil
}

type donor struct {
	id, addr string
	info     raftlog.HistoryInfo
}

// historyDonors asks every other member what it retains before the
// snapshot; the ones holding the most come first. none is set when every
// member answered and none retains anything before it.
func (g *Group) historyDonors(ctx context.Context, hs fsm.HistoryState) (out []donor, none bool, err error) {
	asked, answered := 0, 0
	var errs []error
	for _, m := range g.Members() {
		if m.ID == g.cfg.NodeID {
			continue
		}
		asked++
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := g.cfg.History.HistoryInfo(rctx, m.Addr, hs.Snapshot)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.ID, err))
			continue
		}
		answered++
		if info.Term != hs.Term || info.End != hs.End {
			errs = append(errs, fmt.Errorf("%s: its entry %d (term %d, ending at %d) is not the snapshot's", m.ID, hs.Snapshot, info.Term, info.End))
			continue
		}
		if info.FirstIndex <= hs.Snapshot {
			out = append(out, donor{id: m.ID, addr: m.Addr, info: info})
		}
	}
	for i := 1; i < len(out); i++ { // most history first
		for j := i; j > 0 && out[j].info.FirstIndex < out[j-1].info.FirstIndex; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	if len(out) > 0 {
		return out, false, nil
	}
	if asked > 0 && answered == asked && len(errs) == 0 {
		return nil, true, nil
	}
	return nil, false, fmt.Errorf("no member can serve the history: %w", errors.Join(errs...))
}

// History reports this member's catch-up.
func (g *Group) History() HistoryProgress {
	p := g.hist.get()
	_, p.Pending = g.fsm.PendingHistory()
	return p
}

// PartialHistory reports whether this member still lacks retained
// entries before an installed snapshot (other members hold them): its
// queue minimums are then not the group's.
func (g *Group) PartialHistory() bool {
	_, partial := g.fsm.PendingHistory()
	return partial
}
