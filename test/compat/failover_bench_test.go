package compat

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// TestBenchFailover is the official client's side of the failover
// benchmark: leader SIGKILL -> first acknowledged send issued after it.
// The official Go producer sends only to the brokerId-0 address of its
// cached route and refreshes routes every 30 s (_PullNameServerInterval,
// not configurable in the Go client; Java's pollNameServerInterval), so a
// dead leader is retried until the next refresh. Runs only with
// RAFTMQ_FAILOVER_BENCH=1 (make bench-failover); RAFTMQ_FAILOVER_TRIALS
// (default 5: each trial can take 30 s).
func TestBenchFailover(t *testing.T) {
	cluster.BenchOnly(t, "RAFTMQ_FAILOVER_BENCH", "bench-failover")
	trials := cluster.EnvInt("RAFTMQ_FAILOVER_TRIALS", 5)
	c := cluster.Start(t, cluster.Options{})
	g := c.Group(0)
	p, err := rocketmq.NewProducer(producer.WithNameServer(strings.Split(c.NamesrvAddr(), ";")),
		producer.WithGroupName("FailoverBench"), producer.WithRetry(2), producer.WithSendMsgTimeout(time.Second))
	require.NoError(t, err)
	require.NoError(t, p.Start())
	defer p.Shutdown()
	// Warm the route cache.
	for i := 0; i < 10; i++ {
		_, err := p.SendSync(context.Background(), primitive.NewMessage("OfficialFailover", []byte("warm")))
		require.NoError(t, err)
	}
	gaps := cluster.MeasureFailover(t, g, trials, func(ctx context.Context, i int) error {
		r, err := p.SendSync(ctx, primitive.NewMessage("OfficialFailover", []byte(fmt.Sprintf("m%d", i))))
		if err == nil && r.Status != primitive.SendOK {
			err = fmt.Errorf("status %v", r.Status)
		}
		return err
	})
	t.Logf("FAILOVER official rocketmq-client-go, %d leader SIGKILLs: %s", len(gaps), cluster.Quantiles(gaps))
}
