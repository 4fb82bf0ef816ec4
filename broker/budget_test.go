package broker

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestByteBudget: a request that does not fit waits for a release, and
// gives up at its deadline; one larger than the limit is admitted alone.
func TestByteBudget(t *testing.T) {
	b := newByteBudget(100)
	ctx := context.Background()
	require.True(t, b.acquire(ctx, 60, time.Second))
	require.False(t, b.acquire(ctx, 60, 20*time.Millisecond), "does not fit")
	got := make(chan bool)
	go func() { got <- b.acquire(ctx, 60, 5*time.Second) }()
	time.Sleep(20 * time.Millisecond)
	b.release(60)
	require.True(t, <-got, "admitted once the first is released")
	b.release(60)
	require.True(t, b.acquire(ctx, 500, time.Second), "alone, a request over the limit is admitted")
	b.release(500)
	require.Zero(t, b.used)
	require.Zero(t, b.waiting)
}
