package cluster_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// cli runs the raftmq binary with args against the cluster.
func cli(t *testing.T, c *cluster.Cluster, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(cluster.Binary(t), args...)
	cmd.Env = append(cmd.Environ(), "NAMESRV_ADDR="+c.NamesrvAddr())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func cliJSON(t *testing.T, c *cluster.Cluster, v any, args ...string) {
	t.Helper()
	out, stderr, err := cli(t, c, append(args, "--json")...)
	require.NoError(t, err, "raftmq %v: %s", args, stderr)
	require.NoError(t, json.Unmarshal([]byte(out), v), "raftmq %v output: %s", args, out)
}

// TestCLI_AdminProduceConsumeBench drives every admin command, produce,
// consume and bench through the binary and checks their output and exit
// codes.
func TestCLI_AdminProduceConsumeBench(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	g := c.Group(0)

	out, _, err := cli(t, c, "admin", "updateTopic", "-t", "CliTopic", "-r", "4", "-w", "4")
	require.NoError(t, err)
	require.Contains(t, out, "create topic to all broker groups success")
	var topics []string
	cliJSON(t, c, &topics, "admin", "topicList")
	require.Contains(t, topics, "CliTopic")

	out, _, err = cli(t, c, "produce", "-t", "CliTopic", "--body", "hello cli", "--tags", "TagA", "--keys", "order-1", "--count", "5")
	require.NoError(t, err)
	require.Equal(t, 5, strings.Count(out, "sendStatus=SEND_OK"))

	var route struct {
		Groups []struct{ Name string }
		Queues []struct{ WriteQueues int }
	}
	cliJSON(t, c, &route, "admin", "topicRoute", "-t", "CliTopic")
	require.Equal(t, "broker-a", route.Groups[0].Name)
	require.Equal(t, 4, route.Queues[0].WriteQueues)

	var status []struct{ MaxOffset int64 }
	cliJSON(t, c, &status, "admin", "topicStatus", "-t", "CliTopic")
	var total int64
	for _, q := range status {
		total += q.MaxOffset
	}
	require.EqualValues(t, 5, total)

	out, _, err = cli(t, c, "consume", "-t", "CliTopic", "-g", "CliGroup", "--from", "first", "--count", "5", "--json")
	require.NoError(t, err)
	require.Equal(t, 5, strings.Count(out, `"body":"hello cli"`))

	var progress struct{ TotalLag int64 }
	cluster.Eventually(t, 20*time.Second, func() error {
		cliJSON(t, c, &progress, "admin", "consumerProgress", "-g", "CliGroup")
		if progress.TotalLag != 0 {
			return errLag
		}
		return nil
	})

	var found []map[string]any
	cliJSON(t, c, &found, "admin", "queryMsgByKey", "-t", "CliTopic", "-k", "order-1")
	require.Len(t, found, 5)
	var one map[string]any
	cliJSON(t, c, &one, "admin", "queryMsgById", "-i", found[0]["offsetMsgId"].(string))
	require.Equal(t, "hello cli", one["body"])

	var reset []struct{ Offset int64 }
	cliJSON(t, c, &reset, "admin", "resetOffsetByTime", "-g", "CliGroup", "-t", "CliTopic", "-s", "0")
	require.Len(t, reset, 4)
	for _, r := range reset {
		require.Zero(t, r.Offset)
	}

	out, _, err = cli(t, c, "admin", "updateSubGroup", "-g", "CliSub", "-r", "3")
	require.NoError(t, err, out)

	var rows []struct {
		BID   int64
		State string
		Node  string
	}
	cliJSON(t, c, &rows, "admin", "clusterList")
	require.Len(t, rows, 3)
	require.Equal(t, "Leader", rows[0].State, "BID 0 is the leader")

	var statuses []map[string]any
	cliJSON(t, c, &statuses, "admin", "brokerStatus")
	require.Len(t, statuses, 3)

	leader := g.WaitLeader(t, 5*time.Second)
	target := "n0"
	if leader.ID == "n0" {
		target = "n1"
	}
	_, stderr, err := cli(t, c, "admin", "transferLeader", "-b", "broker-a", "-i", target)
	require.NoError(t, err, stderr)
	require.Equal(t, target, g.WaitNewLeader(t, leader, 10*time.Second).ID)

	out, _, err = cli(t, c, "admin", "deleteTopic", "-t", "CliTopic")
	require.NoError(t, err, out)
	cluster.Eventually(t, 10*time.Second, func() error {
		cliJSON(t, c, &topics, "admin", "topicList")
		for _, tp := range topics {
			if tp == "CliTopic" {
				return errLag
			}
		}
		return nil
	})

	// Errors are clear and exit non-zero.
	_, stderr, err = cli(t, c, "admin", "topicStatus", "-t", "NoSuchTopic")
	require.Error(t, err)
	require.Contains(t, stderr, "topic does not exist")
	_, stderr, err = cli(t, c, "admin", "topicRoute")
	require.Error(t, err)
	require.Contains(t, stderr, "missing required flag")
	cmd := exec.Command(cluster.Binary(t), "admin", "topicList", "-n", "127.0.0.1:1")
	msg, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(msg), "127.0.0.1:1")

	// bench checks its own counts: sent == acked == consumed.
	var prod struct {
		Messages uint64
		Errors   uint64
	}
	cliJSON(t, c, &prod, "bench", "produce", "-t", "CliBench", "--count", "2000", "--senders", "8", "--size", "256")
	require.EqualValues(t, 2000, prod.Messages)
	require.Zero(t, prod.Errors)
	var cons struct{ Messages uint64 }
	cliJSON(t, c, &cons, "bench", "consume", "-t", "CliBench", "--count", "2000")
	require.EqualValues(t, 2000, cons.Messages)
}

var errLag = &lagErr{}

type lagErr struct{}

func (*lagErr) Error() string { return "not yet" }
