package broker

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/raftmq/raftmq/transport"
)

// The group address (brokerGroupAddr) is the group's brokerId 0 in every
// route, whoever leads: a client keeps it across failovers and the member
// that takes its connection forwards writes to the leader.
//
// With brokerGroupListen the members of one host listen on it together
// (SO_REUSEPORT), and the leader steps out while it leads: the official
// clients wait for a request's timeout (3 s by default) when the
// connection it went out on breaks, so a leader that holds no client
// connections can die without stalling a client. Followers forward to
// the new leader within the election; a leader still holding connections
// from its time as a follower hands leadership to a member holding none
// (handoffCheck).

// groupListener owns this member's share of the group address.
type groupListener struct {
	addr  string
	bound string // the address it listened on (ip:port); guarded by mu
	set   *transport.Listeners

	mu sync.Mutex
	ln net.Listener // nil while stepped out
}

// listenClients opens the client port, plus the group address when this
// member listens on it.
func (b *Broker) listenClients() (*transport.Listeners, error) {
	ln, err := net.Listen("tcp", b.cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("broker: listen on %s: %w", b.cfg.ListenAddr, err)
	}
	set := transport.NewListeners(ln)
	if b.cfg.GroupListen {
		// Checked now (a port taken by another program fails the start);
		// taken for clients once this member knows a leader.
		b.groupLn = &groupListener{addr: b.cfg.GroupAddr, set: set}
		if err := b.groupLn.join(); err != nil {
			set.Close()
			return nil, err
		}
		b.groupLn.leave()
	}
	return set, nil
}

// join listens on the group address (again).
func (g *groupListener) join() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		return nil
	}
	ln, err := transport.ListenShared(g.addr)
	if err != nil {
		return fmt.Errorf("broker: listen on the group address %s: %w", g.addr, err)
	}
	g.ln, g.bound = ln, ln.Addr().String()
	g.set.Add(ln)
	return nil
}

// leave stops taking new connections on the group address; the ones it
// took stay.
func (g *groupListener) leave() {
	g.mu.Lock()
	ln := g.ln
	g.ln = nil
	g.mu.Unlock()
	if ln != nil {
		g.set.Remove(ln)
	}
}

func (g *groupListener) listening() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ln != nil
}

// followGroupAddr keeps this member's place on the group address right:
// on it while it can serve clients (a member of the group that knows a
// leader, and not the leader of a group with others to take the
// connections), off it otherwise (a member still waiting to be added, a
// removed one, the leader).
func (b *Broker) followGroupAddr() {
	if b.groupLn == nil {
		return
	}
	leaderID, _ := b.g.Leader()
	member := false
	for _, m := range b.members() {
		member = member || m.ID == b.self.ID
	}
	want := !b.removed.Load() && member && leaderID != "" && !(b.isLeader() && len(b.members()) > 1)
	switch {
	case want && !b.groupLn.listening():
		if err := b.groupLn.join(); err != nil {
			b.logger.Error("cannot listen on the group address", "error", err)
		}
	case !want && b.groupLn.listening():
		b.groupLn.leave()
		b.logger.Info("not taking client connections on the group address", "group_addr", b.groupLn.addr,
			"leader", b.isLeader(), "member", member, "leader_known", leaderID != "")
	}
}

// groupAddrLoop re-checks this member's place on the group address at
// every leadership event (a follower learns of a leader).
func (b *Broker) groupAddrLoop() {
	for {
		changed := b.g.LeaderChanged()
		b.followGroupAddr()
		select {
		case <-changed:
		case <-b.stop:
			return
		}
	}
}

// groupConns counts the client connections this member took on the group
// address.
func (b *Broker) groupConns() int {
	if b.groupLn == nil {
		return 0
	}
	b.groupLn.mu.Lock()
	bound := b.groupLn.bound
	b.groupLn.mu.Unlock()
	want, err := netip.ParseAddrPort(bound)
	if err != nil {
		return 0
	}
	n := 0
	for _, c := range b.server.Conns() {
		got, err := netip.ParseAddrPort(c.LocalAddr().String())
		if err == nil && got.Port() == want.Port() && (want.Addr().IsUnspecified() || got.Addr().Unmap() == want.Addr().Unmap()) {
			n++
		}
	}
	return n
}

func (b *Broker) handleMemberLoad(context.Context, *transport.Conn, *transport.Command) *transport.Command {
	return okBody(transport.MemberLoad{GroupConns: b.groupConns(), Applied: b.g.Status().AppliedIndex})
}

// Handing leadership to a member without client connections: a leader
// that took over from a killed one still holds the connections it took as
// a follower. Once a caught-up voter holds none (typically the killed
// member, restarted), leadership moves there, so that the next leader
// kill breaks no client connection either. At most once per
// handoffPause, never with preferredLeaderId set (that member leads).
const (
	// handoffPause spaces handoffs. They converge (a target holds no
	// connection, so it does not hand off again), and a drill kills
	// leaders seconds apart: the pause is short.
	handoffPause  = 3 * time.Second
	handoffSettle = 500 * time.Millisecond // a fresh leader's term settles first
	handoffLag    = 1000                   // entries a target may still miss
)

type handoffState struct {
	leaderSince time.Time
	last        time.Time
}

func (b *Broker) handoffCheck(now time.Time) {
	if b.groupLn == nil || b.removed.Load() {
		return
	}
	// Membership changes, a leader learnt and a failed re-listen are
	// caught up with here.
	b.followGroupAddr()
	if b.cfg.PreferredLeader != "" {
		return
	}
	if !b.isLeader() {
		b.handoff.leaderSince = time.Time{}
		return
	}
	if b.handoff.leaderSince.IsZero() {
		b.handoff.leaderSince = now
	}
	if now.Sub(b.handoff.leaderSince) < handoffSettle || now.Sub(b.handoff.last) < handoffPause {
		return
	}
	held := b.groupConns()
	if held == 0 {
		return
	}
	applied := b.g.Status().AppliedIndex
	for _, m := range b.members() {
		if m.ID == b.self.ID || !m.Voter {
			continue
		}
		ld, err := b.memberLoad(m.Addr)
		if err != nil || ld.GroupConns > 0 || ld.Applied+handoffLag < applied {
			continue
		}
		b.handoff.last = now
		b.logger.Info("handing leadership to a member without client connections on the group address",
			"target", m.ID, "client_conns_here", held)
		if err := b.g.TransferLeadership(m.ID); err != nil {
			b.logger.Warn("leadership handoff failed", "target", m.ID, "error", err)
		}
		return
	}
}

func (b *Broker) memberLoad(addr string) (transport.MemberLoad, error) {
	ctx, cancel := context.WithTimeout(context.Background(), peerAskTimeout)
	defer cancel()
	resp, err := b.peerClient.Invoke(ctx, addr, transport.NewRequest(transport.ReqMemberLoad, nil, nil))
	if err != nil {
		return transport.MemberLoad{}, err
	}
	if resp.Code != int16(transport.RespSuccess) {
		return transport.MemberLoad{}, fmt.Errorf("%s: %s", transport.ResponseCode(resp.Code), resp.Remark)
	}
	var ld transport.MemberLoad
	err = transport.DecodeBody(resp.Body, &ld)
	return ld, err
}
