package broker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// statusCollector reports the member's raft, CommitLog and catch-up state
// from one group.Status per scrape. Every member reports its own.
//
// The gauges that predate it (raftmq_is_leader, raftmq_raft_applied_index,
// raftmq_raft_last_contact_seconds, raftmq_commitlog_bytes,
// raftmq_disk_full, raftmq_disk_used_ratio, raftmq_index_errors_total)
// keep their names and carry no labels (Prometheus' instance tells the
// members apart; raftmq_broker_info joins them to cluster, broker and
// node). The raft and history gauges added with them carry cluster,
// broker and node.
type statusCollector struct {
	b *Broker
	// unlabelled, as before
	isLeader, appliedIndex, lastContact, commitLogBytes, diskFull, diskUsed, indexErrors *prometheus.Desc
	// cluster, broker, node
	info, state, term, leaderChanges, commitIndex, lastIndex, fsmApplied, applyLag, fsmPending *prometheus.Desc
	snapshotIndex, sinceSnapshot, installedSnapshot, members                                   *prometheus.Desc
	histPartial, histSnapshot, histFetched, histTotal, histRate, histError                     *prometheus.Desc
	histSeconds, histDone, histMessages                                                        *prometheus.Desc
}

// raftStates are raft's states (hashicorp/raft RaftState.String()).
var raftStates = []string{"Follower", "Candidate", "Leader", "Shutdown"}

func newStatusCollector(b *Broker) *statusCollector {
	plain := func(name, help string) *prometheus.Desc { return prometheus.NewDesc("raftmq_"+name, help, nil, nil) }
	member := prometheus.Labels{"cluster": b.cfg.ClusterName, "broker": b.cfg.BrokerName, "node": b.self.ID}
	l := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("raftmq_"+name, help, labels, member)
	}
	return &statusCollector{
		b:              b,
		isLeader:       plain("is_leader", "1 when this node is its group's serving leader."),
		appliedIndex:   plain("raft_applied_index", "Last raft index applied by the FSM."),
		lastContact:    plain("raft_last_contact_seconds", "Seconds since this follower last heard from the leader (0 on the leader)."),
		commitLogBytes: plain("commitlog_bytes", "Bytes between the CommitLog's first record and its end."),
		diskFull:       plain("disk_full", "1 while sends are refused because the disk is above its hard limit."),
		diskUsed:       plain("disk_used_ratio", "Used fraction of the filesystem holding the CommitLog."),
		indexErrors:    plain("index_errors_total", "IndexFile writes that failed (queries by key may miss those messages)."),

		info: prometheus.NewDesc("raftmq_broker_info", "Always 1: this member's cluster, group (broker), raft id (node) and addresses.", nil,
			prometheus.Labels{"cluster": b.cfg.ClusterName, "broker": b.cfg.BrokerName, "node": b.self.ID,
				"brokerIP": b.clientAddr, "raftAddr": b.self.Addr}),
		state:         l("raft_state", "1 for this member's raft state (Follower, Candidate, Leader, Shutdown), 0 for the others.", "state"),
		term:          l("raft_term", "This member's current raft term."),
		leaderChanges: l("raft_leader_changes_total", "Leaders this member saw elected since it started (the same member again in a new term counts)."),
		commitIndex:   l("raft_commit_index", "Last raft index this member knows committed."),
		lastIndex:     l("raft_last_log_index", "Last raft index in this member's log."),
		fsmApplied:    l("raft_fsm_applied_index", "Last raft index the FSM reflects (no-op and barrier entries included)."),
		applyLag:      l("raft_apply_lag_entries", "Committed raft entries the FSM has not applied yet (commit index minus FSM applied index)."),
		fsmPending:    l("raft_fsm_pending_batches", "Batches of committed entries raft handed to the FSM that it has not applied yet."),
		snapshotIndex: l("raft_snapshot_index", "Index of the latest raft snapshot taken or installed here."),
		sinceSnapshot: l("raft_entries_since_snapshot", "Raft entries applied since the latest snapshot (a snapshot is due at raftSnapshotThreshold)."),
		installedSnapshot: l("raft_installed_snapshot_index",
			"Index of the last snapshot this member installed from a leader (0: none): it holds no messages before it until the history catch-up is done."),
		members:     l("raft_members", "Members in the group's raft configuration, by suffrage (voter, nonvoter).", "suffrage"),
		histPartial: l("history_partial", "1 while this member lacks retained messages before its installed snapshot (the catch-up is fetching them)."),
		histSnapshot: l("history_snapshot_index",
			"Snapshot index the current or last history catch-up fills in before."),
		histFetched:  l("history_fetched_bytes", "CommitLog bytes fetched by the current or last history catch-up."),
		histTotal:    l("history_total_bytes", "CommitLog bytes the current or last history catch-up fetches in all."),
		histRate:     l("history_fetch_bytes_per_second", "Fetch rate of the current or last history catch-up."),
		histError:    l("history_error", "1 while the history is partial and the last catch-up attempt failed (it is retried)."),
		histSeconds:  l("history_last_seconds", "Duration of the last completed history catch-up, in all and by phase (fetch, install, rebuild).", "phase"),
		histDone:     l("history_last_done_timestamp_seconds", "When the last history catch-up completed (unix seconds)."),
		histMessages: l("history_rebuilt_messages", "Queue units the last history catch-up rebuilt."),
	}
}

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.isLeader, c.appliedIndex, c.lastContact, c.commitLogBytes, c.diskFull, c.diskUsed, c.indexErrors,
		c.info, c.state, c.term, c.leaderChanges, c.commitIndex, c.lastIndex, c.fsmApplied, c.applyLag, c.fsmPending,
		c.snapshotIndex, c.sinceSnapshot, c.installedSnapshot, c.members,
		c.histPartial, c.histSnapshot, c.histFetched, c.histTotal, c.histRate, c.histError, c.histSeconds, c.histDone, c.histMessages} {
		ch <- d
	}
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	if b.g == nil {
		return
	}
	s := b.g.Status()
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	u := func(v uint64) float64 { return float64(v) }
	diff := func(a, b uint64) float64 {
		if a < b {
			return 0
		}
		return float64(a - b)
	}

	g(c.isLeader, boolf(s.Serving))
	g(c.appliedIndex, u(s.AppliedIndex))
	contact := 0.0
	if !s.Serving {
		contact = time.Since(b.g.LastContact()).Seconds()
	}
	g(c.lastContact, contact)
	g(c.commitLogBytes, float64(s.WriteOffset-s.MinOffset))
	g(c.diskFull, boolf(s.DiskFull))
	g(c.diskUsed, s.DiskUsed)
	ch <- prometheus.MustNewConstMetric(c.indexErrors, prometheus.CounterValue, u(s.IndexErrors))

	g(c.info, 1)
	for _, st := range raftStates {
		g(c.state, boolf(st == s.State), st)
	}
	g(c.term, u(s.Term))
	ch <- prometheus.MustNewConstMetric(c.leaderChanges, prometheus.CounterValue, u(s.LeaderChanges))
	g(c.commitIndex, u(s.CommitIndex))
	g(c.lastIndex, u(s.LastIndex))
	g(c.fsmApplied, u(s.FSMAppliedIndex))
	g(c.applyLag, diff(s.CommitIndex, s.FSMAppliedIndex))
	g(c.fsmPending, float64(s.FSMPending))
	g(c.snapshotIndex, u(s.SnapshotIndex))
	g(c.sinceSnapshot, diff(s.RaftAppliedIndex, s.SnapshotIndex))
	g(c.installedSnapshot, u(s.InstalledSnapshot))
	voters, nonvoters := 0, 0
	for _, m := range b.g.Members() {
		if m.Voter {
			voters++
		} else {
			nonvoters++
		}
	}
	g(c.members, float64(voters), "voter")
	g(c.members, float64(nonvoters), "nonvoter")

	h := s.History
	g(c.histPartial, boolf(s.PartialHistory))
	g(c.histSnapshot, u(h.Snapshot))
	g(c.histFetched, float64(h.Fetched))
	g(c.histTotal, float64(h.Total))
	g(c.histRate, h.MBps*1e6)
	g(c.histError, boolf(s.PartialHistory && h.Error != ""))
	g(c.histSeconds, h.Took.Seconds(), "total")
	g(c.histSeconds, h.FetchTook.Seconds(), "fetch")
	g(c.histSeconds, h.InstallTook.Seconds(), "install")
	g(c.histSeconds, h.RebuildTook.Seconds(), "rebuild")
	if !h.Done.IsZero() {
		g(c.histDone, float64(h.Done.UnixNano())/1e9)
	}
	g(c.histMessages, float64(h.Messages))
}

func boolf(v bool) float64 {
	if v {
		return 1
	}
	return 0
}
