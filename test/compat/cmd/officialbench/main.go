// Command officialbench loads a raftmq cluster with the official
// apache/rocketmq-client-go producer: N sends in flight for a duration (or a
// message count), then one report in the format of `raftmq bench produce
// --json` (msgs/s, ack latency percentiles in µs, the process's own CPU), so
// scripts/bench-cluster.sh can put it in the same table as raftmq's client.
//
// In flight means -inflight goroutines each calling SendSync and waiting for
// its ack (the shape of raftmq bench's senders), or with -async one loop
// calling SendAsync under a semaphore of -inflight permits.
//
//	officialbench -n 127.0.0.1:9876 -t Bench -inflight 256 -duration 20s -json
//
// It only talks to the NameServer it is given and the brokers that it names;
// every run is bounded by -duration or -count (and -timeout per send).
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
	"github.com/raftmq/raftmq/client"
)

// report has the fields of raftmq bench's benchReport (cmd/raftmq/bench.go)
// plus the client's name.
type report struct {
	Mode              string               `json:"mode"`
	Client            string               `json:"client"`
	Topic             string               `json:"topic"`
	Size              int                  `json:"size"`
	Senders           int                  `json:"senders,omitempty"`
	Batch             int                  `json:"batch,omitempty"`
	Messages          uint64               `json:"messages"`
	Errors            uint64               `json:"errors"`
	ErrorsBy          map[string]int       `json:"errorsBy,omitempty"`
	ErrorSamples      map[string]errSample `json:"errorSamples,omitempty"`
	Seconds           float64              `json:"seconds"`
	MsgsPerS          float64              `json:"msgsPerSec"`
	MBPerS            float64              `json:"mbPerSec"`
	P50us             int64                `json:"p50us"`
	P95us             int64                `json:"p95us"`
	P99us             int64                `json:"p99us"`
	MaxUs             int64                `json:"maxUs"`
	MeanUs            int64                `json:"meanUs"`
	ClientCPUUs       int64                `json:"clientCpuUs"`
	ClientCPUUsPerMsg float64              `json:"clientCpuUsPerMsg"`
}

// histogram is raftmq bench's: 1 µs buckets up to 200 ms, then 1 ms
// buckets up to 60 s.
type histogram struct {
	mu     sync.Mutex
	fine   [200_000]uint64
	coarse [60_000]uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
}

func (h *histogram) add(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	h.sum += d
	h.max = max(h.max, d)
	if us := d.Microseconds(); us < int64(len(h.fine)) {
		h.fine[max(us, 0)]++
	} else {
		h.coarse[min(d.Milliseconds(), int64(len(h.coarse)-1))]++
	}
}

func (h *histogram) quantileUs(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	target := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for i, c := range h.fine {
		if seen += c; seen >= target {
			return int64(i)
		}
	}
	for i, c := range h.coarse {
		if seen += c; seen >= target {
			return int64(i) * 1000
		}
	}
	return h.max.Microseconds()
}

type errCounter struct {
	mu     sync.Mutex
	by     map[string]int
	sample map[string]errSample
	start  time.Time
	n      atomic.Uint64
}

// errSample tells one kind of error apart: its first full text and when
// (seconds into the run) it was first and last seen.
type errSample struct {
	Text  string  `json:"text"`
	First float64 `json:"firstS"`
	Last  float64 `json:"lastS"`
}

func (e *errCounter) add(err error) {
	e.n.Add(1)
	k := err.Error()
	if errors.Is(err, context.DeadlineExceeded) {
		k = "timeout"
	}
	if len(k) > 60 {
		k = k[:60]
	}
	e.mu.Lock()
	if e.by == nil {
		e.by = map[string]int{}
	}
	e.by[k]++
	if e.sample == nil {
		e.sample = map[string]errSample{}
	}
	at := time.Since(e.start).Seconds()
	sm, ok := e.sample[k]
	if !ok {
		sm = errSample{Text: err.Error(), First: at}
	}
	sm.Last = at
	e.sample[k] = sm
	e.mu.Unlock()
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// body is raftmq bench's message body: send time, sequence, filler.
func body(size int, seq uint64) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint64(b, uint64(time.Now().UnixNano()))
	binary.BigEndian.PutUint64(b[8:], seq)
	for i := 16; i < size; i++ {
		b[i] = byte('a' + i%26)
	}
	return b
}

func ensureTopic(ctx context.Context, namesrv, topic string, queues int) error {
	a, err := client.NewAdmin(client.WithNameServers(namesrv))
	if err != nil {
		return err
	}
	defer a.Shutdown(context.Background())
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := a.TopicRoute(cctx, topic); err == nil {
		return nil
	}
	return a.CreateTopic(cctx, client.TopicConfig{Topic: topic, ReadQueues: queues, WriteQueues: queues}, client.Target{})
}

func main() {
	namesrv := flag.String("n", os.Getenv("NAMESRV_ADDR"), "NameServer addresses (ip:port;ip:port)")
	topic := flag.String("t", "BenchOfficial", "topic (created with 8 queues if missing)")
	queues := flag.Int("queues", 8, "queues of the topic when it is created")
	size := flag.Int("size", 1024, "message body size in bytes")
	inflight := flag.Int("inflight", 256, "sends in flight")
	batch := flag.Int("batch", 1, "messages per SendSync (above 1: the official client's batch path, SEND_BATCH_MESSAGE)")
	async := flag.Bool("async", false, "one loop of SendAsync under a semaphore instead of -inflight goroutines of SendSync")
	count := flag.Int("count", 0, "messages in total (0: run for -duration)")
	duration := flag.Duration("duration", 10*time.Second, "how long to send when -count is 0")
	timeout := flag.Duration("timeout", 3*time.Second, "per-send timeout (the producer's SendMsgTimeout)")
	retries := flag.Int("retries", 2, "the producer's retries of a failed SendSync")
	asJSON := flag.Bool("json", false, "print the report as one JSON line")
	flag.Parse()
	if *namesrv == "" {
		fatal(errors.New("no NameServer: use -n ip:port or set NAMESRV_ADDR"))
	}
	if *size < 16 || *inflight < 1 || (*count <= 0 && *duration <= 0) || *batch < 1 || *batch > 1024 {
		fatal(errors.New("need -size >= 16, -inflight >= 1, -batch in [1, 1024] and -count or -duration"))
	}
	if *async && *batch > 1 {
		fatal(errors.New("-batch works with SendSync only (not -async)"))
	}
	rlog.SetLogLevel("error")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := ensureTopic(ctx, *namesrv, *topic, *queues); err != nil {
		fatal(fmt.Errorf("topic %s: %w", *topic, err))
	}
	p, err := rocketmq.NewProducer(producer.WithNameServer(strings.Split(*namesrv, ";")),
		producer.WithGroupName("OfficialBench"), producer.WithRetry(*retries), producer.WithSendMsgTimeout(*timeout))
	if err != nil {
		fatal(err)
	}
	if err := p.Start(); err != nil {
		fatal(err)
	}
	defer func() { _ = p.Shutdown() }()
	// One send before the clock starts: the route lookup and the connection.
	wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
	for {
		_, err := p.SendSync(wctx, primitive.NewMessage(*topic, body(*size, 0)))
		if err == nil {
			break
		}
		if wctx.Err() != nil {
			wcancel()
			fatal(fmt.Errorf("warm-up send: %w", err))
		}
		time.Sleep(200 * time.Millisecond)
	}
	wcancel()

	deadline := time.Now().Add(*duration)
	if *count > 0 {
		deadline = time.Now().Add(24 * time.Hour)
	}
	rctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var (
		lat         = new(histogram)
		errs        errCounter
		sent, seq   atomic.Uint64
		budget      atomic.Int64
		wg          sync.WaitGroup
		cpu0        = processCPU()
		start       = time.Now()
		ackedInTime = func() bool { return rctx.Err() == nil }
		// An error counts if it came before the run's end, or after a
		// whole per-send timeout. Sends cut short by the end are not
		// errors: the official client then fails them with its own
		// deadline before the context's timer has fired (as "dial tcp
		// ...: i/o timeout" when it re-dials past the deadline).
		countable      = func(t0 time.Time) bool { return time.Now().Before(deadline) || time.Since(t0) >= *timeout }
		takeFromBudget = func(n int) bool { return *count <= 0 || budget.Add(-int64(n)) >= 0 }
	)
	budget.Store(int64(*count))
	errs.start = start
	if *async {
		sem := make(chan struct{}, *inflight)
	loop:
		for ackedInTime() && takeFromBudget(1) {
			select {
			case sem <- struct{}{}:
			case <-rctx.Done():
				break loop
			}
			wg.Add(1)
			t0 := time.Now()
			err := p.SendAsync(rctx, func(_ context.Context, r *primitive.SendResult, err error) {
				defer wg.Done()
				defer func() { <-sem }()
				if err == nil && r.Status != primitive.SendOK {
					err = fmt.Errorf("status %v", r.Status)
				}
				if err != nil {
					if countable(t0) {
						errs.add(err)
					}
					return
				}
				lat.add(time.Since(t0))
				sent.Add(1)
			}, primitive.NewMessage(*topic, body(*size, seq.Add(1))))
			if err != nil {
				wg.Done()
				<-sem
				errs.add(err)
				time.Sleep(10 * time.Millisecond)
			}
		}
	} else {
		for w := 0; w < *inflight; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				msgs := make([]*primitive.Message, *batch)
				for ackedInTime() && takeFromBudget(len(msgs)) {
					for i := range msgs {
						msgs[i] = primitive.NewMessage(*topic, body(*size, seq.Add(1)))
					}
					t0 := time.Now()
					r, err := p.SendSync(rctx, msgs...)
					if err == nil && r.Status != primitive.SendOK {
						err = fmt.Errorf("status %v", r.Status)
					}
					if err != nil {
						if countable(t0) {
							errs.add(err)
						}
						continue
					}
					lat.add(time.Since(t0))
					sent.Add(uint64(len(msgs)))
				}
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0

	n := sent.Load()
	rep := report{Mode: "produce", Client: "rocketmq-client-go", Topic: *topic, Size: *size, Senders: *inflight, Batch: *batch,
		Messages: n, Errors: errs.n.Load(), ErrorsBy: errs.by, ErrorSamples: errs.sample, Seconds: elapsed.Seconds(),
		P50us: lat.quantileUs(0.50), P95us: lat.quantileUs(0.95), P99us: lat.quantileUs(0.99), MaxUs: lat.max.Microseconds(),
		ClientCPUUs: cpu.Microseconds()}
	if rep.Seconds > 0 {
		rep.MsgsPerS = float64(n) / rep.Seconds
		rep.MBPerS = float64(n) * float64(*size) / rep.Seconds / 1e6
	}
	if lat.n > 0 {
		rep.MeanUs = (lat.sum / time.Duration(lat.n)).Microseconds()
	}
	if n > 0 {
		rep.ClientCPUUsPerMsg = math.Round(float64(cpu.Nanoseconds())/1e3/float64(n)*100) / 100
	}
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(rep)
	} else {
		fmt.Printf("official produce %s: %d msgs of %d B in %.2fs = %.0f msgs/s, %.1f MB/s, errors %d\n",
			rep.Topic, rep.Messages, rep.Size, rep.Seconds, rep.MsgsPerS, rep.MBPerS, rep.Errors)
		fmt.Printf("  latency p50 %dµs  p95 %dµs  p99 %dµs  max %dµs  mean %dµs\n", rep.P50us, rep.P95us, rep.P99us, rep.MaxUs, rep.MeanUs)
		fmt.Printf("  client CPU %dµs (user+sys of this process), %.2f µs per message\n", rep.ClientCPUUs, rep.ClientCPUUsPerMsg)
		keys := make([]string, 0, len(rep.ErrorsBy))
		for k := range rep.ErrorsBy {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Printf("  errors %-40s %d\n", k, rep.ErrorsBy[k])
		}
	}
	if n == 0 {
		fatal(errors.New("no message was acknowledged"))
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "officialbench:", err)
	os.Exit(1)
}
