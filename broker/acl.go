package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/raftmq/raftmq/acl"
	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// ACL (aclEnable=true): every request on the client port is checked
// against the policy before its handler runs; the peer channel carries
// only what a member already checked. The policy is plain_acl.yml (read
// again when it changes) with the accounts changed through
// UPDATE_AND_CREATE_ACL_CONFIG / DELETE_ACL_CONFIG on top: those go
// through raft, so every member of the group applies them alike.
type aclState struct {
	*acl.Watcher
	kick chan struct{}
}

// adminCodes change or reveal the broker's configuration: admin accounts
// only (RocketMQ's list plus raftmq's own administration).
var adminCodes = map[transport.RequestCode]bool{
	transport.ReqUpdateAndCreateTopic: true, transport.ReqUpdateBrokerConfig: true, transport.ReqDeleteTopicInBroker: true,
	transport.ReqUpdateAndCreateSubscriptionGroup: true, transport.ReqDeleteSubscriptionGroup: true,
	transport.ReqUpdateAndCreateACLConfig: true, transport.ReqDeleteACLConfig: true, transport.ReqGetBrokerClusterACLInfo: true,
	transport.ReqGetAllTopicConfig: true, transport.ReqGetAllSubscriptionGroupConfig: true, transport.ReqGetBrokerRuntimeInfo: true,
	transport.ReqGetTopicStatsInfo: true, transport.ReqGetConsumeStats: true, transport.ReqGetConsumerConnectionList: true,
	transport.ReqInvokeBrokerToResetOffset: true, transport.ReqTransferLeader: true, transport.ReqGetGroupStatus: true,
	transport.ReqDeleteExpiredCommitLog: true, transport.ReqListTransactions: true, transport.ReqAddMember: true, transport.ReqRemoveMember: true,
	transport.ReqGetBrokerConfig: true, transport.ReqGetConsumerRunningInfo: true,
}

// startACL loads the policy; a broker with ACL on and no usable policy
// does not start.
func (b *Broker) startACL() error {
	w, err := acl.NewWatcher(b.cfg.ACLFile)
	if err != nil {
		return fmt.Errorf("broker: aclEnable=true: %w", err)
	}
	b.acl = &aclState{Watcher: w, kick: make(chan struct{}, 1)}
	if err := b.rebuildACL(); err != nil {
		return fmt.Errorf("broker: aclEnable=true: %w", err)
	}
	b.logger.Info("ACL on", "file", w.Path(), "accounts", len(w.Policy().Accounts()))
	return nil
}

// rebuildACL applies the replicated changes over the file.
func (b *Broker) rebuildACL() error {
	changes := map[string]acl.Change{}
	for ak, e := range b.g.ACL() {
		ch := acl.Change{Deleted: e.Deleted}
		if !e.Deleted {
			if err := json.Unmarshal(e.Account, &ch.Account); err != nil || ch.Account.Validate(true) != nil {
				b.logger.Error("ignoring a replicated ACL account that does not compile", "access_key", ak, "error", err)
				continue
			}
		}
		changes[ak] = ch
	}
	return b.acl.SetChanges(changes)
}

func (b *Broker) kickACL() {
	if b.acl == nil {
		return
	}
	select {
	case b.acl.kick <- struct{}{}:
	default:
	}
}

// aclLoop reloads the file when it changes and applies replicated changes.
func (b *Broker) aclLoop() {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			changed, err := b.acl.Reload()
			if err != nil {
				b.logger.Error("ACL file not reloaded; the previous policy stays", "file", b.acl.Path(), "error", err)
				continue
			}
			if !changed {
				continue
			}
		case <-b.acl.kick:
			if err := b.rebuildACL(); err != nil {
				b.logger.Error("ACL policy not rebuilt; the previous one stays", "error", err)
				continue
			}
		}
		b.logger.Info("ACL policy reloaded", "accounts", len(b.acl.Policy().Accounts()))
	}
}

// authorize is the client port's gate (transport.ServerConfig.Authorize).
func (b *Broker) authorize(c *transport.Conn, req *transport.Command) *transport.Command {
	code := transport.RequestCode(req.Code)
	r := acl.Request{Code: req.Code, Ext: req.Fields(), Body: req.Body, Admin: adminCodes[code],
		Skip: []string{transport.ExtForwarded, transport.ExtBornHost}}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		r.Remote = ap.Addr().Unmap()
	}
	var err error
	if r.Resources, err = aclResources(code, req); err != nil {
		return respond(transport.RespNoPermission, "[ACL] cannot tell what %s touches: %v", code, err)
	}
	if err := b.acl.Policy().Check(r); err != nil {
		b.metrics.aclDenied.Inc()
		return respond(transport.RespNoPermission, "[ACL] %v (request %s from %s)", err, code, c.RemoteAddr())
	}
	return nil
}

// aclResources lists what a request touches, as RocketMQ's
// PlainAccessResource.parse does (plus offsets queries and queue locks).
func aclResources(code transport.RequestCode, req *transport.Command) ([]acl.Resource, error) {
	ext := req.Fields()
	group := func(g string) acl.Resource { return acl.Resource{Name: g, Group: true, Perm: acl.Sub} }
	topic := func(t string, p acl.Perm) acl.Resource { return acl.Resource{Name: t, Perm: p} }
	send := func(t string) []acl.Resource {
		if message.IsRetryTopic(t) {
			return []acl.Resource{topic(t, acl.Sub)} // checked as its group
		}
		return []acl.Resource{topic(t, acl.Pub)}
	}
	switch code {
	case transport.ReqSendMessage, transport.ReqSendReplyMessage:
		return send(ext["topic"]), nil
	case transport.ReqSendMessageV2, transport.ReqSendBatchMessage, transport.ReqSendReplyMessageV2:
		return send(ext["b"]), nil
	case transport.ReqPullMessage:
		return []acl.Resource{topic(ext["topic"], acl.Sub), group(ext["consumerGroup"])}, nil
	case transport.ReqQueryMessage:
		return []acl.Resource{topic(ext["topic"], acl.Sub)}, nil
	case transport.ReqUpdateConsumerOffset, transport.ReqQueryConsumerOffset:
		return []acl.Resource{group(ext["consumerGroup"]), topic(ext["topic"], acl.Sub)}, nil
	case transport.ReqConsumerSendMsgBack:
		return []acl.Resource{group(ext["group"])}, nil
	case transport.ReqGetConsumerListByGroup:
		return []acl.Resource{group(ext["consumerGroup"])}, nil
	case transport.ReqUnregisterClient:
		if g := ext["consumerGroup"]; g != "" {
			return []acl.Resource{group(g)}, nil
		}
		return nil, nil
	case transport.ReqHeartbeat:
		var hb transport.HeartbeatData
		if err := transport.DecodeBody(req.Body, &hb); err != nil {
			return nil, err
		}
		var out []acl.Resource
		for _, cd := range hb.ConsumerDataSet {
			out = append(out, group(cd.GroupName))
			for _, sd := range cd.SubscriptionDataSet {
				out = append(out, topic(sd.Topic, acl.Sub))
			}
		}
		return out, nil
	case transport.ReqLockBatchMQ, transport.ReqUnlockBatchMQ:
		var body transport.LockBatchRequestBody
		if err := transport.DecodeBody(req.Body, &body); err != nil {
			return nil, err
		}
		return []acl.Resource{group(body.ConsumerGroup)}, nil
	}
	return nil, nil // authentication only (RocketMQ's default)
}

// handleUpdateACL serves UPDATE_AND_CREATE_ACL_CONFIG for the whole group.
func (b *Broker) handleUpdateACL(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	if b.acl == nil {
		return respond(transport.RespNoPermission, "ACL is off on broker group %s (aclEnable=false): accounts cannot be changed", b.cfg.BrokerName)
	}
	ext := req.ExtFields
	split := func(s string) []string {
		var out []string
		for _, v := range strings.Split(s, ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
		return out
	}
	a := acl.Account{AccessKey: ext["accessKey"], SecretKey: ext["secretKey"], WhiteRemoteAddress: ext["whiteRemoteAddress"],
		Admin: ext["admin"] == "true", DefaultTopicPerm: ext["defaultTopicPerm"], DefaultGroupPerm: ext["defaultGroupPerm"],
		TopicPerms: split(ext["topicPerms"]), GroupPerms: split(ext["groupPerms"])}
	if err := a.Validate(true); err != nil {
		return respond(transport.RespInvalidParameter, "update ACL account: %v", err)
	}
	if !b.waitLeaderReady(ctx) {
		return b.forward(ctx, c, req)
	}
	raw, err := json.Marshal(a)
	if err != nil {
		return b.statusFromErr("update ACL account", err)
	}
	if err := b.proposeACL(ctx, fsm.ACLCommand{AccessKey: a.AccessKey, Account: raw}); err != nil {
		return b.statusFromErr("update ACL account", err)
	}
	return transport.NewResponse(transport.RespSuccess, "")
}

// handleDeleteACL serves DELETE_ACL_CONFIG for the whole group.
func (b *Broker) handleDeleteACL(ctx context.Context, c *transport.Conn, req *transport.Command) *transport.Command {
	if b.acl == nil {
		return respond(transport.RespNoPermission, "ACL is off on broker group %s (aclEnable=false): accounts cannot be changed", b.cfg.BrokerName)
	}
	ak := req.Ext("accessKey")
	if ak == "" {
		return respond(transport.RespInvalidParameter, "delete ACL account: accessKey is required")
	}
	if !b.waitLeaderReady(ctx) {
		return b.forward(ctx, c, req)
	}
	if err := b.proposeACL(ctx, fsm.ACLCommand{AccessKey: ak, Deleted: true}); err != nil {
		return b.statusFromErr("delete ACL account", err)
	}
	return transport.NewResponse(transport.RespSuccess, "")
}

func (b *Broker) proposeACL(ctx context.Context, cmd fsm.ACLCommand) error {
	if _, err := b.g.Propose(ctx, 256+len(cmd.Account), func(eb *fsm.EntryBuilder) error {
		return eb.AddJSON(fsm.CmdACL, cmd)
	}); err != nil {
		return err
	}
	// The member that answers has the new policy before it answers.
	if err := b.rebuildACL(); err != nil {
		b.logger.Error("ACL policy not rebuilt", "error", err)
	}
	return nil
}

// handleACLInfo serves GET_BROKER_CLUSTER_ACL_INFO: the effective accounts
// (secret keys elided) and where they came from.
func (b *Broker) handleACLInfo(context.Context, *transport.Conn, *transport.Command) *transport.Command {
	if b.acl == nil {
		return respond(transport.RespNoPermission, "ACL is off on broker group %s (aclEnable=false)", b.cfg.BrokerName)
	}
	version, _ := json.Marshal(transport.DataVersion{Timestamp: time.Now().UnixMilli(), Counter: int64(b.g.AppliedIndex())})
	r := okBody(map[string]any{"file": b.acl.Path(), "accounts": b.acl.Policy().Accounts(), "replicatedChanges": len(b.g.ACL())})
	r.ExtFields = map[string]string{"version": string(version), "brokerName": b.cfg.BrokerName, "brokerAddr": b.clientAddr,
		"clusterName": b.cfg.ClusterName}
	return r
}
