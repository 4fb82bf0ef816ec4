package message

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Timer messages (RocketMQ 5.x): TIMER_DELIVER_MS (epoch ms),
// TIMER_DELAY_SEC and TIMER_DELAY_MS (from the broker's receipt), and
// __STARTDELIVERTIME (epoch ms, Aliyun-compatible clients) ask for
// delivery at a time. The first one present in that order wins.

// ErrTimer marks a timer property a broker must refuse.
var ErrTimer = errors.New("timer message illegal")

// TimerDue returns when a message with these encoded properties is due
// (ok false: not a timer message), given the time the broker received it.
func TimerDue(props []byte, received time.Time) (due time.Time, ok bool, err error) {
	// One pass over the properties for the four keys (every send asks,
	// and most have none); the last occurrence of a key counts, as in
	// LookupProperty.
	keys := [...]string{PropertyTimerDeliverMS, PropertyTimerDelaySec, PropertyTimerDelayMS, PropertyStartDeliverTime}
	var vals [len(keys)][]byte
	var found [len(keys)]bool
	forEachProperty(props, func(k, v []byte) bool {
		for i, key := range keys {
			if string(k) == key {
				vals[i], found[i] = v, true
			}
		}
		return true
	})
	if found == [len(keys)]bool{} {
		return time.Time{}, false, nil
	}
	num := func(key string) (int64, bool, error) {
		var v []byte
		ok := false
		for i, k := range keys {
			if k == key {
				v, ok = vals[i], found[i]
			}
		}
		if !ok {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || n < 0 {
			return 0, true, fmt.Errorf("%w: %s=%q is not a non-negative number", ErrTimer, key, v)
		}
		return n, true, nil
	}
	const maxMS = 1 << 50 // far beyond any delay a broker accepts; keeps the arithmetic in range
	for _, k := range []struct {
		key  string
		unit int64 // ms
		at   func(n int64) time.Time
	}{
		{PropertyTimerDeliverMS, 1, func(n int64) time.Time { return time.UnixMilli(n) }},
		{PropertyTimerDelaySec, 1000, func(n int64) time.Time { return received.Add(time.Duration(n) * time.Second) }},
		{PropertyTimerDelayMS, 1, func(n int64) time.Time { return received.Add(time.Duration(n) * time.Millisecond) }},
		{PropertyStartDeliverTime, 1, func(n int64) time.Time { return time.UnixMilli(n) }},
	} {
		n, present, err := num(k.key)
		if err != nil {
			return time.Time{}, true, err
		}
		if present {
			if n > maxMS/k.unit {
				return time.Time{}, true, fmt.Errorf("%w: %s=%d is out of range", ErrTimer, k.key, n)
			}
			return k.at(n), true, nil
		}
	}
	return time.Time{}, false, nil
}

// TimerLevels are the waiting queues of TimerTopic: queue k holds
// messages for 100 ms·2^k. A message due in d waits in the largest queue
// not longer than d, then in the next, and so on: at most len(TimerLevels)
// hops, each re-storing it, and it is delivered within one scheduler pass
// (100 ms) after its time.
var TimerLevels = func() []time.Duration {
	out := make([]time.Duration, 23) // 100 ms .. 116.5 h
	for k := range out {
		out[k] = 100 * time.Millisecond << k
	}
	return out
}()

// TimerLevel is the queue of TimerTopic for a message due in d (d > 0).
func TimerLevel(d time.Duration) int32 {
	k := int32(0)
	for int(k)+1 < len(TimerLevels) && TimerLevels[k+1] <= d {
		k++
	}
	return k
}
