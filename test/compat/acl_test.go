package compat

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

const aclFile = `
accounts:
  - accessKey: RocketMQAdmin
    secretKey: admin-secret
    admin: true
  - accessKey: producer1
    secretKey: producer-secret
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
    topicPerms:
      - AclTopic=PUB
  - accessKey: reader01
    secretKey: reader-secret
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
    topicPerms:
      - AclTopic=SUB
    groupPerms:
      - AclGroup=SUB
`

// TestOfficialClient_ACL: RocketMQ's plain ACL with the official client
// unmodified. The right keys work; a wrong secret and no credentials are
// refused; a read-only account consumes but cannot send; a non-admin
// cannot delete a topic; the file reloads when it changes; accounts
// created and deleted through the admin API apply on every member.
func TestOfficialClient_ACL(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain_acl.yml")
	require.NoError(t, os.WriteFile(file, []byte(aclFile), 0o600))
	admin := transport.Credentials{AccessKey: "RocketMQAdmin", SecretKey: "admin-secret"}
	c := cluster.Start(t, cluster.Options{Credentials: admin,
		Config: map[string]string{"aclEnable": "true", "aclFile": file,
			"namesrvAccessKey": admin.AccessKey, "namesrvSecretKey": admin.SecretKey},
		NameServerConfig: map[string]string{"aclEnable": "true", "aclFile": file}})
	g := c.Group(0)
	leader := g.WaitLeader(t, 20*time.Second)
	ns := c.NamesrvAddr()
	const topic = "AclTopic"
	ct := transport.CreateTopicRequestHeader{Topic: topic, ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6}
	r, err := g.Call(leader, transport.NewRequest(transport.ReqUpdateAndCreateTopic, ct.Encode(), nil), 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, int16(0), r.Code, r.Remark)

	seq := 0
	sendWith := func(cred *primitive.Credentials, topic string) error {
		// A distinct instance: the official client shares one connection
		// (and one set of credentials) between producers and consumers of
		// the same instance name in a process.
		seq++
		opts := []producer.Option{producer.WithInstanceName(fmt.Sprintf("acl-%d", seq))}
		if cred != nil {
			opts = append(opts, producer.WithCredentials(*cred))
		}
		p := newProducer(t, ns, append(opts, producer.WithRetry(0))...)
		defer p.Shutdown()
		res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte("acl-"+time.Now().String())))
		if err == nil && res.Status != primitive.SendOK {
			err = fmt.Errorf("status %v", res.Status)
		}
		return err
	}
	prod := &primitive.Credentials{AccessKey: "producer1", SecretKey: "producer-secret"}
	const n = 20
	for i := 0; i < n; i++ {
		require.NoError(t, sendWith(prod, topic))
	}
	err = sendWith(&primitive.Credentials{AccessKey: "producer1", SecretKey: "wrong-secret"}, topic)
	require.ErrorContains(t, err, "Check signature failed for accessKey=producer1")
	require.ErrorContains(t, sendWith(nil, topic), "No accessKey is configured")
	reader := &primitive.Credentials{AccessKey: "reader01", SecretKey: "reader-secret"}
	require.ErrorContains(t, sendWith(reader, topic), "No permission for topic:AclTopic")
	require.ErrorContains(t, sendWith(prod, "OtherTopic"), "No default permission for topic:OtherTopic")

	// The read-only account consumes everything.
	got := &received{msgs: map[string]*primitive.MessageExt{}}
	newPushConsumer(t, ns, "AclGroup", topic, consumer.MessageSelector{}, got, consumer.WithCredentials(*reader), consumer.WithInstance("acl-reader"))
	cluster.Eventually(t, 60*time.Second, func() error {
		if k := got.count(); k < n {
			return fmt.Errorf("consumed %d of %d", k, n)
		}
		return nil
	})

	// A non-admin cannot delete a topic, on any member.
	for _, nd := range g.Nodes {
		req := transport.NewRequest(transport.ReqDeleteTopicInBroker, map[string]string{"topic": topic}, nil)
		transport.Credentials{AccessKey: "producer1", SecretKey: "producer-secret"}.Sign(req)
		r, err := c.Raw(nd, req)
		require.NoError(t, err)
		require.Equal(t, int16(transport.RespNoPermission), r.Code, r.Remark)
		require.Contains(t, r.Remark, "Need admin permission for request code=215")
	}

	// The NameServer: nobody but an admin registers brokers (routes).
	nsc, err := transport.NewClient(transport.DefaultClientConfig())
	require.NoError(t, err)
	defer nsc.Close()
	reg := func(cred transport.Credentials) *transport.Command {
		h := map[string]string{"brokerName": "evil", "brokerAddr": "127.0.0.1:1", "clusterName": "TestCluster", "brokerId": "0", "haServerAddr": ""}
		req := transport.NewRequest(transport.ReqRegisterBroker, h, []byte(`{"topicConfigSerializeWrapper":{"topicConfigTable":{}}}`))
		cred.Sign(req)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r, err := nsc.Invoke(ctx, c.NameServers()[0], req)
		require.NoError(t, err)
		return r
	}
	r = reg(transport.Credentials{})
	require.Equal(t, int16(transport.RespNoPermission), r.Code, r.Remark)
	require.Contains(t, r.Remark, "No accessKey")
	r = reg(transport.Credentials{AccessKey: "producer1", SecretKey: "producer-secret"})
	require.Equal(t, int16(transport.RespNoPermission), r.Code, r.Remark)
	require.Contains(t, r.Remark, "Need admin permission for request code=103")

	// The file changes: producer1 may now publish to OtherTopic.
	require.NoError(t, os.WriteFile(file, []byte(strings.Replace(aclFile, "      - AclTopic=PUB", "      - AclTopic=PUB\n      - OtherTopic=PUB", 1)), 0o600))
	cluster.Eventually(t, 15*time.Second, func() error { return sendWith(prod, "OtherTopic") })

	// An account created through the admin API works on every member and
	// goes away on every member when deleted.
	ad, err := client.NewAdmin(client.WithNameServers(ns), client.WithCredentials(admin.AccessKey, admin.SecretKey))
	require.NoError(t, err)
	defer ad.Shutdown(context.Background())
	ctx := context.Background()
	require.NoError(t, ad.UpdateACLAccount(ctx, client.ACLAccount{AccessKey: "apiUser1", SecretKey: "api-secret", DefaultTopicPerm: "PUB"}, client.Target{}))
	require.NoError(t, sendWith(&primitive.Credentials{AccessKey: "apiUser1", SecretKey: "api-secret"}, topic))
	sendVia := func(nd *cluster.Node) *transport.Command {
		h := transport.SendMessageRequestHeader{ProducerGroup: "PG", Topic: topic, QueueID: 0, BornTimestamp: time.Now().UnixMilli()}
		req := transport.NewRequest(transport.ReqSendMessage, h.Encode(), []byte("via "+nd.ID))
		transport.Credentials{AccessKey: "apiUser1", SecretKey: "api-secret"}.Sign(req)
		r, err := c.Raw(nd, req)
		require.NoError(t, err)
		return r
	}
	for _, nd := range g.Nodes {
		cluster.Eventually(t, 10*time.Second, func() error {
			if r := sendVia(nd); r.Code != 0 {
				return fmt.Errorf("%s: %d %s", nd.ID, r.Code, r.Remark)
			}
			return nil
		})
	}
	require.NoError(t, ad.DeleteACLAccount(ctx, "apiUser1", client.Target{}))
	for _, nd := range g.Nodes {
		cluster.Eventually(t, 10*time.Second, func() error {
			if r := sendVia(nd); r.Code != int16(transport.RespNoPermission) || !strings.Contains(r.Remark, "No acl config for apiUser1") {
				return fmt.Errorf("%s: %d %s", nd.ID, r.Code, r.Remark)
			}
			return nil
		})
	}
	// A non-admin cannot create accounts.
	ad2, err := client.NewAdmin(client.WithNameServers(ns), client.WithCredentials("producer1", "producer-secret"))
	require.NoError(t, err)
	defer ad2.Shutdown(context.Background())
	err = ad2.UpdateACLAccount(ctx, client.ACLAccount{AccessKey: "sneaky01", SecretKey: "sneaky-secret", Admin: true}, client.Target{})
	require.ErrorIs(t, err, client.ErrNoPermission)
}
