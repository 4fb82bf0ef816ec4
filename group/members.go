package group

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/raft"
)

// Membership. The group's members are raft's configuration: a new member
// starts with Config.Join (it never bootstraps) and is added by the
// leader as a non-voter; once caught up it is promoted to voter
// (Promote). A member removed from the configuration stops (raft shuts
// itself down) and is told through Config.OnRemoved. A restarted member
// takes its peers from raft's stored configuration, never from the
// Members it was started with.

// Member is one member of the group: its raft id and address.
type Member struct {
	ID    string
	Addr  string
	Voter bool
}

// Members is the current configuration (cached; refreshed on every
// leadership or peer event and every 2 s), sorted by id.
func (g *Group) Members() []Member {
	if p := g.members.Load(); p != nil {
		return append([]Member(nil), (*p)...)
	}
	out := append([]Member(nil), g.cfg.Members...)
	for i := range out {
		out[i].Voter = true
	}
	return out
}

// Voters counts the voting members.
func (g *Group) voters() int {
	n := 0
	for _, m := range g.Members() {
		if m.Voter {
			n++
		}
	}
	return n
}

// refreshMembers reads raft's configuration into the cache.
func (g *Group) refreshMembers() {
	f := g.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	servers := f.Configuration().Servers
	if len(servers) == 0 {
		return // a joining member that was not added yet
	}
	ms := make([]Member, 0, len(servers))
	self := false
	for _, s := range servers {
		ms = append(ms, Member{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter})
		self = self || string(s.ID) == g.cfg.NodeID
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	old := g.members.Swap(&ms)
	if old == nil || !sameMembers(*old, ms) {
		g.logger.Info("group membership", "members", fmt.Sprint(ms))
		g.leaderSig.fire()
	}
	if !self && g.wasMember.Load() && g.removed.CompareAndSwap(false, true) {
		g.logger.Warn("this member was removed from the group")
		if g.cfg.OnRemoved != nil {
			g.cfg.OnRemoved()
		}
	}
	if self {
		g.wasMember.Store(true)
	}
}

func sameMembers(a, b []Member) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Removed reports whether this member was removed from the group.
func (g *Group) Removed() bool { return g.removed.Load() }

// ErrNotMember: the id is not in the configuration.
var ErrNotMember = errors.New("group: not a member")

// AddMember adds a member as a non-voter (it catches up without counting
// for commits). Only the leader can.
func (g *Group) AddMember(ctx context.Context, id, addr string) error {
	for _, m := range g.Members() {
		if m.ID == id {
			if m.Addr != addr {
				return fmt.Errorf("group: member %s exists with address %s", id, m.Addr)
			}
			return nil
		}
	}
	err := g.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeoutOf(ctx)).Error()
	g.refreshMembers()
	return err
}

// Promote makes a non-voter a voter. Only the leader can.
func (g *Group) Promote(ctx context.Context, id string) error {
	for _, m := range g.Members() {
		if m.ID == id {
			if m.Voter {
				return nil
			}
			err := g.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(m.Addr), 0, timeoutOf(ctx)).Error()
			g.refreshMembers()
			return err
		}
	}
	return fmt.Errorf("%w: %s", ErrNotMember, id)
}

// RemoveMember removes a member. Only the leader can, and not itself
// (hand leadership over first).
func (g *Group) RemoveMember(ctx context.Context, id string) error {
	if id == g.cfg.NodeID {
		return errors.New("group: the leader cannot remove itself: transfer leadership first")
	}
	found := false
	for _, m := range g.Members() {
		found = found || m.ID == id
	}
	if !found {
		return fmt.Errorf("%w: %s", ErrNotMember, id)
	}
	err := g.raft.RemoveServer(raft.ServerID(id), 0, timeoutOf(ctx)).Error()
	g.refreshMembers()
	return err
}

func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 10 * time.Second
}
