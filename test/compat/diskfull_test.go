package compat

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

// mountTmpfs mounts a tmpfs of size bytes for the test, or skips it.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("disk-full test needs a small filesystem: mount -t tmpfs failed (%v: %s); run as root (CI does)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

func usedRatio(t *testing.T, dir string) float64 {
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(dir, &st))
	return 1 - float64(st.Bavail)/float64(st.Blocks)
}

// TestOfficialClient_DiskFull fills the disk that a 3-node group shares
// (a small tmpfs) while the official producer sends. Sends are refused
// with a clear "disk full" answer before the disk runs out; no election
// happens; retention, although the disk is above its force-clean ratio,
// deletes no acknowledged message (none is consumed); once the operator
// frees space, sends succeed again by themselves; every acknowledged
// message is still served by every member.
func TestOfficialClient_DiskFull(t *testing.T) {
	const size = 320 << 20
	disk := mountTmpfs(t, size)
	c := cluster.Start(t, cluster.Options{DataDir: disk, SegmentSize: 4 << 20, Config: map[string]string{"maxMessageSize": "1048576"}})
	g := c.Group(0)
	leader := g.WaitLeader(t, 20*time.Second)
	const topic, queues = "DiskFull", 4
	ct := transport.CreateTopicRequestHeader{Topic: topic, ReadQueueNums: queues, WriteQueueNums: queues, Perm: 6}
	r, err := g.Call(leader, transport.NewRequest(transport.ReqUpdateAndCreateTopic, ct.Encode(), nil), 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, int16(0), r.Code, r.Remark)
	st0, err := g.Status(leader)
	require.NoError(t, err)

	p := newProducer(t, c.NamesrvAddr())
	ctx := context.Background()
	acked := map[string]bool{}
	seq := 0
	send := func() error {
		seq++
		// 3.5 KiB: under the 4 KiB above which the client compresses.
		b := append([]byte(fmt.Sprintf("full-%06d-", seq)), bytes.Repeat([]byte{'d'}, 3500)...)
		res, err := p.SendSync(ctx, primitive.NewMessage(topic, b))
		if err == nil && res.Status == primitive.SendOK {
			acked[string(b[:12])] = true
			return nil
		}
		if err == nil {
			err = fmt.Errorf("status %v", res.Status)
		}
		return err
	}
	for i := 0; i < 200; i++ {
		require.NoError(t, send())
	}

	// Someone else fills the disk to 84 %, then the producer goes on.
	filler := filepath.Join(disk, "filler")
	f, err := os.Create(filler)
	require.NoError(t, err)
	fill := int64((0.84 - usedRatio(t, disk)) * size)
	require.Positive(t, fill)
	require.NoError(t, syscall.Fallocate(int(f.Fd()), 0, 0, fill))
	f.Close()
	var refusal error
	for i := 0; i < 20000 && refusal == nil; i++ {
		if err := send(); err != nil {
			refusal = err
		}
	}
	require.Error(t, refusal, "sends must be refused before the disk is full")
	require.Contains(t, refusal.Error(), "disk full", "the refusal says why")
	t.Logf("refused at %.1f%% used after %d acknowledged messages: %v", 100*usedRatio(t, disk), len(acked), refusal)
	require.Less(t, usedRatio(t, disk), 0.99, "refused before the disk ran out")

	// A retention pass runs every 10 s; the disk is above the force-clean
	// ratio, and nothing has been consumed.
	time.Sleep(11 * time.Second)
	require.Error(t, send(), "still refused while the disk is full")
	for _, n := range g.Nodes {
		require.True(t, n.Running(), "%s died: %s", n.ID, n.LogTail(30))
	}
	st1, err := g.Status(leader)
	require.NoError(t, err)
	require.Equal(t, st0.Term, st1.Term, "no election while the disk was full")
	require.True(t, st1.Serving, "the leader kept leading")
	require.True(t, st1.DiskFull)

	// The operator frees space: sends resume without a restart.
	require.NoError(t, os.Remove(filler))
	cluster.Eventually(t, 20*time.Second, send)
	for i := 0; i < 20; i++ {
		require.NoError(t, send())
	}

	// Every acknowledged message is there, on every member.
	g.WaitCaughtUp(t, 30*time.Second)
	for _, n := range g.Nodes {
		got := map[string]bool{}
		for q := int32(0); q < queues; q++ {
			recs, err := g.QueueContent(n, topic, q)
			require.NoError(t, err)
			for _, rec := range recs {
				if i := bytes.Index(rec, []byte("full-")); i >= 0 {
					got[string(rec[i:i+12])] = true
				}
			}
		}
		missing := 0
		for k := range acked {
			if !got[k] {
				missing++
			}
		}
		require.Zero(t, missing, "%s lost %d of %d acknowledged messages", n.ID, missing, len(acked))
	}
	g.RequireIdenticalQueues(t, topic, queues)
}
