package group

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/raftlog"
)

// A full disk refuses new messages; it never deletes acknowledged ones
// (unless cleanFileForciblyEnable). The leader refuses when its own disk
// is full, or when so many followers' disks are that a new entry could
// not be durable on a majority. Followers' state is reported by whoever
// polls them (SetMemberDiskFull; the broker reads their status over its
// peer channel every second). Refusals end by themselves once space
// returns: each CommitLog re-reads its disk every second.

// peerDisks is the leader's view of its followers' disks.
type peerDisks struct {
	mu   sync.Mutex
	full map[string]time.Time // member id -> when it last said "full"
}

// SetMemberDiskFull records what a member said of its disk.
func (g *Group) SetMemberDiskFull(id string, full bool) {
	d := &g.disk
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.full == nil {
		d.full = map[string]time.Time{}
	}
	if full {
		d.full[id] = time.Now()
	} else {
		delete(d.full, id)
	}
}

// fullMembers lists members that said "full" within maxAge.
func (d *peerDisks) fullMembers(now time.Time, maxAge time.Duration) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for id, at := range d.full {
		if now.Sub(at) <= maxAge {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// DiskFullError says whose disk refuses a write. It wraps
// raftlog.ErrDiskFull.
type DiskFullError struct {
	Members []string // followers with full disks (when not Self)
	Self    bool
	Used    float64
}

func (e *DiskFullError) Error() string {
	if e.Self {
		return fmt.Sprintf("the disk of this member is full (%.1f%% used); new messages are refused until space returns, "+
			"acknowledged messages are kept", 100*e.Used)
	}
	return fmt.Sprintf("the disks of members %s are full, so a new message cannot be stored on a majority; "+
		"new messages are refused until space returns, acknowledged messages are kept", strings.Join(e.Members, ", "))
}

func (e *DiskFullError) Unwrap() error { return raftlog.ErrDiskFull }

// DiskRefusal returns a *DiskFullError when the group cannot take new
// messages for lack of disk space, else nil.
func (g *Group) DiskRefusal() error {
	if g.log.DiskFull() {
		return &DiskFullError{Self: true, Used: g.log.Space().Used()}
	}
	full := g.disk.fullMembers(time.Now(), 5*time.Second)
	if len(full) == 0 {
		return nil
	}
	members := g.voters()
	if members-len(full) < members/2+1 {
		return &DiskFullError{Members: full}
	}
	return nil
}

// StoreFailure is the log's: the error of the latest append if it was given
// one of entries (see raftlog.Log.StoreFailure).
func (g *Group) StoreFailure(entries []*raft.Log) error { return g.log.StoreFailure(entries) }

// DiskSpace is the latest reading of this member's disk.
func (g *Group) DiskSpace() raftlog.DiskSpace { return g.log.Space() }
