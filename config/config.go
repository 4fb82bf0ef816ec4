// Package config loads raftmq configuration from YAML, TOML or RocketMQ
// broker.conf (Java properties) files, RAFTMQ_* environment variables and
// flags, using RocketMQ's key names (brokerName, listenPort, dLegerPeers,
// flushDiskType, ...). Keys are case-insensitive; unknown keys are reported
// so a typo is not silently ignored (as Java's loader does).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/magiconair/properties"
	"github.com/spf13/viper"
)

// Peer is one member of a broker group's raft group.
type Peer struct {
	ID   string // dLegerSelfId of that member, e.g. "n0"
	Addr string // raft address host:port
}

// Broker is a broker node's configuration. mapstructure names are the
// RocketMQ keys (matched case-insensitively).
type Broker struct {
	BrokerClusterName string `mapstructure:"brokerClusterName"`
	BrokerName        string `mapstructure:"brokerName"`
	// NamesrvAddr lists NameServers, ';'-separated.
	NamesrvAddr string `mapstructure:"namesrvAddr"`
	// BrokerIP1 is the address clients are told to use (and stored as
	// STOREHOST in messages).
	BrokerIP1  string `mapstructure:"brokerIP1"`
	ListenPort int    `mapstructure:"listenPort"`

	StorePathRootDir           string `mapstructure:"storePathRootDir"`
	FlushDiskType              string `mapstructure:"flushDiskType"`
	FlushIntervalCommitLog     int    `mapstructure:"flushIntervalCommitLog"` // ms, ASYNC_FLUSH
	FileReservedTime           int    `mapstructure:"fileReservedTime"`       // hours
	DeleteWhen                 string `mapstructure:"deleteWhen"`
	DiskMaxUsedSpaceRatio      int    `mapstructure:"diskMaxUsedSpaceRatio"` // percent
	MappedFileSizeCommitLog    int64  `mapstructure:"mappedFileSizeCommitLog"`
	MappedFileSizeConsumeQueue int64  `mapstructure:"mappedFileSizeConsumeQueue"` // bytes (20 per unit)
	MaxMessageSize             int    `mapstructure:"maxMessageSize"`
	MessageDelayLevel          string `mapstructure:"messageDelayLevel"`
	// TimerMaxDelaySec bounds how far ahead a timer message may be due
	// (RocketMQ's key and default: 3 days).
	TimerMaxDelaySec int `mapstructure:"timerMaxDelaySec"`
	// AccessMessageInMemoryMaxRatio (percent of physical memory): a
	// consumer group with no offset on a queue that was never trimmed
	// starts at 0, not at the end, while the queue's first message is
	// within this share of RAM from the CommitLog's end (RocketMQ's key,
	// default and rule; 0: never).
	AccessMessageInMemoryMaxRatio int `mapstructure:"accessMessageInMemoryMaxRatio"`
	// Transactions (RocketMQ's keys; times in ms): a half message open
	// longer than transactionTimeOut is checked back with its producer
	// group every transactionCheckInterval, at most transactionCheckMax
	// times, then discarded to TRANS_CHECK_MAX_TIME_TOPIC.
	// transactionMaxOpen (raftmq's) bounds the open transactions a group
	// keeps (replicated state): half messages beyond it are refused.
	TransactionTimeOut          int  `mapstructure:"transactionTimeOut"`
	TransactionCheckInterval    int  `mapstructure:"transactionCheckInterval"`
	TransactionCheckMax         int  `mapstructure:"transactionCheckMax"`
	TransactionMaxOpen          int  `mapstructure:"transactionMaxOpen"`
	DefaultTopicQueueNums       int  `mapstructure:"defaultTopicQueueNums"`
	AutoCreateTopicEnable       bool `mapstructure:"autoCreateTopicEnable"`
	AutoCreateSubscriptionGroup bool `mapstructure:"autoCreateSubscriptionGroup"`
	// BrokerPermission masks every topic's permission in this broker's
	// registrations (6 = read and write; 4 = read only) and refuses sends
	// (pulls) without the write (read) bit. It may change live
	// (updateBrokerConfig).
	BrokerPermission int `mapstructure:"brokerPermission"`
	// EnablePropertyFilter allows SQL92 subscriptions (RocketMQ's default
	// is false; raftmq evaluates them, so it defaults to true).
	EnablePropertyFilter bool `mapstructure:"enablePropertyFilter"`

	// DLedger keys (note RocketMQ's "Leger" spelling). The CommitLog is
	// always a raft log: enableDLegerCommitLog=false is refused.
	// preferredLeaderId is the member leadership returns to when it is up
	// to date.
	EnableDLegerCommitLog bool   `mapstructure:"enableDLegerCommitLog"`
	DLegerGroup           string `mapstructure:"dLegerGroup"`
	DLegerPeers           string `mapstructure:"dLegerPeers"`
	DLegerSelfID          string `mapstructure:"dLegerSelfId"`
	PreferredLeaderID     string `mapstructure:"preferredLeaderId"`

	// raftmq keys.
	RaftHeartbeatTimeout   time.Duration `mapstructure:"raftHeartbeatTimeout"`
	RaftElectionTimeout    time.Duration `mapstructure:"raftElectionTimeout"`
	RaftLeaderLeaseTimeout time.Duration `mapstructure:"raftLeaderLeaseTimeout"`
	// RaftCommitTimeout: how often an idle leader sends each follower its
	// commit index. Under load every append carries it; idle, 5 ms cost a
	// group 0.15 cores of empty AppendEntries against 50 ms. 0 (the
	// default): 5 ms (see broker's commitTimeout for why not 50 ms yet).
	RaftCommitTimeout     time.Duration `mapstructure:"raftCommitTimeout"`
	RaftSnapshotThreshold uint64        `mapstructure:"raftSnapshotThreshold"`
	RaftSnapshotInterval  time.Duration `mapstructure:"raftSnapshotInterval"`
	// RegisterInterval is how often the broker re-registers with every
	// NameServer (RocketMQ: 30 s; shorter here so routes heal faster).
	RegisterInterval time.Duration `mapstructure:"registerInterval"`
	// SendBatchMaxBytes bounds the commands packed into one raft entry.
	SendBatchMaxBytes int `mapstructure:"sendBatchMaxBytes"`
	// SendMaxInflightEntries bounds raft entries proposed and not yet
	// committed; sends arriving meanwhile share the next entry. 1 (the
	// default) packs the most sends per entry, and every entry costs each
	// member a write, a replication round and an apply: measured on 2
	// cores it beats 2 and 4 (docs/performance.md). A lone send still goes
	// at once. More should help only where entries fill sendBatchMaxBytes
	// (a long round trip under heavy load; not measured here).
	SendMaxInflightEntries int `mapstructure:"sendMaxInflightEntries"`
	// SendMaxPendingBytes bounds the message bytes waiting for commit; a
	// send that cannot get room within WaitTimeMillsInSendQueue is answered
	// SYSTEM_BUSY (flow control, like RocketMQ's send queue).
	SendMaxPendingBytes      int64 `mapstructure:"sendMaxPendingBytes"`
	WaitTimeMillsInSendQueue int   `mapstructure:"waitTimeMillsInSendQueue"`
	// ClientExpiry drops clients that stop heartbeating (RocketMQ 120 s).
	ClientExpiry time.Duration `mapstructure:"clientExpiry"`
	// MetricsAddr serves Prometheus metrics at /metrics ("" disables).
	MetricsAddr string `mapstructure:"metricsAddr"`
	LogLevel    string `mapstructure:"logLevel"`

	// MetricsMaxTopics and MetricsMaxGroups bound the per-topic and the
	// per-consumer-group (group and topic) series a broker's /metrics
	// serves; beyond them the largest are kept (the rest are counted in
	// raftmq_metrics_series_dropped).
	MetricsMaxTopics int `mapstructure:"metricsMaxTopics"`
	MetricsMaxGroups int `mapstructure:"metricsMaxGroups"`

	// CommitLogPreallocate is how new CommitLog segments get their space:
	// "zero" (written with zeros in the background before use, like
	// RocketMQ's warmMapedFileEnable: each fdatasync then flushes data
	// only, at the cost of writing every byte twice), "fallocate", "none",
	// or "auto" (fallocate: in a 3-node group the background zeros cost
	// more CPU than the cheaper fdatasyncs save, under either flush mode;
	// see docs/performance.md).
	CommitLogPreallocate string `mapstructure:"commitLogPreallocate"`
	// RaftParallelFlush (SYNC_FLUSH): the leader flushes its CommitLog in
	// parallel with replication instead of before it; a send is still
	// acknowledged only once the leader and a majority have it on disk.
	RaftParallelFlush bool `mapstructure:"raftParallelFlush"`
	// RaftBinaryAppend: AppendEntries between members in raftmq's binary
	// encoding (package raftnet) instead of hashicorp/raft's msgpack;
	// every other raft RPC stays msgpack. A member without it is spoken
	// to in msgpack, so a group can be upgraded one member at a time.
	RaftBinaryAppend bool `mapstructure:"raftBinaryAppend"`
	// RaftLogLevel is hashicorp/raft's own log level (chatty at info).
	RaftLogLevel string `mapstructure:"raftLogLevel"`
	// RaftBindAddr is where this node listens for raft and peer traffic
	// (default: its own dLegerPeers address). Set it when the peers reach
	// this node through a NAT or proxy at its dLegerPeers address.
	RaftBindAddr string `mapstructure:"raftBindAddr"`
	// RaftDialAddrs overrides where this node dials given peers
	// ("n1-10.0.0.2:40912;n2-..."); peers not listed are dialled at their
	// dLegerPeers address.
	RaftDialAddrs string `mapstructure:"raftDialAddrs"`
	// Join makes a member that has no state wait to be added to an
	// existing group instead of bootstrapping one (raftmq broker --join).
	Join bool `mapstructure:"join"`
	// AdvertisedListenPort is the client port advertised to NameServers
	// and written as STOREHOST (default listenPort), for brokers behind a
	// port-forwarding proxy.
	AdvertisedListenPort int `mapstructure:"advertisedListenPort"`
	// BrokerGroupAddr (host:port) is advertised as the group's brokerId 0
	// instead of the leader's own address: clients keep one address for
	// the group across failovers, and whichever member takes a connection
	// forwards writes to the leader. "" = the leader is brokerId 0.
	BrokerGroupAddr string `mapstructure:"brokerGroupAddr"`
	// BrokerGroupListen makes this member listen on brokerGroupAddr
	// together with the group's other members on this host (SO_REUSEPORT:
	// the kernel hands each new connection to a live member). Leave it
	// off when a load balancer, VIP or Kubernetes Service owns the address.
	BrokerGroupListen bool `mapstructure:"brokerGroupListen"`

	// CleanFileForciblyEnable lets retention delete, above the disk
	// force-clean ratio, segments holding messages no consumer group has
	// consumed yet (RocketMQ's key; default false here: a full disk then
	// refuses new messages instead).
	CleanFileForciblyEnable bool `mapstructure:"cleanFileForciblyEnable"`

	// ACLEnable turns on RocketMQ's plain ACL on the client port, with
	// accounts from ACLFile (plain_acl.yml; default
	// $ROCKETMQ_HOME/conf/plain_acl.yml), reloaded when it changes.
	ACLEnable bool   `mapstructure:"aclEnable"`
	ACLFile   string `mapstructure:"aclFile"`

	// TLS on the client port.
	TLSServer `mapstructure:",squash"`
	// RaftTLSCertPath, RaftTLSKeyPath and RaftTLSCAPath turn on mutual TLS
	// on the raft port: members present certificates signed by the group's
	// CA, and nothing else may replicate or forward.
	RaftTLSCertPath string `mapstructure:"raftTlsCertPath"`
	RaftTLSKeyPath  string `mapstructure:"raftTlsKeyPath"`
	RaftTLSCAPath   string `mapstructure:"raftTlsCaPath"`
	// NamesrvAccessKey and NamesrvSecretKey sign the broker's requests to
	// NameServers with ACL on (an admin account of theirs).
	NamesrvAccessKey string `mapstructure:"namesrvAccessKey"`
	NamesrvSecretKey string `mapstructure:"namesrvSecretKey"`
	// TLSClientEnable makes the broker reach NameServers over TLS (for
	// NameServers in enforcing mode), verified against
	// TLSClientTrustCertPath when it is set.
	TLSClientEnable        bool   `mapstructure:"tlsClientEnable"`
	TLSClientTrustCertPath string `mapstructure:"tlsClientTrustCertPath"`

	// Limits against hostile or broken clients.
	//
	// MaxTopicQueueNums bounds the queue count of a topic created or
	// updated through the admin API (1..16384; default 1024).
	MaxTopicQueueNums int `mapstructure:"maxTopicQueueNums"`
	// MaxConnections bounds open client connections (0: unlimited), and
	// MaxConnectionsPerIP those from one remote address.
	MaxConnections      int `mapstructure:"maxConnections"`
	MaxConnectionsPerIP int `mapstructure:"maxConnectionsPerIP"`
	// MaxPendingFrameBytes bounds the bytes held, over every connection,
	// for frames that have started to arrive and are not complete.
	MaxPendingFrameBytes int64 `mapstructure:"maxPendingFrameBytes"`
	// FrameReadTimeout is how long a started frame may take to arrive.
	FrameReadTimeout time.Duration `mapstructure:"frameReadTimeout"`
}

// TLSServer configures TLS on a port clients connect to (RocketMQ's
// tls.server.* settings, as flat keys).
type TLSServer struct {
	// TLSServerMode: disabled (plain only), permissive (TLS and plain on
	// the same port, told apart by the first byte) or enforcing (TLS only).
	TLSServerMode     string `mapstructure:"tlsServerMode"`
	TLSServerCertPath string `mapstructure:"tlsServerCertPath"`
	TLSServerKeyPath  string `mapstructure:"tlsServerKeyPath"`
	// TLSServerTrustCertPath (CA bundle) and TLSServerNeedClientAuth
	// (none | optional | require) ask clients for certificates.
	TLSServerTrustCertPath  string `mapstructure:"tlsServerTrustCertPath"`
	TLSServerNeedClientAuth string `mapstructure:"tlsServerNeedClientAuth"`
}

// Validate checks the TLS keys' values (files are read when serving).
func (t TLSServer) Validate() error {
	switch t.TLSServerMode {
	case "", "disabled":
		return nil
	case "permissive", "enforcing":
	default:
		return fmt.Errorf("tlsServerMode %q: want disabled, permissive or enforcing", t.TLSServerMode)
	}
	if t.TLSServerCertPath == "" || t.TLSServerKeyPath == "" {
		return fmt.Errorf("tlsServerMode=%s needs tlsServerCertPath and tlsServerKeyPath", t.TLSServerMode)
	}
	switch t.TLSServerNeedClientAuth {
	case "", "none", "optional":
	case "require":
		if t.TLSServerTrustCertPath == "" {
			return errors.New("tlsServerNeedClientAuth=require needs tlsServerTrustCertPath (the CA of client certificates)")
		}
	default:
		return fmt.Errorf("tlsServerNeedClientAuth %q: want none, optional or require", t.TLSServerNeedClientAuth)
	}
	return nil
}

// DialAddrs parses raftDialAddrs.
func (b Broker) DialAddrs() (map[string]string, error) {
	out := map[string]string{}
	c := b
	c.DLegerPeers = b.RaftDialAddrs
	peers, err := c.Peers()
	if err != nil {
		return nil, fmt.Errorf("raftDialAddrs: %w", err)
	}
	for _, p := range peers {
		out[p.ID] = p.Addr
	}
	return out, nil
}

// DefaultBroker returns RocketMQ's defaults, adjusted for a Raft group:
// SYNC_FLUSH, raft timeouts in hundreds of milliseconds.
func DefaultBroker() Broker {
	home, _ := os.UserHomeDir()
	return Broker{
		BrokerClusterName:           "DefaultCluster",
		BrokerName:                  "broker-a",
		NamesrvAddr:                 os.Getenv("NAMESRV_ADDR"),
		BrokerIP1:                   "127.0.0.1",
		ListenPort:                  10911,
		StorePathRootDir:            filepath.Join(home, "store"),
		FlushDiskType:               "SYNC_FLUSH",
		FlushIntervalCommitLog:      500,
		FileReservedTime:            72,
		DeleteWhen:                  "04",
		DiskMaxUsedSpaceRatio:       75,
		MappedFileSizeCommitLog:     1 << 30,
		MappedFileSizeConsumeQueue:  300000 * 20,
		MaxMessageSize:              4 << 20,
		MessageDelayLevel:           "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h",
		TimerMaxDelaySec:            259200,
		TransactionTimeOut:          6000,
		TransactionCheckInterval:    60000,
		TransactionCheckMax:         15,
		TransactionMaxOpen:          200000,
		DefaultTopicQueueNums:       8,
		AutoCreateTopicEnable:       true,
		AutoCreateSubscriptionGroup: true,
		BrokerPermission:            6,
		EnableDLegerCommitLog:       true,
		EnablePropertyFilter:        true,
		DLegerSelfID:                "n0",
		RaftHeartbeatTimeout:        250 * time.Millisecond,
		RaftElectionTimeout:         250 * time.Millisecond,
		RaftLeaderLeaseTimeout:      250 * time.Millisecond,
		RaftCommitTimeout:           0, // auto: see the field
		RaftSnapshotThreshold:       2048,
		RaftSnapshotInterval:        10 * time.Second,
		RegisterInterval:            3 * time.Second,
		SendBatchMaxBytes:           1 << 20,
		SendMaxInflightEntries:      1,
		SendMaxPendingBytes:         256 << 20,
		WaitTimeMillsInSendQueue:    1000,
		ClientExpiry:                120 * time.Second,
		LogLevel:                    "info",
		RaftLogLevel:                "warn",
		CommitLogPreallocate:        "auto",
		RaftParallelFlush:           true,
		RaftBinaryAppend:            true,
		MaxTopicQueueNums:           1024,
		MaxConnections:              10000,
		MaxConnectionsPerIP:         2000,
		MaxPendingFrameBytes:        256 << 20,
		FrameReadTimeout:            30 * time.Second,
		MetricsMaxTopics:            1000,
		MetricsMaxGroups:            2000,

		AccessMessageInMemoryMaxRatio: 40,
	}
}

// Peers parses dLegerPeers ("n0-127.0.0.1:40911;n1-127.0.0.1:40912").
func (b Broker) Peers() ([]Peer, error) {
	var out []Peer
	for _, item := range strings.Split(b.DLegerPeers, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, addr, ok := strings.Cut(item, "-")
		if !ok || id == "" {
			return nil, fmt.Errorf("dLegerPeers: %q is not id-host:port", item)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("dLegerPeers: %q: %w", item, err)
		}
		out = append(out, Peer{ID: id, Addr: addr})
	}
	return out, nil
}

// NameServers splits namesrvAddr.
func (b Broker) NameServers() []string { return splitList(b.NamesrvAddr) }

func splitList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Group is the raft group name: dLegerGroup, defaulting to brokerName.
func (b Broker) Group() string {
	if b.DLegerGroup != "" {
		return b.DLegerGroup
	}
	return b.BrokerName
}

// Validate reports every problem at once.
func (b Broker) Validate() error {
	var errs []error
	if b.BrokerName == "" {
		errs = append(errs, errors.New("brokerName is empty"))
	}
	if b.DLegerGroup != "" && b.DLegerGroup != b.BrokerName {
		errs = append(errs, fmt.Errorf("dLegerGroup %q must equal brokerName %q", b.DLegerGroup, b.BrokerName))
	}
	if b.ListenPort <= 0 || b.ListenPort > 65535 {
		errs = append(errs, fmt.Errorf("listenPort %d out of range", b.ListenPort))
	}
	if net.ParseIP(b.BrokerIP1) == nil {
		errs = append(errs, fmt.Errorf("brokerIP1 %q is not an IP address", b.BrokerIP1))
	}
	if b.BrokerGroupAddr != "" {
		if _, port, err := net.SplitHostPort(b.BrokerGroupAddr); err != nil || port == "0" {
			errs = append(errs, fmt.Errorf("brokerGroupAddr %q: want host:port", b.BrokerGroupAddr))
		}
	} else if b.BrokerGroupListen {
		errs = append(errs, errors.New("brokerGroupListen needs brokerGroupAddr"))
	}
	if b.StorePathRootDir == "" {
		errs = append(errs, errors.New("storePathRootDir is empty"))
	}
	if b.FlushDiskType != "SYNC_FLUSH" && b.FlushDiskType != "ASYNC_FLUSH" {
		errs = append(errs, fmt.Errorf("flushDiskType %q: want SYNC_FLUSH or ASYNC_FLUSH", b.FlushDiskType))
	}
	peers, err := b.Peers()
	if err != nil {
		errs = append(errs, err)
	} else {
		if len(peers) == 0 {
			errs = append(errs, errors.New("dLegerPeers is empty"))
		}
		found := false
		seen := map[string]bool{}
		for _, p := range peers {
			if seen[p.ID] {
				errs = append(errs, fmt.Errorf("dLegerPeers: id %q appears twice", p.ID))
			}
			seen[p.ID] = true
			found = found || p.ID == b.DLegerSelfID
		}
		if !found && len(peers) > 0 {
			errs = append(errs, fmt.Errorf("dLegerSelfId %q is not in dLegerPeers", b.DLegerSelfID))
		}
	}
	if b.MappedFileSizeCommitLog < 4096 || b.MappedFileSizeCommitLog > 1<<32-1 {
		errs = append(errs, fmt.Errorf("mappedFileSizeCommitLog %d out of range [4096, 4GiB)", b.MappedFileSizeCommitLog))
	}
	if b.MappedFileSizeConsumeQueue < 20*16 || b.MappedFileSizeConsumeQueue%20 != 0 {
		errs = append(errs, fmt.Errorf("mappedFileSizeConsumeQueue %d must be a multiple of 20 bytes, at least 320", b.MappedFileSizeConsumeQueue))
	}
	if b.AccessMessageInMemoryMaxRatio < 0 || b.AccessMessageInMemoryMaxRatio > 100 {
		errs = append(errs, fmt.Errorf("accessMessageInMemoryMaxRatio %d out of range [0, 100]", b.AccessMessageInMemoryMaxRatio))
	}
	if b.MaxMessageSize < 1024 || b.MaxMessageSize > 64<<20 {
		errs = append(errs, fmt.Errorf("maxMessageSize %d out of range [1KiB, 64MiB]", b.MaxMessageSize))
	}
	if int64(b.MaxMessageSize)+1024 > b.MappedFileSizeCommitLog {
		errs = append(errs, fmt.Errorf("maxMessageSize %d does not fit a %d-byte CommitLog segment", b.MaxMessageSize, b.MappedFileSizeCommitLog))
	}
	if b.DefaultTopicQueueNums < 1 || b.DefaultTopicQueueNums > 1024 {
		errs = append(errs, fmt.Errorf("defaultTopicQueueNums %d out of range [1, 1024]", b.DefaultTopicQueueNums))
	}
	if b.MaxTopicQueueNums < 1 || b.MaxTopicQueueNums > 16384 {
		errs = append(errs, fmt.Errorf("maxTopicQueueNums %d out of range [1, 16384]", b.MaxTopicQueueNums))
	}
	if b.DefaultTopicQueueNums > b.MaxTopicQueueNums {
		errs = append(errs, fmt.Errorf("defaultTopicQueueNums %d exceeds maxTopicQueueNums %d", b.DefaultTopicQueueNums, b.MaxTopicQueueNums))
	}
	if b.MaxConnections < 0 || b.MaxConnectionsPerIP < 0 {
		errs = append(errs, fmt.Errorf("maxConnections %d and maxConnectionsPerIP %d must not be negative", b.MaxConnections, b.MaxConnectionsPerIP))
	}
	if b.MaxPendingFrameBytes < int64(b.MaxMessageSize)+1<<20 {
		errs = append(errs, fmt.Errorf("maxPendingFrameBytes %d must hold at least one largest frame (maxMessageSize + 1 MiB)", b.MaxPendingFrameBytes))
	}
	if err := b.TLSServer.Validate(); err != nil {
		errs = append(errs, err)
	}
	if n := btoi(b.RaftTLSCertPath != "") + btoi(b.RaftTLSKeyPath != "") + btoi(b.RaftTLSCAPath != ""); n != 0 && n != 3 {
		errs = append(errs, errors.New("raft TLS needs all of raftTlsCertPath, raftTlsKeyPath and raftTlsCaPath"))
	}
	if b.ACLEnable && b.ACLFile == "" && os.Getenv("ROCKETMQ_HOME") == "" {
		errs = append(errs, errors.New("aclEnable=true needs aclFile (or ROCKETMQ_HOME, for $ROCKETMQ_HOME/conf/plain_acl.yml)"))
	}
	if b.FrameReadTimeout < time.Second {
		errs = append(errs, fmt.Errorf("frameReadTimeout %v must be at least 1s", b.FrameReadTimeout))
	}
	if b.FileReservedTime < 1 {
		errs = append(errs, fmt.Errorf("fileReservedTime %d must be at least 1 hour", b.FileReservedTime))
	}
	if b.DiskMaxUsedSpaceRatio < 10 || b.DiskMaxUsedSpaceRatio > 95 {
		errs = append(errs, fmt.Errorf("diskMaxUsedSpaceRatio %d out of range [10, 95]", b.DiskMaxUsedSpaceRatio))
	}
	if b.TimerMaxDelaySec <= 0 || b.TimerMaxDelaySec > 30*86400 {
		errs = append(errs, fmt.Errorf("timerMaxDelaySec %d: want 1..%d (30 days)", b.TimerMaxDelaySec, 30*86400))
	}
	if b.TransactionTimeOut < 100 || b.TransactionCheckInterval < 100 {
		errs = append(errs, fmt.Errorf("transactionTimeOut %d and transactionCheckInterval %d: want at least 100 ms", b.TransactionTimeOut, b.TransactionCheckInterval))
	}
	if b.TransactionCheckMax < 1 || b.TransactionCheckMax > 1000 {
		errs = append(errs, fmt.Errorf("transactionCheckMax %d: want 1..1000", b.TransactionCheckMax))
	}
	if b.RaftCommitTimeout != 0 && (b.RaftCommitTimeout < time.Millisecond || b.RaftCommitTimeout > 10*time.Second) {
		errs = append(errs, fmt.Errorf("raftCommitTimeout %v: want 0 (auto) or 1ms..10s", b.RaftCommitTimeout))
	}
	if b.BrokerPermission < 0 || b.BrokerPermission > 7 {
		errs = append(errs, fmt.Errorf("brokerPermission %d: want 0..7 (4 read, 2 write, 1 inherit)", b.BrokerPermission))
	}
	if b.TransactionMaxOpen < 1 || b.TransactionMaxOpen > 10_000_000 {
		errs = append(errs, fmt.Errorf("transactionMaxOpen %d: want 1..10000000", b.TransactionMaxOpen))
	}
	if _, err := ParseDelayLevels(b.MessageDelayLevel); err != nil {
		errs = append(errs, err)
	}
	if b.RaftHeartbeatTimeout < 5*time.Millisecond || b.RaftElectionTimeout < b.RaftHeartbeatTimeout ||
		b.RaftLeaderLeaseTimeout < 5*time.Millisecond || b.RaftLeaderLeaseTimeout > b.RaftHeartbeatTimeout {
		errs = append(errs, fmt.Errorf("raft timeouts: want heartbeat >= 5ms, election >= heartbeat, 5ms <= lease <= heartbeat (got %v/%v/%v)",
			b.RaftHeartbeatTimeout, b.RaftElectionTimeout, b.RaftLeaderLeaseTimeout))
	}
	switch b.CommitLogPreallocate {
	case "auto", "zero", "fallocate", "none":
	default:
		errs = append(errs, fmt.Errorf("commitLogPreallocate %q: want auto, zero, fallocate or none", b.CommitLogPreallocate))
	}
	if _, err := b.DialAddrs(); err != nil {
		errs = append(errs, err)
	}
	if b.AdvertisedListenPort < 0 || b.AdvertisedListenPort > 65535 {
		errs = append(errs, fmt.Errorf("advertisedListenPort %d out of range", b.AdvertisedListenPort))
	}
	if b.SendMaxInflightEntries < 1 || b.SendMaxInflightEntries > 1024 {
		errs = append(errs, fmt.Errorf("sendMaxInflightEntries %d out of range [1, 1024]", b.SendMaxInflightEntries))
	}
	if b.RegisterInterval <= 0 {
		errs = append(errs, errors.New("registerInterval must be positive"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid broker config: %w", err)
	}
	return nil
}

// ParseDelayLevels parses messageDelayLevel ("1s 5s 10s 30s 1m ... 2h").
func ParseDelayLevels(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Fields(s) {
		if len(f) < 2 {
			return nil, fmt.Errorf("messageDelayLevel: bad level %q", f)
		}
		n, err := strconv.Atoi(f[:len(f)-1])
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("messageDelayLevel: bad level %q", f)
		}
		unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[f[len(f)-1]]
		if unit == 0 {
			return nil, fmt.Errorf("messageDelayLevel: bad unit in %q (s, m, h or d)", f)
		}
		out = append(out, time.Duration(n)*unit)
	}
	if len(out) == 0 {
		return nil, errors.New("messageDelayLevel is empty")
	}
	return out, nil
}

// NameServer is a NameServer's configuration.
type NameServer struct {
	ListenPort int `mapstructure:"listenPort"`
	// TLS on the NameServer port (the official client's WithTls uses it
	// for NameServers too).
	TLSServer `mapstructure:",squash"`
	// ACLEnable makes registrations and route changes need an admin
	// account of ACLFile (plain_acl.yml); brokers sign theirs with
	// namesrvAccessKey/namesrvSecretKey. Route queries stay open.
	ACLEnable bool   `mapstructure:"aclEnable"`
	ACLFile   string `mapstructure:"aclFile"`
	// BrokerExpiry drops a broker that has not registered for this long
	// (RocketMQ: 120 s).
	BrokerExpiry time.Duration `mapstructure:"brokerExpiry"`
	LogLevel     string        `mapstructure:"logLevel"`
	// ConsoleAddr, if set, serves the web console (host:port); with
	// aclEnable it asks for an account. ConsoleTrustCertPath: the CA the
	// console's client trusts when brokers require TLS.
	ConsoleAddr          string `mapstructure:"consoleAddr"`
	ConsoleTrustCertPath string `mapstructure:"consoleTrustCertPath"`
	// KVConfigPath keeps the KV configuration (mqadmin updateKvConfig) in
	// this JSON file (RocketMQ's key; "" = in memory only).
	KVConfigPath string `mapstructure:"kvConfigPath"`
}

// DefaultNameServer returns the defaults.
func DefaultNameServer() NameServer {
	return NameServer{ListenPort: 9876, BrokerExpiry: 10 * time.Second, LogLevel: "info"}
}

// Validate checks the configuration.
func (n NameServer) Validate() error {
	if n.ListenPort <= 0 || n.ListenPort > 65535 {
		return fmt.Errorf("invalid namesrv config: listenPort %d out of range", n.ListenPort)
	}
	if n.BrokerExpiry < time.Second {
		return fmt.Errorf("invalid namesrv config: brokerExpiry %v shorter than 1s", n.BrokerExpiry)
	}
	if err := n.TLSServer.Validate(); err != nil {
		return fmt.Errorf("invalid namesrv config: %w", err)
	}
	if n.ACLEnable && n.ACLFile == "" {
		return errors.New("invalid namesrv config: aclEnable=true needs aclFile")
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Load reads file (optional) and RAFTMQ_* environment variables over the
// defaults in out (a *Broker or *NameServer), returning the keys it did not
// recognise. Files ending in .yaml/.yml/.toml/.json are read as such;
// anything else (broker.conf, .properties) as Java properties.
func Load(file string, out any, overrides map[string]any) (unknown []string, err error) {
	v := viper.NewWithOptions(viper.WithCodecRegistry(codecs()))
	v.SetEnvPrefix("RAFTMQ")
	known := knownKeys(out)
	for k := range known {
		v.BindEnv(k, "RAFTMQ_"+strings.ToUpper(k))
	}
	if file != "" {
		v.SetConfigFile(file)
		switch strings.ToLower(filepath.Ext(file)) {
		case ".yaml", ".yml":
			v.SetConfigType("yaml")
		case ".toml":
			v.SetConfigType("toml")
		case ".json":
			v.SetConfigType("json")
		default:
			v.SetConfigType("properties")
		}
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("config %s: %w", file, err)
		}
	}
	for k, val := range overrides {
		v.Set(k, val)
	}
	for _, k := range v.AllKeys() {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	dec := func(c *mapstructure.DecoderConfig) {
		c.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			millisHook,
			mapstructure.StringToTimeDurationHookFunc(),
		)
		c.WeaklyTypedInput = true
	}
	if err := v.Unmarshal(out, dec); err != nil {
		return unknown, fmt.Errorf("config: %w", err)
	}
	return unknown, nil
}

// millisHook lets plain numbers stand for milliseconds in duration keys.
func millisHook(from, to reflect.Type, data any) (any, error) {
	durType := reflect.TypeOf(time.Duration(0))
	if to != durType || from == durType {
		return data, nil
	}
	switch from.Kind() {
	case reflect.Int, reflect.Int64:
		return time.Duration(reflect.ValueOf(data).Int()) * time.Millisecond, nil
	case reflect.String:
		if n, err := strconv.ParseInt(data.(string), 10, 64); err == nil {
			return time.Duration(n) * time.Millisecond, nil
		}
	}
	return data, nil
}

func knownKeys(out any) map[string]bool {
	known := map[string]bool{}
	addKeys(reflect.TypeOf(out).Elem(), known)
	return known
}

func addKeys(t reflect.Type, known map[string]bool) {
	for i := 0; i < t.NumField(); i++ {
		switch tag := t.Field(i).Tag.Get("mapstructure"); {
		case tag == ",squash":
			addKeys(t.Field(i).Type, known)
		case tag != "":
			known[strings.ToLower(tag)] = true
		}
	}
}

func codecs() viper.CodecRegistry {
	r := viper.NewCodecRegistry()
	r.RegisterCodec("properties", propertiesCodec{})
	return r
}

// FormatProperties writes kv as a properties file (broker.conf), keys
// sorted, values escaped as Load reads them back.
func FormatProperties(kv map[string]string) []byte {
	p := properties.NewProperties()
	p.DisableExpansion = true
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		_, _, _ = p.Set(k, kv[k]) // fails only with expansion on
	}
	var b bytes.Buffer
	_, _ = p.Write(&b, properties.UTF8) // a bytes.Buffer does not fail
	return b.Bytes()
}

// propertiesCodec decodes Java properties files (RocketMQ broker.conf).
type propertiesCodec struct{}

func (propertiesCodec) Encode(map[string]any) ([]byte, error) {
	return nil, errors.New("config: writing properties is not supported")
}

func (propertiesCodec) Decode(b []byte, v map[string]any) error {
	l := &properties.Loader{Encoding: properties.UTF8, DisableExpansion: true}
	p, err := l.LoadBytes(b)
	if err != nil {
		return err
	}
	for _, k := range p.Keys() {
		val, _ := p.Get(k)
		// RocketMQ 4.5.1 and older spelled these "maped".
		k = strings.Replace(k, "mapedFileSize", "mappedFileSize", 1)
		v[k] = strings.TrimSpace(val)
	}
	return nil
}
