package broker

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

// families gathers a broker's registry by family name.
func families(t testing.TB, b *Broker) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := b.metrics.reg.Gather()
	require.NoError(t, err)
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// seriesOf returns the series of a family having every label in want.
func seriesOf(fams map[string]*dto.MetricFamily, name string, want map[string]string) []*dto.Metric {
	mf := fams[name]
	if mf == nil {
		return nil
	}
	var out []*dto.Metric
	for _, m := range mf.GetMetric() {
		ok := true
		for k, v := range want {
			found := false
			for _, lp := range m.GetLabel() {
				found = found || lp.GetName() == k && lp.GetValue() == v
			}
			ok = ok && found
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// one returns the value of the single series of name having want.
func one(t testing.TB, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	s := seriesOf(fams, name, want)
	require.Len(t, s, 1, "%s%v", name, want)
	return metricValue(s[0])
}

func commitOffset(g *rig, addr, group, topic string, qid int32, off int64) {
	g.t.Helper()
	uh := transport.UpdateConsumerOffsetRequestHeader{ConsumerGroup: group, Topic: topic, QueueID: qid, CommitOffset: off}
	require.Equal(g.t, int16(0), g.call(addr, transport.NewRequest(transport.ReqUpdateConsumerOffset, uh.Encode(), nil)).Code)
}

// pullAll pulls queue qid of topic from off on addr (group G) until it
// returns n messages (a follower may be behind).
func pullAll(g *rig, addr, topic string, qid int32, off int64, n int) {
	g.t.Helper()
	require.Eventually(g.t, func() bool {
		r, _ := pull(g, addr, topic, qid, off)
		if r.Code != 0 {
			return false
		}
		msgs, err := message.DecodeRecords(r.Body)
		return err == nil && len(msgs) == n
	}, 10*time.Second, 10*time.Millisecond)
}

func (m *metrics) setRateWindows(window, step time.Duration) {
	for _, r := range []*rateWindow{m.rates.broker, m.rates.topics, m.rates.pulls, m.rates.pullBytes} {
		r.setWindow(window, step)
	}
}

func (m *metrics) setBounds(topics, groups int) {
	m.collectMu.Lock()
	m.pullMu.Lock()
	m.maxTopics, m.maxGroups = topics, groups
	m.pullMu.Unlock()
	m.collectMu.Unlock()
}

// TestMetrics drives one 3-member group (sends, pulls on the leader and
// a follower, a consumer group's commits) and checks the rocketmq_* and
// raft series on every member, the HTTP endpoint, and that the Grafana
// dashboard queries only metrics and labels the broker serves.
func TestMetrics(t *testing.T) {
	g := startGroup(t, 3, func(c *Config) { c.MetricsAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t)) })
	l, f := g.leader(), g.follower()
	for _, b := range g.brokers {
		b.metrics.setRateWindows(time.Minute, 0)
	}
	const topic = "MT"
	send := func(qid int32) {
		r := g.call(l.Addr(), sendReq(topic, qid, []byte("payload"), nil))
		require.Equal(t, int16(0), r.Code, r.Remark)
	}
	for i := 0; i < 12; i++ {
		send(int32(i % 4))
	}
	pullAll(g, l.Addr(), topic, 0, 0, 3)
	pullAll(g, f.Addr(), topic, 1, 0, 3)
	// CG has consumed queue 0, one message of queue 1, nothing of 2 and 3.
	commitOffset(g, f.Addr(), "CG", topic, 0, 3)
	commitOffset(g, f.Addr(), "CG", topic, 1, 1)
	require.Eventually(t, func() bool {
		s := seriesOf(families(t, l), "rocketmq_consumer_offset", map[string]string{"group": "CG", "topic": topic})
		return len(s) == 1 && metricValue(s[0]) == 4
	}, 10*time.Second, 10*time.Millisecond)
	for _, b := range g.brokers {
		families(t, b) // the rates' first samples
	}
	for i := 0; i < 4; i++ {
		send(int32(i))
	}
	pullAll(g, l.Addr(), topic, 0, 3, 1)
	pullAll(g, f.Addr(), topic, 1, 3, 1)
	time.Sleep(2 * minRateSpan)
	fams := map[*Broker]map[string]*dto.MetricFamily{}
	for _, b := range g.brokers {
		fams[b] = families(t, b)
	}

	t.Run("rocketmq", func(t *testing.T) {
		lf := fams[l]
		grp := map[string]string{"cluster": "DefaultCluster", "broker": "broker-a"}
		with := func(kv ...string) map[string]string {
			out := map[string]string{}
			for k, v := range grp {
				out[k] = v
			}
			for i := 0; i < len(kv); i += 2 {
				out[kv[i]] = kv[i+1]
			}
			return out
		}
		require.Equal(t, 16.0, one(t, lf, "rocketmq_producer_offset", with("topic", topic)))
		require.Greater(t, one(t, lf, "rocketmq_producer_tps", with("topic", topic)), 0.0)
		// 16 stored; CG committed 3 of queue 0 and 1 of queue 1: 1+3+4+4.
		require.Equal(t, 12.0, one(t, lf, "rocketmq_group_diff",
			with("group", "CG", "topic", topic, "countOfOnlineConsumers", "0", "msgModel", "1")))
		require.Equal(t, 12.0, one(t, lf, "rocketmq_message_accumulation", with("group", "CG", "topic", topic)))
		require.Equal(t, 4.0, one(t, lf, "rocketmq_consumer_offset", with("group", "CG", "topic", topic)))
		lat := one(t, lf, "rocketmq_group_get_latency_by_storetime", with("group", "CG", "topic", topic))
		require.Greater(t, lat, 0.0)
		require.Less(t, lat, 120e3, "ms since the oldest unconsumed message was stored")
		require.Empty(t, seriesOf(lf, "rocketmq_group_diff", map[string]string{"group": "G"}), "G never committed")
		require.Equal(t, 0.0, one(t, lf, "raftmq_metrics_series_dropped", map[string]string{"family": "topics"}))

		// Every member reports its own work, with its address.
		require.Greater(t, one(t, lf, "rocketmq_broker_tps", with("brokerIP", l.Addr())), 0.0)
		require.Greater(t, one(t, lf, "rocketmq_broker_qps", with("brokerIP", l.Addr())), 0.0)
		require.Greater(t, one(t, lf, "rocketmq_consumer_tps", with("brokerIP", l.Addr(), "group", "G", "topic", topic)), 0.0)
		require.Greater(t, one(t, lf, "rocketmq_consumer_message_size", with("brokerIP", l.Addr(), "group", "G", "topic", topic)), 0.0)
		ff := fams[f]
		require.Equal(t, 0.0, one(t, ff, "rocketmq_broker_tps", with("brokerIP", f.Addr())), "followers store nothing")
		require.Greater(t, one(t, ff, "rocketmq_broker_qps", with("brokerIP", f.Addr())), 0.0)
		require.Greater(t, one(t, ff, "rocketmq_consumer_tps", with("group", "G", "topic", topic)), 0.0)

		// The group's figures come from its leader only: summing over the
		// members counts them once.
		total := 0.0
		for _, b := range g.brokers {
			if b != l {
				for _, name := range []string{"rocketmq_producer_offset", "rocketmq_producer_tps", "rocketmq_group_diff",
					"rocketmq_consumer_offset", "rocketmq_message_accumulation", "rocketmq_group_get_latency_by_storetime"} {
					require.Empty(t, seriesOf(fams[b], name, nil), "%s on a follower", name)
				}
			}
			for _, s := range seriesOf(fams[b], "rocketmq_producer_offset", map[string]string{"topic": topic}) {
				total += metricValue(s)
			}
		}
		require.Equal(t, 16.0, total)

		// Bounds: the largest topic and the most lagging pair stay.
		commitOffset(g, l.Addr(), "CG2", topic, 0, 4)
		require.Eventually(t, func() bool {
			return len(seriesOf(families(t, l), "rocketmq_consumer_offset", map[string]string{"group": "CG2"})) == 1
		}, 10*time.Second, 10*time.Millisecond)
		l.metrics.setBounds(1, 1)
		defer l.metrics.setBounds(defaultMetricsMaxTopics, defaultMetricsMaxGroups)
		bf := families(t, l)
		require.Len(t, seriesOf(bf, "rocketmq_producer_offset", nil), 1)
		require.Equal(t, 16.0, one(t, bf, "rocketmq_producer_offset", map[string]string{"topic": topic}))
		require.Greater(t, one(t, bf, "raftmq_metrics_series_dropped", map[string]string{"family": "topics"}), 0.0)
		require.Len(t, seriesOf(bf, "rocketmq_group_diff", nil), 1)
		require.Len(t, seriesOf(bf, "rocketmq_group_diff", map[string]string{"group": "CG"}), 1)
		require.Equal(t, 1.0, one(t, bf, "raftmq_metrics_series_dropped", map[string]string{"family": "groups"}))
	})

	t.Run("raft", func(t *testing.T) {
		leaders := 0
		for _, b := range g.brokers {
			fm := fams[b]
			node := map[string]string{"cluster": "DefaultCluster", "broker": "broker-a", "node": b.self.ID}
			require.Equal(t, 1.0, one(t, fm, "raftmq_broker_info", map[string]string{"node": b.self.ID, "brokerIP": b.Addr()}))
			require.GreaterOrEqual(t, one(t, fm, "raftmq_raft_term", node), 1.0)
			require.GreaterOrEqual(t, one(t, fm, "raftmq_raft_leader_changes_total", node), 1.0)
			commit := one(t, fm, "raftmq_raft_commit_index", node)
			require.Greater(t, one(t, fm, "raftmq_raft_fsm_applied_index", node), 0.0)
			require.Greater(t, commit, 0.0)
			require.GreaterOrEqual(t, one(t, fm, "raftmq_raft_last_log_index", node), commit)
			require.GreaterOrEqual(t, one(t, fm, "raftmq_raft_apply_lag_entries", node), 0.0)
			require.Equal(t, 3.0, one(t, fm, "raftmq_raft_members", map[string]string{"suffrage": "voter"}))
			require.Equal(t, 0.0, one(t, fm, "raftmq_history_partial", node))
			one(t, fm, "raftmq_raft_snapshot_index", node)
			one(t, fm, "raftmq_raft_entries_since_snapshot", node)
			lead := one(t, fm, "raftmq_raft_state", map[string]string{"state": "Leader"})
			var states float64
			for _, s := range seriesOf(fm, "raftmq_raft_state", node) {
				states += metricValue(s)
			}
			require.Equal(t, 1.0, states, "one state at a time")
			if lead == 1 {
				leaders++
				require.Same(t, l, b)
			}
			// The unlabelled gauges from before are still there.
			require.Equal(t, boolf(b == l), one(t, fm, "raftmq_is_leader", nil))
			require.Greater(t, one(t, fm, "raftmq_raft_applied_index", nil), 0.0)
			one(t, fm, "raftmq_raft_last_contact_seconds", nil)
			one(t, fm, "raftmq_commitlog_bytes", nil)
			one(t, fm, "raftmq_disk_used_ratio", nil)
			one(t, fm, "raftmq_transactions_open", nil)
		}
		require.Equal(t, 1, leaders)
		// Followers catch up: no apply lag in the end.
		for _, b := range g.brokers {
			require.Eventually(t, func() bool {
				s := seriesOf(families(t, b), "raftmq_raft_apply_lag_entries", nil)
				return len(s) == 1 && metricValue(s[0]) == 0
			}, 10*time.Second, 10*time.Millisecond)
		}
	})

	t.Run("http", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+l.cfg.MetricsAddr+"/metrics", nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		found := false
		sc := bufio.NewScanner(strings.NewReader(string(body)))
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "rocketmq_group_diff{") && strings.Contains(line, `group="CG"`) && strings.Contains(line, `topic="MT"`) {
				require.True(t, strings.HasSuffix(line, " 12"), line)
				require.Contains(t, line, `cluster="DefaultCluster"`)
				require.Contains(t, line, `broker="broker-a"`)
				found = true
			}
		}
		require.True(t, found, "rocketmq_group_diff for CG on MT in:\n%s", body)
		require.Contains(t, string(body), "\nraftmq_raft_term{")
		require.Contains(t, string(body), "\nraftmq_messages_in_total ")
	})

	t.Run("dashboard", func(t *testing.T) {
		// What the members serve: family -> label names.
		served := map[string]map[string]bool{}
		for _, b := range g.brokers {
			for name, mf := range families(t, b) {
				if served[name] == nil {
					served[name] = map[string]bool{}
				}
				if mf.GetType() == dto.MetricType_HISTOGRAM {
					served[name]["le"] = true
				}
				for _, m := range mf.GetMetric() {
					for _, lp := range m.GetLabel() {
						served[name][lp.GetName()] = true
					}
				}
			}
		}
		checkDashboard(t, "../docs/grafana/raftmq.json", served)
	})
}

var (
	metricRe   = regexp.MustCompile(`\b(?:raftmq|rocketmq)_[a-zA-Z0-9_]+`)
	selectorRe = regexp.MustCompile(`\b((?:raftmq|rocketmq)_[a-zA-Z0-9_]+)\s*\{([^}]*)\}`)
	matcherRe  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	clauseRe   = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	legendRe   = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
	labelValRe = regexp.MustCompile(`label_values\(\s*((?:raftmq|rocketmq)_[a-zA-Z0-9_]+)\s*(?:\{[^}]*\})?\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)`)
)

// checkDashboard parses a Grafana dashboard and checks that every metric
// its queries name is served, with the labels they match, group by and
// show in legends.
func checkDashboard(t *testing.T, path string, served map[string]map[string]bool) {
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var d struct {
		SchemaVersion int    `json:"schemaVersion"`
		UID           string `json:"uid"`
		Title         string `json:"title"`
		Templating    struct {
			List []struct {
				Name, Type string
				Query      any `json:"query"`
				Definition string
			} `json:"list"`
		} `json:"templating"`
		Panels []map[string]any `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &d))
	require.GreaterOrEqual(t, d.SchemaVersion, 36, "Grafana 10 schema")
	require.NotEmpty(t, d.UID)
	require.NotEmpty(t, d.Title)
	hasDS := false
	for _, v := range d.Templating.List {
		hasDS = hasDS || v.Type == "datasource" && v.Query == "prometheus" && v.Name == "datasource"
		if v.Type == "query" {
			require.NotEmpty(t, labelValRe.FindAllStringSubmatch(v.Definition, -1), v.Definition)
			for _, m := range labelValRe.FindAllStringSubmatch(v.Definition, -1) {
				_, ok := served[m[1]]
				require.True(t, ok, "variable %s: %s is not served by the broker", v.Name, m[1])
				require.True(t, served[m[1]][m[2]], "variable %s: %s has no label %s", v.Name, m[1], m[2])
			}
		}
	}
	require.True(t, hasDS, "a Prometheus datasource variable named datasource")

	ids := map[float64]bool{}
	queries := 0
	for _, p := range d.Panels {
		id, _ := p["id"].(float64)
		require.False(t, ids[id], "panel id %v used twice", id)
		ids[id] = true
		if p["type"] == "row" {
			continue
		}
		ds, _ := p["datasource"].(map[string]any)
		require.Equal(t, "${datasource}", ds["uid"], "panel %v", p["title"])
		targets, _ := p["targets"].([]any)
		require.NotEmpty(t, targets, "panel %v", p["title"])
		for _, x := range targets {
			tg := x.(map[string]any)
			expr, _ := tg["expr"].(string)
			legend, _ := tg["legendFormat"].(string)
			require.NotEmpty(t, expr, "panel %v", p["title"])
			queries++
			checkExpr(t, fmt.Sprint(p["title"]), expr, legend, served)
		}
	}
	require.Greater(t, queries, 20)
}

func checkExpr(t *testing.T, panel, expr, legend string, served map[string]map[string]bool) {
	t.Helper()
	base := func(name string) string {
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suf); ok && served[b]["le"] {
				return b
			}
		}
		return name
	}
	// Labels any metric of the query has, and those Prometheus adds.
	labels := map[string]bool{"instance": true, "job": true}
	names := metricRe.FindAllString(expr, -1)
	require.NotEmpty(t, names, "%s: %s", panel, expr)
	for _, n := range names {
		n = base(n)
		_, ok := served[n]
		require.True(t, ok, "%s: %s is not served by the broker", panel, n)
		for l := range served[n] {
			labels[l] = true
		}
	}
	for _, m := range selectorRe.FindAllStringSubmatch(expr, -1) {
		n := base(m[1])
		for _, lm := range matcherRe.FindAllStringSubmatch(m[2], -1) {
			require.True(t, served[n][lm[1]], "%s: %s has no label %s", panel, n, lm[1])
		}
	}
	for _, m := range clauseRe.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				require.True(t, labels[l], "%s: no metric of %q has label %s", panel, expr, l)
			}
		}
	}
	for _, m := range legendRe.FindAllStringSubmatch(legend, -1) {
		require.True(t, labels[m[1]], "%s: legend %q: no metric of the query has label %s", panel, legend, m[1])
	}
}

// The pull path's added cost: one read-locked map lookup per response.
func BenchmarkMetricsPulled(b *testing.B) {
	m := newMetrics(&Broker{})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.pulled("G", "T", 32, 32<<10)
		}
	})
}

// The send path is unchanged; for comparison.
func BenchmarkMetricsSent(b *testing.B) {
	m := newMetrics(&Broker{})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.sent(1, 1024, "T", time.Millisecond)
		}
	})
}

func TestMetricRateWindow(t *testing.T) {
	r := newRateWindow(time.Minute, 10*time.Second)
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	require.Empty(t, r.rates(at(0), map[string]float64{"a": 0}), "no rate before a second sample")
	require.Empty(t, r.rates(at(0.1), map[string]float64{"a": 5}), "too close to the first sample")
	require.Equal(t, map[string]float64{"a": 10}, r.rates(at(5), map[string]float64{"a": 50}))
	// Not sampled (within the step); a key the base lacks has no rate.
	require.Equal(t, map[string]float64{"a": 10}, r.rates(at(10), map[string]float64{"a": 100, "b": 7}))
	for s := 20.0; s <= 90; s += 10 {
		r.rates(at(s), map[string]float64{"a": s * 10, "b": 7})
	}
	// The base is the oldest sample within the minute: the rate covers the
	// last minute only, and a total that went back gives 0, not a negative.
	got := r.rates(at(95), map[string]float64{"a": 950 + 600, "b": 0})
	require.InDelta(t, (1550.0-400)/55, got["a"], 1e-9) // since the sample at 40 s
	require.Equal(t, 0.0, got["b"])
	// Scrapes further apart than the window still give rates.
	r.reset()
	r.rates(at(0), map[string]float64{"a": 0})
	require.Equal(t, map[string]float64{"a": 1}, r.rates(at(300), map[string]float64{"a": 300}))
}

type recordReader []byte

func (r recordReader) ReadMessage(dst []byte, phys int64, size int32) ([]byte, error) {
	return append(dst, r[phys:phys+int64(size)]...), nil
}

func TestMetricStoreTimeOfRecordHead(t *testing.T) {
	for _, born := range []string{"10.0.0.1:4000", "[2001:db8::1]:4000"} {
		m := &message.MessageExt{Message: message.Message{Topic: "T", Body: []byte("body")},
			BornHost: netip.MustParseAddrPort(born), StoreHost: netip.MustParseAddrPort("[2001:db8::2]:10911"),
			BornTimestamp: 1, StoreTimestamp: 1_700_000_000_123}
		rec, err := message.AppendRecordWithProperties([]byte("xx"), m, nil)
		require.NoError(t, err)
		st, ok := storeTimeOf(recordReader(rec), fsm.Unit{PhysOffset: 2, Size: int32(len(rec) - 2)})
		require.True(t, ok, born)
		require.Equal(t, int64(1_700_000_000_123), st, born)
	}
}
