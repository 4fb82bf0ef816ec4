package fsm

import (
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/raftmq/raftmq/fsm/indexfile"
	"github.com/raftmq/raftmq/raftlog"
)

// BenchmarkApplyEntry256 applies entries of 256 1 KiB messages (tags, one
// key and a UNIQ_KEY each, spread over 8 queues as 8 commands of 32, the
// shape batched sends produce): the follower's per-message work. ns/op and
// allocs/op are per entry; msgs/s is reported too.
func BenchmarkApplyEntry256(b *testing.B) {
	dir := b.TempDir()
	lc := raftlog.DefaultConfig(dir)
	lc.SegmentSize = 256 << 20
	lc.Retention.CheckInterval = 0
	l, err := raftlog.Open(lc)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	cfg := DefaultConfig(dir, l)
	cfg.Index = indexfile.Config{SlotCount: 500_000, MaxEntries: 2_000_000}
	f, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	body := make([]byte, 1024)
	entry := func(n int) []byte {
		var eb EntryBuilder
		for q := 0; q < 8; q++ {
			recs := make([][]byte, 0, 32)
			for i := 0; i < 32; i++ {
				recs = append(recs, record(b, "Bench", int32(q), string(body), map[string]string{
					"TAGS": "TagA", "KEYS": fmt.Sprintf("order-%d-%d-%d", n, q, i), "UNIQ_KEY": fmt.Sprintf("U%08d%03d%02d", n, q, i)}))
			}
			eb.AddRecords(recs...)
		}
		return append([]byte(nil), eb.Bytes()...)
	}
	// Entries are prepared (and stored) before the clock starts: apply only.
	logs := make([]*raft.Log, b.N)
	for i := range logs {
		logs[i] = &raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: entry(i)}
		if err := l.StoreLogs(logs[i : i+1]); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(logs[0].Data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range logs {
		f.ApplyBatch(logs[i : i+1])
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*256)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*256), "ns/msg")
}
