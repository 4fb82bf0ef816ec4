package broker

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

// TestBroker_TimersWaitForAPartialHistory: a member wiped and brought back
// by a snapshot install lacks the messages before the snapshot until its
// catch-up completes. Timers waiting in the timer queues at the snapshot
// are among them; if that member leads meanwhile, its scheduler must wait
// for them, not skip to the first message it holds (a chaos run lost
// timers that way). Each is delivered once the history is back.
func TestBroker_TimersWaitForAPartialHistory(t *testing.T) {
	var cfgs []Config
	g := startGroup(t, 3, func(c *Config) {
		c.TimerMaxDelay = time.Hour
		c.Log.SegmentSize = 64 << 10
		cfgs = append(cfgs, *c)
	})
	l := g.leader()
	wiped := g.follower()
	wi := -1
	for i, b := range g.brokers {
		if b == wiped {
			wi = i
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	require.NoError(t, wiped.Shutdown(ctx))
	cancel()
	require.NoError(t, os.RemoveAll(cfgs[wi].Dir))

	// Filler, consumed: retention may delete its segments.
	filler := []byte(strings.Repeat("f", 1000))
	for i := 0; i < 200; i++ {
		require.Equal(t, int16(0), g.call(l.Addr(), sendReq("Filler", 0, filler, nil)).Code)
	}
	uh := transport.UpdateConsumerOffsetRequestHeader{ConsumerGroup: "G", Topic: "Filler", QueueID: 0, CommitOffset: 200}
	require.Equal(t, int16(0), g.call(l.Addr(), transport.NewRequest(transport.ReqUpdateConsumerOffset, uh.Encode(), nil)).Code)

	// Timers that wait in the timer queues for a while.
	const topic, n = "PartialTimers", 20
	due := time.Now().Add(4 * time.Second)
	for i := 0; i < n; i++ {
		props := map[string]string{"TIMER_DELIVER_MS": strconv.FormatInt(due.UnixMilli(), 10)}
		require.Equal(t, int16(0), g.call(l.Addr(), sendReq(topic, 0, []byte(fmt.Sprintf("timer-%02d", i)), props)).Code)
	}
	// Retention on every member: the wiped one can only get a snapshot.
	for i := 0; i < 2; i++ {
		r := g.call(l.Addr(), transport.NewRequest(transport.ReqDeleteExpiredCommitLog, map[string]string{"olderThan": "0s"}, nil))
		require.Equal(t, int16(0), r.Code, r.Remark)
	}
	require.Greater(t, l.g.Status().FirstIndex, uint64(1), "retention deleted the log's head")

	// The donors hold the history back: the wiped member stays partial.
	for _, b := range g.brokers {
		if b != wiped {
			b.holdHistory.Store(true)
		}
	}
	nb, err := New(cfgs[wi])
	require.NoError(t, err)
	require.NoError(t, nb.Start())
	g.brokers[wi] = nb
	require.Eventually(t, func() bool {
		st := nb.g.Status()
		return st.InstalledSnapshot > 0 && st.PartialHistory && st.AppliedIndex >= l.g.Status().AppliedIndex
	}, 20*time.Second, 10*time.Millisecond)
	require.NoError(t, g.leader().g.TransferLeadership(cfgs[wi].NodeID))
	require.Eventually(t, nb.IsLeader, 10*time.Second, 10*time.Millisecond)

	// Timers sent to it now wait in the same timer queue, after the ones
	// it lacks.
	due2 := time.Now().Add(4 * time.Second)
	for i := 0; i < n; i++ {
		props := map[string]string{"TIMER_DELIVER_MS": strconv.FormatInt(due2.UnixMilli(), 10)}
		require.Equal(t, int16(0), g.call(nb.Addr(), sendReq(topic, 0, []byte(fmt.Sprintf("later-%02d", i)), props)).Code)
	}
	due = due2
	// Past due, with the scheduler passing over the timer queues.
	time.Sleep(time.Until(due) + time.Second)
	require.True(t, nb.IsLeader() && nb.g.PartialHistory())
	passes := nb.schedulePasses.Load()
	require.Eventually(t, func() bool { return nb.schedulePasses.Load() >= passes+3 }, 10*time.Second, 5*time.Millisecond)

	// The history comes back: every timer fires, once.
	for _, b := range g.brokers {
		b.holdHistory.Store(false)
	}
	require.Eventually(t, func() bool { return !nb.g.PartialHistory() }, 30*time.Second, 20*time.Millisecond)
	bodies := map[string]int{}
	require.Eventually(t, func() bool {
		clear(bodies)
		for _, x := range pulled(t, g, g.leader().Addr(), topic) {
			bodies[string(x.Body)]++
		}
		return len(bodies) == 2*n
	}, 20*time.Second, 50*time.Millisecond, "timers delivered: %v", bodies)
	for body, k := range bodies {
		require.Equal(t, 1, k, body)
	}
}
