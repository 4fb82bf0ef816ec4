package compat

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// txnListener decides by body prefix: "commit" and "rollback" at once;
// "unknown-even"/"unknown-odd" answer UNKNOWN and are resolved by the
// check-back (commit / rollback); "kill" SIGKILLs the leader between the
// half message and END_TRANSACTION; "checkkill" answers UNKNOWN, and its
// first check-back SIGKILLs the leader before answering COMMIT.
type txnListener struct {
	kill     func(what string)
	mu       sync.Mutex
	checks   map[string]int
	executed atomic.Int64
}

func (l *txnListener) ExecuteLocalTransaction(m *primitive.Message) primitive.LocalTransactionState {
	l.executed.Add(1)
	body := string(m.Body)
	switch {
	case strings.HasPrefix(body, "commit"):
		return primitive.CommitMessageState
	case strings.HasPrefix(body, "rollback"):
		return primitive.RollbackMessageState
	case strings.HasPrefix(body, "kill"):
		l.kill("between the half message and END_TRANSACTION")
		return primitive.CommitMessageState
	}
	return primitive.UnkonwnState
}

func (l *txnListener) CheckLocalTransaction(m *primitive.MessageExt) primitive.LocalTransactionState {
	body := string(m.Body)
	l.mu.Lock()
	l.checks[body]++
	n := l.checks[body]
	l.mu.Unlock()
	switch {
	case strings.HasPrefix(body, "unknown-even"), strings.HasPrefix(body, "kill"):
		return primitive.CommitMessageState
	case strings.HasPrefix(body, "unknown-odd"):
		return primitive.RollbackMessageState
	case strings.HasPrefix(body, "checkkill"):
		if n == 1 {
			l.kill("during a check-back")
		}
		return primitive.CommitMessageState
	}
	return primitive.UnkonwnState
}

// TestOfficialClient_Transactions: the official TransactionProducer's
// COMMIT, ROLLBACK and UNKNOWN (resolved by the check-back), with the
// leader SIGKILLed between a half message and its END_TRANSACTION and
// during a check-back: consumers see exactly the committed messages, each
// stored once; the producer reaches the group through its group address
// (so its connection is on a follower, and the check-back crosses
// members).
func TestOfficialClient_Transactions(t *testing.T) {
	c := cluster.Start(t, cluster.Options{GroupAddr: true, Config: map[string]string{
		"transactionTimeOut": "1000", "transactionCheckInterval": "1000", "transactionCheckMax": "30"}})
	g := c.Group(0)
	ns := c.NamesrvAddr()
	const topic = "OfficialTxn"
	c.CreateTopic(t, topic, 4)

	var killed atomic.Int64
	l := &txnListener{checks: map[string]int{}}
	l.kill = func(what string) {
		leader := g.Leader()
		if leader == nil {
			return
		}
		t.Logf("SIGKILL leader %s %s", leader.ID, what)
		leader.Kill()
		killed.Add(1)
		go func() { // back as a follower, so the group keeps a spare member
			time.Sleep(2 * time.Second)
			leader.Restart(t)
		}()
	}
	tp, err := rocketmq.NewTransactionProducer(l, producer.WithNameServer(strings.Split(ns, ";")),
		producer.WithGroupName("OfficialTxnProducers"), producer.WithRetry(3), producer.WithSendMsgTimeout(5*time.Second))
	require.NoError(t, err)
	require.NoError(t, tp.Start())
	defer tp.Shutdown()

	var mu sync.Mutex
	consumed := map[string]int{}
	pc, err := rocketmq.NewPushConsumer(consumer.WithNameServer(strings.Split(ns, ";")), consumer.WithGroupName("OfficialTxnConsumers"),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset))
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, consumer.MessageSelector{}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			consumed[string(m.Body)]++
		}
		return consumer.ConsumeSuccess, nil
	}))
	require.NoError(t, pc.Start())
	defer pc.Shutdown()

	want := map[string]bool{}
	send := func(body string, committed bool) {
		t.Helper()
		m := primitive.NewMessage(topic, []byte(body))
		m.WithKeys([]string{body})
		var res *primitive.TransactionSendResult
		cluster.Eventually(t, 20*time.Second, func() error {
			var err error
			res, err = tp.SendMessageInTransaction(context.Background(), m)
			if err == nil && res.Status != primitive.SendOK {
				err = fmt.Errorf("status %v", res.Status)
			}
			return err
		})
		if committed {
			want[body] = true
		}
	}
	for i := 0; i < 20; i++ {
		send(fmt.Sprintf("commit-%d", i), true)
		send(fmt.Sprintf("rollback-%d", i), false)
		if i%2 == 0 {
			send(fmt.Sprintf("unknown-even-%d", i), true)
		} else {
			send(fmt.Sprintf("unknown-odd-%d", i), false)
		}
	}
	g.WaitLeader(t, 20*time.Second)
	send("kill-0", true)
	g.WaitLeader(t, 20*time.Second)
	time.Sleep(3 * time.Second) // the killed member is back
	g.WaitLeader(t, 20*time.Second)
	send("checkkill-0", true)
	send("commit-after", true)

	cluster.Eventually(t, 60*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		for body := range want {
			if consumed[body] == 0 {
				return fmt.Errorf("%s not consumed yet (%d of %d consumed)", body, len(consumed), len(want))
			}
		}
		return nil
	})
	time.Sleep(3 * time.Second) // a late commit or a second delivery would show now
	mu.Lock()
	for body, n := range consumed {
		require.True(t, want[body], "%s consumed but never committed", body)
		require.Equal(t, 1, n, "%s consumed %d times", body, n)
	}
	mu.Unlock()
	require.Equal(t, int64(2), killed.Load())

	// Stored once: the topic holds exactly the committed messages.
	g.WaitCaughtUp(t, 60*time.Second)
	stored := map[string]int{}
	for _, r := range c.ReadBack(t, topic, 30*time.Second) {
		stored[string(r.Body)]++
	}
	require.Len(t, stored, len(want))
	for body := range want {
		require.Equal(t, 1, stored[body], "%s stored %d times", body, stored[body])
	}
	l.mu.Lock()
	require.GreaterOrEqual(t, l.checks["checkkill-0"], 1)
	for body := range l.checks {
		require.False(t, strings.HasPrefix(body, "commit-") || strings.HasPrefix(body, "rollback-"), "%s was decided at once, yet checked", body)
	}
	l.mu.Unlock()
}
