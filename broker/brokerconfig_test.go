package broker

import (
	"strings"
	"testing"
	"time"
)

func TestLiveConfigApply(t *testing.T) {
	l := newLiveConfig(Config{AutoCreateTopic: true, AutoCreateSubscriptionGroup: true, TimerMaxDelay: time.Hour, TransactionCheckMax: 15})
	if !l.autoCreateTopic.Load() || !l.writeable() || !l.readable() {
		t.Fatal("defaults: auto-create on, read and write")
	}
	if _, err := l.apply(map[string]string{"autoCreateTopicEnable": "false", "listenPort": "1"}); err == nil || !strings.Contains(err.Error(), "listenPort cannot change") {
		t.Fatalf("a non-live key: %v", err)
	}
	if !l.autoCreateTopic.Load() {
		t.Fatal("a refused update changed a key")
	}
	if _, err := l.apply(map[string]string{"autoCreateTopicEnable": "false", "brokerPermission": "9"}); err == nil {
		t.Fatal("brokerPermission 9 accepted")
	}
	if !l.autoCreateTopic.Load() || l.perm.Load() != 6 {
		t.Fatal("a bad value applied part of the update")
	}
	changed, err := l.apply(map[string]string{"AUTOCREATETOPICENABLE": "false", "brokerPermission": "4", "timerMaxDelaySec": "60", "transactionCheckMax": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(changed, ",") != "autoCreateTopicEnable,brokerPermission,timerMaxDelaySec,transactionCheckMax" {
		t.Fatalf("changed %v", changed)
	}
	if l.autoCreateTopic.Load() || l.writeable() || !l.readable() || time.Duration(l.timerMaxDelay.Load()) != time.Minute || l.txnCheckMax.Load() != 3 {
		t.Fatal("not applied")
	}
	if l.version.Load() != 1 {
		t.Fatalf("version %d", l.version.Load())
	}
}

func TestRuntimeStatsTps(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	s := newRuntimeStats(t0)
	for i := 0; i <= 20; i++ {
		s.sample(t0.Add(time.Duration(i)*time.Second), uint64(100*i), uint64(10*i))
	}
	now := t0.Add(20 * time.Second)
	got := s.tps(now, 2000, 200, func(p, _ uint64) uint64 { return p })
	f := strings.Fields(got)
	if len(f) != 3 || f[0] != "100.00" || f[1] != "100.00" {
		t.Fatalf("put tps %q", got)
	}
	if formatRuntime(90061*time.Second) != "[ 1 days, 1 hours, 1 minutes, 1 seconds ]" {
		t.Fatal(formatRuntime(90061 * time.Second))
	}
}
