package message

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func timerProps(t *testing.T, kv ...string) []byte {
	var p []byte
	var err error
	for i := 0; i < len(kv); i += 2 {
		p, err = AppendProperty(p, kv[i], kv[i+1])
		require.NoError(t, err)
	}
	return p
}

func TestTimerDue(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	due, ok, err := TimerDue(timerProps(t, PropertyTags, "a"), now)
	require.NoError(t, err)
	require.False(t, ok)

	due, ok, err = TimerDue(timerProps(t, PropertyTimerDelaySec, "90"), now)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, now.Add(90*time.Second), due)

	due, _, _ = TimerDue(timerProps(t, PropertyTimerDelayMS, "1500"), now)
	require.Equal(t, now.Add(1500*time.Millisecond), due)

	due, _, _ = TimerDue(timerProps(t, PropertyStartDeliverTime, "1700000005000"), now)
	require.Equal(t, now.Add(5*time.Second), due)

	// TIMER_DELIVER_MS wins over the others.
	due, _, _ = TimerDue(timerProps(t, PropertyTimerDelaySec, "1", PropertyTimerDeliverMS, "1700000009000"), now)
	require.Equal(t, now.Add(9*time.Second), due)

	for _, bad := range []string{"x", "-1", "1e3", "99999999999999999999"} {
		_, ok, err = TimerDue(timerProps(t, PropertyTimerDelayMS, bad), now)
		require.True(t, ok)
		require.ErrorIs(t, err, ErrTimer, bad)
	}
	_, _, err = TimerDue(timerProps(t, PropertyTimerDelaySec, "562949953421312"), now) // 2^49 s
	require.ErrorIs(t, err, ErrTimer, "seconds that overflow a duration")
}

func TestTimerLevel(t *testing.T) {
	require.Equal(t, int32(0), TimerLevel(time.Millisecond))
	require.Equal(t, int32(0), TimerLevel(199*time.Millisecond))
	require.Equal(t, int32(1), TimerLevel(200*time.Millisecond))
	require.Equal(t, int32(4), TimerLevel(1700*time.Millisecond)) // 1.6 s
	require.Equal(t, int32(len(TimerLevels)-1), TimerLevel(30*24*time.Hour))
	// Hops: each waits at most what is left, and what is left at least halves.
	d := 259200 * time.Second
	hops := 0
	for d >= TimerLevels[0] {
		w := TimerLevels[TimerLevel(d)]
		require.LessOrEqual(t, w, d)
		d -= w
		hops++
	}
	require.LessOrEqual(t, hops, len(TimerLevels))
	t.Logf("a 3-day timer: %d hops", hops)
}

// BenchmarkTimerDue: what every send pays to learn it is not a timer.
func BenchmarkTimerDue(b *testing.B) {
	s, err := EncodeProperties(map[string]string{PropertyTags: "TagA", PropertyUniqKey: "C0A8000712340000000000d2c2a1b00001", "WAIT": "true", PropertyKeys: "order-1"})
	if err != nil {
		b.Fatal(err)
	}
	props := []byte(s)
	now := time.Now()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, ok, _ := TimerDue(props, now); ok {
			b.Fatal("a timer")
		}
	}
}

// BenchmarkLookupProperty: one key of a send's properties.
func BenchmarkLookupProperty(b *testing.B) {
	s, err := EncodeProperties(map[string]string{PropertyTags: "TagA", PropertyUniqKey: "C0A8000712340000000000d2c2a1b00001", "WAIT": "true", PropertyKeys: "order-1"})
	if err != nil {
		b.Fatal(err)
	}
	props := []byte(s)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, ok := LookupProperty(props, PropertyUniqKey); !ok {
			b.Fatal("missing")
		}
	}
}
