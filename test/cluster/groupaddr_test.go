package cluster

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

// fakeConsumer heartbeats as a push consumer of group to one member's
// client port and counts the NOTIFY_CONSUMER_IDS_CHANGED it is sent.
type fakeConsumer struct {
	id       string
	addr     string
	cli      *transport.Client
	notified atomic.Int64
}

func newFakeConsumer(t *testing.T, id, addr string) *fakeConsumer {
	cli, err := transport.NewClient(transport.DefaultClientConfig())
	require.NoError(t, err)
	t.Cleanup(func() { cli.Close() })
	f := &fakeConsumer{id: id, addr: addr, cli: cli}
	cli.Handle(transport.ReqNotifyConsumerIDsChanged, func(context.Context, *transport.Conn, *transport.Command) *transport.Command {
		f.notified.Add(1)
		return nil
	})
	return f
}

func (f *fakeConsumer) heartbeat(t *testing.T, group string) {
	t.Helper()
	body, err := transport.EncodeBody(transport.HeartbeatData{ClientID: f.id, ProducerDataSet: []transport.ProducerData{},
		ConsumerDataSet: []transport.ConsumerData{{GroupName: group, ConsumeType: "CONSUME_PASSIVELY", MessageModel: "CLUSTERING",
			ConsumeFromWhere: "CONSUME_FROM_LAST_OFFSET", SubscriptionDataSet: []transport.SubscriptionData{{Topic: "GroupWide", SubString: "*"}}}}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := f.cli.Invoke(ctx, f.addr, transport.NewRequest(transport.ReqHeartbeat, nil, body))
	require.NoError(t, err)
	require.Equal(t, int16(transport.RespSuccess), r.Code, r.Remark)
}

func consumerList(t *testing.T, addr, group string) ([]string, error) {
	cli, err := transport.NewClient(transport.DefaultClientConfig())
	require.NoError(t, err)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := cli.Invoke(ctx, addr, transport.NewRequest(transport.ReqGetConsumerListByGroup,
		(&transport.ConsumerGroupHeader{ConsumerGroup: group}).Encode(), nil))
	if err != nil {
		return nil, err
	}
	if r.Code != int16(transport.RespSuccess) {
		return nil, fmt.Errorf("%s: %s", transport.ResponseCode(r.Code), r.Remark)
	}
	var body transport.ConsumerListBody
	err = transport.DecodeBody(r.Body, &body)
	return body.ConsumerIDList, err
}

// TestGroupAddress_RegistrationsAreGroupWide: consumers of one group that
// heartbeat to different members are all listed by every member, each is
// told when another joins or leaves wherever it is connected, and a
// member's death drops its consumers from the list; routes name the group
// address as brokerId 0 across a failover, and the leader takes no new
// connections on it.
func TestGroupAddress_RegistrationsAreGroupWide(t *testing.T) {
	c := Start(t, Options{GroupAddr: true})
	g := c.Group(0)
	leader := g.WaitLeader(t, 10*time.Second)
	f1 := g.Follower(leader)
	var f2 *Node
	for _, n := range g.Nodes {
		if n != leader && n != f1 {
			f2 = n
		}
	}
	const grp = "GroupWideConsumers"
	a := newFakeConsumer(t, "127.0.0.1@a", f1.DirectAddr())
	b := newFakeConsumer(t, "127.0.0.1@b", f2.DirectAddr())
	a.heartbeat(t, grp)
	Eventually(t, 5*time.Second, func() error {
		ids, err := consumerList(t, leader.DirectAddr(), grp)
		if err != nil || !slices.Equal(ids, []string{a.id}) {
			return fmt.Errorf("leader lists %v (%v)", ids, err)
		}
		return nil
	})
	b.heartbeat(t, grp)
	for _, n := range g.Nodes {
		ids, err := consumerList(t, n.DirectAddr(), grp)
		require.NoError(t, err)
		require.Equal(t, []string{a.id, b.id}, ids, "member %s lists the group's consumers on every member", n.ID)
	}
	// The heartbeats reached followers only: the leader still created
	// the group's retry topic.
	ad, err := client.NewAdmin(client.WithNameServers(c.NamesrvAddr()))
	require.NoError(t, err)
	defer ad.Shutdown(context.Background())
	Eventually(t, 10*time.Second, func() error {
		_, err := ad.TopicRoute(context.Background(), "%RETRY%"+grp)
		return err
	})
	Eventually(t, 5*time.Second, func() error {
		if a.notified.Load() == 0 {
			return fmt.Errorf("the consumer on %s was not told that one joined on %s", f1.ID, f2.ID)
		}
		return nil
	})

	// The leader does not take connections on the group address: every
	// new one lands on a follower.
	for i := 0; i < 20; i++ {
		st := statusVia(t, g.Addr)
		require.NotEqual(t, leader.ID, st.NodeID, "a connection to the group address reached the leader")
	}

	// b's member dies: b drops out of the list; a leader kill keeps the
	// route on the group address.
	before := a.notified.Load()
	f2.Kill()
	ids, err := consumerList(t, f1.DirectAddr(), grp)
	require.NoError(t, err)
	require.Equal(t, []string{a.id}, ids)
	b.addr = f1.DirectAddr() // b re-registers elsewhere
	b.heartbeat(t, grp)
	Eventually(t, 5*time.Second, func() error {
		if a.notified.Load() == before {
			return fmt.Errorf("not notified of b's return")
		}
		return nil
	})
	f2.Restart(t)
	g.WaitCaughtUp(t, 30*time.Second)
	leader.Kill()
	next := g.WaitNewLeader(t, leader, 10*time.Second)
	c.waitRoute(t, g, 10*time.Second)
	ids, err = consumerList(t, g.Addr, grp)
	require.NoError(t, err)
	require.Equal(t, []string{a.id, b.id}, ids)
	t.Logf("%s leads after the kill; route keeps %s as brokerId 0", next.ID, g.Addr)
}

// statusVia asks GET_GROUP_STATUS over a fresh connection to addr.
func statusVia(t *testing.T, addr string) *transport.GroupStatus {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	require.NoError(t, err)
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	f, err := transport.AppendFrame(nil, transport.NewRequest(transport.ReqGetGroupStatus, nil, nil), transport.SerializeJSON)
	require.NoError(t, err)
	_, err = nc.Write(f)
	require.NoError(t, err)
	resp, err := transport.ReadFrame(nc, 0)
	require.NoError(t, err)
	var st transport.GroupStatus
	require.NoError(t, transport.DecodeBody(resp.Body, &st))
	return &st
}

// heldConn is a client connection to the group address, with the member
// that took it.
type heldConn struct {
	nc   net.Conn
	node string
}

func (h heldConn) status(t *testing.T) *transport.GroupStatus {
	t.Helper()
	h.nc.SetDeadline(time.Now().Add(5 * time.Second))
	f, err := transport.AppendFrame(nil, transport.NewRequest(transport.ReqGetGroupStatus, nil, nil), transport.SerializeJSON)
	require.NoError(t, err)
	_, err = h.nc.Write(f)
	require.NoError(t, err)
	// A member may push a request of its own on the connection first (it
	// is a client connection): skip to the response.
	for {
		resp, err := transport.ReadFrame(h.nc, 0)
		require.NoError(t, err)
		if !resp.IsResponse() {
			continue
		}
		require.Equal(t, int16(transport.RespSuccess), resp.Code, "group status: %s", resp.Remark)
		var st transport.GroupStatus
		require.NoError(t, transport.DecodeBody(resp.Body, &st))
		return &st
	}
}

// TestGroupAddress_LeaderHandsOffClientConnections: a member that becomes
// leader while holding client connections on the group address hands
// leadership to a caught-up member holding none (the killed leader, once
// restarted), so that a later leader kill breaks no client connection;
// the connections survive the handoff.
func TestGroupAddress_LeaderHandsOffClientConnections(t *testing.T) {
	c := Start(t, Options{GroupAddr: true})
	g := c.Group(0)
	leader := g.WaitLeader(t, 10*time.Second)
	var held []heldConn
	on := map[string]bool{}
	for i := 0; i < 200 && len(on) < 2; i++ { // one connection on each follower
		nc, err := net.DialTimeout("tcp", g.Addr, time.Second)
		require.NoError(t, err)
		h := heldConn{nc: nc}
		h.node = h.status(t).NodeID
		require.NotEqual(t, leader.ID, h.node, "the leader took a group-address connection")
		if on[h.node] {
			nc.Close()
			continue
		}
		on[h.node] = true
		held = append(held, h)
		defer nc.Close()
	}
	require.Len(t, on, 2)

	leader.Kill()
	next := g.WaitNewLeader(t, leader, 10*time.Second)
	leader.Restart(t)
	g.WaitCaughtUp(t, 30*time.Second)
	Eventually(t, 20*time.Second, func() error {
		if l := g.Leader(); l == nil || l.ID != leader.ID {
			return fmt.Errorf("%s still leads with a client connection", next.ID)
		}
		return nil
	})
	for _, h := range held {
		st := h.status(t)
		require.Equal(t, h.node, st.NodeID)
		require.Equal(t, leader.ID, st.Leader, "the connection to %s survived the handoff", h.node)
	}
}

// TestFollower_OffsetQueryNeverStale: a follower cut off from the leader
// has not applied the latest offset commit; asked for the offset it
// answers with the acknowledged one or an error, never the stale one.
func TestFollower_OffsetQueryNeverStale(t *testing.T) {
	c := Start(t, Options{})
	g := c.Group(0)
	const topic, grp = "OffsetNeverStale", "OffsetGroup"
	c.CreateTopic(t, topic, 1)
	leader := g.WaitLeader(t, 10*time.Second)
	commit := func(off int64) {
		r, err := g.Call(leader, transport.NewRequest(transport.ReqUpdateConsumerOffset,
			(&transport.UpdateConsumerOffsetRequestHeader{ConsumerGroup: grp, Topic: topic, CommitOffset: off}).Encode(), nil), 5*time.Second)
		require.NoError(t, err)
		require.Equal(t, int16(transport.RespSuccess), r.Code, r.Remark)
	}
	query := func(n *Node) (int64, error) {
		r, err := g.Call(n, transport.NewRequest(transport.ReqQueryConsumerOffset,
			(&transport.QueryConsumerOffsetRequestHeader{ConsumerGroup: grp, Topic: topic}).Encode(), nil), 5*time.Second)
		if err != nil {
			return 0, err
		}
		if r.Code != int16(transport.RespSuccess) {
			return 0, fmt.Errorf("%s: %s", transport.ResponseCode(r.Code), r.Remark)
		}
		var h transport.OffsetResponseHeader
		err = h.Decode(r.ExtFields)
		return h.Offset, err
	}
	commit(10)
	f := g.Follower(leader)
	Eventually(t, 5*time.Second, func() error {
		if off, err := query(f); err != nil || off != 10 {
			return fmt.Errorf("follower answers %d (%v)", off, err)
		}
		return nil
	})
	f.Partition()
	commit(20) // acknowledged by the leader and the other follower
	for i := 0; i < 3; i++ {
		off, err := query(f)
		require.True(t, err != nil || off == 20, "a cut-off follower answered the stale offset %d", off)
	}
	g.Heal()
	Eventually(t, 10*time.Second, func() error {
		if off, err := query(f); err != nil || off != 20 {
			return fmt.Errorf("follower answers %d (%v)", off, err)
		}
		return nil
	})
}
