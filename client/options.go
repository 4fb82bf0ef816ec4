package client

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/raftmq/raftmq/transport"
)

// Option configures a Producer, PushConsumer, PullConsumer or Admin. Options
// that do not apply to a client kind are ignored by it.
type Option func(*options)

// options holds every setting; defaults come from defaultOptions.
type options struct {
	nameServers     []string
	group           string
	instance        string
	timeout         time.Duration
	retries         int
	refreshInterval time.Duration
	heartbeat       time.Duration
	logger          hclog.Logger
	credentials     transport.Credentials
	tls             *tls.Config

	// producer
	compressThreshold int
	compressLevel     int
	selector          QueueSelector
	autoCreate        bool

	// consumers
	model             MessageModel
	fromWhere         ConsumeFromWhere
	fromTimestamp     time.Time
	consumeBatch      int
	pullBatch         int
	rebalanceInterval time.Duration
	commitInterval    time.Duration
	suspend           time.Duration
	maxReconsume      int
	retryDelay        int
	maxBodySize       int
	orderly           bool
	lockInterval      time.Duration // orderly queue lock renewal
}

func defaultOptions() options {
	return options{
		timeout:           3 * time.Second,
		retries:           2,
		refreshInterval:   30 * time.Second,
		heartbeat:         30 * time.Second,
		compressThreshold: 4096,
		compressLevel:     5,
		selector:          HashQueueSelector{},
		autoCreate:        true,
		model:             Clustering,
		fromWhere:         ConsumeFromLastOffset,
		consumeBatch:      32,
		pullBatch:         32,
		rebalanceInterval: 20 * time.Second,
		commitInterval:    5 * time.Second,
		suspend:           20 * time.Second,
		maxReconsume:      16,
		maxBodySize:       64 << 20,
		lockInterval:      lockRenewInterval,
	}
}

// WithNameServers sets the NameServer addresses ("ip:port"). Each argument
// may itself be a ';'-separated list, as in RocketMQ's namesrvAddr. Without
// this option the NAMESRV_ADDR environment variable is used.
func WithNameServers(addrs ...string) Option {
	return func(o *options) {
		o.nameServers = nil
		for _, a := range addrs {
			o.nameServers = append(o.nameServers, splitAddrs(a)...)
		}
	}
}

// WithGroup sets the producer or consumer group. Consumers require one;
// producers default to "DEFAULT_PRODUCER".
func WithGroup(name string) Option { return func(o *options) { o.group = name } }

// WithInstanceName distinguishes client instances of one process: the
// client id becomes "<ip>@<pid>@<name>". Two consumers of one group in one
// process need different ids; without this option every instance after the
// first in a process gets a sequence number as its instance name.
func WithInstanceName(name string) Option { return func(o *options) { o.instance = name } }

// WithTimeout bounds each request to a broker or NameServer (default 3 s).
// A long-polling pull gets its suspend time on top.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithRetries sets how many times a failed send is retried on a retriable
// error (default 2, so 3 attempts).
func WithRetries(n int) Option { return func(o *options) { o.retries = n } }

// WithRouteRefreshInterval sets how often cached topic routes are refreshed
// (default 30 s). Routes are also refreshed at once when a broker is
// unreachable or says it is not the leader.
func WithRouteRefreshInterval(d time.Duration) Option {
	return func(o *options) { o.refreshInterval = d }
}

// WithHeartbeatInterval sets how often the client heartbeats every broker of
// the routes it uses (default 30 s).
func WithHeartbeatInterval(d time.Duration) Option { return func(o *options) { o.heartbeat = d } }

// WithCredentials signs every request with an access key and secret key,
// for brokers with ACL on (RocketMQ's plain ACL, HMAC-SHA1).
func WithCredentials(accessKey, secretKey string) Option {
	return func(o *options) { o.credentials = transport.Credentials{AccessKey: accessKey, SecretKey: secretKey} }
}

// WithTLS connects to NameServers and brokers over TLS (brokers with
// tlsServerMode permissive or enforcing). cfg verifies the servers; the
// official client's WithTls(true) is cfg with InsecureSkipVerify.
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// WithLogger sets the logger (default: warnings and errors to stderr).
func WithLogger(l hclog.Logger) Option { return func(o *options) { o.logger = l } }

// WithCompression sets the body size from which a producer zlib-compresses
// single messages (default 4096; 0 or less disables) and the zlib level.
// Batches are never compressed.
func WithCompression(threshold, level int) Option {
	return func(o *options) { o.compressThreshold, o.compressLevel = threshold, level }
}

// WithQueueSelector sets the selector SendOrderly uses (default
// HashQueueSelector).
func WithQueueSelector(s QueueSelector) Option { return func(o *options) { o.selector = s } }

// WithAutoCreateTopic controls whether a producer sends to a topic the
// NameServer does not know using the TBW102 template route, letting the
// broker create the topic (default true, as in RocketMQ). The broker
// decides in the end (autoCreateTopicEnable).
func WithAutoCreateTopic(on bool) Option { return func(o *options) { o.autoCreate = on } }

// WithMessageModel selects Clustering (default) or Broadcasting.
func WithMessageModel(m MessageModel) Option { return func(o *options) { o.model = m } }

// WithConsumeFromWhere sets where a consumer group without a committed
// offset starts (default ConsumeFromLastOffset).
func WithConsumeFromWhere(w ConsumeFromWhere) Option { return func(o *options) { o.fromWhere = w } }

// WithConsumeTimestamp sets the time ConsumeFromTimestamp starts at
// (default: 30 minutes before Start).
func WithConsumeTimestamp(t time.Time) Option { return func(o *options) { o.fromTimestamp = t } }

// WithConsumeBatchSize bounds how many messages one handler call gets
// (default 32).
func WithConsumeBatchSize(n int) Option { return func(o *options) { o.consumeBatch = n } }

// WithPullBatchSize bounds how many messages one pull asks for (default 32).
func WithPullBatchSize(n int) Option { return func(o *options) { o.pullBatch = n } }

// WithRebalanceInterval sets the periodic rebalance (default 20 s); brokers
// also trigger one when the group's members change.
func WithRebalanceInterval(d time.Duration) Option {
	return func(o *options) { o.rebalanceInterval = d }
}

// WithCommitInterval sets how often consumed offsets are committed
// (default 5 s). They are also committed when a queue is removed and on
// Shutdown.
func WithCommitInterval(d time.Duration) Option { return func(o *options) { o.commitInterval = d } }

// WithPullSuspend sets how long a broker may hold a pull that finds nothing
// new (long polling, default 20 s).
func WithPullSuspend(d time.Duration) Option { return func(o *options) { o.suspend = d } }

// WithMaxReconsumeTimes sets after how many redeliveries a message goes to
// the group's dead-letter queue (default 16).
func WithMaxReconsumeTimes(n int) Option { return func(o *options) { o.maxReconsume = n } }

// WithRetryDelayLevel sets the delay level (1..18: 1s 5s 10s 30s 1m ...)
// of messages a handler answers ConsumeRetryLater to. The default, 0,
// lets the broker choose 3 + the message's reconsume count (10 s, 30 s,
// 1 min, ...), as RocketMQ does.
func WithRetryDelayLevel(level int) Option { return func(o *options) { o.retryDelay = level } }

// WithConsumeOrderly makes a push consumer orderly, as RocketMQ's
// MessageListenerOrderly does: in Clustering mode it consumes a queue only
// while it holds the queue's lock on the queue's broker group
// (LOCK_BATCH_MQ, renewed every 20 s; a broker frees a lock its holder
// stopped renewing after 60 s), so that no rebalance ever lets two members
// of the group handle one queue at the same time. A queue another client
// still holds is tried again every second until that client lets it go
// (or its lock expires). A queue given up in a
// rebalance is stopped after the handler call in flight, its offset
// committed, then unlocked; Shutdown unlocks every queue.
//
// Handler calls of one queue run one at a time, in queue order (as for
// every push consumer). A batch the handler answers ConsumeRetryLater to is
// not sent back for redelivery, which would let later messages overtake
// it: it is handed to the handler again after a second, with its
// messages' ReconsumeTimes incremented, until a message was retried
// WithMaxReconsumeTimes times; that one then goes to the group's %DLQ%
// topic (Clustering) or is dropped (Broadcasting). Broadcasting consumers
// take no locks.
func WithConsumeOrderly(on bool) Option { return func(o *options) { o.orderly = on } }

func splitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ";") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func (o *options) validate() error {
	if len(o.nameServers) == 0 {
		o.nameServers = splitAddrs(os.Getenv("NAMESRV_ADDR"))
	}
	if len(o.nameServers) == 0 {
		return ErrNoNameServer
	}
	for _, a := range o.nameServers {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("client: name server address %q: %w", a, err)
		}
	}
	switch {
	case o.timeout <= 0:
		return fmt.Errorf("client: timeout %v must be positive", o.timeout)
	case o.retries < 0:
		return fmt.Errorf("client: retries %d must not be negative", o.retries)
	case o.refreshInterval <= 0 || o.heartbeat <= 0 || o.rebalanceInterval <= 0 || o.commitInterval <= 0:
		return fmt.Errorf("client: intervals must be positive")
	case o.lockInterval <= 0 || o.lockInterval >= lockTrust:
		return fmt.Errorf("client: lock renewal interval %v must be positive and below %v", o.lockInterval, lockTrust)
	case o.suspend < 0:
		return fmt.Errorf("client: pull suspend %v must not be negative", o.suspend)
	case o.consumeBatch <= 0 || o.pullBatch <= 0 || o.pullBatch > 512:
		return fmt.Errorf("client: batch sizes must be positive (pull at most 512)")
	case o.model != Clustering && o.model != Broadcasting:
		return fmt.Errorf("client: unknown message model %d", o.model)
	case o.fromWhere < ConsumeFromLastOffset || o.fromWhere > ConsumeFromTimestamp:
		return fmt.Errorf("client: unknown consume-from-where %d", o.fromWhere)
	case o.retryDelay < 0 || o.retryDelay > 18:
		return fmt.Errorf("client: retry delay level %d out of [0, 18]", o.retryDelay)
	case o.selector == nil:
		return fmt.Errorf("client: nil queue selector")
	}
	if o.maxReconsume <= 0 {
		o.maxReconsume = 16
	}
	if o.logger == nil {
		o.logger = hclog.New(&hclog.LoggerOptions{Name: "raftmq-client", Level: hclog.Warn, Output: os.Stderr})
	}
	return nil
}
