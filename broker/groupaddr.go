package broker

import (
	"fmt"
	"net"
	"sync"

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
// the new leader within the election.

// groupListener owns this member's share of the group address.
type groupListener struct {
	addr string
	set  *transport.Listeners

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
		b.groupLn = &groupListener{addr: b.cfg.GroupAddr, set: set}
		if err := b.groupLn.join(); err != nil {
			set.Close()
			return nil, err
		}
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
	g.ln = ln
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

// followGroupAddr steps out of the group address while leading a group
// that has other members to take the connections, and back in otherwise.
func (b *Broker) followGroupAddr(leader bool) {
	if b.groupLn == nil {
		return
	}
	if leader && len(b.members()) > 1 {
		b.groupLn.leave()
		b.logger.Info("leading: no new client connections on the group address", "group_addr", b.groupLn.addr)
		return
	}
	if err := b.groupLn.join(); err != nil {
		b.logger.Error("cannot listen on the group address again", "error", err)
	}
}
