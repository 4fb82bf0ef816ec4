package broker

import (
	"context"
	"time"

	"github.com/raftmq/raftmq/transport"
)

// The leader reads its followers' disk state every second (their
// GET_GROUP_STATUS over the peer channel) and tells the group, which
// refuses new messages that could not be stored on a majority.

// pollDisks reads the followers' disk state while this node leads.
func (b *Broker) pollDisks(time.Time) {
	if !b.g.RaftLeader() {
		return
	}
	for _, p := range b.members() {
		if p.ID != b.self.ID {
			b.pollDisk(p.ID, p.Addr)
		}
	}
}

func (b *Broker) pollDisk(id, addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	r, err := b.peerClient.Invoke(ctx, addr, transport.NewRequest(transport.ReqGetGroupStatus, nil, nil))
	if err != nil || r.Code != int16(transport.RespSuccess) {
		return // unreachable: raft already counts it out
	}
	var st transport.GroupStatus
	if err := transport.DecodeBody(r.Body, &st); err != nil {
		return
	}
	b.g.SetMemberDiskFull(id, st.DiskFull)
}
