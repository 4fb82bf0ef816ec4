package client

import (
	"context"
	"fmt"

	"time"

	"github.com/raftmq/raftmq/transport"
)

// Member is a member of a broker group (raft's configuration).
type Member = transport.Member

// AddMember adds a member to a broker group: started with
// `raftmq broker --join`, it joins as a non-voter and is promoted to voter
// once caught up. AddMember waits up to wait for the promotion (0: does
// not wait) and returns the membership.
func (a *Admin) AddMember(ctx context.Context, brokerGroup, id, raftAddr string, wait time.Duration) ([]Member, error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	if wait > 0 {
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(context.WithoutCancel(ctx), wait+a.c.opts.timeout)
		defer c2()
	}
	resp, err := a.groupOKWait(ctx, brokerGroup, "add member "+id, wait, func() *transport.Command {
		return transport.NewRequest(transport.ReqAddMember, map[string]string{"id": id, "addr": raftAddr, "wait": wait.String()}, nil)
	})
	if err != nil {
		return nil, err
	}
	return decodeMembers(resp)
}

// RemoveMember removes a member (the leader hands leadership over first
// when it is the one removed).
func (a *Admin) RemoveMember(ctx context.Context, brokerGroup, id string) ([]Member, error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	resp, err := a.groupOK(ctx, brokerGroup, "remove member "+id, func() *transport.Command {
		return transport.NewRequest(transport.ReqRemoveMember, map[string]string{"id": id}, nil)
	})
	if err != nil {
		return nil, err
	}
	return decodeMembers(resp)
}

// ReplaceMember adds the new member, waits (up to wait) until it is a
// voter, then removes the old one.
func (a *Admin) ReplaceMember(ctx context.Context, brokerGroup, oldID, newID, newAddr string, wait time.Duration) ([]Member, error) {
	ms, err := a.AddMember(ctx, brokerGroup, newID, newAddr, wait)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.ID == newID && !m.Voter {
			return ms, fmt.Errorf("client: replace member: %s is not caught up yet (still a non-voter); %s kept", newID, oldID)
		}
	}
	return a.RemoveMember(ctx, brokerGroup, oldID)
}

func decodeMembers(resp *transport.Command) ([]Member, error) {
	var ms []Member
	if err := transport.DecodeBody(resp.Body, &ms); err != nil {
		return nil, fmt.Errorf("client: membership: %w", err)
	}
	return ms, nil
}
