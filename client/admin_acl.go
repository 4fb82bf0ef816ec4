package client

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/raftmq/raftmq/transport"
)

// ACLAccount is a broker ACL account (RocketMQ's PlainAccessConfig).
// Permissions are DENY, PUB, SUB or PUB|SUB; TopicPerms and GroupPerms
// entries are "name=PERM".
type ACLAccount struct {
	AccessKey          string
	SecretKey          string
	WhiteRemoteAddress string
	Admin              bool
	DefaultTopicPerm   string
	DefaultGroupPerm   string
	TopicPerms         []string
	GroupPerms         []string
}

// UpdateACLAccount creates or replaces an account on the targeted broker
// groups (UPDATE_AND_CREATE_ACL_CONFIG); each group replicates it to all
// its members. The caller's credentials must be an admin account's.
func (a *Admin) UpdateACLAccount(ctx context.Context, acc ACLAccount, t Target) error {
	ext := map[string]string{
		"accessKey": acc.AccessKey, "secretKey": acc.SecretKey, "whiteRemoteAddress": acc.WhiteRemoteAddress,
		"admin": strconv.FormatBool(acc.Admin), "defaultTopicPerm": acc.DefaultTopicPerm, "defaultGroupPerm": acc.DefaultGroupPerm,
		"topicPerms": strings.Join(acc.TopicPerms, ","), "groupPerms": strings.Join(acc.GroupPerms, ","),
	}
	return a.aclEach(ctx, t, "update ACL account "+acc.AccessKey, func() *transport.Command {
		m := make(map[string]string, len(ext))
		for k, v := range ext {
			m[k] = v
		}
		return transport.NewRequest(transport.ReqUpdateAndCreateACLConfig, m, nil)
	})
}

// DeleteACLAccount deletes an account on the targeted broker groups
// (DELETE_ACL_CONFIG).
func (a *Admin) DeleteACLAccount(ctx context.Context, accessKey string, t Target) error {
	return a.aclEach(ctx, t, "delete ACL account "+accessKey, func() *transport.Command {
		return transport.NewRequest(transport.ReqDeleteACLConfig, map[string]string{"accessKey": accessKey}, nil)
	})
}

func (a *Admin) aclEach(ctx context.Context, t Target, op string, mk func() *transport.Command) error {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	groups, err := a.targetGroups(ctx, t)
	if err != nil {
		return fmt.Errorf("client: %s: %w", op, err)
	}
	for _, g := range groups {
		if _, err := a.groupOK(ctx, g, op, mk); err != nil {
			return err
		}
	}
	return nil
}
