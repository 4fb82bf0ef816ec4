package compat

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
)

// The chaos run's second load: transactional sends and timer messages,
// whose state changes (half message, end, check count, timer hops) all go
// through raft. Checked at the end: every acknowledged transaction whose
// producer decided COMMIT (at once, or when checked back) is stored once,
// none decided ROLLBACK is ever stored; every acknowledged timer is stored
// once and never before it was due.

const (
	chaosTxnTopic   = "ChaosTxn"
	chaosTimerTopic = "ChaosTimer"
)

// txnDecision is a body's outcome: seq%3 0 commit at once, 1 rollback at
// once, 2 unknown, then commit (even seq) or rollback (odd) when checked.
func txnDecision(seq int) (atOnce, final client.LocalTransactionState) {
	switch seq % 3 {
	case 0:
		return client.CommitTransaction, client.CommitTransaction
	case 1:
		return client.RollbackTransaction, client.RollbackTransaction
	}
	if seq%2 == 0 {
		return client.UnknownTransaction, client.CommitTransaction
	}
	return client.UnknownTransaction, client.RollbackTransaction
}

func bodySeq(body []byte) int {
	_, s, _ := strings.Cut(string(body), "-")
	n, _ := strconv.Atoi(s)
	return n
}

type chaosTxnListener struct{ checks atomic.Int64 }

func (l *chaosTxnListener) ExecuteLocalTransaction(_ context.Context, m *client.Message, _ *client.SendResult) client.LocalTransactionState {
	s, _ := txnDecision(bodySeq(m.Body))
	return s
}

func (l *chaosTxnListener) CheckLocalTransaction(_ context.Context, m *client.MessageExt) client.LocalTransactionState {
	l.checks.Add(1)
	_, s := txnDecision(bodySeq(m.Body))
	return s
}

// chaosRead is one delivery seen by a consumer of the second load. origin
// names what was stored once: a committed message's half message
// (TRAN_PREPARED_QUEUE_OFFSET; a producer retry of a half message is
// another transaction), a stored timer (its body and due time,
// TIMER_OUT_MS: the timer producer does not retry, but a follower that
// forwarded the send retries it at the new leader after a failover, which
// stores a second timer, due later: an at-least-once send, counted apart;
// a timer that fired twice has one due time at two places).
type chaosRead struct {
	at     string // queue@offset
	origin string
	stored time.Time
}

type sideLoad struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	listener *chaosTxnListener
	tp       *client.TransactionProducer
	p        *client.Producer
	cons     []*client.PushConsumer

	mu        sync.Mutex
	txnAcked  map[int]bool // seq -> half message acknowledged
	txnSent   int
	timerDue  map[int]time.Time // seq -> earliest due (sent + delay), acknowledged ones
	timerSent int
	reads     map[string]map[string][]chaosRead // topic -> body -> deliveries
}

func startSideLoad(ns string) (*sideLoad, error) {
	l := &sideLoad{stop: make(chan struct{}), listener: &chaosTxnListener{}, txnAcked: map[int]bool{}, timerDue: map[int]time.Time{},
		reads: map[string]map[string][]chaosRead{chaosTxnTopic: {}, chaosTimerTopic: {}}}
	var err error
	if l.tp, err = client.NewTransactionProducer(l.listener, client.WithNameServers(ns), client.WithGroup("ChaosTxnProducers")); err != nil {
		return nil, err
	}
	// No retries: a retry after an unknown outcome may store a second
	// copy, which would look like a timer firing twice.
	if l.p, err = client.NewProducer(client.WithNameServers(ns), client.WithGroup("ChaosTimerProducers"), client.WithRetries(0)); err != nil {
		return nil, err
	}
	for _, topic := range []string{chaosTxnTopic, chaosTimerTopic} {
		pc, err := client.NewPushConsumer(client.WithNameServers(ns), client.WithGroup(topic+"Consumers"),
			client.WithConsumeFromWhere(client.ConsumeFromFirstOffset))
		if err != nil {
			return nil, err
		}
		if err := pc.Subscribe(topic, "*", func(_ context.Context, msgs []*client.MessageExt) client.ConsumeResult {
			l.mu.Lock()
			defer l.mu.Unlock()
			for _, m := range msgs {
				origin := m.Property("TRAN_PREPARED_QUEUE_OFFSET")
				if topic == chaosTimerTopic {
					origin = string(m.Body) + "@" + m.Property("TIMER_OUT_MS")
				}
				l.reads[topic][string(m.Body)] = append(l.reads[topic][string(m.Body)],
					chaosRead{at: fmt.Sprintf("%s@%d", m.Queue, m.QueueOffset), origin: origin, stored: m.StoreTimestamp})
			}
			return client.ConsumeSuccess
		}); err != nil {
			return nil, err
		}
		if err := pc.Start(context.Background()); err != nil {
			return nil, err
		}
		l.cons = append(l.cons, pc)
	}
	l.wg.Add(2)
	go l.paced(l.sendTxn)
	go l.paced(l.sendTimer)
	return l, nil
}

// paced calls send with 0, 1, 2, … every 20 ms until stop (bounded in
// count too).
func (l *sideLoad) paced(send func(seq int)) {
	defer l.wg.Done()
	for seq := 0; seq < 1_000_000; seq++ {
		select {
		case <-l.stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		send(seq)
	}
}

func (l *sideLoad) sendTxn(seq int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err := l.tp.SendMessageInTransaction(ctx, client.NewMessage(chaosTxnTopic, []byte("txn-"+strconv.Itoa(seq))))
	cancel()
	l.mu.Lock()
	l.txnSent++
	l.txnAcked[seq] = err == nil
	l.mu.Unlock()
}

func (l *sideLoad) sendTimer(seq int) {
	delay := time.Duration(500+(seq%20)*250) * time.Millisecond
	m := client.NewMessage(chaosTimerTopic, []byte("timer-"+strconv.Itoa(seq))).SetProperty("TIMER_DELAY_MS", strconv.FormatInt(delay.Milliseconds(), 10))
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err := l.p.Send(ctx, m)
	cancel()
	l.mu.Lock()
	l.timerSent++
	if err == nil {
		// The broker counts the delay from its receipt, after start.
		l.timerDue[seq] = start.Add(delay).Truncate(time.Millisecond)
	}
	l.mu.Unlock()
}

func (l *sideLoad) stopSending() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

func (l *sideLoad) shutdown() {
	l.stopSending()
	for _, pc := range l.cons {
		pc.Shutdown(context.Background())
	}
	l.tp.Shutdown(context.Background())
	l.p.Shutdown(context.Background())
}

// sideReport is what the second load's check found.
type sideReport struct {
	txnSent, txnAcked, committedWanted, committedSeen, rolledBackSeen, txnStoredTwice int
	timerSent, timerAcked, timerSeen, timerStoredTwice, timerEarly, timerResent       int
	checks                                                                            int64
	missing                                                                           []string
}

func (r sideReport) ok() bool {
	return r.committedSeen == r.committedWanted && r.rolledBackSeen == 0 && r.txnStoredTwice == 0 &&
		r.timerSeen == r.timerAcked && r.timerStoredTwice == 0 && r.timerEarly == 0
}

func (r sideReport) String() string {
	return fmt.Sprintf("transactions: %d sent, %d acknowledged, %d to commit, %d committed and seen, %d rolled back but seen (must be 0), "+
		"%d committed twice (must be 0), %d check-backs answered; timers: %d sent, %d acknowledged, %d seen, %d fired twice (must be 0), %d early (must be 0), %d stored twice by a forwarded send's retry%s",
		r.txnSent, r.txnAcked, r.committedWanted, r.committedSeen, r.rolledBackSeen, r.txnStoredTwice, r.checks,
		r.timerSent, r.timerAcked, r.timerSeen, r.timerStoredTwice, r.timerEarly, r.timerResent, missingNote(r.missing))
}

func missingNote(m []string) string {
	if len(m) == 0 {
		return ""
	}
	if len(m) > 10 {
		m = m[:10]
	}
	return "; missing e.g. " + strings.Join(m, " ")
}

func (l *sideLoad) report() sideReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := sideReport{txnSent: l.txnSent, timerSent: l.timerSent, timerAcked: len(l.timerDue), checks: l.listener.checks.Load()}
	// twice: one origin stored at two places (a half message committed
	// twice, a timer fired twice). Redeliveries of one place are the
	// consumer's at-least-once and do not count.
	twice := func(ds []chaosRead) bool {
		at := map[string]string{}
		for _, d := range ds {
			if p, ok := at[d.origin]; ok && p != d.at {
				return true
			}
			at[d.origin] = d.at
		}
		return false
	}
	for seq, acked := range l.txnAcked {
		_, final := txnDecision(seq)
		body := "txn-" + strconv.Itoa(seq)
		seen := l.reads[chaosTxnTopic][body]
		if twice(seen) {
			r.txnStoredTwice++
		}
		if acked {
			r.txnAcked++
		}
		switch {
		case final == client.RollbackTransaction && len(seen) > 0:
			r.rolledBackSeen++
		case final == client.CommitTransaction && acked:
			r.committedWanted++
			if len(seen) > 0 {
				r.committedSeen++
			} else {
				r.missing = append(r.missing, body)
			}
		}
	}
	for seq, due := range l.timerDue {
		body := "timer-" + strconv.Itoa(seq)
		seen := l.reads[chaosTimerTopic][body]
		if len(seen) == 0 {
			r.missing = append(r.missing, body)
			continue
		}
		r.timerSeen++
		if twice(seen) {
			r.timerStoredTwice++
		}
		origins := map[string]bool{}
		for _, d := range seen {
			origins[d.origin] = true
		}
		if len(origins) > 1 {
			r.timerResent++
		}
		if seen[0].stored.Before(due) {
			r.timerEarly++
		}
	}
	return r
}

// whereMissing says, for each missing body, whether the topic holds it
// (the push consumer skipped it) and where, or not (never delivered).
func (l *sideLoad) whereMissing(reads ...[]cluster.Read) string {
	r := l.report()
	at := map[string][]string{}
	for _, rs := range reads {
		for _, x := range rs {
			at[string(x.Body)] = append(at[string(x.Body)], fmt.Sprintf("%s/%d@%d", x.Broker, x.QueueID, x.QueueOffset))
		}
	}
	var b strings.Builder
	for _, m := range r.missing {
		if w := at[m]; len(w) > 0 {
			fmt.Fprintf(&b, "%s: stored at %s, not consumed\n", m, strings.Join(w, " "))
		} else {
			fmt.Fprintf(&b, "%s: not stored in its topic\n", m)
		}
	}
	return b.String()
}
