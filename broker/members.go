package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/raftmq/raftmq/group"
	"github.com/raftmq/raftmq/transport"
)

// Membership changes (admin addMember, removeMember, replaceMember). A
// new member is added as a non-voter; the leader promotes non-voters to
// voters once their log is within promoteLag entries of its commit index
// (promoteNonVoters, on whichever member leads, so promotions survive a
// failover). Removing the leader hands leadership over first.

const promoteLag = 64

// handleAddMember adds "id" at raft address "addr"; with "wait" (a
// duration) it waits until the member is a voter.
func (b *Broker) handleAddMember(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	id, addr := req.Ext("id"), req.Ext("addr")
	if id == "" || addr == "" {
		return respond(transport.RespInvalidParameter, "add member: id and addr are required")
	}
	if !b.waitLeaderReady(ctx) {
		return b.forward(ctx, c, req)
	}
	if err := b.g.AddMember(ctx, id, addr); err != nil {
		return b.statusFromErr("add member "+id, err)
	}
	b.logger.Info("added a member as non-voter", "member", id, "addr", addr)
	b.kickRegister()
	wait, _ := time.ParseDuration(req.Ext("wait"))
	deadline := time.Now().Add(wait)
	for {
		for _, m := range b.g.Members() {
			if m.ID == id && m.Voter {
				return okBody(b.memberList())
			}
		}
		if time.Now().After(deadline) {
			r := okBody(b.memberList())
			r.Remark = "added as a non-voter; it becomes a voter once caught up"
			return r
		}
		select {
		case <-b.g.LeaderChanged():
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			return b.statusFromErr("add member "+id, ctx.Err())
		}
	}
}

// handleRemoveMember removes "id"; the leader hands leadership over first
// when it is the one removed.
func (b *Broker) handleRemoveMember(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	id := req.Ext("id")
	if id == "" {
		return respond(transport.RespInvalidParameter, "remove member: id is required")
	}
	if !b.waitLeaderReady(ctx) {
		return b.forward(ctx, c, req)
	}
	if id == b.self.ID {
		var target string
		for _, m := range b.g.Members() {
			if m.ID != id && m.Voter {
				target = m.ID
				break
			}
		}
		if target == "" {
			return respond(transport.RespInvalidParameter, "remove member: %s is the only voter of group %s", id, b.cfg.BrokerName)
		}
		if err := b.g.TransferLeadership(target); err != nil {
			return b.statusFromErr("remove member "+id+": hand leadership over", err)
		}
		// The new leader removes us.
		return b.forward(ctx, c, req)
	}
	if err := b.g.RemoveMember(ctx, id); err != nil {
		return b.statusFromErr("remove member "+id, err)
	}
	b.logger.Info("removed a member", "member", id)
	b.kickRegister()
	return okBody(b.memberList())
}

func (b *Broker) memberList() []transport.Member {
	var out []transport.Member
	for _, m := range b.g.Members() {
		out = append(out, transport.Member{ID: m.ID, Addr: m.Addr, Voter: m.Voter})
	}
	return out
}

// promoteNonVoters, while leading, makes caught-up non-voters voters.
func (b *Broker) promoteNonVoters(time.Time) {
	if !b.isLeader() {
		return
	}
	for _, m := range b.g.Members() {
		if m.Voter {
			continue
		}
		if err := b.promoteIfCaughtUp(m); err != nil {
			b.logger.Debug("non-voter not promoted yet", "member", m.ID, "error", err)
		}
	}
}

func (b *Broker) promoteIfCaughtUp(m group.Member) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := b.peerClient.Invoke(ctx, m.Addr, transport.NewRequest(transport.ReqGetGroupStatus, nil, nil))
	if err != nil {
		return err
	}
	var st transport.GroupStatus
	if err := transport.DecodeBody(r.Body, &st); err != nil {
		return err
	}
	commit := b.g.Status().CommitIndex
	if st.LastIndex+promoteLag < commit {
		return fmt.Errorf("at %d of %d", st.LastIndex, commit)
	}
	if err := b.g.Promote(ctx, m.ID); err != nil {
		return err
	}
	b.logger.Info("promoted a caught-up member to voter", "member", m.ID, "last_index", st.LastIndex, "commit", commit)
	b.kickRegister()
	return nil
}
