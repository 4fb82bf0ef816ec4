package broker

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

// pulled returns the messages of topic queue 0 from offset 0 on addr.
func pulled(t *testing.T, g *rig, addr, topic string) []*message.MessageExt {
	t.Helper()
	r, _ := pull(g, addr, topic, 0, 0)
	if r.Code != 0 {
		return nil
	}
	msgs, err := message.DecodeRecords(r.Body)
	require.NoError(t, err)
	return msgs
}

// TestBroker_TimerMessages: the 5.x timer properties deliver at their time
// (never before), once; a time in the past delivers at once; bad, too far
// or combined requests are MESSAGE_ILLEGAL; a leader change while timers
// wait delivers each exactly once.
func TestBroker_TimerMessages(t *testing.T) {
	g := startGroup(t, 3, func(c *Config) { c.TimerMaxDelay = time.Hour })
	l := g.leader()
	const topic = "Timers"
	now := time.Now()
	ms := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).UnixMilli(), 10) }
	send := func(body string, props map[string]string) *transport.Command {
		return g.call(g.follower().Addr(), sendReq(topic, 0, []byte(body), props))
	}
	for body, props := range map[string]map[string]string{
		"both":    {"TIMER_DELAY_SEC": "1", "DELAY": "1"},
		"far":     {"TIMER_DELAY_SEC": "7200"},
		"garbage": {"TIMER_DELAY_MS": "soon"},
	} {
		r := send(body, props)
		require.Equal(t, int16(transport.RespMessageIllegal), r.Code, "%s: %s", body, r.Remark)
	}
	require.Equal(t, int16(0), send("past", map[string]string{"__STARTDELIVERTIME": ms(-time.Second)}).Code)
	require.Equal(t, int16(0), send("delay-ms", map[string]string{"TIMER_DELAY_MS": "1500", "KEYS": "k1"}).Code)
	require.Equal(t, int16(0), send("deliver-ms", map[string]string{"TIMER_DELIVER_MS": ms(700 * time.Millisecond)}).Code)
	require.Equal(t, int16(0), send("delay-sec", map[string]string{"TIMER_DELAY_SEC": "3"}).Code)

	got := pulled(t, g, l.Addr(), topic)
	require.Len(t, got, 1, "only the message due in the past is visible at once")
	require.Equal(t, "past", string(got[0].Body))

	seen := map[string]time.Time{}
	waitFor := func(body string, due time.Duration) *message.MessageExt {
		var m *message.MessageExt
		require.Eventually(t, func() bool {
			for _, x := range pulled(t, g, g.leader().Addr(), topic) {
				if _, ok := seen[string(x.Body)]; !ok {
					seen[string(x.Body)] = time.Now()
				}
				if string(x.Body) == body {
					m = x
				}
			}
			return m != nil
		}, 15*time.Second, 10*time.Millisecond)
		require.False(t, seen[body].Before(now.Add(due)), "%s delivered %v before its time", body, now.Add(due).Sub(seen[body]))
		return m
	}
	m := waitFor("deliver-ms", 700*time.Millisecond)
	require.Equal(t, ms(700*time.Millisecond), m.GetProperty("TIMER_OUT_MS"))
	require.Empty(t, m.GetProperty("TIMER_DELIVER_MS"))
	require.Empty(t, m.GetProperty("REAL_TOPIC"))

	// The leader goes away while delay-ms and delay-sec wait.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	require.NoError(t, g.leader().Shutdown(ctx))
	cancel()
	m = waitFor("delay-ms", 1500*time.Millisecond)
	require.Equal(t, "k1", m.GetProperty("KEYS"))
	require.Empty(t, m.GetProperty("TIMER_DELAY_MS"))
	waitFor("delay-sec", 3*time.Second)

	// Each exactly once, across further passes.
	nl := g.leader()
	passes := nl.schedulePasses.Load()
	require.Eventually(t, func() bool { return nl.schedulePasses.Load() >= passes+5 }, 10*time.Second, 5*time.Millisecond)
	bodies := map[string]int{}
	for _, x := range pulled(t, g, nl.Addr(), topic) {
		bodies[string(x.Body)]++
	}
	require.Equal(t, map[string]int{"past": 1, "deliver-ms": 1, "delay-ms": 1, "delay-sec": 1}, bodies)
}
