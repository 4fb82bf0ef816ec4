package transport

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTimeouts_NeverEarly(t *testing.T) {
	ts := newTimeouts()
	defer ts.stop()
	var wg sync.WaitGroup
	late := make(chan time.Duration, 200)
	for i := range 200 {
		d := time.Duration(1+i%20) * time.Millisecond
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			<-ts.after(d)
			late <- time.Since(start) - d
		}()
	}
	wg.Wait()
	close(late)
	worst := time.Duration(0)
	for l := range late {
		require.GreaterOrEqual(t, l, time.Duration(0), "a timeout fired early")
		worst = max(worst, l)
	}
	// One grain late by design, plus scheduling on a busy machine.
	require.Less(t, worst, timeoutGrain+500*time.Millisecond)
	require.Eventually(t, func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		return len(ts.slots) == 0
	}, time.Second, time.Millisecond, "fired slots are forgotten")
}

func TestTimeouts_SharedPerGrain(t *testing.T) {
	ts := newTimeouts()
	defer ts.stop()
	a := ts.after(time.Hour)
	b := ts.after(time.Hour)
	c := ts.after(2 * time.Hour)
	// a and b round to the same instant unless a grain boundary passed
	// between the calls; c never does.
	if a != b {
		require.Equal(t, b, ts.after(time.Hour))
	}
	require.NotEqual(t, a, c)
}

func TestTimeouts_Stop(t *testing.T) {
	ts := newTimeouts()
	ch := ts.after(20 * time.Millisecond)
	ts.stop()
	require.Nil(t, ts.after(time.Millisecond), "no channel after stop: the owner's context ends the wait")
	select {
	case <-ch:
		t.Fatal("a stopped timer's channel was closed")
	case <-time.After(100 * time.Millisecond):
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	require.Empty(t, ts.slots)
}
