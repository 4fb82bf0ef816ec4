package client_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

type listener struct {
	decide atomic.Bool // "pending" commits once set
	mu     sync.Mutex
	checks map[string]int
}

func (l *listener) ExecuteLocalTransaction(_ context.Context, m *client.Message, res *client.SendResult) client.LocalTransactionState {
	switch b := string(m.Body); {
	case strings.HasPrefix(b, "commit"):
		return client.CommitTransaction
	case strings.HasPrefix(b, "rollback"):
		return client.RollbackTransaction
	}
	return client.UnknownTransaction
}

func (l *listener) CheckLocalTransaction(_ context.Context, m *client.MessageExt) client.LocalTransactionState {
	l.mu.Lock()
	l.checks[string(m.Body)]++
	l.mu.Unlock()
	switch b := string(m.Body); {
	case strings.HasPrefix(b, "unknown"):
		return client.CommitTransaction
	case b == "pending" && l.decide.Load():
		return client.CommitTransaction
	}
	return client.UnknownTransaction
}

// TestTransactionProducer: commit, rollback and unknown (resolved by the
// check-back); an open transaction is listed by the admin API with its
// check count until its producer decides.
func TestTransactionProducer(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Config: map[string]string{"transactionTimeOut": "500", "transactionCheckInterval": "500"}})
	topic := uniqueName("Txn")
	createTopic(t, c, topic, 2)
	l := &listener{checks: map[string]int{}}
	tp, err := client.NewTransactionProducer(l, opts(t, c, client.WithGroup(uniqueName("TxnProducers")))...)
	require.NoError(t, err)
	defer func() { require.NoError(t, tp.Shutdown(context.Background())) }()
	ctx := ctxT(t, 60*time.Second)
	var want []string
	for i := 0; i < 5; i++ {
		for _, kind := range []string{"commit", "rollback", "unknown"} {
			body := fmt.Sprintf("%s-%d", kind, i)
			res, err := tp.SendMessageInTransaction(ctx, client.NewMessage(topic, []byte(body)))
			require.NoError(t, err)
			require.NoError(t, res.EndErr)
			require.Equal(t, client.SendOK, res.Status)
			if kind != "rollback" {
				want = append(want, body)
			}
		}
	}
	res, err := tp.SendMessageInTransaction(ctx, client.NewMessage(topic, []byte("pending")))
	require.NoError(t, err)
	require.Equal(t, client.UnknownTransaction, res.State)

	a := newAdmin(t, c)
	cluster.Eventually(t, 20*time.Second, func() error {
		txns, _, err := a.OpenTransactions(ctx, topic, 0, client.Target{})
		if err != nil {
			return err
		}
		if len(txns) != 1 || txns[0].Checks < 2 || txns[0].MsgID != res.MsgID {
			return fmt.Errorf("open transactions: %+v", txns)
		}
		return nil
	})
	l.decide.Store(true)
	want = append(want, "pending")
	sort.Strings(want)
	cluster.Eventually(t, 20*time.Second, func() error {
		var got []string
		for _, m := range pullAll(t, c, topic) {
			got = append(got, string(m.Body))
		}
		sort.Strings(got)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("stored %v, want %v", got, want)
		}
		return nil
	})
	txns, _, err := a.OpenTransactions(ctx, "", 0, client.Target{})
	require.NoError(t, err)
	require.Empty(t, txns)
	l.mu.Lock()
	defer l.mu.Unlock()
	for body := range l.checks {
		require.False(t, strings.HasPrefix(body, "commit") || strings.HasPrefix(body, "rollback"), "%s was decided, yet checked", body)
	}
}
