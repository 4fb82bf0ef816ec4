package namesrv

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

func startNS(t *testing.T) (*Server, *transport.Client) {
	t.Helper()
	s, err := New(Config{Addr: "127.0.0.1:0", BrokerExpiry: 2 * time.Second})
	require.NoError(t, err)
	require.NoError(t, s.Start())
	c, err := transport.NewClient(transport.DefaultClientConfig())
	require.NoError(t, err)
	t.Cleanup(func() {
		c.Close()
		s.Shutdown(context.Background())
	})
	return s, c
}

func register(t *testing.T, c *transport.Client, ns, name, addr string, id int64, leader bool, term uint64, topics ...string) {
	t.Helper()
	registerExt(t, c, ns, name, addr, id, leader, term, nil, topics...)
}

func registerExt(t *testing.T, c *transport.Client, ns, name, addr string, id int64, leader bool, term uint64, more map[string]string, topics ...string) {
	t.Helper()
	h := transport.RegisterBrokerRequestHeader{BrokerName: name, BrokerAddr: addr, ClusterName: "C", BrokerID: id}
	ext := h.Encode()
	for k, v := range more {
		ext[k] = v
	}
	ext[transport.ExtRaftLeader] = strconv.FormatBool(leader)
	ext[transport.ExtRaftTerm] = strconv.FormatUint(term, 10)
	w := transport.TopicConfigWrapper{TopicConfigTable: map[string]transport.TopicConfig{}}
	for _, tp := range topics {
		w.TopicConfigTable[tp] = transport.TopicConfig{TopicName: tp, ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6}
	}
	body, err := transport.EncodeBody(transport.RegisterBrokerBody{TopicConfigSerializeWrapper: w})
	require.NoError(t, err)
	r, err := c.Invoke(context.Background(), ns, transport.NewRequest(transport.ReqRegisterBroker, ext, body))
	require.NoError(t, err)
	require.Equal(t, int16(0), r.Code, r.Remark)
}

func route(t *testing.T, c *transport.Client, ns, topic string) (*transport.TopicRouteData, int16) {
	t.Helper()
	r, err := c.Invoke(context.Background(), ns, transport.NewRequest(transport.ReqGetRouteInfoByTopic, (&transport.TopicHeader{Topic: topic}).Encode(), nil))
	require.NoError(t, err)
	if r.Code != 0 {
		return nil, r.Code
	}
	rd, err := transport.DecodeTopicRouteData(r.Body)
	require.NoError(t, err)
	return rd, 0
}

func TestNameServer_LeaderIsIDZeroByTerm(t *testing.T) {
	s, c := startNS(t)
	ns := s.Addr()
	register(t, c, ns, "g", "127.0.0.1:1", 1, true, 5, "T")
	register(t, c, ns, "g", "127.0.0.1:2", 2, false, 5, "T")
	register(t, c, ns, "g", "127.0.0.1:3", 3, false, 5, "T")
	rd, code := route(t, c, ns, "T")
	require.Zero(t, code)
	require.Equal(t, "127.0.0.1:1", rd.BrokerDatas[0].BrokerAddrs[0])
	require.Len(t, rd.BrokerDatas[0].BrokerAddrs, 3)
	require.Equal(t, int32(4), rd.QueueDatas[0].WriteQueueNums)

	// A new leader in a higher term wins even before the old one
	// re-registers as a follower.
	register(t, c, ns, "g", "127.0.0.1:2", 2, true, 6, "T")
	rd, _ = route(t, c, ns, "T")
	require.Equal(t, "127.0.0.1:2", rd.BrokerDatas[0].BrokerAddrs[0])
	require.NotContains(t, []string{rd.BrokerDatas[0].BrokerAddrs[1], rd.BrokerDatas[0].BrokerAddrs[3]}, "127.0.0.1:2")

	// During an election nobody leads: the last leader stays id 0.
	register(t, c, ns, "g", "127.0.0.1:2", 2, false, 7, "T")
	register(t, c, ns, "g", "127.0.0.1:1", 1, false, 7, "T")
	rd, _ = route(t, c, ns, "T")
	require.Equal(t, "127.0.0.1:2", rd.BrokerDatas[0].BrokerAddrs[0])

	_, code = route(t, c, ns, "Nope")
	require.Equal(t, int16(transport.RespTopicNotExist), code)
}

// A group with a group address has that address as brokerId 0 in routes,
// alone and unchanged across elections; cluster info lists the members too.
func TestNameServer_GroupAddress(t *testing.T) {
	s, c := startNS(t)
	ns := s.Addr()
	ga := map[string]string{transport.ExtGroupAddr: "127.0.0.1:9"}
	registerExt(t, c, ns, "g", "127.0.0.1:1", 1, true, 5, ga, "T")
	registerExt(t, c, ns, "g", "127.0.0.1:2", 2, false, 5, ga, "T")
	registerExt(t, c, ns, "g", "127.0.0.1:3", 3, false, 5, ga, "T")
	want := map[int64]string{0: "127.0.0.1:9"}
	rd, code := route(t, c, ns, "T")
	require.Zero(t, code)
	require.Equal(t, want, rd.BrokerDatas[0].BrokerAddrs)

	registerExt(t, c, ns, "g", "127.0.0.1:2", 2, true, 6, ga, "T") // a new leader
	rd, _ = route(t, c, ns, "T")
	require.Equal(t, want, rd.BrokerDatas[0].BrokerAddrs)
	registerExt(t, c, ns, "g", "127.0.0.1:2", 2, false, 7, ga, "T") // an election
	registerExt(t, c, ns, "g", "127.0.0.1:1", 1, false, 7, ga, "T")
	rd, _ = route(t, c, ns, "T")
	require.Equal(t, want, rd.BrokerDatas[0].BrokerAddrs)

	ci := s.ClusterInfo()
	require.Equal(t, map[int64]string{0: "127.0.0.1:9", 1: "127.0.0.1:1", 2: "127.0.0.1:2", 3: "127.0.0.1:3"}, ci.BrokerAddrTable["g"].BrokerAddrs)
}

func TestNameServer_ExpiryAndConnectionClose(t *testing.T) {
	s, c := startNS(t)
	ns := s.Addr()
	register(t, c, ns, "g", "127.0.0.1:1", 0, true, 1, "T")
	_, code := route(t, c, ns, "T")
	require.Zero(t, code)
	// The registering connection closes (the broker died): gone at once.
	c.CloseConn(ns)
	require.Eventually(t, func() bool {
		_, code := route(t, c, ns, "T")
		return code == int16(transport.RespTopicNotExist)
	}, 2*time.Second, 10*time.Millisecond)
	// Silent brokers expire.
	register(t, c, ns, "g", "127.0.0.1:1", 0, true, 1, "T")
	require.Eventually(t, func() bool {
		_, code := route(t, c, ns, "T")
		return code == int16(transport.RespTopicNotExist)
	}, 5*time.Second, 50*time.Millisecond)
}
