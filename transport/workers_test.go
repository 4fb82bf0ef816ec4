package transport

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func (w *workers) idleCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.idle)
}

// TestWorkers: concurrent tasks get a worker each; once idle, the workers
// take the next tasks instead of new goroutines; the janitor ends those
// idle for a whole sweep interval; close ends the rest.
func TestWorkers(t *testing.T) {
	w := newWorkers()
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(50)
	for i := 0; i < 50; i++ {
		w.run(func() { started.Done(); <-release })
	}
	started.Wait()
	require.Zero(t, w.idleCount())
	close(release)
	require.Eventually(t, func() bool { return w.idleCount() == 50 }, 5*time.Second, time.Millisecond)

	// Reused: no new worker for sequential tasks.
	done := make(chan struct{})
	for i := 0; i < 100; i++ {
		w.run(func() { done <- struct{}{} })
		<-done
		require.Eventually(t, func() bool { return w.idleCount() == 50 }, 5*time.Second, time.Millisecond)
	}

	// The first sweep only marks; the second ends those idle since.
	w.sweepOnce()
	require.Equal(t, 50, w.idleCount())
	w.run(func() { done <- struct{}{} }) // one is busy again, then idle in the new epoch
	<-done
	require.Eventually(t, func() bool { return w.idleCount() == 50 }, 5*time.Second, time.Millisecond)
	w.sweepOnce()
	require.Equal(t, 1, w.idleCount(), "only the worker used since the last sweep stays")

	w.close()
	require.Zero(t, w.idleCount())
	w.close() // idempotent
}
