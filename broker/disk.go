package broker

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/raftlog"
	"github.com/raftmq/raftmq/transport"
)

// A full disk refuses new messages; it never deletes acknowledged ones
// (unless cleanFileForciblyEnable). The leader refuses when its own disk
// is full, or when too few members have room to make a new entry durable
// on a majority: followers' state comes from their GET_GROUP_STATUS over
// the peer channel, read every second while leading. Refusals end by
// themselves once space returns (each log re-reads its disk every second).

// groupDisk is the leader's view of its followers' disks.
type groupDisk struct {
	mu   sync.Mutex
	full map[string]time.Time // member id -> when it last said "full"
}

func (g *groupDisk) set(id string, full bool, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.full == nil {
		g.full = map[string]time.Time{}
	}
	if full {
		g.full[id] = now
	} else {
		delete(g.full, id)
	}
}

// fullMembers lists followers that said "full" within maxAge.
func (g *groupDisk) fullMembers(now time.Time, maxAge time.Duration) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for id, at := range g.full {
		if now.Sub(at) <= maxAge {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// diskFullError says whose disk refuses the write.
type diskFullError struct {
	members []string
	self    bool
	used    float64
}

func (e *diskFullError) Error() string {
	if e.self {
		return fmt.Sprintf("the disk of this member is full (%.1f%% used); new messages are refused until space returns, "+
			"acknowledged messages are kept", 100*e.used)
	}
	return fmt.Sprintf("the disks of members %s are full, so a new message cannot be stored on a majority; "+
		"new messages are refused until space returns, acknowledged messages are kept", strings.Join(e.members, ", "))
}

func (e *diskFullError) Unwrap() error { return raftlog.ErrDiskFull }

// diskRefusal returns an error wrapping raftlog.ErrDiskFull when the group
// cannot take new messages for lack of disk space.
func (b *Broker) diskRefusal() error {
	if b.log.DiskFull() {
		return &diskFullError{self: true, used: b.log.Space().Used()}
	}
	full := b.disk.fullMembers(time.Now(), 5*time.Second)
	if len(full) == 0 {
		return nil
	}
	members := len(b.peers)
	if members-len(full) < members/2+1 {
		return &diskFullError{members: full}
	}
	return nil
}

// diskLoop polls the followers' disk state while this node leads.
func (b *Broker) diskLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			if b.raft.State() != raft.Leader {
				continue
			}
			for _, p := range b.peers {
				if p.ID == b.self.ID {
					continue
				}
				b.pollDisk(p.ID, p.Addr)
			}
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
	b.disk.set(id, st.DiskFull, time.Now())
}
