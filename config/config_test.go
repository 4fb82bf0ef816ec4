package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLoad_BrokerConf(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "broker-n0.conf")
	require.NoError(t, os.WriteFile(p, []byte(`# RocketMQ DLedger sample
brokerClusterName = RaftCluster
brokerName=RaftNode00
listenPort=30911
namesrvAddr=127.0.0.1:9876
storePathRootDir=/tmp/rmqstore/node00
enableDLegerCommitLog=true
dLegerGroup=RaftNode00
dLegerPeers=n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913
dLegerSelfId=n0
sendMessageThreadPoolNums=16
mapedFileSizeCommitLog=67108864
flushDiskType=ASYNC_FLUSH
raftHeartbeatTimeout=150
autoCreateTopicEnable=false
`), 0o644))
	b := DefaultBroker()
	unknown, err := Load(p, &b, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"sendmessagethreadpoolnums"}, unknown)
	require.Equal(t, "RaftCluster", b.BrokerClusterName)
	require.Equal(t, 30911, b.ListenPort)
	require.Equal(t, int64(64<<20), b.MappedFileSizeCommitLog, "old 'maped' spelling accepted")
	require.Equal(t, "ASYNC_FLUSH", b.FlushDiskType)
	require.Equal(t, 150*time.Millisecond, b.RaftHeartbeatTimeout)
	require.False(t, b.AutoCreateTopicEnable)
	peers, err := b.Peers()
	require.NoError(t, err)
	require.Equal(t, []Peer{{"n0", "127.0.0.1:40911"}, {"n1", "127.0.0.1:40912"}, {"n2", "127.0.0.1:40913"}}, peers)
	b.RaftElectionTimeout = 150 * time.Millisecond
	b.RaftLeaderLeaseTimeout = 75 * time.Millisecond
	require.NoError(t, b.Validate())
}

func TestLoad_YAMLAndEnv(t *testing.T) {
	p := filepath.Join(t.TempDir(), "b.yaml")
	require.NoError(t, os.WriteFile(p, []byte("brokerName: b1\ndLegerPeers: n0-127.0.0.1:1\nraftElectionTimeout: 1s\n"), 0o644))
	t.Setenv("RAFTMQ_LISTENPORT", "12345")
	b := DefaultBroker()
	unknown, err := Load(p, &b, map[string]any{"storePathRootDir": "/data"})
	require.NoError(t, err)
	require.Empty(t, unknown)
	require.Equal(t, "b1", b.BrokerName)
	require.Equal(t, 12345, b.ListenPort)
	require.Equal(t, time.Second, b.RaftElectionTimeout)
	require.Equal(t, "/data", b.StorePathRootDir)
}

func TestValidate_ReportsProblems(t *testing.T) {
	b := DefaultBroker()
	b.DLegerPeers = "n1-127.0.0.1:1"
	b.FlushDiskType = "SOMETIMES"
	err := b.Validate()
	require.ErrorContains(t, err, "dLegerSelfId \"n0\" is not in dLegerPeers")
	require.ErrorContains(t, err, "flushDiskType")
}

func TestFormatProperties_RoundTrip(t *testing.T) {
	kv := map[string]string{"brokerName": "broker-a", "storePathRootDir": `/data/x y\z:1`, "dLegerPeers": "n0-127.0.0.1:1;n1-127.0.0.1:2", "tlsServerMode": "enforcing=1#"}
	path := filepath.Join(t.TempDir(), "broker.conf")
	require.NoError(t, os.WriteFile(path, FormatProperties(kv), 0o644))
	b := DefaultBroker()
	_, err := Load(path, &b, nil)
	require.NoError(t, err)
	require.Equal(t, "broker-a", b.BrokerName)
	require.Equal(t, `/data/x y\z:1`, b.StorePathRootDir)
	require.Equal(t, "n0-127.0.0.1:1;n1-127.0.0.1:2", b.DLegerPeers)
	require.Equal(t, "enforcing=1#", b.TLSServerMode)
}
