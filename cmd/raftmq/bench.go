package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"

	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// latencies is a fixed-resolution histogram: 1 µs buckets up to 200 ms,
// then 1 ms buckets up to 60 s. Recording never allocates.
type latencies struct {
	mu     sync.Mutex
	fine   []uint64 // µs
	coarse []uint64 // ms
	n      uint64
	max    time.Duration
	sum    time.Duration
}

func newLatencies() *latencies {
	return &latencies{fine: make([]uint64, 200_000), coarse: make([]uint64, 60_000)}
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	l.sum += d
	if d > l.max {
		l.max = d
	}
	if us := d.Microseconds(); us < int64(len(l.fine)) {
		l.fine[max(us, 0)]++
	} else {
		l.coarse[min(d.Milliseconds(), int64(len(l.coarse)-1))]++
	}
}

func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		return 0
	}
	target := uint64(math.Ceil(q * float64(l.n)))
	var seen uint64
	for i, c := range l.fine {
		if seen += c; seen >= target {
			return time.Duration(i) * time.Microsecond
		}
	}
	for i, c := range l.coarse {
		if seen += c; seen >= target {
			return time.Duration(i) * time.Millisecond
		}
	}
	return l.max
}

// benchReport is what a bench run prints (or emits as JSON).
type benchReport struct {
	Mode     string         `json:"mode"`
	Topic    string         `json:"topic"`
	Size     int            `json:"size"`
	Senders  int            `json:"senders,omitempty"`
	Batch    int            `json:"batch,omitempty"`
	Messages uint64         `json:"messages"`
	Errors   uint64         `json:"errors"`
	ErrorsBy map[string]int `json:"errorsBy,omitempty"`
	Seconds  float64        `json:"seconds"`
	MsgsPerS float64        `json:"msgsPerSec"`
	MBPerS   float64        `json:"mbPerSec"`
	P50us    int64          `json:"p50us"`
	P95us    int64          `json:"p95us"`
	P99us    int64          `json:"p99us"`
	MaxUs    int64          `json:"maxUs"`
	MeanUs   int64          `json:"meanUs"`
	// The bench process's own CPU (user+sys, getrusage) over the measured
	// window, so that a cluster figure can be read net of the load generator.
	ClientCPUUs       int64   `json:"clientCpuUs"`
	ClientCPUUsPerMsg float64 `json:"clientCpuUsPerMsg"`
}

// processCPU is the user+sys CPU time this process has used so far.
func processCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// setCPU records the client CPU used over the measured window (call after fill).
func (r *benchReport) setCPU(d time.Duration) {
	r.ClientCPUUs = d.Microseconds()
	if r.Messages > 0 {
		r.ClientCPUUsPerMsg = math.Round(float64(d.Nanoseconds())/1e3/float64(r.Messages)*100) / 100
	}
}

func (r *benchReport) fill(n uint64, bytes uint64, elapsed time.Duration, lat *latencies) {
	r.Messages = n
	r.Seconds = elapsed.Seconds()
	if r.Seconds > 0 {
		r.MsgsPerS = float64(n) / r.Seconds
		r.MBPerS = float64(bytes) / r.Seconds / 1e6
	}
	if lat != nil && lat.n > 0 {
		r.P50us = lat.quantile(0.50).Microseconds()
		r.P95us = lat.quantile(0.95).Microseconds()
		r.P99us = lat.quantile(0.99).Microseconds()
		r.MaxUs = lat.max.Microseconds()
		r.MeanUs = (lat.sum / time.Duration(lat.n)).Microseconds()
	}
}

func (r *benchReport) print(w io.Writer, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(r)
	}
	fmt.Fprintf(w, "%s %s: %d msgs of %d B in %.2fs = %.0f msgs/s, %.1f MB/s, errors %d\n",
		r.Mode, r.Topic, r.Messages, r.Size, r.Seconds, r.MsgsPerS, r.MBPerS, r.Errors)
	if r.P50us > 0 || r.MaxUs > 0 {
		fmt.Fprintf(w, "  latency p50 %s  p95 %s  p99 %s  max %s  mean %s\n", us(r.P50us), us(r.P95us), us(r.P99us), us(r.MaxUs), us(r.MeanUs))
	}
	if r.ClientCPUUs > 0 {
		fmt.Fprintf(w, "  client CPU %s (user+sys of this process), %.2f µs per message\n", us(r.ClientCPUUs), r.ClientCPUUsPerMsg)
	}
	keys := make([]string, 0, len(r.ErrorsBy))
	for k := range r.ErrorsBy {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  errors %-40s %d\n", k, r.ErrorsBy[k])
	}
	return nil
}

func us(v int64) string { return (time.Duration(v) * time.Microsecond).String() }

// errKey groups an error for the report: the broker code when there is one.
func errKey(err error) string {
	var be *client.BrokerError
	if errors.As(err, &be) {
		return fmt.Sprintf("code %d %s", be.Code, be.Code)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	s := err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

type errCounter struct {
	mu sync.Mutex
	by map[string]int
	n  atomic.Uint64
}

func (e *errCounter) add(err error) {
	e.n.Add(1)
	e.mu.Lock()
	if e.by == nil {
		e.by = map[string]int{}
	}
	e.by[errKey(err)]++
	e.mu.Unlock()
}

// progress prints a live line on a terminal.
type progress struct {
	w     io.Writer
	tty   bool
	label string
	count func() (uint64, uint64)
	stop  chan struct{}
	done  chan struct{}
}

func isTTY(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func startProgress(w *os.File, label string, count func() (uint64, uint64)) *progress {
	p := &progress{w: w, tty: isTTY(w), label: label, count: count, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		if !p.tty {
			<-p.stop
			return
		}
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var last uint64
		for {
			select {
			case <-p.stop:
				fmt.Fprint(p.w, "\r\033[K")
				return
			case <-t.C:
				n, errs := p.count()
				fmt.Fprintf(p.w, "\r\033[K%s: %d total, %d msgs/s, %d errors", p.label, n, n-last, errs)
				last = n
			}
		}
	}()
	return p
}

func (p *progress) end() {
	close(p.stop)
	<-p.done
}

type benchFlags struct {
	namesrv  string
	topic    string
	size     int
	count    int
	duration time.Duration
	jsonOut  bool
	timeout  time.Duration
	cpuProf  string
}

// profile starts a CPU profile of this process into --cpuprofile, if set;
// the returned func stops it.
func (f *benchFlags) profile() (func(), error) {
	if f.cpuProf == "" {
		return func() {}, nil
	}
	out, err := os.Create(f.cpuProf)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); out.Close() }, nil
}

func (f *benchFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.namesrv, "namesrv", "n", os.Getenv("NAMESRV_ADDR"), "NameServer addresses (ip:port;ip:port)")
	cmd.Flags().StringVarP(&f.topic, "topic", "t", "BenchmarkTest", "topic")
	cmd.Flags().IntVarP(&f.size, "size", "s", 1024, "message body size in bytes")
	cmd.Flags().IntVarP(&f.count, "count", "c", 0, "messages in total (0: run for --duration)")
	cmd.Flags().DurationVarP(&f.duration, "duration", "d", 10*time.Second, "how long to run when --count is 0")
	cmd.Flags().BoolVar(&f.jsonOut, "json", false, "print the report as JSON")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 3*time.Second, "per-request timeout")
	cmd.Flags().StringVar(&f.cpuProf, "cpuprofile", "", "write a CPU profile of the load generator to this file (go tool pprof)")
}

func (f *benchFlags) validate() error {
	if f.namesrv == "" {
		return errors.New("no NameServer: use -n ip:port or set NAMESRV_ADDR")
	}
	if f.size < 16 || f.size > 4<<20 {
		return fmt.Errorf("--size %d out of range [16, 4194304]", f.size)
	}
	if f.count <= 0 && f.duration <= 0 {
		return errors.New("need --count or --duration")
	}
	return nil
}

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure produce, consume and end-to-end throughput and latency",
	}
	cmd.AddCommand(newBenchProduceCmd(), newBenchConsumeCmd(), newBenchE2ECmd())
	return cmd
}

// benchBody embeds the send time so e2e can compute latency.
func benchBody(size int, seq uint64) []byte {
	b := make([]byte, size)
	stampBenchBody(b, seq)
	fill := benchFill.Load()
	if fill == nil || len(*fill) < size {
		f := make([]byte, size)
		for i := range f {
			f[i] = byte('a' + i%26)
		}
		benchFill.Store(&f)
		fill = &f
	}
	copy(b[16:], (*fill)[16:size])
	return b
}

// stampBenchBody writes the send time and seq into a body benchBody made:
// a sender reuses its bodies once their send returned (the frame holds a
// copy), so a message costs 16 bytes of writes, not an allocation.
func stampBenchBody(b []byte, seq uint64) {
	binary.BigEndian.PutUint64(b, uint64(time.Now().UnixNano()))
	binary.BigEndian.PutUint64(b[8:], seq)
}

// benchFill is the filler benchBody copies (a loop per byte was 5 % of
// the load generator's CPU).
var benchFill atomic.Pointer[[]byte]

func newBenchProduceCmd() *cobra.Command {
	var f benchFlags
	var senders, batch, queues int
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Send messages from concurrent senders; report msgs/s, MB/s and ack latency",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			endProf, err := f.profile()
			if err != nil {
				return err
			}
			rep, err := benchProduce(ctx, f, senders, batch, queues, os.Stderr)
			endProf()
			if err != nil {
				return err
			}
			if err := rep.print(cmd.OutOrStdout(), f.jsonOut); err != nil {
				return err
			}
			if rep.Messages == 0 {
				return errors.New("no message was acknowledged")
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().IntVar(&senders, "senders", 64, "concurrent senders (each waits for its ack)")
	cmd.Flags().IntVar(&batch, "batch", 1, "messages per send (SEND_BATCH_MESSAGE when > 1)")
	cmd.Flags().IntVar(&queues, "queues", 8, "queues of the topic (created if missing)")
	return cmd
}

func ensureTopic(ctx context.Context, namesrv, topic string, queues int) error {
	a, err := client.NewAdmin(clientOpts(client.WithNameServers(namesrv))...)
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

func benchProduce(ctx context.Context, f benchFlags, senders, batch, queues int, tty *os.File) (*benchReport, error) {
	if senders < 1 || batch < 1 {
		return nil, errors.New("--senders and --batch must be at least 1")
	}
	if err := ensureTopic(ctx, f.namesrv, f.topic, queues); err != nil {
		return nil, fmt.Errorf("topic %s: %w", f.topic, err)
	}
	p, err := client.NewProducer(clientOpts(client.WithNameServers(f.namesrv), client.WithTimeout(f.timeout), client.WithGroup("BenchProducer"),
		client.WithCompression(1<<30, 0))...)
	if err != nil {
		return nil, err
	}
	defer p.Shutdown(context.Background())
	lat := newLatencies()
	var errs errCounter
	var sent, seq atomic.Uint64
	var budget atomic.Int64
	budget.Store(int64(f.count))
	deadline := time.Now().Add(f.duration)
	if f.count > 0 {
		deadline = time.Now().Add(24 * time.Hour)
	}
	rctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	prog := startProgress(tty, "produce", func() (uint64, uint64) { return sent.Load(), errs.n.Load() })
	cpu0 := processCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < senders; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs := make([]*client.Message, batch)
			bodies := make([][]byte, batch)
			for i := range bodies {
				bodies[i] = benchBody(f.size, 0)
			}
			for rctx.Err() == nil {
				if f.count > 0 && budget.Add(-int64(batch)) < 0 {
					return
				}
				for i := range msgs {
					stampBenchBody(bodies[i], seq.Add(1))
					msgs[i] = client.NewMessage(f.topic, bodies[i])
				}
				t0 := time.Now()
				var err error
				if batch == 1 {
					_, err = p.Send(rctx, msgs[0])
				} else {
					_, err = p.SendBatch(rctx, msgs)
				}
				if err != nil {
					if rctx.Err() == nil {
						errs.add(err)
					}
					continue
				}
				lat.add(time.Since(t0))
				sent.Add(uint64(batch))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	prog.end()
	rep := &benchReport{Mode: "produce", Topic: f.topic, Size: f.size, Senders: senders, Batch: batch, Errors: errs.n.Load(), ErrorsBy: errs.by}
	rep.fill(sent.Load(), sent.Load()*uint64(f.size), elapsed, lat)
	rep.setCPU(cpu)
	return rep, nil
}

func newBenchConsumeCmd() *cobra.Command {
	var f benchFlags
	var group string
	var pullBatch int
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Consume a topic from its first offset with a push consumer; report msgs/s and MB/s",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if group == "" {
				group = fmt.Sprintf("BenchConsumer_%d", time.Now().UnixNano())
			}
			rep, err := benchConsume(ctx, f, group, pullBatch, os.Stderr)
			if err != nil {
				return err
			}
			return rep.print(cmd.OutOrStdout(), f.jsonOut)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVarP(&group, "group", "g", "", "consumer group (default: a new one, reading from the first offset)")
	cmd.Flags().IntVar(&pullBatch, "pull-batch", 256, "messages per pull")
	return cmd
}

func benchConsume(ctx context.Context, f benchFlags, group string, pullBatch int, tty *os.File) (*benchReport, error) {
	var got, bytes atomic.Uint64
	done := make(chan struct{})
	var once sync.Once
	c, err := client.NewPushConsumer(clientOpts(client.WithNameServers(f.namesrv), client.WithGroup(group),
		client.WithConsumeFromWhere(client.ConsumeFromFirstOffset), client.WithPullBatchSize(pullBatch), client.WithConsumeBatchSize(pullBatch))...)
	if err != nil {
		return nil, err
	}
	if err := c.Subscribe(f.topic, "*", func(_ context.Context, msgs []*client.MessageExt) client.ConsumeResult {
		var b uint64
		for _, m := range msgs {
			b += uint64(len(m.Body))
		}
		bytes.Add(b)
		if n := got.Add(uint64(len(msgs))); f.count > 0 && n >= uint64(f.count) {
			once.Do(func() { close(done) })
		}
		return client.ConsumeSuccess
	}); err != nil {
		return nil, err
	}
	prog := startProgress(tty, "consume", func() (uint64, uint64) { return got.Load(), 0 })
	cpu0 := processCPU()
	start := time.Now()
	if err := c.Start(ctx); err != nil {
		prog.end()
		return nil, err
	}
	wait := f.duration
	if f.count > 0 {
		wait = 24 * time.Hour
	}
	select {
	case <-done:
	case <-time.After(wait):
	case <-ctx.Done():
	}
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	prog.end()
	c.Shutdown(context.Background())
	rep := &benchReport{Mode: "consume", Topic: f.topic, Size: f.size}
	rep.fill(got.Load(), bytes.Load(), elapsed, nil)
	rep.setCPU(cpu)
	if f.count > 0 && got.Load() < uint64(f.count) {
		return rep, fmt.Errorf("consumed %d of %d messages", got.Load(), f.count)
	}
	return rep, nil
}

func newBenchE2ECmd() *cobra.Command {
	var f benchFlags
	var rate, queues int
	cmd := &cobra.Command{
		Use:   "e2e",
		Short: "Produce at a fixed rate while consuming; report publish-to-receive latency",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			if rate <= 0 {
				return errors.New("--rate must be positive")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			rep, err := benchE2E(ctx, f, rate, queues)
			if err != nil {
				return err
			}
			return rep.print(cmd.OutOrStdout(), f.jsonOut)
		},
	}
	f.add(cmd)
	cmd.Flags().IntVar(&rate, "rate", 1000, "messages per second to produce")
	cmd.Flags().IntVar(&queues, "queues", 8, "queues of the topic (created if missing)")
	return cmd
}

func benchE2E(ctx context.Context, f benchFlags, rate, queues int) (*benchReport, error) {
	if err := ensureTopic(ctx, f.namesrv, f.topic, queues); err != nil {
		return nil, err
	}
	lat := newLatencies()
	var got atomic.Uint64
	group := fmt.Sprintf("BenchE2E_%d", time.Now().UnixNano())
	c, err := client.NewPushConsumer(clientOpts(client.WithNameServers(f.namesrv), client.WithGroup(group),
		client.WithConsumeFromWhere(client.ConsumeFromLastOffset))...)
	if err != nil {
		return nil, err
	}
	if err := c.Subscribe(f.topic, "*", func(_ context.Context, msgs []*client.MessageExt) client.ConsumeResult {
		now := time.Now().UnixNano()
		for _, m := range msgs {
			if len(m.Body) >= 8 {
				lat.add(time.Duration(now - int64(binary.BigEndian.Uint64(m.Body))))
				got.Add(1)
			}
		}
		return client.ConsumeSuccess
	}); err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	defer c.Shutdown(context.Background())
	time.Sleep(2 * time.Second) // let the consumer take its queues
	p, err := client.NewProducer(clientOpts(client.WithNameServers(f.namesrv), client.WithTimeout(f.timeout), client.WithGroup("BenchE2E"))...)
	if err != nil {
		return nil, err
	}
	defer p.Shutdown(context.Background())
	total := f.count
	if total <= 0 {
		total = int(f.duration.Seconds() * float64(rate))
	}
	var errs errCounter
	interval := time.Second / time.Duration(rate)
	cpu0 := processCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < total && ctx.Err() == nil; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		if err := p.SendAsync(ctx, client.NewMessage(f.topic, benchBody(f.size, uint64(i))), func(_ *client.SendResult, err error) {
			defer wg.Done()
			if err != nil {
				errs.add(err)
			}
		}); err != nil {
			wg.Done()
			errs.add(err)
		}
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for got.Load()+errs.n.Load() < uint64(total) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	rep := &benchReport{Mode: "e2e", Topic: f.topic, Size: f.size, Errors: errs.n.Load(), ErrorsBy: errs.by}
	rep.fill(got.Load(), got.Load()*uint64(f.size), time.Since(start), lat)
	rep.setCPU(processCPU() - cpu0)
	return rep, nil
}
