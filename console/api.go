package console

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// The JSON API the pages use. Reads are GET; changes are POST with a JSON
// body and the X-Raftmq-Console header (guard). Every handler acts with
// the request's account and answers errors as {"error": "..."}.

const (
	maxTopicsListed = 500
	maxGroupsListed = 200
	maxBodyShown    = 64 << 10
	maxRequestBody  = 1 << 20
)

func (s *Server) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/cluster", s.apiCluster)
	mux.HandleFunc("POST /api/transfer", s.apiTransfer)
	mux.HandleFunc("GET /api/topics", s.apiTopics)
	mux.HandleFunc("POST /api/topics", s.apiUpdateTopic)
	mux.HandleFunc("POST /api/topics/delete", s.apiDeleteTopic)
	mux.HandleFunc("GET /api/groups", s.apiGroups)
	mux.HandleFunc("POST /api/groups/reset", s.apiResetOffset)
	mux.HandleFunc("GET /api/messages", s.apiMessages)
	mux.HandleFunc("POST /api/messages/send", s.apiSend)
	mux.HandleFunc("GET /api/transactions", s.apiTransactions)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, fmt.Errorf("no such API: %s %s", r.Method, r.URL.Path))
	})
}

func (s *Server) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 4*s.cfg.Timeout)
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// failFrom maps a client error to an HTTP status.
func failFrom(w http.ResponseWriter, err error) {
	var be *client.BrokerError
	switch {
	case errors.Is(err, client.ErrMessageNotFound):
		fail(w, http.StatusNotFound, err)
	case errors.As(err, &be) && be.Code == transport.RespNoPermission:
		// The account is refused (wrong key, or not allowed): let the
		// browser ask for another.
		w.Header().Set("WWW-Authenticate", `Basic realm="raftmq console (ACL access key and secret key)", charset="UTF-8"`)
		fail(w, http.StatusUnauthorized, err)
	default:
		fail(w, http.StatusBadGateway, err)
	}
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		fail(w, http.StatusBadRequest, fmt.Errorf("bad request body: %w", err))
		return false
	}
	return true
}

// member is one broker group member as the cluster page shows it.
type member struct {
	Node           string  `json:"node"`
	Addr           string  `json:"addr"`
	State          string  `json:"state"`
	Serving        bool    `json:"serving"`
	Term           uint64  `json:"term"`
	CommitIndex    uint64  `json:"commitIndex"`
	AppliedIndex   uint64  `json:"appliedIndex"`
	Lag            uint64  `json:"lag"` // commit - applied
	DiskUsed       float64 `json:"diskUsed"`
	DiskFull       bool    `json:"diskFull"`
	CommitLogBytes int64   `json:"commitLogBytes"`
	Applied        uint64  `json:"messagesApplied"`
	PutTotal       uint64  `json:"putTotal"`
	GetTotal       uint64  `json:"getTotal"`
	Partial        bool    `json:"partialHistory"`
	PID            int     `json:"pid"`
	Delayed        int64   `json:"pendingDelayed"`
	DelayedByLevel []int64 `json:"pendingDelayedByLevel,omitempty"`
	Timers         int64   `json:"pendingTimers"`
	OpenTxns       int     `json:"openTransactions"`
	Error          string  `json:"error,omitempty"`
}

type groupView struct {
	Name      string   `json:"name"`
	Cluster   string   `json:"cluster"`
	Leader    string   `json:"leader"`
	GroupAddr string   `json:"groupAddr,omitempty"`
	Members   []member `json:"members"`
}

func (s *Server) apiCluster(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	a := sessionOf(r).admin
	ci, err := a.ClusterInfo(ctx)
	if err != nil {
		failFrom(w, err)
		return
	}
	out := struct {
		Time   int64       `json:"time"`
		Groups []groupView `json:"groups"`
	}{Time: time.Now().UnixMilli(), Groups: []groupView{}}
	for _, name := range ci.GroupNames("") {
		g := ci.Groups[name]
		gv := groupView{Name: name, Cluster: g.Cluster, Members: []member{}}
		seen := map[string]bool{}
		addrs := g.Members()
		for i := 0; i < len(addrs) && i < 16; i++ {
			addr := addrs[i]
			st, err := a.BrokerStatus(ctx, addr)
			if err != nil {
				gv.Members = append(gv.Members, member{Addr: addr, Error: err.Error()})
				continue
			}
			rs := st.Raft
			if rs.GroupAddr != "" {
				gv.GroupAddr = rs.GroupAddr
			}
			if seen[rs.NodeID] {
				continue
			}
			seen[rs.NodeID] = true
			m := member{Node: rs.NodeID, Addr: rs.ClientAddr, State: rs.State, Serving: rs.Serving, Term: rs.Term,
				CommitIndex: rs.CommitIndex, AppliedIndex: rs.AppliedIndex, DiskUsed: rs.DiskUsed, DiskFull: rs.DiskFull,
				CommitLogBytes: rs.WriteOffset - rs.MinOffset, Applied: rs.Messages, Partial: rs.PartialHistory, PID: rs.PID,
				Delayed: rs.PendingDelayed, DelayedByLevel: rs.PendingDelayedLevel, Timers: rs.PendingTimers, OpenTxns: rs.OpenTransactions}
			if rs.CommitIndex > rs.AppliedIndex {
				m.Lag = rs.CommitIndex - rs.AppliedIndex
			}
			m.PutTotal, _ = strconv.ParseUint(st.Runtime["msgPutTotalTodayNow"], 10, 64)
			m.GetTotal, _ = strconv.ParseUint(st.Runtime["msgGetTotalTodayNow"], 10, 64)
			if rs.Serving {
				gv.Leader = rs.NodeID
			}
			gv.Members = append(gv.Members, m)
		}
		sort.Slice(gv.Members, func(i, j int) bool { return gv.Members[i].Node < gv.Members[j].Node })
		out.Groups = append(out.Groups, gv)
	}
	reply(w, out)
}

func (s *Server) apiTransfer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Group  string `json:"group"`
		Target string `json:"target"`
	}
	if !decode(w, r, &req) {
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	if err := sessionOf(r).admin.TransferLeader(ctx, req.Group, req.Target); err != nil {
		failFrom(w, err)
		return
	}
	reply(w, map[string]string{"result": "leadership of " + req.Group + " transferred"})
}

type queueView struct {
	Group string `json:"group"`
	Queue int    `json:"queue"`
	Min   int64  `json:"min"`
	Max   int64  `json:"max"`
	Last  int64  `json:"lastUpdate,omitempty"` // unix ms
}

type topicView struct {
	Topic    string      `json:"topic"`
	System   bool        `json:"system"`
	Queues   []queueView `json:"queues"`
	Messages int64       `json:"messages"` // sum of max-min
	Error    string      `json:"error,omitempty"`
}

func (s *Server) apiTopics(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	a := sessionOf(r).admin
	names, err := a.TopicList(ctx)
	if err != nil {
		failFrom(w, err)
		return
	}
	sort.Strings(names)
	system := r.URL.Query().Get("system") == "1"
	out := []topicView{}
	for _, t := range names {
		if len(out) == maxTopicsListed {
			break
		}
		tv := topicView{Topic: t, System: message.IsSystemTopic(t) || message.IsRetryTopic(t) || message.IsDLQTopic(t) ||
			strings.HasSuffix(t, "_"+message.ReplyTopicPostfix), Queues: []queueView{}}
		if tv.System && !system {
			continue
		}
		qs, err := a.TopicStatus(ctx, t)
		if err != nil {
			tv.Error = err.Error()
		}
		for _, q := range qs {
			qv := queueView{Group: q.Queue.BrokerName, Queue: q.Queue.QueueID, Min: q.MinOffset, Max: q.MaxOffset}
			if !q.LastUpdate.IsZero() {
				qv.Last = q.LastUpdate.UnixMilli()
			}
			tv.Queues = append(tv.Queues, qv)
			tv.Messages += q.MaxOffset - q.MinOffset
		}
		out = append(out, tv)
	}
	reply(w, out)
}

func (s *Server) apiUpdateTopic(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Topic  string `json:"topic"`
		Queues int    `json:"queues"`
		Group  string `json:"group,omitempty"`
	}
	if !decode(w, r, &req) {
		return
	}
	if err := message.ValidateSendTopic(req.Topic); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	if req.Queues < 1 || req.Queues > 1024 {
		fail(w, http.StatusBadRequest, fmt.Errorf("queues %d: want 1..1024", req.Queues))
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	err := sessionOf(r).admin.CreateTopic(ctx, client.TopicConfig{Topic: req.Topic, ReadQueues: req.Queues, WriteQueues: req.Queues},
		client.Target{BrokerGroup: req.Group})
	if err != nil {
		failFrom(w, err)
		return
	}
	reply(w, map[string]string{"result": fmt.Sprintf("topic %s has %d queues", req.Topic, req.Queues)})
}

func (s *Server) apiDeleteTopic(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Topic string `json:"topic"`
	}
	if !decode(w, r, &req) {
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	if err := sessionOf(r).admin.DeleteTopic(ctx, req.Topic, client.Target{}); err != nil {
		failFrom(w, err)
		return
	}
	reply(w, map[string]string{"result": "topic " + req.Topic + " deleted"})
}

type groupLag struct {
	Group string `json:"group"`
	// Members and the rest: only for the group asked for (?group=).
	Members       []transport.Connection `json:"members,omitempty"`
	ConsumeType   string                 `json:"consumeType,omitempty"`
	MessageModel  string                 `json:"messageModel,omitempty"`
	Subscriptions map[string]string      `json:"subscriptions,omitempty"`
	Lag           int64                  `json:"lag"`
	Queues        []queueLag             `json:"queues"`
	Config        client.SubGroupConfig  `json:"config"`
	Error         string                 `json:"error,omitempty"`
}

type queueLag struct {
	Topic    string `json:"topic"`
	Group    string `json:"brokerGroup"`
	Queue    int    `json:"queue"`
	Broker   int64  `json:"brokerOffset"`
	Consumer int64  `json:"consumerOffset"`
	Lag      int64  `json:"lag"`
}

func (s *Server) apiGroups(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	a := sessionOf(r).admin
	ci, err := a.ClusterInfo(ctx)
	if err != nil {
		failFrom(w, err)
		return
	}
	configs := map[string]client.SubGroupConfig{}
	for _, bg := range ci.GroupNames("") {
		gs, err := a.SubGroups(ctx, bg)
		if err != nil {
			failFrom(w, err)
			return
		}
		for _, g := range gs {
			configs[g.GroupName] = g
		}
	}
	names := make([]string, 0, len(configs))
	for n := range configs {
		if !strings.HasPrefix(n, "CID_RMQ_SYS_") && !strings.HasPrefix(n, "%") && n != "TOOLS_CONSUMER" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) > maxGroupsListed {
		names = names[:maxGroupsListed]
	}
	out := []groupLag{}
	for _, n := range names {
		gl := groupLag{Group: n, Config: configs[n], Queues: []queueLag{}}
		if n == r.URL.Query().Get("group") {
			if cc, err := a.ConsumerConnection(ctx, n); err == nil {
				gl.Members, gl.ConsumeType, gl.MessageModel = cc.ConnectionSet, cc.ConsumeType, cc.MessageModel
				gl.Subscriptions = map[string]string{}
				for t, sd := range cc.SubscriptionTable {
					gl.Subscriptions[t] = sd.SubString
				}
			} else if !errors.Is(err, client.ErrNoRoute) {
				gl.Error = err.Error()
			}
		}
		p, err := a.ConsumerProgress(ctx, n, "")
		if err != nil && !errors.Is(err, client.ErrNoRoute) {
			gl.Error = err.Error()
		}
		if p != nil {
			gl.Lag = p.TotalLag
			for _, q := range p.Queues {
				gl.Queues = append(gl.Queues, queueLag{Topic: q.Queue.Topic, Group: q.Queue.BrokerName, Queue: q.Queue.QueueID,
					Broker: q.BrokerOffset, Consumer: q.ConsumerOffset, Lag: q.Lag})
			}
		}
		out = append(out, gl)
	}
	reply(w, out)
}

func (s *Server) apiResetOffset(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Group string `json:"group"`
		Topic string `json:"topic"`
		Time  int64  `json:"time"` // unix ms
	}
	if !decode(w, r, &req) {
		return
	}
	if req.Group == "" || req.Topic == "" {
		fail(w, http.StatusBadRequest, errors.New("group and topic are required"))
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	offs, err := sessionOf(r).admin.ResetOffsetByTime(ctx, req.Group, req.Topic, time.UnixMilli(req.Time))
	if err != nil {
		failFrom(w, err)
		return
	}
	type qo struct {
		Group  string `json:"brokerGroup"`
		Queue  int    `json:"queue"`
		Offset int64  `json:"offset"`
	}
	res := []qo{}
	for _, o := range offs {
		res = append(res, qo{Group: o.Queue.BrokerName, Queue: o.Queue.QueueID, Offset: o.Offset})
	}
	reply(w, map[string]any{"result": fmt.Sprintf("%s reset on %s (%d queues)", req.Group, req.Topic, len(res)), "offsets": res})
}

// messageView is a stored message as the messages page shows it.
type messageView struct {
	Topic       string            `json:"topic"`
	MsgID       string            `json:"msgId"`
	OffsetMsgID string            `json:"offsetMsgId"`
	Group       string            `json:"brokerGroup"`
	Queue       int               `json:"queue"`
	QueueOffset int64             `json:"queueOffset"`
	CommitLog   int64             `json:"commitLogOffset"`
	Tags        string            `json:"tags"`
	Keys        []string          `json:"keys"`
	Body        string            `json:"body"`
	BodyBase64  bool              `json:"bodyBase64,omitempty"`
	BodySize    int               `json:"bodySize"`
	Properties  map[string]string `json:"properties"`
	BornTime    int64             `json:"bornTime"`
	BornHost    string            `json:"bornHost"`
	StoreTime   int64             `json:"storeTime"`
	StoreHost   string            `json:"storeHost"`
	Reconsume   int               `json:"reconsumeTimes"`
	// ConsumedBy: each consumer group that committed offsets on the
	// message's queue, and whether its offset is past the message.
	ConsumedBy map[string]bool `json:"consumedBy"`
}

func (s *Server) view(ctx context.Context, a *client.Admin, m *client.MessageExt) messageView {
	v := messageView{Topic: m.Topic, MsgID: m.MsgID, OffsetMsgID: m.OffsetMsgID, Group: m.Queue.BrokerName, Queue: m.Queue.QueueID,
		QueueOffset: m.QueueOffset, CommitLog: m.CommitLogOffset, Tags: m.Tags, Keys: m.Keys, BodySize: len(m.Body),
		Properties: m.Properties, BornTime: m.BornTimestamp.UnixMilli(), BornHost: m.BornHost, StoreTime: m.StoreTimestamp.UnixMilli(),
		StoreHost: m.StoreHost, Reconsume: m.ReconsumeTimes, ConsumedBy: map[string]bool{}}
	body := m.Body
	if len(body) > maxBodyShown {
		body = body[:maxBodyShown]
	}
	if utf8.Valid(body) {
		v.Body = string(body)
	} else {
		v.Body, v.BodyBase64 = encodeBase64(body), true
	}
	// Trace: which groups consumed it (bounded: the groups of the
	// message's broker group).
	if gs, err := a.SubGroups(ctx, m.Queue.BrokerName); err == nil {
		n := 0
		for _, g := range gs {
			if n == 50 || strings.HasPrefix(g.GroupName, "CID_RMQ_SYS_") {
				continue
			}
			p, err := a.ConsumerProgress(ctx, g.GroupName, m.Topic)
			if err != nil || p == nil {
				continue
			}
			for _, q := range p.Queues {
				if q.Queue.BrokerName == m.Queue.BrokerName && q.Queue.QueueID == m.Queue.QueueID && q.ConsumerOffset >= 0 {
					v.ConsumedBy[g.GroupName] = q.ConsumerOffset > m.QueueOffset
					n++
				}
			}
		}
	}
	return v
}

func (s *Server) apiMessages(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	se := sessionOf(r)
	q := r.URL.Query()
	topic := q.Get("topic")
	var msgs []*client.MessageExt
	var err error
	switch {
	case q.Get("msgId") != "":
		var m *client.MessageExt
		if m, err = se.admin.QueryMsgByID(ctx, topic, strings.TrimSpace(q.Get("msgId"))); err == nil {
			msgs = []*client.MessageExt{m}
		}
	case q.Get("key") != "":
		if topic == "" {
			fail(w, http.StatusBadRequest, errors.New("a key lookup needs the topic"))
			return
		}
		msgs, err = se.admin.QueryMsgByKey(ctx, topic, strings.TrimSpace(q.Get("key")), 32, time.Time{}, time.Time{})
	case q.Get("offset") != "":
		qid, err1 := strconv.Atoi(q.Get("queue"))
		off, err2 := strconv.ParseInt(q.Get("offset"), 10, 64)
		if topic == "" || q.Get("brokerGroup") == "" || err1 != nil || err2 != nil || qid < 0 || off < 0 {
			fail(w, http.StatusBadRequest, errors.New("a lookup by offset needs topic, brokerGroup, queue and offset"))
			return
		}
		var pc *client.PullConsumer
		if pc, err = s.puller(r, se); err == nil {
			var res *client.PullResult
			res, err = pc.Pull(ctx, client.MessageQueue{Topic: topic, BrokerName: q.Get("brokerGroup"), QueueID: qid}, off, 1)
			if err == nil {
				if len(res.Messages) == 0 || res.Messages[0].QueueOffset != off {
					err = fmt.Errorf("%w: no message at %s/%s/%d offset %d (queue holds [%d, %d))", client.ErrMessageNotFound,
						topic, q.Get("brokerGroup"), qid, off, res.MinOffset, res.MaxOffset)
				} else {
					msgs = res.Messages[:1]
				}
			}
		}
	default:
		fail(w, http.StatusBadRequest, errors.New("give a msgId, a key (with topic), or topic, brokerGroup, queue and offset"))
		return
	}
	if err != nil {
		failFrom(w, err)
		return
	}
	out := []messageView{}
	for _, m := range msgs {
		out = append(out, s.view(ctx, se.admin, m))
	}
	reply(w, out)
}

func (s *Server) puller(r *http.Request, se *session) (*client.PullConsumer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if se.puller == nil {
		pc, err := client.NewPullConsumer(append(s.clientOpts(r), client.WithGroup("RAFTMQ_CONSOLE"))...)
		if err != nil {
			return nil, err
		}
		se.puller = pc
	}
	return se.puller, nil
}

func (s *Server) apiSend(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Topic string `json:"topic"`
		Tags  string `json:"tags"`
		Keys  string `json:"keys"`
		Body  string `json:"body"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.Body == "" {
		fail(w, http.StatusBadRequest, errors.New("the message body is empty"))
		return
	}
	se := sessionOf(r)
	s.mu.Lock()
	if se.producer == nil {
		p, err := client.NewProducer(append(s.clientOpts(r), client.WithGroup("RAFTMQ_CONSOLE_PRODUCER"))...)
		if err != nil {
			s.mu.Unlock()
			fail(w, http.StatusInternalServerError, err)
			return
		}
		se.producer = p
	}
	p := se.producer
	s.mu.Unlock()
	m := client.NewMessage(req.Topic, []byte(req.Body))
	m.Tags = req.Tags
	m.Keys = strings.Fields(req.Keys)
	ctx, cancel := s.ctx(r)
	defer cancel()
	res, err := p.Send(ctx, m)
	if err != nil {
		failFrom(w, err)
		return
	}
	reply(w, map[string]any{"result": "sent: " + res.String(), "msgId": res.MsgID, "offsetMsgId": res.OffsetMsgID,
		"brokerGroup": res.Queue.BrokerName, "queue": res.Queue.QueueID, "queueOffset": res.QueueOffset})
}

func (s *Server) apiTransactions(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	txns, truncated, err := sessionOf(r).admin.OpenTransactions(ctx, r.URL.Query().Get("topic"), 500, client.Target{})
	if err != nil {
		failFrom(w, err)
		return
	}
	if txns == nil {
		txns = []client.OpenTransaction{}
	}
	reply(w, map[string]any{"transactions": txns, "truncated": truncated})
}

func encodeBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
