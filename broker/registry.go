package broker

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/raftmq/raftmq/transport"
)

// Client registrations are group-wide. Each member keeps the clients that
// heartbeat to it (their connection lives there); GET_CONSUMER_LIST_BY_GROUP
// on any member adds the other members' consumers of the group (asked on
// the peer channel), and a change of a group's consumers on one member is
// passed to the others, which notify their own consumers of the group
// (NOTIFY_CONSUMER_IDS_CHANGED travels over the connection the consumer
// holds). A member that cannot be reached within peerAskTimeout is left
// out: its consumers re-register elsewhere with their next heartbeat.

const (
	peerAskTimeout = 500 * time.Millisecond
	// notifyBacklog bounds the group names waiting to be passed on; when
	// it is full, consumers still rebalance on their 20 s timer.
	notifyBacklog = 1024
)

func (b *Broker) registerRegistryHandlers(s *transport.Server) {
	s.Handle(transport.ReqLocalConsumers, b.handleLocalConsumers)
	s.Handle(transport.ReqConsumersChanged, b.handleConsumersChanged)
}

func (b *Broker) handleLocalConsumers(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.ConsumerGroupHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad consumer list header: %v", err)
	}
	return okBody(b.clients.local(h.ConsumerGroup, b.self.ID))
}

func (b *Broker) handleConsumersChanged(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.ConsumerGroupHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return respond(transport.RespInvalidParameter, "bad notify header: %v", err)
	}
	b.notifyLocal(h.ConsumerGroup)
	return transport.NewResponse(transport.RespSuccess, "")
}

// groupConsumerIDs is every live consumer of group across the members,
// sorted.
func (b *Broker) groupConsumerIDs(ctx context.Context, group string) []string {
	byMember := b.groupConsumers(ctx, group)
	ids := make([]string, 0, len(byMember))
	for id := range byMember {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// groupConsumers maps every live consumer of group to the member holding
// its connection (this member's own first).
func (b *Broker) groupConsumers(ctx context.Context, group string) map[string]string {
	cc := b.groupConnections(ctx, group)
	out := make(map[string]string, len(cc.ConnectionSet))
	for _, c := range cc.ConnectionSet {
		out[c.ClientID] = c.Member
	}
	return out
}

// peerAddrs are the raft addresses of the other members.
func (b *Broker) peerAddrs() []string {
	var out []string
	for _, m := range b.members() {
		if m.ID != b.self.ID {
			out = append(out, m.Addr)
		}
	}
	return out
}

// notifyGroup tells the group's consumers, here and on the other members,
// that its consumer list changed.
func (b *Broker) notifyGroup(group string) {
	b.notifyLocal(group)
	select {
	case b.peerNotify <- group:
	default:
		b.logger.Debug("consumer change not passed on: backlog full", "group", group)
	}
}

// notifyLocal sends NOTIFY_CONSUMER_IDS_CHANGED to this member's consumers
// of group.
func (b *Broker) notifyLocal(group string) {
	for _, c := range b.clients.conns(group) {
		req := transport.NewRequest(transport.ReqNotifyConsumerIDsChanged, (&transport.ConsumerGroupHeader{ConsumerGroup: group}).Encode(), nil)
		if err := c.Send(req); err != nil {
			b.logger.Debug("notify consumer failed", "group", group, "error", err)
		}
	}
}

// peerNotifyLoop passes consumer changes on to the other members, one
// group name at a time (repeats that queued meanwhile are merged).
func (b *Broker) peerNotifyLoop() {
	for {
		var group string
		select {
		case <-b.stop:
			return
		case group = <-b.peerNotify:
		}
		pending := map[string]bool{group: true}
		for drained := false; !drained; {
			select {
			case g := <-b.peerNotify:
				pending[g] = true
			default:
				drained = true
			}
		}
		for g := range pending {
			b.passOn(g)
		}
	}
}

func (b *Broker) passOn(group string) {
	ctx, cancel := context.WithTimeout(context.Background(), peerAskTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, addr := range b.peerAddrs() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := transport.NewRequest(transport.ReqConsumersChanged, (&transport.ConsumerGroupHeader{ConsumerGroup: group}).Encode(), nil)
			if _, err := b.peerClient.Invoke(ctx, addr, req); err != nil {
				b.logger.Debug("could not pass a consumer change on", "group", group, "member", addr, "error", err)
			}
		}()
	}
	wg.Wait()
}
