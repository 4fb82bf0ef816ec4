package cluster_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

// TestHostile_NamesAndCounts replays, as raw remoting frames, the requests
// that used to wipe replicas or create unusable topics: path-like topic
// and group names through the leader and a follower, system topics,
// queue ids and queue counts near 2^31. Each gets a clear error; the
// store, a canary directory beside it and every acknowledged message
// survive, also across a SIGKILL of the whole group.
func TestHostile_NamesAndCounts(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	g := c.Group(0)
	leader := g.WaitLeader(t, 20*time.Second)
	follower := g.Follower(leader)
	canary := filepath.Join(c.Dir(), "canary")
	require.NoError(t, os.MkdirAll(canary, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(canary, "keep"), []byte("keep"), 0o644))

	w := newWire(t)
	const topic, queues, perQueue = "Keep", 4, 25
	ct := transport.CreateTopicRequestHeader{Topic: topic, ReadQueueNums: queues, WriteQueueNums: queues, Perm: 6}
	require.Equal(t, int16(0), w.call(leader.ClientAddr(), transport.NewRequest(transport.ReqUpdateAndCreateTopic, ct.Encode(), nil)).Code)
	var firstPhys int64 = -1
	for q := int32(0); q < queues; q++ {
		for i := 0; i < perQueue; i++ {
			r := w.send(leader.ClientAddr(), topic, q, fmt.Sprintf("m-%d-%d", q, i), nil)
			require.Equal(t, int16(0), r.Code, r.Remark)
			if firstPhys < 0 {
				_, off, err := message.DecodeOffsetMsgID(r.ExtFields["msgId"])
				require.NoError(t, err)
				firstPhys = off
			}
		}
	}

	code := func(n *cluster.Node, req *transport.Command) (int16, string) {
		t.Helper()
		r, err := g.Call(n, req, 10*time.Second)
		require.NoError(t, err)
		return r.Code, r.Remark
	}
	invalid := int16(transport.RespInvalidParameter)
	for _, n := range []*cluster.Node{leader, follower} {
		for _, bad := range []string{"", "..", ".", "../..", "../../..", "../../../canary", "/", "/tmp", "a/../..",
			"%DLQ%/../../x", topic + "/0", "TBW102", "SCHEDULE_TOPIC_XXXX", "RMQ_SYS_TRANS_HALF_TOPIC"} {
			req := transport.NewRequest(transport.ReqDeleteTopicInBroker, map[string]string{"topic": bad}, nil)
			got, remark := code(n, req)
			require.Equal(t, invalid, got, "delete topic %q via %s: %s", bad, n.ID, remark)
		}
		for _, bad := range []string{"/../../../x", "..", "a/b", ""} {
			sb := transport.ConsumerSendMsgBackRequestHeader{Offset: firstPhys, Group: bad, OriginTopic: topic, MaxReconsumeTimes: 16}
			got, remark := code(n, transport.NewRequest(transport.ReqConsumerSendMsgBack, sb.Encode(), nil))
			require.Equal(t, invalid, got, "send back for group %q via %s: %s", bad, n.ID, remark)

			body, err := transport.EncodeBody(transport.HeartbeatData{ClientID: "evil@1", ConsumerDataSet: []transport.ConsumerData{{
				GroupName: bad, ConsumeType: "CONSUME_PASSIVELY", MessageModel: "CLUSTERING", ConsumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
				SubscriptionDataSet: []transport.SubscriptionData{{Topic: topic, SubString: "*"}}}}})
			require.NoError(t, err)
			got, remark = code(n, transport.NewRequest(transport.ReqHeartbeat, nil, body))
			require.Equal(t, invalid, got, "heartbeat of group %q via %s: %s", bad, n.ID, remark)

			pd := transport.PullMessageRequestHeader{ConsumerGroup: bad, Topic: topic, QueueID: 0, MaxMsgNums: 1,
				SysFlag: transport.PullFlagCommitOffset, CommitOffset: 3}
			got, remark = code(n, transport.NewRequest(transport.ReqPullMessage, pd.Encode(), nil))
			require.Equal(t, invalid, got, "pull for group %q via %s: %s", bad, n.ID, remark)
		}
		// Queue counts from a request are bounded.
		for _, nq := range []int32{0, -1, 1025, 1 << 30, 2147483647} {
			h := transport.CreateTopicRequestHeader{Topic: "Wide", ReadQueueNums: nq, WriteQueueNums: nq, Perm: 6}
			got, remark := code(n, transport.NewRequest(transport.ReqUpdateAndCreateTopic, h.Encode(), nil))
			require.Equal(t, invalid, got, "create topic with %d queues via %s: %s", nq, n.ID, remark)
		}
		h := transport.CreateTopicRequestHeader{Topic: "TBW102", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 0}
		got, remark := code(n, transport.NewRequest(transport.ReqUpdateAndCreateTopic, h.Encode(), nil))
		require.Equal(t, invalid, got, "update a system topic via %s: %s", n.ID, remark)
	}

	// A send with a huge queue id to a new topic: refused with a clear
	// remark, and the auto-created topic has the configured queue count.
	for _, qid := range []int32{2147483646, 4, -1} {
		r := w.send(follower.ClientAddr(), "Huge", qid, "x", nil)
		require.Equal(t, int16(transport.RespSystemError), r.Code, r.Remark)
		require.Contains(t, r.Remark, fmt.Sprintf("queueId[%d] is illegal", qid))
	}
	r := w.call(leader.ClientAddr(), transport.NewRequest(transport.ReqGetTopicStatsInfo, map[string]string{"topic": "Huge"}, nil))
	require.Equal(t, int16(0), r.Code, r.Remark)
	stats, serr := transport.DecodeTopicStatsTable(r.Body)
	require.NoError(t, serr)
	require.Len(t, stats.OffsetTable, 4, "queue count from defaultTopicQueueNums (4 in the request), not from the queue id")
	cluster.Eventually(t, 15*time.Second, func() error {
		r := w.call(c.NameServers()[0], transport.NewRequest(transport.ReqGetRouteInfoByTopic, map[string]string{"topic": "Huge"}, nil))
		if r.Code != 0 {
			return fmt.Errorf("route: %d %s", r.Code, r.Remark)
		}
		var rd transport.TopicRouteData
		if err := transport.DecodeBody(r.Body, &rd); err != nil {
			return err
		}
		if len(rd.QueueDatas) != 1 || rd.QueueDatas[0].WriteQueueNums != 4 {
			return fmt.Errorf("route queues %+v", rd.QueueDatas)
		}
		return nil
	})

	for _, n := range g.Nodes {
		require.True(t, n.Running(), "%s died: %s", n.ID, n.LogTail(20))
	}
	requireNoStrayFiles(t, c, g)

	// The whole group killed and restarted: every message is still there.
	for _, n := range g.Nodes {
		n.Kill()
	}
	for _, n := range g.Nodes {
		n.Restart(t)
	}
	g.WaitLeader(t, 30*time.Second)
	g.WaitCaughtUp(t, 30*time.Second)
	for _, n := range g.Nodes {
		for q := int32(0); q < queues; q++ {
			cluster.Eventually(t, 15*time.Second, func() error {
				recs, err := g.QueueContent(n, topic, q)
				if err != nil {
					return err
				}
				if len(recs) != perQueue {
					return fmt.Errorf("%s: %s/%d has %d messages, want %d", n.ID, topic, q, len(recs), perQueue)
				}
				return nil
			})
		}
	}
	g.RequireIdenticalQueues(t, topic, queues)
	_, err := os.Stat(filepath.Join(canary, "keep"))
	require.NoError(t, err, "the canary beside the store is gone")
	requireNoStrayFiles(t, c, g)
}

// requireNoStrayFiles checks that nothing was created outside the stores
// and that every ConsumeQueue directory has a valid topic name.
func requireNoStrayFiles(t *testing.T, c *cluster.Cluster, g *cluster.Group) {
	t.Helper()
	top, err := os.ReadDir(c.Dir())
	require.NoError(t, err)
	var names []string
	for _, e := range top {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		require.True(t, n == "canary" || n == g.Name || strings.HasPrefix(n, "ns"), "unexpected entry %q beside the stores (%v)", n, names)
	}
	for _, n := range g.Nodes {
		ents, err := os.ReadDir(filepath.Join(n.Dir, "consumequeue"))
		require.NoError(t, err, "%s lost its consumequeue directory", n.ID)
		for _, e := range ents {
			require.NoError(t, message.ValidateTopic(e.Name()), "%s: consumequeue/%s", n.ID, e.Name())
		}
		_, err = os.Stat(filepath.Join(n.Dir, "commitlog"))
		require.NoError(t, err, "%s lost its commitlog", n.ID)
	}
}

// TestHostile_SlowConnectionsBoundedMemory: 1,000 connections each start
// a 4 MiB frame, send 1 MiB of it and stall. The broker holds at most
// maxPendingFrameBytes for them (the rest waits in TCP), keeps serving,
// and closes the stalled connections once frameReadTimeout passes.
func TestHostile_SlowConnectionsBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 connections")
	}
	const budget = 64 << 20
	c := cluster.Start(t, cluster.Options{Replicas: 1, Config: map[string]string{
		"frameReadTimeout": "5s", "maxPendingFrameBytes": strconv.Itoa(budget)}})
	g := c.Group(0)
	n := g.WaitLeader(t, 20*time.Second)
	w := newWire(t)
	require.Equal(t, int16(0), w.send(n.ClientAddr(), "Slow", 0, "before", nil).Code)
	before := rssBytes(t, n.PID())

	const conns, sent = 1000, 1 << 20
	open := make([]net.Conn, conns)
	defer func() {
		for _, nc := range open {
			if nc != nil {
				nc.Close()
			}
		}
	}()
	frame := binary.BigEndian.AppendUint32(nil, 4<<20)
	frame = binary.BigEndian.AppendUint32(frame, 100)
	frame = append(frame, make([]byte, sent)...)
	var wg sync.WaitGroup
	for i := range open {
		nc, err := net.DialTimeout("tcp", n.DirectAddr(), 5*time.Second)
		require.NoError(t, err)
		open[i] = nc
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc.SetWriteDeadline(time.Now().Add(3 * time.Second))
			nc.Write(frame) // stops when the broker stops reading
		}()
	}
	wg.Wait()
	during := rssBytes(t, n.PID())
	t.Logf("broker RSS: %d MiB before, %d MiB with %d stalled frames (%d MiB sent, maxPendingFrameBytes %d MiB)",
		before>>20, during>>20, conns, conns*sent>>20, budget>>20)
	require.Less(t, during-before, int64(budget+100<<20), "memory is bounded by the budget, not by what was sent (%d MiB)", conns*sent>>20)
	r := w.send(n.ClientAddr(), "Slow", 0, "during", nil)
	require.Equal(t, int16(0), r.Code, r.Remark)
	require.True(t, n.Running())

	// Past frameReadTimeout every stalled connection is closed by the broker.
	cluster.Eventually(t, 20*time.Second, func() error {
		closed := 0
		for _, nc := range open {
			nc.SetReadDeadline(time.Now().Add(time.Millisecond))
			var b [1]byte
			if _, err := nc.Read(b[:]); err != nil && !isTimeout(err) {
				closed++
			}
		}
		if closed < conns {
			return fmt.Errorf("%d of %d stalled connections closed", closed, conns)
		}
		return nil
	})
	require.Equal(t, int16(0), w.send(n.ClientAddr(), "Slow", 0, "after", nil).Code)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// rssBytes reads a process's resident set size from /proc.
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
