package broker

import (
	"fmt"
	"strconv"
	"sync"
	"time"
)

// runtimeStats samples this member's message counters once a second for
// GET_BROKER_RUNTIME_INFO's rates (RocketMQ's putTps and getTransferedTps:
// "10 s, 1 min, 10 min" averages) and keeps the counters at the last two
// local midnights (msgPutTotalTodayMorning, ...YesterdayMorning).
type runtimeStats struct {
	boot time.Time

	mu      sync.Mutex
	samples []statSample // oldest first, at most statWindow+1
	day     int          // yday of the last sample
	// Counters at this morning's and yesterday morning's midnight.
	putToday, getToday, putYesterday, getYesterday uint64
}

type statSample struct {
	at       time.Time
	put, get uint64
}

const statWindow = 600 // seconds kept

func newRuntimeStats(now time.Time) *runtimeStats {
	return &runtimeStats{boot: now, day: now.YearDay()}
}

func (s *runtimeStats) sample(now time.Time, put, get uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := now.YearDay(); d != s.day {
		s.day = d
		s.putYesterday, s.getYesterday = s.putToday, s.getToday
		s.putToday, s.getToday = put, get
	}
	s.samples = append(s.samples, statSample{at: now, put: put, get: get})
	if len(s.samples) > statWindow+1 {
		s.samples = s.samples[len(s.samples)-statWindow-1:]
	}
}

// tps formats the rates over the last 10 s, 60 s and 600 s as RocketMQ
// does ("12.30 11.00 9.87"); pick selects the counter.
func (s *runtimeStats) tps(now time.Time, put, get uint64, pick func(put, get uint64) uint64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := pick(put, get)
	out := ""
	for i, w := range []time.Duration{10 * time.Second, time.Minute, 10 * time.Minute} {
		rate := 0.0
		// The oldest sample within the window.
		for _, sm := range s.samples {
			if now.Sub(sm.at) <= w+500*time.Millisecond {
				if el := now.Sub(sm.at).Seconds(); el > 0.5 {
					rate = float64(cur-pick(sm.put, sm.get)) / el
				}
				break
			}
		}
		if i > 0 {
			out += " "
		}
		out += strconv.FormatFloat(rate, 'f', 2, 64)
	}
	return out
}

// formatRuntime is RocketMQ's "[ 0 days, 1 hours, 2 minutes, 3 seconds ]".
func formatRuntime(d time.Duration) string {
	s := int64(d.Seconds())
	return fmt.Sprintf("[ %d days, %d hours, %d minutes, %d seconds ]", s/86400, s%86400/3600, s%3600/60, s%60)
}

// sampleStats is the once-a-second sampler.
func (b *Broker) sampleStats(now time.Time) {
	b.rtStats.sample(now, b.metrics.putTotal.Load(), b.metrics.getTotal.Load())
}

// runtimeTable is GET_BROKER_RUNTIME_INFO's table: RocketMQ's keys that
// raftmq can fill (rates, daily counters, disk and CommitLog extent),
// then raftmq's raft and client keys.
func (b *Broker) runtimeTable() map[string]string {
	now := time.Now()
	st := b.status()
	p, cns := b.clients.counts()
	put, get := b.metrics.putTotal.Load(), b.metrics.getTotal.Load()
	rs := b.rtStats
	putTps := rs.tps(now, put, get, func(p, _ uint64) uint64 { return p })
	getTps := rs.tps(now, put, get, func(_, g uint64) uint64 { return g })
	rs.mu.Lock()
	putToday, getToday, putYesterday, getYesterday := rs.putToday, rs.getToday, rs.putYesterday, rs.getYesterday
	rs.mu.Unlock()
	u := strconv.FormatUint
	diskRatio := strconv.FormatFloat(st.DiskUsed, 'f', -1, 64)
	t := map[string]string{
		// RocketMQ's keys.
		"brokerVersionDesc":               "raftmq",
		"brokerVersion":                   "0",
		"brokerActive":                    strconv.FormatBool(b.g.RaftLeader()),
		"bootTimestamp":                   strconv.FormatInt(rs.boot.UnixMilli(), 10),
		"runtime":                         formatRuntime(now.Sub(rs.boot)),
		"msgPutTotalTodayNow":             u(put, 10),
		"msgGetTotalTodayNow":             u(get, 10),
		"msgPutTotalTodayMorning":         u(putToday, 10),
		"msgGetTotalTodayMorning":         u(getToday, 10),
		"msgPutTotalYesterdayMorning":     u(putYesterday, 10),
		"msgGetTotalYesterdayMorning":     u(getYesterday, 10),
		"putTps":                          putTps,
		"getTransferedTps":                getTps, // RocketMQ 4's spelling, read by the dashboard
		"getTransferredTps":               getTps,
		"getFoundTps":                     getTps,
		"getMissTps":                      "0.00 0.00 0.00",
		"getTotalTps":                     getTps,
		"putMessageTimesTotal":            u(put, 10),
		"commitLogDiskRatio":              diskRatio,
		"consumeQueueDiskRatio":           diskRatio,
		"commitLogMinOffset":              strconv.FormatInt(st.MinOffset, 10),
		"commitLogMaxOffset":              strconv.FormatInt(st.WriteOffset, 10),
		"dispatchBehindBytes":             "0",
		"pageCacheLockTimeMills":          "0",
		"earliestMessageTimeStamp":        "0",
		"startAcceptSendRequestTimeStamp": "0",
		"remainTransientStoreBufferNumbs": "0",
		"timerReadBehind":                 "0",
		"timerOffsetBehind":               "0",
		"timerCongestNum":                 "0",
		"timerEnqueueTps":                 "0.0",
		"timerDequeueTps":                 "0.0",
		"brokerPermission":                strconv.Itoa(int(b.live.perm.Load())),
		// raftmq's keys.
		"brokerName":             st.BrokerName,
		"raftNodeId":             st.NodeID,
		"raftState":              st.State,
		"raftLeader":             st.Leader,
		"raftTerm":               u(st.Term, 10),
		"raftLastIndex":          u(st.LastIndex, 10),
		"raftCommitIndex":        u(st.CommitIndex, 10),
		"raftAppliedIndex":       u(st.AppliedIndex, 10),
		"commitLogSegments":      strconv.Itoa(st.Segments),
		"diskFull":               strconv.FormatBool(st.DiskFull),
		"diskAvailBytes":         strconv.FormatInt(st.DiskAvail, 10),
		"flushDiskType":          st.FlushDisk,
		"messagesApplied":        u(st.Messages, 10),
		"producerClients":        strconv.Itoa(p),
		"consumerClients":        strconv.Itoa(cns),
		"topicCount":             strconv.Itoa(len(b.g.Topics())),
		"subscriptionGroupCount": strconv.Itoa(len(b.g.Groups())),
	}
	return t
}
