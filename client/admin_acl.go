package client

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

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

// RetentionReport is one member's outcome of DeleteExpiredCommitLog.
type RetentionReport = transport.RetentionReport

// DeleteExpiredCommitLog runs retention now on every member of a broker
// group (mqadmin deleteExpiredCommitLog): CommitLog segments last written
// more than olderThan ago (negative: the group's fileReservedTime) go if they are
// expired or every consumer group consumed them (any, with
// cleanFileForciblyEnable), never past the latest snapshot.
func (a *Admin) DeleteExpiredCommitLog(ctx context.Context, brokerGroup string, olderThan time.Duration) ([]RetentionReport, error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	ext := map[string]string{}
	if olderThan >= 0 {
		ext["olderThan"] = olderThan.String()
	}
	resp, err := a.groupOK(ctx, brokerGroup, "delete expired commit log", func() *transport.Command {
		m := make(map[string]string, len(ext))
		for k, v := range ext {
			m[k] = v
		}
		return transport.NewRequest(transport.ReqDeleteExpiredCommitLog, m, nil)
	})
	if err != nil {
		return nil, err
	}
	var out []RetentionReport
	if err := transport.DecodeBody(resp.Body, &out); err != nil {
		return nil, fmt.Errorf("client: delete expired commit log: %w", err)
	}
	return out, nil
}
