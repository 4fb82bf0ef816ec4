package cluster_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// TestBenchFailover measures, over RAFTMQ_FAILOVER_TRIALS leader SIGKILLs
// (default 20), the time from the kill to the first acknowledged send that
// a client holding the old route issued after it, with the default broker
// configuration. It runs only when RAFTMQ_FAILOVER_BENCH=1 (make
// bench-failover): it takes minutes.
func TestBenchFailover(t *testing.T) {
	if os.Getenv("RAFTMQ_FAILOVER_BENCH") == "" {
		t.Skip("set RAFTMQ_FAILOVER_BENCH=1 (make bench-failover)")
	}
	trials := 20
	if v, err := strconv.Atoi(os.Getenv("RAFTMQ_FAILOVER_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	for _, groupAddr := range []bool{false, true} {
		c := cluster.Start(t, cluster.Options{GroupAddr: groupAddr, Config: map[string]string{"registerInterval": "3s"}})
		g := c.Group(0)
		c.CreateTopic(t, "Failover", 4)
		p, err := client.NewProducer(client.WithNameServers(c.NamesrvAddr()), client.WithTimeout(time.Second))
		require.NoError(t, err)
		gaps := cluster.MeasureFailover(t, g, trials, func(ctx context.Context, i int) error {
			_, err := p.Send(ctx, client.NewMessage("Failover", []byte(fmt.Sprintf("m%d", i))))
			return err
		})
		p.Shutdown(context.Background())
		c.Close()
		t.Logf("FAILOVER raftmq client (group address %v), %d leader SIGKILLs: %s", groupAddr, len(gaps), cluster.Quantiles(gaps))
	}
}
