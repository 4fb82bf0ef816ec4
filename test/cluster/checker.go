package cluster

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftmq/raftmq/client"
)

// History records every send a test's producers made and which were
// acknowledged; Check compares it with what consumers read back.
//
// Each message body starts with a unique id ("<producer>-<seq>|"), also
// stored as its key, so reads map back to sends. Check asserts:
//   - no acknowledged message is lost: it is read back at the queue and
//     offset its acknowledgement named, with identical content;
//   - queue offsets are dense (no gaps) in every queue read;
//   - per queue, acknowledgement order is offset order: if send A was
//     acknowledged before send B began, A's offset is lower;
//   - nothing is read with different content than was sent;
//   - a message appears more than once only where a send was retried (the
//     client keeps UNIQ_KEY across retries, so such copies share it); these
//     are counted, not failures.
type History struct {
	mu    sync.Mutex
	sends map[string]*Send
	order []string
}

// Send is one message a producer tried to send.
type Send struct {
	ID          string
	Topic       string
	Hash        uint64
	Size        int
	SentAt      time.Time
	AckedAt     time.Time
	Acked       bool
	Failed      bool // the send returned an error: stored or not, unknown
	Err         string
	MsgID       string // UNIQ_KEY from the acknowledgement
	Broker      string
	QueueID     int32
	QueueOffset int64
}

// NewHistory returns an empty history.
func NewHistory() *History { return &History{sends: map[string]*Send{}} }

func hash(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// NewMessage makes a message with a unique id for producer p, number seq.
func (h *History) NewMessage(topic, producer string, seq, size int) (*client.Message, string) {
	id := fmt.Sprintf("%s-%d", producer, seq)
	body := []byte(id + "|")
	for len(body) < size {
		body = append(body, byte('a'+(seq+len(body))%26))
	}
	m := client.NewMessage(topic, body)
	m.Keys = []string{id}
	return m, id
}

func idOf(body []byte) string {
	if i := strings.IndexByte(string(body[:min(len(body), 64)]), '|'); i > 0 {
		return string(body[:i])
	}
	return ""
}

// Sending records a send about to start.
func (h *History) Sending(id string, m *client.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sends[id]
	if s == nil {
		s = &Send{ID: id, Topic: m.Topic, Hash: hash(m.Body), Size: len(m.Body)}
		h.sends[id] = s
		h.order = append(h.order, id)
	}
	s.SentAt = time.Now()
}

// Result records the outcome of a send.
func (h *History) Result(id string, r *client.SendResult, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sends[id]
	if err != nil || r == nil || r.Status != client.SendOK {
		s.Failed = true
		if err != nil {
			s.Err = err.Error()
		}
		return
	}
	s.Acked, s.AckedAt = true, time.Now()
	s.MsgID, s.Broker, s.QueueID, s.QueueOffset = r.MsgID, r.Queue.BrokerName, int32(r.Queue.QueueID), r.QueueOffset
}

// Record records an outcome reported by any client (e.g. the official
// one): acknowledged at broker/queue/offset with msgID, or failed.
func (h *History) Record(id string, err error, msgID, broker string, qid int32, off int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sends[id]
	if err != nil {
		s.Failed, s.Err = true, err.Error()
		return
	}
	s.Acked, s.AckedAt = true, time.Now()
	s.MsgID, s.Broker, s.QueueID, s.QueueOffset = msgID, broker, qid, off
}

// SendingBody records a send about to start, for clients other than ours.
func (h *History) SendingBody(id, topic string, body []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sends[id]
	if s == nil {
		s = &Send{ID: id, Topic: topic, Hash: hash(body), Size: len(body)}
		h.sends[id] = s
		h.order = append(h.order, id)
	}
	s.SentAt = time.Now()
}

// Body returns the body of message seq of producer (the same as NewMessage).
func (h *History) Body(producer string, seq, size int) (string, []byte) {
	m, id := h.NewMessage("", producer, seq, size)
	return id, m.Body
}

// AckedIDs returns the ids of the acknowledged sends.
func (h *History) AckedIDs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, id := range h.order {
		if h.sends[id].Acked {
			out = append(out, id)
		}
	}
	return out
}

// IDOf returns the id a message body starts with.
func IDOf(body []byte) string { return idOf(body) }

// Counts returns sent, acknowledged and failed sends.
func (h *History) Counts() (sent, acked, failed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.sends {
		sent++
		if s.Acked {
			acked++
		} else if s.Failed {
			failed++
		}
	}
	return
}

// Read is one message read back.
type Read struct {
	Broker      string
	QueueID     int32
	QueueOffset int64
	MsgID       string
	Body        []byte
}

// MergeReads combines reads of the same queues from two sources (a
// consumer that read along, and a read-back after retention deleted what
// it had consumed): one read per queue offset, the first source first.
func MergeReads(a, b []Read) []Read {
	type at struct {
		broker string
		qid    int32
		off    int64
	}
	seen := make(map[at]bool, len(a)+len(b))
	out := make([]Read, 0, len(a)+len(b))
	for _, rs := range [][]Read{a, b} {
		for _, r := range rs {
			k := at{r.Broker, r.QueueID, r.QueueOffset}
			if !seen[k] {
				seen[k] = true
				out = append(out, r)
			}
		}
	}
	return out
}

// ReadAll reads every queue of topic from its min to its max offset.
func ReadAll(ctx context.Context, pc *client.PullConsumer, topic string) ([]Read, error) {
	mqs, err := pc.Queues(ctx, topic)
	if err != nil {
		return nil, err
	}
	var out []Read
	for _, mq := range mqs {
		off, err := pc.MinOffset(ctx, mq)
		if err != nil {
			return nil, err
		}
		max, err := pc.MaxOffset(ctx, mq)
		if err != nil {
			return nil, err
		}
		for i := 0; off < max && i < 1_000_000; i++ {
			r, err := pc.Pull(ctx, mq, off, 256)
			if err != nil {
				return nil, fmt.Errorf("pull %v@%d: %w", mq, off, err)
			}
			if len(r.Messages) == 0 {
				return nil, fmt.Errorf("pull %v@%d: status %v with max %d", mq, off, r.Status, max)
			}
			for _, m := range r.Messages {
				out = append(out, Read{Broker: mq.BrokerName, QueueID: int32(mq.QueueID), QueueOffset: m.QueueOffset, MsgID: m.MsgID, Body: m.Body})
			}
			off = r.NextBeginOffset
		}
	}
	return out, nil
}

// Report is the checker's verdict.
type Report struct {
	Sent, Acked, Failed int
	Read                int
	Lost                int // acknowledged but not read back
	RetryDuplicates     int // extra copies of retried sends (allowed)
	FailedButStored     int // sends that returned an error yet were stored (allowed)
	Problems            []string
}

// OK reports whether the run kept every guarantee.
func (r Report) OK() bool { return r.Lost == 0 && len(r.Problems) == 0 }

func (r Report) String() string {
	s := fmt.Sprintf("sent %d, acked %d, failed %d, read %d, lost %d, retry duplicates %d, failed-but-stored %d, problems %d",
		r.Sent, r.Acked, r.Failed, r.Read, r.Lost, r.RetryDuplicates, r.FailedButStored, len(r.Problems))
	for i, p := range r.Problems {
		if i == 20 {
			s += fmt.Sprintf("\n  ... %d more", len(r.Problems)-20)
			break
		}
		s += "\n  " + p
	}
	return s
}

type qkey struct {
	broker string
	qid    int32
}

// Check compares the history with what was read.
func (h *History) Check(reads []Read) Report {
	h.mu.Lock()
	defer h.mu.Unlock()
	var rep Report
	problem := func(f string, a ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(f, a...)) }
	rep.Read = len(reads)
	byID := map[string][]Read{}
	byQueue := map[qkey][]Read{}
	for _, r := range reads {
		id := idOf(r.Body)
		s := h.sends[id]
		if s == nil {
			problem("read a message no producer sent at %s/%d@%d", r.Broker, r.QueueID, r.QueueOffset)
			continue
		}
		if hash(r.Body) != s.Hash || len(r.Body) != s.Size {
			problem("message %s read at %s/%d@%d with different content", id, r.Broker, r.QueueID, r.QueueOffset)
		}
		byID[id] = append(byID[id], r)
		k := qkey{r.Broker, r.QueueID}
		byQueue[k] = append(byQueue[k], r)
	}
	for k, rs := range byQueue {
		sort.Slice(rs, func(i, j int) bool { return rs[i].QueueOffset < rs[j].QueueOffset })
		for i := 1; i < len(rs); i++ {
			if rs[i].QueueOffset != rs[i-1].QueueOffset+1 {
				problem("queue %s/%d: offsets jump from %d to %d", k.broker, k.qid, rs[i-1].QueueOffset, rs[i].QueueOffset)
			}
		}
	}
	perQueue := map[qkey][]*Send{}
	for _, id := range h.order {
		s := h.sends[id]
		rep.Sent++
		rs := byID[id]
		switch {
		case s.Acked:
			rep.Acked++
			found := false
			for _, r := range rs {
				if r.Broker == s.Broker && r.QueueID == s.QueueID && r.QueueOffset == s.QueueOffset {
					found = true
				}
			}
			if !found {
				rep.Lost++
				where := "nowhere"
				if len(rs) > 0 {
					where = fmt.Sprintf("%s/%d@%d", rs[0].Broker, rs[0].QueueID, rs[0].QueueOffset)
				}
				problem("acknowledged message %s (%s/%d@%d) not read there; found %s", id, s.Broker, s.QueueID, s.QueueOffset, where)
			}
			perQueue[qkey{s.Broker, s.QueueID}] = append(perQueue[qkey{s.Broker, s.QueueID}], s)
		case s.Failed:
			rep.Failed++
			if len(rs) > 0 {
				rep.FailedButStored++
			}
		}
		if len(rs) > 1 {
			uniq := map[string]bool{}
			for _, r := range rs {
				uniq[r.MsgID] = true
			}
			if len(uniq) == 1 {
				rep.RetryDuplicates += len(rs) - 1
			} else {
				problem("message %s stored %d times under different ids %v", id, len(rs), uniq)
			}
		}
	}
	for k, ss := range perQueue {
		// Sort by acknowledgement time; an ack that finished before another
		// send started must have the lower offset.
		sort.Slice(ss, func(i, j int) bool { return ss[i].AckedAt.Before(ss[j].AckedAt) })
		maxOff := int64(-1)
		var maxSend *Send
		for _, s := range ss {
			if maxSend != nil && maxSend.AckedAt.Before(s.SentAt) && s.QueueOffset <= maxOff {
				problem("queue %s/%d: %s acked at offset %d before %s started, which got %d", k.broker, k.qid, maxSend.ID, maxOff, s.ID, s.QueueOffset)
			}
			if s.QueueOffset > maxOff {
				maxOff, maxSend = s.QueueOffset, s
			}
		}
	}
	return rep
}

// Load runs producers that send sequentially and record into a History,
// bounded by count and time.
type Load struct {
	History  *History
	Topic    string
	Size     int
	stop     chan struct{}
	wg       sync.WaitGroup
	sent     atomic.Int64
	firstErr atomic.Value
}

// StartLoad starts n producers (each its own client instance and ordered
// sequence) sending up to max messages each until Stop or deadline.
func StartLoad(ctx context.Context, h *History, namesrv, topic string, producers, max, size int, deadline time.Duration, opts ...client.Option) (*Load, error) {
	l := &Load{History: h, Topic: topic, Size: size, stop: make(chan struct{})}
	end := time.Now().Add(deadline)
	var ps []*client.Producer
	for i := 0; i < producers; i++ {
		p, err := client.NewProducer(append([]client.Option{client.WithNameServers(namesrv), client.WithInstanceName(fmt.Sprintf("load%d", i)),
			client.WithGroup("LoadProducer")}, opts...)...)
		if err != nil {
			for _, p := range ps {
				p.Shutdown(ctx)
			}
			return nil, err
		}
		ps = append(ps, p)
	}
	for i, p := range ps {
		l.wg.Add(1)
		go func(i int, p *client.Producer) {
			defer l.wg.Done()
			defer p.Shutdown(context.Background())
			name := fmt.Sprintf("p%d", i)
			for seq := 0; seq < max && time.Now().Before(end); seq++ {
				select {
				case <-l.stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				m, id := h.NewMessage(topic, name, seq, size)
				h.Sending(id, m)
				sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				r, err := p.Send(sctx, m)
				cancel()
				h.Result(id, r, err)
				l.sent.Add(1)
				if err != nil && l.firstErr.Load() == nil && !errors.Is(err, context.Canceled) {
					l.firstErr.Store(err.Error())
				}
			}
		}(i, p)
	}
	return l, nil
}

// Sent is the number of sends finished so far.
func (l *Load) Sent() int64 { return l.sent.Load() }

// Stop ends the load and waits for the producers.
func (l *Load) Stop() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// Wait waits for the producers to finish on their own.
func (l *Load) Wait() { l.wg.Wait() }

// FirstError is the first send error seen, if any.
func (l *Load) FirstError() string {
	if v := l.firstErr.Load(); v != nil {
		return v.(string)
	}
	return ""
}
