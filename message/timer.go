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

// timerKeys are the timer properties in precedence order: an absolute
// time in epoch ms, or a delay of n units from the broker's receipt.
var timerKeys = [...]struct {
	key      string
	unit     time.Duration
	absolute bool
}{
	{PropertyTimerDeliverMS, time.Millisecond, true},
	{PropertyTimerDelaySec, time.Second, false},
	{PropertyTimerDelayMS, time.Millisecond, false},
	{PropertyStartDeliverTime, time.Millisecond, true},
}

// TimerDue returns when a message with these encoded properties is due
// (ok false: not a timer message), given the time the broker received it.
func TimerDue(props []byte, received time.Time) (due time.Time, ok bool, err error) {
	// One pass over the properties (every send asks, and most have none);
	// the last occurrence of a key counts, as in LookupProperty.
	var vals [len(timerKeys)][]byte
	found := LookupProperties(props, timerKeyNames[:], vals[:])
	return timerDue(vals[:], found, received)
}

var timerKeyNames = func() (out [len(timerKeys)]string) {
	for i, k := range timerKeys {
		out[i] = k.key
	}
	return out
}()

// timerDue is TimerDue on the timer properties' values, looked up already:
// vals[i] is timerKeys[i]'s, present if bit i of found is set.
func timerDue(vals [][]byte, found uint64, received time.Time) (time.Time, bool, error) {
	const maxMS = 1 << 50 // far beyond any delay a broker accepts; keeps the arithmetic in range
	for i, k := range timerKeys {
		if found&(1<<i) == 0 {
			continue
		}
		n, err := strconv.ParseInt(string(vals[i]), 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, true, fmt.Errorf("%w: %s=%q is not a non-negative number", ErrTimer, k.key, vals[i])
		}
		if n > maxMS/int64(k.unit/time.Millisecond) {
			return time.Time{}, true, fmt.Errorf("%w: %s=%d is out of range", ErrTimer, k.key, n)
		}
		if k.absolute {
			return time.UnixMilli(n), true, nil
		}
		return received.Add(time.Duration(n) * k.unit), true, nil
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
