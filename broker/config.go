package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/raftmq/raftmq/config"
	"github.com/raftmq/raftmq/group"
	"github.com/raftmq/raftmq/raftlog"
	"github.com/raftmq/raftmq/tlsconfig"
	"github.com/raftmq/raftmq/transport"
)

// Config configures a broker node in typed values: durations, sizes,
// modes and loaded TLS configurations. FromFile maps the file schema
// (config.Broker, RocketMQ's keys) onto it once.
type Config struct {
	ClusterName string
	BrokerName  string
	NameServers []string
	// ListenAddr is where clients connect; Advertised is the address the
	// NameServers give out (also the STOREHOST of messages this node
	// writes as leader).
	ListenAddr string
	Advertised netip.AddrPort
	// GroupAddr is advertised as brokerId 0 instead of the leader's
	// address ("" = none); GroupListen: listen on it with the other
	// members on this host (SO_REUSEPORT).
	GroupAddr   string
	GroupListen bool

	// The raft group: this member's id, the members, where to listen for
	// raft and peer traffic, and where to dial peers that are reached
	// through NAT or proxies (by id).
	NodeID  string
	Members []group.Member
	// Join: a member without state waits to be added (never bootstraps).
	Join         bool
	RaftBindAddr string
	DialAddrs    map[string]string

	// Storage: the store root and CommitLog settings.
	Dir                     string
	Log                     raftlog.Config
	ConsumeQueueFileEntries int64

	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	SnapshotThreshold  uint64
	SnapshotInterval   time.Duration
	ParallelFlush      bool
	BinaryAppend       bool // raftnet's AppendEntries; else NetworkTransport alone
	// PreferredLeader (DLedger's preferredLeaderId): leadership is handed
	// to this member whenever it is up to date ("" = none).
	PreferredLeader string
	// NewGroupWindow: a consumer group with no offset on a never-trimmed
	// queue starts at 0 while the queue's first message lies within this
	// many bytes of the CommitLog's end (RocketMQ: accessMessageInMemoryMaxRatio
	// percent of physical memory); else QUERY_NOT_FOUND and the client's
	// consumeFromWhere decides. 0: never.
	NewGroupWindow int64

	MaxMessageSize              int
	DelayLevels                 []time.Duration
	TimerMaxDelay               time.Duration
	TransactionTimeout          time.Duration
	TransactionCheckInterval    time.Duration
	TransactionCheckMax         int
	TransactionMaxOpen          int
	DefaultTopicQueueNums       int
	MaxTopicQueueNums           int
	AutoCreateTopic             bool
	AutoCreateSubscriptionGroup bool
	EnablePropertyFilter        bool

	// Proposals and flow control.
	MaxEntryBytes      int
	MaxInflightEntries int
	MaxPendingBytes    int64
	SendQueueWait      time.Duration

	RegisterInterval time.Duration
	ClientExpiry     time.Duration
	MetricsAddr      string
	// MetricsMaxTopics and MetricsMaxGroups bound the per-topic and
	// per-(consumer group, topic) series of /metrics (0: the defaults).
	MetricsMaxTopics, MetricsMaxGroups int

	// Limits on the client port.
	MaxConns             int
	MaxConnsPerIP        int
	MaxPendingFrameBytes int64
	FrameReadTimeout     time.Duration

	// ACLFile turns ACL on ("" = off).
	ACLFile string
	// ClientTLS and ClientTLSMode: TLS on the client port.
	ClientTLS     *tls.Config
	ClientTLSMode transport.TLSMode
	// MemberServerTLS and MemberClientTLS: mutual TLS on the raft port
	// (nil = plain).
	MemberServerTLS, MemberClientTLS *tls.Config
	// NameServer connections: TLS (nil = plain) and credentials.
	NamesrvTLS         *tls.Config
	NamesrvCredentials transport.Credentials

	// File is the file schema this Config was mapped from (FromFile), for
	// GET_BROKER_CONFIG.
	File config.Broker

	Logger hclog.Logger
	// RaftLogger receives hashicorp/raft's own logs (chatty at info).
	RaftLogger hclog.Logger
}

// DefaultConfig returns the configuration of config.DefaultBroker() as a
// one-member group (dLegerPeers n0-127.0.0.1:40911, RocketMQ's default
// DLedger port), which every field a multi-member group needs overrides.
func DefaultConfig() Config {
	fc := config.DefaultBroker()
	if fc.DLegerPeers == "" {
		fc.DLegerPeers = fc.DLegerSelfID + "-127.0.0.1:40911"
	}
	c, err := FromFile(fc)
	if err != nil {
		panic(fmt.Sprintf("broker: the defaults do not map: %v", err))
	}
	return c
}

// FromFile validates the file schema and maps it onto a Config, reading
// TLS certificates. It is the only place RocketMQ's key units (hours,
// percents, milliseconds, strings for modes) are converted.
func FromFile(f config.Broker) (Config, error) {
	if err := f.Validate(); err != nil {
		return Config{}, err
	}
	if !f.EnableDLegerCommitLog {
		return Config{}, errors.New("invalid broker config: enableDLegerCommitLog=false is not supported: raftmq's CommitLog is always a raft log")
	}
	peers, err := f.Peers()
	if err != nil {
		return Config{}, err
	}
	dial, err := f.DialAddrs()
	if err != nil {
		return Config{}, err
	}
	advPort := f.ListenPort
	if f.AdvertisedListenPort > 0 {
		advPort = f.AdvertisedListenPort
	}
	adv, err := netip.ParseAddrPort(net.JoinHostPort(f.BrokerIP1, strconv.Itoa(advPort)))
	if err != nil {
		return Config{}, fmt.Errorf("invalid broker config: advertised address: %w", err)
	}
	delays, err := config.ParseDelayLevels(f.MessageDelayLevel)
	if err != nil {
		return Config{}, err
	}
	flush, err := raftlog.ParseFlushMode(f.FlushDiskType)
	if err != nil {
		return Config{}, err
	}
	lc := raftlog.DefaultConfig(f.StorePathRootDir)
	lc.SegmentSize = f.MappedFileSizeCommitLog
	lc.Flush = flush
	lc.FlushInterval = time.Duration(f.FlushIntervalCommitLog) * time.Millisecond
	lc.Retention.FileReservedTime = time.Duration(f.FileReservedTime) * time.Hour
	if lc.Retention.DeleteWhen, err = raftlog.ParseDeleteWhen(f.DeleteWhen); err != nil {
		return Config{}, err
	}
	lc.Retention.DiskMaxUsedSpaceRatio = float64(f.DiskMaxUsedSpaceRatio) / 100
	lc.Retention.DiskForceCleanRatio = math.Max(lc.Retention.DiskMaxUsedSpaceRatio, 0.85)
	lc.Retention.DiskRejectRatio = math.Max(lc.Retention.DiskForceCleanRatio, 0.90)
	lc.Retention.CleanForcibly = f.CleanFileForciblyEnable
	prealloc := f.CommitLogPreallocate
	if prealloc == "auto" || prealloc == "" {
		// Zeros make each fdatasync flush data only, but they double the
		// bytes written. Measured end to end (make bench-cluster), that
		// costs more than it saves under either flush mode: ASYNC (a)
		// about 15 % more server CPU, SYNC (b, d) 10-35 % more, with no
		// throughput or 1-in-flight latency gained.
		prealloc = "fallocate"
	}
	lc.Preallocate = map[string]raftlog.PreallocMode{"zero": raftlog.PreallocZero, "fallocate": raftlog.PreallocFallocate,
		"none": raftlog.PreallocNone}[prealloc]
	c := Config{
		ClusterName: f.BrokerClusterName, BrokerName: f.BrokerName, NameServers: f.NameServers(),
		ListenAddr: listenAddr(f.BrokerIP1, f.ListenPort), Advertised: adv,
		GroupAddr: f.BrokerGroupAddr, GroupListen: f.BrokerGroupListen,
		NodeID: f.DLegerSelfID, Join: f.Join, RaftBindAddr: f.RaftBindAddr, DialAddrs: dial,
		Dir: f.StorePathRootDir, Log: lc, ConsumeQueueFileEntries: f.MappedFileSizeConsumeQueue / 20,
		HeartbeatTimeout: f.RaftHeartbeatTimeout, ElectionTimeout: f.RaftElectionTimeout, LeaderLeaseTimeout: f.RaftLeaderLeaseTimeout,
		CommitTimeout: commitTimeout(f), SnapshotThreshold: f.RaftSnapshotThreshold, SnapshotInterval: f.RaftSnapshotInterval,
		ParallelFlush: f.RaftParallelFlush, BinaryAppend: f.RaftBinaryAppend, PreferredLeader: f.PreferredLeaderID,
		NewGroupWindow: physicalMemory() / 100 * int64(f.AccessMessageInMemoryMaxRatio),
		MaxMessageSize: f.MaxMessageSize, DelayLevels: delays, TimerMaxDelay: time.Duration(f.TimerMaxDelaySec) * time.Second,
		TransactionTimeout: time.Duration(f.TransactionTimeOut) * time.Millisecond, TransactionCheckInterval: time.Duration(f.TransactionCheckInterval) * time.Millisecond,
		TransactionCheckMax: f.TransactionCheckMax, TransactionMaxOpen: f.TransactionMaxOpen, DefaultTopicQueueNums: f.DefaultTopicQueueNums,
		MaxTopicQueueNums: f.MaxTopicQueueNums, AutoCreateTopic: f.AutoCreateTopicEnable,
		AutoCreateSubscriptionGroup: f.AutoCreateSubscriptionGroup, EnablePropertyFilter: f.EnablePropertyFilter,
		MaxEntryBytes: f.SendBatchMaxBytes, MaxInflightEntries: f.SendMaxInflightEntries, MaxPendingBytes: f.SendMaxPendingBytes,
		SendQueueWait:    time.Duration(f.WaitTimeMillsInSendQueue) * time.Millisecond,
		RegisterInterval: f.RegisterInterval, ClientExpiry: f.ClientExpiry, MetricsAddr: f.MetricsAddr,
		MaxConns: f.MaxConnections, MaxConnsPerIP: f.MaxConnectionsPerIP, MaxPendingFrameBytes: f.MaxPendingFrameBytes,
		MetricsMaxTopics: f.MetricsMaxTopics, MetricsMaxGroups: f.MetricsMaxGroups,
		FrameReadTimeout:   f.FrameReadTimeout,
		NamesrvCredentials: transport.Credentials{AccessKey: f.NamesrvAccessKey, SecretKey: f.NamesrvSecretKey},
		File:               f,
	}
	for _, p := range peers {
		c.Members = append(c.Members, group.Member{ID: p.ID, Addr: p.Addr, Voter: true})
	}
	if f.ACLEnable {
		c.ACLFile = f.ACLFile
		if c.ACLFile == "" {
			c.ACLFile = os.Getenv("ROCKETMQ_HOME") + "/conf/plain_acl.yml"
		}
	}
	if c.ClientTLSMode, err = transport.ParseTLSMode(f.TLSServerMode); err != nil {
		return Config{}, err
	}
	if c.ClientTLSMode != transport.TLSDisabled {
		if c.ClientTLS, err = tlsconfig.Server(f.TLSServerCertPath, f.TLSServerKeyPath, f.TLSServerTrustCertPath, f.TLSServerNeedClientAuth); err != nil {
			return Config{}, fmt.Errorf("client port TLS: %w", err)
		}
	}
	if f.RaftTLSCertPath != "" {
		if c.MemberServerTLS, c.MemberClientTLS, err = tlsconfig.Member(f.RaftTLSCertPath, f.RaftTLSKeyPath, f.RaftTLSCAPath); err != nil {
			return Config{}, fmt.Errorf("raft TLS: %w", err)
		}
	}
	if f.TLSClientEnable {
		if c.NamesrvTLS, err = tlsconfig.Client(f.TLSClientTrustCertPath, f.TLSClientTrustCertPath == "", "", ""); err != nil {
			return Config{}, fmt.Errorf("NameServer TLS: %w", err)
		}
	}
	return c, c.Validate()
}

// Validate checks what a Config built by hand could get wrong.
func (c Config) Validate() error {
	found := false
	for _, m := range c.Members {
		found = found || m.ID == c.NodeID
	}
	switch {
	case c.BrokerName == "":
		return errors.New("broker: BrokerName is empty")
	case !found:
		return fmt.Errorf("broker: node %q is not among the members", c.NodeID)
	case c.Dir == "" || c.Log.Dir != c.Dir:
		return errors.New("broker: Dir must be set and equal Log.Dir")
	case c.PreferredLeader != "" && !memberOf(c.Members, c.PreferredLeader):
		return fmt.Errorf("broker: preferred leader %q is not a member", c.PreferredLeader)
	case c.MaxMessageSize < 1024 || c.MaxTopicQueueNums < 1 || c.DefaultTopicQueueNums < 1:
		return errors.New("broker: MaxMessageSize, MaxTopicQueueNums and DefaultTopicQueueNums must be set")
	}
	return c.Log.Validate()
}

func memberOf(ms []group.Member, id string) bool {
	for _, m := range ms {
		if m.ID == id {
			return true
		}
	}
	return false
}

func listenAddr(ip string, port int) string {
	if a, err := netip.ParseAddr(ip); err == nil && a.IsLoopback() {
		return net.JoinHostPort(ip, strconv.Itoa(port))
	}
	return ":" + strconv.Itoa(port)
}

// commitTimeout is raftCommitTimeout, or 5 ms when it is 0. Longer (50 ms
// cuts an idle group from 0.25 to 0.10 cores) is not the default yet: in
// two CI rehearsals with it a freshly elected leader stepped down for lack
// of follower contact (every AppendEntries response refreshes the leader
// lease, and these are the frequent ones when idle), and consumers on
// followers (a group address) see the end of a burst up to 2x it late.
func commitTimeout(f config.Broker) time.Duration {
	if f.RaftCommitTimeout > 0 {
		return f.RaftCommitTimeout
	}
	return 5 * time.Millisecond
}
