package broker

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftmq/raftmq/config"
	"github.com/raftmq/raftmq/transport"
)

// Live configuration (UPDATE_BROKER_CONFIG, GET_BROKER_CONFIG).
//
// As in RocketMQ, a change is per member and in memory: it is not a raft
// command, is not replicated state, and is lost when the member restarts
// (put it in broker.conf as well). The member that takes the request
// applies it and relays it to the group's other members over the peer
// channel, so one request changes the whole group; a member that cannot be
// reached is named in the answer. Only the keys below may change live;
// an update naming any other key is refused whole.

// liveConfig holds the settings that may change while running.
type liveConfig struct {
	autoCreateTopic  atomic.Bool
	autoCreateGroup  atomic.Bool
	propertyFilter   atomic.Bool
	perm             atomic.Int32
	timerMaxDelay    atomic.Int64 // ns
	txnTimeout       atomic.Int64 // ns
	txnCheckInterval atomic.Int64 // ns
	txnCheckMax      atomic.Int32
	txnMaxOpen       atomic.Int32
	mu               sync.Mutex // one update at a time
	updatedAt        atomic.Int64
	version          atomic.Int64
}

func newLiveConfig(c Config) *liveConfig {
	l := &liveConfig{}
	l.autoCreateTopic.Store(c.AutoCreateTopic)
	l.autoCreateGroup.Store(c.AutoCreateSubscriptionGroup)
	l.propertyFilter.Store(c.EnablePropertyFilter)
	perm := int32(c.File.BrokerPermission)
	if c.File.StorePathRootDir == "" && perm == 0 { // a Config built by hand
		perm = transport.PermRead | transport.PermWrite
	}
	l.perm.Store(perm)
	l.timerMaxDelay.Store(int64(c.TimerMaxDelay))
	l.txnTimeout.Store(int64(c.TransactionTimeout))
	l.txnCheckInterval.Store(int64(c.TransactionCheckInterval))
	l.txnCheckMax.Store(int32(c.TransactionCheckMax))
	l.txnMaxOpen.Store(int32(c.TransactionMaxOpen))
	return l
}

func (l *liveConfig) writeable() bool { return l.perm.Load()&transport.PermWrite != 0 }
func (l *liveConfig) readable() bool  { return l.perm.Load()&transport.PermRead != 0 }

// liveKey is one setting that may change live.
type liveKey struct {
	get func(*liveConfig) string
	set func(*liveConfig, string) error
}

func boolKey(f func(*liveConfig) *atomic.Bool) liveKey {
	return liveKey{
		get: func(l *liveConfig) string { return strconv.FormatBool(f(l).Load()) },
		set: func(l *liveConfig, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("want true or false")
			}
			f(l).Store(b)
			return nil
		},
	}
}

func intKey(lo, hi int64, get func(*liveConfig) int64, set func(*liveConfig, int64)) liveKey {
	return liveKey{
		get: func(l *liveConfig) string { return strconv.FormatInt(get(l), 10) },
		set: func(l *liveConfig, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < lo || n > hi {
				return fmt.Errorf("want an integer in [%d, %d]", lo, hi)
			}
			set(l, n)
			return nil
		},
	}
}

// liveKeys are RocketMQ's key names (case-insensitive here) and units
// (seconds for timerMaxDelaySec, ms for the transaction keys).
var liveKeys = map[string]liveKey{
	"autoCreateTopicEnable":       boolKey(func(l *liveConfig) *atomic.Bool { return &l.autoCreateTopic }),
	"autoCreateSubscriptionGroup": boolKey(func(l *liveConfig) *atomic.Bool { return &l.autoCreateGroup }),
	"enablePropertyFilter":        boolKey(func(l *liveConfig) *atomic.Bool { return &l.propertyFilter }),
	"brokerPermission": intKey(0, 7, func(l *liveConfig) int64 { return int64(l.perm.Load()) },
		func(l *liveConfig, n int64) { l.perm.Store(int32(n)) }),
	"timerMaxDelaySec": intKey(1, 30*86400, func(l *liveConfig) int64 { return l.timerMaxDelay.Load() / int64(time.Second) },
		func(l *liveConfig, n int64) { l.timerMaxDelay.Store(n * int64(time.Second)) }),
	"transactionTimeOut": intKey(100, 1<<40, func(l *liveConfig) int64 { return l.txnTimeout.Load() / int64(time.Millisecond) },
		func(l *liveConfig, n int64) { l.txnTimeout.Store(n * int64(time.Millisecond)) }),
	"transactionCheckInterval": intKey(100, 1<<40, func(l *liveConfig) int64 { return l.txnCheckInterval.Load() / int64(time.Millisecond) },
		func(l *liveConfig, n int64) { l.txnCheckInterval.Store(n * int64(time.Millisecond)) }),
	"transactionCheckMax": intKey(1, 1000, func(l *liveConfig) int64 { return int64(l.txnCheckMax.Load()) },
		func(l *liveConfig, n int64) { l.txnCheckMax.Store(int32(n)) }),
	"transactionMaxOpen": intKey(1, 10_000_000, func(l *liveConfig) int64 { return int64(l.txnMaxOpen.Load()) },
		func(l *liveConfig, n int64) { l.txnMaxOpen.Store(int32(n)) }),
}

// LiveConfigKeys lists the keys UPDATE_BROKER_CONFIG accepts, sorted.
func LiveConfigKeys() []string {
	out := make([]string, 0, len(liveKeys))
	for k := range liveKeys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func lookupLiveKey(k string) (string, liveKey, bool) {
	for name, lk := range liveKeys {
		if strings.EqualFold(name, k) {
			return name, lk, true
		}
	}
	return "", liveKey{}, false
}

// apply checks every key and value first, then applies them all.
func (l *liveConfig) apply(kv map[string]string) (changed []string, err error) {
	type upd struct {
		name string
		lk   liveKey
		v    string
	}
	var ups []upd
	var bad []string
	for k, v := range kv {
		name, lk, ok := lookupLiveKey(k)
		if !ok {
			bad = append(bad, k)
			continue
		}
		ups = append(ups, upd{name, lk, v})
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return nil, fmt.Errorf("%s cannot change while running (restart with it in broker.conf); live keys: %s",
			strings.Join(bad, ", "), strings.Join(LiveConfigKeys(), ", "))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// Validate on a scratch copy so that a bad value changes nothing.
	scratch := &liveConfig{}
	for _, u := range ups {
		if err := u.lk.set(scratch, u.v); err != nil {
			return nil, fmt.Errorf("%s=%s: %w", u.name, u.v, err)
		}
	}
	for _, u := range ups {
		_ = u.lk.set(l, u.v)
		changed = append(changed, u.name)
	}
	sort.Strings(changed)
	l.version.Add(1)
	l.updatedAt.Store(time.Now().UnixMilli())
	return changed, nil
}

// brokerConfigText is GET_BROKER_CONFIG's body: every key of the file
// schema, live values over the file's, as a properties text.
func (b *Broker) brokerConfigText() []byte {
	kv := config.Values(b.cfg.File)
	for name, lk := range liveKeys {
		kv[name] = lk.get(b.live)
	}
	kv["brokerId"] = "0"
	if !b.g.RaftLeader() {
		kv["brokerId"] = "1"
	}
	return config.FormatProperties(kv)
}

func (b *Broker) handleGetBrokerConfig(context.Context, *transport.Conn, *transport.Command) *transport.Command {
	r := transport.NewResponse(transport.RespSuccess, "")
	r.Body = b.brokerConfigText()
	dv, _ := transport.EncodeBody(transport.DataVersion{Timestamp: b.live.updatedAt.Load(), Counter: b.live.version.Load()})
	r.ExtFields = map[string]string{"version": string(dv)}
	return r
}

// handleUpdateBrokerConfig applies live keys here and, unless relayed by
// another member, on every other member.
func (b *Broker) handleUpdateBrokerConfig(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	kv, err := config.ParseProperties(req.Body)
	if err != nil {
		return respond(transport.RespSystemError, "string2Properties error: %v", err)
	}
	if len(kv) == 0 {
		return transport.NewResponse(transport.RespSuccess, "")
	}
	changed, err := b.live.apply(kv)
	if err != nil {
		return respond(transport.RespInvalidParameter, "update broker config: %v", err)
	}
	b.logger.Info("broker config updated live", "keys", changed, "from", c.RemoteAddr().String(), "relayed", req.Ext(extLocal) != "")
	for _, k := range changed {
		if k == "brokerPermission" || k == "autoCreateTopicEnable" {
			b.kickRegister()
		}
	}
	if req.Ext(extLocal) != "" {
		return transport.NewResponse(transport.RespSuccess, "")
	}
	applied := []string{b.self.ID}
	var failed []string
	for _, p := range b.members() {
		if p.ID == b.self.ID {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		r, err := b.peerClient.Invoke(rctx, p.Addr, transport.NewRequest(transport.ReqUpdateBrokerConfig, map[string]string{extLocal: "1"}, req.Body))
		cancel()
		switch {
		case err != nil:
			failed = append(failed, fmt.Sprintf("%s: %v", p.ID, err))
		case r.Code != int16(transport.RespSuccess):
			failed = append(failed, fmt.Sprintf("%s: code %d: %s", p.ID, r.Code, r.Remark))
		default:
			applied = append(applied, p.ID)
		}
	}
	remark := "applied on " + strings.Join(applied, ", ")
	if len(failed) > 0 {
		remark += "; NOT on " + strings.Join(failed, "; ")
	}
	return transport.NewResponse(transport.RespSuccess, remark)
}
