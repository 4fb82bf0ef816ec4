package cluster_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

// TestBenchCatchUp measures a new member's catch-up of a large retained
// CommitLog (make bench-catchup; RAFTMQ_CATCHUP_MB, default 2048): the
// group fills that much, retention deletes the first segment (so a new
// member can only start from a snapshot), then a member is added and the
// test times addMember -> voter and addMember -> history complete, and
// compares the transfer rate with copying the same segment files on this
// disk (read, write, fsync) in the same run.
func TestBenchCatchUp(t *testing.T) {
	cluster.BenchOnly(t, "RAFTMQ_CATCHUP_BENCH", "bench-catchup")
	mb := cluster.EnvInt("RAFTMQ_CATCHUP_MB", 2048)
	c := cluster.Start(t, cluster.Options{SegmentSize: 64 << 20, Flush: "ASYNC_FLUSH", LogLevel: "warn"})
	g := c.Group(0)
	leader := g.WaitLeader(t, 20*time.Second)
	const topic = "CatchUp"
	c.CreateTopic(t, topic, 8)
	h := cluster.NewHistory()
	const size = 128 << 10
	perProducer := mb<<20/size/8 + 1
	t0 := time.Now()
	load, err := cluster.StartLoad(context.Background(), h, c.NamesrvAddr(), topic, 8, perProducer, size, 20*time.Minute,
		client.WithCompression(0, 0)) // the bodies are compressible; the point is bytes on disk
	require.NoError(t, err)
	load.Wait()
	require.Empty(t, load.FirstError())
	st, err := g.Status(leader)
	require.NoError(t, err)
	t.Logf("filled %d MiB in %s", st.WriteOffset>>20, time.Since(t0).Round(time.Second))
	g.WaitCaughtUp(t, 5*time.Minute)

	// Consume the first messages of every queue, so retention may delete
	// the first segment (and only it, with so little consumed).
	w := newWire(t)
	for q := int32(0); q < 8; q++ {
		hd := transport.UpdateConsumerOffsetRequestHeader{ConsumerGroup: "CatchUpGroup", Topic: topic, QueueID: q, CommitOffset: 80}
		r := w.call(leader.ClientAddr(), transport.NewRequest(transport.ReqUpdateConsumerOffset, hd.Encode(), nil))
		require.Equal(t, int16(0), r.Code, r.Remark)
	}
	ad, err := client.NewAdmin(client.WithNameServers(c.NamesrvAddr()), client.WithTimeout(10*time.Second))
	require.NoError(t, err)
	defer ad.Shutdown(context.Background())
	ctx := context.Background()
	reps, err := ad.DeleteExpiredCommitLog(ctx, g.Name, 0)
	require.NoError(t, err)
	deleted := 0
	for _, r := range reps {
		t.Logf("retention on %s: %+v", r.Node, r)
		deleted += r.DeletedSegments
	}
	require.Positive(t, deleted, "the first segment went: a new member starts from a snapshot")

	// Baseline: copy the leader's segments on the same disk.
	cp := copyBaseline(t, filepath.Join(leader.Dir, "commitlog"))

	n := g.AddNode(t, "n3")
	t1 := time.Now()
	_, err = ad.AddMember(ctx, g.Name, "n3", n.RaftAddr(), 10*time.Minute)
	require.NoError(t, err)
	voter := time.Since(t1)
	ns := g.WaitHistory(t, n, 30*time.Minute)
	all := time.Since(t1)
	rate := float64(ns.History.Total) / 1e6 / all.Seconds()
	t.Logf("CATCHUP addMember->voter %s; addMember->history complete %s; %d MB fetched at %.0f MB/s (fetch phase %.0f MB/s), %d queue units rebuilt",
		voter.Round(time.Millisecond), all.Round(time.Millisecond), ns.History.Total/1e6, rate, ns.History.MBps, ns.History.Messages)
	t.Logf("CATCHUP phases: fetch %d ms, verify+install %d ms, rebuild %d ms (catch-up %d ms after the snapshot install)",
		ns.History.FetchMs, ns.History.InstallMs, ns.History.RebuildMs, ns.History.TookMs)
	t.Logf("CATCHUP baseline: copying the same segments on this disk %.0f MB/s; catch-up/copy = %.2f", cp, rate/cp)
	g.RequireIdenticalCommitLogs(t)
	g.RequireIdenticalQueues(t, topic, 8)
}

// copyBaseline copies every segment of dir to a sibling directory, fsyncs
// and removes the copy, and returns MB/s.
func copyBaseline(t *testing.T, dir string) float64 {
	dst := dir + ".copy"
	require.NoError(t, os.MkdirAll(dst, 0o755))
	defer os.RemoveAll(dst)
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var total int64
	t0 := time.Now()
	for _, e := range ents {
		if len(e.Name()) != 20 {
			continue
		}
		in, err := os.Open(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out, err := os.Create(filepath.Join(dst, e.Name()))
		require.NoError(t, err)
		k, err := io.Copy(out, in)
		require.NoError(t, err)
		require.NoError(t, out.Sync())
		in.Close()
		out.Close()
		total += k
	}
	return float64(total) / 1e6 / time.Since(t0).Seconds()
}
