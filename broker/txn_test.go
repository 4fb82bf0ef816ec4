package broker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

type halfSent struct {
	phys, queueOffset int64
	uniq              string
}

func sendHalf(t *testing.T, g *rig, addr, topic, body, group string) halfSent {
	t.Helper()
	req := sendReq(topic, 1, []byte(body), map[string]string{message.PropertyTransactionPrepared: "true",
		message.PropertyProducerGroup: group, message.PropertyKeys: body})
	r := g.call(addr, req)
	require.Equal(t, int16(0), r.Code, r.Remark)
	var rh transport.SendMessageResponseHeader
	require.NoError(t, rh.Decode(r.ExtFields))
	_, phys, err := message.DecodeOffsetMsgID(rh.MsgID)
	require.NoError(t, err)
	require.Equal(t, int32(1), rh.QueueID, "the producer's queue is reported")
	return halfSent{phys: phys, queueOffset: rh.QueueOffset, uniq: rh.TransactionID}
}

func endTxnReq(h halfSent, group string, how int32) *transport.Command {
	eh := transport.EndTransactionRequestHeader{ProducerGroup: group, TranStateTableOffset: h.queueOffset, CommitLogOffset: h.phys,
		CommitOrRollback: how, MsgID: h.uniq, TransactionID: h.uniq}
	return transport.NewRequest(transport.ReqEndTransaction, eh.Encode(), nil)
}

func openTxns(t *testing.T, g *rig, addr string) transport.TransactionList {
	t.Helper()
	r := g.call(addr, transport.NewRequest(transport.ReqListTransactions, map[string]string{"topic": "Txn"}, nil))
	require.Equal(t, int16(0), r.Code, r.Remark)
	var l transport.TransactionList
	require.NoError(t, transport.DecodeBody(r.Body, &l))
	return l
}

// pulledTxn is what consumers of the topic's queue 1 see.
func pulledTxn(t *testing.T, g *rig, topic string) []*message.MessageExt {
	return pulledQ(t, g, topic, 1)
}

// pulledQ pulls a queue from offset 0 (nil until the topic exists).
func pulledQ(t *testing.T, g *rig, topic string, qid int32) []*message.MessageExt {
	t.Helper()
	h := transport.PullMessageRequestHeader{ConsumerGroup: "G", Topic: topic, QueueID: qid, MaxMsgNums: 64}
	r := g.call(g.leader().Addr(), transport.NewRequest(transport.ReqPullMessage, h.Encode(), nil))
	if r.Code != 0 {
		return nil
	}
	msgs, err := message.DecodeRecords(r.Body)
	require.NoError(t, err)
	return msgs
}

func bodies(msgs []*message.MessageExt) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.Body))
	}
	return out
}

// TestBroker_Transactions: half messages are invisible; COMMIT makes one
// visible once (a second COMMIT is refused), ROLLBACK drops it, bad ends
// change nothing; the check-back reaches a producer connected to a
// follower and its answer commits; a transaction nobody answers is
// discarded after transactionCheckMax checks; a leader change in between
// loses nothing.
func TestBroker_Transactions(t *testing.T) {
	g := startGroup(t, 3, func(c *Config) {
		c.TransactionTimeout = 400 * time.Millisecond
		c.TransactionCheckInterval = 300 * time.Millisecond
		c.TransactionCheckMax = 3
	})
	const topic = "Txn"
	f := g.follower().Addr()
	commit := sendHalf(t, g, f, topic, "commit-me", "PG")
	rollback := sendHalf(t, g, f, topic, "rollback-me", "PG")
	require.Empty(t, pulledTxn(t, g, topic), "half messages are invisible")
	require.Equal(t, 2, openTxns(t, g, f).Open)

	// Bad input: clear codes, nothing changes.
	bad := commit
	bad.phys += 3
	require.Equal(t, int16(transport.RespSystemError), g.call(f, endTxnReq(bad, "PG", transport.TransactionCommitType)).Code)
	r := g.call(f, endTxnReq(commit, "OTHER", transport.TransactionCommitType))
	require.Equal(t, int16(transport.RespSystemError), r.Code)
	require.Contains(t, r.Remark, "producer group")
	bad = commit
	bad.queueOffset++
	require.Equal(t, int16(transport.RespSystemError), g.call(f, endTxnReq(bad, "PG", transport.TransactionCommitType)).Code)
	require.Equal(t, int16(transport.RespInvalidParameter), g.call(f, endTxnReq(commit, "PG", 5)).Code)
	r = g.call(f, sendReq(topic, 0, []byte("delayed"), map[string]string{message.PropertyTransactionPrepared: "true", "DELAY": "2"}))
	require.Equal(t, int16(transport.RespMessageIllegal), r.Code, r.Remark)
	require.Equal(t, 2, openTxns(t, g, f).Open)

	// Commit through a follower (forwarded), twice: stored once.
	r = g.call(f, endTxnReq(commit, "PG", transport.TransactionCommitType))
	require.Equal(t, int16(0), r.Code, r.Remark)
	r = g.call(f, endTxnReq(commit, "PG", transport.TransactionCommitType))
	require.Equal(t, int16(transport.RespSystemError), r.Code, "an ended transaction cannot end again")
	got := pulledTxn(t, g, topic)
	require.Equal(t, []string{"commit-me"}, bodies(got))
	m := got[0]
	require.Equal(t, commit.uniq, m.UniqKey(), "the msgId the producer got stays the message's id")
	require.Equal(t, int32(1), m.QueueID)
	require.Empty(t, m.GetProperty(message.PropertyTransactionPrepared))
	require.Empty(t, m.GetProperty(message.PropertyRealTopic))
	require.Equal(t, "commit-me", m.GetProperty(message.PropertyKeys))
	require.Equal(t, message.SysFlagTransactionCommit, m.SysFlag&message.SysFlagTransactionMask)

	// Rollback, after the leader changed.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	old := g.leader()
	require.NoError(t, old.Shutdown(ctx))
	var live []*Broker
	for _, b := range g.brokers {
		if b != old {
			live = append(live, b)
		}
	}
	g.brokers = live
	f = g.follower().Addr()
	r = g.call(f, endTxnReq(rollback, "PG", transport.TransactionRollbackType))
	require.Equal(t, int16(0), r.Code, r.Remark)
	require.Zero(t, openTxns(t, g, f).Open)

	// Check-back: a producer of PG connected to the follower answers
	// UNKNOWN once, then COMMIT.
	pc, err := transport.NewClient(transport.DefaultClientConfig())
	require.NoError(t, err)
	defer pc.Close()
	var mu sync.Mutex
	checks := map[string]int{}
	pc.Handle(transport.ReqCheckTransactionState, func(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
		var h transport.CheckTransactionStateRequestHeader
		if h.Decode(req.ExtFields) != nil {
			return nil
		}
		msgs, err := message.DecodeRecords(req.Body)
		if err != nil || len(msgs) != 1 || msgs[0].Topic != topic {
			t.Errorf("check-back body: %v %v", err, msgs)
			return nil
		}
		mu.Lock()
		checks[string(msgs[0].Body)]++
		n := checks[string(msgs[0].Body)]
		mu.Unlock()
		how := transport.TransactionNotType
		if n >= 2 {
			how = transport.TransactionCommitType
		}
		eh := transport.EndTransactionRequestHeader{ProducerGroup: "PG", TranStateTableOffset: h.TranStateTableOffset,
			CommitLogOffset: h.CommitLogOffset, CommitOrRollback: how, FromTransactionCheck: true, MsgID: h.MsgID, TransactionID: h.TransactionID}
		c.Send(transport.NewRequest(transport.ReqEndTransaction, eh.Encode(), nil))
		return nil
	})
	hb, err := transport.EncodeBody(transport.HeartbeatData{ClientID: "producer-1", ProducerDataSet: []transport.ProducerData{{GroupName: "PG"}}})
	require.NoError(t, err)
	hr, err := pc.Invoke(ctx, f, transport.NewRequest(transport.ReqHeartbeat, nil, hb))
	require.NoError(t, err)
	require.Equal(t, int16(0), hr.Code, hr.Remark)

	sendHalf(t, g, f, topic, "checked", "PG")
	sendHalf(t, g, f, topic, "orphan", "NOBODY")
	require.Eventually(t, func() bool {
		return len(pulledTxn(t, g, topic)) == 2
	}, 15*time.Second, 50*time.Millisecond, "the check-back's COMMIT makes the message visible")
	require.Equal(t, []string{"commit-me", "checked"}, bodies(pulledTxn(t, g, topic)))
	mu.Lock()
	require.Equal(t, 2, checks["checked"], "asked until it answered")
	require.Zero(t, checks["orphan"], "only the producer's own group is asked")
	mu.Unlock()

	// Nobody answers for NOBODY: discarded after 3 checks.
	l := openTxns(t, g, f)
	require.Len(t, l.Transactions, 1)
	require.Equal(t, "orphan", l.Transactions[0].Keys)
	require.Eventually(t, func() bool { return len(pulledQ(t, g, message.TransCheckMaxTopic, 0)) == 1 },
		15*time.Second, 50*time.Millisecond)
	require.Zero(t, openTxns(t, g, f).Open)
	require.Equal(t, []string{"commit-me", "checked"}, bodies(pulledTxn(t, g, topic)), "a discarded transaction is never delivered")
	d := pulledQ(t, g, message.TransCheckMaxTopic, 0)[0]
	require.Equal(t, "orphan", string(d.Body))
	require.Equal(t, "3", d.GetProperty(message.PropertyTransactionCheckTime) /* as last checked */, "props: %v", d.Properties)
}

// TestBroker_TransactionBadInput: a half message for a topic that does not
// exist (auto-creation off), or in a batch, is refused with a clear code
// and opens nothing.
func TestBroker_TransactionBadInput(t *testing.T) {
	g := startGroup(t, 1, func(c *Config) { c.AutoCreateTopic = false })
	addr := g.leader().Addr()
	r := g.call(addr, sendReq("Nope", 0, []byte("half"), map[string]string{message.PropertyTransactionPrepared: "true", message.PropertyProducerGroup: "PG"}))
	require.Equal(t, int16(transport.RespTopicNotExist), r.Code, r.Remark)
	require.Zero(t, g.leader().g.OpenTxns())
	r = g.call(addr, endTxnReq(halfSent{phys: 0, queueOffset: 0, uniq: "x"}, "PG", transport.TransactionCommitType))
	require.Equal(t, int16(transport.RespSystemError), r.Code, "no transaction to end")
	require.Contains(t, r.Remark, "no open transaction")
}
