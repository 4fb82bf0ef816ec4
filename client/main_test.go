package client_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger sends client logs to the test log, warnings and up only
// unless RAFTMQ_CLIENT_DEBUG is set.
func testLogger(t testing.TB) hclog.Logger {
	level := hclog.Warn
	if os.Getenv("RAFTMQ_CLIENT_DEBUG") != "" {
		level = hclog.Debug
	}
	return hclog.New(&hclog.LoggerOptions{Name: "client", Level: level, Output: &tWriter{t: t}})
}

type tWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func opts(t testing.TB, c *cluster.Cluster, more ...client.Option) []client.Option {
	return append([]client.Option{client.WithNameServers(c.NamesrvAddr()), client.WithLogger(testLogger(t))}, more...)
}

func newProducer(t testing.TB, c *cluster.Cluster, more ...client.Option) *client.Producer {
	t.Helper()
	p, err := client.NewProducer(opts(t, c, more...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return p
}

func newAdmin(t testing.TB, c *cluster.Cluster, more ...client.Option) *client.Admin {
	t.Helper()
	a, err := client.NewAdmin(opts(t, c, more...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, a.Shutdown(context.Background())) })
	return a
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var topicSeq int

func uniqueName(prefix string) string {
	topicSeq++
	return fmt.Sprintf("%s_%d_%d", prefix, time.Now().UnixNano()%1e9, topicSeq)
}
