package raftlog_test

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/raftmq/raftmq/raftlog"
)

// Benchmarks compare raftlog with hashicorp/raft-wal v0.4.0 and
// raft-boltdb v2 in the same run; every store fsyncs each StoreLogs.
//
//	go test -run '^$' -bench . -benchmem ./raftlog/

type store interface {
	raft.LogStore
	Close() error
}

type walStore struct{ *wal.WAL }

func openStore(b *testing.B, impl string, cacheEntries int) store {
	b.Helper()
	dir := b.TempDir()
	switch impl {
	case "raftlog", "raftlog-fallocate":
		cfg := raftlog.DefaultConfig(dir)
		cfg.SegmentSize = 64 << 20 // raft-wal's default segment size
		cfg.CacheEntries = cacheEntries
		cfg.Retention.CheckInterval = 0
		if impl == "raftlog-fallocate" {
			cfg.Preallocate = raftlog.PreallocFallocate
		}
		l, err := raftlog.Open(cfg)
		if err != nil {
			b.Fatal(err)
		}
		if cfg.Preallocate == raftlog.PreallocZero {
			// Steady state: the next segment is prepared in the background
			// long before it is needed.
			waitFile(b, filepath.Join(dir, "commitlog", ".prealloc"))
		}
		return l
	case "raftwal":
		w, err := wal.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		return walStore{w}
	case "boltdb":
		s, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	b.Fatalf("unknown store %q", impl)
	return nil
}

var impls = []string{"raftlog", "raftlog-fallocate", "raftwal", "boltdb"}

func waitFile(b *testing.B, path string) {
	for i := 0; i < 1000; i++ {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatalf("%s did not appear", path)
}

func makeBatch(n, size int) []*raft.Log {
	rng := rand.New(rand.NewSource(1))
	logs := make([]*raft.Log, n)
	for i := range logs {
		data := make([]byte, size)
		rng.Read(data)
		logs[i] = &raft.Log{Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: time.Now()}
	}
	return logs
}

// BenchmarkStoreLogs: batches of 1, 16 and 256 entries of 1 KiB, fsync per
// batch. ns/op is the latency of one StoreLogs; entries/s and MB/s are
// throughput; p50/p99 are per-batch latencies in microseconds.
func BenchmarkStoreLogs(b *testing.B) {
	for _, batch := range []int{1, 16, 256} {
		for _, impl := range impls {
			b.Run(fmt.Sprintf("batch=%d/%s", batch, impl), func(b *testing.B) {
				s := openStore(b, impl, 1024)
				defer s.Close()
				logs := makeBatch(batch, 1024)
				lat := make([]time.Duration, 0, b.N)
				next := uint64(1)
				b.SetBytes(int64(batch * 1024))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					for _, l := range logs {
						l.Index = next
						next++
					}
					t0 := time.Now()
					if err := s.StoreLogs(logs); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
				}
				b.StopTimer()
				reportLatency(b, lat)
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "entries/s")
			})
		}
	}
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
}

const readEntries = 20000

func filled(b *testing.B, impl string, cacheEntries int) store {
	s := openStore(b, impl, cacheEntries)
	logs := makeBatch(256, 1024)
	next := uint64(1)
	for next <= readEntries {
		for _, l := range logs {
			l.Index = next
			next++
		}
		if err := s.StoreLogs(logs); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkGetLog: random reads of 1 KiB entries. "cached" hits raftlog's
// in-memory tail (the entries raft just appended and replicates next);
// the others read from files (page cache).
func BenchmarkGetLog(b *testing.B) {
	cases := []struct {
		name   string
		impl   string
		cache  int
		window uint64 // reads fall in the last window entries
	}{
		{"cached/raftlog", "raftlog", 1024, 512},
		{"uncached/raftlog", "raftlog", 0, readEntries},
		{"uncached/raftwal", "raftwal", 0, readEntries},
		{"uncached/boltdb", "boltdb", 0, readEntries},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s := filled(b, c.impl, c.cache)
			defer s.Close()
			last, _ := s.LastIndex()
			rng := rand.New(rand.NewSource(2))
			idx := make([]uint64, 4096)
			for i := range idx {
				idx[i] = last - uint64(rng.Int63n(int64(c.window)))
			}
			var l raft.Log
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.GetLog(idx[i%len(idx)], &l); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSequentialRead reads every entry in order (MB/s of payload).
func BenchmarkSequentialRead(b *testing.B) {
	for _, impl := range []string{"raftlog", "raftwal", "boltdb"} {
		b.Run(impl, func(b *testing.B) {
			s := filled(b, impl, 0)
			defer s.Close()
			b.SetBytes(readEntries * 1024)
			var l raft.Log
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := uint64(1); j <= readEntries; j++ {
					if err := s.GetLog(j, &l); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkStoreLogsAsync: one 32 KiB entry per StoreLogs (the size of an
// entry of batched sends) under AsyncFlush, so that ns/op is the CPU of
// the write path (encoding and the write into page cache), not fsync.
func BenchmarkStoreLogsAsync(b *testing.B) {
	cfg := raftlog.DefaultConfig(b.TempDir())
	cfg.Flush = raftlog.AsyncFlush
	cfg.Retention.CheckInterval = 0
	l, err := raftlog.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	logs := makeBatch(1, 32<<10)
	b.SetBytes(32 << 10)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		logs[0].Index = uint64(i + 1)
		if err := l.StoreLogs(logs); err != nil {
			b.Fatal(err)
		}
	}
}
