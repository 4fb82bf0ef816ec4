package group

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// signal lets goroutines wait for "something changed": Wait returns a
// channel that fire closes (and replaces).
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) Wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
	}
	s.ch = make(chan struct{})
}

// LeaderChanged returns a channel closed at the next leadership event: a
// leader elected or lost anywhere in the group, or this member starting
// or stopping to serve. Waiters re-check state when it closes.
func (g *Group) LeaderChanged() <-chan struct{} { return g.leaderSig.Wait() }

// observeLeaders turns raft's leader observations into LeaderChanged.
func (g *Group) observeLeaders() {
	ch := make(chan raft.Observation, 16)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.PeerObservation:
			return true
		}
		return false
	})
	g.raft.RegisterObserver(obs)
	defer g.raft.DeregisterObserver(obs)
	// Followers see no peer events: the configuration is re-read too.
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	var last raft.ServerID
	for {
		select {
		case <-g.stop:
			return
		case o := <-ch:
			if lo, ok := o.Data.(raft.LeaderObservation); ok {
				if lo.LeaderID != "" && lo.LeaderID != last {
					g.leaderChanges.Add(1)
				}
				last = lo.LeaderID
			}
			g.refreshMembers()
			g.leaderSig.fire()
		case <-t.C:
			g.refreshMembers()
		}
	}
}
