package transport

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func sendRequestCommand() *Command {
	h := SendMessageRequestHeader{ProducerGroup: "BenchProducerGroup", Topic: "BenchTopic", DefaultTopic: "TBW102",
		DefaultTopicQueueNums: 4, QueueID: 2, BornTimestamp: 1700000000123,
		Properties: "TAGS\x01TagA\x02UNIQ_KEY\x01C0A8000712340000000000d2c2a1b00001\x02WAIT\x01true\x02", BrokerName: "broker-a"}
	return NewRequest(ReqSendMessage, h.Encode(), bytes.Repeat([]byte("x"), 1024))
}

func sendResponseCommand() *Command {
	h := SendMessageResponseHeader{MsgID: "7F00000100002A9F0000000000001234", QueueID: 2, QueueOffset: 123456, MsgRegion: "DefaultRegion"}
	r := NewResponse(RespSuccess, "")
	r.ExtFields, r.Opaque, r.Flag = h.Encode(), 77, FlagResponse
	return r
}

func BenchmarkEncodeFrame(b *testing.B) {
	for _, tc := range []struct {
		name string
		cmd  *Command
		st   SerializeType
	}{
		{"send-request-json", sendRequestCommand(), SerializeJSON},
		{"send-response-json", sendResponseCommand(), SerializeJSON},
		{"send-response-binary", sendResponseCommand(), SerializeRocketMQ},
	} {
		b.Run(tc.name, func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = AppendFrame(buf[:0], tc.cmd, tc.st); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkDecodeFrame reads frames with a FrameReader into a reused
// Command, as a server connection does.
func BenchmarkDecodeFrame(b *testing.B) {
	sendFrame, _ := AppendFrame(nil, sendRequestCommand(), SerializeJSON)
	var newOffsets []byte
	for i := range 1000 {
		newOffsets = append(newOffsets, pullRequestFrame(int32(i), int64(1_000_000+i))...)
	}
	respFrame, _ := AppendFrame(nil, sendResponseCommand(), SerializeJSON)
	sendBinary, _ := AppendFrame(nil, sendRequestCommand(), SerializeRocketMQ)
	for _, tc := range []struct {
		name   string
		stream []byte
		frames int
	}{
		{"pull-repeated", pullRequestFrame(1, 42), 1},
		{"pull-new-offsets", newOffsets, 1000},
		{"send-1KiB", sendFrame, 1}, // properties and timestamp are never interned: one string
		{"send-1KiB-binary-header", sendBinary, 1},
		{"send-response", respFrame, 1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := bytes.NewReader(tc.stream)
			fr := NewFrameReader(r, 0)
			c := getCommand()
			defer putCommand(c)
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.stream) / tc.frames))
			for b.Loop() {
				if err := fr.ReadFrame(c); err != nil {
					r.Reset(tc.stream)
					if err = fr.ReadFrame(c); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
	b.Run("oneshot-DecodeFrame", func(b *testing.B) {
		f := pullRequestFrame(1, 42)
		var c Command
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeFrame(f, &c, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRoundTrip: small request/response pairs over loopback TCP, all
// callers sharing ONE client connection.
func BenchmarkRoundTrip(b *testing.B) {
	for _, callers := range []int{1, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) { benchRoundTrip(b, callers, 0) })
	}
	// As a producer's sends wait: each request also bounded by a timeout.
	b.Run("callers=64/timeout", func(b *testing.B) { benchRoundTrip(b, 64, 3*time.Second) })
}

func benchRoundTrip(b *testing.B, callers int, timeout time.Duration) {
	cfg := DefaultServerConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = hclog.NewNullLogger()
	s, err := NewServer(cfg)
	if err != nil {
		b.Fatal(err)
	}
	s.Handle(ReqGetMaxOffset, func(_ context.Context, _ *Conn, req *Command) *Command {
		r := NewResponse(RespSuccess, "")
		r.ExtFields = map[string]string{"offset": "42"}
		return r
	})
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}()
	ccfg := DefaultClientConfig()
	c, err := NewClient(ccfg)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	addr := s.Addr().String()
	ctx := context.Background()
	ext := (&QueueHeader{Topic: "BenchTopic", QueueID: 1, BrokerName: "broker-a"}).Encode()
	if _, err := c.Invoke(ctx, addr, NewRequest(ReqGetMaxOffset, ext, nil)); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				var resp *Command
				var err error
				if timeout > 0 {
					resp, err = c.InvokeTimeout(ctx, addr, NewRequest(ReqGetMaxOffset, ext, nil), timeout)
				} else {
					resp, err = c.Invoke(ctx, addr, NewRequest(ReqGetMaxOffset, ext, nil))
				}
				if err != nil || resp.Ext("offset") != "42" {
					errs <- fmt.Errorf("round trip: %v %v", resp, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "rt/s")
	if len(s.Conns()) != 1 {
		b.Fatalf("%d connections, want 1", len(s.Conns()))
	}
}

// BenchmarkWriter compares the write strategies on the round-trip path
// (server responses and client requests both go through the writer).
func BenchmarkWriter(b *testing.B) {
	defer func(m writerMode) { defaultWriterMode = m }(defaultWriterMode)
	for _, mode := range []struct {
		name string
		m    writerMode
	}{{"combining", writerCombining}, {"per-frame-mutex", writerPerFrame}, {"goroutine-channel", writerChannel}} {
		for _, callers := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/callers=%d", mode.name, callers), func(b *testing.B) {
				defaultWriterMode = mode.m
				benchRoundTrip(b, callers, 0)
			})
		}
	}
}

// BenchmarkSendHeaderDecode: the typed decode of a send header from its
// ext fields, both namings.
func BenchmarkSendHeaderDecode(b *testing.B) {
	h := SendMessageRequestHeader{ProducerGroup: "BenchProducerGroup", Topic: "BenchTopic", DefaultTopic: "TBW102",
		DefaultTopicQueueNums: 4, QueueID: 3, BornTimestamp: 1_700_000_000_123,
		Properties: "TAGS\x01TagA\x02UNIQ_KEY\x01C0A8000712340000000000d2c2a1b00001\x02WAIT\x01true\x02", BrokerName: "broker-a"}
	for _, tc := range []struct {
		name string
		code RequestCode
		m    map[string]string
	}{{"long-names", ReqSendMessage, h.Encode()}, {"v2-letters", ReqSendMessageV2, h.EncodeV2()}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var got SendMessageRequestHeader
			for i := 0; i < b.N; i++ {
				if err := got.DecodeFor(tc.code, tc.m); err != nil {
					b.Fatal(err)
				}
			}
		})
		// What the broker does: from the pairs a decoded frame leaves.
		b.Run(tc.name+"-from-frame", func(b *testing.B) {
			frame, err := AppendFrame(nil, NewRequest(tc.code, tc.m, nil), SerializeRocketMQ)
			if err != nil {
				b.Fatal(err)
			}
			var c Command
			if _, err := DecodeFrame(frame, &c, 0); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var got SendMessageRequestHeader
			for i := 0; i < b.N; i++ {
				if err := got.DecodeCommand(&c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSendResponse: what every send's answer costs, from the typed
// header to the frame bytes: through the map (Encode), or from sorted
// pairs (EncodeTo, what the broker does).
func BenchmarkSendResponse(b *testing.B) {
	h := SendMessageResponseHeader{MsgID: "7F00000100002A9F0000000000001234", QueueID: 2, QueueOffset: 123456,
		MsgRegion: "DefaultRegion", TraceOn: true, TransactionID: "C0A8000712340000000000d2c2a1b00001"}
	for _, tc := range []struct {
		name string
		set  func(*Command)
	}{
		{"map", func(c *Command) { c.ExtFields = h.Encode() }},
		{"pairs", h.EncodeTo},
	} {
		b.Run(tc.name, func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				r := NewResponse(RespSuccess, "")
				tc.set(r)
				var err error
				if buf, err = AppendFrame(buf[:0], r, SerializeRocketMQ); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
