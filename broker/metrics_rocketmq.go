package broker

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/message"
)

// The rocketmq_* metrics carry rocketmq-exporter's names and label names,
// computed from the broker's own state at scrape time (nothing on the send
// path; one table lookup per pull response on the pull path).
//
// Who reports what, so that summing over every scraped member of a
// cluster counts each figure once:
//   - the group's replicated state (topic and consumer offsets, diffs,
//     consume latency, topic rates) is reported only by the member serving
//     as its group's leader; followers leave those families empty;
//   - work a member does itself is reported by every member: puts it led
//     (rocketmq_broker_tps, only ever non-zero on the leader), and pulls it
//     served (rocketmq_broker_qps, rocketmq_consumer_tps,
//     rocketmq_consumer_message_size): any member serves pulls.
//
// The *_tps and *_size figures are rates over the last ratePeriod (60 s,
// like RocketMQ's per-minute broker stats the exporter reads), from
// samples of the totals taken at scrapes at most every rateStep.
// rocketmq_producer_offset and rocketmq_consumer_offset are totals that
// only grow (while one member leads): rate() over them is the exact rate.

const (
	ratePeriod = time.Minute
	rateStep   = 10 * time.Second
	// pullIdle: a (group, topic) without pulls for this long leaves the
	// pull table (it re-enters with its next pull).
	pullIdle = 10 * time.Minute
	// latencyReads bounds the CommitLog reads of one scrape for
	// rocketmq_group_get_latency_by_storetime (one per lagging queue).
	latencyReads = 8192

	defaultMetricsMaxTopics = 1000
	defaultMetricsMaxGroups = 2000
)

type pullKey struct{ group, topic string }

type pullCount struct{ msgs, bytes atomic.Uint64 }

// pullSeen is when a pull table entry last moved (collector state).
type pullSeen struct {
	msgs uint64
	at   time.Time
}

type rocketmqDescs struct {
	brokerTPS, brokerQPS                   *prometheus.Desc
	consumerTPS, consumerSize              *prometheus.Desc
	producerOffset, producerTPS            *prometheus.Desc
	retryOffset, dlqOffset                 *prometheus.Desc
	consumerOffset, accumulation, latency  *prometheus.Desc
	groupDiff, groupRetryDiff              *prometheus.Desc
	dropped                                *prometheus.Desc
	consumerLabels, topicLabels, diffLabel []string
}

func (m *metrics) initRocketMQ() {
	b := m.b
	m.maxTopics, m.maxGroups = b.cfg.MetricsMaxTopics, b.cfg.MetricsMaxGroups
	if m.maxTopics <= 0 {
		m.maxTopics = defaultMetricsMaxTopics
	}
	if m.maxGroups <= 0 {
		m.maxGroups = defaultMetricsMaxGroups
	}
	m.pullCounts = map[pullKey]*pullCount{}
	m.seen = map[pullKey]pullSeen{}
	m.rates.broker = newRateWindow(ratePeriod, rateStep)
	m.rates.topics = newRateWindow(ratePeriod, rateStep)
	m.rates.pulls = newRateWindow(ratePeriod, rateStep)
	m.rates.pullBytes = newRateWindow(ratePeriod, rateStep)
	group := prometheus.Labels{"cluster": b.cfg.ClusterName, "broker": b.cfg.BrokerName}
	member := prometheus.Labels{"cluster": b.cfg.ClusterName, "broker": b.cfg.BrokerName, "brokerIP": b.clientAddr}
	d := &m.rmq
	d.brokerTPS = prometheus.NewDesc("rocketmq_broker_tps",
		"Messages per second stored by sends this member led (rate over the last minute); non-zero on the leader only.", nil, member)
	d.brokerQPS = prometheus.NewDesc("rocketmq_broker_qps",
		"Messages per second returned by pulls this member served (rate over the last minute); every member serves pulls.", nil, member)
	d.consumerTPS = prometheus.NewDesc("rocketmq_consumer_tps",
		"Messages per second of topic pulled by consumer group from this member (rate over the last minute); sum over members.", []string{"topic", "group"}, member)
	d.consumerSize = prometheus.NewDesc("rocketmq_consumer_message_size",
		"Record bytes per second of topic pulled by consumer group from this member (rate over the last minute); sum over members.", []string{"topic", "group"}, member)
	d.producerOffset = prometheus.NewDesc("rocketmq_producer_offset",
		"Sum of the topic's queue max offsets: messages ever stored in it (leader only).", []string{"topic"}, group)
	d.producerTPS = prometheus.NewDesc("rocketmq_producer_tps",
		"Messages per second stored in the topic (rate of rocketmq_producer_offset over the last minute; leader only).", []string{"topic"}, group)
	d.retryOffset = prometheus.NewDesc("rocketmq_topic_retry_offset",
		"Sum of the queue max offsets of a %RETRY% topic (leader only).", []string{"topic"}, group)
	d.dlqOffset = prometheus.NewDesc("rocketmq_topic_dlq_offset",
		"Sum of the queue max offsets of a consumer group's %DLQ% topic: messages dead-lettered (leader only).", []string{"group"}, group)
	d.consumerLabels = []string{"topic", "group"}
	d.consumerOffset = prometheus.NewDesc("rocketmq_consumer_offset",
		"Sum of the consumer group's committed offsets on the topic's queues (leader only).", d.consumerLabels, group)
	d.accumulation = prometheus.NewDesc("rocketmq_message_accumulation",
		"Messages of the topic the consumer group has not committed yet: rocketmq_group_diff with stable labels (leader only).", d.consumerLabels, group)
	d.latency = prometheus.NewDesc("rocketmq_group_get_latency_by_storetime",
		"Milliseconds since the oldest message the consumer group has not committed was stored (0: caught up; leader only).", d.consumerLabels, group)
	d.diffLabel = []string{"group", "topic", "countOfOnlineConsumers", "msgModel"}
	d.groupDiff = prometheus.NewDesc("rocketmq_group_diff",
		"Consumer lag: sum over the topic's queues of max offset minus the group's committed offset (leader only).", d.diffLabel, group)
	d.groupRetryDiff = prometheus.NewDesc("rocketmq_group_retrydiff",
		"Consumer lag on the group's %RETRY% topic (leader only).", d.diffLabel, group)
	d.dropped = prometheus.NewDesc("raftmq_metrics_series_dropped",
		"Series left out of the last scrape by metricsMaxTopics (family=topics), metricsMaxGroups (groups) or the latency read budget (latency).",
		[]string{"family"}, nil)
}

// countPull attributes a pull's messages to its group and topic. The
// table holds at most maxGroups entries; idle ones leave at scrapes.
func (m *metrics) countPull(group, topic string, n, bytes int) {
	k := pullKey{group, topic}
	m.pullMu.RLock()
	c := m.pullCounts[k]
	m.pullMu.RUnlock()
	if c == nil {
		m.pullMu.Lock()
		if c = m.pullCounts[k]; c == nil && len(m.pullCounts) < m.maxGroups {
			c = &pullCount{}
			m.pullCounts[k] = c
		}
		m.pullMu.Unlock()
		if c == nil {
			m.untrackedPulls.Add(float64(n))
			return
		}
	}
	c.msgs.Add(uint64(n))
	c.bytes.Add(uint64(bytes))
}

// rocketmqCollector computes the rocketmq_* families at scrape time.
type rocketmqCollector struct{ m *metrics }

func (c *rocketmqCollector) Describe(ch chan<- *prometheus.Desc) {
	d := &c.m.rmq
	for _, x := range []*prometheus.Desc{d.brokerTPS, d.brokerQPS, d.consumerTPS, d.consumerSize, d.producerOffset, d.producerTPS,
		d.retryOffset, d.dlqOffset, d.consumerOffset, d.accumulation, d.latency, d.groupDiff, d.groupRetryDiff, d.dropped} {
		ch <- x
	}
}

func (c *rocketmqCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	if m.b.g == nil {
		return
	}
	// One scrape at a time: the rate windows and pull bookkeeping are
	// shared (two Prometheus servers may scrape together).
	m.collectMu.Lock()
	defer m.collectMu.Unlock()
	now := time.Now()
	m.collectMember(ch, now)
	if !m.b.isLeader() {
		m.rates.topics.reset()
		return
	}
	m.collectGroup(ch, now)
}

// emit sends a gauge; a label value Prometheus refuses (not UTF-8) drops
// the series instead of failing the scrape.
func emit(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	if m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...); err == nil {
		ch <- m
	}
}

// collectMember reports this member's own work.
func (m *metrics) collectMember(ch chan<- prometheus.Metric, now time.Time) {
	d := &m.rmq
	r := m.rates.broker.rates(now, map[string]float64{"put": float64(m.putTotal.Load()), "get": float64(m.getTotal.Load())})
	if v, ok := r["put"]; ok {
		emit(ch, d.brokerTPS, v)
	}
	if v, ok := r["get"]; ok {
		emit(ch, d.brokerQPS, v)
	}

	m.pullMu.RLock()
	keys := make([]pullKey, 0, len(m.pullCounts))
	counts := make([]*pullCount, 0, len(m.pullCounts))
	for k, c := range m.pullCounts {
		keys = append(keys, k)
		counts = append(counts, c)
	}
	m.pullMu.RUnlock()
	msgs := make(map[string]float64, len(keys))
	bytes := make(map[string]float64, len(keys))
	var idle []pullKey
	for i, k := range keys {
		n := counts[i].msgs.Load()
		if s, ok := m.seen[k]; !ok || s.msgs != n {
			m.seen[k] = pullSeen{msgs: n, at: now}
		} else if now.Sub(s.at) > pullIdle {
			idle = append(idle, k)
		}
		id := k.group + "\x00" + k.topic
		msgs[id] = float64(n)
		bytes[id] = float64(counts[i].bytes.Load())
	}
	if len(idle) > 0 {
		m.pullMu.Lock()
		for _, k := range idle {
			// Unless a pull came meanwhile.
			if c := m.pullCounts[k]; c != nil && c.msgs.Load() == m.seen[k].msgs {
				delete(m.pullCounts, k)
				delete(m.seen, k)
			}
		}
		m.pullMu.Unlock()
	}
	tps := m.rates.pulls.rates(now, msgs)
	size := m.rates.pullBytes.rates(now, bytes)
	for _, k := range keys {
		id := k.group + "\x00" + k.topic
		if v, ok := tps[id]; ok {
			emit(ch, d.consumerTPS, v, k.topic, k.group)
		}
		if v, ok := size[id]; ok {
			emit(ch, d.consumerSize, v, k.topic, k.group)
		}
	}
}

// topicState is one topic's queues at a scrape.
type topicState struct {
	name     string
	min, max []int64 // by queue id
	total    int64   // sum of max
}

// pairState is one consumer group's position on one topic.
type pairState struct {
	group, topic string
	retry        bool
	committed    int64 // sum of committed offsets
	diff         int64
	lagging      []queueFrom // queues with messages not yet committed
}

type queueFrom struct {
	qid  int32
	from int64
}

// collectGroup reports the group's replicated state (leader only).
func (m *metrics) collectGroup(ch chan<- prometheus.Metric, now time.Time) {
	b, d := m.b, &m.rmq
	topics := map[string]*topicState{}
	var list []*topicState
	for _, tc := range b.g.Topics() {
		n := queueCount(tc)
		ts := &topicState{name: tc.TopicName, min: make([]int64, n), max: make([]int64, n)}
		for q := int32(0); q < n; q++ {
			ts.min[q], ts.max[q] = b.g.QueueBounds(tc.TopicName, q)
			ts.total += ts.max[q]
		}
		topics[ts.name] = ts
		list = append(list, ts)
	}
	// Over the bound, the topics holding the most messages stay.
	droppedTopics := 0
	if len(list) > m.maxTopics {
		slices.SortFunc(list, func(a, b *topicState) int {
			return cmp.Or(cmp.Compare(b.total, a.total), cmp.Compare(a.name, b.name))
		})
		droppedTopics = len(list) - m.maxTopics
		list = list[:m.maxTopics]
	}
	totals := map[string]float64{}
	for _, ts := range list {
		switch {
		case message.IsRetryTopic(ts.name):
			emit(ch, d.retryOffset, float64(ts.total), ts.name)
		case message.IsDLQTopic(ts.name):
			emit(ch, d.dlqOffset, float64(ts.total), ts.name[len(message.DLQTopicPrefix):])
		default:
			emit(ch, d.producerOffset, float64(ts.total), ts.name)
			totals[ts.name] = float64(ts.total)
		}
	}
	for topic, v := range m.rates.topics.rates(now, totals) {
		emit(ch, d.producerTPS, v, topic)
	}

	var pairs []*pairState
	for gt, offs := range b.g.OffsetTable() {
		ts := topics[gt.Topic]
		if ts == nil || message.IsDLQTopic(gt.Topic) {
			continue
		}
		p := &pairState{group: gt.Group, topic: gt.Topic, retry: message.IsRetryTopic(gt.Topic)}
		for q := range ts.max {
			o, ok := offs[int32(q)]
			if ok {
				p.committed += o
			}
			from := max(o, ts.min[q])
			if ts.max[q] > from {
				p.diff += ts.max[q] - from
				p.lagging = append(p.lagging, queueFrom{int32(q), from})
			}
		}
		pairs = append(pairs, p)
	}
	// Over the bound, the pairs lagging most stay.
	slices.SortFunc(pairs, func(a, b *pairState) int {
		return cmp.Or(cmp.Compare(b.diff, a.diff), cmp.Compare(a.group, b.group), cmp.Compare(a.topic, b.topic))
	})
	droppedGroups := 0
	if len(pairs) > m.maxGroups {
		droppedGroups = len(pairs) - m.maxGroups
		pairs = pairs[:m.maxGroups]
	}
	online := b.clients.consumerSummary()
	reads, droppedLatency := 0, 0
	for _, p := range pairs {
		gs := online[p.group]
		model := "1" // CLUSTERING (rocketmq-exporter: the MessageModel's ordinal)
		if gs.broadcast {
			model = "0"
		}
		diffDesc := d.groupDiff
		if p.retry {
			diffDesc = d.groupRetryDiff
		}
		emit(ch, diffDesc, float64(p.diff), p.group, p.topic, strconv.Itoa(gs.consumers), model)
		if p.retry {
			continue
		}
		emit(ch, d.consumerOffset, float64(p.committed), p.topic, p.group)
		emit(ch, d.accumulation, float64(p.diff), p.topic, p.group)
		if reads+len(p.lagging) > latencyReads {
			droppedLatency++
			continue
		}
		var lag int64
		for _, q := range p.lagging {
			reads++
			if st, ok := m.storeTimeAt(p.topic, q.qid, q.from); ok {
				lag = max(lag, now.UnixMilli()-st)
			}
		}
		emit(ch, d.latency, float64(lag), p.topic, p.group)
	}
	emit(ch, d.dropped, float64(droppedTopics), "topics")
	emit(ch, d.dropped, float64(droppedGroups), "groups")
	emit(ch, d.dropped, float64(droppedLatency), "latency")
}

// storeTimeAt reads the STORETIMESTAMP of the message at a queue offset
// (the record's head only).
func (m *metrics) storeTimeAt(topic string, qid int32, offset int64) (int64, bool) {
	u, err := m.b.g.QueueUnit(topic, qid, offset)
	if err != nil {
		return 0, false
	}
	return storeTimeOf(m.b.g, u)
}

// recordHead is enough of a record to hold STORETIMESTAMP with an IPv6
// BORNHOST (and less than the smallest record).
const recordHead = message.RecordBornHostPos + 20 + 8

func storeTimeOf(r interface {
	ReadMessage([]byte, int64, int32) ([]byte, error)
}, u fsm.Unit) (int64, bool) {
	n := min(u.Size, recordHead)
	var buf [recordHead]byte
	rec, err := r.ReadMessage(buf[:0], u.PhysOffset, n)
	if err != nil || len(rec) < message.RecordBornHostPos {
		return 0, false
	}
	pos := message.RecordBornHostPos + 8
	if int32(binary.BigEndian.Uint32(rec[message.RecordSysFlagPos:]))&message.SysFlagBornHostV6 != 0 {
		pos = message.RecordBornHostPos + 20
	}
	if len(rec) < pos+8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(rec[pos:])), true
}

// rateWindow turns totals that only grow into per-second rates over the
// last window: scrapes leave a sample of the totals at most every step,
// and a rate is the change since the oldest sample still in the window.
type rateWindow struct {
	mu           sync.Mutex
	window, step time.Duration
	samples      []rateSample // oldest first
	last         map[string]float64
}

type rateSample struct {
	at time.Time
	v  map[string]float64
}

func newRateWindow(window, step time.Duration) *rateWindow {
	return &rateWindow{window: window, step: step}
}

// minRateSpan: a sample younger than this gives no new rate (the last
// ones are returned).
const minRateSpan = 500 * time.Millisecond

// rates returns the rate of each key of cur that the base sample has
// (none before a first sample is older than minRateSpan). cur is kept:
// the caller must not change it afterwards.
func (r *rateWindow) rates(now time.Time, cur map[string]float64) map[string]float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := 0
	for i < len(r.samples)-1 && now.Sub(r.samples[i].at) > r.window {
		i++
	}
	r.samples = r.samples[i:]
	out := r.last
	if len(r.samples) > 0 {
		if base := r.samples[0]; now.Sub(base.at) >= minRateSpan {
			secs := now.Sub(base.at).Seconds()
			out = make(map[string]float64, len(cur))
			for k, v := range cur {
				if b, ok := base.v[k]; ok {
					out[k] = max(v-b, 0) / secs
				}
			}
			r.last = out
		}
	}
	if n := len(r.samples); n == 0 || now.Sub(r.samples[n-1].at) >= r.step {
		r.samples = append(r.samples, rateSample{at: now, v: cur})
	}
	return out
}

func (r *rateWindow) reset() {
	r.mu.Lock()
	r.samples, r.last = nil, nil
	r.mu.Unlock()
}

// setWindow changes the window and step (tests).
func (r *rateWindow) setWindow(window, step time.Duration) {
	r.mu.Lock()
	r.window, r.step = window, step
	r.samples, r.last = nil, nil
	r.mu.Unlock()
}
