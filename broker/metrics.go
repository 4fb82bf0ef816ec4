package broker

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the broker's Prometheus metrics, served at /metrics on
// metricsAddr. Each broker has its own registry (several run in one
// process in tests and `raftmq dev`).
type metrics struct {
	b   *Broker
	reg *prometheus.Registry
	srv *http.Server

	putTotal atomic.Uint64
	getTotal atomic.Uint64

	messagesIn    prometheus.Counter
	bytesIn       prometheus.Counter
	messagesOut   prometheus.Counter
	bytesOut      prometheus.Counter
	sendLatency   prometheus.Histogram
	sendErrors    prometheus.Counter
	entries       prometheus.Counter
	entryCommands prometheus.Histogram
	forwarded     prometheus.Counter
	aclDenied     prometheus.Counter
	leaderChanges prometheus.Counter
	parkedPulls   prometheus.Gauge
	storeSeconds  prometheus.Histogram
	syncSeconds   prometheus.Histogram
	storeEntries  prometheus.Histogram
	applySeconds  prometheus.Histogram
	txnEnds       *prometheus.CounterVec
	txnChecks     prometheus.Counter

	// The rocketmq_* figures (metrics_rocketmq.go).
	maxTopics, maxGroups int
	pullMu               sync.RWMutex
	pullCounts           map[pullKey]*pullCount // by consumer group and topic: this member's pulls
	untrackedPulls       prometheus.Counter
	rates                struct{ broker, topics, pulls, pullBytes *rateWindow }
	seen                 map[pullKey]pullSeen // owned by the collector (under collectMu)
	collectMu            sync.Mutex
	rmq                  rocketmqDescs
}

func (m *metrics) txnEnded(outcome string) { m.txnEnds.WithLabelValues(outcome).Inc() }

// ObserveStore implements raftlog.Observer.
func (m *metrics) ObserveStore(entries, _ int, total, sync time.Duration) {
	m.storeSeconds.Observe(total.Seconds())
	m.syncSeconds.Observe(sync.Seconds())
	m.storeEntries.Observe(float64(entries))
}

func (m *metrics) observeApply(_ int, d time.Duration) { m.applySeconds.Observe(d.Seconds()) }

func newMetrics(b *Broker) *metrics {
	m := &metrics{b: b, reg: prometheus.NewRegistry()}
	f := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "raftmq", Name: name, Help: help})
		m.reg.MustRegister(c)
		return c
	}
	m.messagesIn = f("messages_in_total", "Messages stored by sends this node led.")
	m.bytesIn = f("bytes_in_total", "Record bytes stored by sends this node led.")
	m.messagesOut = f("messages_out_total", "Messages returned by pulls.")
	m.bytesOut = f("bytes_out_total", "Record bytes returned by pulls.")
	m.sendErrors = f("send_errors_total", "Sends that failed after validation (raft errors).")
	m.entries = f("raft_entries_proposed_total", "Raft entries proposed by the group-commit batcher.")
	m.forwarded = f("forwarded_requests_total", "Client requests this follower forwarded to the leader.")
	m.aclDenied = f("acl_denied_total", "Client requests refused by the ACL.")
	m.leaderChanges = f("leader_elected_total", "Times this node became the serving leader.")
	m.sendLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "raftmq", Name: "send_latency_seconds",
		Help: "Send latency from request to majority commit.", Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)})
	m.entryCommands = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "raftmq", Name: "raft_entry_commands",
		Help: "Commands (send requests) packed per raft entry.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)})
	m.parkedPulls = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "raftmq", Name: "parked_pulls", Help: "Long-poll pulls waiting."})
	lat := prometheus.ExponentialBuckets(0.00005, 2, 14)
	m.storeSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "raftmq", Name: "commitlog_store_seconds",
		Help: "Duration of one CommitLog append (raft StoreLogs), fsync included.", Buckets: lat})
	m.syncSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "raftmq", Name: "commitlog_fsync_seconds",
		Help: "fdatasync part of each CommitLog append (SYNC_FLUSH).", Buckets: lat})
	m.storeEntries = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "raftmq", Name: "commitlog_store_entries",
		Help: "Raft entries per CommitLog append.", Buckets: prometheus.ExponentialBuckets(1, 2, 10)})
	m.applySeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "raftmq", Name: "fsm_apply_seconds",
		Help: "Duration of one FSM ApplyBatch (ConsumeQueue and IndexFile updates).", Buckets: lat})
	m.txnChecks = f("transaction_checks_total", "Transaction check-backs this leader sent (CHECK_TRANSACTION_STATE).")
	m.txnEnds = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "raftmq", Name: "transactions_ended_total",
		Help: "Transactions this leader ended, by outcome (commit, rollback, discard)."}, []string{"outcome"})
	m.reg.MustRegister(m.txnEnds)
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "raftmq", Name: "transactions_open",
		Help: "Open transactions (half messages not yet committed, rolled back or discarded)."}, func() float64 {
		if b.g == nil {
			return 0
		}
		return float64(b.g.OpenTxns())
	}))
	m.reg.MustRegister(m.sendLatency, m.entryCommands, m.parkedPulls, m.storeSeconds, m.syncSeconds, m.storeEntries, m.applySeconds)
	m.untrackedPulls = f("metrics_untracked_pulls_total", "Messages pulled that rocketmq_consumer_tps does not attribute (its group and topic table was full).")
	m.initRocketMQ()
	// The status gauges (raftmq_is_leader, raftmq_raft_*, raftmq_history_*,
	// raftmq_commitlog_bytes, raftmq_disk_*) read the group once per scrape;
	// the metrics server stops before the group does.
	m.reg.MustRegister(newStatusCollector(b), &rocketmqCollector{m: m})
	return m
}

func (m *metrics) entry(cmds, _ int) {
	m.entries.Inc()
	m.entryCommands.Observe(float64(cmds))
}

func (m *metrics) sent(n, bytes int, _ string, d time.Duration) {
	m.putTotal.Add(uint64(n))
	m.messagesIn.Add(float64(n))
	m.bytesIn.Add(float64(bytes))
	m.sendLatency.Observe(d.Seconds())
}

// pulled counts the messages a pull of group returned from topic.
func (m *metrics) pulled(group, topic string, n, bytes int) {
	m.getTotal.Add(uint64(n))
	m.messagesOut.Add(float64(n))
	m.bytesOut.Add(float64(bytes))
	m.countPull(group, topic, n, bytes)
}

func (m *metrics) start() {
	addr := m.b.cfg.MetricsAddr
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		m.b.logger.Warn("metrics listener failed", "addr", addr, "error", err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	// Profiles for operators chasing latency (same listener as metrics).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	m.b.goFunc(func() {
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.b.logger.Warn("metrics server stopped", "error", err)
		}
	})
	m.b.logger.Info("serving metrics", "addr", ln.Addr().String())
}

func (m *metrics) shutdown(ctx context.Context) {
	if m.srv != nil {
		m.srv.Shutdown(ctx)
	}
}
