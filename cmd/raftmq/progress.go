package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/raftmq/raftmq/client"
)

// statusLine shows one line of progress on a terminal, rewritten in place;
// on anything else (a pipe, a file, a script) it shows nothing.
type statusLine struct {
	w    *os.File
	tty  bool
	mu   sync.Mutex
	used bool
}

func newStatusLine(w *os.File) *statusLine { return &statusLine{w: w, tty: isTTY(w)} }

func (s *statusLine) set(format string, args ...any) {
	if !s.tty {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.w, "\r\033[K"+format, args...)
	s.used = true
}

func (s *statusLine) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tty && s.used {
		fmt.Fprint(s.w, "\r\033[K")
	}
}

// watchCatchUp shows, every second until stop, how far member id of a
// broker group is: applied index against the leader's commit index, and
// the history it fetches after a snapshot install.
func watchCatchUp(ad *client.Admin, brokerGroup, id string) (stop func()) {
	sl := newStatusLine(os.Stderr)
	if !sl.tty {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			sl.set("%s", catchUpLine(ctx, ad, brokerGroup, id, time.Since(start)))
		}
	}()
	return func() {
		cancel()
		<-done
		sl.clear()
	}
}

func catchUpLine(ctx context.Context, ad *client.Admin, brokerGroup, id string, took time.Duration) string {
	head := fmt.Sprintf("%s: waiting for %s to catch up (%v)", brokerGroup, id, took.Round(time.Second))
	ci, err := ad.ClusterInfo(ctx)
	if err != nil {
		return head
	}
	g, ok := ci.Groups[brokerGroup]
	if !ok {
		return head
	}
	var commit uint64
	var line string
	for _, addr := range g.Members() {
		st, err := ad.BrokerStatus(ctx, addr)
		if err != nil {
			continue
		}
		if st.Raft.Serving {
			commit = st.Raft.CommitIndex
		}
		if st.Raft.NodeID == id {
			r := st.Raft
			line = fmt.Sprintf("applied %d", r.AppliedIndex)
			if r.PartialHistory && r.History.Total > 0 {
				line += fmt.Sprintf(", history %d/%d MiB (%.0f MB/s)", r.History.Fetched>>20, r.History.Total>>20, r.History.MBps)
			}
		}
	}
	if line == "" {
		return head + ": not registered yet"
	}
	if commit > 0 {
		line = fmt.Sprintf("%s of %d", line, commit)
	}
	return head + ": " + line
}
